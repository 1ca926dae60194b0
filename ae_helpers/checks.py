"""Checks that visible test cells call, with messages that help a student fix the problem.

Each check returns quietly (printing one ``ok`` line to stdout when ``verbose``) or raises
``AssertionError`` saying what was expected, what came, and a hint. Nothing goes to stderr:
nbgrader zeroes a test cell that writes there.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence, Union

import numpy as np
import torch

if TYPE_CHECKING:
    from .train import History

#: What a check accepts as a value: a tensor (any device, dtype, subclass), a numpy array or a
#: python / numpy number. Anything else fails the check with a message, never a TypeError.
Value = Union[torch.Tensor, np.ndarray, float, int, bool, np.number]


class CheckError(AssertionError):
    """A failed check; its message says what was expected, what came and what to try."""


def _fail(what: str, expected: str, got: str, hint: str) -> None:
    raise CheckError(f"{what}: expected {expected}, got {got}.\nHint: {hint}")


def _ok(verbose: bool, text: str) -> None:
    if verbose:
        print(f"ok: {text}")


def _is(value, types) -> bool:
    """``isinstance`` by the value's real type: an object cannot pass by faking ``__class__``."""
    return issubclass(type(value), types)


def plain_tensor(value: torch.Tensor) -> torch.Tensor:
    """A detached plain ``torch.Tensor`` with the data of ``value`` (a tensor or a subclass),
    taken without running any ``__torch_function__`` override of the subclass."""
    with torch._C.DisableTorchFunctionSubclass():
        return torch.Tensor.detach(value).as_subclass(torch.Tensor)


def _as_tensor(value, name: str) -> torch.Tensor:
    if _is(value, torch.Tensor):
        return plain_tensor(value)
    numeric = _is(value, (int, float, bool, np.number, np.bool_)) or (
        _is(value, np.ndarray) and value.dtype.kind in "biuf")
    if numeric:
        return torch.as_tensor(np.asarray(value))
    _fail(name, "a tensor or array", type(value).__name__,
          "return a torch.Tensor (or numpy array), not None or a list.")


def check_shape(value: Value, shape: Sequence[int | None], name: str = "result",
                hint: str | None = None, verbose: bool = True) -> None:
    """``value`` has shape ``shape``; ``None`` in ``shape`` matches any size."""
    t = _as_tensor(value, name)
    got = tuple(t.shape)
    want = tuple(shape)
    if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
        shown = "(" + ", ".join("any" if w is None else str(w) for w in want) + ")"
        _fail(f"{name} has the wrong shape", shown, str(got),
              hint or "print the shapes of your intermediate results; check which dimension you "
                      "reduced, and whether you transposed a matrix.")
    _ok(verbose, f"{name} has shape {got}")


def check_dtype(value: Value, dtype: torch.dtype | str, name: str = "result", hint: str | None = None,
                verbose: bool = True) -> None:
    """``value`` has dtype ``dtype`` (a torch dtype, or 'float' for any floating type)."""
    t = _as_tensor(value, name)
    good = t.is_floating_point() if dtype == "float" else t.dtype == dtype
    if not good:
        _fail(f"{name} has the wrong dtype", str(dtype), str(t.dtype),
              hint or "convert with .float() or .long(), or check which inputs you combined.")
    _ok(verbose, f"{name} has dtype {t.dtype}")


def check_finite(value: Value, name: str = "result", hint: str | None = None, verbose: bool = True) -> None:
    """Every entry of ``value`` is finite (no NaN, no ±inf)."""
    t = _as_tensor(value, name).float()
    bad = ~torch.isfinite(t)
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0]) if t.dim() else ()
        _fail(f"{name} is not finite", "finite values",
              f"{int(bad.sum())} NaN/inf entries, the first at index {where}",
              hint or "look for log(0), division by zero or exp of a large number.")
    _ok(verbose, f"{name} is finite")


def check_close(value: Value, expected: Value, name: str = "result", atol: float = 1e-5, rtol: float = 1e-4,
                hint: str | None = None, verbose: bool = True) -> None:
    """``value`` equals ``expected`` within ``atol + rtol·|expected|``, elementwise.

    A failure reports the largest error, where it is, and both values there.
    """
    t = _as_tensor(value, name).double()
    e = _as_tensor(expected, f"expected {name}").double()
    if t.shape != e.shape:
        _fail(f"{name} has the wrong shape", str(tuple(e.shape)), str(tuple(t.shape)),
              hint or "compare the shapes of your intermediate results with the docstring.")
    check_finite(t, name, verbose=False)
    err = (t - e).abs()
    off = err > atol + rtol * e.abs()
    if off.any():
        k = int(torch.argmax(torch.where(off, err, torch.full_like(err, -1.0)).reshape(-1)))
        where = tuple(int(i) for i in np.unravel_index(k, tuple(e.shape))) if e.dim() else ()
        _fail(f"{name} is not close enough", f"{float(e.reshape(-1)[k]):.6g} at index {where}",
              f"{float(t.reshape(-1)[k]):.6g} there (largest error {float(err.reshape(-1)[k]):.3g} among "
              f"the {int(off.sum())} of {err.numel()} entries out of tolerance)",
              hint or "check the formula against the task, including signs, means vs sums and axes.")
    _ok(verbose, f"{name} matches (largest error {float(err.max()) if err.numel() else 0.0:.2g})")


def check_scalar(value: Value, name: str = "result", hint: str | None = None, verbose: bool = True) -> float:
    """``value`` is a single number (python float/int or 0-d / 1-element tensor); return it."""
    if _is(value, (int, float, np.floating, np.integer)):
        out = float(value)
    elif _is(value, (torch.Tensor, np.ndarray)) and np.prod(value.shape) == 1:
        out = float(plain_tensor(value).reshape(-1)[0] if _is(value, torch.Tensor) else value.reshape(-1)[0])
    else:
        got = f"shape {tuple(value.shape)}" if _is(value, (torch.Tensor, np.ndarray)) else type(value).__name__
        _fail(f"{name} is not a single number", "a scalar", got,
              hint or "reduce with .mean() or .sum(), and return it.")
    _ok(verbose, f"{name} is a number ({out:.4g})")
    return out


def check_grads(parameters: Iterable[torch.Tensor] | torch.nn.Module, name: str = "the model",
                hint: str | None = None, verbose: bool = True) -> None:
    """After ``loss.backward()``: every parameter has a finite, not-all-zero gradient."""
    if _is(parameters, torch.nn.Module):
        named = list(parameters.named_parameters())
    else:
        named = [(f"parameter {i}", p) for i, p in enumerate(parameters)]
    if not named:
        _fail(f"{name} has no parameters", "at least one parameter", "none",
              hint or "build the layers in __init__ (as attributes), not in forward.")
    for pname, p in named:
        if p.grad is None:
            _fail(f"no gradient reached {pname} of {name}", "a gradient", "None",
                  hint or "is the output computed from this parameter without .detach(), .item() or numpy?")
        if not torch.isfinite(p.grad).all():
            _fail(f"the gradient of {pname} of {name}", "finite values", "NaN/inf",
                  hint or "look for log(0), division by zero or exp of a large number in the loss.")
        if not p.grad.abs().sum() > 0:
            _fail(f"the gradient of {pname} of {name}", "non-zero values", "all zeros",
                  hint or "the loss does not depend on this parameter: is it used in forward, "
                          "multiplied by 0, or behind a dead ReLU?")
    _ok(verbose, f"gradients reach all {len(named)} parameters of {name}")


def check_decreasing(losses: Sequence[float] | History, name: str = "the training loss", factor: float = 1.0,
                     hint: str | None = None, verbose: bool = True) -> None:
    """The last loss is below ``factor`` × the first (``losses``: a list or a History)."""
    values = list(getattr(losses, "train_loss", losses))
    if len(values) < 2:
        _fail(f"{name} needs at least two values", "≥ 2 epochs", f"{len(values)}",
              hint or "train for at least two epochs.")
    first, last = float(values[0]), float(values[-1])
    if not last < factor * first:
        want = "below the first" if factor == 1.0 else f"below {factor:g} × the first ({factor * first:.4g})"
        _fail(f"{name} did not decrease enough", f"a last value {want}", f"{first:.4g} → {last:.4g}",
              hint or "check the sign of the loss, the learning rate, and that the step returns the loss.")
    _ok(verbose, f"{name} went from {first:.4g} to {last:.4g}")


def check_between(value: Value, low: float, high: float, name: str = "result", hint: str | None = None,
                  verbose: bool = True) -> None:
    """A scalar lies in [low, high]; returns nothing.

    Nothing, so that a test cell ending with this check shows no number: nbgrader's Validate
    would read a number there as the cell's partial credit."""
    v = check_scalar(value, name, verbose=False)
    if not low <= v <= high:
        _fail(f"{name} is out of range", f"a value in [{low:g}, {high:g}]", f"{v:.4g}",
              hint or "check the formula and the units (mean vs sum, per image vs per pixel).")
    _ok(verbose, f"{name} = {v:.4g} lies in [{low:g}, {high:g}]")


def needs(*names: str, part: str) -> None:
    """Fail with "solve part … first" unless every one of ``names`` is defined in the notebook.

    A test cell that uses a variable an earlier cell of the student's makes calls this first,
    so that a student who has not got there yet reads what to do instead of a ``NameError``::

        needs("history", "model", part="2 (train the autoencoder)")
    """
    import __main__
    namespace = vars(__main__)
    try:                                  # in a Jupyter kernel the notebook's names live here
        from IPython import get_ipython
        shell = get_ipython()
        if shell is not None:
            namespace = shell.user_ns
    except ImportError:
        pass
    missing = [n for n in names if n not in namespace]
    if missing:
        raise CheckError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not defined yet: "
                         f"solve part {part} first and run its cells, then run this cell again.")
