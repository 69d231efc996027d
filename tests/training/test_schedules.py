"""Schedules: hand-computed values per epoch, and how apply() sets the optimizer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from siamface.config import ConfigError
from siamface.training.schedules import SCHEDULES, build_schedule


def test_constant() -> None:
    s = build_schedule({"name": "constant"})
    assert [s.lr_factor(e) for e in (0, 0.5, 100)] == [1.0, 1.0, 1.0]
    assert s.momentum(3) is None


def test_koch_decay_lr_falls_one_percent_per_whole_epoch() -> None:
    s = build_schedule({"name": "koch_decay"})
    assert s.lr_factor(0.0) == 1.0
    assert s.lr_factor(0.99) == 1.0  # within the first epoch
    assert s.lr_factor(1.0) == pytest.approx(0.99)
    assert s.lr_factor(2.5) == pytest.approx(0.9801)
    assert s.lr_factor(100) == pytest.approx(0.99**100)  # 0.366


def test_koch_decay_momentum_ramps_linearly_per_epoch() -> None:
    s = build_schedule({"name": "koch_decay", "momentum_start": 0.5, "momentum_end": 0.9,
                        "ramp_epochs": 4})
    # +0.1 per whole epoch, then flat
    expected = {0: 0.5, 0.7: 0.5, 1: 0.6, 2: 0.7, 3.9: 0.8, 4: 0.9, 50: 0.9}
    for epoch, m in expected.items():
        assert s.momentum(epoch) == pytest.approx(m), epoch
    assert build_schedule({"name": "koch_decay", "ramp_epochs": 0}).momentum(0) == 0.9


def test_step() -> None:
    s = build_schedule({"name": "step", "step_size": 3, "gamma": 0.5})
    assert [s.lr_factor(e) for e in (0, 2.99, 3, 5.5, 6, 9)] == [1, 1, 0.5, 0.5, 0.25, 0.125]


def test_cosine_warmup_middle_and_end() -> None:
    s = build_schedule({"name": "cosine", "warmup_epochs": 2, "warmup_start_factor": 0.1,
                        "min_factor": 0.0}, total_epochs=12)
    assert s.lr_factor(0) == pytest.approx(0.1)
    assert s.lr_factor(1) == pytest.approx(0.55)  # half-way through the warm-up
    assert s.lr_factor(2) == pytest.approx(1.0)  # warm-up end = cosine start
    assert s.lr_factor(7) == pytest.approx(0.5)  # middle of the cosine
    assert s.lr_factor(2 + 10 / 3) == pytest.approx(0.75)  # cos(pi/3) = 0.5 -> 0.75
    assert s.lr_factor(12) == pytest.approx(0.0, abs=1e-12)
    assert s.lr_factor(20) == pytest.approx(0.0, abs=1e-12)  # stays at the minimum


def test_cosine_min_factor_and_explicit_total() -> None:
    s = build_schedule({"name": "cosine", "total_epochs": 4, "min_factor": 0.2}, total_epochs=99)
    assert s.lr_factor(0) == 1.0
    assert s.lr_factor(2) == pytest.approx(0.6)
    assert s.lr_factor(4) == pytest.approx(0.2)


def test_cosine_needs_total_epochs() -> None:
    with pytest.raises(ConfigError, match="needs total_epochs"):
        build_schedule({"name": "cosine"})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "step", "step_size": 0}, r"schedule\.step_size: expected >= 1, got 0"),
        ({"name": "step", "gamma": 1.5}, r"schedule\.gamma: expected a number in \(0, 1\], got"),
        ({"name": "koch_decay", "decay": 0}, r"schedule\.decay: expected a number in \(0, 1\]"),
        ({"name": "koch_decay", "momentum_end": 1.0},
         r"schedule\.momentum_end: expected a number in \[0, 1\), got 1\.0"),
        ({"name": "cosine", "total_epochs": 5, "warmup_epochs": 5},
         r"schedule\.warmup_epochs: the warm-up \(5 epochs\) must end before"),
        ({"name": "cosine", "total_epochs": 5, "min_factor": -0.1},
         r"schedule\.min_factor: expected a number in \[0, 1\], got -0\.1"),
    ],
)
def test_bad_values_are_rejected(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_schedule(config)


def test_unknown_schedule_and_option() -> None:
    with pytest.raises(ConfigError, match="unknown schedule 'linear'; choose one of: constant"):
        build_schedule({"name": "linear"})
    with pytest.raises(ConfigError, match=r"unknown key schedule\.step"):
        build_schedule({"name": "step", "step": 3})
    assert SCHEDULES.names() == ["constant", "cosine", "koch_decay", "step"]


def two_group_sgd() -> torch.optim.SGD:
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    return torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.02}],
                           lr=0.1, momentum=0.5)


def test_apply_scales_each_groups_base_lr_and_sets_momentum() -> None:
    opt = two_group_sgd()
    s = build_schedule({"name": "koch_decay", "ramp_epochs": 2})
    s.apply(opt, 0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.02]
    s.apply(opt, 1.2)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.099, 0.0198])
    assert [g["momentum"] for g in opt.param_groups] == pytest.approx([0.7, 0.7])
    s.apply(opt, 3.0)  # from the base lr, not compounded on the last value
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1 * 0.99**3, 0.02 * 0.99**3])
    assert [g["base_lr"] for g in opt.param_groups] == [0.1, 0.02]


def test_apply_sets_adam_beta1_and_survives_a_state_dict_round_trip() -> None:
    p = nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999))
    s = build_schedule({"name": "koch_decay", "ramp_epochs": 10})
    s.apply(opt, 5.0)
    assert opt.param_groups[0]["betas"] == pytest.approx((0.7, 0.999))
    # a resumed optimizer keeps the base lr, so the schedule continues without state of its own
    fresh = torch.optim.Adam([nn.Parameter(torch.ones(2))], lr=123.0)
    fresh.load_state_dict(opt.state_dict())
    s.apply(fresh, 7.0)
    assert fresh.param_groups[0]["lr"] == pytest.approx(0.01 * 0.99**7)


def test_apply_rejects_negative_epochs() -> None:
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        build_schedule({"name": "constant"}).apply(two_group_sgd(), -1)


def test_schedule_is_a_pure_function_of_the_epoch() -> None:
    s = build_schedule({"name": "cosine", "warmup_epochs": 1}, total_epochs=5)
    forward = [s.lr_factor(e / 4) for e in range(21)]
    backward = [s.lr_factor(e / 4) for e in reversed(range(21))][::-1]
    assert forward == backward
    assert all(math.isfinite(f) and 0 <= f <= 1 for f in forward)


def test_a_schedule_whose_rate_reaches_zero_before_training_ends_is_refused():
    cosine = {"name": "cosine", "total_epochs": 5}
    assert build_schedule(cosine, total_epochs=5).lr_factor(4) > 0  # ends with training
    with pytest.raises(ConfigError, match=r"^schedule: the learning rate is 0 from epoch 6 of "
                                          r"train.epochs = 8, so those epochs would not train"):
        build_schedule(cosine, total_epochs=8)
    floor = build_schedule({**cosine, "min_factor": 0.01}, total_epochs=8)  # trains on at 1%
    assert floor.lr_factor(7) == pytest.approx(0.01)
    warm = build_schedule({**cosine, "warmup_epochs": 1, "warmup_start_factor": 0.0},
                          total_epochs=5)  # from 0 at the first step, not idle
    assert warm.lr_factor(0) == 0 and warm.lr_factor(0.5) == 0.5
