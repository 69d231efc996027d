"""`make run` imports a local LFW copy only when there is one: LFW=path, or ../shared/lfw."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import missing

REPO = Path(__file__).resolve().parents[1]


def make_run_command(checkout: Path, *variables: str) -> str:
    """The command `make run` would run in ``checkout`` (dry run; the venv step left out)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LFW", "MAKEFLAGS")}
    done = subprocess.run(["make", "-n", "-s", "run", "STAMP=", *variables], cwd=checkout,
                          env=env, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    if shutil.which("make") is None:
        missing("make is not installed")
    (tmp_path / "main").mkdir()
    shutil.copy(REPO / "Makefile", tmp_path / "main" / "Makefile")
    return tmp_path / "main"


def test_without_a_local_copy_make_run_leaves_the_data_to_siamface_run(checkout):
    assert make_run_command(checkout) == ".venv/bin/siamface run"


def test_make_run_imports_shared_lfw_when_it_exists(checkout):
    (checkout.parent / "shared" / "lfw").mkdir(parents=True)
    assert make_run_command(checkout) == ".venv/bin/siamface run --import ../shared/lfw"


def test_make_run_imports_the_copy_given_as_lfw(checkout, tmp_path):
    (checkout.parent / "shared" / "lfw").mkdir(parents=True)
    given = tmp_path / "my_lfw"
    assert make_run_command(checkout, f"LFW={given}") == \
        f".venv/bin/siamface run --import {given}"
