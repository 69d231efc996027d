import gzip
import io
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from siamface.data.archive import ArchiveError, UnsafeArchiveError, safe_extract

FILES = {"lfw/Ann/Ann_0001.jpg": b"first", "lfw/Ann/Ann_0002.jpg": b"second!", "lfw/x.txt": b""}


def write_tar(path: Path, members: list[tarfile.TarInfo], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info in members:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def tar_file(name: str, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def write_good_tar(path: Path, mode: str) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(("suffix", "mode"), [(".tgz", "w:gz"), (".tar.gz", "w:gz"), (".tar", "w")])
def test_tar_round_trip(tmp_path, suffix, mode):
    archive = write_good_tar(tmp_path / f"good{suffix}", mode)
    safe_extract(archive, tmp_path / "out")
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_zip_round_trip_with_folder_entries(tmp_path):
    archive = write_zip(tmp_path / "good.zip", {"lfw/": b"", "lfw/empty/": b"", **FILES})
    safe_extract(archive, tmp_path / "out")
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert (tmp_path / "out" / "lfw" / "empty").is_dir()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tar_file("../evil.txt"), r"\.\."),
        (tar_file("lfw/../../evil.txt"), r"\.\."),
        (tar_file("/tmp/evil.txt"), "absolute"),
        (tar_special("lfw/link", tarfile.SYMTYPE, "../../evil.txt"), "symbolic link"),
        (tar_special("lfw/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (tar_special("lfw/hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
        (tar_special("lfw/dev", tarfile.CHRTYPE), "device"),
        (tar_special("lfw/fifo", tarfile.FIFOTYPE), "device file or FIFO"),
    ],
)
@pytest.mark.parametrize("data_filter", [True, False], ids=["with_data_filter", "without"])
def test_unsafe_tar_members_are_refused(tmp_path, monkeypatch, member, reason, data_filter):
    if not data_filter:  # as on Pythons without tarfile.data_filter: our own checks must hold
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = write_tar(tmp_path / "bad.tgz", [tar_file("lfw/ok.txt"), member])
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError, match=reason) as err:
        safe_extract(archive, dest)
    assert str(archive) in str(err.value) and member.name in str(err.value)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (dest / "lfw" / "link").exists()


@pytest.mark.parametrize(("name", "reason"), [("../evil.txt", r"\.\."), ("/evil.txt", "absolute")])
def test_unsafe_zip_names_are_refused(tmp_path, name, reason):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(name), b"evil")
    with pytest.raises(UnsafeArchiveError, match=reason):
        safe_extract(archive, tmp_path / "a" / "out")
    assert not list(tmp_path.rglob("evil.txt"))


def test_zip_symlink_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    info = zipfile.ZipInfo("lfw/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="'lfw/link' is a link"):
        safe_extract(archive, tmp_path / "out")


def test_member_limit_is_inclusive(tmp_path):
    archive = write_tar(tmp_path / "four.tgz", [tar_file(f"lfw/{i}.txt") for i in range(4)])
    safe_extract(archive, tmp_path / "ok", max_members=4)
    with pytest.raises(UnsafeArchiveError, match="more than 3 members"):
        safe_extract(archive, tmp_path / "refused", max_members=3)


def test_byte_limit_is_inclusive(tmp_path):
    archive = write_tar(tmp_path / "eleven.tgz", [tar_file("lfw/a", 6), tar_file("lfw/b", 5)])
    safe_extract(archive, tmp_path / "ok", max_bytes=11)
    with pytest.raises(UnsafeArchiveError, match=r"more than 10 bytes \(at member 'lfw/b'\)"):
        safe_extract(archive, tmp_path / "refused", max_bytes=10)


@pytest.mark.parametrize("second", ["lfw/a", "lfw/./a", "lfw//a"])
def test_duplicate_file_is_refused(tmp_path, second):
    archive = write_tar(tmp_path / "dup.tgz", [tar_file("lfw/a"), tar_file(second)])
    with pytest.raises(UnsafeArchiveError, match=f"'{second}' appears twice"):
        safe_extract(archive, tmp_path / "out")


@pytest.mark.parametrize("order", ["file first", "folder first"])
def test_a_file_and_a_folder_of_one_name_are_refused_by_member(tmp_path, order):
    folder = tarfile.TarInfo("lfw/Ann")
    folder.type = tarfile.DIRTYPE
    members = [tar_file("lfw/Ann"), tar_file("lfw/Ann/Ann_0001.jpg")]
    if order == "folder first":
        members = [folder, tar_file("lfw/Ann/Ann_0001.jpg"), tar_file("lfw/Ann")]
    archive = write_tar(tmp_path / "clash.tgz", members)
    with pytest.raises(UnsafeArchiveError, match=r"clash\.tgz: member 'lfw/Ann.*' is a file and "
                                                 r"a folder at once"):
        safe_extract(archive, tmp_path / "out")


def test_truncated_archive_is_an_archive_error(tmp_path):
    archive = write_good_tar(tmp_path / "good.tgz", "w:gz")
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"cut\.tgz: corrupt or unreadable"):
        safe_extract(cut, tmp_path / "out")


def test_a_tar_cut_at_a_member_header_is_truncated_not_a_smaller_archive(tmp_path):
    whole = write_good_tar(tmp_path / "whole.tar", "w").read_bytes()
    first = 2 * 512  # the first member's header and data blocks: tarfile alone reads it, stops
    for name, data in (("cut.tar", whole[:first]),
                       ("cut.tar.gz", gzip.compress(whole[:first])),  # a whole gzip of a cut tar
                       ("cut.tgz", gzip.compress(whole)[:-8])):  # a gzip cut before its end
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ArchiveError, match=rf"{re.escape(name)}: (truncated|corrupt)"):
            safe_extract(tmp_path / name, tmp_path / f"out-{name}")
        assert not any((tmp_path / f"out-{name}").rglob("*.*")), name  # no member extracted


def test_an_encrypted_or_deflate64_zip_member_is_named(tmp_path):
    archive = write_zip(tmp_path / "photos.zip", {"lfw/Ann/Ann_0001.jpg": b"x" * 10})
    data = bytearray(archive.read_bytes())
    flags = data.index(b"PK\x03\x04") + 6  # the local header's general purpose flags
    encrypted = bytearray(data)
    encrypted[flags] |= 1
    central = data.index(b"PK\x01\x02") + 8  # the central directory's flags, then method
    encrypted[central] |= 1
    (tmp_path / "locked.zip").write_bytes(encrypted)
    with pytest.raises(ArchiveError, match=r"locked\.zip: member 'lfw/Ann/Ann_0001\.jpg' is "
                                           "encrypted"):
        safe_extract(tmp_path / "locked.zip", tmp_path / "out-locked")
    deflate64 = bytearray(data)
    deflate64[central + 2] = 9
    (tmp_path / "big.zip").write_bytes(deflate64)
    with pytest.raises(ArchiveError, match=r"big\.zip: member .* compressed by method 9"):
        safe_extract(tmp_path / "big.zip", tmp_path / "out-big")


def test_garbage_zip_is_an_archive_error(tmp_path):
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(ArchiveError, match=r"bogus\.zip"):
        safe_extract(bogus, tmp_path / "out")


def test_unknown_suffix_is_refused(tmp_path):
    other = tmp_path / "lfw.rar"
    other.write_bytes(b"")
    with pytest.raises(ArchiveError, match="not a known archive kind"):
        safe_extract(other, tmp_path / "out")


def test_destination_must_be_new_or_empty(tmp_path):
    archive = write_good_tar(tmp_path / "good.tgz", "w:gz")
    (tmp_path / "empty").mkdir()
    safe_extract(archive, tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "lfw").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="is not empty"):
        safe_extract(archive, tmp_path / "full")
