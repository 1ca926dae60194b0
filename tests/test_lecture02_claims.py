"""The numerical claims of lectures/02_deep_autoencoders.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
models, data and training settings are the lecture's, so a change there that breaks a claim
fails here. Each claim is checked against a baseline that a broken lecture would not beat
(PCA, raw pixels, chance, the same network without pretraining).
"""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ae_helpers import encode, fit, load_dataset, reconstruct, set_seed
from ae_helpers.models import mlp

BATCH = 128
HIDDEN = 128
FAST_STEPS = 400            # the lecture's fast-mode optimiser steps per autoencoder
CODE_SIZES = (2, 4, 32)
K_NEIGHBOURS = 9
ANOMALIES = (3, 9)
D_ANOMALY = 4
N_PER_CLASS = 10
CLS_STEPS = 100
DRAWS = 3


def per_image_error(x, x_hat):
    """The lecture's convention: squared error summed over pixels, one number per image."""
    return ((x - x_hat) ** 2).sum(dim=1)


def reconstruction_error(x, x_hat):
    """… averaged over images."""
    return per_image_error(x, x_hat).mean()


def ae_step(model, batch):
    return reconstruction_error(batch, model(batch))


def epochs_for(steps, n_items):
    return max(1, math.ceil(steps * BATCH / n_items))


def mlp_autoencoder(d, D):
    return nn.Sequential(mlp([D, HIDDEN, d]), mlp([d, HIDDEN, D], out_activation=nn.Sigmoid()))


def train_autoencoder(d, x):
    set_seed(0)
    model = mlp_autoencoder(d, x.shape[1])
    fit(model, x, ae_step, epochs=epochs_for(6000, len(x)), fast_epochs=epochs_for(FAST_STEPS, len(x)),
        batch_size=BATCH, progress=False)
    return model


def pca(x_fit):
    mean = x_fit.mean(dim=0)
    vh = torch.linalg.svd(x_fit - mean, full_matrices=False).Vh
    return mean, vh


def knn_accuracy(train_codes, y_train, test_codes, y_test, k=K_NEIGHBOURS):
    nearest = torch.cdist(test_codes, train_codes).topk(k, largest=False).indices
    return (torch.mode(y_train[nearest], dim=1).values == y_test).float().mean().item()


def roc_auc(scores, positive):
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    greater = (pos[:, None] > neg[None, :]).float().mean()
    ties = (pos[:, None] == neg[None, :]).float().mean()
    return (greater + 0.5 * ties).item()


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    """What the lecture trains, in fast mode, with an empty data folder (no downloads)."""
    data = load_dataset("mnist")          # falls back to the 8×8 digits, as in the lecture
    x_train = data.flat("train")
    aes = {d: train_autoencoder(d, x_train) for d in CODE_SIZES}

    normal_idx = torch.nonzero(~torch.isin(data.y_train, torch.tensor(ANOMALIES))).flatten()
    normal_idx = normal_idx[torch.randperm(len(normal_idx), generator=torch.Generator().manual_seed(0))]
    n_val = len(normal_idx) // 5
    x_normal_val, x_normal_fit = x_train[normal_idx[:n_val]], x_train[normal_idx[n_val:]]
    normal_ae = train_autoencoder(D_ANOMALY, x_normal_fit)
    return {"data": data, "aes": aes, "normal_ae": normal_ae, "x_normal_fit": x_normal_fit,
            "x_normal_val": x_normal_val}


def test_loss_convention_sums_over_pixels_and_averages_over_images():
    x = torch.zeros(3, 64)
    x_hat = torch.zeros(3, 64)
    x_hat[0] = 0.5                             # one image off by 0.5 in all 64 pixels
    assert per_image_error(x, x_hat).tolist() == [16.0, 0.0, 0.0]
    assert reconstruction_error(x, x_hat).item() == pytest.approx(16.0 / 3)


def test_the_lecture_runs_on_the_digits_fallback(lecture):
    data = lecture["data"]
    assert data.image_shape == (8, 8) and len(data.x_train) == 1000 and len(data.x_test) == 300


def test_deep_autoencoder_beats_pca_at_small_code_size(lecture):
    data, aes = lecture["data"], lecture["aes"]
    x_train, x_test = data.flat("train"), data.flat("test")
    mean, vh = pca(x_train)
    ratios = {}
    for d in (2, 4):
        ae = reconstruction_error(x_test, reconstruct(aes[d], x_test)).item()
        w = vh[:d].T
        linear = reconstruction_error(x_test, mean + (x_test - mean) @ w @ w.T).item()
        ratios[d] = ae / linear
    assert ratios[2] < 0.85, f"deep AE / PCA test error at d = 2 is {ratios[2]:.2f}"
    assert ratios[4] < 0.80, f"deep AE / PCA test error at d = 4 is {ratios[4]:.2f}"


def test_large_code_reconstructs_almost_perfectly(lecture):
    data, aes = lecture["data"], lecture["aes"]
    x_test = data.flat("test")
    errors = {d: reconstruction_error(x_test, reconstruct(aes[d], x_test)).item() for d in CODE_SIZES}
    assert errors[2] > errors[4] > errors[32], f"error should fall with d: {errors}"
    assert errors[32] < 0.25 * errors[2], f"d = 32 error {errors[32]:.3f} vs d = 2 {errors[2]:.3f}"


def test_knn_in_a_4d_latent_space_is_close_to_raw_pixels(lecture):
    data, ae = lecture["data"], lecture["aes"][4]
    x_train, x_test = data.flat("train"), data.flat("test")
    latent = knn_accuracy(encode(ae[0], x_train), data.y_train, encode(ae[0], x_test), data.y_test)
    pixels = knn_accuracy(x_train, data.y_train, x_test, data.y_test)
    mean, vh = pca(x_train)
    linear = knn_accuracy((x_train - mean) @ vh[:4].T, data.y_train, (x_test - mean) @ vh[:4].T, data.y_test)
    assert latent >= 0.85, f"kNN accuracy on 4-number codes is {latent:.1%}"
    assert latent >= pixels - 0.10, f"latent {latent:.1%} vs raw pixels {pixels:.1%}"
    assert latent >= linear + 0.02, f"latent {latent:.1%} vs 4 PCA coordinates {linear:.1%}"


def test_reconstruction_error_detects_held_out_digits(lecture):
    data, model = lecture["data"], lecture["normal_ae"]
    x_test = data.flat("test")
    is_anomaly = torch.isin(data.y_test, torch.tensor(ANOMALIES))
    scores = per_image_error(x_test, reconstruct(model, x_test))
    auc = roc_auc(scores, is_anomaly)
    mean, vh = pca(lecture["x_normal_fit"])
    w = vh[:D_ANOMALY].T
    linear_auc = roc_auc(per_image_error(x_test, mean + (x_test - mean) @ w @ w.T), is_anomaly)
    assert auc >= 0.85, f"ROC AUC of the reconstruction error is {auc:.3f}"
    assert auc >= linear_auc + 0.10, f"deep AE AUC {auc:.3f} vs PCA {linear_auc:.3f}"

    x_val = lecture["x_normal_val"]
    val = per_image_error(x_val, reconstruct(model, x_val))
    threshold = torch.quantile(val, 0.95)
    fpr = (scores[~is_anomaly] > threshold).float().mean().item()
    tpr = (scores[is_anomaly] > threshold).float().mean().item()
    assert fpr <= 0.10, f"a threshold at 5 % validation FPR flags {fpr:.1%} of normal test images"
    assert tpr >= 3 * fpr + 0.1, f"it flags {tpr:.1%} of anomalies and {fpr:.1%} of normal images"


def test_normalised_score_is_monotone_and_leaves_the_auc_alone():
    scores = torch.tensor([0.5, 2.0, 1.0, 4.0, 3.0])
    positive = torch.tensor([False, True, False, True, False])
    r_min, r_max = 0.5, 2.0                    # from normal validation errors
    s_a = (scores - r_min) / r_max
    assert torch.equal(torch.argsort(s_a), torch.argsort(scores))
    assert roc_auc(s_a, positive) == roc_auc(scores, positive)


def test_random_codes_fall_into_holes(lecture):
    data, aes = lecture["data"], lecture["aes"]
    gen = torch.Generator().manual_seed(0)
    for d in CODE_SIZES:
        train_codes = encode(aes[d][0], data.flat("train"))
        test_codes = encode(aes[d][0], data.flat("test"))
        low, high = train_codes.min(0).values, train_codes.max(0).values
        uniform = low + (high - low) * torch.rand(500, d, generator=gen)
        base = torch.cdist(test_codes, train_codes).min(dim=1).values.median()
        far = torch.cdist(uniform, train_codes).min(dim=1).values.median()
        assert far > 1.8 * base, f"d = {d}: uniform codes only {far / base:.1f}× farther than test codes"


def test_pretrained_encoder_beats_training_from_scratch(lecture):
    data, ae = lecture["data"], lecture["aes"][32]
    x_train, y_train = data.flat("train"), data.y_train
    x_test, y_test = data.flat("test"), data.y_test

    def cls_step(model, batch):
        return F.cross_entropy(model(batch[0]), batch[1])

    accuracy = {"pretrained": [], "scratch": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AE_FAST", "1")
        for draw in range(DRAWS):
            gen = torch.Generator().manual_seed(draw)
            labelled = torch.cat([torch.nonzero(y_train == c).flatten()[
                torch.randperm(int((y_train == c).sum()), generator=gen)[:N_PER_CLASS]] for c in range(data.n_classes)])
            x_few, y_few = x_train[labelled], y_train[labelled]
            for name in accuracy:
                set_seed(1)
                encoder = copy.deepcopy(ae[0]) if name == "pretrained" else mlp([data.n_pixels, HIDDEN, 32])
                model = nn.Sequential(encoder, mlp([32, 32, data.n_classes]))
                fit(model, (x_few, y_few), cls_step, epochs=CLS_STEPS, fast_epochs=CLS_STEPS,
                    batch_size=len(x_few), progress=False)
                accuracy[name].append((encode(model, x_test).argmax(dim=1) == y_test).float().mean().item())
    pretrained, scratch = torch.tensor(accuracy["pretrained"]), torch.tensor(accuracy["scratch"])
    assert pretrained.mean() >= 0.80, f"pretrained classifier: {accuracy['pretrained']}"
    assert (pretrained >= scratch).all(), f"pretrained should win every draw: {accuracy}"
    assert pretrained.mean() >= scratch.mean() + 0.02, f"pretrained vs scratch: {accuracy}"
