"""Claims a lecture makes about its own numbers, checked where the numbers are computed.

A lecture that says "the deep autoencoder beats PCA at d = 4" computes the ratio and states
the claim beside it::

    claim("deep AE / PCA test error at d = 4", ratio, below=0.9)

which prints one line, ``claim holds: deep AE / PCA test error at d = 4 = 0.68 (< 0.9)``, or,
when the number misses its bound, ``claim does NOT hold on this run: …`` followed by what to
look for. A student's notebook never stops for a claim. Under the test suite it does:

- ``AE_CLAIMS=strict`` makes a claim that does not hold raise :class:`ClaimError`, so the
  notebook run fails at the cell that made it;
- ``AE_CLAIMS_LOG=<file>`` appends every claim to that file as one JSON line
  (``{"what", "value", "bound", "holds"}``), so a test can check which claims held.

A claim without a bound is a yes/no statement: it holds when ``bool(value)`` is true.
"""
from __future__ import annotations

import json
import math
import os
from numbers import Real

STRICT_ENV = "AE_CLAIMS"
LOG_ENV = "AE_CLAIMS_LOG"


class ClaimError(AssertionError):
    """A lecture's claim does not hold (raised only under ``AE_CLAIMS=strict``)."""


def _fmt(value: float, digits: int) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.{digits}g}"


def bound_text(below: float | None = None, above: float | None = None, digits: int = 3) -> str:
    """The bound as people write it: '< 0.9', '> 0.5', 'between 0.5 and 0.9', or '' for none."""
    if below is not None and above is not None:
        return f"between {_fmt(above, digits)} and {_fmt(below, digits)}"
    if below is not None:
        return f"< {_fmt(below, digits)}"
    if above is not None:
        return f"> {_fmt(above, digits)}"
    return ""


def claim(what: str, value: float | bool, *, below: float | None = None, above: float | None = None,
          if_not: str = "", digits: int = 3) -> bool:
    """Check and print one claim; return whether it holds.

    ``what`` names the number ("deep AE / PCA test error at d = 4"); ``value`` is the number
    (a float, a 0-d tensor or a bool). The claim holds when ``value < below`` and
    ``value > above`` (strictly, each bound only when given; a NaN never holds), or, with
    neither bound, when ``bool(value)`` is true. ``if_not`` says what a reader whose run
    misses the bound should look at; it is printed only then.
    """
    if hasattr(value, "item"):
        value = value.item()
    if not isinstance(value, (bool, Real)):
        raise TypeError(f"claim {what!r}: value must be a number or a bool, got {type(value).__name__}")
    if below is None and above is None:
        holds = bool(value)
    else:
        number = float(value)
        holds = not math.isnan(number)
        holds = holds and (below is None or number < below) and (above is None or number > above)
    bound = bound_text(below, above, digits)
    shown = f"{what} = {_fmt(value, digits)}" + (f" ({bound})" if bound else "")
    _log(what, value, bound, holds)
    if holds:
        print(f"claim holds: {shown}")
        return True
    message = f"claim does NOT hold on this run: {shown}"
    if if_not:
        message += f". {if_not}"
    print(message)
    if os.environ.get(STRICT_ENV, "").strip().lower() == "strict":
        raise ClaimError(message)
    return False


def _log(what: str, value: float | bool, bound: str, holds: bool) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    record = {"what": what, "value": value if isinstance(value, bool) else float(value),
              "bound": bound, "holds": holds}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_log(path: str | os.PathLike) -> list[dict]:
    """The claims recorded in ``path`` (one dict per claim, in the order they were made)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
