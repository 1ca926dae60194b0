"""The numerical claims of lectures/04_denoising_autoencoders.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture): pixels in [0, 1]; the loss is the per-pixel mean squared error
against the CLEAN images; PSNR = 10·log10(1 / MSE) dB with the MSE the per-pixel mean over all
pixels of all images. The 2-D toy sums the squared error over its two coordinates.
Each claim has a deliberately broken variant (a DAE trained to reproduce its corrupted input)
that must fail the same check.
"""
import math

import pytest
import torch
from torch import nn

from ae_helpers import fit, load_dataset, reconstruct, set_seed
from ae_helpers.models import mlp

BATCH, LR, FAST_EPOCHS = 64, 1e-2, 20
SIGMA, R_MASK, MASK_RATIO = 0.3, 0.5, 0.75
SIGMAS = (0.05, 0.15, 0.3, 0.6, 1.0)
TOY_SIGMA = 0.3


def psnr(x, x_hat):
    return 10 * math.log10(1 / float(((x_hat - x) ** 2).mean()))


def gaussian_noise(x, sigma, generator):
    return (x + sigma * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)


def masking(x, r, generator):
    return x.masked_fill((torch.rand(x.shape, generator=generator) < r).to(x.device), 0.0)


class Lecture:
    """The lecture's data, settings and training, in fast mode."""

    def __init__(self):
        data = load_dataset("mnist")           # falls back to the 8×8 digits in fast mode
        self.x_train, self.x_test = data.flat("train"), data.flat("test")
        self.D = data.n_pixels
        self.H, self.W = data.image_shape
        self.epochs = max(10, round(3000 * BATCH / len(self.x_train)))
        self.noise_gen = torch.Generator()
        self.patch = max(2, self.H // 7)

    def train(self, step, hidden=None):
        set_seed(0)
        self.noise_gen.manual_seed(0)
        model = mlp([self.D, hidden or 2 * self.D, self.D], out_activation=nn.Sigmoid())
        fit(model, self.x_train, step, epochs=self.epochs, fast_epochs=FAST_EPOCHS, batch_size=BATCH, lr=LR,
            progress=False)
        return model

    def denoising_step(self, corrupt, level, target_is_corrupted=False):
        def step(model, batch):
            x_tilde = corrupt(batch, level, self.noise_gen)
            target = x_tilde if target_is_corrupted else batch
            return ((model(x_tilde) - target) ** 2).mean()
        return step

    @staticmethod
    def plain_step(model, batch):
        return ((model(batch) - batch) ** 2).mean()

    def patch_mask(self, n, generator):
        rows, cols = self.H // self.patch, self.W // self.patch
        order = torch.rand(n, rows * cols, generator=generator).argsort(dim=1)
        masked = torch.zeros(n, rows * cols, dtype=torch.bool)
        masked.scatter_(1, order[:, :round(MASK_RATIO * rows * cols)], True)
        masked = masked.reshape(n, rows, cols).repeat_interleave(self.patch, 1).repeat_interleave(self.patch, 2)
        return masked.reshape(n, -1)

    def mae_step(self, model, batch):
        masked = self.patch_mask(len(batch), self.noise_gen).to(batch.device)
        return ((model(batch.masked_fill(masked, 0.0)) - batch) ** 2)[masked].mean()


def toy_field(target_is_corrupted=False):
    """Train the lecture's 2-D DAE on the unit circle; return (cosine to nearest, relative length, cosine to score)."""
    g = torch.Generator().manual_seed(0)
    angles = 2 * math.pi * torch.rand(1000, generator=g)
    circle = torch.stack([angles.cos(), angles.sin()], dim=1)
    noise_gen = torch.Generator()

    def step(model, batch):
        x_tilde = batch + TOY_SIGMA * torch.randn(batch.shape, generator=noise_gen).to(batch.device)
        target = x_tilde if target_is_corrupted else batch
        return ((model(x_tilde) - target) ** 2).sum(dim=1).mean()

    set_seed(0)
    noise_gen.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    fit(model, circle, step, epochs=40, fast_epochs=40, batch_size=100, lr=3e-3, progress=False)
    g = torch.Generator().manual_seed(1)
    a = 2 * math.pi * torch.rand(1000, generator=g)
    x_tilde = torch.stack([a.cos(), a.sin()], dim=1) + TOY_SIGMA * torch.randn(1000, 2, generator=g)
    radius = x_tilde.norm(dim=1, keepdim=True)
    to_nearest = x_tilde / radius - x_tilde
    off = (radius.squeeze(1) - 1).abs() > 0.1
    v = reconstruct(model, x_tilde) - x_tilde
    cos_nearest = nn.functional.cosine_similarity(v[off], to_nearest[off]).mean().item()
    length = (v.norm(dim=1) / to_nearest.norm(dim=1))[off].median().item()
    phi = torch.linspace(0, 2 * math.pi, 721)[:-1]
    on_circle = torch.stack([phi.cos(), phi.sin()], dim=1)
    w = torch.softmax(-((x_tilde[:, None, :] - on_circle[None]) ** 2).sum(dim=2) / (2 * TOY_SIGMA ** 2), dim=1)
    cos_score = nn.functional.cosine_similarity(v, w @ on_circle - x_tilde).mean().item()
    return cos_nearest, length, cos_score


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    lec = Lecture()
    x_test = lec.x_test
    models = {"plain_over": lec.train(lec.plain_step), "plain_under": lec.train(lec.plain_step, hidden=lec.D // 4)}
    for sigma in SIGMAS:
        models[sigma] = lec.train(lec.denoising_step(gaussian_noise, sigma))
    models["masked"] = lec.train(lec.denoising_step(masking, R_MASK))
    models["mae"] = lec.train(lec.mae_step)
    x_noisy = gaussian_noise(x_test, SIGMA, torch.Generator().manual_seed(1))
    return {"lec": lec, "models": models, "x_noisy": x_noisy}


def denoising_psnr(lecture, model):
    x_test, x_noisy = lecture["lec"].x_test, lecture["x_noisy"]
    return psnr(x_test, reconstruct(model, x_noisy)), psnr(x_test, reconstruct(model, x_test))


def test_psnr_definition():
    x = torch.zeros(3, 4)
    assert psnr(x, torch.full((3, 4), 0.1)) == pytest.approx(20.0)       # MSE 0.01 → 20 dB
    assert psnr(x, torch.full((3, 4), 0.1 * math.sqrt(2))) == pytest.approx(20 - 10 * math.log10(2))


def dae_beats_both(lecture, dae):
    """(holds, numbers): the DAE is > 3 dB above the noisy input and > 1 dB above both plain AEs."""
    x_test, x_noisy, models = lecture["lec"].x_test, lecture["x_noisy"], lecture["models"]
    noisy = psnr(x_test, x_noisy)
    plain = max(denoising_psnr(lecture, models[k])[0] for k in ("plain_over", "plain_under"))
    ours = denoising_psnr(lecture, dae)[0]
    return ours - noisy > 3.0 and ours - plain > 1.0, (noisy, plain, ours)


def test_dae_beats_noisy_input_and_plain_autoencoders(lecture):
    holds, (noisy, plain, ours) = dae_beats_both(lecture, lecture["models"][SIGMA])
    assert holds, f"PSNR noisy {noisy:.2f}, best plain AE {plain:.2f}, DAE {ours:.2f} dB"
    # ... and pays for it on clean inputs, where the copying overcomplete AE is best
    clean_plain = denoising_psnr(lecture, lecture["models"]["plain_over"])[1]
    clean_dae = denoising_psnr(lecture, lecture["models"][SIGMA])[1]
    assert clean_plain > clean_dae + 2.0, f"clean PSNR: plain {clean_plain:.2f}, DAE {clean_dae:.2f}"


def test_broken_dae_with_corrupted_target_does_not_denoise(lecture):
    lec = lecture["lec"]
    broken = lec.train(lec.denoising_step(gaussian_noise, SIGMA, target_is_corrupted=True))
    holds, numbers = dae_beats_both(lecture, broken)
    assert not holds, f"a DAE trained to reproduce its noisy input passed the claim: {numbers}"


def test_corruption_level_has_an_optimum(lecture):
    on_noisy, on_clean = zip(*(denoising_psnr(lecture, lecture["models"][s]) for s in SIGMAS))
    best = max(range(len(SIGMAS)), key=lambda i: on_noisy[i])
    assert 0 < best < len(SIGMAS) - 1, f"best training level at the edge of the sweep: {on_noisy}"
    assert SIGMAS[best] == SIGMA, f"best σ_train {SIGMAS[best]} differs from the test noise {SIGMA}: {on_noisy}"
    assert on_noisy[best] - on_noisy[0] > 1.0 and on_noisy[best] - on_noisy[-1] > 1.0, f"too flat: {on_noisy}"
    assert all(a > b for a, b in zip(on_clean, on_clean[1:])), f"clean PSNR should fall with σ_train: {on_clean}"


def test_toy_vector_field_points_to_the_data(fast_module_env):
    cos_nearest, length, cos_score = toy_field()
    assert cos_nearest > 0.9, f"mean cosine with the direction to the nearest data point {cos_nearest:.3f}"
    assert 0.7 < length < 1.3, f"median length relative to the distance to the circle {length:.2f}"
    assert cos_score > 0.8, f"mean cosine with σ²∇log p_σ {cos_score:.3f}"


def test_broken_toy_field_with_corrupted_target(fast_module_env):
    cos_nearest, length, _ = toy_field(target_is_corrupted=True)
    assert not (cos_nearest > 0.9 and 0.7 < length < 1.3), f"cosine {cos_nearest:.3f}, length {length:.2f}"


def psnr_where(x, x_filled, where):
    return 10 * math.log10(1 / float(((x_filled - x) ** 2)[where].mean()))


def test_masking_dae_fills_missing_inputs(lecture):
    lec, models = lecture["lec"], lecture["models"]
    x_test = lec.x_test
    missing = torch.rand(x_test.shape, generator=torch.Generator().manual_seed(2)) < R_MASK
    x_holes = x_test.masked_fill(missing, 0.0)
    mean_fill = psnr_where(x_test, lec.x_train.mean(dim=0).expand_as(x_test), missing)
    fill = {k: psnr_where(x_test, reconstruct(models[k], x_holes), missing) for k in ("masked", "plain_over", SIGMA)}
    assert fill["masked"] > mean_fill + 1.0, f"masking DAE {fill['masked']:.2f} vs mean image {mean_fill:.2f} dB"
    assert fill["plain_over"] < mean_fill < fill["masked"], f"{fill}, mean image {mean_fill:.2f}"
    assert fill["plain_over"] < fill[SIGMA] < fill["masked"], f"the Gaussian DAE should lie in between: {fill}"


def test_mae_style_model_reconstructs_masked_patches(lecture):
    lec, models = lecture["lec"], lecture["models"]
    x_test = lec.x_test
    masked = lec.patch_mask(len(x_test), torch.Generator().manual_seed(3))
    assert masked.float().mean().item() == pytest.approx(MASK_RATIO, abs=0.02)
    x_patches = x_test.masked_fill(masked, 0.0)
    mae = psnr_where(x_test, reconstruct(models["mae"], x_patches), masked)
    pixel = psnr_where(x_test, reconstruct(models["masked"], x_patches), masked)
    mean_fill = psnr_where(x_test, lec.x_train.mean(dim=0).expand_as(x_test), masked)
    assert mae > mean_fill + 0.5 and mae > pixel + 0.5, f"MAE-style {mae:.2f}, pixel DAE {pixel:.2f}, mean {mean_fill:.2f}"
