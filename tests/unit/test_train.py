"""ae_helpers.train: fit, History, evaluate, apply_in_batches, reconstruct_in_batches, get_device,
set_fast_mode_threads; and that none of them changes a global setting of torch unasked.

Conventions pinned here: error messages count epochs from 1 and steps within an epoch from 0
(the first batch of the second epoch is "epoch 2, step 0").
"""
from __future__ import annotations

import math
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ae_helpers
from ae_helpers import config, train
from ae_helpers.data import load_dataset
from ae_helpers.models import mlp
from ae_helpers.train import (History, apply_in_batches, evaluate, fit, get_device, reconstruct_in_batches,
                              set_fast_mode_threads)

PACKAGE_DIR = str(Path(ae_helpers.__file__).resolve().parent)


def mse(model, batch):
    return ((model(batch) - batch) ** 2).mean()


def tiny_ae(d: int = 16, k: int = 4, seed: int = 0) -> nn.Module:
    config.set_seed(seed)
    return mlp([d, k, d])


def toy_x(n: int = 40, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def names_epoch_and_step(message: str, epoch: int, step: int) -> bool:
    return (re.search(rf"\bepoch {epoch}\b", message) is not None
            and re.search(rf"\bstep {step}\b", message) is not None)


# --------------------------------------------------------------------------- learning

def test_fit_reduces_the_loss_of_a_small_autoencoder_on_digits():
    d = load_dataset("digits")
    config.set_seed(0)
    model = mlp([64, 32, 8, 32, 64], out_activation=nn.Sigmoid())
    before = evaluate(model, d.flat("test"), mse)["loss"]
    h = fit(model, d.flat(), mse, epochs=6, batch_size=64, val_data=d.flat("test"), progress=False)
    after = evaluate(model, d.flat("test"), mse)["loss"]
    assert h.epochs == 6 and len(h.train_loss) == 6 and len(h.val_loss) == 6
    assert h.train_loss[-1] < 0.6 * h.train_loss[0]
    assert h.val_loss[-1] < 0.6 * h.val_loss[0]
    assert after < 0.5 * before
    assert math.isclose(h.val_loss[-1], after, rel_tol=1e-4)


def test_history_logs_every_named_term_per_epoch():
    x = toy_x()

    def step(model, batch):
        rec = ((model(batch) - batch) ** 2).mean()
        l1 = model[0](batch).abs().mean()
        return {"loss": rec + 0.1 * l1, "rec": rec, "l1": l1}

    h = fit(tiny_ae(), x, step, epochs=3, batch_size=16, val_data=toy_x(12, seed=1), progress=False)
    assert isinstance(h, History)
    assert set(h.train) == {"loss", "rec", "l1"} and set(h.val) == {"loss", "rec", "l1"}
    for log in (h.train, h.val):
        for values in log.values():
            assert len(values) == 3 and all(isinstance(v, float) and math.isfinite(v) for v in values)
        for e in range(3):      # the terms are logged consistently with each other
            assert math.isclose(log["loss"][e], log["rec"][e] + 0.1 * log["l1"][e], rel_tol=1e-5)
    assert h.train_loss == h.train["loss"] and h.val_loss == h.val["loss"]


def test_history_without_validation_has_no_val_terms():
    h = fit(tiny_ae(), toy_x(), mse, epochs=2, progress=False)
    assert h.val == {} and h.val_loss == []
    assert len(h.train_loss) == 2


def test_epoch_means_are_weighted_by_batch_size():
    x = toy_x(10)

    def step(model, batch):
        return {"loss": mse(model, batch), "size": torch.tensor(float(len(batch)))}

    h = fit(tiny_ae(), x, step, epochs=1, batch_size=4, progress=False)   # batches of 4, 4, 2
    assert math.isclose(h.train["size"][0], (4 * 4 + 4 * 4 + 2 * 2) / 10, rel_tol=1e-6)


def test_seconds_per_epoch_are_recorded():
    x = toy_x(30)

    def slow(model, batch):
        time.sleep(0.02)
        return mse(model, batch)

    start = time.perf_counter()
    h = fit(tiny_ae(), x, slow, epochs=2, batch_size=10, progress=False)    # 3 steps per epoch
    wall = time.perf_counter() - start
    assert len(h.seconds) == 2 and h.epochs == 2
    assert all(s >= 3 * 0.02 for s in h.seconds)
    assert sum(h.seconds) <= wall


# --------------------------------------------------------------------------- fast mode

def test_fast_mode_caps_epochs_and_says_so_once(fast, capsys):
    h = fit(tiny_ae(), toy_x(), mse, epochs=config.FAST_MAX_EPOCHS + 3, progress=False)
    assert h.epochs == config.FAST_MAX_EPOCHS
    out = capsys.readouterr().out
    assert "fast mode" in out and str(config.FAST_MAX_EPOCHS + 3) in out
    h = fit(tiny_ae(), toy_x(), mse, epochs=config.FAST_MAX_EPOCHS + 3, progress=False)
    assert h.epochs == config.FAST_MAX_EPOCHS
    assert "fast mode" not in capsys.readouterr().out, "the same shortening is said once"
    fit(tiny_ae(), toy_x(), mse, epochs=config.FAST_MAX_EPOCHS + 4, progress=False)
    assert str(config.FAST_MAX_EPOCHS + 4) in capsys.readouterr().out, "another shortening is said too"


def test_fast_mode_uses_fast_epochs(fast):
    assert fit(tiny_ae(), toy_x(), mse, epochs=20, fast_epochs=2, progress=False).epochs == 2


def test_fast_mode_never_says_it_trains_longer(fast, capsys):
    """More epochs over far fewer images: the note counts the optimiser steps it really runs."""
    x = toy_x()
    fit(tiny_ae(), x, mse, epochs=3, fast_epochs=6, batch_size=16, progress=False)
    out = capsys.readouterr().out
    steps = 6 * -(-len(x) // 16)
    assert f"6 epochs over these {len(x)} examples ({steps} optimiser steps)" in out, out
    assert "instead of" not in out


def test_fast_mode_keeps_short_runs(fast):
    assert fit(tiny_ae(), toy_x(), mse, epochs=2, progress=False).epochs == 2


def test_full_mode_runs_all_epochs(capsys):
    h = fit(tiny_ae(), toy_x(), mse, epochs=config.FAST_MAX_EPOCHS + 2, fast_epochs=1, progress=False)
    assert h.epochs == config.FAST_MAX_EPOCHS + 2
    assert "fast mode" not in capsys.readouterr().out


# --------------------------------------------------------------------------- reproducibility

def _run(seed):
    model = tiny_ae(seed=0)
    h = fit(model, toy_x(50), mse, epochs=3, batch_size=8, seed=seed, progress=False)
    return h, [p.detach().clone() for p in model.parameters()]


def test_seeded_runs_are_identical():
    (h1, p1), (h2, p2) = _run(0), _run(0)
    assert h1.train == h2.train
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))


def test_different_seeds_shuffle_differently():
    (h1, p1), (h2, p2) = _run(0), _run(1)
    assert not all(torch.equal(a, b) for a, b in zip(p1, p2))


# --------------------------------------------------------------------------- hooks and modes

def test_after_step_is_called_once_per_optimiser_step_after_the_update():
    n, batch, epochs = 103, 10, 3
    model = tiny_ae()
    seen = {"before": None, "updated": 0, "calls": 0}

    def step(m, b):
        seen["before"] = m[0].weight.detach().clone()
        return mse(m, b)

    def hook(m):
        assert m is model
        seen["calls"] += 1
        seen["updated"] += not torch.equal(seen["before"], m[0].weight.detach())

    fit(model, toy_x(n), step, epochs=epochs, batch_size=batch, after_step=hook, progress=False)
    assert seen["calls"] == epochs * math.ceil(n / batch)
    assert seen["updated"] == seen["calls"], "after_step ran before the optimiser step"


def test_step_runs_in_train_mode_with_grad_and_validation_in_eval_mode_without():
    modes = {"train": set(), "val": set()}

    def step(model, batch):
        kind = "train" if len(batch) == 20 else "val"
        modes[kind].add((model.training, torch.is_grad_enabled()))
        return mse(model, batch)

    fit(tiny_ae(), toy_x(20), step, epochs=2, batch_size=20, val_data=toy_x(7), progress=False)
    assert modes == {"train": {(True, True)}, "val": {(False, False)}}


def test_tuple_data_delivers_matching_tuples_to_the_step():
    n = 37
    x = torch.rand(n, 5)
    x[:, 0] = torch.arange(n, dtype=torch.float32)
    y = torch.arange(n)
    seen = []

    def step(model, batch):
        assert isinstance(batch, tuple) and len(batch) == 2
        bx, by = batch
        seen.append((tuple(bx.shape), tuple(by.shape), torch.equal(bx[:, 0].long(), by)))
        return ((model(bx) - bx) ** 2).mean()

    fit(tiny_ae(5, 2), (x, y), step, epochs=2, batch_size=10, progress=False)
    assert len(seen) == 2 * 4
    assert all(match for _, _, match in seen), "x and y rows were shuffled apart"
    assert sorted(s[0][0] for s in seen[:4]) == [7, 10, 10, 10]
    assert all(bx[1:] == (5,) and by == (bx[0],) for bx, by, _ in seen)


def test_every_item_is_seen_once_per_epoch():
    n = 23
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    seen = []

    def step(model, batch):
        seen.extend(batch[:, 0].long().tolist())
        return ((model(batch) - batch) ** 2).mean()

    fit(tiny_ae(3, 1), x, step, epochs=2, batch_size=5, progress=False)
    assert sorted(seen[:n]) == list(range(n)) and sorted(seen[n:]) == list(range(n))


@pytest.mark.parametrize("bad", ["data", "val_data"])
def test_mismatched_lengths_raise(bad):
    good, wrong = (toy_x(10), torch.zeros(10)), (toy_x(10), torch.zeros(9))
    kwargs = {"data": wrong, "val_data": good} if bad == "data" else {"data": good, "val_data": wrong}

    def step(model, batch):
        return mse(model, batch[0])

    with pytest.raises(ValueError, match="first dimension"):
        fit(tiny_ae(), kwargs["data"], step, val_data=kwargs["val_data"], epochs=1, progress=False)


# --------------------------------------------------------------------------- what a step may return

def _failing_at(epoch, step_in_epoch, steps_per_epoch, make_bad, counter):
    target = (epoch - 1) * steps_per_epoch + step_in_epoch

    def step(model, batch):
        counter.append(1)
        loss = mse(model, batch)
        return make_bad(model, batch, loss) if len(counter) - 1 == target else loss
    return step


def test_non_scalar_loss_raises_naming_shape_epoch_and_step():
    calls = []
    step = _failing_at(2, 1, 4, lambda m, b, loss: (m(b) - b) ** 2, calls)
    with pytest.raises(ValueError) as info:
        fit(tiny_ae(), toy_x(40), step, epochs=3, batch_size=10, progress=False)
    message = str(info.value)
    assert "(10, 16)" in message
    assert names_epoch_and_step(message, 2, 1), message
    assert len(calls) == 4 + 2


def test_non_scalar_dict_term_raises_naming_the_term():
    def step(model, batch):
        return {"loss": mse(model, batch), "per_item": ((model(batch) - batch) ** 2).mean(1)}

    with pytest.raises(ValueError, match="per_item"):
        fit(tiny_ae(), toy_x(), step, epochs=1, batch_size=10, progress=False)


def test_dict_without_loss_raises():
    def step(model, batch):
        return {"rec": mse(model, batch)}

    with pytest.raises(ValueError, match="loss"):
        fit(tiny_ae(), toy_x(), step, epochs=1, progress=False)


def test_a_python_float_raises_type_error():
    def step(model, batch):
        return mse(model, batch).item()

    with pytest.raises(TypeError, match="item"):
        fit(tiny_ae(), toy_x(), step, epochs=1, progress=False)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_in_that_epoch(bad_value):
    steps_per_epoch, epochs = 8, 10
    calls = []
    step = _failing_at(2, 3, steps_per_epoch, lambda m, b, loss: loss + bad_value, calls)
    with pytest.raises(FloatingPointError) as info:
        fit(tiny_ae(), toy_x(80), step, epochs=epochs, batch_size=10, progress=False)
    assert names_epoch_and_step(str(info.value), 2, 3), str(info.value)
    assert len(calls) <= 2 * steps_per_epoch, "training went on after the epoch that failed"


def test_non_finite_loss_in_the_first_step():
    calls = []
    step = _failing_at(1, 0, 4, lambda m, b, loss: loss * float("nan"), calls)
    with pytest.raises(FloatingPointError) as info:
        fit(tiny_ae(), toy_x(40), step, epochs=5, batch_size=10, progress=False)
    assert names_epoch_and_step(str(info.value), 1, 0)
    assert len(calls) <= 4


def test_shape_error_in_the_step_names_epoch_step_and_batch_shapes():
    x, y = torch.rand(30, 8, 8), torch.arange(30)

    def step(model, batch):
        return ((model(batch[0]) - batch[0]) ** 2).mean()     # forgot to flatten

    with pytest.raises(RuntimeError) as info:
        fit(mlp([64, 4, 64]), (x, y), step, epochs=2, batch_size=10, progress=False)
    message = str(info.value)
    assert names_epoch_and_step(message, 1, 0), message
    assert "(10, 8, 8)" in message and "(10,)" in message
    assert isinstance(info.value.__cause__, RuntimeError)    # the original error is kept


# --------------------------------------------------------------------------- speed contract

SYNCS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


class _SyncCounter:
    """Counts host reads of tensor values (the calls that force a GPU sync) inside ``with``."""

    def __init__(self, only_package: bool):
        self.calls = []
        self.only_package = only_package
        self._patch = pytest.MonkeyPatch()

    def __enter__(self):
        for name in SYNCS:
            self._patch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))
        return self

    def __exit__(self, *exc):
        self._patch.undo()

    def _wrap(self, name, original):
        def counted(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if not self.only_package or caller.startswith(PACKAGE_DIR):
                self.calls.append((name, caller))
            return original(tensor, *args, **kwargs)
        return counted


def _fit_many_steps(step, optimizer_cls, epochs=3):
    model = tiny_ae()
    opt = optimizer_cls(model.parameters(), lr=0.01)
    fit(model, toy_x(300), step, epochs=epochs, batch_size=10, optimizer=opt, progress=False)  # 30 steps/epoch


def test_no_host_sync_per_step():
    """With SGD (which reads nothing back itself), all reads during fit are O(epochs)."""
    epochs = 3
    with _SyncCounter(only_package=False) as counter:
        _fit_many_steps(mse, torch.optim.SGD, epochs)
    assert len(counter.calls) <= 4 * epochs, counter.calls[:10]


def test_no_host_sync_per_step_by_the_package_with_adam():
    """Adam reads its step counter with .item() on CPU (torch's cost, not ours): count only
    reads made by ae_helpers itself."""
    epochs = 3
    with _SyncCounter(only_package=True) as counter:
        _fit_many_steps(mse, torch.optim.Adam, epochs)
    assert len(counter.calls) <= 4 * epochs, counter.calls[:10]


def test_sync_counter_sees_a_per_step_item():
    """The counter above can fail: a step that reads its loss each time is caught."""
    def chatty(model, batch):
        loss = mse(model, batch)
        loss.item()
        return loss

    with _SyncCounter(only_package=False) as counter:
        _fit_many_steps(chatty, torch.optim.SGD, epochs=3)
    assert len(counter.calls) >= 3 * 30


@pytest.fixture
def flush_denormal_off():
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def test_fit_flushes_denormals_on_cpu(flush_denormal_off):
    tiny = 1e-323                                          # a float64 denormal
    assert torch.tensor([tiny], dtype=torch.float64).item() != 0.0
    fit(tiny_ae(), toy_x(), mse, epochs=1, device="cpu", progress=False)
    assert torch.tensor([tiny], dtype=torch.float64).item() == 0.0


# --------------------------------------------------------------------------- device

@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="an accelerator is present")
def test_get_device_is_cpu_here_and_says_so_once(capsys):
    assert get_device() == torch.device("cpu")
    assert get_device() == torch.device("cpu")
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "cpu" in out


def test_get_device_quiet_when_asked(capsys):
    get_device(verbose=False)
    assert capsys.readouterr().out == ""


def test_get_device_keeps_no_cache(monkeypatch):
    get_device(verbose=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "a GPU")
    assert get_device(verbose=False) == torch.device("cuda")      # asked again, not remembered


# --------------------------------------------------------------------------- global state: only when asked

@pytest.fixture
def three_threads():
    """torch's thread count set to 3 (a count none of the functions picks), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def test_runtime_calls_leave_the_thread_count_alone_even_in_fast_mode(three_threads, fast):
    model = tiny_ae()
    get_device()
    fit(model, toy_x(), mse, epochs=1, progress=False)
    evaluate(model, toy_x(), mse)
    apply_in_batches(model, toy_x())
    reconstruct_in_batches(model, toy_x())
    assert torch.get_num_threads() == three_threads


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="an accelerator is present")
def test_set_fast_mode_threads_sets_one_thread_in_fast_mode_on_a_cpu(three_threads, set_fast):
    set_fast(False)
    assert set_fast_mode_threads() == three_threads == torch.get_num_threads()
    set_fast(True)
    assert set_fast_mode_threads() == 1 == torch.get_num_threads()


def _rng_states() -> tuple:
    return random.getstate(), np.random.get_state()[1].tolist()


def test_fit_with_seed_none_leaves_the_rngs_where_they_are():
    runs = {}
    for start in (5, 6, 5):
        model = tiny_ae()
        random.seed(start), np.random.seed(start), torch.manual_seed(start)
        before = _rng_states()
        h = fit(model, toy_x(), mse, epochs=2, batch_size=8, seed=None, progress=False)
        assert _rng_states() == before                   # python and numpy: untouched
        runs.setdefault(start, []).append(h.train)
    # torch: the batches came from the global RNG where it stood, not from a reseeded one
    assert runs[5][0] == runs[5][1] and runs[5][0] != runs[6][0]


def test_fit_seeds_the_global_rngs_by_default():
    model = tiny_ae()
    random.seed(5), np.random.seed(5)
    fit(model, toy_x(), mse, epochs=1, progress=False)
    after_fit = _rng_states()
    random.seed(0), np.random.seed(0)
    assert after_fit == _rng_states()                    # as set_seed(0) leaves them


def test_fit_leaves_flush_denormal_alone_when_asked(flush_denormal_off):
    tiny = 1e-323                                        # a float64 denormal
    fit(tiny_ae(), toy_x(), mse, epochs=1, device="cpu", progress=False, flush_denormal=False)
    assert torch.tensor([tiny], dtype=torch.float64).item() != 0.0


# --------------------------------------------------------------------------- evaluate, apply_in_batches, reconstruct_in_batches

class Dropped(nn.Module):
    """A model whose output depends on train/eval mode."""

    def __init__(self, d=16, k=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, k), nn.Dropout(0.5), nn.Linear(k, d))

    def forward(self, x):
        return self.net(x.reshape(len(x), -1))


@pytest.mark.parametrize("was_training", [True, False])
def test_evaluate_means_over_batches_in_eval_mode_and_restores_mode(was_training):
    model = Dropped()
    model.train(was_training)
    x = toy_x(20)
    modes = []

    def step(m, b):
        modes.append((m.training, torch.is_grad_enabled()))
        rec = ((m(b) - b) ** 2).mean()
        return {"loss": rec, "double": 2 * rec}

    result = evaluate(model, x, step, batch_size=7)
    assert set(modes) == {(False, False)} and len(modes) == 3
    assert model.training is was_training
    model.eval()
    with torch.no_grad():
        expected = float(((model(x) - x) ** 2).mean())
    assert set(result) == {"loss", "double"}
    assert math.isclose(result["loss"], expected, rel_tol=1e-5)
    assert math.isclose(result["double"], 2 * expected, rel_tol=1e-5)


@pytest.mark.parametrize("was_training", [True, False])
def test_apply_in_batches_batches_in_eval_mode_and_restores_mode(was_training):
    model = Dropped()
    encoder = model.net[:2]              # a new container: set its mode itself
    encoder.train(was_training)
    x = toy_x(2500)
    codes = apply_in_batches(encoder, x, batch_size=1000)
    assert codes.shape == (2500, 4) and codes.device.type == "cpu"
    assert encoder.training is was_training
    with torch.no_grad():
        assert torch.allclose(codes, model.net[0](x), atol=1e-6)   # dropout was off


def test_apply_in_batches_accepts_a_plain_function():
    x = toy_x(30)
    assert torch.equal(apply_in_batches(lambda t: t[:, :3] * 2, x, batch_size=7), x[:, :3] * 2)


class TwoHeads(nn.Module):
    """A VAE-style encoder whose ``encode`` returns (mu, logvar), each (N, 2)."""

    def __init__(self):
        super().__init__()
        self.net, self.drop = nn.Linear(16, 4), nn.Dropout(0.5)

    def encode(self, x):
        return self.drop(self.net(x)).chunk(2, dim=1)


@pytest.mark.parametrize("was_training", [True, False])
def test_apply_in_batches_of_a_bound_method_returning_a_tuple(was_training):
    model = TwoHeads()
    model.train(was_training)
    x = toy_x(25)
    mu, logvar = apply_in_batches(model.encode, x, batch_size=10)
    assert mu.shape == logvar.shape == (25, 2) and mu.device.type == "cpu"
    assert model.training is was_training
    with torch.no_grad():
        assert torch.allclose(torch.cat([mu, logvar], dim=1), model.net(x), atol=1e-6)   # eval: no dropout


def test_apply_in_batches_sends_batches_to_the_given_device():
    seen = []
    codes = apply_in_batches(lambda t: seen.append(t.device) or torch.zeros(len(t), 1), toy_x(10),
                             batch_size=4, device="meta")
    assert seen == [torch.device("meta")] * 3 and codes.shape == (10, 1)


@pytest.mark.parametrize("was_training", [True, False])
def test_reconstruct_in_batches_keeps_the_input_shape(was_training):
    model = Dropped(64, 8)
    model.train(was_training)
    x = torch.rand(33, 8, 8)
    out = reconstruct_in_batches(model, x, batch_size=10)
    assert out.shape == (33, 8, 8)
    assert model.training is was_training
    model.eval()
    with torch.no_grad():
        assert torch.allclose(out, model(x).reshape(33, 8, 8), atol=1e-6)


# --------------------------------------------------------------------------- progress bar

def test_progress_bar_is_off_while_nbgrader_executes(monkeypatch, capfd):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    fit(tiny_ae(), toy_x(), mse, epochs=2)
    assert capfd.readouterr().err == ""


def test_progress_bar_is_on_by_default_and_goes_to_stderr(capfd):
    fit(tiny_ae(), toy_x(), mse, epochs=2)
    out, err = capfd.readouterr()
    assert "epoch" in err
    assert "epoch" not in out.replace("fast mode", "")


def test_progress_false_writes_nothing_to_stderr(capfd):
    fit(tiny_ae(), toy_x(), mse, epochs=2, progress=False)
    assert capfd.readouterr().err == ""


def test_progress_yields_every_item_and_shows_a_bar_on_stderr(capfd):
    from ae_helpers import progress
    assert list(progress(iter("abc"), desc="letters", total=3)) == ["a", "b", "c"]
    err = capfd.readouterr().err
    assert "letters" in err and "3/3" in err


def test_progress_is_silent_while_nbgrader_executes(monkeypatch, capfd):
    from ae_helpers import progress
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert list(progress([1, 2], desc="quiet")) == [1, 2]
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- default numerics pinned

# Recorded from fit as it was before issue 17's changes (commit 01c9f07): fit's defaults must keep
# training the same way (same seeds, batches and updates) until every chapter is re-measured.
PINNED_TRAIN = {'loss': [0.6046638870239258, 0.5745328521728515, 0.5483640670776367], 'rec': [0.5482745361328125, 0.518143424987793, 0.4919746780395508]}
PINNED_VAL = {'loss': [0.6379856586456298, 0.608004379272461, 0.5798104286193848], 'rec': [0.5858748435974122, 0.5558936119079589, 0.5276996612548828]}
PINNED_WEIGHTS = (
    [-0.0030564817134290934, 0.21900218725204468, -0.3360067903995514, -0.3004458546638489,
     -0.15723861753940582, 0.1094747856259346, 0.008603701367974281, 0.33161693811416626,
     -0.03883882984519005, 0.1344286948442459, -0.13133646547794342, -0.04095270112156868,
     -0.433980792760849, -0.31821924448013306, -0.21752195060253143, -0.032221756875514984,
     0.11216370016336441, 0.19569432735443115, -0.276768296957016, -0.1553594321012497,
     0.09745414555072784, 0.47942468523979187, -0.0862274318933487, 0.39881494641304016,
     -0.09305925667285919, 0.11257835477590561, 0.5548825860023499, -0.5355907082557678,
     -0.3109394907951355, -0.09631805866956711, -0.22505110502243042, 0.5533967018127441,
     -0.32878369092941284, -0.26577329635620117, -0.3498796820640564, -0.492684006690979,
     -0.33702272176742554, 0.5499305725097656, 0.3057730793952942, 0.3323967754840851,
     0.0920850932598114, -0.23326493799686432, 0.1589057594537735, -0.47672945261001587,
     -0.35483667254447937])


def _pinned_step(model, batch):
    x, y = batch
    rec = ((model(x) - x) ** 2).mean()
    return {"loss": rec + 0.1 * y.mean(), "rec": rec}


def test_default_fit_is_numerically_unchanged():
    """Default fit (fused Adam 3e-3, seed 0, partial last batch, dict terms, validation): the
    weights after 3 epochs and every logged mean equal, bit for bit, what the code gave before."""
    config.set_seed(0)
    model = mlp([6, 3, 6])
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(50, 6, generator=g), torch.rand(50, generator=g)
    xv, yv = torch.rand(20, 6, generator=g), torch.rand(20, generator=g)
    h = fit(model, (x, y), _pinned_step, epochs=3, batch_size=8, val_data=(xv, yv), progress=False)
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(weights, torch.tensor(PINNED_WEIGHTS, dtype=torch.float32))
    assert h.train == PINNED_TRAIN and h.val == PINNED_VAL


# --------------------------------------------------------------------------- issue 17: opt-in speed

def test_one_host_read_per_epoch_with_validation_and_named_terms():
    """fit itself reads values back once per epoch: training sums, validation sums and the
    first non-finite step together (the GPU path then syncs once per epoch)."""
    def step(model, batch):
        rec = mse(model, batch)
        return {"loss": rec, "rec": rec.detach(), "half": 0.5 * rec}

    epochs = 3
    with _SyncCounter(only_package=True) as counter:
        fit(tiny_ae(), toy_x(300), step, epochs=epochs, batch_size=10, val_data=toy_x(50, seed=1),
            optimizer=torch.optim.SGD(tiny_ae().parameters(), lr=0.01), progress=False)
    assert len(counter.calls) <= epochs, counter.calls


def test_amp_off_never_enters_autocast(monkeypatch):
    def no_autocast(*args, **kwargs):
        raise AssertionError("autocast entered with amp off")

    monkeypatch.setattr(train.torch, "autocast", no_autocast)
    h = fit(tiny_ae(), toy_x(), mse, epochs=2, batch_size=10, amp=False, progress=False)
    assert h.epochs == 2


def test_lr_factor_warmup_cosine_shape():
    f = train.lr_factor("warmup-cosine", total_steps=100, warmup=0.1)
    values = [f(t) for t in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == 1.0
    assert all(a < b for a, b in zip(values[:10], values[1:10]))          # rises over 10 steps
    assert all(a >= b for a, b in zip(values[9:], values[10:]))            # then only decays
    assert values[-1] < 0.01 and values[55] == pytest.approx(0.5, abs=0.03)
    assert train.lr_factor(None, 100)(57) == 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        train.lr_factor("cosine-ish", 100)


def test_fit_betas_reach_the_default_adam_and_clash_with_an_own_optimizer():
    """betas are the default Adam's (torch's (0.9, 0.999) unless given); with an optimizer of
    one's own they belong to it, and passing both says so instead of ignoring one."""
    made = []
    real = train.default_optimizer

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    import unittest.mock as mock
    with mock.patch.object(train, "default_optimizer", spy):
        fit(tiny_ae(), toy_x(20), mse, epochs=1, batch_size=10, progress=False)
        fit(tiny_ae(), toy_x(20), mse, epochs=1, batch_size=10, progress=False, betas=(0.85, 0.95))
    assert [o.param_groups[0]["betas"] for o in made] == [(0.9, 0.999), (0.85, 0.95)]
    model = tiny_ae()
    with pytest.raises(ValueError, match="pass betas to it"):
        fit(model, toy_x(20), mse, epochs=1, optimizer=torch.optim.Adam(model.parameters()),
            betas=(0.85, 0.95), progress=False)


def test_fit_schedule_sets_the_lr_of_every_step():
    model = tiny_ae()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    fit(model, toy_x(40), mse, epochs=3, batch_size=10, optimizer=opt, schedule="warmup-cosine",
        warmup=0.25, after_step=lambda m: seen.append(opt.param_groups[0]["lr"]), progress=False)
    f = train.lr_factor("warmup-cosine", total_steps=12, warmup=0.25)
    assert seen == pytest.approx([0.5 * f(t + 1) for t in range(12)])   # stepped after each update
    plain = torch.optim.SGD(tiny_ae().parameters(), lr=0.5)
    seen.clear()
    fit(tiny_ae(), toy_x(40), mse, epochs=1, batch_size=10, optimizer=plain, progress=False,
        after_step=lambda m: seen.append(plain.param_groups[0]["lr"]))
    assert seen == [0.5] * 4


def test_compile_option_trains_like_the_plain_step():
    """compile={"backend": "eager"} goes through torch.compile (dynamo) without a C compiler;
    the updates are the same."""
    a, b = tiny_ae(), tiny_ae()
    ha = fit(a, toy_x(40), mse, epochs=2, batch_size=16, progress=False)
    hb = fit(b, toy_x(40), mse, epochs=2, batch_size=16, progress=False, compile={"backend": "eager"})
    assert ha.train_loss == hb.train_loss
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_non_finite_training_loss_is_reported_before_a_validation_that_fails_on_it():
    """Validation runs before the epoch's one read; if NaN weights make it raise (BCE of NaN),
    the message still names the non-finite training loss."""
    def step(model, batch):
        out = torch.sigmoid(model(batch))
        if model.training:
            return ((out - batch) ** 2).mean() * float("nan")
        return nn.functional.binary_cross_entropy(out, batch)

    with pytest.raises(FloatingPointError, match="epoch 1, step 0"):
        fit(tiny_ae(), toy_x(), step, epochs=2, batch_size=10, val_data=toy_x(seed=1), progress=False)
