"""Pictures every chapter needs: image grids, reconstructions, loss curves, latent scatters,
interpolation strips and component (eigenface) grids; and two latent explorers with sliders
(ipywidgets), each with a static figure for viewers where widgets are not live.

Every figure function takes ``ax=None``: without it, it makes a figure of a sensible size;
with it, it draws into that Axes. Every figure function returns the matplotlib Figure and works
headless (``MPLBACKEND=Agg``); the explorers return an ipywidgets box (see their section). Grids of images are one mosaic drawn with a single ``imshow`` into one
Axes, so they fit into any layout of subplots.

Inputs may be torch tensors (on any device, with or without ``requires_grad``) or numpy
arrays. Images are (N, H, W), (N, 1, H, W), or flattened (N, H·W) together with
``image_shape=(H, W)``.
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Callable, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    import ipywidgets
    import torch
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .train import History

#: Images, codes or labels: a torch tensor (any device, with or without grad) or a numpy array.
Array = Union["torch.Tensor", np.ndarray]
#: A decoder for the explorers: codes (N, d) float32 CPU tensor → images in [0, 1].
Decode = Callable[["torch.Tensor"], "torch.Tensor | np.ndarray"]

__all__ = ["image_grid", "reconstructions", "loss_curves", "latent_scatter",
           "interpolation_strip", "component_grid", "mosaic", "tile_origin", "pad_for",
           "latent_explorer", "latent_traversal"]

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

def image_grid(images: Array, image_shape: Sequence[int] | None = None, ncols: int = 10,
               ax: Axes | None = None, cmap: str = "gray", vmin: float | None = 0.0,
               vmax: float | None = 1.0, title: str | None = None) -> Figure:
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


def reconstructions(originals: Array, recons: Array, image_shape: Sequence[int] | None = None,
                    n: int = 10, ax: Axes | None = None, title: str | None = None,
                    row_labels: Sequence[str] = ("original", "reconstruction")) -> Figure:
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


def interpolation_strip(images: Array, image_shape: Sequence[int] | None = None,
                        ax: Axes | None = None, title: str | None = None) -> Figure:
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


def component_grid(components: Array, image_shape: Sequence[int] | None, n: int = 16, ncols: int = 8,
                   ax: Axes | None = None, titles: Sequence[str] | None = None,
                   title: str | None = None) -> Figure:
    """Signed components (e.g. eigenfaces) as images, red > 0 > blue, white at 0.

    components: (K, H·W) or (K, H, W), any sign; the first ``n`` are drawn, each divided by
    its own largest ``abs(value)`` so that every tile spans [-1, 1]. ``titles``: one short label per
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

def loss_curves(history: History, ax: Axes | None = None, log: bool = False,
                terms: str | Sequence[str] | None = None) -> Figure:
    """Loss per epoch from a :class:`ae_helpers.History`.

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


def latent_scatter(z: Array, labels: Array, class_names: Sequence[str] | None = None,
                   ax: Axes | None = None, title: str | None = None) -> Figure:
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


# --------------------------------------------------------------------------- latent explorers (sliders)
#
# Two ipywidgets explorers: ``latent_explorer`` (two sliders over a 2-D latent space) and
# ``latent_traversal`` (one slider per latent, starting at an image's code). Each decodes one
# point per slider move under torch.no_grad, updates one image artist of a small Agg figure and
# sends its PNG to an Image widget. Displayed, an explorer shows first a static figure (a PNG
# output: a decoded grid over the sliders' range, or a traversal grid), which every viewer
# renders — the website, nbgrader's HTML feedback, GitHub, a notebook reopened without a kernel —
# then the live sliders, whose plain-text fallback is one sentence saying what they do.

#: What every explorer's plain-text fallback ends with.
RUN_TO_USE = "run this cell in JupyterLab or Colab to move them."


def _decoder(decode, image_shape, d: int):
    """``decode`` wrapped: numpy codes (N, d) → numpy images (N, H, W) in [0, 1], checked.

    ``decode`` gets a float32 CPU tensor (N, d) under ``torch.no_grad()`` and must return N
    images in [0, 1], shaped (N, H, W), (N, 1, H, W) or flat (N, H·W).
    """
    import torch
    h, w = (int(s) for s in image_shape)

    def run(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = decode(torch.as_tensor(np.asarray(z, dtype=np.float32).reshape(-1, d)))
        x = _numpy(out, "decode(z)")
        n = len(z)
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.shape == (n, h * w):
            x = x.reshape(n, h, w)
        if x.shape != (n, h, w):
            raise ValueError(f"decode(z) returned shape {tuple(x.shape)} for z of shape ({n}, {d}); it must "
                             f"return {n} images of image_shape={(h, w)}: ({n}, {h}, {w}), ({n}, 1, {h}, {w}) "
                             f"or flat ({n}, {h * w}). Check image_shape, or reshape inside decode.")
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-4 or hi > 1 + 1e-4:
            raise ValueError(f"decode(z) returned values from {lo:.3g} to {hi:.3g}; images must be in [0, 1]. "
                             "If your decoder outputs logits, return torch.sigmoid(logits).")
        return np.clip(x, 0.0, 1.0)
    return run


def _agg_figure(width: float, height: float, dpi: int = 80):
    """A matplotlib Figure with its own Agg canvas, outside pyplot (never shown by a backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    """The figure as PNG bytes, at its own dpi."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def _blitter(fig, artists):
    """A function that redraws only ``artists`` over the rest of ``fig``, drawn once and cached,
    and returns the figure as PNG bytes: a slider move costs one image and one marker."""
    import io
    from matplotlib.image import imsave
    for artist in artists:
        artist.set_animated(True)                      # left out of the cached background
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)

    def png() -> bytes:
        canvas.restore_region(background)
        for artist in artists:
            fig.draw_artist(artist)
        buf = io.BytesIO()
        imsave(buf, np.asarray(canvas.buffer_rgba()), format="png")
        return buf.getvalue()
    return png


def _image_widget(fig, png: bytes):
    """An Image widget showing ``png``, a frame of ``fig``, at its own size in pixels."""
    import ipywidgets as widgets
    return widgets.Image(value=png, format="png", width=str(round(fig.get_figwidth() * fig.dpi)))


def _slider(label: str, value: float, lo: float, hi: float):
    import ipywidgets as widgets
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=(hi - lo) / 100, description=label,
                               continuous_update=True, readout_format=".2f",
                               style={"description_width": "initial"})


@functools.cache
def _explorer_class():
    """The VBox that displays a static PNG and then itself with a one-sentence text/plain.

    Made once per process (``functools.cache``: every explorer is of one class) and only when
    first needed, so that importing this module does not import ipywidgets."""
    import ipywidgets as widgets

    class Explorer(widgets.VBox):
        """Live sliders plus a static figure. ``fallback``: the sliders' plain-text sentence;
        ``static_png``, ``static_text``: the static figure as PNG bytes and in words."""

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            bundle["text/plain"] = self.fallback
            return bundle

        def _ipython_display_(self):
            import base64
            from IPython.display import display
            display({"image/png": base64.b64encode(self.static_png).decode("ascii"),
                     "text/plain": self.static_text}, raw=True)
            display(self._repr_mimebundle_(), raw=True)

    return Explorer


def _span_2d(codes, span) -> list[tuple[float, float]]:
    """The sliders' (min, max) per coordinate: given, ±span, or the codes' 1st–99th percentile."""
    if span is not None:
        pairs = [(-float(span), float(span))] * 2 if np.ndim(span) == 0 else [tuple(map(float, p)) for p in span]
    elif codes is not None:
        pairs = [tuple(np.percentile(codes[:, j], [1, 99])) for j in range(2)]
    else:
        pairs = [(-3.0, 3.0)] * 2
    if len(pairs) != 2 or any(not lo < hi for lo, hi in pairs):
        raise ValueError(f"span must give two ranges with min < max, got {pairs}.")
    return [(float(lo), float(hi)) for lo, hi in pairs]


def _scatter_panel(ax, codes, labels, class_names, box):
    """Codes (N, 2) on ``ax`` (coloured by labels if given) with the sliders' range as a dashed box."""
    if codes is not None:
        keep = np.random.default_rng(0).permutation(len(codes))[:2000]     # a cheap redraw
        if labels is not None:
            latent_scatter(codes[keep], np.asarray(labels)[keep], class_names, ax=ax)
        else:
            ax.scatter(codes[keep, 0], codes[keep, 1], s=6, color="0.6")
    (x0, x1), (y0, y1) = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--", color="k"))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.margins(0.05)


def _grid_2d(run, box, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes (n², 2) on an n × n grid over ``box`` (rows: z2 high → low) and their decodings."""
    (x0, x1), (y0, y1) = box
    zx, zy = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
    z = np.stack([np.tile(zx, n), np.repeat(zy, n)], axis=1)
    return z, run(z)


def latent_explorer(decode: Decode, image_shape: Sequence[int], codes: Array | None = None,
                    labels: Array | None = None, class_names: Sequence[str] | None = None,
                    span: float | Sequence[tuple[float, float]] | None = None,
                    n_grid: int = 9) -> ipywidgets.VBox:
    """Two sliders (z1, z2) over a 2-D latent space that decode the point under them.

    decode: z (N, 2) float32 CPU tensor → images (N, H, W), (N, 1, H, W) or (N, H·W), values in
        [0, 1] (apply the sigmoid to logits; move z to the model's device inside decode). The
        sliders call it with N = 1 under ``torch.no_grad()``, the static grid once with N = n_grid².
    image_shape: (H, W).
    codes, labels: optional encoded test means (N, 2) and their classes (N,), drawn as a scatter
        with a red cross at the sliders' point (class_names as in :func:`latent_scatter`).
    span: the sliders' range: None → the 1st–99th percentile of each coordinate of ``codes``
        (±3 prior standard deviations without codes); a number s → [−s, s]; or ((lo1, hi1), (lo2, hi2)).

    Returns an ipywidgets VBox. Displayed, it shows a static figure (the scatter, and the
    decoded n_grid × n_grid grid over the sliders' range), then the live sliders over a figure
    of the scatter and the decoded image. Attributes: ``sliders``, ``image`` (the live
    AxesImage, (H, W) in [0, 1]), ``marker``, ``static_png``, ``static_text`` (the static figure
    in words), ``fallback`` (the sliders in words).
    """
    import ipywidgets as widgets
    codes = None if codes is None else _numpy(codes, "codes")
    if codes is not None and (codes.ndim != 2 or codes.shape[1] != 2):
        raise ValueError(f"codes must have shape (N, 2), got {codes.shape}: the explorer has two sliders.")
    box = _span_2d(codes, span)
    run = _decoder(decode, image_shape, 2)
    start = [float(np.clip(0.0, lo, hi)) for lo, hi in box]

    static = _agg_figure(11.0, 5.0)
    ax_s, ax_g = static.subplots(1, 2)
    _scatter_panel(ax_s, codes, labels, class_names, box)
    ax_s.set_title("codes; the sliders cover the dashed box")
    image_grid(_grid_2d(run, box, n_grid)[1], ncols=n_grid, ax=ax_g,
               title=f"decoded {n_grid}×{n_grid} grid over the dashed box")
    static.tight_layout()

    live = _agg_figure(7.5, 3.4)
    ax_l, ax_i = live.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    _scatter_panel(ax_l, codes, labels, class_names, box)
    marker, = ax_l.plot(*start, "x", color="red", markersize=14, markeredgewidth=3, zorder=5)
    image = ax_i.imshow(run(np.array([start]))[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax_i.set_axis_off()
    live.tight_layout()
    frame = _blitter(live, [image, marker])

    view = _image_widget(live, frame())
    sliders = [_slider(f"z{j + 1}", start[j], *box[j]) for j in range(2)]
    note = widgets.Label("Drag z1 and z2: the red cross on the scatter is decoded on the right.")
    explorer = _explorer_class()([widgets.HBox(sliders), view, note])
    explorer.fallback = ("Latent explorer: two sliders (z1, z2) decode the latent point under them into an image; "
                         + RUN_TO_USE)
    explorer.sliders, explorer.image, explorer.marker = sliders, image, marker
    explorer.static_png, explorer.figure = _png(static), live
    explorer.static_text = (f"Figure: the codes with the sliders' range (dashed box), and the decoded "
                            f"{n_grid}×{n_grid} grid over that box.")

    def redraw(_change=None):
        z = np.array([[s.value for s in sliders]])
        image.set_data(run(z)[0])
        marker.set_data([z[0, 0]], [z[0, 1]])
        view.value = frame()

    for s in sliders:
        s.observe(redraw, names="value")
    return explorer


def _traversal_static(run, z0, dims, names, box, n_steps: int, image_shape):
    """Static traversal grid: one row per latent in ``dims``, swept over its slider range."""
    rows = []
    for j, (lo, hi) in zip(dims, box):
        z = np.repeat(z0[None], n_steps, axis=0)
        z[:, j] = np.linspace(lo, hi, n_steps)
        rows.append(run(z))
    h, w = (int(s) for s in image_shape)
    fig = _agg_figure(*_tile_inches(h, w, n_steps, len(dims), extra=0.5))
    ax = fig.subplots()
    image_grid(np.concatenate(rows), ncols=n_steps, ax=ax)
    pad = pad_for(h, w)
    ax.set_yticks([tile_origin(i * n_steps, n_steps, h, w, pad)[0] + h / 2 - 0.5 for i in range(len(dims))], names)
    if len(set(box)) == 1:                             # one range for every row: label the columns
        ax.set_xticks([tile_origin(i, n_steps, h, w, pad)[1] + w / 2 - 0.5 for i in range(n_steps)],
                      [f"{v:.2g}" for v in np.linspace(*box[0], n_steps)])
    ax.tick_params(length=0)
    ax.set_title("each row: one latent swept over its slider's range, the others at the start code", fontsize=9)
    fig.tight_layout()
    return fig


def latent_traversal(decode: Decode, image_shape: Sequence[int], z0: Array,
                     dims: Sequence[int] | None = None, activity: Array | None = None,
                     k: int | None = None, span: float = 3.0, n_steps: int = 9,
                     activity_name: str = "activity") -> ipywidgets.VBox:
    """One slider per latent, starting at the code ``z0`` of an image, decoding the point as they move.

    decode: z (N, d) float32 CPU tensor → images (N, H, W), (N, 1, H, W) or (N, H·W), values in
        [0, 1] (apply the sigmoid to logits; move z to the model's device inside decode). The
        sliders call it with N = 1 under ``torch.no_grad()``.
    image_shape: (H, W).
    z0: the start code, (d,) or (1, d), e.g. the posterior mean of an image.
    dims: the latents that get a slider (default: all).
    activity: optional (d,) score per latent (e.g. its KL in nats, ``activity_name="KL"``); then
        the sliders are ordered by it, most active first, each labelled with its score, and ``k``
        keeps the k most active.
    span: each slider runs over [−span, span] (prior standard deviations), widened to reach z0.
    n_steps: columns of the static traversal grid.

    Returns an ipywidgets VBox. Displayed, it shows a static figure (one row per slider: that
    latent swept over its range, the others at z0), then the live sliders and the decoded image.
    Attributes: ``sliders``, ``dims``, ``image`` (the live AxesImage), ``static_png``,
    ``static_text`` (the static figure in words), ``fallback`` (the sliders in words).
    """
    import ipywidgets as widgets
    z0 = _numpy(z0, "z0").reshape(-1)
    d = len(z0)
    dims = list(range(d)) if dims is None else [int(j) for j in dims]
    names = [f"z{j}" for j in dims]
    if activity is not None:
        score = _numpy(activity, "activity").reshape(-1)
        if len(score) != d:
            raise ValueError(f"activity has {len(score)} values for {d} latents.")
        dims = sorted(dims, key=lambda j: -score[j])[:k]
        names = [f"z{j} ({activity_name} {score[j]:.2g})" for j in dims]
    if not dims or any(not 0 <= j < d for j in dims):
        raise ValueError(f"dims must name latents among 0 … {d - 1}, got {dims}.")
    run = _decoder(decode, image_shape, d)
    box = [(min(-span, float(z0[j])), max(span, float(z0[j]))) for j in dims]
    static = _traversal_static(run, z0, dims, names, box, n_steps, image_shape)

    live = _agg_figure(2.6, 2.6)
    ax = live.add_axes([0.02, 0.02, 0.96, 0.96])
    image = ax.imshow(run(z0[None])[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    frame = _blitter(live, [image])

    view = _image_widget(live, frame())
    sliders = [_slider(name, float(z0[j]), *b) for name, j, b in zip(names, dims, box)]
    note = widgets.Label("Each slider sets one latent; the others keep the start image's code.")
    explorer = _explorer_class()([widgets.HBox([widgets.VBox(sliders), view]), note])
    explorer.fallback = (f"Latent traversal: one slider per latent ({', '.join(f'z{j}' for j in dims)}) moves the "
                         f"code of one image along that latent and decodes it; " + RUN_TO_USE)
    explorer.sliders, explorer.dims, explorer.image = sliders, dims, image
    explorer.static_png, explorer.figure = _png(static), live
    explorer.static_text = (f"Figure: one row per slider ({', '.join(names)}), that latent swept over its "
                            "range from left to right, the others at the start code.")

    def redraw(_change=None):
        z = z0.copy()
        z[dims] = [s.value for s in sliders]
        image.set_data(run(z[None])[0])
        view.value = frame()

    for s in sliders:
        s.observe(redraw, names="value")
    return explorer
