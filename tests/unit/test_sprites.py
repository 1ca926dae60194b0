"""ae_helpers.sprites: sprites with known, independent factors of variation."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch

from ae_helpers.sprites import SHAPES, FactorData, make_sprites, render


def test_full_grid_holds_every_combination_once():
    data = make_sprites()
    assert isinstance(data, FactorData)
    assert data.names == ("x", "y", "scale")
    assert data.sizes == (8, 8, 4)
    assert len(data) == 8 * 8 * 4
    rows = {tuple(r) for r in data.factors.tolist()}
    assert rows == set(product(range(8), range(8), range(4)))


def test_types_shapes_and_range():
    data = make_sprites(n=50, size=20)
    assert data.images.shape == (50, 20, 20) and data.images.dtype == torch.float32
    assert data.factors.shape == (50, 3) and data.factors.dtype == torch.int64
    assert data.image_shape == (20, 20) and data.n_pixels == 400
    assert data.flat().shape == (50, 400)
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0
    assert float(data.images.max()) == 1.0                 # the inside of a shape is white
    # anti-aliased edges: some pixels lie strictly between 0 and 1
    assert bool(((data.images > 0) & (data.images < 1)).any())
    assert "50 images of 20×20" in repr(data)


def test_seeded_draw_is_reproducible_and_seed_dependent():
    a, b, c = make_sprites(n=200, seed=3), make_sprites(n=200, seed=3), make_sprites(n=200, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, c.factors)


def test_random_draw_does_not_touch_global_rng():
    np.random.seed(0)
    torch.manual_seed(0)
    expected = (np.random.rand(), torch.rand(1))
    np.random.seed(0)
    torch.manual_seed(0)
    make_sprites(n=100, seed=7)
    assert (np.random.rand(), torch.rand(1)) == expected


def test_random_factors_are_independent_and_cover_their_values():
    data = make_sprites(n=20000, seed=1)
    f = data.factors.numpy()
    for k, s in enumerate(data.sizes):
        counts = np.bincount(f[:, k], minlength=s)
        assert len(counts) == s and counts.min() > 0.8 * len(f) / s
    # joint frequencies of x and y are close to the product of the marginals
    joint = np.zeros((8, 8))
    np.add.at(joint, (f[:, 0], f[:, 1]), 1)
    joint /= joint.sum()
    indep = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    assert np.abs(joint - indep).max() < 0.006


def test_each_factor_moves_the_image_the_way_its_name_says():
    data = make_sprites()
    names = data.names
    img = {tuple(r): im for r, im in zip(data.factors.tolist(), data.images)}
    cols = torch.arange(16.0)

    def centre(im):
        m = im.sum()
        return float((im.sum(0) * cols).sum() / m), float((im.sum(1) * cols).sum() / m)

    x0, y0 = centre(img[(0, 3, 1)])
    x1, y1 = centre(img[(7, 3, 1)])
    assert x1 - x0 > 8 and abs(y1 - y0) < 1e-4, "factor x moves the shape along the columns"
    x0, y0 = centre(img[(3, 0, 1)])
    x1, y1 = centre(img[(3, 7, 1)])
    assert y1 - y0 > 8 and abs(x1 - x0) < 1e-4, "factor y moves the shape along the rows"
    areas = [float(img[(4, 4, s)].sum()) for s in range(4)]
    assert all(b > a for a, b in zip(areas, areas[1:])), "a larger scale covers more pixels"
    assert names.index("scale") == 2
    # the physical values: x positions spread inside the image, radii as given
    assert data.values[0][0] > 3 and data.values[0][-1] < 13
    assert np.allclose(data.values[2], [1.5, 2.0, 2.5, 3.0])


def test_square_area_matches_its_side():
    im = render("square", 8.0, 8.0, 2.0, size=16)
    assert im.shape == (16, 16)
    assert im.sum() == pytest.approx(16.0)                 # a 4 × 4 square on pixel borders
    assert set(np.unique(im)) <= {0.0, 1.0}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_renders_inside_the_image(shape):
    im = render(shape, 8.0, 8.0, 3.0, size=16)
    assert 0 < im.sum() < 16 * 16 / 2
    assert im[0].sum() == 0 and im[-1].sum() == 0 and im[:, 0].sum() == 0 and im[:, -1].sum() == 0


def test_shape_becomes_a_factor_when_several_are_drawn():
    data = make_sprites(shapes=("square", "ellipse"), n_x=3, n_y=3, scales=(2.0, 3.0))
    assert data.names == ("shape", "x", "y", "scale")
    assert data.sizes == (2, 3, 3, 2) and len(data) == 36
    sq = data.images[(data.factors[:, 0] == 0)]
    el = data.images[(data.factors[:, 0] == 1)]
    assert float(sq.sum()) > float(el.sum()), "a square covers more than the ellipse inscribed in it"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="shape"):
        make_sprites(shapes=("star",))
    with pytest.raises(ValueError, match="does not fit"):
        make_sprites(size=6, scales=(3.0,))
    with pytest.raises(ValueError, match="positive"):
        make_sprites(n=0)
    with pytest.raises(ValueError, match="unknown shape"):
        render("star", 1, 1, 1)
