"""Pictures every chapter needs: image grids, reconstructions, loss curves, latent scatters,
interpolation strips and component (eigenface) grids.

Every function takes ``ax=None``: without it, it makes a figure of a sensible size; with it,
it draws into that Axes. Every function returns the matplotlib Figure and works headless
(``MPLBACKEND=Agg``). Grids of images are one mosaic drawn with a single ``imshow`` into one
Axes, so they fit into any layout of subplots.

Inputs may be torch tensors (on any device, with or without ``requires_grad``) or numpy
arrays. Images are (N, H, W), (N, 1, H, W), or flattened (N, H·W) together with
``image_shape=(H, W)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

__all__ = ["image_grid", "reconstructions", "loss_curves", "latent_scatter",
           "interpolation_strip", "component_grid", "mosaic", "tile_origin", "pad_for"]

#: Widest figure (inches) a function makes on its own.
MAX_WIDTH = 12.0


# --------------------------------------------------------------------------- inputs

def _numpy(values, name: str = "values") -> np.ndarray:
    """A float64 numpy copy of a tensor (any device, maybe requiring grad) or array-like."""
    if hasattr(values, "detach"):                      # a torch tensor
        values = values.detach().cpu().double().numpy()
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(values).__name__}") from err


def _images(images, image_shape=None, name: str = "images") -> np.ndarray:
    """``images`` as a float array (N, H, W); see the module docstring for accepted shapes."""
    x = _numpy(images, name)
    if x.ndim == 4 and x.shape[1] == 1:                # (N, 1, H, W) from a conv decoder
        x = x[:, 0]
    if x.ndim == 2:
        if image_shape is None:
            raise ValueError(f"{name} are flat, shape {x.shape}: pass image_shape=(H, W) "
                             "so they can be drawn as images.")
        h, w = (int(s) for s in image_shape)
        if h * w != x.shape[1]:
            raise ValueError(f"{name} have {x.shape[1]} values each, but image_shape={tuple(image_shape)} "
                             f"needs {h}·{w} = {h * w}.")
        return x.reshape(len(x), h, w)
    if x.ndim == 3:
        if image_shape is not None and tuple(x.shape[1:]) != tuple(int(s) for s in image_shape):
            raise ValueError(f"{name} have shape {x.shape}, which does not match "
                             f"image_shape={tuple(image_shape)}.")
        return x
    raise ValueError(f"{name} must be (N, H, W), (N, 1, H, W) or flat (N, H·W) with image_shape; "
                     f"got shape {x.shape}.")


def _new_axes(ax, width: float, height: float):
    """(figure, axes): a new figure of ``width`` × ``height`` inches, or the given Axes."""
    if ax is not None:
        return ax.figure, ax
    scale = min(1.0, MAX_WIDTH / width)
    fig, ax = plt.subplots(figsize=(width * scale, height * scale))
    return fig, ax


# --------------------------------------------------------------------------- mosaics

def pad_for(h: int, w: int) -> int:
    """Blank pixels between the tiles of H×W images: about 5 % of a side, at least 1."""
    return max(1, round(max(h, w) / 20))


def tile_origin(i: int, ncols: int, h: int, w: int, pad: int, row_gap: int | None = None) -> tuple[int, int]:
    """(top, left) pixel of tile ``i`` in a :func:`mosaic` of H×W tiles."""
    gap = pad if row_gap is None else row_gap
    r, c = divmod(i, ncols)
    return gap + r * (h + gap), pad + c * (w + pad)


def mosaic(images: np.ndarray, ncols: int, pad: int | None = None, row_gap: int | None = None) -> np.ndarray:
    """Tile ``images`` (N, H, W) into one array, row by row, ``ncols`` per row.

    ``pad`` (default :func:`pad_for`) blank pixels sit left of each tile and below the last
    row, ``row_gap`` (default ``pad``) above each row; :func:`tile_origin` says where tile i
    is. Space that holds no image is NaN, which imshow leaves blank.
    """
    n, h, w = images.shape
    pad = pad_for(h, w) if pad is None else pad
    gap = pad if row_gap is None else row_gap
    nrows = max(1, math.ceil(n / ncols))
    out = np.full((nrows * (h + gap) + pad, pad + ncols * (w + pad)), np.nan)
    for i, img in enumerate(images):
        top, left = tile_origin(i, ncols, h, w, pad, gap)
        out[top:top + h, left:left + w] = img
    return out


def _show(ax, tiles: np.ndarray, **kwargs):
    ax.imshow(tiles, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _tile_inches(h: int, w: int, ncols: int, nrows: int, extra: float = 0.0) -> tuple[float, float]:
    side = 1.0 if ncols <= 12 else 0.7
    return ncols * side * max(1.0, w / h), nrows * side * max(1.0, h / w) + extra


# --------------------------------------------------------------------------- image plots

def image_grid(images, image_shape=None, ncols: int = 10, ax=None, cmap: str = "gray",
               vmin: float | None = 0.0, vmax: float | None = 1.0, title: str | None = None):
    """A grid of images, ``ncols`` per row, as one mosaic.

    images: (N, H, W), or flat (N, H·W) with ``image_shape=(H, W)``; values in
    [``vmin``, ``vmax``] (default [0, 1]; ``None`` scales to the data). Returns the Figure.
    """
    x = _images(images, image_shape)
    if len(x) == 0:
        raise ValueError("image_grid got no images (N = 0).")
    ncols = max(1, min(ncols, len(x)))
    nrows = math.ceil(len(x) / ncols)
    fig, ax = _new_axes(ax, *_tile_inches(*x.shape[1:], ncols, nrows, extra=0.4 if title else 0.0))
    _show(ax, mosaic(x, ncols), cmap=cmap, vmin=vmin, vmax=vmax)
    if title:
        ax.set_title(title)
    return fig


def reconstructions(originals, recons, image_shape=None, n: int = 10, ax=None, title: str | None = None,
                    row_labels: Sequence[str] = ("original", "reconstruction")):
    """The first ``n`` originals (top row) over their reconstructions (bottom row).

    originals, recons: the same shape, (N, H, W) or flat (N, H·W) with ``image_shape``;
    values in [0, 1] (values outside are drawn clipped). Returns the Figure.
    """
    a = _images(originals, image_shape, "originals")
    b = _images(recons, image_shape, "recons")
    if a.shape != b.shape:
        raise ValueError(f"originals {a.shape} and recons {b.shape} must have the same shape.")
    n = min(n, len(a))
    if n == 0:
        raise ValueError("reconstructions got no images (N = 0).")
    w_in, h_in = _tile_inches(*a.shape[1:], n, 2, extra=0.4 if title else 0.0)
    fig, ax = _new_axes(ax, w_in + 1.2, h_in)
    _show(ax, mosaic(np.concatenate([a[:n], b[:n]]), n), cmap="gray", vmin=0.0, vmax=1.0)
    h, w = a.shape[1:]
    centres = [tile_origin(i, n, h, w, pad_for(h, w))[0] + h / 2 - 0.5 for i in (0, n)]
    ax.set_yticks(centres, list(row_labels))
    ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title)
    return fig


def interpolation_strip(images, image_shape=None, ax=None, title: str | None = None):
    """A single row of images from a start image to an end image, both framed and labelled.

    images: (N, H, W), or flat (N, H·W) with ``image_shape``, N ≥ 2; values in [0, 1].
    Returns the Figure.
    """
    x = _images(images, image_shape)
    if len(x) < 2:
        raise ValueError(f"interpolation_strip needs at least 2 images (start and end), got {len(x)}.")
    n, h, w = x.shape
    fig, ax = _new_axes(ax, *_tile_inches(h, w, n, 1, extra=0.6 if title else 0.3))
    _show(ax, mosaic(x, n), cmap="gray", vmin=0.0, vmax=1.0)
    corners = [tile_origin(i, n, h, w, pad_for(h, w)) for i in (0, n - 1)]
    for top, left in corners:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor="tab:red", linewidth=2))
    ax.set_xticks([left + w / 2 - 0.5 for _, left in corners], ["start", "end"])
    ax.tick_params(axis="x", length=0)
    if title:
        ax.set_title(title)
    return fig


def component_grid(components, image_shape, n: int = 16, ncols: int = 8, ax=None,
                   titles: Sequence[str] | None = None, title: str | None = None):
    """Signed components (e.g. eigenfaces) as images, red > 0 > blue, white at 0.

    components: (K, H·W) or (K, H, W), any sign; the first ``n`` are drawn, each divided by
    its own largest |value| so that every tile spans [-1, 1]. ``titles``: one short label per
    drawn component, written above its tile. Returns the Figure.
    """
    x = _images(components, image_shape, "components")[:n]
    if len(x) == 0:
        raise ValueError("component_grid got no components (K = 0).")
    if titles is not None and len(titles) < len(x):
        raise ValueError(f"titles has {len(titles)} labels for {len(x)} components.")
    scale = np.abs(x).reshape(len(x), -1).max(axis=1)
    x = x / np.where(scale > 0, scale, 1.0)[:, None, None]
    n, h, w = x.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    pad = pad_for(h, w)
    gap = max(pad, h // 4) if titles is not None else pad
    fig, ax = _new_axes(ax, *_tile_inches(h, w, ncols, nrows, extra=0.4 if title else 0.0))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    _show(ax, mosaic(x, ncols, pad, row_gap=gap), cmap=cmap, vmin=-1.0, vmax=1.0)
    if titles is not None:                             # each label sits in the gap above its tile
        for i, label in enumerate(titles[:n]):
            top, left = tile_origin(i, ncols, h, w, pad, gap)
            ax.text(left + w / 2 - 0.5, top - gap / 2 - 0.5, str(label), ha="center", va="center", fontsize=8)
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- curves and scatters

def loss_curves(history, ax=None, log: bool = False, terms=None):
    """Loss per epoch from a :class:`ae_helpers.train.History`.

    The training loss is solid, the validation loss (if recorded) dashed in the same colour.
    terms: None (the loss only), "all" (every logged term) or a list of term names.
    log: logarithmic y axis. Returns the Figure.
    """
    train, val = dict(getattr(history, "train", {})), dict(getattr(history, "val", {}))
    if not train.get("loss"):
        raise ValueError("the history has no training loss to plot (train['loss'] is empty); "
                         "pass the History that fit() returned.")
    if terms is None:
        names = ["loss"]
    elif terms == "all":
        names = ["loss"] + [k for k in list(train) + list(val) if k != "loss"]
    else:
        names = ["loss"] + [k for k in terms if k != "loss"]
        unknown = [k for k in names if k not in train and k not in val]
        if unknown:
            raise ValueError(f"unknown loss terms {unknown}; the history has {sorted(set(train) | set(val))}.")
    names = list(dict.fromkeys(names))                 # drop duplicates, keep the order
    fig, ax = _new_axes(ax, 6.0, 4.0)
    for i, name in enumerate(names):
        colour = f"C{i % 10}"
        for log_dict, style, split in ((train, "-", "train"), (val, "--", "val")):
            values = log_dict.get(name)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, color=colour, label=f"{split} {name}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def latent_scatter(z, labels, class_names: Sequence[str] | None = None, ax=None, title: str | None = None):
    """Codes ``z`` (N, 2) as points coloured by ``labels`` (N,) of integer classes.

    With at most 20 classes each gets a colour and a legend entry (``class_names[label]``, or
    the label itself); with more, the label is read off a colour bar. Returns the Figure.
    """
    z = _numpy(z, "z")
    y = _numpy(labels, "labels").astype(np.int64).reshape(-1)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must have shape (N, 2), got {z.shape}; project or encode to 2 dimensions first.")
    if len(y) != len(z):
        raise ValueError(f"labels has {len(y)} entries but z has {len(z)} points.")
    fig, ax = _new_axes(ax, 6.5, 5.5)
    classes = np.unique(y)
    size = 12 if len(z) <= 2000 else 4
    if len(classes) <= 20:
        colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            name = class_names[c] if class_names is not None else str(c)
            pts = z[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=size, color=colours(i), label=name, alpha=0.8)
        ax.legend(markerscale=2, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    else:
        points = ax.scatter(z[:, 0], z[:, 1], s=size, c=y, cmap="viridis", alpha=0.8)
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig
