"""Race ``ae_helpers.fit`` against the canonical PyTorch training loop, in one run.

The canonical loop is the one of pytorch/examples ``mnist/vae/main.py``: a ``DataLoader``
over a ``TensorDataset`` (shuffle=True, batch 128, no workers on the CPU), Adam(lr=1e-3),
``loss.item()`` after every step. Both loops get the same model (same initial weights) and
the same tensors, and their epochs are interleaved so that machine noise hits both.

Three sections are printed (and written as JSON with ``--json PATH``):

1. seconds per epoch of each loop at batch 128, and the ratio canonical / fit;
2. the time each needs to reach the canonical loop's ``--epochs``-epoch test loss, fit
   running with its own default ``batch_size`` and ``lr`` (read from its signature);
3. each epoch time against the compute floor: the FLOPs of the linear layers divided by
   the ``torch.mm`` throughput measured here, at the same matrix sizes.

Run ``python benchmarks/bench_fit.py --help`` for the options.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmark this checkout's package
import ae_helpers  # noqa: E402
from ae_helpers.data import cache_path  # noqa: E402
from ae_helpers.train import get_device  # noqa: E402

CANONICAL_BATCH = 128
CANONICAL_LR = 1e-3


# --------------------------------------------------------------------------- data

def standin_mnist(n_train: int, n_test: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An MNIST-sized stand-in built from scikit-learn's embedded 8×8 digits.

    Each image is a digit upsampled bilinearly to 20×20, placed in the middle of a 28×28
    canvas (as MNIST digits are) and shifted by up to 3 pixels each way. Test images come
    from digits held out of training (a fifth of the 1797), so the test loss measures
    generalisation. Returns x_train (n_train, 28, 28) and x_test (n_test, 28, 28), float32
    in [0, 1].
    """
    from sklearn.datasets import load_digits
    g = torch.Generator().manual_seed(seed)
    digits = torch.tensor(load_digits().images / 16.0, dtype=torch.float32)   # (1797, 8, 8)
    order = torch.randperm(len(digits), generator=g)
    held_out = len(digits) // 5
    test_src, train_src = digits[order[:held_out]], digits[order[held_out:]]
    return _shifted_copies(train_src, n_train, g), _shifted_copies(test_src, n_test, g)


def _shifted_copies(src: torch.Tensor, n: int, g: torch.Generator, max_shift: int = 3) -> torch.Tensor:
    """``n`` images (n, 28, 28) drawn from ``src`` (M, 8, 8), upsampled and randomly shifted."""
    pick = torch.randint(len(src), (n,), generator=g)
    small = F.interpolate(src[pick, None], size=(20, 20), mode="bilinear", align_corners=False)
    canvas = F.pad(small[:, 0], (4, 4, 4, 4))                     # (n, 28, 28), 4-pixel border
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=g)
    out = torch.empty_like(canvas)
    for dy, dx in torch.unique(shifts, dim=0).tolist():           # the border absorbs the roll
        rows = ((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).nonzero().flatten()
        out[rows] = torch.roll(canvas[rows], shifts=(dy, dx), dims=(1, 2))
    return out.clamp_(0.0, 1.0).contiguous()


SHARED_FASHION = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist.npz"


def fashion_path() -> Path | None:
    """Real Fashion-MNIST: the course cache, else ``../shared/data/fashion_mnist.npz``; None if absent."""
    for path in (cache_path("fashion_mnist"), SHARED_FASHION):
        if path.exists():
            return path
    return None


def _split_npz(path: Path, n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint random train/test images (n, 28, 28) in [0, 1] from a cache file (``x`` uint8)."""
    import numpy as np
    with np.load(path) as f:
        x = torch.from_numpy(f["x"])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    take = lambda idx: (x[idx].float() / 255.0).contiguous()  # noqa: E731
    return take(order[:n_train]), take(order[n_train:n_train + n_test])


def load_data(n_train: int, n_test: int, seed: int = 0,
              which: str = "auto") -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x_train (n_train, 28, 28), x_test (n_test, 28, 28), description of the source).

    which: "fashion" (real Fashion-MNIST, see :func:`fashion_path`), "standin", or "auto":
    MNIST when it is cached at ``cache_path("mnist")``, else the stand-in.
    """
    path = cache_path("mnist")
    if which == "auto" and path.exists():
        data = ae_helpers.load_dataset("mnist", seed=seed)
        g = torch.Generator().manual_seed(seed)
        tr = torch.randperm(len(data.x_train), generator=g)[:n_train]
        te = torch.randperm(len(data.x_test), generator=g)[:n_test]
        return (data.x_train[tr].contiguous(), data.x_test[te].contiguous(),
                f"MNIST from {path}: {len(tr)} train + {len(te)} test images")
    fashion = fashion_path() if which == "fashion" else None
    if which == "fashion" and fashion is None:
        raise SystemExit(f"--data fashion: no Fashion-MNIST at {cache_path('fashion_mnist')} or {SHARED_FASHION}")
    if fashion is not None:
        x_train, x_test = _split_npz(fashion, n_train, n_test, seed)
        return x_train, x_test, (f"Fashion-MNIST from {fashion}: {n_train} train + {n_test} test "
                                 "images, disjoint, drawn at random from the 70,000")
    x_train, x_test = standin_mnist(n_train, n_test, seed)
    return x_train, x_test, (f"stand-in (MNIST not cached at {path}): scikit-learn digits "
                             f"upsampled to 28x28 with shifts of up to 3 px, {n_train} train + "
                             f"{n_test} test images from disjoint source digits")


# --------------------------------------------------------------------------- models

class VAE(nn.Module):
    """The pytorch/examples mnist/vae model: 784-400-(20, 20)-400-784, ReLU, sigmoid output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 784) -> mu (B, 20), logvar (B, 20)."""
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps: torch.Tensor | None = None) -> torch.Tensor:
        """z = mu + eps·std, (B, 20); ``eps`` defaults to fresh N(0, 1) noise."""
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, 20) -> pixel probabilities (B, 784)."""
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x, eps: torch.Tensor | None = None):
        """x (B, 28, 28) or (B, 784) -> (reconstruction (B, 784), mu (B, 20), logvar (B, 20))."""
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar


def vae_loss_sum(model: VAE, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """BCE summed over pixels + KL(q(z|x) || N(0, I)), summed over the batch x (B, 28, 28)."""
    recon, mu, logvar = model(x, eps)
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def vae_loss_mean(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """The same objective per image: ``vae_loss_sum / B``."""
    return vae_loss_sum(model, x) / len(x)


def mlp_ae() -> nn.Module:
    """An MLP autoencoder 784-256-64-256-784 with ReLU and a sigmoid output; (B, 784) -> (B, 784)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                         nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())


def mse_mean(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over pixels and the batch x (B, 28, 28) (F.mse_loss's default)."""
    return F.mse_loss(model(x), x.reshape(len(x), -1))


def mse_sum(model: nn.Module, x: torch.Tensor, eps=None) -> torch.Tensor:
    """Squared error summed over pixels and over the batch x (B, 28, 28)."""
    return F.mse_loss(model(x), x.reshape(len(x), -1), reduction="sum")


@dataclass
class Task:
    """A model and its objective, as both loops use it.

    ``train_loss(model, x)``: the canonical loop's loss on a batch x (B, 28, 28); the VAE
    sums over the batch as pytorch/examples does, the MLP averages over pixels (F.mse_loss).
    ``fit_step(model, x)``: the per-image mean of the same objective, the form fit logs
    (Adam is invariant to the constant factor between a sum and a mean, up to its eps).
    ``loss_sum(model, x, eps)``: the objective summed over the batch, used for the test loss.
    """

    name: str
    make_model: Callable[[], nn.Module]
    train_loss: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    fit_step: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    loss_sum: Callable[..., torch.Tensor]
    test_loss_text: str


TASKS = [
    Task("vae 784-400-20", VAE, train_loss=vae_loss_sum, fit_step=vae_loss_mean, loss_sum=vae_loss_sum,
         test_loss_text="BCE summed over pixels + KL, per image (fixed test noise)"),
    Task("mlp ae 784-256-64", mlp_ae, train_loss=mse_mean, fit_step=mse_mean, loss_sum=mse_sum,
         test_loss_text="squared error summed over pixels, per image"),
]


def linear_macs(model: nn.Module) -> int:
    """Multiply-accumulates of one sample's forward pass through the model's Linear layers."""
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    """(in_features, out_features) of each Linear layer."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------- the two loops

class CanonicalLoop:
    """The pytorch/examples loop: DataLoader(TensorDataset, shuffle), Adam 1e-3, .item() per step.

    It keeps its own random-number stream (shuffling, VAE noise), so running its epochs in
    between fit's leaves fit's run exactly as it would be alone.
    """

    def __init__(self, task: Task, init: dict, x_train: torch.Tensor, seed: int,
                 device: torch.device | str = "cpu") -> None:
        self.task, self.device = task, torch.device(device)
        self.model = task.make_model()
        self.model.load_state_dict(init)
        self.model.to(self.device)          # on a GPU, batches go there one by one, as in the example
        self.loader = DataLoader(TensorDataset(x_train), batch_size=CANONICAL_BATCH, shuffle=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=CANONICAL_LR)
        self.rng = torch.Generator().manual_seed(seed).get_state()

    def epoch(self) -> float:
        """Train one epoch; return its wall seconds."""
        outer = torch.get_rng_state()
        torch.set_rng_state(self.rng)
        start = time.perf_counter()
        self.model.train()
        train_loss = 0.0
        for (data,) in self.loader:
            data = data.to(self.device)
            self.optimizer.zero_grad()
            loss = self.task.train_loss(self.model, data)
            loss.backward()
            train_loss += loss.item()
            self.optimizer.step()
        seconds = time.perf_counter() - start
        self.rng = torch.get_rng_state()
        torch.set_rng_state(outer)
        return seconds


@torch.no_grad()
def test_loss(task: Task, model: nn.Module, x_test: torch.Tensor, eps: torch.Tensor,
              chunk: int = 1000) -> float:
    """Mean per-image test loss over x_test (N, 28, 28); ``eps`` (N, 20) is the VAE's fixed noise."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    total = 0.0
    for lo in range(0, len(x_test), chunk):
        total += float(task.loss_sum(model, x_test[lo:lo + chunk].to(dev), eps[lo:lo + chunk].to(dev)))
    model.train(was_training)
    return total / len(x_test)


def fit_defaults() -> dict:
    """fit's default batch_size and lr, read from its signature."""
    params = inspect.signature(ae_helpers.fit).parameters
    return {"batch_size": params["batch_size"].default, "lr": params["lr"].default}


def with_optimizer(model: nn.Module, fit_kwargs: dict) -> dict:
    """``fit_kwargs`` with the benchmark's own key ``fused_adam`` (True: fused Adam at the lr and
    the setting's betas, as fit's ``optimizer``) taken out; fit's own kwargs pass through."""
    kwargs = dict(fit_kwargs)
    if kwargs.pop("fused_adam", False):              # evidence for a proposed default, see --help
        lr = kwargs.get("lr", fit_defaults()["lr"])
        betas = tuple(kwargs.pop("betas", (0.9, 0.999)))
        kwargs["optimizer"] = torch.optim.Adam(model.parameters(), lr=lr, fused=True, betas=betas)
    return kwargs


class _Stop(Exception):
    """Raised from fit's after_step hook to end a race."""


def race(task: Task, x_train: torch.Tensor, x_test: torch.Tensor | None, *, fit_kwargs: dict,
         max_fit_epochs: int, canonical_epochs: int, done: Callable[[dict], bool], seed: int,
         between: Callable[[], None] = lambda: None) -> dict:
    """Run one ``fit`` call and the canonical loop side by side, one epoch each in turn.

    fit runs as a user calls it: ``fit(model, x_train, step, epochs=max_fit_epochs,
    **fit_kwargs)``, so its own optimiser, seeding and batching are what is timed. Its
    ``after_step`` hook notices each epoch boundary and there, outside fit's clock, evaluates
    the test loss of fit's model (if x_test is given), trains one canonical epoch (until
    ``canonical_epochs``) and evaluates that, then calls ``between()`` (the matmul meter).
    ``done(log)`` ends the race early.

    Returns ``{"fit"|"canonical": {"seconds": [...], "test_loss": [...]}}``, one entry per
    epoch; fit's seconds are the wall time between boundaries minus the time spent in the hook.
    """
    torch.manual_seed(seed)
    init = task.make_model().state_dict()
    model = task.make_model()
    model.load_state_dict(init)
    fit_kwargs = with_optimizer(model, fit_kwargs)
    canon = CanonicalLoop(task, init, x_train, seed + 1, get_device(verbose=False))
    eps = None if x_test is None else torch.randn(len(x_test), 20, generator=torch.Generator().manual_seed(seed + 2))
    log = {"fit": {"seconds": [], "test_loss": []}, "canonical": {"seconds": [], "test_loss": []}}
    batch = fit_kwargs.get("batch_size", fit_defaults()["batch_size"])
    steps_per_epoch = math.ceil(len(x_train) / batch)
    clock = {"steps": 0, "resumed": 0.0}

    def after_step(_model: nn.Module) -> None:
        clock["steps"] += 1
        if clock["steps"] % steps_per_epoch:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()         # the epoch's queued GPU work counts as fit's time
        log["fit"]["seconds"].append(time.perf_counter() - clock["resumed"])
        if x_test is not None:
            log["fit"]["test_loss"].append(test_loss(task, model, x_test, eps))
        if len(log["canonical"]["seconds"]) < canonical_epochs:
            log["canonical"]["seconds"].append(canon.epoch())
            if x_test is not None:
                log["canonical"]["test_loss"].append(test_loss(task, canon.model, x_test, eps))
        between()
        if done(log):
            raise _Stop
        clock["resumed"] = time.perf_counter()

    clock["resumed"] = time.perf_counter()
    try:
        ae_helpers.fit(model, x_train, task.fit_step, epochs=max_fit_epochs, after_step=after_step,
                       progress=False, **fit_kwargs)
    except _Stop:
        pass
    while len(log["canonical"]["seconds"]) < canonical_epochs:      # fit gave up first
        log["canonical"]["seconds"].append(canon.epoch())
        if x_test is not None:
            log["canonical"]["test_loss"].append(test_loss(task, canon.model, x_test, eps))
    return log


# --------------------------------------------------------------------------- section 0: breakdown

PHASES = ("batching", "step fn", "backward", "optimiser", "after_step", "bookkeeping",
          "epoch end (read)", "evaluation")


def _legacy_epoch_end(sums: dict, first_bad: torch.Tensor) -> None:
    """What fit read at an epoch's end before issue 17: int(first_bad), then one float() per term
    (and ``evaluate`` then read one float() per validation term)."""
    int(first_bad)
    [float(v) for v in sums.values()]


def instrumented_epoch(task: Task, model: nn.Module, opt, x: torch.Tensor, x_val: torch.Tensor,
                       batch: int, legacy: bool) -> dict[str, float]:
    """One epoch of fit's inner loop with a clock around each phase; returns seconds per phase.

    ``legacy=False`` is fit's loop as it is now (its own helpers from ae_helpers.train);
    ``legacy=True`` the loop before issue 17: a disabled autocast context entered every step,
    a per-step ``torch.where`` for the first non-finite step, several reads at the epoch end.
    x, x_val: (N, 28, 28) images; ``evaluation`` is one pass over x_val at 4 × batch.
    """
    tr = ae_helpers.train
    t = dict.fromkeys(PHASES, 0.0)
    clock = time.perf_counter
    ctx = ((lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=False))
           if legacy else tr._autocast(False, torch.device("cpu")))
    n = len(x)
    model.train()
    perm = torch.randperm(n)
    sums, losses, first_bad = {}, [], torch.tensor(n + 1)
    for i, lo in enumerate(range(0, n, batch)):
        a = clock()
        idx = perm[lo:lo + batch]
        b_ = tr._batch((x,), idx)
        b = clock()
        terms = tr._run_step(task.fit_step, model, b_, 1, i, ctx)
        c = clock()
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        d = clock()
        opt.step()
        e = clock()
        (lambda m: None)(model)
        f = clock()
        if legacy:
            tr._accumulate(sums, terms, len(idx))
            first_bad = torch.where(torch.isfinite(terms["loss"].detach()), first_bad,
                                    torch.clamp(first_bad, max=i))
        else:
            losses.append(tr._accumulate(sums, terms, len(idx)))
        g = clock()
        for k, dt in zip(PHASES, (b - a, c - b, d - c, e - d, f - e, g - f)):
            t[k] += dt
    a = clock()
    if legacy:
        _legacy_epoch_end(sums, first_bad)
        b = clock()
        ae_helpers.train.evaluate(model, (x_val,), task.fit_step, batch_size=4 * batch)
        t["epoch end (read)"], t["evaluation"] = b - a, clock() - b
    else:
        val = tr._evaluate_sums(model, (x_val,), task.fit_step, 4 * batch)
        b = clock()
        tr._read_epoch(sums, val, tr._first_nonfinite(losses, n + 1))
        t["evaluation"], t["epoch end (read)"] = b - a, clock() - b
    return t


def breakdown(task: Task, x_train: torch.Tensor, x_test: torch.Tensor, epochs: int, seed: int,
              batch: int = CANONICAL_BATCH) -> dict:
    """Per-step seconds of each phase, before and after issue 17, ``epochs`` alternating epochs
    each (the first of each a warm-up, dropped); per phase the least disturbed epoch (minimum:
    on a shared CPU the median mostly measures the other processes)."""
    torch.manual_seed(seed)
    init = task.make_model().state_dict()
    runs = {}
    for legacy in (True, False):
        model = task.make_model()
        model.load_state_dict(init)
        runs[legacy] = (model, ae_helpers.train.default_optimizer(model, CANONICAL_LR, torch.device("cpu")), [])
    for _ in range(epochs + 1):
        for legacy, (model, opt, log) in runs.items():
            log.append(instrumented_epoch(task, model, opt, x_train, x_test, batch, legacy))
    steps = math.ceil(len(x_train) / batch)
    out = {"model": task.name, "batch_size": batch, "steps_per_epoch": steps}
    for legacy, (_, _, log) in runs.items():
        kept = log[1:] or log
        out["before" if legacy else "after"] = {k: min(e[k] for e in kept) / steps for k in PHASES}
    return out


def report_breakdown(results: list[dict], source: str) -> None:
    rows = []
    for r in results:
        for k in PHASES + ("total",):
            b = sum(r["before"].values()) if k == "total" else r["before"][k]
            a = sum(r["after"].values()) if k == "total" else r["after"][k]
            rows.append([r["model"], k, f"{b * 1e6:.0f}", f"{a * 1e6:.0f}", f"{(b - a) * 1e6:+.0f}"])
    print_table(f"0. Where a step's time goes, batch {results[0]['batch_size']}: fit's loop before -> after "
                "issue 17 (microseconds per optimiser step)",
                ["model", "phase", "before us/step", "after us/step", "saved"], rows,
                ["Each phase timed inside an instrumented copy of fit's epoch (its own helpers); epochs of "
                 "'before' and 'after' alternate; per phase the fastest epoch.",
                 "'epoch end' and 'evaluation' (one pass over the test set at 4x batch) are per epoch, "
                 "shown divided by the steps of an epoch.",
                 f"Data: {source}."])


# --------------------------------------------------------------------------- section 1

def race_same_batch(task: Task, x_train: torch.Tensor, trials: int, seed: int,
                    fused_adam: bool = False, between: Callable[[], None] = lambda: None,
                    extra: dict | None = None) -> dict:
    """Seconds per epoch of both loops at batch 128 and lr 1e-3, epochs interleaved.

    ``trials + 1`` epochs each, the first of each dropped as warm-up; the median is reported.
    ``extra``: more fit arguments (bench_gpu.py: amp, compile).
    """
    fit_kwargs = {"batch_size": CANONICAL_BATCH, "lr": CANONICAL_LR, "fused_adam": fused_adam, **(extra or {})}
    log = race(task, x_train, None, fit_kwargs=fit_kwargs,
               max_fit_epochs=trials + 1, canonical_epochs=trials + 1, done=lambda log: False,
               seed=seed, between=between)
    times = {k: v["seconds"][1:] for k, v in log.items()}
    c, f = statistics.median(times["canonical"]), statistics.median(times["fit"])
    c_min, f_min = min(times["canonical"]), min(times["fit"])
    return {"model": task.name, "batch_size": CANONICAL_BATCH, "lr": CANONICAL_LR,
            "canonical_s_per_epoch": c, "fit_s_per_epoch": f, "ratio_canonical_over_fit": c / f,
            "canonical_min_s": c_min, "fit_min_s": f_min, "ratio_of_minima": c_min / f_min,
            "warmup_epoch_s": {k: v["seconds"][0] for k, v in log.items()}, "trials": times}


# --------------------------------------------------------------------------- section 2

def race_to_target(task: Task, x_train, x_test, epochs: int, max_fit_epochs: int,
                   fit_kwargs: dict, seed: int, between: Callable[[], None] = lambda: None) -> dict:
    """Time to reach the canonical loop's ``epochs``-epoch test loss L.

    fit runs with ``fit_kwargs`` (empty: all its defaults) until the canonical loop has run
    ``epochs`` epochs and fit's test loss is ≤ L, or ``max_fit_epochs``. Both test losses
    are evaluated after every epoch, outside the timing; times are training time.
    """
    def reached(log: dict) -> bool:
        canon = log["canonical"]["test_loss"]
        return len(canon) == epochs and min(log["fit"]["test_loss"]) <= canon[-1]

    log = race(task, x_train, x_test, fit_kwargs=fit_kwargs, max_fit_epochs=max_fit_epochs,
               canonical_epochs=epochs, done=reached, seed=seed, between=between)
    target = log["canonical"]["test_loss"][-1]
    canon_s = sum(log["canonical"]["seconds"])
    defaults = fit_defaults()
    result = {"model": task.name, "test_loss": task.test_loss_text, "canonical_epochs": epochs,
              "target_test_loss": target, "canonical_s": canon_s,
              "fit_batch_size": fit_kwargs.get("batch_size", defaults["batch_size"]),
              "fit_lr": fit_kwargs.get("lr", defaults["lr"]),
              "fused_adam": bool(fit_kwargs.get("fused_adam")), "fit_epochs": None,
              "fit_test_loss": None, "fit_s": None, "ratio_canonical_over_fit": None,
              "fit_s_per_epoch": statistics.mean(log["fit"]["seconds"]), "log": log}
    hits = [i for i, v in enumerate(log["fit"]["test_loss"]) if v <= target]
    if hits:
        k = hits[0] + 1
        fit_s = sum(log["fit"]["seconds"][:k])
        result.update(fit_epochs=k, fit_test_loss=log["fit"]["test_loss"][k - 1], fit_s=fit_s,
                      ratio_canonical_over_fit=canon_s / fit_s)
    return result

# --------------------------------------------------------------------------- section 4: schedule

SCHEDULE = {"schedule": "warmup-cosine", "batch_size": 96, "lr": 1.5e-2, "warmup": 0.5, "betas": (0.85, 0.95)}  # opt-in


def schedule_to_target(task: Task, x_train, x_test, epochs: int, candidates: list[int], setting: dict,
                       seed: int, between: Callable[[], None] = lambda: None) -> dict:
    """Fewest epochs E (from ``candidates``, ascending) for which ``fit(..., epochs=E, **setting)``
    ends at or below the canonical loop's ``epochs``-epoch test loss, and its time.

    A schedule plans the whole run, so each E is its own fit call from the same initial
    weights. The canonical loop runs interleaved with the first call (one epoch after each of
    fit's, the rest after it); its time and final test loss are the reference.
    """
    log0, tries = None, []
    for e in sorted(candidates):
        log = race(task, x_train, x_test, fit_kwargs=setting, max_fit_epochs=e,
                   canonical_epochs=epochs if log0 is None else 0, done=lambda log: False,
                   seed=seed, between=between)
        log0 = log0 or log
        target = log0["canonical"]["test_loss"][-1]
        tries.append({"epochs": e, "s": sum(log["fit"]["seconds"]), "test_loss": log["fit"]["test_loss"][-1]})
        if tries[-1]["test_loss"] <= target:
            break
    hit = tries[-1] if tries[-1]["test_loss"] <= target else None
    canon_s = sum(log0["canonical"]["seconds"])
    return {"model": task.name, "setting": {k: v for k, v in setting.items()}, "canonical_epochs": epochs,
            "target_test_loss": target, "canonical_s": canon_s, "tries": tries,
            "fit_epochs": hit and hit["epochs"], "fit_s": hit and hit["s"],
            "fit_test_loss": tries[-1]["test_loss"],
            "ratio_canonical_over_fit": hit and canon_s / hit["s"]}


def report_schedule(results: list[dict], source: str) -> None:
    rows = [[r["model"], f"{r['target_test_loss']:.4f}", f"{r['canonical_s']:.2f}",
             ", ".join(f"E={t['epochs']}: {t['test_loss']:.4f} in {t['s']:.2f}s" for t in r["tries"]),
             "not reached" if r["fit_epochs"] is None else str(r["fit_epochs"]),
             _fmt_ratio(r["ratio_canonical_over_fit"])] for r in results]
    st = results[0]["setting"]
    print_table(f"4. Time to the canonical {results[0]['canonical_epochs']}-epoch test loss with the opt-in "
                f"setting fit(schedule={st['schedule']!r}, batch_size={st['batch_size']}, lr={st['lr']:g}, "
                f"warmup={st.get('warmup', 'default')}" + (f", Adam betas={st['betas']}" if "betas" in st else "") + ")",
                ["model", "target (canonical)", "canonical s", "fit runs: final test loss in time",
                 "fit epochs", "canonical/fit"], rows,
                ["Each E is one fit call planned for E epochs (the schedule ends with the run); the ratio "
                 "uses the fewest E that reaches the target.",
                 "The canonical loop's epochs alternate with the first fit call's. Training time only; "
                 "test losses outside the timing.",
                 f"Data: {source}."])


# --------------------------------------------------------------------------- section 5: other models

def conv_ae() -> nn.Module:
    """A small conv AE as the chapters train: (B, 28, 28) -> (B, 784), 1-16-32 channels, stride 2."""
    return nn.Sequential(
        _AddChannel(), nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(), nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(), nn.Flatten())


class _AddChannel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 28, 28) -> (B, 1, 28, 28)."""
        return x.reshape(len(x), 1, 28, 28)


class TinyJEPA(nn.Module):
    """A JEPA-like step in miniature: an online MLP encoder 784-256-32 sees the image with a
    random half of its 7×7 patches masked, a predictor 32-64-32 predicts the embedding an EMA
    target encoder gives the full image (``update_target`` after every optimiser step)."""

    def __init__(self) -> None:
        super().__init__()
        self.online = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 32))
        self.predictor = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))
        self.target = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 32))
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)

    @torch.no_grad()
    def update_target(self, tau: float = 0.99) -> None:
        for t, o in zip(self.target.parameters(), self.online.parameters()):
            t.lerp_(o, 1 - tau)


def jepa_loss(model: TinyJEPA, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and target embeddings (B, 32), x (B, 28, 28); the
    mask keeps each of the 16 7×7 patches with probability 1/2."""
    keep = (torch.rand(len(x), 1, 4, 1, 4, 1, device=x.device) < 0.5).float()
    masked = (x.reshape(len(x), 4, 7, 4, 7) * keep[:, 0]).reshape(len(x), 28, 28)
    with torch.no_grad():
        target = model.target(x)
    return F.mse_loss(model.predictor(model.online(masked)), target)


def _embedding_spread(model: TinyJEPA, x: torch.Tensor) -> float:
    """Mean per-dimension std of the online embeddings of x: near 0 means collapse."""
    with torch.no_grad():
        return float(model.online(x).std(0).mean())


def other_models(x_train, x_test, epochs: int, setting: dict, seed: int) -> list[dict]:
    """Conv AE (MSE per pixel) and TinyJEPA trained for ``epochs`` by fit with its defaults and by
    fit with ``setting``, from the same initial weights; test losses (and JEPA's embedding
    spread) after training, so a switch of defaults can be seen not to make them worse."""
    out = []
    cases = [("conv ae 1-16-32", conv_ae, mse_mean, None),
             ("jepa-like (EMA target)", TinyJEPA, jepa_loss, lambda m: m.update_target())]
    for name, make, loss, hook in cases:
        torch.manual_seed(seed)
        init = make().state_dict()
        row = {"model": name, "epochs": epochs}
        for label, kwargs in (("default", {}), ("setting", setting)):
            model = make()
            model.load_state_dict(init)
            start = time.perf_counter()
            ae_helpers.fit(model, x_train, loss, epochs=epochs, progress=False, after_step=hook,
                           **with_optimizer(model, kwargs))
            row[f"{label}_s"] = time.perf_counter() - start
            torch.manual_seed(seed + 3)                  # the same test masks for both
            row[f"{label}_test_loss"] = ae_helpers.evaluate(model, x_test, loss, batch_size=500)["loss"]
            if isinstance(model, TinyJEPA):
                row[f"{label}_spread"] = _embedding_spread(model, x_test)
        out.append(row)
    return out


def _comparable(row: dict, label: str) -> float:
    """The test loss of run ``label``, divided by the squared embedding spread where there is one."""
    return row[f"{label}_test_loss"] / row.get(f"{label}_spread", 1.0) ** 2


def report_other_models(rows: list[dict], setting: dict) -> None:
    table = [[r["model"], str(r["epochs"]), f"{r['default_test_loss']:.5f} in {r['default_s']:.1f}s",
              f"{r['setting_test_loss']:.5f} in {r['setting_s']:.1f}s",
              "yes" if _comparable(r, "setting") <= _comparable(r, "default") else "NO, worse",
              (f"{r['default_spread']:.3f} / {r['setting_spread']:.3f}; loss/spread^2 "
               f"{r['default_test_loss'] / r['default_spread'] ** 2:.4f} / "
               f"{r['setting_test_loss'] / r['setting_spread'] ** 2:.4f}" if "default_spread" in r else "-")]
             for r in rows]
    print_table(f"5. Other models the chapters train: fit's defaults vs the setting {setting}, same epochs",
                ["model", "epochs", "defaults: test loss", "setting: test loss", "setting no worse (JEPA: loss/spread^2)",
                 "embedding spread default / setting"], table,
                ["Test loss: conv AE, MSE per pixel; JEPA-like, MSE of predicted vs target embeddings "
                 "(same masks for both). Spread near 0 = collapse;",
                 "  the JEPA loss grows with the embeddings' scale, so loss / spread^2 compares runs whose "
                 "spreads differ."])


# --------------------------------------------------------------------------- section 3

def matmul_step_seconds(shapes: list[tuple[int, int]], batch: int, repeats: int, iters: int) -> float:
    """Best time of the matmuls of one training step: per layer (in, out), the forward
    (B×in)@(in×out), the input gradient (B×out)@(out×in) and the weight gradient
    (out×B)@(B×in), all with ``torch.mm`` on float32."""
    g = torch.Generator().manual_seed(0)
    mats = []
    for d_in, d_out in shapes:
        x, w = torch.randn(batch, d_in, generator=g), torch.randn(d_out, d_in, generator=g)
        gy = torch.randn(batch, d_out, generator=g)
        mats.append((x, w, gy))

    def run() -> None:
        for x, w, gy in mats:
            torch.mm(x, w.t()), torch.mm(gy, w), torch.mm(gy.t(), x)

    run()                                                       # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            run()
        best = min(best, (time.perf_counter() - start) / iters)
    return best


def gflops_of_mm(m: int, k: int, n: int, repeats: int, iters: int) -> float:
    """Best GFLOP/s of torch.mm for (m×k)@(k×n)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    for _ in range(max(2, iters // 4)):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - start) / iters)
    return 2 * m * k * n / best / 1e9


class MatmulMeter:
    """``torch.mm`` throughput at each model's sizes, sampled all through the run.

    ``sample(task)`` times the matmuls of one training step at every batch size in
    ``batches``. It runs before the races, at every epoch boundary of every race (outside
    both loops' clocks) and after them, so the floor is measured under the same machine
    load as the epochs it is compared with: the floor uses the median of the samples (the
    best one is reported too).
    """

    def __init__(self, batches: list[int], iters: int) -> None:
        self.batches, self.iters = sorted(set(batches)), iters
        self.seconds: dict[tuple[str, int], list[float]] = {}   # (model, batch) -> s per step
        self.shapes: dict[str, list[tuple[int, int]]] = {}

    def sample(self, task: Task, repeats: int = 1) -> None:
        if task.name not in self.shapes:      # built once: a new model would use the global RNG
            self.shapes[task.name] = linear_shapes(task.make_model())
        for b in self.batches:
            seconds = matmul_step_seconds(self.shapes[task.name], b, repeats, self.iters)
            self.seconds.setdefault((task.name, b), []).append(seconds)

    def floor(self, task: Task, batch: int, n_train: int) -> dict:
        """Training FLOPs per epoch (≈ 3 × forward = 6·MACs per sample) and their time at the
        median throughput sampled for this model and batch."""
        macs = linear_macs(task.make_model())
        samples = self.seconds[task.name, batch]
        gflops = 6 * macs * batch / statistics.median(samples) / 1e9
        flops_epoch = 6 * macs * n_train
        return {"model": task.name, "batch_size": batch, "macs_per_sample": macs,
                "gflop_per_epoch": flops_epoch / 1e9, "mm_gflops": gflops,
                "mm_gflops_best": 6 * macs * batch / min(samples) / 1e9,
                "floor_s_per_epoch": flops_epoch / (gflops * 1e9), "samples": len(samples)}


# --------------------------------------------------------------------------- output

def _fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]], notes: list[str] = ()) -> None:
    """A plain-text table: title, aligned columns, then notes."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    print(f"\n{title}\n{'=' * len(title)}")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    for note in notes:
        print(f"  {note}")


def report_same_batch(results: list[dict], trials: int, fused_adam: bool = False) -> None:
    rows = [[r["model"], f"{r['canonical_s_per_epoch']:.3f} / {r['canonical_min_s']:.3f}",
             f"{r['fit_s_per_epoch']:.3f} / {r['fit_min_s']:.3f}",
             f"{_fmt_ratio(r['ratio_canonical_over_fit'])} / {_fmt_ratio(r['ratio_of_minima'])}"]
            for r in results]
    print_table(f"1. Seconds per epoch at batch {CANONICAL_BATCH}, lr {CANONICAL_LR}, "
                f"{trials} interleaved epochs each" + (" (fit given Adam(fused=True))" if fused_adam else ""),
                ["model", "canonical s/epoch med/min", "fit s/epoch med/min", "canonical/fit med/min"], rows,
                ["> 1x means fit is faster. Epochs alternate fit, canonical, fit, ...; the first "
                 "epoch of each is a warm-up and not counted.",
                 "med = median, min = fastest epoch (the least disturbed by other processes)."])


def report_to_target(results: list[dict], defaults_used: bool) -> None:
    rows = []
    for r in results:
        rows.append([r["model"], f"{r['target_test_loss']:.4f}", f"{r['canonical_s']:.2f}",
                     f"{r['fit_batch_size']} / {r['fit_lr']:g}" + (" fused" if r.get("fused_adam") else ""),
                     "not reached" if r["fit_epochs"] is None else str(r["fit_epochs"]),
                     "-" if r["fit_test_loss"] is None else f"{r['fit_test_loss']:.4f}",
                     "-" if r["fit_s"] is None else f"{r['fit_s']:.2f}",
                     _fmt_ratio(r["ratio_canonical_over_fit"])])
    which = "its defaults (from its signature)" if defaults_used else "OVERRIDES, not its defaults"
    e = results[0]["canonical_epochs"]
    print_table(f"2. Time to reach the canonical {e}-epoch test loss; fit with {which}",
                ["model", f"L{e} (canonical)", "canonical s", "fit batch / lr", "fit epochs",
                 "fit test loss", "fit s", "canonical/fit"], rows,
                ["Times are training time only (fit's includes its setup); the test loss is evaluated "
                 "after every epoch of both loops,",
                 "  outside the timing; fit stops at the first epoch whose test loss is <= the target.",
                 "Test loss (same function for both): " + "; ".join(
                     f"{r['model']}: {r['test_loss']}" for r in results) + "."])


def report_floor(floors: dict, same_batch: list[dict], to_target: list[dict]) -> None:
    rows = []
    for sb, tt in zip(same_batch, to_target):
        cases = [("canonical", CANONICAL_BATCH, sb["canonical_s_per_epoch"]),
                 ("fit", CANONICAL_BATCH, sb["fit_s_per_epoch"]),
                 ("fit (sec. 2)", tt["fit_batch_size"], tt["fit_s_per_epoch"])]
        for loop, batch, seconds in cases:
            fl = floors[(sb["model"], batch)]
            rows.append([sb["model"], loop, str(batch), f"{fl['gflop_per_epoch']:.1f}",
                         f"{fl['mm_gflops']:.0f} / {fl['mm_gflops_best']:.0f}", f"{fl['floor_s_per_epoch']:.3f}",
                         f"{seconds:.3f}", f"{fl['floor_s_per_epoch'] / seconds:.0%}"])
    print_table("3. Epoch time against the matmul floor (training FLOPs = 6 x linear MACs per sample)",
                ["model", "loop", "batch", "GFLOP/epoch", "mm GFLOP/s med/best", "floor s/epoch",
                 "measured s/epoch", "of floor"], rows,
                ["mm GFLOP/s: torch.mm throughput of the forward, input-gradient and weight-gradient "
                 "products of every Linear layer at",
                 f"  that batch, sampled {floors[same_batch[0]['model'], CANONICAL_BATCH]['samples']}"
                 " times per model through the run, between epochs: median / best sample.",
                 "  floor s/epoch = GFLOP/epoch / median mm GFLOP/s.",
                 "'of floor' = floor / measured (100% = nothing but matmuls at full speed). "
                 "fit (sec. 2) = mean epoch of the section-2 run.",
                 f"(128x784)@(784x400) alone: {floors['mm_784_400']:.1f} GFLOP/s."])


# --------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10,
                   help="epochs of the canonical loop in section 2 (default 10)")
    p.add_argument("--trials", type=int, default=5, help="interleaved epochs per loop in section 1 (default 5)")
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--max-fit-epochs", type=int, default=None,
                   help="give up on fit after this many epochs (default 3 x --epochs)")
    p.add_argument("--fit-batch-size", type=int, default=None,
                   help="override fit's default batch_size in section 2 (reported as an override)")
    p.add_argument("--fit-lr", type=float, default=None,
                   help="override fit's default lr in section 2 (reported as an override)")
    p.add_argument("--fused-adam", action="store_true",
                   help="give fit Adam(fused=True) instead of its default Adam (reported as an override)")
    p.add_argument("--data", choices=("auto", "fashion", "standin"), default="auto",
                   help="fashion: real Fashion-MNIST (course cache or ../shared/data); standin: the "
                        "digits stand-in; auto (default): MNIST if cached, else the stand-in")
    p.add_argument("--breakdown", action="store_true",
                   help="section 0: per-step time of each phase of fit's loop, before -> after issue 17")
    p.add_argument("--schedule", action="store_true",
                   help="section 4: time to the canonical test loss with the opt-in schedule setting")
    p.add_argument("--schedule-epochs", default="2,3,4,5",
                   help="epochs tried for section 4, ascending, until one reaches the target (default 2,3,4,5)")
    p.add_argument("--schedule-batch", type=int, default=None,
                   help=f"sections 4-5: the setting's batch_size (default {SCHEDULE['batch_size']})")
    p.add_argument("--schedule-lr", type=float, default=None,
                   help=f"sections 4-5: the setting's lr (default {SCHEDULE['lr']:g})")
    p.add_argument("--warmup", type=float, default=None,
                   help=f"sections 4-5: the setting's warm-up fraction (default {SCHEDULE['warmup']:g})")
    p.add_argument("--betas", default=None, metavar="B1,B2",
                   help=f"sections 4-5: Adam's betas for the setting (default {','.join(map(str, SCHEDULE['betas']))})")
    p.add_argument("--other-models", type=int, default=0, metavar="E",
                   help="section 5: conv AE and a JEPA-like model, E epochs, defaults vs the setting")
    p.add_argument("--only-extra", action="store_true",
                   help="skip sections 1-3 (run only those asked for with --breakdown/--schedule/--other-models)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    p.add_argument("--json", default=None, help="also write the results as JSON to this path")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.trials, args.n_train, args.n_test = 2, 1, 512, 128
        args.schedule_epochs = "1,2"
        args.other_models = min(args.other_models, 1)
    if args.max_fit_epochs is None:
        args.max_fit_epochs = args.epochs + 2 if args.quick else 3 * args.epochs
    return args


def schedule_setting(args: argparse.Namespace) -> dict:
    """The setting sections 4 and 5 try: SCHEDULE with the --schedule-batch, --schedule-lr,
    --warmup and --betas given (betas become an Adam optimizer, see ``with_optimizer``)."""
    setting = dict(SCHEDULE)
    for key, value in (("batch_size", args.schedule_batch), ("lr", args.schedule_lr), ("warmup", args.warmup)):
        if value is not None:
            setting[key] = value
    if args.betas:
        setting["betas"] = tuple(float(b) for b in args.betas.split(","))
    return setting


def _load() -> str:
    """The 1-minute load average and the core count, to judge how busy the machine was."""
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"


def sections_1_to_3(args, x_train, x_test, overrides: dict, fit_batch: int) -> tuple[list, list, dict]:
    """The race at batch 128, the race to the canonical test loss, and the matmul floor."""
    if overrides:
        print(f"OVERRIDES for fit (not its defaults): {overrides}")
    meter = MatmulMeter([CANONICAL_BATCH, fit_batch], iters=2 if args.quick else 3)
    for t in TASKS:
        meter.sample(t, repeats=3)
    same_batch = [race_same_batch(t, x_train, args.trials, args.seed, args.fused_adam,
                                  between=lambda t=t: meter.sample(t)) for t in TASKS]
    report_same_batch(same_batch, args.trials, args.fused_adam)
    to_target = [race_to_target(t, x_train, x_test, args.epochs, args.max_fit_epochs, overrides,
                                args.seed, between=lambda t=t: meter.sample(t)) for t in TASKS]
    report_to_target(to_target, not overrides)
    for t in TASKS:
        meter.sample(t, repeats=3)
    floors = {(t.name, b): meter.floor(t, b, len(x_train)) for t in TASKS for b in meter.batches}
    floors["mm_784_400"] = gflops_of_mm(CANONICAL_BATCH, 784, 400, repeats=5, iters=2 if args.quick else 20)
    report_floor(floors, same_batch, to_target)
    return same_batch, to_target, floors


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)          # fit does this itself on the CPU; same for both
    get_device(verbose=False)               # fit would otherwise print the device line
    defaults = fit_defaults()
    overrides = {k: v for k, v in (("batch_size", args.fit_batch_size), ("lr", args.fit_lr),
                                   ("fused_adam", args.fused_adam)) if v}
    fit_batch = overrides.get("batch_size", defaults["batch_size"])
    x_train, x_test, source = load_data(args.n_train, args.n_test, args.seed, args.data)

    print(f"bench_fit: torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, {_load()} at start; flush denormals on for both loops")
    print(f"data: {source}")
    print(f"fit defaults from its signature: batch_size={defaults['batch_size']}, lr={defaults['lr']:g}")
    load_at_start = _load()
    extra = {}
    if args.breakdown:
        extra["breakdown"] = [breakdown(t, x_train, x_test, max(1, args.trials), args.seed) for t in TASKS]
        report_breakdown(extra["breakdown"], source)
    same_batch, to_target, floors = [], [], {}
    if not args.only_extra:
        same_batch, to_target, floors = sections_1_to_3(args, x_train, x_test, overrides, fit_batch)
    setting = schedule_setting(args)
    if args.schedule:
        epochs = [int(e) for e in args.schedule_epochs.split(",")]
        extra["schedule"] = [schedule_to_target(t, x_train, x_test, args.epochs, epochs, setting, args.seed)
                             for t in TASKS]
        report_schedule(extra["schedule"], source)
    if args.other_models:
        extra["other_models"] = other_models(x_train, x_test, args.other_models, setting, args.seed)
        report_other_models(extra["other_models"], setting)
    print(f"\nmachine: {_load()} at the end")

    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "data": source,
               "n_train": len(x_train), "n_test": len(x_test), "fit_defaults": defaults,
               "fit_overrides": overrides, "load_at_start": load_at_start, "load_at_end": _load(),
               "same_batch": same_batch, "to_target": to_target,
               "floor": [v for k, v in floors.items() if k != "mm_784_400"],
               "mm_784_400_gflops": floors.get("mm_784_400"), **extra}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"results written to {args.json}")
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
