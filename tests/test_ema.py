"""EMA schedule and update."""

import math

import pytest
import torch
from torch import nn

from skc2bin.ema import ema_update
from skc2bin.schedules import cosine_momentum


def test_cosine_momentum_endpoints_and_midpoint():
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, 0.9) == pytest.approx(0.95)
    # tau = 1 - (1 - base)(cos(pi t/T) + 1)/2 at t = T/4
    assert cosine_momentum(25, 100, 0.9) == pytest.approx(1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2)


def test_cosine_momentum_is_monotone_and_clipped():
    taus = [cosine_momentum(s, 10, 0.5) for s in range(-2, 14)]
    assert all(b >= a for a, b in zip(taus, taus[1:]))
    assert taus[0] == pytest.approx(0.5) and taus[-1] == pytest.approx(1.0)
    assert cosine_momentum(3, 0, 0.5) == 1.0


def _net():
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))


def test_ema_update_moves_params_and_copies_buffers():
    target, online = _net(), _net()
    with torch.no_grad():
        for p in target.parameters():
            p.fill_(1.0)
        for p in online.parameters():
            p.fill_(3.0)
        online[1].running_mean.fill_(7.0)
    ema_update(target, online, 0.75)
    for p in target.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.75 * 1.0 + 0.25 * 3.0))
    assert torch.allclose(target[1].running_mean, torch.full((2,), 7.0))
    # Online network untouched.
    assert all(torch.all(p == 3.0) for p in online.parameters())


def test_ema_update_can_average_buffers():
    target, online = _net(), _net()
    with torch.no_grad():
        target[1].running_mean.fill_(1.0)
        online[1].running_mean.fill_(5.0)
    online[1].num_batches_tracked.fill_(9)
    ema_update(target, online, 0.75, buffers="ema")
    assert torch.allclose(target[1].running_mean, torch.full((2,), 0.75 * 1.0 + 0.25 * 5.0))
    # Integer counters cannot be averaged: copied.
    assert target[1].num_batches_tracked.item() == 9
    with pytest.raises(ValueError, match="buffers"):
        ema_update(target, online, 0.5, buffers="mean")


def test_ema_update_momentum_one_and_zero():
    target, online = _net(), _net()
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, target.parameters()))
    ema_update(target, online, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))


def test_ema_update_rejects_different_structures():
    with pytest.raises(ValueError, match="differ in structure"):
        ema_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 0.5)
