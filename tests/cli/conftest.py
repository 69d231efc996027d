"""A tiny imported LFW-like data home with every protocol file the CLI uses, and a tiny config.

24 people in 40x40 JPEGs: 16 DevTrain and 8 DevTest people (disjoint, as in LFW's View 1), and
a ten-fold pairs.txt whose every fold holds one matching and one non-matching pair of each side,
so that View 2 overlaps DevTrain the way the real files do and its DevTest-only pairs still make
ten folds with both kinds of pair.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import make_lfw_tree, make_protocol_split

TRAIN_PEOPLE = [f"Train_{chr(65 + i)}{chr(97 + i)}" for i in range(16)]
TEST_PEOPLE = [f"Test_{chr(65 + i)}{chr(97 + i)}" for i in range(8)]
COUNTS = {**{n: 2 + i % 3 for i, n in enumerate(TRAIN_PEOPLE)},
          **{n: 3 + i % 2 for i, n in enumerate(TEST_PEOPLE)}}

# The default recipe shrunk to 32x32 inputs and a width-4 ResFace: a second or two per epoch.
# channels_last off: with torch 2.13 on CPU, backward through 4-channel convolutions in the
# channels-last layout corrupts the heap ("double free or corruption"), crashing or hanging.
TINY = [
    "train.channels_last=false",
    "data.preprocessing=null", "data.size=32", "data.val_fraction=0.3",
    "data.identities_per_batch=4", "data.images_per_identity=2",
    "model.input_size=32", "model.width=4", "model.embedding_dim=8",
    "train.epochs=2", "train.eval_batch_size=16", "schedule.warmup_epochs=0.5",
]


def write_protocol(folder: Path) -> None:
    """A ten-fold pairs.txt, then the View 1 files and a SHA256SUMS vouching for them all."""
    view2 = ["10\t2"]
    for k in range(10):
        a, b = TRAIN_PEOPLE[k], TRAIN_PEOPLE[k + 1]
        t, u = TEST_PEOPLE[k % 8], TEST_PEOPLE[(k + 1) % 8]
        i, j = (1, 2) if k < 8 else (2, 3)  # folds 8 and 9 reuse test people, other images
        view2 += [f"{a}\t1\t2", f"{t}\t{i}\t{j}", f"{a}\t1\t{b}\t1", f"{t}\t{i}\t{u}\t{j}"]
    (folder / "pairs.txt").write_text("\n".join(view2) + "\n")
    make_protocol_split(folder, COUNTS, set(TEST_PEOPLE))  # its SHA256SUMS covers pairs.txt


@pytest.fixture(scope="session")
def lfw_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``lfw-deepfunneled/`` and the protocol files, ready to import."""
    src = tmp_path_factory.mktemp("cli_lfw_sources")
    make_lfw_tree(src / "lfw-deepfunneled", COUNTS, size=40)
    write_protocol(src)
    return src


@pytest.fixture(scope="session")
def cli_home(lfw_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with ``lfw_sources`` imported (shared: tests must not write into it)."""
    from siamface.data.importer import import_lfw

    home = tmp_path_factory.mktemp("cli_home")
    import_lfw([lfw_sources], home, progress=False)
    return home


class TrainedRun(NamedTuple):
    run_dir: Path
    printed: str  # what `siamface train` printed


@pytest.fixture(scope="session")
def trained_run(cli_home: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A finished two-epoch run of the tiny config (shared: copy it before writing into it)."""
    from siamface.cli.main import main

    runs = tmp_path_factory.mktemp("cli_runs")
    args = ["--data-dir", str(cli_home), "train", "default", "--set", *TINY,
            "--runs-dir", str(runs), "--no-progress"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    (run_dir,) = runs.iterdir()
    return TrainedRun(run_dir, out.getvalue())
