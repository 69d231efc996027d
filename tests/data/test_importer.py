import hashlib
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_lfw_tree
from siamface.cli.main import main
from siamface.data import importer
from siamface.data.archive import ArchiveError, UnsafeArchiveError
from siamface.data.cache import cache_root, load_or_build_cache
from siamface.data.importer import SourceError, import_lfw
from siamface.data.lfw import DataNotFoundError, LayoutError, open_lfw
from siamface.data.preprocess import Preprocessing
from siamface.data.protocol import ProtocolError
from siamface.data.sources import PROTOCOL_NAMES, VARIANTS, ChecksumError, read_sha256sums
from siamface.utils.lock import DATA_HOME_LOCK

TINY = {"Ann_Ax": 3, "Bo_By": 1, "Cy_Cz": 2}
FORMATS = {"tgz": "gztar", "tar.gz": "gztar", "tar": "tar", "zip": "zip"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_source(tmp_path: Path, variant: str, form: str, counts=TINY) -> Path:
    """A tiny LFW of ``variant`` as an archive (form = suffix), the folder, or its parent."""
    parent = tmp_path / "src"
    make_lfw_tree(parent / variant, counts, size=8)
    if form == "folder":
        return parent / variant
    if form == "parent":
        return parent
    made = Path(shutil.make_archive(str(tmp_path / "tiny"), FORMATS[form], parent, variant))
    return made.rename(tmp_path / f"tiny.{form}")


# Made-up protocol files that parse against TINY: one matching and one non-matching pair, two of
# the three people, and every name with its count.
PROTOCOL_TEXT = {
    "pairs": "1\nAnn_Ax\t1\t2\nBo_By\t1\tCy_Cz\t2\n",
    "people": "2\nAnn_Ax\t3\nCy_Cz\t2\n",
    "lfw-names": "Ann_Ax\t3\nBo_By\t1\nCy_Cz\t2\n",
}


def write_protocol(folder: Path, names=("pairsDevTest.txt", "people.txt"), sums=True) -> Path:
    """Made-up protocol files with a SHA256SUMS vouching for them (they are not the real ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        kind = next(k for k in PROTOCOL_TEXT if name.startswith(k))
        (folder / name).write_text(PROTOCOL_TEXT[kind])
    if sums:
        vouch(folder)
    return folder


def vouch(folder: Path) -> None:
    """Write SHA256SUMS for the .txt files in ``folder``."""
    lines = [f"{sha256(p)}  {p.name}\n" for p in sorted(folder.glob("*.txt"))]
    (folder / "SHA256SUMS").write_text("".join(lines))


def listing(home: Path) -> list[str]:
    """What is in the data home, besides the lock file that every import holds."""
    return sorted(p.name for p in home.iterdir() if p.name != DATA_HOME_LOCK)


def manifest(home: Path) -> dict:
    return json.loads((home / "lfw" / "manifest.json").read_text())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("form", ["tgz", "tar.gz", "tar", "zip", "folder", "parent"])
def test_import_each_variant_and_form(tmp_path, variant, form):
    source = make_source(tmp_path, variant, form)
    home = tmp_path / "home"
    lfw = import_lfw([source], home, progress=False)
    assert lfw.variant == variant
    assert lfw.image_counts == TINY
    original = tmp_path / "src" / variant / "Cy_Cz" / "Cy_Cz_0002.jpg"
    assert (home / "lfw" / "images" / "Cy_Cz" / "Cy_Cz_0002.jpg").read_bytes() == (
        original.read_bytes()
    )
    written = manifest(home)
    assert (written["variant"], written["people"], written["images"]) == (variant, 3, 6)
    assert list(written["checksums"]) == [f"{variant}/" if form == "folder" else source.name
                                          if form != "parent" else f"{variant}/"]
    if form not in ("folder", "parent"):
        assert written["checksums"][source.name] == sha256(source)
    assert listing(home) == ["lfw"]  # no staging left behind


def test_folder_checksum_covers_file_contents(tmp_path):
    source = make_source(tmp_path, "lfw", "folder")
    first = import_lfw([source], tmp_path / "h1", progress=False).checksums["lfw/"]
    with (source / "Bo_By" / "Bo_By_0001.jpg").open("ab") as fh:
        fh.write(b"other bytes")  # (a JPEG still)
    second = import_lfw([source], tmp_path / "h2", progress=False).checksums["lfw/"]
    assert first != second


def test_protocol_files_from_a_folder_with_sha256sums(tmp_path):
    archive = make_source(tmp_path, "lfw-deepfunneled", "tgz")
    protocol = write_protocol(tmp_path / "proto", names=PROTOCOL_NAMES)
    (protocol / "README.md").write_text("ignored")
    lfw = import_lfw([archive, protocol], tmp_path / "home", progress=False)
    assert lfw.protocol_names() == sorted(PROTOCOL_NAMES)
    expected = read_sha256sums(protocol / "SHA256SUMS")
    assert lfw.checksums == {"tiny.tgz": sha256(archive), **expected}
    for name in PROTOCOL_NAMES:
        assert lfw.protocol_path(name).read_bytes() == (protocol / name).read_bytes()


def test_archive_and_protocol_files_side_by_side_in_one_folder(tmp_path):
    make_source(tmp_path, "lfw", "tgz")  # tmp_path/tiny.tgz
    write_protocol(tmp_path)
    lfw = import_lfw([tmp_path], tmp_path / "home", progress=False)
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    assert set(lfw.checksums) == {"tiny.tgz", "pairsDevTest.txt", "people.txt"}


def test_sha256sums_mismatch_names_file_and_both_sums(tmp_path):
    archive = make_source(tmp_path, "lfw", "zip")
    protocol = write_protocol(tmp_path / "proto")
    (protocol / "people.txt").write_text("tampered with after SHA256SUMS was written")
    actual = sha256(protocol / "people.txt")
    listed = read_sha256sums(protocol / "SHA256SUMS")["people.txt"]
    with pytest.raises(ChecksumError) as err:
        import_lfw([archive, protocol], tmp_path / "home", progress=False)
    message = str(err.value)
    assert str(protocol / "people.txt") in message
    assert f"sha256 is {actual}, expected {listed}" in message
    assert str(protocol / "SHA256SUMS") in message
    assert not (tmp_path / "home" / "lfw").exists()


def test_builtin_sums_catch_a_fake_official_file(tmp_path):
    archive = make_source(tmp_path, "lfw", "zip")
    protocol = write_protocol(tmp_path / "proto", names=("pairs.txt",), sums=False)
    with pytest.raises(ChecksumError, match=r"pairs\.txt: sha256 is .* known files"):
        import_lfw([archive, protocol / "pairs.txt"], tmp_path / "home", progress=False)
    archive = archive.rename(tmp_path / "lfw-funneled.tgz")  # a known name with other bytes
    with pytest.raises(ChecksumError, match=r"lfw-funneled\.tgz: sha256 is"):
        import_lfw([archive], tmp_path / "home", progress=False)


def test_malicious_archive_imports_nothing(tmp_path):
    import tarfile

    archive = tmp_path / "evil.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        link = tarfile.TarInfo("lfw/Ann_Ax")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../"
        tf.addfile(link)
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        import_lfw([archive], tmp_path / "home", progress=False)
    with pytest.raises(DataNotFoundError):
        open_lfw(tmp_path / "home")


def test_crash_while_copying_then_rerun_finishes(tmp_path, monkeypatch):
    source = make_source(tmp_path, "lfw2", "folder")
    home = tmp_path / "home"
    real_copy, calls = shutil.copyfile, []

    def crash_on_third(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(importer.shutil, "copyfile", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        import_lfw([source], home, progress=False)
    assert (home / ".lfw-staging").is_dir()  # the half-built import stays out of sight
    with pytest.raises(DataNotFoundError, match="no LFW copy"):
        open_lfw(home)

    monkeypatch.undo()
    lfw = import_lfw([source], home, progress=False)
    assert lfw.image_counts == TINY
    assert not (home / ".lfw-staging").exists()


def test_crash_before_manifest_then_rerun_finishes(tmp_path, monkeypatch):
    source = make_source(tmp_path, "lfw", "tgz")
    home = tmp_path / "home"

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(importer, "write_json_atomic", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        import_lfw([source], home, progress=False)
    assert (home / "lfw" / "images").is_dir()
    with pytest.raises(DataNotFoundError, match="did not finish"):
        open_lfw(home)

    monkeypatch.undo()
    assert import_lfw([source], home, progress=False).image_counts == TINY


def test_crash_during_reimport_keeps_previous_import(tmp_path, monkeypatch):
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path / "a", "lfw", "tgz")], home, progress=False)
    other = make_source(tmp_path / "b", "lfw_funneled", "folder", counts={"Dee_Dd": 2})

    calls = []

    def crash(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(importer.shutil, "copyfile", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        import_lfw([other], home, progress=False)
    assert len(calls) == 1  # the crash came while copying the new images
    monkeypatch.undo()
    assert open_lfw(home).image_counts == TINY

    lfw = import_lfw([other], home, progress=False)  # and a finished re-import replaces it
    assert (lfw.variant, lfw.image_counts) == ("lfw_funneled", {"Dee_Dd": 2})
    assert listing(home) == ["lfw"]


@pytest.mark.parametrize("crash", ["between the renames", "before the manifest"])
def test_a_crash_during_the_swap_keeps_the_previous_import(tmp_path, crash):
    home = tmp_path / "home"
    source = make_source(tmp_path / "a", "lfw", "tgz")
    import_lfw([source], home, progress=False)
    (home / "lfw").rename(home / ".lfw-old")  # the state a crash after the first rename leaves
    (home / ".lfw-staging" / "images").mkdir(parents=True)
    if crash == "before the manifest":  # the second rename done, the manifest not written
        (home / ".lfw-staging").rename(home / "lfw")
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(source.read_bytes()[:200])
    with pytest.raises(ArchiveError, match="corrupt or unreadable"):  # an import that fails...
        import_lfw([broken], home, progress=False)
    assert open_lfw(home).image_counts == TINY  # ...loses nothing: the old copy is back
    assert listing(home) == ["lfw"]


@pytest.mark.parametrize("crash", ["between the renames", "before the manifest"])
def test_a_crash_during_the_swap_loses_no_protocol_file(tmp_path, crash):
    home = tmp_path / "home"
    protocol = write_protocol(tmp_path / "proto")
    import_lfw([make_source(tmp_path / "a", "lfw", "tgz"), protocol], home, progress=False)
    (home / "lfw").rename(home / ".lfw-old")  # as in the test above: no lfw/manifest.json
    (home / ".lfw-staging" / "images").mkdir(parents=True)
    if crash == "before the manifest":
        (home / ".lfw-staging").rename(home / "lfw")
    # new images and only one of the two protocol files: people.txt is kept from the old copy
    new = [make_source(tmp_path / "b", "lfw_funneled", "folder"), protocol / "pairsDevTest.txt"]
    lfw = import_lfw(new, home, progress=False)
    assert lfw.variant == "lfw_funneled"
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    assert (lfw.protocol_dir / "people.txt").read_bytes() == (protocol / "people.txt").read_bytes()
    assert listing(home) == ["lfw"]


def crash_during_the_swap(tmp_path: Path, home: Path, crash: str) -> None:
    """Import a tiny copy into ``home``, then leave what a crash during the swap leaves."""
    import_lfw([make_source(tmp_path / "a", "lfw", "tgz")], home, progress=False)
    (home / "lfw").rename(home / ".lfw-old")
    (home / ".lfw-staging" / "images").mkdir(parents=True)
    if crash == "before the manifest":
        (home / ".lfw-staging").rename(home / "lfw")


def test_a_crash_between_the_renames_is_reported_with_the_command_that_undoes_it(tmp_path,
                                                                                 capsys):
    home = tmp_path / "my data"  # a space: the command quotes its paths
    crash_during_the_swap(tmp_path, home, "between the renames")
    before = listing(home)
    with pytest.raises(DataNotFoundError) as err:
        open_lfw(home)
    message = str(err.value)
    assert message.startswith(f"no LFW copy in {home}: an import was cut off while swapping in "
                              f"a new copy, and the one before it is kept in {home / '.lfw-old'}")
    assert "siamface data fetch" not in message  # nothing to download: the copy is here
    assert listing(home) == before  # open_lfw moves nothing (it holds no lock)
    assert main(["--data-dir", str(home), "data", "stats"]) == 2
    assert capsys.readouterr().err == f"siamface: error: {message}\n"
    command = shlex.split(re.search(r"`(mv .*?)`", message).group(1))
    assert command == ["mv", str(home / ".lfw-old"), str(home / "lfw")]
    Path(command[1]).rename(command[2])
    assert open_lfw(home).image_counts == TINY


def test_an_import_cut_off_before_its_manifest_names_the_previous_copy(tmp_path):
    home = tmp_path / "home"
    crash_during_the_swap(tmp_path, home, "before the manifest")
    with pytest.raises(DataNotFoundError, match=(
            r"did not finish \(it has no manifest\.json\); .*again; the copy before it is kept "
            rf"in {re.escape(str(home / '.lfw-old'))}, and any import puts it back")):
        open_lfw(home)


@pytest.mark.parametrize("odd", ["linked folder", "linked file", "fifo"])
def test_links_and_special_files_in_a_folder_are_refused(tmp_path, odd):
    source = make_source(tmp_path, "lfw", "folder")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if odd == "linked folder":  # os.walk would skip it: a person silently missing
        (source / "Cy_Cz").rename(elsewhere / "Cy_Cz")
        (source / "Cy_Cz").symlink_to(elsewhere / "Cy_Cz")
        named = source / "Cy_Cz"
    else:
        named = source / "Cy_Cz" / "Cy_Cz_0002.jpg"
        named.rename(elsewhere / "x.jpg")
        if odd == "fifo":  # reading it would wait forever
            os.mkfifo(named)
        else:
            named.symlink_to(elsewhere / "x.jpg")
    with pytest.raises(SourceError, match=f"^{re.escape(str(named))}: a link or special file"):
        import_lfw([source], tmp_path / "home", progress=False)


@pytest.mark.parametrize("where", ["person folder", "image", "dot-file"])
def test_a_name_that_is_not_utf8_in_a_folder_is_refused_by_name(tmp_path, where):
    # a folder copied from a Latin-1 disk; the archive route refuses such members by name too
    source = make_source(tmp_path, "lfw", "folder")
    odd = os.fsdecode(b"Q\xff")
    named = {"person folder": source / odd, "image": source / "Ann_Ax" / f"{odd}.jpg",
             "dot-file": source / f".{odd}"}[where]
    if where == "person folder":
        named.mkdir()
        (named / f"{odd}_0001.jpg").write_bytes((source / "Bo_By" / "Bo_By_0001.jpg").read_bytes())
    else:
        named.write_bytes(b"")
    with pytest.raises(SourceError, match=f"^{re.escape(str(named))}: the name .* not UTF-8"):
        import_lfw([source], tmp_path / "home", progress=False)
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_a_file_that_is_no_jpeg_is_refused_by_its_name_in_the_source(tmp_path, form):
    folder = make_source(tmp_path, "lfw", "folder")
    (folder / "Cy_Cz" / "Cy_Cz_0002.jpg").write_text("not a photo")
    source = folder if form == "folder" else make_source(tmp_path / "z", "lfw", "zip")
    if form == "zip":
        shutil.copyfile(folder / "Cy_Cz" / "Cy_Cz_0002.jpg",
                        tmp_path / "z" / "src" / "lfw" / "Cy_Cz" / "Cy_Cz_0002.jpg")
        source = Path(shutil.make_archive(str(tmp_path / "bad"), "zip", tmp_path / "z" / "src",
                                          "lfw"))
    named = (f"{folder}/Cy_Cz/Cy_Cz_0002.jpg" if form == "folder"
             else f"{source} member lfw/Cy_Cz/Cy_Cz_0002.jpg")
    with pytest.raises(LayoutError, match=f"^{re.escape(named)}: not a JPEG image "
                                          r"\(it begins b'not'\); expected the JPEG files"):
        import_lfw([source], tmp_path / "home", progress=False)
    assert listing(tmp_path / "home") == []


def test_reimport_of_same_sources_is_a_no_op(tmp_path, monkeypatch):
    archive = make_source(tmp_path, "lfw", "tgz")
    protocol = write_protocol(tmp_path / "proto")
    home = tmp_path / "home"
    import_lfw([archive, protocol], home, progress=False)
    before = (home / "lfw" / "manifest.json").read_bytes()

    def must_not_extract(*args, **kwargs):
        raise AssertionError("a no-op re-import extracted the archive again")

    monkeypatch.setattr(importer, "safe_extract", must_not_extract)
    lfw = import_lfw([protocol, archive], home, progress=False)
    assert lfw.image_counts == TINY
    assert (home / "lfw" / "manifest.json").read_bytes() == before
    # A changed protocol file is a different import: it does extract again.
    (protocol / "people.txt").write_text("2\n")
    vouch(protocol)
    with pytest.raises(AssertionError, match="extracted the archive again"):
        import_lfw([archive, protocol], home, progress=False)


def test_protocol_files_alone_are_added_to_the_current_import(tmp_path):
    # `siamface data fetch` cannot download people.txt: it is given later, on its own
    archive = make_source(tmp_path, "lfw-deepfunneled", "tgz")
    home = tmp_path / "home"
    first = import_lfw([archive, write_protocol(tmp_path / "p1", ["pairsDevTest.txt"])], home,
                       progress=False)
    lfw = import_lfw([write_protocol(tmp_path / "p2", ["people.txt"]) / "people.txt"], home,
                     progress=False)
    assert lfw.protocol_names() == ["pairsDevTest.txt", "people.txt"]
    people_sha = sha256(tmp_path / "p2" / "people.txt")
    assert lfw.checksums == {**first.checksums, "people.txt": people_sha}
    assert (lfw.variant, lfw.image_counts) == ("lfw-deepfunneled", TINY)
    assert manifest(home)["images_sha256"] == first.images_sha256
    assert listing(home) == ["lfw"]  # (no staging folder left)
    # given again: nothing to do
    again = import_lfw([tmp_path / "p2" / "people.txt"], home, progress=False)
    assert again.checksums == lfw.checksums
    # and with --replace-protocol, only it
    only = import_lfw([tmp_path / "p2" / "people.txt"], home, replace_protocol=True,
                      progress=False)
    assert only.protocol_names() == ["people.txt"]
    assert set(only.checksums) == {"tiny.tgz", "people.txt"}


def test_protocol_files_given_again_alone_read_the_images_once(tmp_path, monkeypatch):
    # reading every image is the slow part of an import that has nothing to do
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path, "lfw", "zip"), write_protocol(tmp_path / "p")], home,
               progress=False)
    hashed = []
    tree_sha256 = importer._tree_sha256
    monkeypatch.setattr(importer, "_tree_sha256",
                        lambda folder: hashed.append(folder) or tree_sha256(folder))
    import_lfw([tmp_path / "p" / "people.txt"], home, progress=False)
    assert hashed == [home / "lfw" / "images"]


def test_protocol_files_alone_that_do_not_fit_the_images_change_nothing(tmp_path):
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path, "lfw", "zip")], home, progress=False)
    before = (home / "lfw" / "manifest.json").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "people.txt").write_text("1\nNo_One\t2\n")
    vouch(bad)
    with pytest.raises(ProtocolError, match=r"people\.txt:2: unknown person `No_One`"):
        import_lfw([bad / "people.txt"], home, progress=False)
    assert (home / "lfw" / "manifest.json").read_bytes() == before
    assert open_lfw(home).protocol_names() == []
    assert listing(home) == ["lfw"]


def test_protocol_files_alone_are_not_added_to_images_changed_since_imported(tmp_path):
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path, "lfw", "zip")], home, progress=False)
    (home / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0001.jpg").write_bytes(b"")
    with pytest.raises(SourceError, match=r"images: the images changed since they were "
                                          "imported; give the images again"):
        import_lfw([write_protocol(tmp_path / "proto")], home, progress=False)
    assert open_lfw(home).protocol_names() == []


def test_damaged_images_are_reimported(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    home = tmp_path / "home"
    import_lfw([source], home, progress=False)
    (home / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0001.jpg").unlink()
    assert import_lfw([source], home, progress=False).image_counts == TINY


def test_an_image_damaged_in_place_is_repaired_by_importing_again(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    home = tmp_path / "home"
    import_lfw([source], home, progress=False)
    image = home / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0001.jpg"
    original = image.read_bytes()
    image.write_bytes(b"")  # the counts still match: only the bytes tell
    assert open_lfw(home).image_counts == TINY
    import_lfw([source], home, progress=False)
    assert image.read_bytes() == original


def test_a_repair_removes_the_caches_that_hold_the_damaged_pixels(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    home = tmp_path / "home"
    prep = Preprocessing(crop=None, size=8, channels=3)
    lfw = import_lfw([source], home, progress=False)
    image = home / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0001.jpg"
    Image.new("RGB", (8, 8)).save(image)  # damaged in place: a black JPEG, the counts the same
    assert load_or_build_cache(lfw, prep, 1, False).images[0].max() == 0  # cached so
    repaired = import_lfw([source], home, progress=False)
    assert list(cache_root(home).iterdir()) == []  # its key was the same: it would be used
    fresh = load_or_build_cache(import_lfw([source], tmp_path / "other", progress=False), prep,
                                1, False)
    np.testing.assert_array_equal(load_or_build_cache(repaired, prep, 1, False).images,
                                  fresh.images)


def test_an_lfw_folder_siamface_did_not_make_is_never_replaced(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    home = tmp_path / "home"
    (home / "lfw").mkdir(parents=True)
    (home / "lfw" / "thesis_notes.txt").write_text("precious")
    with pytest.raises(SourceError, match=r"home/lfw: exists and is not a siamface import "
                                          r"\(it holds thesis_notes\.txt\)"):
        import_lfw([source], home, progress=False)
    assert (home / "lfw" / "thesis_notes.txt").read_text() == "precious"


def test_images_inside_the_copy_an_import_replaces_are_refused(tmp_path):
    home = tmp_path / "home"
    make_lfw_tree(home / "lfw", TINY, size=8)  # extracted lfw.tgz where the data home is
    with pytest.raises(SourceError, match=r"home/lfw: is inside .*home/lfw, which an import "
                                          "replaces"):
        import_lfw([home / "lfw"], home, progress=False)
    assert sorted(p.name for p in (home / "lfw").iterdir()) == sorted(TINY)  # left as it was


def test_a_data_home_whose_lfw_is_a_link_is_refused(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    elsewhere = tmp_path / "big-disk" / "lfw"
    import_lfw([source], elsewhere.parent, progress=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "lfw").symlink_to(elsewhere)
    with pytest.raises(SourceError, match=r"home/lfw: is a link; .* give the folder it links "
                                          "to as the data home"):
        import_lfw([source], home, progress=False)
    assert open_lfw(elsewhere.parent).image_counts == TINY


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_a_layout_error_names_the_source_not_its_staging_copy(tmp_path, form):
    folder = make_source(tmp_path, "lfw", "folder")
    (folder / "Ann_Ax" / "Thumbs.db").write_bytes(b"")
    source = folder if form == "folder" else make_source(tmp_path, "lfw", "zip")
    where = re.escape(str(folder) if form == "folder" else f"{source} member lfw")
    with pytest.raises(LayoutError, match=rf"^{where}/Ann_Ax/Thumbs\.db: expected files named"):
        import_lfw([source], tmp_path / "home", progress=False)


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_an_empty_person_folder_is_refused_from_a_folder_as_from_an_archive(tmp_path, form):
    (tmp_path / "src" / "lfw" / "Zed_Zz").mkdir(parents=True)
    source = make_source(tmp_path, "lfw", form)
    with pytest.raises(LayoutError, match=r"lfw/Zed_Zz: a person folder must hold at least"):
        import_lfw([source], tmp_path / "home", progress=False)


def test_protocol_files_among_the_person_folders_are_named(tmp_path):
    source = make_source(tmp_path, "lfw-deepfunneled", "folder")
    write_protocol(source)
    with pytest.raises(SourceError, match=r"lfw-deepfunneled: person folders with protocol files "
                                          r"among them \(pairsDevTest\.txt\); move"):
        import_lfw([source], tmp_path / "home", progress=False)


def test_a_folder_of_no_images_says_so(tmp_path):
    (tmp_path / "lfw").mkdir()
    with pytest.raises(SourceError, match=r"lfw: holds no images"):
        import_lfw([tmp_path / "lfw"], tmp_path / "home", progress=False)


def test_bad_layout_names_the_path_and_imports_nothing(tmp_path):
    source = make_source(tmp_path, "lfw", "folder")
    (source / "Ann_Ax" / "Ann_Ax_0002.jpg").unlink()
    with pytest.raises(LayoutError, match=r"Ann_Ax_0002\.jpg belongs"):
        import_lfw([source], tmp_path / "home", progress=False)
    with pytest.raises(DataNotFoundError):
        open_lfw(tmp_path / "home")


def test_source_errors(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(FileNotFoundError, match=r"missing\.tgz"):
        import_lfw([tmp_path / "missing.tgz"], home)
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SourceError, match=r"notes\.txt: not an LFW archive"):
        import_lfw([tmp_path / "notes.txt"], home)
    protocol = write_protocol(tmp_path / "proto")
    with pytest.raises(SourceError, match=r"no LFW images among the sources, and .*home holds "
                                          "no import to add protocol files to"):
        import_lfw([protocol], home)
    make_lfw_tree(tmp_path / "faces", TINY, size=8)
    with pytest.raises(SourceError, match="faces: found no LFW archive"):
        import_lfw([tmp_path / "faces"], home)


def test_two_sets_of_images_are_refused(tmp_path):
    archive = make_source(tmp_path, "lfw", "zip")
    with pytest.raises(SourceError, match="more than one set of LFW images"):
        import_lfw([archive, tmp_path / "src" / "lfw"], tmp_path / "home")


def test_two_different_protocol_files_of_one_name_are_refused(tmp_path):
    archive = make_source(tmp_path, "lfw", "zip")
    one, two = write_protocol(tmp_path / "one"), write_protocol(tmp_path / "two")
    (two / "people.txt").write_text("3\n")
    vouch(two)
    with pytest.raises(SourceError, match=r"two different people\.txt"):
        import_lfw([archive, one, two], tmp_path / "home", progress=False)
    # the same file twice is fine
    assert import_lfw([archive, one, one / "people.txt"], tmp_path / "home", progress=False)


def test_archive_without_a_variant_top_folder(tmp_path):
    make_lfw_tree(tmp_path / "src" / "faces", TINY, size=8)
    archive = shutil.make_archive(str(tmp_path / "faces"), "zip", tmp_path / "src", "faces")
    with pytest.raises(SourceError, match=r"single top folder named one of .* found faces"):
        import_lfw([Path(archive)], tmp_path / "home", progress=False)


@pytest.fixture(scope="module")
def real_import(real_lfw, lfw_source):
    return real_lfw, lfw_source


@pytest.mark.real_data
def test_real_lfw_import(real_import):
    lfw, source = real_import
    assert lfw.variant == "lfw-deepfunneled"
    assert len(lfw.image_counts) == 5749
    assert lfw.num_images == 13233
    assert max(lfw.image_counts.values()) == lfw.image_counts["George_W_Bush"] == 530
    assert lfw.checksums == read_sha256sums(source / "SHA256SUMS")
    assert lfw.protocol_names() == sorted(PROTOCOL_NAMES)
    assert len(lfw.read_pairs("pairsDevTest.txt").pairs) == 1000


@pytest.mark.real_data
def test_real_lfw_reimport_is_a_no_op(real_import):
    lfw, source = real_import
    before = (lfw.root / "manifest.json").read_bytes()
    again = import_lfw([source], lfw.home, progress=False)
    assert again.num_images == 13233
    assert (lfw.root / "manifest.json").read_bytes() == before


def test_a_run_holding_a_copy_imported_again_meanwhile_stops_rather_than_read_the_new_one(
        tmp_path):
    from siamface.data.lfw import CopyChangedError

    home = tmp_path / "home"
    stale = import_lfw([make_source(tmp_path / "a", "lfw", "zip")], home, progress=False)
    import_lfw([make_source(tmp_path / "b", "lfw_funneled", "zip")], home, progress=False)
    prep = Preprocessing(crop=None, size=8, channels=3)
    with pytest.raises(CopyChangedError, match=r"manifest.json: LFW was imported again while "
                                               r"this command ran"):
        load_or_build_cache(stale, prep, 1, False)
    assert not any(cache_root(home).glob("*/index.json"))  # nothing built under its old key
    current = open_lfw(home)
    (home / "lfw" / "manifest.json").unlink()  # as an import killed in its swap leaves it
    with pytest.raises(CopyChangedError, match=r"manifest.json is gone: an import began"):
        load_or_build_cache(current, prep, 1, False)


def test_a_copy_with_a_link_put_in_is_repaired_by_importing_it_again(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    home = tmp_path / "home"
    import_lfw([source], home, progress=False)
    image = home / "lfw" / "images" / "Ann_Ax" / "Ann_Ax_0001.jpg"
    moved = shutil.move(image, tmp_path / "elsewhere.jpg")
    image.symlink_to(moved)  # as a deduplicating tool leaves it
    import_lfw([source], home, progress=False)  # the repair the messages give
    assert image.is_file() and not image.is_symlink()


def test_a_sums_file_given_away_from_the_files_it_lists_is_refused(tmp_path):
    source = make_source(tmp_path, "lfw", "zip")
    sums = tmp_path / "sums" / "SHA256SUMS"
    sums.parent.mkdir()
    sums.write_text(f"{'0' * 64}  {source.name}\n")  # would refuse the archive, if read
    with pytest.raises(SourceError, match=r"sums/SHA256SUMS: a SHA256SUMS vouches only for "
                                          r"files beside it"):
        import_lfw([source, sums], tmp_path / "home", progress=False)
    assert not (tmp_path / "home" / "lfw").exists()
