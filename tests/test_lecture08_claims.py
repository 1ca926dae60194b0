"""The numerical claims of lectures/08_siamese_networks.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture): pair label y = 1 for a similar pair; contrastive loss
y·d² + (1 − y)·max(0, m − d)² with the Euclidean distance d, averaged over pairs, no factor ½;
verification score −d, AUC over every pair of the evaluation images.
"""
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ae_helpers import encode, fit, load_dataset, set_seed
from ae_helpers.models import mlp

MARGIN = 2.0
EMBED, FACE_EMBED = 8, 16
SEEN = torch.arange(7)


def make_pairs(labels, n_pairs, generator):
    n_similar = n_pairs // 2
    similar = torch.arange(n_pairs) < n_similar
    i = torch.randint(len(labels), (n_pairs,), generator=generator)
    same = labels[i][:, None] == labels[None, :]
    allowed = torch.where(similar[:, None], same, ~same)
    allowed[torch.arange(n_pairs), i] = False
    j = torch.multinomial(allowed.float(), 1, generator=generator).squeeze(1)
    return i, j, similar.float()


def contrastive_loss(z1, z2, y, margin=1.0):
    d2 = ((z1 - z2) ** 2).sum(dim=1)
    d = d2.clamp_min(1e-12).sqrt()
    return (y * d2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2).mean()


def triplet_loss(za, zp, zn, margin=1.0):
    return torch.clamp(((za - zp) ** 2).sum(dim=1) - ((za - zn) ** 2).sum(dim=1) + margin, min=0).mean()


def siamese_step(model, batch):
    xa, xb, y = batch
    return contrastive_loss(model(xa), model(xb), y, margin=MARGIN)


def flipped_step(model, batch):
    """The broken variant: the pair labels read the wrong way round (y = 1 taken as dissimilar)."""
    xa, xb, y = batch
    return contrastive_loss(model(xa), model(xb), 1 - y, margin=MARGIN)


def train_siamese(x, labels, embed, step=siamese_step, seed=0):
    i, j, y = make_pairs(labels, 6 * len(labels), torch.Generator().manual_seed(seed))
    set_seed(seed)
    model = mlp([x.shape[1], 128, embed])
    fit(model, (x[i], x[j], y), step, epochs=20, fast_epochs=8, batch_size=128, lr=3e-3, progress=False)
    return model


def fit_pca(x, k):
    mean = x.mean(dim=0)
    components = torch.linalg.svd(x - mean, full_matrices=False)[2][:k]
    return lambda v: (v - mean) @ components.T


def train_autoencoder(x, embed, seed=0):
    set_seed(seed)
    encoder = mlp([x.shape[1], 128, embed])
    model = torch.nn.Sequential(encoder, mlp([embed, 128, x.shape[1]], out_activation=torch.nn.Sigmoid()))
    fit(model, x, lambda m, batch: ((m(batch) - batch) ** 2).sum(dim=1).mean(),
        epochs=50, fast_epochs=30, batch_size=128, lr=3e-3, progress=False)
    return encoder


def pair_scores(z, labels):
    a, b = torch.triu_indices(len(z), len(z), offset=1)
    return -torch.linalg.vector_norm(z[a] - z[b], dim=1), labels[a] == labels[b]


def auc(f, x, labels):
    score, same = pair_scores(encode(f, x), labels)
    return roc_auc_score(same.numpy(), score.numpy())


def precision_at_k(z, labels, k):
    dist = torch.cdist(z, z)
    dist.fill_diagonal_(float("inf"))
    return float((labels[dist.topk(k, dim=1, largest=False).indices] == labels[:, None]).float().mean())


def pixels(v):
    return v


@pytest.fixture(scope="module")
def digits(fast_module_env):
    data = load_dataset("mnist")              # the 8×8 digits in fast mode
    x_tr, y_tr, x_te, y_te = data.flat("train"), data.y_train, data.flat("test"), data.y_test
    seen_tr, seen_te = torch.isin(y_tr, SEEN), torch.isin(y_te, SEEN)
    x_all, y_all = torch.cat([x_tr, x_te]), torch.cat([y_tr, y_te])
    unseen = ~torch.isin(y_all, SEEN)
    x_seen, y_seen = x_tr[seen_tr], y_tr[seen_tr]
    evals = {"seen": (x_te[seen_te], y_te[seen_te]), "unseen": (x_all[unseen], y_all[unseen])}
    models = {"pixels": pixels, "pca": fit_pca(x_seen, EMBED), "ae": train_autoencoder(x_seen, EMBED),
              "siamese": train_siamese(x_seen, y_seen, EMBED)}
    aucs = {(name, split): auc(f, *evals[split]) for name, f in models.items() for split in evals}
    return {"y_seen": y_seen, "aucs": aucs}


@pytest.fixture(scope="module")
def faces(fast_module_env):
    data = load_dataset("faces")              # lfw_subset with generated views in fast mode
    pool = max(1, data.image_shape[0] // 32)
    x = F.avg_pool2d(torch.cat([data.x_train, data.x_test])[:, None], pool).flatten(1)
    y = torch.cat([data.y_train, data.y_test])
    known = y < int(0.7 * data.n_classes)
    x_known, y_known, x_new, y_new = x[known], y[known], x[~known], y[~known]
    models = {"pixels": pixels, "pca": fit_pca(x_known, FACE_EMBED), "ae": train_autoencoder(x_known, FACE_EMBED),
              "siamese": train_siamese(x_known, y_known, FACE_EMBED)}
    # triplets as in the lecture: anchors and positives of similar pairs, negatives of another label
    n = 3 * len(y_known)
    g = torch.Generator().manual_seed(0)
    i, j, _ = make_pairs(y_known, 2 * n, g)
    negatives = torch.multinomial((~(y_known[i[:n]][:, None] == y_known[None, :])).float(), 1, generator=g).squeeze(1)
    set_seed(0)
    triplet = mlp([x_known.shape[1], 128, FACE_EMBED])
    fit(triplet, (x_known[i[:n]], x_known[j[:n]], x_known[negatives]),
        lambda m, b: triplet_loss(m(b[0]), m(b[1]), m(b[2]), margin=1.0),
        epochs=20, fast_epochs=8, batch_size=128, lr=3e-3, progress=False)
    models["triplet"] = triplet
    aucs = {name: auc(f, x_new, y_new) for name, f in models.items()}
    return {"x_new": x_new, "y_new": y_new, "models": models, "aucs": aucs, "x_known": x_known, "y_known": y_known}


def test_contrastive_loss_convention():
    zero = torch.zeros(1, 2)
    at = lambda d: torch.tensor([[d, 0.0]])                       # noqa: E731
    assert contrastive_loss(zero, zero, torch.ones(1), MARGIN).item() == 0.0           # coincident similar pair
    assert contrastive_loss(zero, at(2.5), torch.zeros(1), MARGIN).item() == 0.0       # dissimilar beyond the margin
    assert contrastive_loss(zero, at(0.5), torch.zeros(1), MARGIN).item() == pytest.approx(1.5 ** 2)
    assert contrastive_loss(zero, at(3.0), torch.ones(1), MARGIN).item() == pytest.approx(9.0)   # no factor 1/2
    both = contrastive_loss(torch.zeros(2, 2), torch.tensor([[3.0, 0.0], [0.5, 0.0]]), torch.tensor([1.0, 0.0]), MARGIN)
    assert both.item() == pytest.approx((9.0 + 2.25) / 2)                               # mean over pairs
    z = torch.zeros(1, 2, requires_grad=True)
    contrastive_loss(z, torch.zeros(1, 2), torch.ones(1), MARGIN).backward()
    assert torch.isfinite(z.grad).all()


def test_pairs_are_balanced_and_random_pairs_are_not(digits):
    y_seen = digits["y_seen"]
    i, j, y = make_pairs(y_seen, 6 * len(y_seen), torch.Generator().manual_seed(0))
    assert int(y.sum()) == len(y) // 2 and bool((i != j).all())
    assert torch.equal(y, (y_seen[i] == y_seen[j]).float())
    a, b = torch.randint(len(y_seen), (2, 100_000), generator=torch.Generator().manual_seed(1))
    assert 0.10 < float((y_seen[a] == y_seen[b]).float().mean()) < 0.20


def test_siamese_is_near_perfect_on_new_images_of_seen_classes(digits):
    aucs = digits["aucs"]
    assert aucs["siamese", "seen"] > 0.98, aucs
    assert aucs["siamese", "seen"] > max(aucs[m, "seen"] for m in ("pixels", "pca", "ae")) + 0.04, aucs


def test_siamese_on_seven_digit_classes_does_not_transfer_to_unseen_digits(digits):
    aucs = digits["aucs"]
    assert 0.6 < aucs["siamese", "unseen"] < aucs["pixels", "unseen"] - 0.04, aucs
    assert aucs["siamese", "unseen"] < aucs["siamese", "seen"] - 0.15, aucs
    assert min(aucs["pca", "unseen"], aucs["ae", "unseen"]) > aucs["siamese", "unseen"], aucs


def test_siamese_verifies_new_people_better_than_pixels_pca_and_ae(faces):
    aucs = faces["aucs"]
    assert aucs["siamese"] > 0.98, aucs
    assert aucs["siamese"] > max(aucs["pixels"], aucs["pca"], aucs["ae"]) + 0.02, aucs
    assert 0.9 < aucs["pixels"] < 0.96, aucs


def test_triplet_loss_nearly_matches_contrastive(faces):
    aucs = faces["aucs"]
    assert aucs["triplet"] > 0.96 and aucs["triplet"] > aucs["pixels"] + 0.02, aucs
    assert aucs["triplet"] <= aucs["siamese"] + 0.005, aucs


def test_threshold_at_target_false_accept_rates(faces):
    score, same = pair_scores(encode(faces["models"]["siamese"], faces["x_new"]), faces["y_new"])
    dist = -score
    rates = {}
    for target in (0.01, 0.05):
        tau = torch.quantile(dist[~same], target)
        rates[target] = (float((dist[~same] < tau).float().mean()), float((dist[same] < tau).float().mean()))
        assert rates[target][0] <= target + 1e-3
    assert rates[0.01][1] > 0.8 and rates[0.05][1] > rates[0.01][1] + 0.03, rates


def test_precision_at_4_rises_from_pixels_to_siamese(faces):
    x_new, y_new = faces["x_new"], faces["y_new"]
    p_pixels = precision_at_k(x_new, y_new, 4)
    p_siamese = precision_at_k(encode(faces["models"]["siamese"], x_new), y_new, 4)
    assert p_siamese > 0.85 and p_siamese > p_pixels + 0.08, (p_pixels, p_siamese)


def test_cosine_of_centred_pixels_beats_euclidean_on_faces(faces):
    x, y = faces["x_new"], faces["y_new"]
    a, b = torch.triu_indices(len(x), len(x), offset=1)
    same = (y[a] == y[b]).numpy()
    xc = x - x.mean(dim=0)
    cos_centred = roc_auc_score(same, F.cosine_similarity(xc[a], xc[b], dim=1).numpy())
    cos_raw = roc_auc_score(same, F.cosine_similarity(x[a], x[b], dim=1).numpy())
    assert cos_centred > faces["aucs"]["pixels"] + 0.02, (cos_centred, faces["aucs"]["pixels"])
    assert abs(cos_raw - faces["aucs"]["pixels"]) < 0.02, (cos_raw, faces["aucs"]["pixels"])
    z = encode(faces["models"]["siamese"], x)
    cos_siamese = roc_auc_score(same, F.cosine_similarity(z[a], z[b], dim=1).numpy())
    assert faces["aucs"]["siamese"] - 0.02 < cos_siamese <= faces["aucs"]["siamese"], cos_siamese


def test_broken_variant_with_flipped_pair_labels_fails_the_claim(faces):
    broken = train_siamese(faces["x_known"], faces["y_known"], FACE_EMBED, step=flipped_step)
    value = auc(broken, faces["x_new"], faces["y_new"])
    # the claim (> 0.98, above pixels) fails by far: such a network is worse than raw pixels
    assert value < 0.8 and value < faces["aucs"]["pixels"] - 0.1, (value, faces["aucs"]["pixels"])
