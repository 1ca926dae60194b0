"""Course-wide settings: fast mode, the data directory and seeding.

Fast mode (``AE_FAST=1``, and always while nbgrader autogrades or validates, which set
``NBGRADER_EXECUTION``) subsamples the data and shortens training so that every notebook
runs in seconds on a laptop CPU. Notebook code is the same in both modes.

State kept by this module: ``_said``, the set of keys :func:`say_once` has printed in this
process (so that "Device: cpu" or a fast-mode note appears once per notebook, not at every
``fit``); the test suite empties it before each test. :func:`set_seed` changes the
process-wide RNGs, as its name says. Nothing else here keeps or changes global state.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

#: In fast mode, at most this many training / test items are kept per data set.
FAST_MAX_TRAIN = 1000
FAST_MAX_TEST = 300
#: In fast mode, ``fit`` runs at most this many epochs unless ``fast_epochs`` is given.
FAST_MAX_EPOCHS = 5

_TRUE = {"1", "true", "yes", "on"}
#: The keys :func:`say_once` has printed in this process (empty it to hear every message again).
_said: set[str] = set()


def nbgrader_executing() -> bool:
    """True while nbgrader runs this notebook (autograde, Validate): it sets ``NBGRADER_EXECUTION``."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def fast_mode() -> bool:
    """True when ``AE_FAST`` is set to 1/true/yes/on, or nbgrader is executing the notebook."""
    if nbgrader_executing():
        return True
    return os.environ.get("AE_FAST", "").strip().lower() in _TRUE


def say_once(key: str, message: str) -> None:
    """Print ``message`` the first time ``key`` is seen in this process (stdout, never stderr).

    The keys seen are remembered in ``config._said``, for the life of the process.
    """
    if key not in _said:
        _said.add(key)
        print(message)


def data_dir() -> Path:
    """Folder that holds the data cache: ``$AE_DATA_DIR``, else ``~/.cache/ae_course``.

    ``XDG_CACHE_HOME`` is honoured. The folder is created if needed.
    """
    env = os.environ.get("AE_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = base / "ae_course"
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed the process-wide RNGs of python, numpy and torch (CPU and CUDA) with ``seed``.

    seed: any int ≥ 0 (numpy gets ``seed % 2**32``). Returns a new ``torch.Generator`` seeded
    with ``seed``, for draws that should not depend on the global RNG's position.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
