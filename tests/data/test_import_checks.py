"""What an import checks before it swaps anything in, what it keeps, and macOS archives."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest
from test_archive import tar_file, tar_special, write_tar, write_zip
from test_importer import TINY, listing, make_source, manifest, vouch, write_protocol

from siamface.cli.main import main
from siamface.data.archive import UnsafeArchiveError, safe_extract
from siamface.data.importer import SourceError, import_lfw
from siamface.data.lfw import open_lfw
from siamface.data.protocol import ProtocolError


@pytest.fixture
def home(tmp_path) -> Path:
    """A data home holding a good import of TINY with pairsDevTest.txt and people.txt."""
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path, "lfw", "zip"), write_protocol(tmp_path / "good")], home,
               progress=False)
    return home


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("pairsDevTest.txt", b"2\nAnn_Ax\t1\t2\nBo_By\t1\tCy_Cz\t2\n",
         r"pairsDevTest\.txt:3: `Bo_By 1 Cy_Cz 2` with 4 fields; expected a matching pair"),
        ("pairsDevTest.txt", b"1\nAnn_Ax\t1\t4\nBo_By\t1\tCy_Cz\t2\n",
         r"pairsDevTest\.txt:2: image 4 of `Ann_Ax`, who has 3 image\(s\)"),
        ("pairsDevTest.txt", b"1\nAnn_Ax\t1\t2\nBo_By\t1\tZed_Zz\t1\n",
         r"pairsDevTest\.txt:3: unknown person `Zed_Zz`"),
        ("people.txt", b"2\nAnn_Ax\t3\nCy_Cz\t1\n",
         r"people\.txt:3: 1 image\(s\) for `Cy_Cz`; expected 2"),
        ("people.txt", b"1\nAnn_Ax\t3\n\xe9\n", r"people\.txt:3: bytes that are not UTF-8"),
        ("pairsDevTest.txt", b"1\n\nAnn_Ax\t1\t2\nBo_By\t1\tCy_Cz\t2\n",
         r"pairsDevTest\.txt:2: a blank line"),
    ],
    ids=["header-count", "image-number", "unknown-person", "people-count", "latin-1", "blank"],
)
def test_a_bad_protocol_file_fails_the_import_and_changes_nothing(
    tmp_path, home, name, data, message
):
    before = (home / "lfw" / "manifest.json").read_bytes()
    bad = write_protocol(tmp_path / "bad")
    (bad / name).write_bytes(data)
    vouch(bad)
    with pytest.raises(ProtocolError, match=message) as err:
        import_lfw([make_source(tmp_path / "new", "lfw", "tgz"), bad], home, progress=False)
    assert str(bad / name) in str(err.value) and "\n" not in str(err.value)
    assert (home / "lfw" / "manifest.json").read_bytes() == before
    assert open_lfw(home).image_counts == TINY
    assert listing(home) == ["lfw"]  # the staging folder is removed


def test_a_failed_first_import_leaves_no_staging_folder(tmp_path):
    home = tmp_path / "home"
    archive = make_source(tmp_path, "lfw", "tgz")
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.tgz"):
        import_lfw([cut], home, progress=False)
    assert listing(home) == []


def test_protocol_files_imported_before_are_kept(tmp_path, home):
    first = manifest(home)["checksums"]
    archive = make_source(tmp_path / "again", "lfw", "zip")
    # fewer protocol files: nothing to do, both are still there
    lfw = import_lfw([archive], home, progress=False)
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    # a new pairsDevTest.txt replaces the old one; people.txt stays, with its sha256
    new = write_protocol(tmp_path / "new", names=("pairsDevTest.txt",), sums=False)
    (new / "pairsDevTest.txt").write_text("1\nCy_Cz\t1\t2\nAnn_Ax\t2\tBo_By\t1\n")
    vouch(new)
    lfw = import_lfw([archive, new], home, progress=False)
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    assert lfw.checksums["people.txt"] == first["people.txt"]
    assert lfw.checksums["pairsDevTest.txt"] != first["pairsDevTest.txt"]
    assert lfw.read_pairs("pairsDevTest.txt").pairs[0].left.name == "Cy_Cz"


def test_replace_protocol_drops_the_old_files(tmp_path, home):
    archive = make_source(tmp_path / "again", "lfw", "zip")
    lfw = import_lfw([archive], home, progress=False, replace_protocol=True)
    assert lfw.protocol_names() == []
    assert list(lfw.checksums) == ["tiny.zip"]


def test_the_cli_flag_replaces_the_protocol_files(tmp_path, home, capsys):
    archive = make_source(tmp_path / "again", "lfw", "zip")
    assert main(["--data-dir", str(home), "data", "import", str(archive)]) == 0
    assert "protocol files: pairsDevTest.txt, people.txt" in capsys.readouterr().out
    args = ["--data-dir", str(home), "data", "import", "--replace-protocol", str(archive)]
    assert main(args) == 0
    assert "protocol files: none" in capsys.readouterr().out


def test_a_kept_file_that_is_gone_is_an_error_saying_what_to_do(tmp_path, home):
    (home / "lfw" / "protocol" / "people.txt").unlink()
    archive = make_source(tmp_path / "again", "lfw", "zip")
    with pytest.raises(SourceError, match=r"people\.txt: the protocol file imported before is "
                                          r"missing; give people\.txt again .*--replace-protocol"):
        import_lfw([archive], home, progress=False)
    assert import_lfw([archive], home, progress=False, replace_protocol=True)


def test_a_kept_file_must_fit_the_new_images(tmp_path, home):
    fewer = make_source(tmp_path / "fewer", "lfw", "tgz", counts={"Ann_Ax": 3, "Bo_By": 1})
    with pytest.raises(ProtocolError, match=r"Cy_Cz.*kept from the previous import"):
        import_lfw([fewer], home, progress=False)
    assert open_lfw(home).image_counts == TINY
    lfw = import_lfw([fewer], home, progress=False, replace_protocol=True)
    assert lfw.image_counts == {"Ann_Ax": 3, "Bo_By": 1}


def macos_zip(tmp_path: Path) -> Path:
    """TINY zipped as macOS's Finder does it: .DS_Store and ._ files, and a __MACOSX folder."""
    source = make_source(tmp_path, "lfw", "folder")
    files = {f"lfw/{p.relative_to(source).as_posix()}": p.read_bytes()
             for p in sorted(source.rglob("*.jpg"))}
    junk = {"lfw/.DS_Store": b"\0\0\0\1Bud1", "lfw/Ann_Ax/._Ann_Ax_0001.jpg": b"\0\5\26\7",
            "__MACOSX/": b"", "__MACOSX/lfw/._Bo_By": b"\0\5\26\7",
            "__MACOSX/lfw/Bo_By/._Bo_By_0001.jpg": b"\0\5\26\7"}
    return write_zip(tmp_path / "lfw.zip", {**files, **junk})


def test_a_zip_made_on_macos_imports(tmp_path):
    lfw = import_lfw([macos_zip(tmp_path)], tmp_path / "home", progress=False)
    assert lfw.image_counts == TINY
    assert not list((tmp_path / "home").rglob("._*"))


def test_a_folder_copied_from_macos_imports(tmp_path):
    source = make_source(tmp_path, "lfw", "folder")
    (source / ".DS_Store").write_bytes(b"Bud1")
    (source / "Ann_Ax" / "._Ann_Ax_0001.jpg").write_bytes(b"\0\5\26\7")
    assert import_lfw([source], tmp_path / "home", progress=False).image_counts == TINY


def test_macos_names_do_not_excuse_traversal_or_links(tmp_path):
    zip_traversal = tmp_path / "up.zip"
    with zipfile.ZipFile(zip_traversal, "w") as zf:
        zf.writestr(zipfile.ZipInfo("__MACOSX/../../evil.txt"), b"evil")
    with pytest.raises(UnsafeArchiveError, match=r"\.\."):
        safe_extract(zip_traversal, tmp_path / "a" / "out")
    for name in ("__MACOSX/lfw/._x", "lfw/._x", "lfw/.DS_Store"):
        link = write_tar(tmp_path / "link.tgz",
                         [tar_file("lfw/ok.txt"), tar_special(name, tarfile.SYMTYPE, "/etc")])
        with pytest.raises(UnsafeArchiveError, match="symbolic link"):
            safe_extract(link, tmp_path / "b" / name.replace("/", "_"))
    assert not list(tmp_path.rglob("evil.txt"))
