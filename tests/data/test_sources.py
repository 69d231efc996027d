import re

import pytest

from siamface.data import sources
from siamface.data.sources import ChecksumError, RemoteFile, known_sha256, read_sha256sums


def test_remote_files_are_https_with_sha256_sums():
    remotes = [*sources.ARCHIVES.values(), *sources.PROTOCOL_FILES]
    assert len({r.filename for r in remotes}) == len(remotes) == 5
    for remote in remotes:
        assert remote.url.startswith("https://")
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
    assert {r.filename for r in sources.PROTOCOL_FILES} <= set(sources.PROTOCOL_NAMES)


def test_known_sha256_covers_every_table_and_follows_changes(monkeypatch):
    known = known_sha256()
    assert known["lfw-funneled.tgz"] == sources.ARCHIVES["lfw_funneled"].sha256
    assert known["people.txt"] == sources.LOCAL_SHA256["people.txt"]
    assert len(known) == 10  # 2 archives + 3 pairs files + 5 local-only files
    swapped = RemoteFile("lfw.tgz", "http://127.0.0.1/lfw.tgz", "0" * 64)
    monkeypatch.setitem(sources.ARCHIVES, "lfw", swapped)
    assert known_sha256()["lfw.tgz"] == "0" * 64


def test_read_sha256sums_text_and_binary_mode(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_text(f"{'a' * 64}  pairs.txt\n\n{'B' * 64} *lfw.tgz\n")
    assert read_sha256sums(path) == {"pairs.txt": "a" * 64, "lfw.tgz": "b" * 64}


def test_read_sha256sums_takes_a_bom_and_refuses_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_bytes(f"\ufeff{'a' * 64}  pairs.txt\n".encode())
    assert read_sha256sums(path) == {"pairs.txt": "a" * 64}
    path.write_bytes(b"\xff\xfe bad\n")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS: bytes that are not UTF-8 \(at byte 0\)"):
        read_sha256sums(path)


@pytest.mark.parametrize("line", ["abc  pairs.txt", f"{'g' * 64}  pairs.txt", "a" * 64])
def test_read_sha256sums_rejects_malformed_lines(tmp_path, line):
    path = tmp_path / "SHA256SUMS"
    path.write_text(f"{'a' * 64}  people.txt\n{line}\n")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS, line 2"):
        read_sha256sums(path)


@pytest.mark.real_data
def test_table_agrees_with_the_shared_copy(lfw_source):
    shared = read_sha256sums(lfw_source / "SHA256SUMS")
    known = known_sha256()
    assert set(shared) <= set(known)
    assert {name: known[name] for name in shared} == shared


def test_read_sha256sums_takes_dot_slash_names_and_trailing_space(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_text(f"{'a' * 64}  ./pairs.txt\n{'b' * 64}  people.txt \n")  # sha256sum ./*
    assert read_sha256sums(path) == {"pairs.txt": "a" * 64, "people.txt": "b" * 64}


def test_a_file_listed_twice_with_two_sums_is_refused(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_text(f"{'a' * 64}  pairs.txt\n{'a' * 64}  ./pairs.txt\n{'c' * 64}  pairs.txt\n")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS, line 3: pairs\.txt is listed on line "
                                            r"2 with another sum"):
        read_sha256sums(path)
