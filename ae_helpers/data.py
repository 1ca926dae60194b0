"""Data sets of the course, as float tensors in [0, 1] with labels and a seeded split.

``load_dataset(name)`` knows four names:

==============  =========================================  =============================
name            source (downloaded once, then cached)      offline and uncached
==============  =========================================  =============================
digits          scikit-learn 8×8 digits (embedded)         (always available)
faces           Olivetti faces, 40 people (scikit-learn)   scikit-image ``lfw_subset``
mnist           MNIST through scikit-learn's OpenML        digits
fashion_mnist   Fashion-MNIST through OpenML               digits
==============  =========================================  =============================

The cache is one file per data set, ``<data dir>/<name>.npz``, holding ``x`` (uint8,
N×H×W) and ``y`` (int64, N). It is read before any download is tried, so an instructor can
seed an offline machine by copying the files. In fast mode nothing is downloaded: a data set
that is not cached is replaced by its embedded stand-in, and the data are subsampled.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import config

DIGIT_NAMES = [str(i) for i in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class CorruptCacheError(RuntimeError):
    """A cache file exists but cannot be used; the message names the file."""


@dataclass
class ImageData:
    """A split image data set.

    ``x_train``/``x_test``: float32 tensors (N, H, W) with values in [0, 1];
    ``y_train``/``y_test``: int64 tensors (N,) of class (or identity) indices;
    ``image_shape``: (H, W); ``class_names[k]`` names label k; ``source`` says where the
    pixels came from; ``name`` is the data set they are (``"digits"`` when the 8×8 digits
    stand in for ``"mnist"``), so a title made from it says what is shown.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int]
    class_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_pixels(self) -> int:
        """H·W, the length of a flattened image."""
        return self.image_shape[0] * self.image_shape[1]

    @property
    def n_classes(self) -> int:
        """The number of classes (or identities), ``len(class_names)``."""
        return len(self.class_names)

    def flat(self, split: str = "train") -> torch.Tensor:
        """Images of ``split`` ('train' or 'test') flattened to (N, H·W)."""
        x = {"train": self.x_train, "test": self.x_test}[split]
        return x.reshape(len(x), -1)

    def __repr__(self) -> str:
        h, w = self.image_shape
        return (f"ImageData('{self.name}': {len(self.x_train)} train + {len(self.x_test)} test "
                f"images of {h}×{w}, {self.n_classes} classes; {self.source})")


# --------------------------------------------------------------------------- cache

def cache_path(name: str) -> Path:
    """Where the cache file of data set ``name`` lives: ``<data dir>/<name>.npz``."""
    return config.data_dir() / f"{name}.npz"


def write_cache(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Store images ``x`` (N×H×W, uint8, or floats in [0, 1]) and labels ``y`` (N) at ``path``."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        x = np.clip(np.rint(np.asarray(x, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    if x.ndim != 3 or len(x) != len(y):
        raise ValueError(f"cache needs x of shape (N, H, W) and y of shape (N,), got {x.shape} and {y.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, x=x, y=y)
    tmp.replace(path)
    return path


def read_cache(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``x`` (uint8, N×H×W) and ``y`` (int64, N) from ``path``; raise CorruptCacheError if unusable."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not an .npz archive")
        with loaded as f:
            x, y = f["x"], f["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CorruptCacheError(
            f"cache file {path} is unreadable ({type(err).__name__}: {err}). Delete it to "
            "download again, or replace it with an .npz holding x (uint8, N×H×W) and y (int64, N).") from err
    problems = []
    if len(x) == 0:
        problems.append("it holds no images")
    if x.dtype != np.uint8 or x.ndim != 3:
        problems.append(f"x is {x.dtype} with shape {x.shape}, expected uint8 N×H×W")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        problems.append(f"y is {y.dtype} with shape {y.shape}, expected int64 of length {len(x)}")
    if problems:
        raise CorruptCacheError(f"cache file {path} is not usable: " + "; ".join(problems))
    return x, y.astype(np.int64)


# --------------------------------------------------------------------------- sources

def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as (x (1797, 8, 8) in [0, 1], y).

    The file that scikit-learn ships is read directly: importing ``sklearn.datasets`` costs
    about two seconds, which every graded notebook would pay.
    """
    import importlib.util
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is not None and csv.exists():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        images, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:
        from sklearn.datasets import load_digits
        d = load_digits()
        images, target = d.images, d.target
    return (images / 16.0).astype(np.float32), target.astype(np.int64)


def lfw_faces_with_views(n_views: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's embedded LFW faces (100 people, one 25×25 photo each), with views.

    Each person gets ``n_views`` images: the photo itself and ``n_views - 1`` generated
    views (a shift of at most one pixel, a brightness gain in [0.85, 1.15] and a gentle
    left-right lighting ramp), so that recognition of held-out images of known people can
    be tried offline. Returns x (100·n_views, 25, 25) floats in [0, 1] and y = person index.
    """
    from skimage.data import lfw_subset
    faces = lfw_subset()[:100].astype(np.float32)      # the first 100 are faces
    rng = np.random.default_rng(1234)                  # fixed: the data set never changes
    ramp = np.linspace(-1.0, 1.0, faces.shape[2], dtype=np.float32)[None, :]
    xs, ys = [], []
    for person, face in enumerate(faces):
        for view in range(n_views):
            img = face
            if view:
                dy, dx = rng.integers(-1, 2, size=2)
                img = np.roll(face, (int(dy), int(dx)), axis=(0, 1))
                img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.08, 0.08) * ramp
            xs.append(np.clip(img, 0.0, 1.0))
            ys.append(person)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def _quietly(fetch: Callable, **kwargs):
    """Call a scikit-learn fetcher without its retries, progress prints and warnings."""
    import contextlib
    import inspect
    import io
    import warnings
    params = inspect.signature(fetch).parameters
    if "n_retries" in params:        # scikit-learn ≥ 1.5 retries network errors with pauses
        kwargs.update(n_retries=1, delay=0.1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fetch(**kwargs)


def _fetch_olivetti(home: Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import fetch_olivetti_faces
    d = _quietly(fetch_olivetti_faces, data_home=str(home), download_if_missing=True)
    return d.images, d.target


def _fetch_openml(openml_name: str) -> Callable[[Path], tuple[np.ndarray, np.ndarray]]:
    def fetch(home: Path) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import fetch_openml
        d = _quietly(fetch_openml, name=openml_name, version=1, data_home=str(home), as_frame=False,
                     parser="liac-arff")
        return d.data.reshape(-1, 28, 28).astype(np.uint8), d.target.astype(np.int64)
    return fetch


#: Downloaders by data-set name; each takes a scratch folder and returns (x, y).
FETCHERS: dict[str, Callable[[Path], tuple[np.ndarray, np.ndarray]]] = {
    "faces": _fetch_olivetti,
    "mnist": _fetch_openml("mnist_784"),
    "fashion_mnist": _fetch_openml("Fashion-MNIST"),
}
#: Offline stand-ins: (loader, description).
EMBEDDED = {
    "digits": (_digits, "scikit-learn 8×8 digits (embedded)"),
    "faces": (lfw_faces_with_views, "scikit-image lfw_subset: 100 people × 5 views (1 photo + 4 generated)"),
}
FALLBACK = {"faces": "faces", "mnist": "digits", "fashion_mnist": "digits"}
SOURCES = {"faces": "Olivetti faces (AT&T), 40 people × 10 photos",
           "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
NAMES = ("digits", "faces", "mnist", "fashion_mnist")


def _class_names(name: str, y: np.ndarray) -> list[str]:
    if name == "digits" or name == "mnist":
        return list(DIGIT_NAMES)
    if name == "fashion_mnist":
        return list(FASHION_NAMES)
    return [f"person {k}" for k in range(int(y.max()) + 1)]


def download(name: str) -> Path:
    """Fetch data set ``name`` into the cache (if not there yet) and return the cache file.

    Raises OSError when it cannot be downloaded. ``digits`` ships with scikit-learn and has no
    cache file. The file is not read here: whoever uses it reads (and so checks) it once.
    """
    path = cache_path(name)
    if not path.exists():
        x, y = FETCHERS[name](config.data_dir() / "downloads")
        write_cache(path, x, y)
    return path


def _embedded(name: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(x, y, kind, source) of the embedded data set that stands in for ``name``."""
    kind = FALLBACK.get(name, name)
    loader, description = EMBEDDED[kind]
    x, y = loader()
    return x, y, kind, description


def _raw(name: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(x, y, kind, source) before splitting; kind is the name whose class names apply."""
    if name == "digits":
        return _embedded("digits")
    path = cache_path(name)
    if path.exists():
        x, y = read_cache(path)
        return x.astype(np.float32) / 255.0, y, name, f"{SOURCES[name]} (cache {path})"
    fallback = FALLBACK[name]
    if config.fast_mode():
        reason = "fast mode does not download"
    else:
        try:
            x, y = read_cache(download(name))
        except OSError as err:
            reason = f"offline ({type(err).__name__})"
        else:
            return x.astype(np.float32) / 255.0, y, name, f"{SOURCES[name]} (downloaded to {path})"
    config.say_once(f"fallback:{name}", f"'{name}' is not cached at {path} and {reason}: "
                    f"using {EMBEDDED[fallback][1]} instead.")
    return _embedded(name)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): each class sends round(test_fraction·count) items, at least 1, to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = max(1, int(round(test_fraction * len(idx)))) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _subsample(idx: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` of ``idx`` (seeded), kept in the shuffled order of ``idx``.

    The order matters: a file stored class by class (the Fashion-MNIST cache is) would
    otherwise give a test set whose first images, the ones figures show, are all one class.
    """
    if len(idx) <= cap:
        return idx
    keep = np.random.default_rng(seed).choice(len(idx), size=cap, replace=False)
    return idx[np.sort(keep)]


def load_dataset(name: str, test_fraction: float = 0.2, seed: int = 0, pinned: bool = False) -> ImageData:
    """Load data set ``name`` (one of ``NAMES``) with a seeded, stratified train/test split.

    Images are float32 in [0, 1], shaped (N, H, W); labels int64 (N,). In fast mode at most
    ``config.FAST_MAX_TRAIN`` / ``FAST_MAX_TEST`` items are kept (seeded), and it says so once.

    ``pinned=True`` is for graded exercises: it returns the embedded data set of that kind
    (``digits`` for the 28×28 names, ``lfw_subset`` faces for ``faces``), subsampled as in
    fast mode, whatever is cached and in either mode — the very images the grader uses on
    every machine, so that a grade never depends on a grading server's cache.
    """
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; valid names are: {', '.join(NAMES)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    x, y, kind, source = _embedded(name) if pinned else _raw(name)
    if pinned:
        source += "; pinned for grading: the same images on every machine"
    train, test = stratified_split(y, test_fraction, seed)
    notes = []
    if config.fast_mode() or pinned:
        n_train, n_test = len(train), len(test)
        train = _subsample(train, config.FAST_MAX_TRAIN, seed)
        test = _subsample(test, config.FAST_MAX_TEST, seed + 1)
        if (len(train), len(test)) != (n_train, n_test):
            notes.append(f"{'pinned' if pinned else 'fast mode'}: kept {len(train)} of {n_train} training and "
                         f"{len(test)} of {n_test} test images")
            if not pinned:
                config.say_once(f"fast-data:{name}", f"{notes[-1]} of '{name}'.")
    if pinned:
        config.say_once(f"pinned:{name}", f"graded data: {source.split(';')[0]}, {len(train)} training and "
                        f"{len(test)} test images, the same on every machine whatever it has cached.")
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return ImageData(name=kind, x_train=xt[train], y_train=yt[train], x_test=xt[test], y_test=yt[test],
                     image_shape=(int(x.shape[1]), int(x.shape[2])),
                     class_names=_class_names(kind, y), source=source, notes=notes)
