"""One seed drives every generator, and the string hashing of the processes started after."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import torch

from siamface.utils.seed import seed_everything


def draws(seed):
    """One draw from each generator ``seed_everything`` seeds, and the hash seed it sets."""
    seed_everything(seed)
    return {"random": random.random(),
            "numpy": np.random.rand(), "torch": torch.rand(1).item(),
            "PYTHONHASHSEED": os.environ["PYTHONHASHSEED"]}


def test_one_seed_gives_the_same_draws_again():
    first = draws(7)
    again = draws(7)
    assert first == again


def test_another_seed_gives_other_draws_from_every_generator(monkeypatch):
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # put back as it was after the test
    seven, eight = draws(7), draws(8)
    for name in seven:
        assert seven[name] != eight[name], name
    assert (seven["PYTHONHASHSEED"], eight["PYTHONHASHSEED"]) == ("7", "8")


def test_a_seed_beyond_32_bits_still_lets_python_processes_start(monkeypatch):
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # put back as it was after the test
    seed_everything(2**43 - 1)  # the largest a run's config takes
    assert os.environ["PYTHONHASHSEED"] == str((2**43 - 1) % 2**32)
    # Python refuses a PYTHONHASHSEED above 2**32 - 1 before it runs a line (a worker of the
    # image cache's, or any command started from here)
    done = subprocess.run([sys.executable, "-c", "print('started')"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "started\n"
