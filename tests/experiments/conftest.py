"""Tiny search specs on the synthetic data home, and a finished study shared by the tests that
only read it (compare, report, tracking)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from training.conftest import TINY

REPO = Path(__file__).resolve().parents[2]
# one thread: the tiny runs are deterministic and leave the second core to the other worker
FIXED = [*TINY, "train.threads=1"]


def tiny_spec(**values: Any) -> dict[str, Any]:
    """A spec mapping over the tiny default recipe; ``values`` replace or add keys (the keys
    the space searches are left out of the tiny recipe's fixed ones)."""
    space = values.get("space", {"optim.lr": {"type": "categorical",
                                              "choices": [1.0e-3, 3.0e-3]}})
    fixed = [item for item in FIXED if item.split("=", 1)[0] not in space]
    spec = {"base": "default", "fixed": fixed, "sampler": "grid", "objective": "val_loss",
            "space": space}
    return {**spec, **values}


def write_spec(path: Path, **values: Any) -> Path:
    path.write_text(yaml.safe_dump(tiny_spec(**values)))
    return path


def siamface_process(home: Path, *args: str) -> subprocess.Popen:
    """``siamface --data-dir home ARGS`` in its own process (output in .stdout/.stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "siamface", "--data-dir", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="session")
def finished_study(synthetic_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 x 2 grid study (optim.lr 3e-3 or 1e30, optim.momentum None or 0.9) of four trials:
    one complete (lr 3e-3 without momentum, then scored on DevTest as the best), two failed
    for an impossible combination (momentum for AdamW, run folder never made) and one failed
    because its loss diverged (lr 1e30; its run folder kept).

    A search refuses a value no trial can take before it begins, so the check is passed over
    here: the trials stand for those failed by a combination of values (or by a spec an older
    siamface took)."""
    from siamface.data.lfw import open_lfw
    from siamface.experiments import search
    from siamface.experiments.spec import spec_from_dict

    spec = spec_from_dict(tiny_spec(name="finished", space={
        "optim.lr": {"type": "categorical", "choices": [3.0e-3, 1.0e30]},
        "optim.momentum": {"type": "categorical", "choices": [None, 0.9]}}))
    folder = tmp_path_factory.mktemp("studies") / "finished"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "space_refusal", lambda spec, param, value: None)
        search.run_search(spec, open_lfw(synthetic_home), folder, evaluate=True)
    return folder
