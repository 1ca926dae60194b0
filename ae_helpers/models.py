"""Small model builders that take their sizes from the data.

Every builder returns a fresh ``nn.Module`` of float32 layers, initialised by torch's
global RNG (call ``set_seed`` first for the same weights every run).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU,
        out_activation: nn.Module | None = None) -> nn.Sequential:
    """Fully connected layers ``sizes[0] → sizes[1] → … → sizes[-1]``.

    ``activation`` follows every hidden layer; ``out_activation`` (e.g. ``nn.Sigmoid()`` for
    pixels in [0, 1]) follows the last one if given. Input (N, sizes[0]) → output (N, sizes[-1]).
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


class Unflatten(nn.Module):
    """(N, H·W) → (N, 1, H, W) for convolutional layers; ``image_shape`` = (H, W)."""

    def __init__(self, image_shape: Sequence[int]):
        super().__init__()
        self.image_shape = tuple(image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H·W) or (N, H, W) float → (N, 1, H, W), the same values."""
        return x.reshape(len(x), 1, *self.image_shape)


def conv_encoder(image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (16, 32)) -> nn.Sequential:
    """Images (N, H, W) or (N, H·W) → codes (N, latent_dim); each conv halves H and W."""
    h, w = image_shape
    layers: list[nn.Module] = [Unflatten(image_shape)]
    c_in = 1
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
        c_in, h, w = c, (h + 1) // 2, (w + 1) // 2
    layers += [nn.Flatten(), nn.Linear(c_in * h * w, latent_dim)]
    return nn.Sequential(*layers)


def conv_decoder(image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (32, 16),
                 out_activation: nn.Module | None = None) -> nn.Sequential:
    """Codes (N, latent_dim) → images (N, H, W), mirroring :func:`conv_encoder`.

    The outputs are unbounded (logits) unless ``out_activation`` is given, e.g. ``nn.Sigmoid()``
    for pixels in [0, 1].
    """
    H, W = image_shape
    sizes = [(H, W)]
    for _ in channels:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    h0, w0 = sizes[-1]
    layers: list[nn.Module] = [nn.Linear(latent_dim, channels[0] * h0 * w0), nn.ReLU(),
                               nn.Unflatten(1, (channels[0], h0, w0))]
    c_outs = list(channels[1:]) + [1]
    for i, (c_in, c_out) in enumerate(zip(channels, c_outs)):
        h_out, w_out = sizes[-2 - i]
        h_in, w_in = sizes[-1 - i]
        pad = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
        layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad))
        if c_out != 1:
            layers.append(nn.ReLU())
    layers.append(nn.Flatten(1, 2))  # (N, 1, H, W) → (N, H, W)
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)
