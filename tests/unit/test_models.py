"""ae_helpers.models: mlp and the convolutional encoder/decoder take their sizes from the data."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ae_helpers.models import conv_decoder, conv_encoder, mlp

IMAGE_SHAPES = [(8, 8), (25, 25), (28, 28), (64, 64), (7, 9), (13, 5), (1, 1), (2, 3), (31, 17)]


# --------------------------------------------------------------------------- mlp

@pytest.mark.parametrize("sizes", [[64, 8], [64, 32, 8], [784, 256, 64, 16, 2]])
def test_mlp_maps_first_size_to_last(sizes):
    net = mlp(sizes)
    out = net(torch.randn(5, sizes[0]))
    assert out.shape == (5, sizes[-1])
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == list(zip(sizes[:-1], sizes[1:]))


class Spy(nn.Module):
    """An activation that counts its calls."""
    calls = 0

    def forward(self, x):
        Spy.calls += 1
        return torch.tanh(x)


def test_mlp_puts_the_activation_after_every_hidden_layer_only():
    net = mlp([6, 5, 4, 3], activation=Spy)
    Spy.calls = 0
    net(torch.randn(2, 6))
    assert Spy.calls == 2                                   # two hidden layers
    assert isinstance(list(net.children())[-1], nn.Linear)  # the output stays linear


def test_mlp_without_hidden_layers_is_linear():
    net = mlp([3, 2], activation=nn.ReLU)
    x = torch.randn(10, 3)
    assert torch.allclose(net(-x), -net(x) + 2 * net(torch.zeros(1, 3)), atol=1e-5)


@pytest.mark.parametrize("out_activation, low, high", [
    (nn.Sigmoid(), 0.0, 1.0), (nn.Tanh(), -1.0, 1.0), (nn.ReLU(), 0.0, float("inf"))])
def test_mlp_out_activation_bounds_the_output(out_activation, low, high):
    torch.manual_seed(0)
    net = mlp([4, 8, 3], out_activation=out_activation)
    out = net(torch.randn(500, 4) * 20)
    assert out.min() >= low and out.max() <= high
    assert list(net.children())[-1] is out_activation


def test_mlp_without_out_activation_can_be_negative():
    torch.manual_seed(0)
    out = mlp([4, 8, 3])(torch.randn(500, 4) * 5)
    assert (out < 0).any() and (out > 1).any()


@pytest.mark.parametrize("sizes", [[], [5]])
def test_mlp_needs_two_sizes(sizes):
    with pytest.raises(ValueError):
        mlp(sizes)


# --------------------------------------------------------------------------- conv encoder/decoder

@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_conv_round_trip_keeps_the_image_shape(shape):
    torch.manual_seed(0)
    enc, dec = conv_encoder(shape, latent_dim=6), conv_decoder(shape, latent_dim=6)
    x = torch.rand(3, *shape)
    z = enc(x)
    assert z.shape == (3, 6)
    out = dec(z)
    assert out.shape == (3, *shape)
    ((out - x) ** 2).mean().backward()
    assert all(p.grad is not None for p in list(enc.parameters()) + list(dec.parameters()))


@pytest.mark.parametrize("shape", [(8, 8), (25, 25), (13, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_conv_encoder_accepts_flat_images(shape):
    torch.manual_seed(0)
    enc = conv_encoder(shape, latent_dim=3)
    x = torch.rand(4, *shape)
    assert torch.allclose(enc(x.reshape(4, -1)), enc(x))


@pytest.mark.parametrize("channels", [(8,), (4, 8, 16)])
@pytest.mark.parametrize("shape", [(28, 28), (25, 25), (11, 6)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_conv_round_trip_with_other_depths(shape, channels):
    enc = conv_encoder(shape, 5, channels=channels)
    dec = conv_decoder(shape, 5, channels=tuple(reversed(channels)))
    assert dec(enc(torch.rand(2, *shape))).shape == (2, *shape)


def test_conv_decoder_out_activation():
    torch.manual_seed(0)
    dec = conv_decoder((25, 25), 4, out_activation=nn.Sigmoid())
    out = dec(torch.randn(50, 4) * 50)
    assert out.shape == (50, 25, 25)
    assert out.min() >= 0 and out.max() <= 1


def test_conv_code_depends_on_the_far_corner():
    """The code sees the whole image: changing the last pixel changes it."""
    torch.manual_seed(0)
    enc = conv_encoder((28, 28), 4)
    x = torch.rand(1, 28, 28)
    y = x.clone()
    y[0, 27, 27] += 1.0
    assert not torch.allclose(enc(x), enc(y))
