"""Generated vibration signals of a rotating machine, with faults of known type and position.

No package that installs offline ships a real vibration data set, so chapter 10 uses this
seeded generator instead. A machine's **normal** operation is a sum of the first three
harmonics of its rotation, whose speed varies slowly, plus sensor noise, seen by ``C``
accelerometer channels with different gains. A **fault** is added over a known interval
``[start, end)`` of a series:

- ``"bearing"``: a high-frequency tone (about 0.3 cycles per sample) that bursts once per
  revolution, as a damaged rolling element does when it passes the defect;
- ``"drift"``: a slow offset of channel 0 that rises linearly from 0 to about 1 over the
  interval, as a loosening sensor mount or a heating bias does;
- ``"spikes"``: rare impulses of amplitude 2 to 3 in random channels (knocks, electrical
  glitches).

Every number comes from one ``torch.Generator`` seeded with ``seed``: the same arguments give
the same signals on every machine, and another seed gives another draw of the same machine.
The module changes no global state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["FAULTS", "CHANNEL_GAINS", "HARMONICS", "PHASES", "NOISE", "Signals", "machine_signals"]

#: The fault types, in the order of their codes 1, 2, 3 (code 0 is normal operation).
FAULTS = ("bearing", "drift", "spikes")
#: Gains of the accelerometer channels (channel c has gain CHANNEL_GAINS[c % 3]).
CHANNEL_GAINS = (1.0, 0.8, 0.6)
#: Amplitudes of the first three rotation harmonics, before the channel gain.
HARMONICS = (1.0, 0.5, 0.25)
#: Phase (radians) of harmonic k + 1 in channel c: PHASES[c % 3][k]; the machine's geometry fixes
#: them, up to a small jitter per series.
PHASES = ((0.0, 0.6, 1.9), (2.1, 4.0, 0.7), (4.2, 1.3, 5.5))
#: Standard deviation of the sensor noise.
NOISE = 0.15


@dataclass
class Signals:
    """Series from :func:`machine_signals`.

    ``x``: float32 (N, T, C), values mostly within ±3 (normal parts have a standard deviation
    of about 0.5 to 0.8 per channel); ``fault``: int64 (N,), 0 for normal operation or
    ``1 + FAULTS.index(kind)``; ``start``, ``end``: int64 (N,), the fault's interval
    ``[start, end)`` in samples (both 0 for a normal series).
    """

    x: torch.Tensor
    fault: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor

    def in_fault(self) -> torch.Tensor:
        """Bool (N, T): True at the samples inside each series' fault interval."""
        t = torch.arange(self.x.shape[1])
        return (t >= self.start[:, None]) & (t < self.end[:, None])

    def __repr__(self) -> str:
        n, length, channels = self.x.shape
        kinds = ", ".join(f"{int((self.fault == i + 1).sum())} {k}" for i, k in enumerate(FAULTS)
                          if (self.fault == i + 1).any())
        return (f"Signals({n} series × {length} samples × {channels} channels; "
                f"{int((self.fault == 0).sum())} normal" + (f", {kinds}" if kinds else "") + ")")


def _normal(n: int, length: int, channels: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Normal operation (n, length, channels) and the rotation angle θ (n, length) in radians."""
    t = torch.arange(length, dtype=torch.float64)
    f0 = 0.03 + 0.02 * torch.rand(n, 1, generator=g, dtype=torch.float64)       # cycles per sample
    period = 400 + 800 * torch.rand(n, 1, generator=g, dtype=torch.float64)      # of the speed change
    wobble = 2 * math.pi * torch.rand(n, 1, generator=g, dtype=torch.float64)
    freq = f0 * (1 + 0.1 * torch.sin(2 * math.pi * t / period + wobble))
    theta = 2 * math.pi * torch.cumsum(freq, dim=1)
    x = torch.zeros(n, length, channels, dtype=torch.float64)
    for c in range(channels):
        gain = CHANNEL_GAINS[c % len(CHANNEL_GAINS)]
        for k, amp in enumerate(HARMONICS, start=1):
            jitter = 1 + 0.1 * (2 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 1)
            phase = PHASES[c % len(PHASES)][k - 1] + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
            x[:, :, c] += gain * amp * jitter * torch.sin(k * theta + phase)
    x += NOISE * torch.randn(n, length, channels, generator=g, dtype=torch.float64)
    return x, theta


def _add_fault(x: torch.Tensor, theta: torch.Tensor, kind: str, start: torch.Tensor, end: torch.Tensor,
               g: torch.Generator) -> None:
    """Add the fault ``kind`` to every series of ``x`` (n, T, C) over [start, end), in place."""
    n, length, channels = x.shape
    t = torch.arange(length, dtype=torch.float64)
    inside = ((t >= start[:, None]) & (t < end[:, None])).to(x.dtype)              # (n, T)
    gains = torch.tensor([CHANNEL_GAINS[c % len(CHANNEL_GAINS)] for c in range(channels)], dtype=x.dtype)
    if kind == "bearing":
        tone = 0.28 + 0.06 * torch.rand(n, 1, generator=g, dtype=x.dtype)
        phase = 2 * math.pi * torch.rand(n, 1, generator=g, dtype=x.dtype)
        bursts = (0.5 * (1 + torch.cos(theta))) ** 2                                 # once per revolution
        amp = 0.6 + 0.2 * torch.rand(n, 1, generator=g, dtype=x.dtype)
        wave = amp * bursts * torch.sin(2 * math.pi * tone * t + phase) * inside
        x += wave[:, :, None] * gains
    elif kind == "drift":
        height = 0.8 + 0.4 * torch.rand(n, 1, generator=g, dtype=x.dtype)
        span = (end - start).clamp(min=1)[:, None].to(x.dtype)
        ramp = height * ((t - start[:, None].to(x.dtype) + 1) / span).clamp(0, 1) * inside
        x[:, :, 0] += ramp
    elif kind == "spikes":
        hits = (torch.rand(n, length, generator=g, dtype=x.dtype) < 0.03).to(x.dtype) * inside
        sign = torch.where(torch.rand(n, length, generator=g) < 0.5, -1.0, 1.0).to(x.dtype)
        size = 2 + torch.rand(n, length, generator=g, dtype=x.dtype)
        channel = torch.randint(0, channels, (n, length), generator=g)
        x.scatter_add_(2, channel[:, :, None], (hits * sign * size)[:, :, None])
    else:
        raise ValueError(f"unknown fault {kind!r}: choose one of {FAULTS} or None")


def machine_signals(n: int, length: int, *, fault: str | None = None, channels: int = 3, seed: int = 0,
                    span: tuple[float, float] = (0.3, 0.6)) -> Signals:
    """``n`` series of ``length`` samples from ``channels`` sensors of one kind of machine.

    fault: None (normal operation), or one of :data:`FAULTS`, added to every series over an
        interval whose length is a fraction of ``length`` drawn uniformly from ``span`` and
        whose position is uniform over the rest of the series; ``span=(1, 1)`` makes the whole
        series faulty (a window that is all fault).
    seed: the draw (a ``torch.Generator``; the global RNGs are not used or changed).
    Returns :class:`Signals` with ``x`` float32 (n, length, channels).
    """
    if n < 1 or length < 1 or channels < 1:
        raise ValueError(f"n, length and channels must be ≥ 1, got {n}, {length}, {channels}")
    lo, hi = span
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"span must satisfy 0 < low ≤ high ≤ 1, got {span}")
    g = torch.Generator().manual_seed(seed)
    x, theta = _normal(n, length, channels, g)
    start = torch.zeros(n, dtype=torch.int64)
    end = torch.zeros(n, dtype=torch.int64)
    code = torch.zeros(n, dtype=torch.int64)
    if fault is not None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: choose one of {FAULTS} or None")
        frac = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
        width = (frac * length).round().long().clamp(1, length)
        start = (torch.rand(n, generator=g, dtype=torch.float64) * (length - width + 1)).floor().long()
        end = start + width
        code[:] = 1 + FAULTS.index(fault)
        _add_fault(x, theta, fault, start, end, g)
    return Signals(x.float(), code, start, end)
