"""Learning-rate (and momentum) schedules as pure functions of a fractional epoch.

A schedule says, for ``epoch`` = epochs done so far (step 30 of 100 in epoch 2 is 2.3), by what
factor to multiply each parameter group's base learning rate, and optionally what momentum to
use. The trainer calls ``schedule.apply(optimizer, epoch)`` before every step. Because a
schedule holds no state of its own, resuming from a checkpoint needs nothing but the epoch: the
base learning rates travel in the optimizer's state dict (as each group's ``"base_lr"``).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch

from siamface.config.sections import ScheduleConfig
from siamface.errors import ConfigError
from siamface.utils.registry import Registry


class Schedule(ABC):
    """Base class: a subclass gives ``lr_factor`` and, if it schedules momentum, ``momentum``."""

    @abstractmethod
    def lr_factor(self, epoch: float) -> float:
        """The multiplier on the base learning rate at fractional ``epoch`` (>= 0)."""

    def momentum(self, epoch: float) -> float | None:
        """The momentum (SGD/RMSprop ``momentum``, Adam ``betas[0]``) at ``epoch``; None leaves
        the optimizer's own value."""
        return None

    def apply(self, optimizer: torch.optim.Optimizer, epoch: float) -> float:
        """Set every group's ``lr`` (and momentum when scheduled) for ``epoch``; return the factor.

        The first call records each group's current ``lr`` as its ``"base_lr"``.

        Args:
            optimizer: Any torch optimizer.
            epoch: Epochs done so far, fractional within an epoch.
        """
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        factor = self.lr_factor(epoch)
        momentum = self.momentum(epoch)
        for group in optimizer.param_groups:
            group["lr"] = group.setdefault("base_lr", group["lr"]) * factor
            if momentum is None:
                continue
            if "momentum" in group:
                group["momentum"] = momentum
            elif "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                raise ValueError(
                    f"{type(self).__name__} schedules momentum, but "
                    f"{type(optimizer).__name__} has neither momentum nor betas"
                )
        return factor


SCHEDULES: Registry[Schedule] = Registry("schedule")


@SCHEDULES.register("constant")
class Constant(Schedule):
    """The base learning rate throughout."""

    def lr_factor(self, epoch: float) -> float:
        return 1.0


@SCHEDULES.register("koch_decay")
class KochDecay(Schedule):
    """The paper's schedule (section 4.1): the learning rate falls by ``1 - decay`` (1%) at the
    end of every epoch, ``0.99 ** floor(epoch)``, and the momentum rises linearly, one step per
    epoch, from ``momentum_start`` (0.5 in the paper) to ``momentum_end`` after ``ramp_epochs``
    epochs. The paper tuned a final momentum per layer and does not say how fast it rises;
    here one final value and ramp length serve every layer.

    Args:
        decay: Per-epoch multiplier on the learning rate.
        momentum_start: Momentum during the first epoch.
        momentum_end: Momentum from epoch ``ramp_epochs`` on.
        ramp_epochs: Epochs to go from the start to the end momentum (0: end at once).
    """

    def __init__(self, decay: float = 0.99, momentum_start: float = 0.5,
                 momentum_end: float = 0.9, ramp_epochs: int = 10) -> None:
        if not 0 < decay <= 1:
            raise ConfigError(f"schedule.decay: expected a number in (0, 1], got {decay!r}")
        for key, value in (("momentum_start", momentum_start), ("momentum_end", momentum_end)):
            if not 0 <= value < 1:
                raise ConfigError(f"schedule.{key}: expected a number in [0, 1), got {value!r}")
        if ramp_epochs < 0:
            raise ConfigError(f"schedule.ramp_epochs: expected >= 0, got {ramp_epochs!r}")
        self.decay = decay
        self.momentum_start = momentum_start
        self.momentum_end = momentum_end
        self.ramp_epochs = ramp_epochs

    def lr_factor(self, epoch: float) -> float:
        return self.decay ** math.floor(epoch)

    def momentum(self, epoch: float) -> float:
        done = 1.0 if self.ramp_epochs == 0 else min(math.floor(epoch) / self.ramp_epochs, 1.0)
        return self.momentum_start + (self.momentum_end - self.momentum_start) * done


@SCHEDULES.register("step")
class Step(Schedule):
    """torch's StepLR: ``gamma ** floor(epoch / step_size)``.

    Args:
        step_size: Epochs between drops.
        gamma: Multiplier at each drop.
    """

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ConfigError(f"schedule.step_size: expected >= 1, got {step_size!r}")
        if not 0 < gamma <= 1:
            raise ConfigError(f"schedule.gamma: expected a number in (0, 1], got {gamma!r}")
        self.step_size = step_size
        self.gamma = gamma

    def lr_factor(self, epoch: float) -> float:
        return self.gamma ** math.floor(epoch / self.step_size)


@SCHEDULES.register("cosine")
class Cosine(Schedule):
    """Linear warm-up from ``warmup_start_factor`` to 1 over ``warmup_epochs``, then a half
    cosine from 1 down to ``min_factor`` at ``total_epochs`` (and ``min_factor`` after).

    Warm-up keeps the first steps small while Adam's moment estimates and the BatchNorm
    statistics are still noisy.

    Args:
        total_epochs: Where the cosine ends; ``build_schedule`` fills in ``train.epochs``.
        warmup_epochs: Length of the linear warm-up (may be fractional; 0 for none).
        warmup_start_factor: Factor at epoch 0.
        min_factor: Factor at the end of the cosine.
    """

    def __init__(self, total_epochs: float, warmup_epochs: float = 0.0,
                 warmup_start_factor: float = 0.1, min_factor: float = 0.0) -> None:
        if warmup_epochs < 0:
            raise ConfigError(f"schedule.warmup_epochs: expected >= 0, got {warmup_epochs!r}")
        if warmup_epochs >= total_epochs:
            raise ConfigError(
                f"schedule.warmup_epochs: the warm-up ({warmup_epochs!r} epochs) must end before "
                f"the schedule does (total_epochs = train.epochs = {total_epochs!r}); set "
                f"schedule.warmup_epochs={total_epochs / 2:g} or less"
            )
        for key, value in (("warmup_start_factor", warmup_start_factor),
                           ("min_factor", min_factor)):
            if not 0 <= value <= 1:
                raise ConfigError(f"schedule.{key}: expected a number in [0, 1], got {value!r}")
        self.total_epochs = total_epochs
        self.warmup_epochs = warmup_epochs
        self.warmup_start_factor = warmup_start_factor
        self.min_factor = min_factor

    def lr_factor(self, epoch: float) -> float:
        if epoch < self.warmup_epochs:
            start = self.warmup_start_factor
            return start + (1.0 - start) * epoch / self.warmup_epochs
        t = min((epoch - self.warmup_epochs) / (self.total_epochs - self.warmup_epochs), 1.0)
        return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))


def build_schedule(config: ScheduleConfig | Mapping[str, Any],
                   total_epochs: int | None = None) -> Schedule:
    """Build the schedule that ``config`` names.

    Args:
        config: The ``schedule`` section, or a mapping ``{"name": "step", "step_size": 5}``.
        total_epochs: ``train.epochs``; given to a schedule that takes ``total_epochs`` when the
            config leaves it out, so that ``train.epochs=5`` also shortens the cosine.
    """
    if not isinstance(config, ScheduleConfig):
        config = ScheduleConfig.from_dict(config)
    factory = SCHEDULES.get(config.name, "schedule.name")
    SCHEDULES.check_kwargs(config.name, config.kwargs, "schedule")
    kwargs = dict(config.kwargs)
    if "total_epochs" in inspect.signature(factory).parameters and "total_epochs" not in kwargs:
        if total_epochs is None:
            raise ConfigError(f"schedule {config.name!r} needs total_epochs (train.epochs)")
        kwargs["total_epochs"] = total_epochs
    schedule = factory(**kwargs)
    if total_epochs is not None:  # e.g. a cosine told to end before training does
        # (mid-epoch: a warm-up from 0 starts an epoch at 0 and still trains in it)
        idle = [e for e in range(total_epochs) if schedule.lr_factor(e + 0.5) == 0]
        if idle:
            raise ConfigError(
                f"schedule: the learning rate is 0 from epoch {idle[0] + 1} of train.epochs = "
                f"{total_epochs}, so those epochs would not train (leave schedule.total_epochs "
                "out: it follows train.epochs; or set schedule.min_factor above 0)")
    return schedule
