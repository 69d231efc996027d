"""open_lfw checks the copy against its manifest; re-importing the same sources repairs it."""

from __future__ import annotations

import shutil

import pytest
from test_importer import TINY, make_source, write_protocol

from siamface.cli.main import main
from siamface.data.importer import ProtocolNotKeptWarning, import_lfw
from siamface.data.lfw import DamagedImportError, DataNotFoundError, LayoutError, open_lfw

REPAIR = "run `siamface data import PATH` again with the same sources to repair it"


@pytest.fixture
def imported(tmp_path):
    """(sources, home): a tiny zip and two protocol files, imported."""
    sources = [make_source(tmp_path, "lfw", "zip"), write_protocol(tmp_path / "proto")]
    home = tmp_path / "home"
    import_lfw(sources, home, progress=False)
    return sources, home


def damage_and_check(home, damage, message):
    damage(home / "lfw" / "images")
    with pytest.raises(DamagedImportError, match=message) as err:
        open_lfw(home)
    assert str(err.value).endswith(REPAIR) and "\n" not in str(err.value)
    assert isinstance(err.value, LayoutError)  # what the importer imports over


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: shutil.rmtree(d / "Bo_By"), r"2 people and 5 images, but .* lists 3 and 6"),
        # the last image: no gap left to notice, but one image fewer than listed
        (lambda d: (d / "Ann_Ax" / "Ann_Ax_0003.jpg").unlink(), r"3 people and 5 images"),
        # a layout error inside the copy says how to repair it too
        (lambda d: (d / "Bo_By2").mkdir(), r"Bo_By2: a person folder must hold"),
    ],
)
def test_a_changed_copy_is_refused_and_reimporting_repairs_it(imported, damage, message):
    sources, home = imported
    damage_and_check(home, damage, message)
    lfw = import_lfw(sources, home, progress=False)  # not the "unchanged" shortcut
    assert lfw.image_counts == TINY
    assert open_lfw(home).image_counts == TINY


def test_an_added_person_is_refused(imported):
    _, home = imported

    def add(images):
        shutil.copytree(images / "Bo_By", images / "Zed_Zz")
        (images / "Zed_Zz" / "Bo_By_0001.jpg").rename(images / "Zed_Zz" / "Zed_Zz_0001.jpg")

    damage_and_check(home, add, r"holds 4 people and 7 images, but manifest\.json lists 3 and 6")


def test_a_deleted_protocol_file_is_restored_by_reimporting(imported):
    sources, home = imported
    protocol = home / "lfw" / "protocol" / "people.txt"
    protocol.unlink()
    assert open_lfw(home).protocol_names() == ["pairsDevTest.txt"]
    lfw = import_lfw(sources, home, progress=False)
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    assert protocol.read_bytes() == (sources[1] / "people.txt").read_bytes()


def test_a_changed_protocol_file_is_restored_by_reimporting(imported):
    sources, home = imported
    protocol = home / "lfw" / "protocol" / "people.txt"
    protocol.write_text("1\nAnn_Ax\t3\n")
    import_lfw(sources, home, progress=False)
    assert protocol.read_bytes() == (sources[1] / "people.txt").read_bytes()


@pytest.mark.parametrize("text", ["5", "null", "[]", "{not json"])
def test_a_damaged_manifest_is_repaired_by_importing_again(imported, text):
    sources, home = imported
    (home / "lfw" / "manifest.json").write_text(text)
    with pytest.raises(DataNotFoundError, match=r"manifest\.json: "):
        open_lfw(home)
    assert main(["--data-dir", str(home), "data", "import", *map(str, sources)]) == 0
    lfw = open_lfw(home)
    assert lfw.image_counts == TINY
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]


@pytest.mark.parametrize("damage", ["5", None])  # None: an import that died before it
def test_protocol_files_a_damaged_manifest_cannot_vouch_for_are_named_when_not_kept(imported,
                                                                                   damage):
    sources, home = imported
    manifest = home / "lfw" / "manifest.json"
    manifest.write_text(damage) if damage else manifest.unlink()
    with pytest.warns(ProtocolNotKeptWarning, match=r"^pairsDevTest\.txt, people\.txt not kept: "
                                                    r".*manifest\.json.*give them again"):
        import_lfw(sources[:1], home, progress=False)  # the images alone
    assert open_lfw(home).protocol_names() == []
