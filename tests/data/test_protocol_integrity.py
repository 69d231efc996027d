"""A protocol file of an imported copy is read only as imported: its sha256 in manifest.json."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from siamface.cli.main import main
from siamface.data import lfw as lfw_module
from siamface.data.importer import import_lfw
from siamface.data.lfw import CopyChangedError, DamagedImportError, open_lfw
from siamface.utils.hashing import sha256_file


@pytest.fixture
def home(tmp_path: Path, synthetic_home: Path) -> Path:
    """A copy of the shared synthetic data home, to damage."""
    return Path(shutil.copytree(synthetic_home, tmp_path / "home"))


def drop_first_entries(path: Path) -> None:
    """Edit a View 1 protocol file so that it still parses: drop its first matching and first
    non-matching pair (a pairs file) or its last person (a people file), and fix its header."""
    lines = path.read_text().splitlines()
    n = int(lines[0])
    kept = lines[2:n + 1] + lines[n + 2:] if path.name.startswith("pairs") else lines[1:-1]
    path.write_text("\n".join([str(n - 1), *kept]) + "\n")


def read(lfw: lfw_module.LFWDataset, name: str) -> object:
    return lfw.read_pairs(name) if name.startswith("pairs") else lfw.read_people(name)


@pytest.mark.parametrize(
    "name", ["pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt", "peopleDevTest.txt"]
)
def test_an_edited_protocol_file_is_refused_naming_it(home, name):
    path = home / "lfw" / "protocol" / name
    drop_first_entries(path)
    lfw = open_lfw(home)
    with pytest.raises(DamagedImportError) as err:
        read(lfw, name)
    message = str(err.value)
    assert message.startswith(f"{path}: differs from the {name} imported (its sha256 in "
                              f"{home / 'lfw' / 'manifest.json'})")
    assert f"run `siamface data import FILE` with FILE the {name} you imported" in message
    assert "\n" not in message
    with pytest.raises(DamagedImportError):  # the existence check that commands make first
        lfw.protocol_path(name)


def test_importing_the_file_again_repairs_the_copy(tmp_path, home):
    path = home / "lfw" / "protocol" / "pairsDevTest.txt"
    original = tmp_path / "src" / path.name
    original.parent.mkdir()
    shutil.copyfile(path, original)
    (original.parent / "SHA256SUMS").write_text(f"{sha256_file(original)}  {path.name}\n")
    pairs = len(open_lfw(home).read_pairs(path.name).pairs)
    drop_first_entries(path)
    import_lfw([original], home, progress=False)  # given alone: added to the current import
    assert len(open_lfw(home).read_pairs(path.name).pairs) == pairs


def test_each_read_hashes_the_file_once(home, monkeypatch):
    hashed: list[str] = []

    def counting_sha256(path):
        hashed.append(Path(path).name)
        return sha256_file(path)

    lfw = open_lfw(home)
    monkeypatch.setattr(lfw_module, "sha256_file", counting_sha256)
    lfw.read_pairs("pairsDevTest.txt")
    lfw.read_people("peopleDevTest.txt")
    assert hashed == ["pairsDevTest.txt", "peopleDevTest.txt"]


def test_a_file_laid_out_by_hand_is_taken_as_it_is(home):
    path = home / "lfw" / "protocol" / "pairsDevTest.txt"
    pairs = len(open_lfw(home).read_pairs(path.name).pairs)
    drop_first_entries(path)
    lfw = dataclasses.replace(open_lfw(home), from_manifest=False)
    assert len(lfw.read_pairs(path.name).pairs) == pairs - 2


def test_a_file_imported_again_since_the_copy_was_opened_says_so(tmp_path, home):
    lfw = open_lfw(home)
    other = tmp_path / "src" / "pairsDevTest.txt"
    other.parent.mkdir()
    shutil.copyfile(home / "lfw" / "protocol" / other.name, other)
    drop_first_entries(other)
    (other.parent / "SHA256SUMS").write_text(f"{sha256_file(other)}  {other.name}\n")
    import_lfw([other], home, progress=False)
    with pytest.raises(CopyChangedError, match="LFW was imported again while this command ran"):
        lfw.read_pairs(other.name)


def test_the_cli_refuses_an_edited_file_in_one_line(tmp_path, home, capsys):
    path = home / "lfw" / "protocol" / "pairsDevTrain.txt"
    drop_first_entries(path)
    out = tmp_path / "stats"
    assert main(["--data-dir", str(home), "data", "stats", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"siamface: error: {path}: differs from the pairsDevTrain.txt imported")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
