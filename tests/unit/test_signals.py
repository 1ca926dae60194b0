"""ae_helpers.signals: generated vibration series with faults of known type and position."""
from __future__ import annotations

import pytest
import torch

from ae_helpers.signals import FAULTS, NOISE, Signals, machine_signals


def test_shapes_types_and_normal_series():
    s = machine_signals(5, 300, channels=4, seed=1)
    assert isinstance(s, Signals)
    assert s.x.shape == (5, 300, 4) and s.x.dtype == torch.float32
    assert s.fault.tolist() == [0] * 5 and s.start.tolist() == s.end.tolist() == [0] * 5
    assert not s.in_fault().any()
    assert 0.4 < float(s.x.std()) < 1.0 and float(s.x.abs().max()) < 3.5
    assert "5 series × 300 samples × 4 channels; 5 normal" in repr(s)


def test_same_seed_same_draw_and_no_global_rng_used():
    torch.manual_seed(0)
    a = machine_signals(3, 200, fault="spikes", seed=7)
    torch.manual_seed(1)
    b = machine_signals(3, 200, fault="spikes", seed=7)
    c = machine_signals(3, 200, fault="spikes", seed=8)
    assert torch.equal(a.x, b.x) and torch.equal(a.start, b.start)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("kind", FAULTS)
def test_fault_interval_and_only_there(kind):
    """The fault changes the series inside [start, end) and nowhere else (same seed, same normal part)."""
    s = machine_signals(6, 1000, fault=kind, seed=3)
    assert s.fault.tolist() == [1 + FAULTS.index(kind)] * 6
    width = s.end - s.start
    assert bool(((width >= 300) & (width <= 600)).all()) and bool((s.start >= 0).all()) and bool((s.end <= 1000).all())
    inside = s.in_fault()
    assert inside.sum(dim=1).tolist() == width.tolist()
    # the same draw without the fault: regenerate the normal part with the same generator state
    clean = machine_signals(6, 1000, seed=3).x
    changed = (s.x - clean).abs().amax(dim=2) > 1e-6
    assert not bool((changed & ~inside).any()), "the fault leaked outside its interval"
    assert bool(changed.any(dim=1).all()), "every series must carry the fault"


def test_whole_window_fault_and_fault_sizes():
    bearing = machine_signals(50, 64, fault="bearing", span=(1, 1), seed=0)
    assert bearing.start.tolist() == [0] * 50 and bearing.end.tolist() == [64] * 50
    normal = machine_signals(50, 64, seed=0).x
    extra = (bearing.x - normal)
    assert 1.5 * NOISE ** 2 < float(extra.pow(2).mean()) < 0.3      # a tone with more power than the noise
    drift = machine_signals(50, 64, fault="drift", span=(1, 1), seed=0).x - normal
    assert 0.75 < float(drift[:, -1, 0].min()) and float(drift[:, :, 1:].abs().max()) < 1e-6
    spikes = machine_signals(50, 200, fault="spikes", span=(1, 1), seed=0).x - machine_signals(50, 200, seed=0).x
    big = spikes.abs() > 1.5
    assert 0.01 < float(big.float().mean() * 3) < 0.06 and float(spikes.abs().max()) <= 3.0 + 1e-5
    assert NOISE == 0.15


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown fault"):
        machine_signals(2, 10, fault="rust")
    with pytest.raises(ValueError, match="span"):
        machine_signals(2, 10, fault="drift", span=(0.5, 0.2))
    with pytest.raises(ValueError, match="≥ 1"):
        machine_signals(0, 10)
