"""ae_helpers.data: load_dataset offline, the split, fast mode, the cache, fallbacks."""
from __future__ import annotations

import socket
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ae_helpers import config
from ae_helpers import data as ae_data
from ae_helpers.data import CorruptCacheError, load_dataset

N_DIGITS = 1797


def _fail_if_called(name):
    def fetch(home):
        pytest.fail(f"the downloader of {name!r} was called")
    return fetch


def _indexed_images(n: int, shape=(4, 6)) -> np.ndarray:
    """uint8 images whose first two pixels encode their index (so splits can be traced)."""
    x = np.zeros((n, *shape), dtype=np.uint8)
    x[:, 0, 0] = np.arange(n) % 256
    x[:, 0, 1] = np.arange(n) // 256
    x[:, 1:, :] = 128
    return x


def _indices(images: torch.Tensor) -> np.ndarray:
    pix = np.rint(images.numpy() * 255).astype(np.int64)
    return pix[:, 0, 0] + 256 * pix[:, 0, 1]


def _write_npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:         # a file object keeps numpy from renaming the file
        np.savez(f, **arrays)
    return path


def _seed_cache(folder: Path, name: str, n: int = 500, shape=(4, 6), n_classes: int = 10) -> Path:
    x = _indexed_images(n, shape)
    y = (np.arange(n) % n_classes).astype(np.int64)
    return _write_npz(folder / f"{name}.npz", x=x, y=y)


# --------------------------------------------------------------------------- digits

def test_digits_shapes_ranges_dtypes_labels():
    d = load_dataset("digits")
    assert d.image_shape == (8, 8)
    assert d.x_train.shape[1:] == (8, 8) and d.x_test.shape[1:] == (8, 8)
    assert len(d.x_train) + len(d.x_test) == N_DIGITS
    assert len(d.y_train) == len(d.x_train) and len(d.y_test) == len(d.x_test)
    for x in (d.x_train, d.x_test):
        assert x.dtype == torch.float32
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    for y in (d.y_train, d.y_test):
        assert y.dtype == torch.int64
        assert set(y.tolist()) == set(range(10))
    assert d.class_names == [str(k) for k in range(10)]
    assert d.n_classes == 10 and d.n_pixels == 64
    assert d.flat().shape == (len(d.x_train), 64)
    assert d.flat("test").shape == (len(d.x_test), 64)


def test_digits_test_fraction_is_respected():
    d = load_dataset("digits", test_fraction=0.2)
    assert abs(len(d.x_test) / N_DIGITS - 0.2) < 0.01
    d = load_dataset("digits", test_fraction=0.5)
    assert abs(len(d.x_test) / N_DIGITS - 0.5) < 0.01


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_test_fraction_outside_0_1_raises(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_dataset("digits", test_fraction=fraction)


# --------------------------------------------------------------------------- split

def test_split_is_reproducible_with_the_same_seed():
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)


def test_split_changes_with_the_seed():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert not torch.equal(a.y_test, b.y_test)


def test_split_does_not_depend_on_global_rng_state():
    config.set_seed(1)
    a = load_dataset("digits", seed=5)
    config.set_seed(2)
    b = load_dataset("digits", seed=5)
    assert torch.equal(a.y_test, b.y_test)


def test_split_is_disjoint_complete_and_stratified(data_folder):
    n = 500                                     # 10 classes of 50
    _seed_cache(data_folder, "mnist", n=n)
    d = load_dataset("mnist", test_fraction=0.2, seed=0)
    train, test = _indices(d.x_train), _indices(d.x_test)
    assert not set(train) & set(test), "an image is in both train and test"
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(n))
    # labels travel with their images
    assert (d.y_train.numpy() == train % 10).all() and (d.y_test.numpy() == test % 10).all()
    # stratified: every class sends 20 % of its 50 images to test
    assert np.bincount(d.y_test.numpy(), minlength=10).tolist() == [10] * 10


def test_digits_split_is_stratified():
    d = load_dataset("digits", test_fraction=0.2)
    counts_test = np.bincount(d.y_test.numpy(), minlength=10)
    counts_all = counts_test + np.bincount(d.y_train.numpy(), minlength=10)
    assert (np.abs(counts_test - 0.2 * counts_all) <= 1).all()


# --------------------------------------------------------------------------- fast mode

def test_fast_mode_subsamples_and_says_so_once(fast, capsys):
    d = load_dataset("digits")
    assert len(d.x_train) <= config.FAST_MAX_TRAIN and len(d.x_test) <= config.FAST_MAX_TEST
    assert len(d.x_train) == config.FAST_MAX_TRAIN     # digits has more, so the cap is reached
    assert len(d.y_train) == len(d.x_train) and len(d.y_test) == len(d.x_test)
    assert d.notes, "fast mode should record what it shortened"
    first = capsys.readouterr().out
    assert len(first.splitlines()) == 1 and "fast mode" in first
    load_dataset("digits")
    assert capsys.readouterr().out == ""


def test_fast_mode_subsample_is_seeded(fast):
    a, b = load_dataset("digits", seed=4), load_dataset("digits", seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)


def test_fast_mode_mixes_the_classes_of_a_file_stored_class_by_class(fast, data_folder, monkeypatch):
    monkeypatch.setattr(config, "FAST_MAX_TRAIN", 100)
    monkeypatch.setattr(config, "FAST_MAX_TEST", 40)
    x = _indexed_images(2000)
    y = np.repeat(np.arange(10), 200).astype(np.int64)       # all 0s, then all 1s, … as Fashion's cache
    _write_npz(data_folder / "fashion_mnist.npz", x=x, y=y)
    d = load_dataset("fashion_mnist")
    assert len(d.y_test) == 40
    for labels in (d.y_train[:16], d.y_test[:16]):         # what a figure of the first images shows
        assert len(set(labels.tolist())) >= 5, f"first images of a split come from few classes: {labels.tolist()}"


def test_full_mode_does_not_subsample(capsys):
    d = load_dataset("digits")
    assert len(d.x_train) > config.FAST_MAX_TRAIN
    assert d.notes == []
    assert capsys.readouterr().out == ""


def test_fast_mode_keeps_small_sets_whole_and_quiet(fast, data_folder, capsys):
    _seed_cache(data_folder, "mnist", n=200)
    d = load_dataset("mnist")
    assert len(d.x_train) + len(d.x_test) == 200
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- names

def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        load_dataset("cifar10")
    message = str(info.value)
    assert "cifar10" in message
    for name in ("digits", "faces", "mnist", "fashion_mnist"):
        assert name in message


@pytest.mark.parametrize("name, shape, n_classes", [
    ("digits", (8, 8), 10), ("faces", (25, 25), 100),
    ("mnist", (8, 8), 10), ("fashion_mnist", (8, 8), 10)])
def test_every_name_loads_offline(name, shape, n_classes):
    d = load_dataset(name)
    assert d.image_shape == shape
    assert d.x_train.shape[1:] == shape
    assert d.n_classes == n_classes
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    assert torch.isfinite(d.x_train).all()


# --------------------------------------------------------------------------- cache

def test_valid_cache_is_read_before_any_download(data_folder, monkeypatch):
    monkeypatch.setitem(ae_data.FETCHERS, "mnist", _fail_if_called("mnist"))
    path = _seed_cache(data_folder, "mnist", n=300, shape=(5, 7))
    d = load_dataset("mnist")
    assert d.image_shape == (5, 7)
    assert len(d.x_train) + len(d.x_test) == 300
    assert d.x_train.dtype == torch.float32 and float(d.x_train.max()) <= 1.0
    assert d.class_names == [str(k) for k in range(10)]
    assert str(path) in d.source


def test_cache_pixels_are_scaled_to_unit_range(data_folder):
    x = np.array([[[0, 255], [51, 102]]] * 20, dtype=np.uint8)
    _write_npz(data_folder / "fashion_mnist.npz", x=x, y=np.arange(20) % 10)
    d = load_dataset("fashion_mnist")
    expected = torch.tensor([[0.0, 1.0], [0.2, 0.4]])
    assert torch.allclose(d.x_train[0], expected)
    assert d.class_names[0] == "T-shirt/top" and len(d.class_names) == 10


def test_faces_cache_gets_person_names(data_folder, monkeypatch):
    monkeypatch.setitem(ae_data.FETCHERS, "faces", _fail_if_called("faces"))
    _seed_cache(data_folder, "faces", n=40 * 10, shape=(64, 64), n_classes=40)
    d = load_dataset("faces")
    assert d.image_shape == (64, 64)
    assert d.n_classes == 40
    assert all(name.startswith("person") for name in d.class_names)


def test_download_writes_the_cache_and_uses_it(data_folder, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 12, 10), dtype=np.uint8)   # not square: H and W stay apart
    y = (np.arange(60) % 10).astype(np.int32)
    calls = []

    def fetch(home):
        calls.append(Path(home))
        return x, y

    monkeypatch.setitem(ae_data.FETCHERS, "mnist", fetch)
    d = load_dataset("mnist")
    assert len(calls) == 1
    assert data_folder in calls[0].parents or calls[0] == data_folder, "scratch folder outside the data dir"
    path = data_folder / "mnist.npz"
    assert path.is_file()
    with np.load(path) as f:
        assert f["x"].dtype == np.uint8 and f["x"].shape == (60, 12, 10)
        assert f["y"].dtype == np.int64 and f["y"].shape == (60,)
        assert np.array_equal(f["x"], x) and np.array_equal(f["y"], y)
    assert d.image_shape == (12, 10)
    assert len(d.x_train) + len(d.x_test) == 60
    # the loaded pixels are the downloaded ones
    got = {tuple(np.rint(img.numpy() * 255).astype(np.uint8).ravel()) for img in d.x_train}
    assert got <= {tuple(img.ravel()) for img in x}
    # a second load reads the cache and never downloads again
    monkeypatch.setitem(ae_data.FETCHERS, "mnist", _fail_if_called("mnist"))
    again = load_dataset("mnist")
    assert torch.equal(again.x_train, d.x_train)


def test_download_of_float_images_is_stored_as_uint8(data_folder, monkeypatch):
    x = np.linspace(0, 1, 40 * 3 * 3, dtype=np.float32).reshape(40, 3, 3)
    monkeypatch.setitem(ae_data.FETCHERS, "faces", lambda home: (x, np.arange(40) % 4))
    load_dataset("faces")
    with np.load(data_folder / "faces.npz") as f:
        assert f["x"].dtype == np.uint8
        assert int(f["x"].min()) == 0 and int(f["x"].max()) == 255


@pytest.mark.parametrize("error", [
    urllib.error.URLError("no route"), OSError("network down"), ConnectionError("refused"),
    TimeoutError("timed out"), socket.gaierror("name resolution")])
def test_offline_falls_back_to_embedded_and_says_so_once(monkeypatch, capsys, data_folder, error):
    def fetch(home):
        raise error

    monkeypatch.setitem(ae_data.FETCHERS, "mnist", fetch)
    d = load_dataset("mnist")
    assert d.image_shape == (8, 8)                       # the embedded digits
    assert d.name == "digits", "the name says what the pixels are, so a title made from it is true"
    assert len(d.x_train) + len(d.x_test) == N_DIGITS
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1, out
    assert "mnist" in out and "digits" in out
    assert not (data_folder / "mnist.npz").exists()      # nothing cached from a failure
    load_dataset("mnist")
    assert capsys.readouterr().out == ""


def test_offline_faces_fall_back_to_lfw_views(capsys):
    d = load_dataset("faces")
    assert d.image_shape == (25, 25)
    assert len(d.x_train) + len(d.x_test) == 100 * 5
    assert d.n_classes == 100
    train_people, test_people = set(d.y_train.tolist()), set(d.y_test.tolist())
    assert train_people == test_people == set(range(100))
    counts = np.bincount(np.concatenate([d.y_train.numpy(), d.y_test.numpy()]), minlength=100)
    assert (counts == 5).all()
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "faces" in out


def test_lfw_views_differ_from_the_photo():
    x, y = ae_data.lfw_faces_with_views(5)
    assert x.shape == (500, 25, 25) and (y == np.repeat(np.arange(100), 5)).all()
    for person in (0, 57, 99):
        views = x[5 * person: 5 * person + 5]
        for k in range(1, 5):
            assert not np.allclose(views[0], views[k])
            assert np.corrcoef(views[0].ravel(), views[k].ravel())[0, 1] > 0.5  # still that face


def test_fast_mode_never_calls_the_downloader(fast, monkeypatch, capsys):
    for name in ("faces", "mnist", "fashion_mnist"):
        monkeypatch.setitem(ae_data.FETCHERS, name, _fail_if_called(name))
    assert load_dataset("mnist").image_shape == (8, 8)
    assert load_dataset("fashion_mnist").image_shape == (8, 8)
    assert load_dataset("faces").image_shape == (25, 25)
    out = capsys.readouterr().out
    assert "fast mode" in out


def test_fast_mode_uses_a_cache_that_exists(fast, data_folder, monkeypatch):
    monkeypatch.setitem(ae_data.FETCHERS, "mnist", _fail_if_called("mnist"))
    _seed_cache(data_folder, "mnist", n=300, shape=(5, 7))
    d = load_dataset("mnist")
    assert d.image_shape == (5, 7) and d.name == "mnist"


@pytest.mark.parametrize("name, shape", [("mnist", (8, 8)), ("faces", (25, 25))])
def test_offline_with_the_real_downloaders_says_one_line_and_warns_nothing(
        cut_network, capfd, name, shape):
    """With the network cut, the real fetchers fail; the user sees exactly one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_dataset(name)
    assert d.image_shape == shape
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 1, f"expected one line, got:\n{out}"
    assert name in out
    assert err == ""
    assert [str(w.message) for w in caught] == []


def test_digits_read_directly_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits
    x, y = ae_data._digits()
    d = load_digits()
    assert np.allclose(x, d.images / 16.0) and np.array_equal(y, d.target)


# --------------------------------------------------------------------------- pinned (graded) data

@pytest.mark.parametrize("fast_on", [True, False])
@pytest.mark.parametrize("name, kind", [("digits", "digits"), ("mnist", "digits"), ("faces", "faces")])
def test_pinned_data_ignore_the_cache_and_the_mode(name, kind, fast_on, data_folder, set_fast, monkeypatch):
    """Graded exercises load pinned data: the same images on a bare machine in fast mode (what
    the grader sees) and on a machine with real data cached, in either mode."""
    monkeypatch.setitem(ae_data.FETCHERS, name if name != "digits" else "mnist", _fail_if_called(name))
    set_fast(True)
    bare = load_dataset(name, pinned=True)
    _seed_cache(data_folder, "mnist", n=300, shape=(28, 28))
    _seed_cache(data_folder, "faces", n=40 * 10, shape=(64, 64), n_classes=40)
    set_fast(fast_on)
    cached = load_dataset(name, pinned=True)
    assert cached.name == bare.name == kind
    for a, b in [(bare.x_train, cached.x_train), (bare.y_train, cached.y_train), (bare.x_test, cached.x_test)]:
        assert torch.equal(a, b)
    assert len(cached.x_train) <= config.FAST_MAX_TRAIN and len(cached.x_test) <= config.FAST_MAX_TEST
    assert "pinned" in cached.source


def test_pinned_data_say_once_what_they_are(data_folder, capsys):
    load_dataset("digits", pinned=True)
    load_dataset("digits", pinned=True)
    out = capsys.readouterr().out
    assert out.count("graded data: scikit-learn 8×8 digits") == 1 and "every machine" in out
