"""The numerical claims of lectures/07_beta_vae.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture and chapter 06): nats; the loss per image is the Bernoulli
reconstruction NLL (BCE with logits) summed over pixels plus β·KL, with
KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) ≥ 0; both terms averaged over the images of a batch;
the encoder outputs μ and log σ².
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ae_helpers import fit, set_seed
from ae_helpers.factors import make_sprites
from ae_helpers.models import mlp

BETAS = [0.25, 1.0, 2.0, 4.0, 8.0]
LATENT = 6
SETTINGS = dict(epochs=400, fast_epochs=100, batch_size=64, lr=3e-3, progress=False)
ACTIVE = 0.1        # a latent is active when its KL exceeds 0.1 nats


class VAE(nn.Module):
    def __init__(self, D, d, hidden=128):
        super().__init__()
        self.encoder = mlp([D, hidden, 2 * d])
        self.decoder = mlp([d, hidden, D])

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.encode(x)[0]


def kl_per_dim(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).mean(dim=0)


def beta_step(beta, broken=False):
    def step(model, x):
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(dim=1).mean()
        kl = kl_per_dim(mu, logvar).sum()
        loss = beta * rec + kl if broken else rec + beta * kl     # broken: β weights the wrong term
        return {"loss": loss, "rec": rec, "kl": kl}
    return step


def mig(codes, factors, n_bins=20):
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    lo, hi = codes.min(0), codes.max(0)
    bins = np.clip(np.floor((codes - lo) / np.where(hi > lo, hi - lo, 1) * n_bins), 0, n_bins - 1).astype(int)

    def mutual_info(a, b):
        joint = np.zeros((n_bins, b.max() + 1))
        np.add.at(joint, (a, b), 1 / len(a))
        outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
        return (joint[joint > 0] * np.log(joint[joint > 0] / outer[joint > 0])).sum()

    gaps = []
    for k in range(factors.shape[1]):
        p = np.bincount(factors[:, k]) / len(factors)
        entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
        top = sorted((mutual_info(bins[:, j], factors[:, k]) for j in range(codes.shape[1])), reverse=True)
        gaps.append((top[0] - top[1]) / entropy)
    return float(np.mean(gaps))


@torch.no_grad()
def rate_distortion(model, x, samples=10):
    mu, logvar = model.encode(x)
    torch.manual_seed(0)
    rec = 0.0
    for _ in range(samples):
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec += float(F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(1).mean()) / samples
    return float(kl_per_dim(mu, logvar).sum()), rec


def train(x, beta, seed=0, broken=False):
    set_seed(seed)
    model = VAE(x.shape[1], LATENT)
    fit(model, x, beta_step(beta, broken), seed=seed, **SETTINGS)
    return model


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    sprites = make_sprites()
    x = sprites.flat()
    models = {beta: train(x, beta) for beta in BETAS}
    extra = {(beta, seed): train(x, beta, seed) for seed in (1, 2) for beta in (1.0, 8.0)}
    return sprites, x, models, extra


def test_conventions_kl_and_bce_in_nats():
    zeros = torch.zeros(3, 2)
    assert float(kl_per_dim(zeros, zeros).sum()) == 0.0
    assert float(kl_per_dim(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)).sum()) == pytest.approx(0.5)
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
    assert bool((kl_per_dim(mu, logvar) >= 0).all())
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean(0)
    assert torch.allclose(kl_per_dim(mu, logvar), ref, atol=1e-5)
    bce = F.binary_cross_entropy_with_logits(torch.zeros(1, 4), torch.ones(1, 4), reduction="sum")
    assert float(bce) == pytest.approx(4 * math.log(2))


def test_rate_falls_and_distortion_rises_with_beta(lecture):
    _, x, models, _ = lecture
    rd = [rate_distortion(models[b], x) for b in BETAS]
    rates, dists = zip(*rd)
    assert all(a > b for a, b in zip(rates, rates[1:])), rates
    assert all(a < b for a, b in zip(dists, dists[1:])), dists
    assert rates[0] > 12 and rates[-1] < 3, rates            # "about 16 to about 2 nats"
    assert dists[-1] > 2.5 * dists[0], dists                   # "roughly triples"


def test_large_beta_switches_latents_off(lecture):
    _, x, models, _ = lecture
    active = {}
    for beta in BETAS:
        with torch.no_grad():
            active[beta] = int((kl_per_dim(*models[beta].encode(x)) > ACTIVE).sum())
    assert active[0.25] == active[1.0] == LATENT, active
    assert 2 <= active[8.0] <= 4, active


def test_mig_sanity_values():
    v = make_sprites().factors
    assert mig(torch.cat([v.float(), torch.zeros(len(v), 1)], 1), v) == pytest.approx(1.0)
    rotated = torch.stack([v[:, 0] + v[:, 1], v[:, 0] - v[:, 1], v[:, 2]], 1).float()
    assert mig(rotated, v) == pytest.approx(1 / 3, abs=0.02)


def test_beta_8_scores_a_higher_mig_than_beta_1(lecture):
    sprites, x, models, extra = lecture
    v = sprites.factors
    score = {b: mig(models[b](x).detach(), v) for b in BETAS}
    assert score[8.0] > score[1.0] + 0.05, score               # seed 0: about 0.2 against 0.1
    assert max(score[b] for b in (0.25, 1.0, 2.0, 4.0)) < score[8.0], score
    per_seed = {b: [score[b]] + [mig(extra[(b, s)](x).detach(), v) for s in (1, 2)] for b in (1.0, 8.0)}
    wins = sum(h > l for l, h in zip(per_seed[1.0], per_seed[8.0]))
    assert np.mean(per_seed[8.0]) > np.mean(per_seed[1.0]) and wins >= 2, per_seed


def test_broken_beta_on_the_reconstruction_term_breaks_the_trade_off(fast_module_env):
    """β multiplying the reconstruction term instead of the KL reverses the trade-off."""
    x = make_sprites().flat()
    (r1, d1), (r8, d8) = (rate_distortion(train(x, b, broken=True), x) for b in (1.0, 8.0))
    assert not (r8 < r1 and d8 > d1)
