"""Early stopping on a validation metric, with state that survives a resume."""

from __future__ import annotations

import math
from typing import Any

from siamface.config.sections import EarlyStoppingConfig
from siamface.utils.files import is_number

# Which way is better for each metric that "auto" knows.
_AUTO_MODES = {"val_loss": "min", "val_acc": "max", "val_auc": "max"}


class EarlyStopping:
    """Track the best value of a metric and say when it has stopped improving.

    The paper stops when the validation error has not improved for 20 epochs and keeps the
    weights of the best epoch; ``patience=20`` and the trainer's ``restore_best`` do that.

    Args:
        monitor: The metric's name ("val_loss", "val_acc", "val_auc", or any other with an
            explicit ``mode``).
        mode: "min", "max", or "auto" (from ``monitor``: loss is minimised, accuracy and AUC
            maximised).
        patience: Epochs without improvement before ``should_stop``; None never stops.
        min_delta: A new value must beat the best by more than this to count as better.

    Attributes:
        best_value_: The best value seen (None before any finite value).
        best_epoch_: The epoch of ``best_value_`` (None before).
        bad_epochs_: Epochs since the last improvement.
    """

    def __init__(self, monitor: str = EarlyStoppingConfig.monitor, mode: str = "auto",
                 patience: int | None = EarlyStoppingConfig.patience,
                 min_delta: float = EarlyStoppingConfig.min_delta) -> None:
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta

    @classmethod
    def from_config(cls, config: EarlyStoppingConfig) -> EarlyStopping:
        """Build from the ``train.early_stopping`` section."""
        return cls(config.monitor, "auto", config.patience, config.min_delta)

    @property
    def direction(self) -> str:
        """The resolved mode, "min" or "max"."""
        if self.mode in ("min", "max"):
            return self.mode
        if self.mode == "auto" and self.monitor in _AUTO_MODES:
            return _AUTO_MODES[self.monitor]
        raise ValueError(
            f"cannot tell whether {self.monitor!r} should go up or down with mode={self.mode!r}; "
            f"use mode 'min' or 'max' (auto knows {', '.join(_AUTO_MODES)})"
        )

    def step(self, value: float, epoch: int) -> bool:
        """Record the metric after ``epoch``; return whether it improved on the best so far.

        A NaN never improves (a diverged run must not become the "best").

        Args:
            value: The metric's value.
            epoch: The epoch it was measured after.
        """
        direction = self.direction  # fails at once for a metric "auto" does not know
        if not hasattr(self, "bad_epochs_"):
            self.best_value_: float | None = None
            self.best_epoch_: int | None = None
            self.bad_epochs_ = 0
        value = float(value)
        best = self.best_value_
        if math.isnan(value):
            improved = False
        elif best is None:
            improved = True
        elif direction == "min":
            improved = value < best - self.min_delta
        else:
            improved = value > best + self.min_delta
        if improved:
            self.best_value_, self.best_epoch_, self.bad_epochs_ = value, epoch, 0
        else:
            self.bad_epochs_ += 1
        return improved

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` epochs in a row have not improved."""
        if self.patience is None or not hasattr(self, "bad_epochs_"):
            return False
        return self.bad_epochs_ >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """The learned state, JSON-serialisable, for a checkpoint."""
        return {
            "monitor": self.monitor,
            "mode": self.direction,
            "best_value": getattr(self, "best_value_", None),
            "best_epoch": getattr(self, "best_epoch_", None),
            "bad_epochs": getattr(self, "bad_epochs_", 0),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved; the monitor and mode must match this instance."""
        expected = {"monitor", "mode", "best_value", "best_epoch", "bad_epochs"}
        if set(state) != expected:
            raise ValueError(
                f"early-stopping state must have the keys {sorted(expected)}, got {sorted(state)}"
            )
        if (state["monitor"], state["mode"]) != (self.monitor, self.direction):
            raise ValueError(
                f"early-stopping state was saved for {state['monitor']!r} ({state['mode']}), "
                f"but this run monitors {self.monitor!r} ({self.direction})"
            )
        best, epoch, bad = state["best_value"], state["best_epoch"], state["bad_epochs"]
        if best is None and epoch is None:
            pass  # no finite value seen yet
        elif not (is_number(best, finite=False) and not math.isnan(best)
                  and is_number(epoch, int) and epoch >= 1):
            raise ValueError(f"early-stopping state: best_value {best!r} and best_epoch "
                             f"{epoch!r}: expected a number and an epoch from 1, or both null")
        if not (is_number(bad, int) and bad >= 0):
            raise ValueError(f"early-stopping state: bad_epochs is {bad!r}, expected a "
                             "count of epochs from 0")
        self.best_value_ = None if best is None else float(best)
        self.best_epoch_ = None if epoch is None else int(epoch)
        self.bad_epochs_ = int(bad)
