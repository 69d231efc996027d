"""The study on PostgreSQL, for real: a throw-away cluster on a loopback port, two workers at
once, and a worker killed mid-trial. Under CI (CI=true) a missing PostgreSQL fails the test."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from conftest import missing, require
from siamface.experiments.claim import TrialClaim
from siamface.experiments.study_folder import StudyFolder

from .conftest import FIXED, siamface_process, write_spec
from .test_claim import assert_acquires, assert_claims_exclude
from .test_search import wait_for


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@pytest.fixture(scope="module")
def postgres_url():
    """A fresh cluster (trust auth, loopback only) and its URL; stopped after the module."""
    require("psycopg2")
    bin_dir = postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL not installed (apt-get install postgresql)")
    # not under pytest's tmp folder: the postgres user cannot enter root's 0700 folders
    root = Path(tempfile.mkdtemp(prefix="siamface-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(root / "log"), "-o", f"-p {port} -k {sockets} -h 127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p",
                        str(port), "-U", "postgres", "studies"], check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/studies"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

def test_postgres_claims_exclude_each_other_per_study(postgres_url: str):
    assert_claims_exclude(lambda: TrialClaim(postgres_url, "one"))
    held = TrialClaim(postgres_url, "one")
    held.acquire()
    try:
        assert_acquires(TrialClaim(postgres_url, "another"))  # another study: another key
    finally:
        held.release()

def test_two_workers_run_every_trial_exactly_once(postgres_url: str, synthetic_home: Path,
                                                  tmp_path: Path):
    spec = write_spec(tmp_path / "spec.yaml", name="shared", sampler="tpe", n_trials=6,
                      space={"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2,
                                          "log": True}})
    study = tmp_path / "study"
    args = ["search", str(spec), "--study-dir", str(study), "--storage", postgres_url,
            "--no-progress"]
    workers = [siamface_process(synthetic_home, *args) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    trials = optuna.load_study(study_name="shared", storage=postgres_url).get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials)
    # each trial ran in one worker: one run folder each, reported by exactly one worker
    assert all(len(list(study.glob(f"trials/{n:04d}/*/config.yaml"))) == 1 for n in range(6))
    lines = Counter(line.split(":")[0] for out, _ in outputs for line in out.splitlines()
                    if line.startswith("trial "))
    assert lines == Counter({f"trial {n}": 1 for n in range(6)})
    records = StudyFolder(study).trials()
    assert [r["state"] for r in records] == ["complete"] * 6

def test_a_worker_killed_mid_trial_leaves_the_study_resumable(postgres_url: str,
                                                              synthetic_home: Path,
                                                              tmp_path: Path):
    spec = write_spec(tmp_path / "spec.yaml", name="killed", sampler="tpe", n_trials=2,
                      fixed=[*FIXED, "train.epochs=12"],
                      space={"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2,
                                          "log": True}})
    study = tmp_path / "study"
    args = ["search", str(spec), "--study-dir", str(study), "--storage", postgres_url,
            "--heartbeat", "1", "--no-progress"]
    worker = siamface_process(synthetic_home, *args)
    wait_for(lambda: any(study.glob("trials/0000/*/summary.csv")))
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    time.sleep(2.5)  # past the grace period of two heartbeats
    again = siamface_process(synthetic_home, *args)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    trials = optuna.load_study(study_name="killed", storage=postgres_url).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params  # the dead trial, run again
    records = StudyFolder(study).trials()
    assert records[0]["state"] == "failed" and "retried as trial 1" in records[0]["reason"]
    assert records[1]["retried_from"] == 0
