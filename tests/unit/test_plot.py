"""Unit tests of ae_helpers.plot: figures with and without ax, tensor and flat inputs,
mosaic content, and clear errors for inconsistent shapes; the latent explorers (sliders decode
the point under them, a static figure and a one-sentence text where widgets are not live)."""
import base64
import io

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


# --------------------------------------------------------------------------- latent explorers (sliders)

class Recorder:
    """A fake decoder: records every z it gets and returns images (N, H·W) whose pixels are
    sigmoid(z1 − z2 + pixel index / 10), so that different points decode to different images."""

    def __init__(self):
        self.calls = []

    def __call__(self, z):
        self.calls.append(z.clone())
        return self.expected(z)

    @staticmethod
    def expected(z):
        return torch.sigmoid(z[:, :1] - z[:, 1:2] + torch.arange(H * W) / 10)


def png_pixels(data: bytes) -> np.ndarray:
    return plt.imread(io.BytesIO(data), format="png")


def explorer(decode=None, **kwargs):
    codes = torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 2.0])
    return plot.latent_explorer(decode or Recorder(), (H, W), codes, torch.arange(200) % 3, **kwargs), codes


def traversal(decode=None, **kwargs):
    return plot.latent_traversal(decode or Recorder(), (H, W), torch.tensor([0.5, -0.2, 4.0, 0.0]), **kwargs)


def test_explorers_build_without_a_frontend_over_their_stated_ranges():
    ex, codes = explorer()
    want = [np.percentile(codes[:, j].numpy(), [1, 99]) for j in range(2)]
    assert [(s.description, s.min, s.max, s.value) for s in ex.sliders] == [
        ("z1", pytest.approx(want[0][0]), pytest.approx(want[0][1]), 0.0),
        ("z2", pytest.approx(want[1][0]), pytest.approx(want[1][1]), 0.0)]
    assert [(s.min, s.max) for s in explorer(span=2)[0].sliders] == [(-2, 2), (-2, 2)]
    tr = traversal(activity=torch.tensor([0.1, 3.0, 0.0, 1.0]), k=3, activity_name="KL")
    assert tr.dims == [1, 3, 0]
    assert [s.description for s in tr.sliders] == ["z1 (KL 3)", "z3 (KL 1)", "z0 (KL 0.1)"]
    assert [s.value for s in tr.sliders] == pytest.approx([-0.2, 0.0, 0.5])
    wide = traversal().sliders[2]
    assert (wide.min, wide.max, wide.value) == (-3.0, 4.0, 4.0), "a slider reaches its start value"


def test_moving_a_slider_decodes_the_point_under_it_and_redraws():
    rec = Recorder()
    ex, _ = explorer(rec)
    before = ex.children[1].value
    ex.sliders[0].value, ex.sliders[1].value = 0.7, -1.1
    np.testing.assert_allclose(rec.calls[-1].numpy(), [[0.7, -1.1]], rtol=1e-6)
    assert rec.calls[-1].dtype == torch.float32
    np.testing.assert_allclose(ex.image.get_array(), Recorder.expected(rec.calls[-1]).reshape(H, W), rtol=1e-6)
    np.testing.assert_allclose(np.ravel(ex.marker.get_data()), [0.7, -1.1])
    assert ex.children[1].value != before, "the Image widget shows the new frame"

    rec = Recorder()
    tr = traversal(rec)
    tr.sliders[1].value = 2.5
    np.testing.assert_allclose(rec.calls[-1].numpy(), [[0.5, 2.5, 4.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(tr.image.get_array(), Recorder.expected(rec.calls[-1]).reshape(H, W), rtol=1e-6)


def test_conv_decoder_output_and_a_batched_start_code():
    rec = Recorder()
    tr = plot.latent_traversal(lambda z: rec(z).reshape(len(z), 1, H, W), (H, W), torch.tensor([[0.3, 0.1]]))
    assert [s.value for s in tr.sliders] == pytest.approx([0.3, 0.1])
    tr.sliders[0].value = -1.0
    np.testing.assert_allclose(tr.image.get_array(), Recorder.expected(torch.tensor([[-1.0, 0.1]])).reshape(H, W),
                               rtol=1e-6)


def test_decoding_runs_without_gradients():
    grads = []
    plot.latent_traversal(lambda z: grads.append(torch.is_grad_enabled()) or torch.zeros(len(z), H, W),
                          (H, W), torch.zeros(3))
    assert grads and not any(grads)


def test_static_fallback_is_a_non_blank_decoded_grid():
    rec = Recorder()
    ex, _ = explorer(rec, span=1.5, n_grid=5)
    grid = next(z for z in rec.calls if len(z) == 25)
    np.testing.assert_allclose([grid.min(), grid.max()], [-1.5, 1.5])
    assert png_pixels(ex.static_png)[..., :3].std() > 0.05
    tr = traversal(n_steps=5)
    pixels = png_pixels(tr.static_png)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05


@pytest.mark.parametrize("make", [explorer, traversal])
def test_displayed_static_figure_then_sliders_whose_text_is_one_sentence(make, monkeypatch):
    import IPython.display
    ex = make()
    if isinstance(ex, tuple):
        ex = ex[0]
    shown_outputs = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown_outputs.append((obj, kw)))
    ex._ipython_display_()
    (figure, kw_figure), (bundle, kw) = shown_outputs
    assert kw_figure == kw == {"raw": True}
    assert base64.b64decode(figure["image/png"]) == ex.static_png
    assert figure["text/plain"].startswith("Figure: ") and "\n" not in figure["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    text = bundle["text/plain"]
    assert text == ex._repr_mimebundle_()["text/plain"] == ex.fallback
    assert "\n" not in text and "slider" in text and text.endswith(plot.RUN_TO_USE)
    assert "Box(" not in text and "Error" not in text


@pytest.mark.parametrize("call, message", [
    (lambda: explorer(lambda z: torch.rand(len(z), 10)), r"returned shape \(81, 10\).*image_shape=\(5, 4\): \(81, 5, 4\)"),
    (lambda: explorer(lambda z: torch.randn(len(z), H, W) * 5), "torch.sigmoid"),
    (lambda: plot.latent_explorer(Recorder(), (H, W), torch.rand(9, 3)), r"codes must have shape \(N, 2\)"),
    (lambda: traversal(dims=[7]), "among 0 … 3"),
    (lambda: traversal(activity=torch.ones(3)), "activity has 3 values for 4 latents"),
])
def test_explorer_errors_say_what_to_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()
