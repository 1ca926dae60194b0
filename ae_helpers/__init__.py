"""ae_helpers: the student runtime of the course "Autoencoders & latent spaces".

Data, devices, the training loop, plots and student-facing checks. It never contains what an
exercise grades. The table is the whole public surface: what a notebook may call. Tensors are
float32 unless said; N is the number of items, (H, W) an image's size.

====================================  ========================================================
name                                  what it is
====================================  ========================================================
``load_dataset(name)``                an ``ImageData``: images (N, H, W) in [0, 1], int64
                                      labels (N,)
``ImageData``                         a split data set (``x_train``, ``y_train``, ``flat()`` …)
``fit(model, data, step)``            trains by minimising ``step(model, batch)``; returns a
                                      ``History``. Seeds the global RNGs (``seed=0``; None:
                                      not) and, on a CPU, switches on flush-denormal
                                      (``flush_denormal=True``)
``History``                           per-epoch means of every loss term, train and validation
``evaluate(model, data, step)``       mean of each term of ``step`` over ``data`` (floats)
``apply_in_batches(fn, x)``           ``fn(x)`` (an encoder, decoder, classifier …) in eval
                                      mode, batch by batch, no grad: CPU tensor(s) (N, ...)
``reconstruct_in_batches(model, x)``  ``model(x)`` the same way, shaped like ``x``
``progress(items, desc=…)``           the items of a loop, with a progress bar
``get_device()``                      the best device, cuda → mps → cpu (changes nothing)
``set_fast_mode_threads()``           fast mode on a CPU: torch's thread count set to 1,
                                      process-wide
``set_seed(seed)``                    seeds the global RNGs of python, numpy and torch
``fast_mode()``                       True under ``AE_FAST=1`` or while nbgrader executes
``data_dir()``                        the folder of the data cache
``claim(what, value, …)``             a lecture's claim about its own number, checked and
                                      printed
``checks``                            module: ``check_shape``, ``check_close`` … for test cells
``plot``                              module: ``image_grid``, ``reconstructions``,
                                      ``loss_curves`` …
``models``                            module: ``mlp``, ``conv_encoder``, ``conv_decoder``
``sprites``                           module: ``make_sprites``, images with known factors
``signals``                           module: ``machine_signals``, vibration series with known
                                      faults (N, T, C)
====================================  ========================================================

The five modules are imported when first used (``ae_helpers.plot`` loads matplotlib then).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .claims import claim
from .config import data_dir, fast_mode, set_seed
from .data import ImageData, load_dataset
from .train import (History, apply_in_batches, evaluate, fit, get_device, progress,
                    reconstruct_in_batches, set_fast_mode_threads)

#: The modules a notebook may use, imported on first access.
MODULES = ("checks", "plot", "models", "sprites", "signals")

__all__ = ["load_dataset", "ImageData", "fit", "History", "evaluate", "apply_in_batches",
           "reconstruct_in_batches", "progress", "get_device", "set_fast_mode_threads", "set_seed",
           "fast_mode", "data_dir", "claim", *MODULES]
__version__ = "0.1.0"


def __getattr__(name: str) -> ModuleType:
    """``ae_helpers.plot`` and the other modules of :data:`MODULES`, imported when first used."""
    if name in MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ae_helpers' has no attribute {name!r}")
