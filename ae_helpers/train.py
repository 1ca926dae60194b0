"""One training loop for every chapter.

``fit(model, data, step)`` trains any objective: ``step(model, batch)`` returns the loss (a
scalar tensor) or a dict of named scalar terms whose ``"loss"`` entry is optimised; every
term is logged per epoch in the returned :class:`History`.

Speed: data that fit stay resident on the device and are batched by index (no per-item
DataLoader cost); losses are summed on the device and read once per epoch (no ``.item()``
sync per step); denormals are flushed on CPU (``flush_denormal=True``, a process-wide torch
setting that stays on); bfloat16 autocast is optional on CUDA.

Global state: ``fit`` seeds the process-wide RNGs (``seed=0`` by default; ``seed=None`` leaves
them) and switches on flush-denormal on a CPU (``flush_denormal=False`` leaves it);
:func:`set_fast_mode_threads` sets the thread count; nothing else here changes a setting of torch.
Safety: a loss that is not a scalar, or becomes NaN/inf, stops training with a message
naming the problem, the epoch and the step.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, Union

import torch
from torch import nn

from . import config

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Batch = Union[torch.Tensor, tuple]
#: What ``fit``/``evaluate`` take as data: a tensor (N, ...) or a tuple/list of tensors sharing N.
Data = Union[torch.Tensor, Sequence[torch.Tensor]]
T = TypeVar("T")
StepFn = Callable[[nn.Module, Batch], Union[torch.Tensor, Mapping[str, torch.Tensor]]]


def device_and_name() -> tuple[torch.device, str]:
    """The best available device, cuda → mps → cpu, and words for it: the GPU's name, "Apple
    GPU", or "N CPU thread(s)". Asks torch each call; changes nothing (``ae-course doctor`` and
    :func:`get_device` both use it)."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.cuda.get_device_name(0)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps"), "Apple GPU"
    return torch.device("cpu"), f"{torch.get_num_threads()} CPU thread(s)"


def get_device(verbose: bool = True) -> torch.device:
    """The best available device, cuda → mps → cpu; changes no setting of torch.

    verbose: print "Device: cpu (1 CPU thread(s))" or the like, once per process (the keys
    :func:`ae_helpers.config.say_once` remembers). Nothing is cached: each call asks torch.
    """
    device, name = device_and_name()
    if verbose:
        config.say_once("device", f"Device: {device} ({name})")
    return device


def set_fast_mode_threads() -> int:
    """In fast mode on a CPU-only machine, set torch's process-wide thread count to 1
    (``torch.set_num_threads(1)``); otherwise change nothing. Returns the thread count in use.

    Fast mode trains tiny models, for which one thread is fastest, and parallel grading
    processes then do not fight over the cores. Every notebook's setup cell calls it before
    :func:`get_device`, so that the device line it prints names the thread count.
    """
    if config.fast_mode() and device_and_name()[0].type == "cpu":
        torch.set_num_threads(1)
    return torch.get_num_threads()


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch.

    ``train[name]`` / ``val[name]``: mean of each loss term over the epoch's batches
    (weighted by batch size); ``seconds``: wall time of each epoch (training and validation).
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    @property
    def train_loss(self) -> list[float]:
        """The epoch means of the optimised ``"loss"`` term on the training data."""
        return self.train.get("loss", [])

    @property
    def val_loss(self) -> list[float]:
        """The epoch means of ``"loss"`` on the validation data ([] without ``val_data``)."""
        return self.val.get("loss", [])

    @property
    def epochs(self) -> int:
        """The number of epochs trained."""
        return len(self.seconds)

    def plot(self, ax: Axes | None = None, log: bool = False) -> Figure:
        """Loss curves (see :func:`ae_helpers.plot.loss_curves`); returns the Figure."""
        from .plot import loss_curves
        return loss_curves(self, ax=ax, log=log)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 5) for k, v in self.train.items() if v}
        return f"History({self.epochs} epochs, last train {last}, val loss {self.val_loss[-1:]})"


def as_tensors(data: Data) -> tuple[torch.Tensor, ...]:
    """Normalise ``data`` to a tuple of tensors sharing their first dimension.

    ``data``: a tensor, or a tuple/list of tensors (e.g. ``(x, y)``).
    """
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("data must be a tensor or a tuple of tensors, e.g. x or (x, y); "
                        f"got {type(data).__name__}")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors in data need the same first dimension, got "
                         + ", ".join(str(tuple(t.shape)) for t in tensors))
    return tensors


def _batch(tensors: Sequence[torch.Tensor], idx: torch.Tensor) -> Batch:
    parts = tuple(t.index_select(0, idx) for t in tensors)
    return parts[0] if len(parts) == 1 else parts


def _terms(out, epoch: int, step: int) -> dict[str, torch.Tensor]:
    """Check what a step returned and turn it into a dict with a ``"loss"`` entry."""
    terms = dict(out) if isinstance(out, Mapping) else {"loss": out}
    if "loss" not in terms:
        raise ValueError(f"the step returned a dict without a 'loss' entry (keys: {list(terms)}); "
                         "put the total to optimise under 'loss'.")
    for name, value in terms.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"step term '{name}' must be a tensor, got {type(value).__name__} "
                            f"(epoch {epoch}, step {step}); return tensors, not .item() floats.")
        if value.dim() != 0:
            raise ValueError(f"step term '{name}' must be a scalar, got shape {tuple(value.shape)} "
                             f"(epoch {epoch}, step {step}); reduce it with .mean() or .sum().")
    return terms


def _run_step(step: StepFn, model, batch, epoch: int, i: int, autocast) -> dict:
    """One call of ``step`` inside ``autocast()`` (a bf16 autocast context, or a null one)."""
    try:
        with autocast():
            out = step(model, batch)
    except RuntimeError as err:
        shapes = [tuple(b.shape) for b in (batch if isinstance(batch, tuple) else (batch,))]
        raise RuntimeError(f"the step failed at epoch {epoch}, step {i} on a batch of shapes "
                           f"{shapes}: {err}") from err
    return _terms(out, epoch, i)


def _autocast(amp: bool, device: torch.device):
    """A factory of the step's context: bf16 autocast when ``amp``, else a null context (entering
    a disabled autocast costs a few microseconds per step for nothing)."""
    if amp:
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _first_nonfinite(weighted_losses: list[torch.Tensor], none: int) -> torch.Tensor:
    """Index (a 0-d float tensor, on the device) of the first non-finite entry of the epoch's
    per-step losses, or ``none`` if all are finite; computed without reading anything back."""
    if not weighted_losses:
        return torch.tensor(float(none))
    bad = ~torch.isfinite(torch.stack(weighted_losses))
    none_t = torch.full((), float(none), device=bad.device)      # a fill, not a host-to-device copy
    return torch.where(bad.any(), bad.float().argmax().float(), none_t)


def _read_epoch(train: dict, val: dict, first_bad: torch.Tensor) -> tuple[dict, dict, int]:
    """The epoch's summed terms (0-d float32 device tensors) as floats, and the first bad step:
    all read from the device together, in ONE host sync."""
    parts = list(train.values()) + list(val.values()) + [first_bad]
    values = torch.stack([p.reshape(()).float() for p in parts]).tolist()
    return (dict(zip(train, values)), dict(zip(val, values[len(train):])), int(values[-1]))


def _raise_nonfinite(sums: Mapping[str, float], bad_step: int, epoch: int, steps: int) -> None:
    if bad_step < steps:
        bad = [k for k, v in sums.items() if not math.isfinite(v)]
        raise FloatingPointError(
            f"the loss became non-finite (NaN or inf) at epoch {epoch}, step {bad_step}"
            f" (terms affected: {', '.join(bad) or 'loss'}). Training stopped. Common causes: "
            "log or division of zero (add a small eps or clamp), exp of a large number, "
            "a learning rate that is too high.")


def _validate(model, val_t, step, batch_size: int, sums: dict, first_bad, epoch: int, n: int) -> dict:
    """Validation sums on the device ({} without val data). If validation fails (e.g. BCE of
    NaN outputs), a non-finite training loss of this epoch is reported first, as its cause."""
    if val_t is None:
        return {}
    try:
        return _evaluate_sums(model, val_t, step, batch_size)
    except RuntimeError:
        train_read, _, bad_step = _read_epoch(sums, {}, first_bad)
        _raise_nonfinite(train_read, bad_step, epoch, n)
        raise


def lr_factor(schedule: str | None, total_steps: int, warmup: float = 0.3) -> Callable[[int], float]:
    """The learning-rate multiplier of optimiser step ``t`` (0-based) for ``fit(schedule=...)``.

    None: 1 throughout (fit's default). "warmup-cosine": linear warm-up from lr/W to lr over the
    first W = max(1, round(warmup·total_steps)) steps, then cosine decay to 0 at ``total_steps``.
    """
    if schedule is None:
        return lambda t: 1.0
    if schedule != "warmup-cosine":
        raise ValueError(f"unknown schedule {schedule!r}; use None or 'warmup-cosine'")
    warm = max(1, round(warmup * total_steps))
    decay = max(1, total_steps - warm)

    def factor(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(t - warm, decay) / decay))
    return factor


def _compiled(step: StepFn, compile) -> StepFn:
    """``step`` itself, or ``torch.compile(step, **options)``: compile=True uses torch's defaults,
    a dict is passed on (e.g. ``{"mode": "reduce-overhead"}`` for CUDA graphs on a GPU)."""
    if not compile:
        return step
    return torch.compile(step, **(compile if isinstance(compile, Mapping) else {}))


def _fast_note(n_epochs: int, epochs: int, data, batch_size: int) -> str:
    """What fast mode trains, in optimiser steps (fast mode may run more epochs over far fewer
    examples, so "n epochs instead of m" alone would suggest it trains longer)."""
    n = len(as_tensors(data)[0])
    steps = n_epochs * -(-n // batch_size)
    return (f"fast mode: {n_epochs} epochs over these {n} examples ({steps} optimiser steps); "
            f"full mode runs {epochs} epochs over the data it is given.")


def fit(model: nn.Module, data: Data, step: StepFn, *, epochs: int = 10, fast_epochs: int | None = None,
        batch_size: int = 128, lr: float = 3e-3, optimizer: torch.optim.Optimizer | None = None,
        val_data: Data | None = None, after_step: Callable[[nn.Module], None] | None = None,
        device: torch.device | str | None = None, amp: bool = False, seed: int | None = 0,
        flush_denormal: bool = True, progress: bool | None = None, schedule: str | None = None,
        warmup: float = 0.3, betas: tuple[float, float] = (0.9, 0.999),
        compile: bool | Mapping = False) -> History:
    """Train ``model`` on ``data`` by minimising what ``step`` returns; return a History.

    data, val_data: a tensor (N, ...) or tuple of tensors sharing N, e.g. ``x`` or ``(x, y)``.
        They are moved to the device once; each batch is a tensor or tuple of the same shape
        with N replaced by ≤ ``batch_size``.
    step(model, batch): returns a scalar loss tensor, or a dict of scalar terms with "loss".
        It runs in train mode with gradients for ``data`` and in eval mode without for
        ``val_data``.
    epochs / fast_epochs: epochs in full mode / in fast mode (default min(epochs, 5)).
    optimizer: defaults to Adam(lr, betas) over the model's parameters, fused where torch
        supports it. betas: that Adam's (β1, β2), torch's (0.9, 0.999) by default; with your own
        ``optimizer``, set them there (passing both is an error).
    batch_size, lr: the defaults (128, 3e-3) reach the loss of the canonical PyTorch loop
        (batch 128, Adam 1e-3, 10 epochs) in 6 epochs on MNIST (benchmarks/bench_fit.py).
    after_step(model): called after every optimiser step (e.g. an EMA target update).
    amp: bfloat16 autocast, used on CUDA only.
    seed: seeds the process-wide RNGs of python, numpy and torch before training, as
        ``set_seed(seed)`` does (so the default run is reproducible: same batches, same
        noise drawn by ``step``); None leaves them as they are (training then draws from
        torch's global RNG where it stands).
    flush_denormal: on a CPU, switch on torch's process-wide flush-denormal mode
        (``torch.set_flush_denormal(True)``: numbers below ~1e-38 become 0, which keeps tiny
        weights from slowing each step down) and leave it on after training; False leaves the
        mode as it is. No effect on other devices.
    device: where to train; None: :func:`get_device` (cuda → mps → cpu).
    progress: show a tqdm progress bar (default: on, off while nbgrader grades).
    schedule: None (default: constant lr) or "warmup-cosine": the lr rises linearly over the
        first ``warmup`` fraction of all optimiser steps, then decays to 0 by a cosine over the
        rest (``ae_helpers.train.lr_factor``, stepped after every optimiser step). The run is then planned
        for ``epochs``: its quality is meant at the end, not at an earlier epoch. Opt-in, not
        the default (every chapter's numbers were measured without it). The setting
        ``schedule="warmup-cosine", batch_size=96, lr=1.5e-2, warmup=0.5, betas=(0.85, 0.95)``
        reaches the canonical loop's 10-epoch test loss (batch 128, Adam 1e-3) in 3 epochs for
        the VAE 784-400-20 and the MLP AE 784-256-64 on 8,000 images of Fashion-MNIST (five
        draws) and of the digits stand-in (two), 3.5-4.1x sooner in training time
        (``benchmarks/bench_fit.py --schedule``, one thread on a busy 2-core CPU; on 20,000
        Fashion-MNIST images 2.9x and 4.0x, the MLP in 4 epochs; benchmarks/README.md). A conv AE ends lower
        with it; a JEPA-like model's embeddings grow several times larger (check a probe).
    compile: False (default), True or a dict of ``torch.compile`` options: compiles ``step``
        (forward and loss; backward through AOTAutograd). For a static step on a GPU,
        ``{"mode": "reduce-overhead"}`` adds CUDA graphs. The first steps pay the compilation.

    Host syncs: values are read back from the device once per epoch (the epoch's summed terms,
    the validation sums and the first non-finite step together), never per step.
    """
    if seed is not None:
        config.set_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    if flush_denormal and device.type == "cpu":
        torch.set_flush_denormal(True)
    n_epochs = _epoch_count(epochs, fast_epochs, data, batch_size)
    model.to(device)
    train_t = tuple(t.to(device) for t in as_tensors(data))
    val_t = tuple(t.to(device) for t in as_tensors(val_data)) if val_data is not None else None
    if optimizer is not None and tuple(betas) != (0.9, 0.999):
        raise ValueError("fit: betas set the default Adam; with your own optimizer, "
                         "pass betas to it instead (torch.optim.Adam(params, lr, betas=...))")
    opt = optimizer or default_optimizer(model, lr, device, betas)
    n = len(train_t[0])
    sched = None
    if schedule is not None:
        factor = lr_factor(schedule, n_epochs * -(-n // batch_size), warmup)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    autocast = _autocast(amp and device.type == "cuda", device)
    run_step = _compiled(step, compile)
    history = History()
    bar = _progress_bar(n_epochs, progress)
    try:
        for epoch in range(1, n_epochs + 1):
            start = time.perf_counter()
            sums, losses = _train_epoch(model, train_t, run_step, opt, sched, after_step,
                                        batch_size, epoch, autocast, device)
            first_bad = _first_nonfinite(losses, n + 1)
            val_sums = _validate(model, val_t, step, 4 * batch_size, sums, first_bad, epoch, n)
            train_read, val_read, bad_step = _read_epoch(sums, val_sums, first_bad)
            _raise_nonfinite(train_read, bad_step, epoch, n)
            _record(history.train, train_read, n)
            if val_t is not None:
                _record(history.val, val_read, len(val_t[0]))
            history.seconds.append(time.perf_counter() - start)
            if bar is not None:
                bar.set_postfix_str(_postfix(history), refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return history


def _epoch_count(epochs: int, fast_epochs: int | None, data: Data, batch_size: int) -> int:
    """The epochs ``fit`` runs: ``epochs``, or in fast mode ``fast_epochs`` (default
    min(epochs, FAST_MAX_EPOCHS)), said once when they differ."""
    if not config.fast_mode():
        return epochs
    n_epochs = fast_epochs if fast_epochs is not None else min(epochs, config.FAST_MAX_EPOCHS)
    if n_epochs != epochs:
        config.say_once(f"fast-epochs:{epochs}:{n_epochs}", _fast_note(n_epochs, epochs, data, batch_size))
    return n_epochs


def _train_epoch(model: nn.Module, tensors: tuple[torch.Tensor, ...], run_step: StepFn,
                 opt: torch.optim.Optimizer, sched, after_step, batch_size: int, epoch: int,
                 autocast, device: torch.device) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """One pass over ``tensors`` (on ``device``) in train mode, in an order drawn from torch's
    global RNG: the epoch's summed terms and each step's weighted loss, as 0-d device tensors
    (nothing is read back to the host)."""
    model.train()
    n = len(tensors[0])
    perm = torch.randperm(n, device=device)
    sums: dict[str, torch.Tensor] = {}
    losses: list[torch.Tensor] = []
    for i, lo in enumerate(range(0, n, batch_size)):
        idx = perm[lo:lo + batch_size]
        terms = _run_step(run_step, model, _batch(tensors, idx), epoch, i, autocast)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if sched is not None:
            sched.step()
        if after_step is not None:
            after_step(model)
        losses.append(_accumulate(sums, terms, len(idx)))
    return sums, losses


def default_optimizer(model: nn.Module, lr: float, device: torch.device,
                      betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """Adam(lr, betas) over ``model``'s parameters, with the fused kernel where torch offers it.

    The fused kernel computes the same update in one pass (about 4× faster per step on a CPU
    for the course's models); older torch versions without it get the standard Adam.
    """
    params = list(model.parameters())
    if device.type in ("cpu", "cuda") and params and all(p.is_floating_point() for p in params):
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr, betas=betas)


def _accumulate(sums: dict, terms: dict, weight: int) -> torch.Tensor:
    """Add each term × ``weight`` to ``sums`` on the device; return the weighted loss (0-d)."""
    for k, v in terms.items():
        v = v.detach().float() * weight
        sums[k] = sums[k] + v if k in sums else v
        if k == "loss":
            weighted_loss = v
    return weighted_loss


def _record(log: dict, sums: Mapping[str, torch.Tensor | float], n: int) -> None:
    for k, v in sums.items():
        log.setdefault(k, []).append(float(v) / n)


def _postfix(history: History) -> str:
    text = f"loss {history.train_loss[-1]:.4g}"
    if history.val_loss:
        text += f", val {history.val_loss[-1]:.4g}"
    return text


def progress(items: Iterable[T], desc: str = "", total: int | None = None) -> Iterator[T]:
    """``items``, one by one, with a progress bar of the same kind as ``fit``'s (see below):
    for a loop in a notebook, e.g. ``for beta in progress(BETAS, desc="one VAE per β")``.

    ``total``: the number of items, when ``len(items)`` does not give it. No bar while nbgrader
    grades. In a notebook the bar's record is one line of plain text once the loop ends.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    bar = _progress_bar(total, None, desc=desc, unit="it")
    try:
        for item in items:
            yield item
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int | None, progress: bool | None, desc: str = "epochs", unit: str = "epoch"):
    """The epochs bar of ``fit``: None when off (``progress=False``, or while nbgrader grades).

    In a terminal, tqdm's text bar on stderr. In a notebook (JupyterLab, Colab), tqdm's widget
    bar while training runs; when it closes, its output is replaced by the bar's last line as
    plain text ("epochs: 100%|██████████| 5/5 [00:02<00:00, …, loss 0.0123]"), so a saved
    notebook, reopened or converted to HTML, shows that line, not a widget whose state was not
    saved ("Error displaying widget: model not found").
    """
    if progress is None:
        progress = not config.nbgrader_executing()
    if not progress:
        return None
    import sys
    from tqdm import auto
    from tqdm.std import tqdm as text_tqdm
    kwargs = dict(total=total, desc=desc, unit=unit, leave=True)
    try:
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        notebook_tqdm = None
    # tqdm.auto picks its notebook bar as soon as ipykernel is imported; a bar is displayed only
    # where an IPython shell runs (not, say, in a test process that imported ipykernel).
    ipython = sys.modules.get("IPython")
    in_shell = ipython is not None and ipython.get_ipython() is not None
    if notebook_tqdm is not None and issubclass(auto.tqdm, notebook_tqdm) and in_shell:
        return _text_record_bar_class()(**kwargs)
    return text_tqdm(**kwargs)


def _text_record_bar_class():
    """tqdm's notebook bar whose output becomes one line of plain text when it closes."""
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class TextRecordBar(notebook_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = display(self.container, display_id=True) if not self.disable else None

        def close(self):
            if self.disable:
                return
            super().close()
            if self._handle is not None:
                line = self.format_meter(**self.format_dict)
                self._handle.update({"text/plain": line}, raw=True)
                _close_widget_tree(self.container)   # no model of the bar is left to be saved

    return TextRecordBar


def _close_widget_tree(widget) -> None:
    """Close ``widget``, its children, and their layout and style models (ipywidgets)."""
    for child in getattr(widget, "children", ()):
        _close_widget_tree(child)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if part is not None and hasattr(part, "close"):
            part.close()
    widget.close()


@torch.no_grad()
def _evaluate_sums(model: nn.Module, tensors: tuple, step: StepFn, batch_size: int) -> dict:
    """Each term of ``step`` summed over ``tensors`` (already on the model's device), weighted by
    batch size, as 0-d device tensors (nothing read back); eval mode, mode restored."""
    was_training = model.training
    model.eval()
    device = tensors[0].device
    n = len(tensors[0])
    sums: dict[str, torch.Tensor] = {}
    for i, lo in enumerate(range(0, n, batch_size)):
        idx = torch.arange(lo, min(lo + batch_size, n), device=device)
        _accumulate(sums, _terms(step(model, _batch(tensors, idx)), 0, i), len(idx))
    model.train(was_training)
    return sums


def evaluate(model: nn.Module, data: Data, step: StepFn, batch_size: int = 1024) -> dict[str, float]:
    """Mean of each term ``step`` returns over ``data``, in eval mode and without gradients.

    data: a tensor (N, ...) or tuple of tensors sharing N, as for :func:`fit` (any device; the
        batches are moved to the device of ``model``'s parameters).
    step(model, batch): returns a scalar loss tensor or a dict of scalar terms, as for ``fit``.
    Returns ``{term: mean over the N items}`` as python floats (each batch's value weighted by
    its size, so the mean is over items). The model's train/eval mode is restored.
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    tensors = tuple(t.to(device) for t in as_tensors(data))
    sums = _evaluate_sums(model, tensors, step, batch_size)
    return {k: float(v) / len(tensors[0]) for k, v in sums.items()}


def _owner(fn) -> nn.Module | None:
    """The module behind ``fn``: itself, or the module of a bound method such as ``vae.encode``."""
    owner = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@torch.no_grad()
def apply_in_batches(fn: Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]], x: torch.Tensor,
                     batch_size: int = 1024, device: str | torch.device | None = None
                     ) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``fn(x)`` computed batch by batch, in eval mode and without gradients; CPU float tensors.

    fn: a module (an encoder, a decoder, a classifier …), a bound method of one
        (``vae.encode``) or a plain function, taking a batch (B, ...) of ``x``.
    x: a tensor (N, ...) on any device; its batches go to ``device``, by default the device
        of the module's parameters (the CPU for a plain function).
    Returns ``torch.cat`` of the batch outputs as float32 CPU tensors: (N, ...), or a tuple of
    them when ``fn`` returns a tuple, as a VAE encoder's ``(mu, logvar)``. A module's
    train/eval mode is restored afterwards.
    """
    owner = _owner(fn)
    if device is None:
        first = next(owner.parameters(), None) if owner is not None else None
        device = first.device if first is not None else torch.device("cpu")
    was_training = owner.training if owner is not None else None
    if owner is not None:
        owner.eval()
    try:
        outs = [fn(x[lo:lo + batch_size].to(device)) for lo in range(0, len(x), batch_size)]
    finally:
        if owner is not None:
            owner.train(was_training)
    if isinstance(outs[0], (tuple, list)):
        return tuple(torch.cat([out[k].float().cpu() for out in outs]) for k in range(len(outs[0])))
    return torch.cat([out.float().cpu() for out in outs])


def reconstruct_in_batches(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """An autoencoder's output ``model(x)`` for every item of ``x``, with the shape of ``x``.

    x: (N, ...) images, e.g. (N, H·W) or (N, H, W), on any device; ``model`` returns as many
    numbers per image as it takes (e.g. (B, H·W) for a batch (B, H, W)). Computed as
    :func:`apply_in_batches` does (eval mode, no gradients, batches of ``batch_size``).
    Returns a float32 CPU tensor shaped like ``x``, in the model's output range.
    """
    return apply_in_batches(model, x, batch_size=batch_size).reshape(x.shape)
