"""The numerical claims of lectures/05_contractive_autoencoders.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture): reconstruction error summed over pixels, averaged over images;
contractive penalty = squared Frobenius norm of each image's encoder Jacobian (K × D), averaged
over images; the reported sensitivity is ||J_f(x)||_F (square root), averaged over test images.
"""
import math

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

from ae_helpers import fit, load_dataset, reconstruct, set_seed

BATCH, LR, FAST_EPOCHS = 128, 1e-2, 40
NOISE = 0.5         # the DAE's corruption and the noisy-input test
LAMBDA = 0.1        # the CAE's penalty weight
EPS = 0.01          # length of the small input step


def sigmoid_jacobian_sq(h, W):
    return (h * (1 - h)) ** 2 @ (W ** 2).sum(dim=1)


def jacobian_sq(encoder, x):
    J = vmap(jacrev(lambda x_b: encoder(x_b.unsqueeze(0)).squeeze(0)))(x)
    return (J ** 2).sum(dim=(1, 2))


def reconstruction_error(x, x_hat):
    return ((x - x_hat) ** 2).sum(dim=1).mean()


def cae_step(lam):
    def step(model, batch):
        h = model[:2](batch)
        return reconstruction_error(batch, model[2:](h)) + lam * sigmoid_jacobian_sq(h, model[0].weight).mean()
    return step


def dae_step(model, batch):
    return reconstruction_error(batch, model(batch + NOISE * torch.randn_like(batch)))


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    """Section 3 of the lecture: plain, DAE, CAE (and a CAE with λ = 0, the broken variant) on digits."""
    data = load_dataset("mnist")          # falls back to the 8×8 digits in fast mode
    x_train, x_test = data.flat("train"), data.flat("test")
    D = data.n_pixels
    K = D // 2
    epochs = max(10, round(3000 * BATCH / len(x_train)))

    def train(step):
        set_seed(0)
        model = nn.Sequential(nn.Linear(D, K), nn.Sigmoid(), nn.Linear(K, D), nn.Sigmoid())
        fit(model, x_train, step, epochs=epochs, fast_epochs=FAST_EPOCHS, batch_size=BATCH, lr=LR, progress=False)
        return model.cpu().eval()

    models = {"plain": train(lambda model, batch: reconstruction_error(batch, model(batch))),
              "DAE": train(dae_step), "CAE": train(cae_step(LAMBDA)), "CAE λ=0": train(cae_step(0.0))}
    x_eval = x_test[:500]
    g = torch.Generator().manual_seed(1)
    dirs = nn.functional.normalize(torch.randn(x_eval.shape, generator=g), dim=1)
    noisy = x_test + NOISE * torch.randn(x_test.shape, generator=g)
    out = {"D": D}
    for name, model in models.items():
        enc = model[:2]
        with torch.no_grad():
            moves = ((enc(x_eval + EPS * dirs) - enc(x_eval)).norm(dim=1) / EPS).mean().item()
        out[name] = {"error": reconstruction_error(x_test, reconstruct(model, x_test)).item(),
                     "jac": jacobian_sq(enc, x_eval).sqrt().mean().item(),
                     "moves": moves,
                     "noisy": reconstruction_error(x_test, reconstruct(model, noisy)).item()}
    return out


def test_closed_form_equals_torch_func():
    set_seed(0)
    layer = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid())
    x = torch.rand(100, 64)
    closed = sigmoid_jacobian_sq(layer(x), layer[0].weight)
    auto = jacobian_sq(layer, x)
    assert (closed - auto).abs().max().item() < 1e-5
    # broken variant: the slope h(1 − h) not squared
    broken = (layer(x) * (1 - layer(x))) @ (layer[0].weight ** 2).sum(dim=1)
    assert (broken - auto).abs().max().item() > 1e-2
    # and the gradient of the torch.func penalty reaches the layer (it can train an encoder)
    auto.mean().backward()
    assert layer[0].weight.grad is not None and layer[0].weight.grad.abs().sum() > 0


def test_cae_contracts_the_encoder_at_bounded_reconstruction_cost(lecture):
    plain, cae, broken = lecture["plain"], lecture["CAE"], lecture["CAE λ=0"]
    ratio = cae["jac"] / plain["jac"]
    assert ratio < 0.55, f"‖J‖_F CAE / plain = {ratio:.2f}"
    assert cae["error"] / plain["error"] < 1.8, f"test error CAE / plain = {cae['error'] / plain['error']:.2f}"
    assert cae["moves"] < 0.55 * plain["moves"], f"code moves {cae['moves']:.3f} vs {plain['moves']:.3f}"
    # broken variant: without the penalty weight the 'CAE' is a plain autoencoder and does not contract
    assert broken["jac"] / plain["jac"] > 0.8


def test_code_displacement_is_the_jacobian_norm_over_sqrt_d(lecture):
    for name in ("plain", "DAE", "CAE"):
        row = lecture[name]
        expected = row["jac"] / math.sqrt(lecture["D"])
        assert 0.8 < row["moves"] / expected < 1.05, f"{name}: {row['moves']:.3f} vs ‖J‖_F/√D = {expected:.3f}"


def test_dae_vs_cae_robustness(lecture):
    plain, dae, cae = lecture["plain"], lecture["DAE"], lecture["CAE"]
    # the CAE's encoder is the least sensitive to small steps, the DAE's in between
    assert cae["jac"] < dae["jac"] < plain["jac"], (cae["jac"], dae["jac"], plain["jac"])
    # the DAE is the best at reconstructing clean images from noisy ones at its noise level
    assert dae["noisy"] < cae["noisy"] and dae["noisy"] < 0.9 * plain["noisy"], (dae["noisy"], cae["noisy"], plain["noisy"])
    # and pays on clean images, as the CAE does
    assert dae["error"] > plain["error"] and cae["error"] > plain["error"]


def test_cae_contracts_the_directions_off_the_toy_manifold(fast_module_env):
    d, k, n = 10, 8, 1000
    g = torch.Generator().manual_seed(0)
    plane, _ = torch.linalg.qr(torch.randn(d, 2, generator=g))
    normal_basis = torch.linalg.qr(torch.cat([plane, torch.randn(d, d - 2, generator=g)], dim=1))[0][:, 2:]

    def on_circle(angle):
        return 0.5 + 0.4 * torch.stack([angle.cos(), angle.sin()], dim=1) @ plane.T

    x = on_circle(2 * math.pi * torch.rand(n, generator=g))
    angles = torch.linspace(0, 2 * math.pi, 65)[:-1]
    probe = on_circle(angles)
    tangent = torch.stack([-angles.sin(), angles.cos()], dim=1) @ plane.T
    found = {}
    for lam in (0.0, 0.1):
        set_seed(0)
        model = nn.Sequential(nn.Linear(d, k), nn.Sigmoid(), nn.Linear(k, d))
        fit(model, x, cae_step(lam), epochs=100, fast_epochs=100, batch_size=100, lr=1e-2, progress=False)
        with torch.no_grad():
            J = vmap(jacrev(lambda x_b: model[:2](x_b.unsqueeze(0)).squeeze(0)))(probe)
        along = (J @ tangent.unsqueeze(2)).norm(dim=(1, 2)).mean().item()
        off = ((J @ normal_basis) ** 2).sum(dim=(1, 2)).div(d - 2).sqrt().mean().item()
        sv = torch.linalg.svdvals(J).mean(dim=0)
        found[lam] = (along / off, sv, reconstruction_error(probe, model(probe)).item())
    cae_ratio, cae_sv, cae_err = found[0.1]
    plain_ratio, plain_sv, _ = found[0.0]
    assert cae_ratio > 50, f"CAE: along / off the plane = {cae_ratio:.0f}"
    assert (cae_sv[:2] > 0.1).all() and (cae_sv[2:] < 0.01).all(), cae_sv
    assert cae_err < 0.02, f"the CAE no longer reconstructs the circle ({cae_err:.4f})"
    # broken variant (λ = 0, the plain autoencoder): no such contraction
    assert plain_ratio < 10 and (plain_sv[2:4] > 0.05).all(), (plain_ratio, plain_sv)
