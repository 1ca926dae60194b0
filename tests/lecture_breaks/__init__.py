"""Deliberate breaks of each lecture: edits that must make its claims fail.

One module per lecture, ``lNN.py`` (``l02.py`` for ``lectures/02_*.ipynb``), holding
``BREAKS = [Break(old, new, claims), ...]``. ``tests/notebooks/test_lectures.py`` applies all breaks of
a lecture at once, runs it on the stand-in without stopping at failed claims, and checks
that each break fails the claims it names (by the start of their printed name) and that
no claim of the lecture still holds. A break whose ``old`` text no longer occurs exactly
once in the lecture fails loudly, so a break cannot go stale.
"""
from __future__ import annotations

import importlib

from lecture_runner import Break  # noqa: F401  (re-exported for the lNN modules)


def breaks_for(slug: str) -> list:
    """The breaks of lecture ``slug`` (e.g. '02_deep_autoencoders'), [] if it has none."""
    try:
        module = importlib.import_module(f"lecture_breaks.l{slug[:2]}")
    except ModuleNotFoundError:
        return []
    return list(module.BREAKS)
