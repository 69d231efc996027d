"""A wheel built from the repository ships the configs and the page, and works outside it."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_wheel_carries_the_configs_and_lists_them_installed_elsewhere(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(REPO)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("siamface-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "installed")
    for shipped in ("default.yaml", "koch2015.yaml", "restricted.yaml", "search/default-tpe.yaml"):
        assert f"siamface/configs/{shipped}" in names, shipped
    assert "siamface/serve/static/index.html" in names
    # run from elsewhere, with the wheel's files first on the path (not the source tree)
    listed = subprocess.run(
        [sys.executable, "-m", "siamface", "configs"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, check=True,
        env={"PYTHONPATH": str(tmp_path / "installed"), "PATH": "/usr/bin:/bin"})
    assert listed.stdout.splitlines()[0].startswith("default (seed 0): resface")
    assert f"(in {tmp_path / 'installed' / 'siamface' / 'configs'};" in listed.stdout
