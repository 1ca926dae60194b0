"""ae_helpers: infrastructure for the course "Autoencoders & latent spaces".

Data, devices, the training loop, plots and student-facing checks. It never contains what
an exercise grades.
"""
from .claims import claim
from .config import data_dir, fast_mode, set_seed
from .data import ImageData, load_dataset
from .train import History, encode, evaluate, fit, get_device, progress, reconstruct

__all__ = ["claim", "data_dir", "fast_mode", "set_seed", "ImageData", "load_dataset", "History",
           "encode", "evaluate", "fit", "get_device", "progress", "reconstruct"]
__version__ = "0.1.0"
