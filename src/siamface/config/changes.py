"""What differs between a config stored flat (in a checkpoint, or in an experiment's folder)
and a config now: the one rule by which a resumed run or experiment is the one it began as."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from siamface.config.sections import RUN_SETTINGS, Config
from siamface.utils.settings import flatten

_UNSET = object()  # a key one side lacks


def flat_config(config: Config) -> dict[str, Any]:
    """``config`` flat, as JSON stores it: ``{"optim.lr": 0.001, ...}``."""
    return flatten(json.loads(json.dumps(config.to_dict())))


def changed_keys(then: Mapping[str, Any], now: Config, ignore: Iterable[str] = ()) -> list[str]:
    """The keys whose value differs between ``then`` (a flat config as stored) and ``now``,
    sorted, leaving out RUN_SETTINGS (how a run runs, not what it computes), the ``ignore``
    keys, and a key siamface added after ``then`` was stored that ``now`` holds at its
    default (no change: the same run). A key left out on either side is a change."""
    current = flat_config(now)
    then = dict(then)
    defaults = flat_config(Config())
    then.update({k: v for k, v in current.items() if k not in then and defaults.get(k) == v})
    left_out = {*RUN_SETTINGS, *ignore}
    return sorted(k for k in current.keys() | then.keys()
                  if current.get(k, _UNSET) != then.get(k, _UNSET) and k not in left_out)


def describe_change(then: Mapping[str, Any], now: Config, key: str) -> str:
    """``key``'s two values in words: ``optim.lr: 0.001 then, 0.01 now``."""
    current = flat_config(now)
    return (f"{key}: {json.dumps(then.get(key, 'not set'))} then, "
            f"{json.dumps(current.get(key, 'not set'))} now")
