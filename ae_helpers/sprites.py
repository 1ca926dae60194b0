"""A small image set with known, independent factors of variation ("sprites").

Each image shows one white shape on a black background. Its factors of variation are
independent and known: the x-position, the y-position, the scale and (optionally) the shape.
Images are drawn procedurally, so the data set works offline and is the same everywhere.
It is meant for measuring disentanglement (chapter 07): a representation is disentangled when
each factor is captured by one latent dimension.

``make_sprites()`` returns a :class:`FactorData`:

- ``images``: float32 tensor (N, H, W) with values in [0, 1] (edges are anti-aliased by
  supersampling, so pixels on a border take values in between);
- ``factors``: int64 tensor (N, K), the index of each factor's value for each image;
- ``names``: the K factor names, e.g. ``("x", "y", "scale")``;
- ``values``: for each factor, the physical values its indices stand for.

By default every combination of factor values occurs once (the full grid, as in dSprites);
with ``n`` given, ``n`` images are drawn with independent, uniformly random factor indices.
Nothing here computes a loss or a disentanglement score.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Sequence

import numpy as np
import torch

SHAPES = ("square", "ellipse", "triangle")


@dataclass
class FactorData:
    """Images with the factor labels that generated them (see the module docstring).

    ``images``: float32 (N, H, W) in [0, 1]; ``factors``: int64 (N, K), factor k's value index
    of each image; ``names``: K names; ``values[k]``: the values factor k's indices stand for.
    """

    images: torch.Tensor
    factors: torch.Tensor
    names: tuple[str, ...]
    values: tuple[np.ndarray, ...]

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of each image."""
        return tuple(self.images.shape[1:])

    @property
    def n_pixels(self) -> int:
        """H·W, the length of a flattened image."""
        return int(self.images.shape[1] * self.images.shape[2])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of distinct values of each factor."""
        return tuple(len(v) for v in self.values)

    def flat(self) -> torch.Tensor:
        """The images as rows, (N, H·W)."""
        return self.images.reshape(len(self.images), -1)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        factors = ", ".join(f"{n} ({s} values)" for n, s in zip(self.names, self.sizes))
        return f"FactorData({len(self)} images of {self.image_shape[0]}×{self.image_shape[1]}; factors: {factors})"


def render(shape: str, cx: float, cy: float, radius: float, size: int = 16,
           oversample: int = 4) -> np.ndarray:
    """One image (size, size), float32 in [0, 1]: ``shape`` centred at (cx, cy), in pixels.

    ``radius`` is half the side of a square, the larger semi-axis of an ellipse (the other is
    0.6·radius, lying along y) or the circumradius of an upward triangle. Coordinates run from
    0 (left / top edge) to ``size``. Each pixel is the fraction of its ``oversample ** 2`` sub-pixels
    inside the shape.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    n = size * oversample
    grid = (np.arange(n) + 0.5) / oversample
    x, y = np.meshgrid(grid, grid)                     # x varies along columns, y along rows
    dx, dy = x - cx, y - cy
    if shape == "square":
        inside = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    elif shape == "ellipse":
        inside = (dx / radius) ** 2 + (dy / (0.6 * radius)) ** 2 <= 1.0
    else:
        # upward triangle with circumradius ``radius``: apex above, base below the centre
        h = 1.5 * radius
        top = cy - radius
        frac = (y - top) / h
        inside = (frac >= 0) & (frac <= 1) & (np.abs(dx) <= frac * radius * np.sqrt(3) / 2 * 1.0)
    img = inside.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    return img.astype(np.float32)


def make_sprites(n: int | None = None, size: int = 16, n_x: int = 8, n_y: int = 8,
                 scales: Sequence[float] = (1.5, 2.0, 2.5, 3.0),
                 shapes: Sequence[str] = ("square",), seed: int = 0) -> FactorData:
    """Sprites with independent factors x, y, scale (and shape if more than one is given).

    n: number of images; None gives every combination of factor values once, in the order of
        ``itertools.product`` over (shape,) x, y, scale.
    size: images are size × size pixels.
    n_x, n_y: number of positions along x and y, evenly spaced so that the largest shape stays
        inside the image.
    scales: the radii (in pixels) of the shape, one per scale value.
    shapes: the shapes drawn; with one shape the factor "shape" is left out.
    seed: seeds the random factor draw when ``n`` is given (a numpy Generator; the global
        random state is not touched).
    """
    scales = tuple(float(s) for s in scales)
    shapes = tuple(shapes)
    if not shapes or any(s not in SHAPES for s in shapes):
        raise ValueError(f"shapes must be a non-empty selection of {SHAPES}, got {shapes}")
    if min(n_x, n_y) < 1 or not scales or min(scales) <= 0:
        raise ValueError("need n_x, n_y ≥ 1 and at least one positive scale")
    margin = max(scales) + 0.5
    if 2 * margin >= size:
        raise ValueError(f"a shape of radius {max(scales)} does not fit in {size}×{size} pixels")
    xs = np.linspace(margin, size - margin, n_x) if n_x > 1 else np.array([size / 2])
    ys = np.linspace(margin, size - margin, n_y) if n_y > 1 else np.array([size / 2])
    names: list[str] = []
    values: list[np.ndarray] = []
    if len(shapes) > 1:
        names.append("shape")
        values.append(np.array(shapes))
    names += ["x", "y", "scale"]
    values += [xs, ys, np.array(scales)]
    sizes = [len(v) for v in values]
    if n is None:
        idx = np.array(list(product(*[range(s) for s in sizes])), dtype=np.int64)
    else:
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        rng = np.random.default_rng(seed)
        idx = np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1).astype(np.int64)
    cache: dict[tuple, np.ndarray] = {}
    images = np.empty((len(idx), size, size), dtype=np.float32)
    for i, row in enumerate(idx):
        key = tuple(int(v) for v in row)
        if key not in cache:
            f = dict(zip(names, key))
            shape = shapes[f["shape"]] if "shape" in f else shapes[0]
            cache[key] = render(shape, xs[f["x"]], ys[f["y"]], scales[f["scale"]], size)
        images[i] = cache[key]
    return FactorData(images=torch.from_numpy(images), factors=torch.from_numpy(idx),
                      names=tuple(names), values=tuple(values))
