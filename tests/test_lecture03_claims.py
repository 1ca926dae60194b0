"""The numerical claims of lectures/03_sparse_autoencoders.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture): reconstruction error summed over pixels, averaged over images;
KL(ρ‖ρ̂_j) of Bernoulli variables in nats, target first, ρ̂_j the mini-batch mean of sigmoid
unit j, summed over the hidden units and weighted by β.
"""
import pytest
import torch
from torch import nn

from ae_helpers import encode, fit, load_dataset, reconstruct, set_seed
from ae_helpers.models import mlp

FAST_EPOCHS, BATCH, LR = 50, 200, 1e-2
RHO = 0.05          # target average activation
BETA = 1.0          # KL penalty weight the lecture looks at in detail
LAMBDA_L1 = 0.1     # L1 penalty weight
ACTIVE = 2 * RHO    # a sigmoid unit is active on an input when h > 0.1


def reconstruction_error(x, x_hat):
    return ((x - x_hat) ** 2).sum(dim=1).mean()


def kl_bernoulli(rho, rho_hat, eps=1e-6):
    rho_hat = rho_hat.clamp(eps, 1 - eps)
    return rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))


def kl_sparse_step(beta):
    def step(model, batch):
        h = model[:2](batch)
        rec = reconstruction_error(batch, model[2:](h))
        return rec + beta * kl_bernoulli(RHO, h.mean(dim=0)).sum()
    return step


def l1_step(model, batch):
    h = model[:2](batch)
    return reconstruction_error(batch, model[2:](h)) + LAMBDA_L1 * h.abs().sum(dim=1).mean()


def plain_step(model, batch):
    return reconstruction_error(batch, model(batch))


def sigmoid_ae(D, H):
    model = mlp([D, H, D], activation=nn.Sigmoid)
    with torch.no_grad():
        model[0].bias.fill_(float(torch.logit(torch.tensor(RHO))))
    return model


def noise_passed(model, x, sigma=0.1, seed=1):
    delta = sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    out = reconstruct(model, x + delta) - reconstruct(model, x)
    return ((out ** 2).sum() / (delta ** 2).sum()).item()


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    """What the lecture trains, in fast mode, with an empty data folder (no downloads)."""
    data = load_dataset("mnist")          # falls back to the 8×8 digits in fast mode
    x_train, x_test = data.flat("train"), data.flat("test")
    D = data.n_pixels
    H = 2 * D
    epochs = max(10, round(3000 * BATCH / len(x_train)))
    settings = dict(epochs=epochs, fast_epochs=FAST_EPOCHS, batch_size=BATCH, lr=LR, progress=False)
    models = {"under": mlp([D, D // 4, D]), "over": mlp([D, H, D])}
    for model in models.values():
        fit(model, x_train, plain_step, **settings)
    models["l1"] = mlp([D, H, D])
    fit(models["l1"], x_train, l1_step, **settings)
    for beta in (0.0, BETA):
        models[beta] = sigmoid_ae(D, H)
        fit(models[beta], x_train, kl_sparse_step(beta), **settings)
    total_var = ((x_test - x_test.mean(dim=0)) ** 2).sum(dim=1).mean()
    errors = {k: (reconstruction_error(x_test, reconstruct(m, x_test)) / total_var).item() for k, m in models.items()}
    codes = {k: encode(m[:2], x_test) for k, m in models.items()}
    return {"x_test": x_test, "models": models, "errors": errors, "codes": codes, "D": D}


def test_overcomplete_autoencoder_copies_noise(lecture):
    x, models = lecture["x_test"], lecture["models"]
    assert lecture["errors"]["over"] < 0.03, f"overcomplete test error {lecture['errors']['over']:.2%} of the variance"
    over, under = noise_passed(models["over"], x), noise_passed(models["under"], x)
    assert over > 0.6, f"the overcomplete AE passes only {over:.0%} of the added noise"
    assert under < 0.25, f"the undercomplete AE passes {under:.0%} of the added noise"


def test_overcomplete_jacobian_is_identity_on_many_directions(lecture):
    x, D = lecture["x_test"][:10], lecture["D"]
    counts = {}
    for name in ("over", "under"):
        model = lecture["models"][name].cpu()
        jacobians = [torch.autograd.functional.jacobian(model, xi, vectorize=True) for xi in x]
        sv = torch.stack([torch.linalg.svdvals(j) for j in jacobians])
        counts[name] = ((sv - 1).abs() < 0.1).float().sum(dim=1).mean().item()
    assert counts["over"] > 0.35 * D, f"only {counts['over']:.0f} of {D} singular values near 1"
    assert counts["under"] < D // 4, f"{counts['under']:.0f} singular values near 1 for a rank-{D // 4} map"


def test_kl_penalty_is_zero_at_the_target_and_positive_elsewhere():
    assert kl_bernoulli(RHO, torch.tensor(RHO)).abs().item() < 1e-7
    q = torch.linspace(0.001, 0.999, 999)
    q = q[(q - RHO).abs() > 1e-3]
    assert (kl_bernoulli(RHO, q) > 0).all()
    # the direction: KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂)), in nats, the target first
    reference = torch.distributions.kl_divergence(torch.distributions.Bernoulli(probs=torch.full_like(q, RHO)),
                                                  torch.distributions.Bernoulli(probs=q))
    assert torch.allclose(kl_bernoulli(RHO, q), reference, atol=1e-5)
    assert kl_bernoulli(RHO, torch.tensor(0.5)).item() == pytest.approx(0.4946, abs=1e-3)


def test_kl_penalty_pulls_the_average_activation_to_the_target(lecture):
    free, sparse = lecture["codes"][0.0].mean(dim=0), lecture["codes"][BETA].mean(dim=0)
    assert abs(sparse.mean().item() - RHO) < 0.01, f"mean ρ̂ = {sparse.mean():.4f} with β = {BETA}, target {RHO}"
    assert sparse.std().item() < 0.01, f"ρ̂_j spread over units {sparse.std():.4f}"
    assert free.mean().item() > 3 * RHO, f"without the penalty mean ρ̂ = {free.mean():.4f}: too close to the target"


def test_fewer_units_are_active_with_a_penalty(lecture):
    codes = lecture["codes"]
    kl_free, kl_sparse = ((codes[k] > ACTIVE).float().mean().item() for k in (0.0, BETA))
    assert kl_sparse < 0.2 and kl_sparse < kl_free / 3, f"active units: {kl_free:.1%} → {kl_sparse:.1%} with KL"
    l1_free, l1_sparse = ((codes[k] > 0).float().mean().item() for k in ("over", "l1"))
    assert l1_sparse < l1_free / 2, f"non-zero ReLU units: {l1_free:.1%} → {l1_sparse:.1%} with L1"


def test_sparsity_costs_reconstruction_error(lecture):
    e = lecture["errors"]
    assert e[BETA] > 1.5 * e[0.0], f"KL: error {e[0.0]:.2%} → {e[BETA]:.2%}"
    assert e["l1"] > 1.5 * e["over"], f"L1: error {e['over']:.2%} → {e['l1']:.2%}"
    assert e[BETA] < 0.3, f"the KL-sparse AE should still reconstruct (error {e[BETA]:.2%} of the variance)"


def test_max_activating_input_is_the_normalised_weight(lecture):
    layer = lecture["models"][BETA][0]
    w, b = layer.weight.detach().cpu(), layer.bias.detach().cpu()
    at_star = (w / w.norm(dim=1, keepdim=True) * w).sum(dim=1) + b
    assert torch.allclose(at_star, w.norm(dim=1) + b, atol=1e-5)
    unit_digits = nn.functional.normalize(lecture["x_test"], dim=1)
    assert (at_star >= (unit_digits @ w.T + b).max(dim=0).values - 1e-5).all()


def mean_max_cosine(dictionary, true_features):
    cos = nn.functional.normalize(true_features, dim=1) @ nn.functional.normalize(dictionary, dim=1).T
    return cos.abs().max(dim=1).values.mean().item()


def test_sparse_dictionary_recovers_features_in_superposition(monkeypatch):
    monkeypatch.setenv("AE_FAST", "1")
    d, m, n = 20, 40, 4000
    g = torch.Generator().manual_seed(3)
    features = nn.functional.normalize(torch.randn(m, d, generator=g), dim=1)
    strengths = (torch.rand(n, m, generator=g) < 0.05) * torch.rand(n, m, generator=g)
    activations = strengths @ features

    def unit_columns(model):
        with torch.no_grad():
            model[2].weight.div_(model[2].weight.norm(dim=0, keepdim=True))

    found = {}
    for alpha in (0.0, 0.3):
        set_seed(0)
        sae = mlp([d, 2 * m, d])
        unit_columns(sae)
        step = (lambda a: lambda model, batch: reconstruction_error(batch, model(batch))
                + a * model[:2](batch).abs().sum(dim=1).mean())(alpha)
        fit(sae, activations, step, epochs=20, fast_epochs=20, batch_size=200, lr=3e-3,
            after_step=unit_columns, progress=False)
        found[alpha] = mean_max_cosine(sae[2].weight.detach().cpu().T, features)
    pca = mean_max_cosine(torch.linalg.svd(activations - activations.mean(dim=0), full_matrices=False).Vh, features)
    assert found[0.3] > 0.75, f"the sparse dictionary's mean max |cosine| is {found[0.3]:.2f}"
    assert found[0.3] > pca + 0.15 and found[0.3] > found[0.0] + 0.15, (
        f"sparse {found[0.3]:.2f} vs PCA {pca:.2f} and no penalty {found[0.0]:.2f}")
