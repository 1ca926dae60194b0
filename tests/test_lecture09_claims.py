"""The numerical claims of lectures/09_jepa_embedding_prediction.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
Conventions (as in the lecture): 4 × 4 patch grid, masks True = hidden, two 2 × 2 target blocks;
JEPA loss = squared error summed over the EMB embedding numbers, averaged over the hidden
(image, patch) pairs, against stop-gradient targets of an EMA target encoder (τ = 0.99); the
representation of an image = its patch embeddings averaged over patches; spread = std over
images, averaged over patches and embedding numbers.
"""
import copy

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from ae_helpers import fit, load_dataset, set_seed
from ae_helpers.models import mlp

GRID, BLOCK, N_BLOCKS = 4, 2, 2
EMB, HIDDEN, TAU = 8, 128, 0.99
BATCH, LR, FAST_EPOCHS = 128, 5e-3, 30


def block_mask(batch_size, grid, block, n_blocks, generator=None):
    lines = torch.arange(grid)
    hidden = torch.zeros(batch_size, grid, grid, dtype=torch.bool)
    for _ in range(n_blocks):
        top = torch.randint(0, grid - block + 1, (batch_size, 1), generator=generator)
        left = torch.randint(0, grid - block + 1, (batch_size, 1), generator=generator)
        hidden |= (((lines >= top) & (lines < top + block))[:, :, None]
                   & ((lines >= left) & (lines < left + block))[:, None, :])
    return hidden.reshape(batch_size, grid * grid)


def embedding_loss(predicted, target, hidden):
    return ((predicted - target) ** 2).sum(dim=-1)[hidden].mean()


@torch.no_grad()
def ema_update(target, online, tau):
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(tau).add_(o, alpha=1 - tau)


def build(image_shape):
    H, W = image_shape
    ph, pw, n = H // GRID, W // GRID, GRID * GRID

    def patchify(x):
        x = x.reshape(len(x), H, W)[:, :GRID * ph, :GRID * pw]
        return x.reshape(len(x), GRID, ph, GRID, pw).permute(0, 1, 3, 2, 4).reshape(len(x), n, ph * pw)

    class PatchEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp([n * ph * pw + n, HIDDEN, n * EMB])

        def forward(self, x, visible=None):
            p = patchify(x)
            if visible is None:
                visible = torch.ones(p.shape[:2], dtype=torch.bool)
            v = visible.to(p.dtype)
            return self.net(torch.cat([(p * v[..., None]).flatten(1), v], dim=1)).reshape(len(x), n, EMB)

    class Predictor(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp([n * EMB + n, HIDDEN, n * EMB])

        def forward(self, context, hidden):
            h = hidden.to(context.dtype)
            return self.net(torch.cat([(context * (1 - h)[..., None]).flatten(1), h], dim=1)).reshape(len(context), n, EMB)

    class JEPA(nn.Module):
        def __init__(self):
            super().__init__()
            self.context_encoder = PatchEncoder()
            self.predictor = Predictor()
            self.target_encoder = copy.deepcopy(self.context_encoder).requires_grad_(False)

    return JEPA


def train(JEPA, x_train, stop_gradient=True, update_target=True):
    set_seed(0)
    model = JEPA()
    gen = torch.Generator().manual_seed(0)

    def step(m, batch):
        hidden = block_mask(len(batch), GRID, BLOCK, N_BLOCKS, gen)
        context = m.context_encoder(batch, visible=~hidden)
        if stop_gradient:
            with torch.no_grad():
                target = m.target_encoder(batch)
        else:
            target = m.context_encoder(batch)
        return embedding_loss(m.predictor(context, hidden), target, hidden)

    def after_step(m):
        if stop_gradient and update_target:
            ema_update(m.target_encoder, m.context_encoder, TAU)

    history = fit(model, x_train, step, epochs=100, fast_epochs=FAST_EPOCHS, batch_size=BATCH, lr=LR,
                  after_step=after_step, progress=False)
    return model, history


def spread(encoder, x):
    with torch.no_grad():
        return encoder(x).std(dim=0).mean().item()


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    data = load_dataset("mnist")          # falls back to the 8×8 digits in fast mode
    x_train, x_test, y_train, y_test = data.x_train, data.x_test, data.y_train, data.y_test
    JEPA = build(data.image_shape)

    def probe(encode):
        with torch.no_grad():
            z_train, z_test = encode(x_train), encode(x_test)
        mean, std = z_train.mean(dim=0), z_train.std(dim=0) + 1e-6
        clf = LogisticRegression(max_iter=2000).fit(((z_train - mean) / std).numpy(), y_train.numpy())
        return clf.score(((z_test - mean) / std).numpy(), y_test.numpy())

    set_seed(0)
    random_jepa = JEPA()
    jepa, jepa_history = train(JEPA, x_train)
    naive, naive_history = train(JEPA, x_train, stop_gradient=False)
    frozen, _ = train(JEPA, x_train, update_target=False)       # broken variant: the EMA update is missing
    set_seed(0)
    D = data.n_pixels
    ae = nn.Sequential(mlp([D, HIDDEN, EMB]), mlp([EMB, HIDDEN, D]))
    fit(ae, x_train, lambda m, b: ((m(b.reshape(len(b), -1)) - b.reshape(len(b), -1)) ** 2).sum(dim=1).mean(),
        epochs=100, fast_epochs=FAST_EPOCHS, batch_size=BATCH, lr=LR, progress=False)
    x256 = x_test[:256]
    return {
        "spread": {"init": spread(random_jepa.target_encoder, x256), "jepa": spread(jepa.target_encoder, x256),
                   "naive": spread(naive.context_encoder, x256)},
        "loss": {"jepa": jepa_history.train_loss[-1], "naive": naive_history.train_loss[-1]},
        "acc": {"pixels": probe(lambda x: x.reshape(len(x), -1)),
                "random": probe(lambda x: random_jepa.target_encoder(x).mean(dim=1)),
                "jepa": probe(lambda x: jepa.target_encoder(x).mean(dim=1)),
                "naive": probe(lambda x: naive.context_encoder(x).mean(dim=1)),
                "frozen": probe(lambda x: frozen.target_encoder(x).mean(dim=1)),
                "ae": probe(lambda x: ae[0](x.reshape(len(x), -1)))},
    }


def test_block_masks_hide_squares_and_leave_context():
    m = block_mask(500, GRID, BLOCK, N_BLOCKS, torch.Generator().manual_seed(0))
    counts = m.sum(dim=1)
    assert m.shape == (500, 16) and m.dtype == torch.bool
    assert counts.min() >= 4 and counts.max() <= 8 and (~m).any(dim=1).all()
    one = block_mask(100, GRID, BLOCK, 1, torch.Generator().manual_seed(1)).reshape(100, 4, 4)
    assert (one.sum(dim=(1, 2)) == 4).all() and (one.any(dim=2).sum(dim=1) == 2).all()


def test_loss_convention_sum_over_embedding_mean_over_hidden_pairs():
    pred = torch.tensor([[[1.0, 1.0], [5.0, 5.0], [3.0, 0.0]]])
    hidden = torch.tensor([[True, False, True]])
    assert embedding_loss(pred, torch.zeros(1, 3, 2), hidden).item() == pytest.approx((2 + 9) / 2)


def test_embeddings_collapse_without_ema_and_stop_gradient(lecture):
    s, loss = lecture["spread"], lecture["loss"]
    assert s["jepa"] > 0.5 * s["init"], f"EMA JEPA spread {s['jepa']:.4f} vs {s['init']:.4f} at init"
    assert s["naive"] < 0.01 * s["init"], f"no stop-gradient: spread {s['naive']:.6f} vs {s['init']:.4f} at init"
    assert s["jepa"] > 100 * s["naive"], f"spread ratio only {s['jepa'] / s['naive']:.0f}"
    assert loss["naive"] < 0.01 * loss["jepa"], f"losses: naive {loss['naive']:.2e}, JEPA {loss['jepa']:.2e}"


def test_jepa_probe_beats_random_encoder(lecture):
    acc = lecture["acc"]
    assert acc["jepa"] >= acc["random"] + 0.05, f"JEPA {acc['jepa']:.1%} vs random {acc['random']:.1%}"


def test_broken_variants_do_not_beat_random_encoder(lecture):
    acc = lecture["acc"]
    # no EMA update: the probed target encoder is the random encoder
    assert acc["frozen"] < acc["random"] + 0.05, f"frozen target {acc['frozen']:.1%} vs random {acc['random']:.1%}"
    # no stop-gradient: collapsed embeddings are near chance, far below the random encoder
    assert acc["naive"] < acc["random"] - 0.2, f"collapsed {acc['naive']:.1%} vs random {acc['random']:.1%}"


def test_pixel_level_baselines_win_at_course_scale(lecture):
    acc = lecture["acc"]
    assert acc["pixels"] > acc["jepa"] and acc["ae"] > acc["jepa"], acc
