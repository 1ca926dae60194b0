"""Unit tests of ae_helpers.plot: figures with and without ax, tensor and flat inputs,
mosaic content, and clear errors for inconsistent shapes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ae_helpers import plot  # noqa: E402
from ae_helpers.train import History  # noqa: E402

H, W = 5, 4


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images(n=7, seed=0):
    return torch.rand(n, H, W, generator=torch.Generator().manual_seed(seed))


def shown(fig, k=0):
    """The array drawn by the (only) imshow of the k-th Axes of ``fig``."""
    imgs = fig.axes[k].get_images()
    assert len(imgs) == 1, "a grid must be one mosaic image"
    return np.ma.filled(imgs[0].get_array().astype(float), np.nan)


def tile(array, i, ncols, h=H, w=W, gap=None):
    top, left = plot.tile_origin(i, ncols, h, w, plot.pad_for(h, w), gap)
    return array[top:top + h, left:left + w]


HISTORY = History(train={"loss": [3.0, 2.0, 1.5], "kl": [1.0, 0.8, 0.7]},
                  val={"loss": [3.2, 2.2, 1.8]}, seconds=[0.1, 0.1, 0.1])

CALLS = {
    "image_grid": lambda ax: plot.image_grid(images(), ax=ax, title="t"),
    "reconstructions": lambda ax: plot.reconstructions(images(), images(seed=1), ax=ax),
    "loss_curves": lambda ax: plot.loss_curves(HISTORY, ax=ax),
    "latent_scatter": lambda ax: plot.latent_scatter(torch.randn(30, 2), torch.arange(30) % 3, ax=ax),
    "interpolation_strip": lambda ax: plot.interpolation_strip(images(5), ax=ax),
    "component_grid": lambda ax: plot.component_grid(torch.randn(6, H * W), (H, W), ax=ax),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_returns_a_figure_with_and_without_ax(name):
    fig = CALLS[name](None)
    assert isinstance(fig, Figure)
    outer, axes = plt.subplots(1, 2)
    assert CALLS[name](axes[1]) is outer
    assert axes[1].has_data() and not axes[0].has_data()


def test_image_grid_places_each_image_in_its_tile():
    x = images(7)
    array = shown(plot.image_grid(x, ncols=3))
    assert array.shape == (3 * (H + 1) + 1, 3 * (W + 1) + 1)
    for i in range(7):
        np.testing.assert_allclose(tile(array, i, 3), x[i].numpy(), rtol=1e-6)
    assert np.isnan(tile(array, 8, 3)).all(), "tiles without an image stay blank"


def test_large_images_get_a_wider_gap():
    x = torch.rand(3, 64, 64)
    array = shown(plot.image_grid(x, ncols=3))
    pad = plot.pad_for(64, 64)
    assert pad >= 3 and array.shape == (64 + 2 * pad, 3 * (64 + pad) + pad)
    np.testing.assert_allclose(tile(array, 2, 3, h=64, w=64), x[2].numpy(), rtol=1e-6)
    assert np.isnan(array[:, pad + 64:2 * pad + 64]).all(), "blank columns between tiles"


def test_tensor_on_grad_and_flat_input_with_image_shape():
    x = images(4).requires_grad_()
    array = shown(plot.image_grid(x.reshape(4, -1) * 1.0, image_shape=(H, W)))
    np.testing.assert_allclose(tile(array, 3, 4), x[3].detach().numpy(), rtol=1e-6)
    array = shown(plot.image_grid(x.detach().numpy()[:, None]))    # (N, 1, H, W)
    np.testing.assert_allclose(tile(array, 0, 4), x[0].detach().numpy(), rtol=1e-6)


def test_reconstructions_stacks_originals_over_recons_with_labels():
    a, b = images(6), images(6, seed=1)
    fig = plot.reconstructions(a.reshape(6, -1), b.reshape(6, -1), image_shape=(H, W), n=4,
                               row_labels=("in", "out"))
    array = shown(fig)
    assert array.shape[1] == 4 * (W + 1) + 1
    np.testing.assert_allclose(tile(array, 2, 4), a[2].numpy(), rtol=1e-6)
    np.testing.assert_allclose(tile(array, 4 + 2, 4), b[2].numpy(), rtol=1e-6)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["in", "out"]


def test_component_grid_scales_each_component_symmetrically():
    comps = torch.randn(5, H * W) * torch.tensor([1.0, 10.0, 0.1, 3.0, 5.0])[:, None]
    fig = plot.component_grid(comps, (H, W), n=4, ncols=2, titles=list("abcd"))
    image = fig.axes[0].get_images()[0]
    assert image.get_clim() == (-1.0, 1.0)
    gap = max(plot.pad_for(H, W), H // 4)
    array = shown(fig)
    for i in range(4):
        want = comps[i].reshape(H, W).numpy() / comps[i].abs().max().item()
        np.testing.assert_allclose(tile(array, i, 2, gap=gap), want, rtol=1e-5)
        assert np.nanmax(np.abs(tile(array, i, 2, gap=gap))) == pytest.approx(1.0)
    assert [t.get_text() for t in fig.axes[0].texts] == list("abcd")


def test_interpolation_strip_is_one_row_marking_start_and_end():
    fig = plot.interpolation_strip(images(6))
    assert shown(fig).shape == (H + 2, 6 * (W + 1) + 1)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["start", "end"]


def test_loss_curves_train_solid_val_dashed_and_terms():
    ax = plot.loss_curves(HISTORY).axes[0]
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles == {"train loss": "-", "val loss": "--"}
    np.testing.assert_allclose(ax.get_lines()[0].get_xydata(), [[1, 3.0], [2, 2.0], [3, 1.5]])
    assert ax.get_xlabel() == "epoch" and ax.get_legend() is not None
    names = [line.get_label() for line in plot.loss_curves(HISTORY, terms="all", log=True).axes[0].get_lines()]
    assert names == ["train loss", "val loss", "train kl"]
    with pytest.raises(ValueError, match="unknown loss terms"):
        plot.loss_curves(HISTORY, terms=["beta"])
    with pytest.raises(ValueError, match="no training loss"):
        plot.loss_curves(History())


def test_latent_scatter_legend_names_or_colour_bar():
    z = torch.randn(40, 2)
    ax = plot.latent_scatter(z, torch.arange(40) % 4, class_names=list("abcd")).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list("abcd")
    fig = plot.latent_scatter(z, torch.arange(40), title="many")
    assert fig.axes[0].get_legend() is None and len(fig.axes) == 2   # the scatter and its colour bar


@pytest.mark.parametrize("call, message", [
    (lambda: plot.image_grid(torch.rand(3, H * W)), "pass image_shape"),
    (lambda: plot.image_grid(torch.rand(3, 21), image_shape=(H, W)), "needs 5·4 = 20"),
    (lambda: plot.image_grid(torch.rand(3, H, W), image_shape=(W, H)), "does not match"),
    (lambda: plot.image_grid(torch.rand(H, W, 2, 2)), "must be"),
    (lambda: plot.reconstructions(torch.rand(3, H, W), torch.rand(3, W, H)), "same shape"),
    (lambda: plot.latent_scatter(torch.rand(10, 3), torch.zeros(10)), r"\(N, 2\)"),
    (lambda: plot.latent_scatter(torch.rand(10, 2), torch.zeros(9)), "labels has 9"),
    (lambda: plot.interpolation_strip(torch.rand(1, H, W)), "at least 2"),
    (lambda: plot.component_grid(torch.rand(4, H * W), (H, W), titles=["a"]), "titles"),
])
def test_inconsistent_shapes_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
