"""One seed drives Python's, NumPy's and torch's random generators (and the string hashing of
the processes started after it)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy's global state and torch.

    Args:
        seed: Any non-negative integer (a run's config takes 0 to 2**43 - 1).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # Only processes started from here on read it: this one's str hashing was fixed when it
    # started. Python takes 0 to 2**32 - 1 there, and refuses to start at all with more.
    os.environ["PYTHONHASHSEED"] = str(seed % 2**32)
