import json
import shutil
from pathlib import Path

import pytest

from conftest import make_lfw_tree
from siamface.data.lfw import (
    DataNotFoundError,
    LayoutError,
    UnknownImageError,
    open_lfw,
    scan_image_folder,
)
from siamface.data.protocol import ImageRef, ProtocolError

COUNTS = {"Ann_Ax": 3, "Bo_By": 1, "Cy_Cz": 2}


def make_home(home: Path, counts: dict[str, int] = COUNTS, manifest: bool = True) -> Path:
    """An imported copy laid out by hand, so that these tests need nothing but lfw.py."""
    make_lfw_tree(home / "lfw" / "images", counts, size=8)
    (home / "lfw" / "protocol").mkdir()
    if manifest:
        (home / "lfw" / "manifest.json").write_text(
            json.dumps(
                {
                    "variant": "lfw_funneled",
                    "people": len(counts),
                    "images": sum(counts.values()),
                    "checksums": {"lfw-funneled.tgz": "ab" * 32},
                }
            )
        )
    return home


def test_open_reads_manifest_and_counts_images(tmp_path):
    lfw = open_lfw(make_home(tmp_path))
    assert lfw.variant == "lfw_funneled"
    assert lfw.image_counts == COUNTS
    assert lfw.num_images == 6
    assert lfw.checksums == {"lfw-funneled.tgz": "ab" * 32}
    assert lfw.images_dir == tmp_path / "lfw" / "images"


def test_image_path_of_known_images(tmp_path):
    lfw = open_lfw(make_home(tmp_path))
    path = lfw.image_path(ImageRef("Ann_Ax", 3))
    assert path == tmp_path / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0003.jpg"
    assert path.is_file()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (ImageRef("Nobody_Here", 1), "no person named 'Nobody_Here'"),
        (ImageRef("Ann_Ax", 4), "Ann_Ax has images 1..3"),
        (ImageRef("Bo_By", 2), "Bo_By has images 1..1"),
    ],
)
def test_image_path_of_unknown_images(tmp_path, ref, message):
    with pytest.raises(UnknownImageError, match=message):
        open_lfw(make_home(tmp_path)).image_path(ref)


def test_nothing_imported_says_how_to_get_data(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"siamface data fetch.*siamface data import"):
        open_lfw(tmp_path)


def test_import_without_manifest_is_unfinished(tmp_path):
    with pytest.raises(DataNotFoundError, match="did not finish"):
        open_lfw(make_home(tmp_path, manifest=False))


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"), ('{"variant": "lfw"}', "missing 'people', 'images'"),
    ("5", "expected a JSON object, got int"), ("null", "expected a JSON object, got NoneType"),
    ('{"variant": 3, "people": 1, "images": 1, "checksums": {}}', "variant must be a name")])
def test_damaged_manifest_is_a_missing_import(tmp_path, text, message):
    home = make_home(tmp_path)
    (home / "lfw" / "manifest.json").write_text(text)
    with pytest.raises(DataNotFoundError, match=rf"manifest\.json: {message}.*; run `siamface "
                                                r"data fetch`") as err:
        open_lfw(home)
    assert "\n" not in str(err.value)


def test_protocol_path_lists_what_was_imported(tmp_path):
    lfw = open_lfw(make_home(tmp_path))
    (lfw.protocol_dir / "pairs.txt").write_text("")
    (lfw.protocol_dir / "people.txt").write_text("")
    assert lfw.protocol_path("pairs.txt") == lfw.protocol_dir / "pairs.txt"
    with pytest.raises(DataNotFoundError, match=r"imported: pairs.txt, people.txt"):
        lfw.protocol_path("pairsDevTest.txt")


def test_read_pairs_and_people_check_against_images(tmp_path):
    lfw = open_lfw(make_home(tmp_path))
    (lfw.protocol_dir / "pairsDevTest.txt").write_text("1\nAnn_Ax\t1\t3\nBo_By\t1\tCy_Cz\t2\n")
    pairs = lfw.read_pairs("pairsDevTest.txt")
    assert [(p.left, p.right, p.same) for p in pairs.pairs] == [
        (ImageRef("Ann_Ax", 1), ImageRef("Ann_Ax", 3), True),
        (ImageRef("Bo_By", 1), ImageRef("Cy_Cz", 2), False),
    ]
    (lfw.protocol_dir / "pairsDevTrain.txt").write_text("1\nAnn_Ax\t1\t4\nBo_By\t1\tCy_Cz\t2\n")
    with pytest.raises(ProtocolError, match=r"pairsDevTrain.txt:2"):
        lfw.read_pairs("pairsDevTrain.txt")
    (lfw.protocol_dir / "peopleDevTest.txt").write_text("2\nAnn_Ax\t3\nCy_Cz\t2\n")
    people = lfw.read_people("peopleDevTest.txt")
    assert [(e.name, e.count) for e in people.folds[0]] == [("Ann_Ax", 3), ("Cy_Cz", 2)]
    (lfw.protocol_dir / "people.txt").write_text("1\n1\nCy_Cz\t3\n")
    with pytest.raises(ProtocolError, match=r"people.txt:3"):
        lfw.read_people("people.txt")


def _person(images: Path, name: str) -> None:
    (images / name).mkdir()
    shutil.copy(images / "Bo_By" / "Bo_By_0001.jpg", images / name / f"{name}_0001.jpg")


def test_scan_counts_people(tmp_path):
    make_lfw_tree(tmp_path / "imgs", COUNTS, size=8)
    assert scan_image_folder(tmp_path / "imgs") == COUNTS


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "Ann_Ax" / "Ann_Ax_0002.jpg").unlink(),
         r"Ann_Ax: .*Ann_Ax_0003.jpg is where Ann_Ax_0002.jpg belongs"),
        (lambda d: (d / "Bo_By" / "Bo_By_0001.jpg").rename(d / "Bo_By" / "Bo_By_0000.jpg"),
         r"Bo_By_0000.jpg is where Bo_By_0001.jpg belongs"),
        (lambda d: (d / "Bo_By" / "Bo_By_0001.jpg").rename(d / "Bo_By" / "Bo_By_1.jpg"),
         r"Bo_By_1.jpg: expected files named Bo_By_NNNN.jpg"),
        (lambda d: (d / "Bo_By" / "Bo_By_0001.jpg").rename(d / "Bo_By" / "Cy_Cz_0001.jpg"),
         r"Bo_By/Cy_Cz_0001.jpg: expected files named Bo_By_NNNN.jpg"),
        (lambda d: (d / "Cy_Cz" / "notes.txt").write_text(""), r"Cy_Cz/notes.txt: expected"),
        (lambda d: (d / "Cy_Cz" / "sub").mkdir(), r"Cy_Cz/sub: expected"),
        (lambda d: (d / "README").write_text(""), r"README: expected only one folder per person"),
        (lambda d: (d / "Dee_Dd").mkdir(), r"Dee_Dd: a person folder must hold"),
        # names the protocol files could never give, found at the import, not at each run
        (lambda d: _person(d, "Jane Doe"), r"Jane Doe: expected a person's folder, a name "
                                           r"without spaces, slashes or a leading dot"),
        (lambda d: _person(d, ".Ann"), r"\.Ann: expected a person's folder"),
        # Arabic-Indic digits: not the file the cache opens
        (lambda d: (d / "Bo_By" / "Bo_By_0001.jpg").rename(
            d / "Bo_By" / "Bo_By_\u0660\u0660\u0660\u0661.jpg"), "Bo_By_.*: expected files"),
        (lambda d: (d / "Cy_Cz" / "Cy_Cz_0003.jpg").mkdir(), r"Cy_Cz_0003.jpg: expected files"),
    ],
)
def test_scan_names_the_offending_path(tmp_path, damage, message):
    images = make_lfw_tree(tmp_path / "imgs", COUNTS, size=8)
    damage(images)
    with pytest.raises(LayoutError, match=message):
        scan_image_folder(images)


def test_scan_of_empty_or_missing_folder(tmp_path):
    with pytest.raises(LayoutError, match="is not a folder"):
        scan_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="holds no person folders"):
        scan_image_folder(tmp_path / "empty")


