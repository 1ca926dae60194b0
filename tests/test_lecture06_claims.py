"""The numerical claims of lectures/06_vae_elbo.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
models, data and training settings are the lecture's, so a change there that breaks a claim
fails here. Conventions (as in the lecture and the exercise): everything in nats; the loss is the
NEGATIVE ELBO per image, summed over pixels and latent dimensions and averaged over the images of
a batch; KL(q(z|x) ‖ p(z)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) ≥ 0 is ADDED to the reconstruction
negative log-likelihood; the Bernoulli likelihood is BCE with logits summed over pixels (pixels in
[0, 1]); the encoder outputs μ and log σ²; bits per dimension = nats per image / (D · ln 2).
Each group of claims has a deliberately broken variant that must fail it.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ae_helpers import encode, evaluate, fit, load_dataset, set_seed
from ae_helpers.models import mlp

LATENT = 16
BATCH, LR = 128, 5e-3
STEPS, FAST_STEPS = 6000, 400
K_VALUES = (1, 10, 100, 1000)
N_GEN = 500


class VAE(nn.Module):
    def __init__(self, n_pixels, latent_dim, hidden, n_classes=0):
        super().__init__()
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.encoder = mlp([n_pixels + n_classes, hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim + n_classes, hidden, n_pixels])

    def _with_label(self, v, y):
        return v if y is None else torch.cat([v, F.one_hot(y, self.n_classes).to(v.dtype)], dim=-1)

    def encode(self, x, y=None):
        mu, logvar = self.encoder(self._with_label(x, y)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z, y=None):
        return self.decoder(self._with_label(z, y))

    def forward(self, x):
        return torch.sigmoid(self.decode(self.encode(x)[0]))


def reparameterise(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def gaussian_kl(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(dim=-1)


def bernoulli_nll(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(dim=-1)


def gaussian_nll(sigma_x):
    def nll(logits, x):
        x_hat = torch.sigmoid(logits)
        return ((x - x_hat) ** 2 / (2 * sigma_x ** 2) + 0.5 * math.log(2 * math.pi * sigma_x ** 2)).sum(dim=-1)
    return nll


def negative_elbo(model, x, y=None, beta=1.0, nll=bernoulli_nll):
    mu, logvar = model.encode(x, y)
    z = reparameterise(mu, logvar)
    reconstruction = nll(model.decode(z, y), x).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl}


def vae_step(model, batch):
    return negative_elbo(model, batch)


def bits_per_dim(nats_per_image, n_pixels):
    return nats_per_image / (n_pixels * math.log(2))


def plain_ae_step(model, batch):
    mu, _ = model.encode(batch)
    return bernoulli_nll(model.decode(mu), batch).mean()


def warmup_step(n_steps, beta_max=1.0):
    calls = {"n": 0}

    def step(model, batch):
        if model.training:
            calls["n"] += 1
        return negative_elbo(model, batch, beta=beta_max * min(1.0, calls["n"] / n_steps))
    return step


def log_normal(z, mean=0.0, logvar=0.0):
    logvar = torch.as_tensor(logvar)
    return -0.5 * ((z - mean) ** 2 / logvar.exp() + math.log(2 * math.pi) + logvar).sum(dim=-1)


@torch.no_grad()
def log_weights(model, x, k, proposal="encoder", seed=0, chunk=100):
    g = torch.Generator().manual_seed(seed)
    mu, logvar = model.encode(x)
    if proposal == "prior":
        mu, logvar = torch.zeros_like(mu), torch.zeros_like(logvar)
    out = []
    for start in range(0, k, chunk):
        eps = torch.randn(min(chunk, k - start), *mu.shape, generator=g)
        z = mu + torch.exp(0.5 * logvar) * eps
        out.append(-bernoulli_nll(model.decode(z), x) + log_normal(z) - log_normal(z, mu, logvar))
    return torch.cat(out)


def iwae_bounds(w, ks):
    return {k: (torch.logsumexp(w[:k], dim=0) - math.log(k)).mean().item() for k in ks}


def effective_sample_size(w):
    p = torch.softmax(w, dim=0)
    return 1 / (p ** 2).sum(dim=0)


def active_units(model, x, threshold=0.01):
    mu = encode(lambda v: model.encode(v)[0], x)
    variance = mu.var(dim=0)
    return int((variance > threshold).sum()), variance


def decode_mean(model, z, y=None):
    with torch.no_grad():
        return torch.sigmoid(model.decode(z, y))


# --------------------------------------------------------------------------- conventions (no training)

def test_kl_closed_form_convention_sign_and_zero():
    g = torch.Generator().manual_seed(5)
    mu, logvar = torch.randn(50, LATENT, generator=g), torch.empty(50, LATENT).uniform_(-3, 1, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    reference = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), reference, atol=1e-4)
    assert gaussian_kl(mu, logvar).shape == (50,), "one KL per image, summed over latent dimensions"
    assert (gaussian_kl(mu, logvar) > 0).all()
    assert gaussian_kl(torch.zeros(3, LATENT), torch.zeros(3, LATENT)).abs().max() < 1e-7
    # one dimension, by hand: mu = 1, sigma² = e → ½ (1 + e − 1 − 1) = (e − 1) / 2
    assert gaussian_kl(torch.ones(1, 1), torch.ones(1, 1)).item() == pytest.approx((math.e - 1) / 2, abs=1e-6)


def test_kl_closed_form_matches_monte_carlo_and_a_broken_formula_does_not():
    g = torch.Generator().manual_seed(0)           # the lecture's check
    mu_q = torch.randn(5, LATENT, generator=g)
    logvar_q = torch.empty(5, LATENT).uniform_(-3, 1, generator=g)
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = torch.distributions.Normal(torch.zeros(LATENT), torch.ones(LATENT))
    z_s = mu_q + torch.exp(0.5 * logvar_q) * torch.randn(100_000, 5, LATENT, generator=g)
    log_ratio = (q.log_prob(z_s) - p.log_prob(z_s)).sum(-1)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(z_s))
    z_scores = (gaussian_kl(mu_q, logvar_q) - mc).abs() / se
    assert z_scores.max() < 4, f"closed form vs Monte Carlo: {z_scores.max():.1f} standard errors apart"
    broken = 0.5 * (mu_q ** 2 + logvar_q.exp() - 1 + logvar_q).sum(-1)      # sign of log σ² flipped
    assert ((broken - mc).abs() / se).min() > 50


def test_likelihood_and_loss_conventions():
    g = torch.Generator().manual_seed(1)
    logits, x = torch.randn(7, 64, generator=g), torch.rand(7, 64, generator=g)
    pi = torch.sigmoid(logits)
    by_hand = -(x * pi.log() + (1 - x) * (1 - pi).log()).sum(dim=1)
    assert torch.allclose(bernoulli_nll(logits, x), by_hand, atol=1e-4), "BCE with logits, summed over pixels"
    binary = (x > 0.5).float()
    assert torch.allclose(bernoulli_nll(logits, binary),
                          -torch.distributions.Bernoulli(logits=logits).log_prob(binary).sum(1), atol=1e-4)
    sigma = 0.1
    gauss = -torch.distributions.Normal(pi, sigma).log_prob(x).sum(1)
    assert torch.allclose(gaussian_nll(sigma)(logits, x), gauss, atol=1e-3)
    # the loss: per-image sums, averaged over images; the KL added
    set_seed(0)
    model = VAE(64, LATENT, 32)
    torch.manual_seed(3)
    terms = negative_elbo(model, x)
    torch.manual_seed(3)
    mu, logvar = model.encode(x)
    z = reparameterise(mu, logvar)
    per_image = bernoulli_nll(model.decode(z), x) + gaussian_kl(mu, logvar)
    assert terms["loss"].item() == pytest.approx(per_image.mean().item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx((terms["reconstruction"] + terms["kl"]).item(), rel=1e-6)
    assert terms["kl"].item() > 0 and terms["loss"].item() > terms["reconstruction"].item()
    # bits per dimension = nats per image / (D ln 2): pixels that are fair coins cost exactly 1 bit each
    coin = bernoulli_nll(torch.zeros(7, 64), binary)
    assert torch.allclose(bits_per_dim(coin, 64), torch.ones(7))


def test_gradients_reach_mu_and_sigma_through_rsample_only():
    mu = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    logvar = torch.tensor([0.0, -1.0, 0.5], requires_grad=True)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    torch.manual_seed(0)
    plain = q.sample((1000,))
    assert not plain.requires_grad and plain.grad_fn is None
    with pytest.raises(RuntimeError):
        (plain ** 2).mean(0).sum().backward()
    (q.rsample((200_000,)) ** 2).mean(0).sum().backward()
    assert torch.allclose(mu.grad, 2 * mu.detach(), atol=0.03)
    assert torch.allclose(logvar.grad, logvar.detach().exp(), atol=0.03)
    mu.grad = logvar.grad = None
    (reparameterise(mu.expand(200_000, 3), logvar.expand(200_000, 3)) ** 2).mean(0).sum().backward()
    assert torch.allclose(mu.grad, 2 * mu.detach(), atol=0.03)
    assert torch.allclose(logvar.grad, logvar.detach().exp(), atol=0.03)


# --------------------------------------------------------------------------- trained models

@pytest.fixture(scope="module")
def lecture(fast_module_env):
    """Every model the lecture trains, with its settings, in fast mode (8×8 digits, no downloads)."""
    data = load_dataset("mnist")
    x_train, x_test = data.flat("train"), data.flat("test")
    y_train, y_test = data.y_train, data.y_test
    D = data.n_pixels
    hidden = min(512, 2 * D)
    epochs_for = lambda steps: max(1, math.ceil(steps * BATCH / len(x_train)))  # noqa: E731
    settings = dict(epochs=epochs_for(STEPS), fast_epochs=epochs_for(FAST_STEPS), batch_size=BATCH, lr=LR,
                    progress=False)
    train_steps = epochs_for(FAST_STEPS) * math.ceil(len(x_train) / BATCH)

    def train(step, latent=LATENT, n_classes=0, data_=None):
        set_seed(0)
        model = VAE(D, latent, hidden, n_classes)
        fit(model, x_train if data_ is None else data_, step, **settings)
        return model

    m = {"vae": train(vae_step)}
    m["gauss_half"] = train(lambda mod, b: negative_elbo(mod, b, nll=gaussian_nll(math.sqrt(0.5))))
    m["gauss_0.1"] = train(lambda mod, b: negative_elbo(mod, b, nll=gaussian_nll(0.1)))
    m["plain_ae"] = train(plain_ae_step)
    m["vae_2d"] = train(vae_step, latent=2)
    m["beta4"] = train(lambda mod, b: negative_elbo(mod, b, beta=4.0))
    m["warmup"] = train(warmup_step(train_steps))
    m["cvae"] = train(lambda mod, b: negative_elbo(mod, b[0], y=b[1]), n_classes=data.n_classes, data_=(x_train, y_train))
    set_seed(0)
    classifier = mlp([D, hidden, data.n_classes])
    fit(classifier, (x_train, y_train), lambda mod, b: F.cross_entropy(mod(b[0]), b[1]),
        **{**settings, "epochs": epochs_for(STEPS // 4), "fast_epochs": epochs_for(FAST_STEPS // 2)})
    for model in m.values():
        model.cpu()
    return {"m": m, "classifier": classifier.cpu(), "x_train": x_train, "x_test": x_test, "y_test": y_test, "D": D,
            "n_classes": data.n_classes}


def test_test_bound_in_nats_and_bits(lecture):
    torch.manual_seed(0)
    test = evaluate(lecture["m"]["vae"], lecture["x_test"], vae_step)
    assert 22.5 < test["loss"] < 26.0, f"test −ELBO {test['loss']:.2f} nats per image"
    assert 1.5 < test["kl"] < 5.0, f"test KL {test['kl']:.2f} nats per image"
    assert test["loss"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    bits = bits_per_dim(test["loss"], lecture["D"])
    assert 0.5 < bits < 0.6, f"{bits:.3f} bits per dimension"


@pytest.fixture(scope="module")
def bounds(lecture):
    vae, x = lecture["m"]["vae"], lecture["x_test"]
    w = torch.cat([log_weights(vae, x[i:i + 250], max(K_VALUES), seed=i) for i in range(0, len(x), 250)], dim=1)
    w_prior = torch.cat([log_weights(vae, x[i:i + 250], max(K_VALUES), proposal="prior", seed=i)
                         for i in range(0, len(x), 250)], dim=1)
    return {"w": w, "w_prior": w_prior, "elbo": w.mean(0).mean().item(), "iwae": iwae_bounds(w, K_VALUES)}


def test_elbo_below_iwae_bounds_rising_with_k(bounds):
    elbo, iwae = bounds["elbo"], bounds["iwae"]
    assert elbo < iwae[10] < iwae[100] <= iwae[1000] + 0.005, f"ELBO {elbo:.3f}, IWAE {iwae}"
    assert iwae[1] == pytest.approx(elbo, abs=0.1), "L_1 is a one-sample estimate of the ELBO"
    gap = iwae[1000] - elbo
    assert 0.1 < gap < 2.0, f"gap L_1000 − ELBO = {gap:.3f} nats"
    assert iwae[1000] - iwae[100] < 0.05, "the bound flattens out by k = 1000"


def test_a_wrong_kl_sign_breaks_the_bound(lecture, bounds):
    # the broken variant: KL subtracted instead of added. Its "ELBO" exceeds even the IWAE estimate of log p(x)
    vae, x = lecture["m"]["vae"], lecture["x_test"]
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        recon = bernoulli_nll(vae.decode(reparameterise(mu, logvar)), x).mean()
        wrong = -(recon - gaussian_kl(mu, logvar).mean()).item()
        right = -(recon + gaussian_kl(mu, logvar).mean()).item()
    assert right < bounds["iwae"][1000]
    assert wrong > bounds["iwae"][1000] + 1.0, "with the KL sign flipped the 'bound' lies above log p(x)"


def test_prior_as_proposal_has_a_small_effective_sample_size(bounds):
    ess_q, ess_p = effective_sample_size(bounds["w"]).median(), effective_sample_size(bounds["w_prior"]).median()
    assert ess_q > 300 and ess_p < 100 and ess_q > 5 * ess_p, f"ESS encoder {ess_q:.0f}, prior {ess_p:.0f}"
    prior = iwae_bounds(bounds["w_prior"], [1000])[1000]
    assert prior < bounds["iwae"][1000], "the prior's estimate is lower than the encoder's"


def test_gaussian_likelihood_variance_acts_as_a_kl_weight(lecture):
    x = lecture["x_test"]
    kl, err = {}, {}
    for name in ("gauss_half", "vae", "gauss_0.1"):
        model = lecture["m"][name]
        with torch.no_grad():
            mu, logvar = model.encode(x)
            kl[name] = gaussian_kl(mu, logvar).mean().item()
            err[name] = ((x - model(x)) ** 2).sum(1).mean().item()
    assert kl["gauss_half"] < 1.0, f"σ_x² = ½: KL {kl['gauss_half']:.2f} nats, expected (near) collapse"
    assert kl["gauss_0.1"] > 10.0, f"σ_x = 0.1: KL {kl['gauss_0.1']:.2f} nats"
    assert kl["gauss_half"] < kl["vae"] < kl["gauss_0.1"]
    assert err["gauss_half"] > 1.5 * err["vae"] > 1.5 * err["gauss_0.1"], f"squared errors {err}"


def test_prior_samples_of_the_vae_are_digit_like_and_random_codes_of_the_plain_ae_are_not(lecture):
    x_train, x_test = lecture["x_train"], lecture["x_test"]
    vae, ae = lecture["m"]["vae"], lecture["m"]["plain_ae"]

    def realism(images):
        d = lambda v: torch.cdist(v, x_train).min(dim=1).values ** 2  # noqa: E731
        return (d(images).median() / d(x_test).median()).item()

    g = torch.Generator().manual_seed(0)
    z_prior = torch.randn(N_GEN, LATENT, generator=g)
    codes = encode(lambda v: ae.encode(v)[0], x_train)
    z_matched = codes.mean(0) + codes.std(0) * torch.randn(N_GEN, LATENT, generator=g)
    r_vae, r_ae, r_matched = (realism(decode_mean(vae, z_prior)), realism(decode_mean(ae, z_prior)),
                              realism(decode_mean(ae, z_matched)))
    assert r_vae < 1.7, f"VAE prior samples: {r_vae:.2f} × the test digits' distance"
    assert r_ae > 2.5 and r_matched > 1.8, f"plain AE random codes: {r_ae:.2f} (N(0, I)), {r_matched:.2f} (fitted)"
    assert r_matched > r_vae + 0.5


def test_two_d_aggregate_posterior_matches_the_prior(lecture):
    with torch.no_grad():
        mu, logvar = lecture["m"]["vae_2d"].encode(lecture["x_test"])
    total = mu.var(0) + logvar.exp().mean(0)
    assert ((total - 1).abs() < 0.2).all(), f"Var(μ_j) + E[σ_j²] = {total.tolist()}"
    assert (mu.mean(0).abs() < 0.3).all()


def test_posterior_collapse_and_warmup(lecture):
    x = lecture["x_test"]
    counts = {k: active_units(lecture["m"][k], x)[0] for k in ("vae", "beta4", "warmup")}
    kls = {}
    for k in ("vae", "beta4", "warmup"):
        torch.manual_seed(0)
        kls[k] = evaluate(lecture["m"][k], x, vae_step)["kl"]
    assert counts["beta4"] == 0 and kls["beta4"] < 0.05, f"β = 4: {counts['beta4']} active, KL {kls['beta4']:.3f}"
    assert 4 <= counts["vae"] <= 14, f"β = 1: {counts['vae']} active of {LATENT}"
    assert counts["warmup"] >= counts["vae"] + 2, f"warm-up {counts['warmup']} vs {counts['vae']} active units"
    assert kls["warmup"] > kls["vae"], "warm-up keeps more information in the code"
    # broken variant: the variance of *samples* z (not of E_q[z]) counts the collapsed model's units as active
    with torch.no_grad():
        mu, logvar = lecture["m"]["beta4"].encode(x)
        z = reparameterise(mu, logvar)
    assert int((z.var(0) > 0.01).sum()) == LATENT


def test_conditional_vae_generates_the_requested_digit(lecture):
    n_classes, classifier = lecture["n_classes"], lecture["classifier"]
    with torch.no_grad():
        accuracy = (classifier(lecture["x_test"]).argmax(1) == lecture["y_test"]).float().mean().item()
    assert accuracy > 0.85
    wanted = torch.arange(n_classes).repeat_interleave(100)
    z = torch.randn(len(wanted), LATENT, generator=torch.Generator().manual_seed(0))
    made = decode_mean(lecture["m"]["cvae"], z, wanted)
    with torch.no_grad():
        hit = (classifier(made).argmax(1) == wanted).float().mean().item()
        shuffled = decode_mean(lecture["m"]["cvae"], z, (wanted + 1) % n_classes)   # broken: wrong label fed
        miss = (classifier(shuffled).argmax(1) == wanted).float().mean().item()
    assert hit > 0.85, f"{hit:.0%} of generated digits are the requested one"
    assert miss < 0.2, f"with the wrong label {miss:.0%} still match"
