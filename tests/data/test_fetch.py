import functools
import hashlib
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import make_lfw_tree
from siamface.data import sources
from siamface.data.fetch import DownloadError, fetch_lfw
from siamface.data.lfw import open_lfw
from siamface.data.sources import ChecksumError, RemoteFile

TINY = {"Ann_Ax": 3, "Bo_By": 1}
PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server for a tiny lfw_funneled archive and three pairs files.

    Yields (base URL, served folder, list of requested paths).
    """
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy in the environment must not interfere
    served = tmp_path / "served"
    make_lfw_tree(tmp_path / "tree" / "lfw_funneled", TINY, size=8)
    shutil.make_archive(str(served / "lfw-funneled"), "gztar", tmp_path / "tree", "lfw_funneled")
    for i, name in enumerate(PAIRS):  # valid pairs of TINY, for the import's checks
        (served / name).write_text(f"1\nAnn_Ax\t1\t{2 + i % 2}\nAnn_Ax\t3\tBo_By\t1\n")
    log: list[str] = []
    handler = type("Handler", (QuietHandler,), {"requests": log})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(served))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, log
    httpd.shutdown()
    httpd.server_close()


def serve_table(monkeypatch, base: str, served: Path, wrong: str | None = None) -> None:
    """Point the built-in table at the local server (with a wrong sum for ``wrong``)."""

    def remote(name: str, served_as: str) -> RemoteFile:
        digest = hashlib.sha256((served / served_as).read_bytes()).hexdigest()
        return RemoteFile(name, f"{base}/{served_as}", "0" * 64 if name == wrong else digest)

    monkeypatch.setattr(
        sources, "ARCHIVES", {"lfw_funneled": remote("lfw-funneled.tgz", "lfw-funneled.tar.gz")}
    )
    monkeypatch.setattr(sources, "PROTOCOL_FILES", tuple(remote(n, n) for n in PAIRS))


def test_fetch_downloads_verifies_and_imports(tmp_path, monkeypatch, server):
    base, served, log = server
    serve_table(monkeypatch, base, served)
    home = tmp_path / "home"
    paths = fetch_lfw(home, progress=False)
    assert [p.name for p in paths] == ["lfw-funneled.tgz", *PAIRS]
    assert all(p.parent == home / "downloads" for p in paths)
    lfw = open_lfw(home)
    assert (lfw.variant, lfw.image_counts) == ("lfw_funneled", TINY)
    assert lfw.protocol_names() == sorted(PAIRS)
    assert len(log) == 4

    fetch_lfw(home, progress=False)  # verified files are not downloaded again
    assert len(log) == 4


def test_wrong_checksum_is_an_error_and_leaves_no_file(tmp_path, monkeypatch, server):
    base, served, _ = server
    serve_table(monkeypatch, base, served, wrong="pairsDevTest.txt")
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match=r"pairsDevTest\.txt downloaded from .* sha256"):
        fetch_lfw(home, progress=False, retries=0)
    assert not (home / "downloads" / "pairsDevTest.txt").exists()
    assert not (home / "lfw").exists()


def test_server_error_is_a_download_error(tmp_path, monkeypatch, server):
    base, served, _ = server
    serve_table(monkeypatch, base, served)
    (served / "pairs.txt").unlink()  # the server answers 404
    with pytest.raises(DownloadError, match=r"pairs\.txt .*siamface data import PATH"):
        fetch_lfw(tmp_path / "home", progress=False, retries=0)


def test_offline_fails_fast_with_the_import_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = RemoteFile("lfw-funneled.tgz", f"http://127.0.0.1:{port}/lfw.tgz", "0" * 64)
    monkeypatch.setattr(sources, "ARCHIVES", {"lfw_funneled": closed})
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"cannot connect .*siamface data import PATH"):
        fetch_lfw(tmp_path / "home", progress=False)  # default retries: they must not apply
    assert time.perf_counter() - start < 1.0  # pooch's first retry alone would wait 1 s


def test_unknown_variant(tmp_path):
    with pytest.raises(ValueError, match="no download known for variant 'lfw-deepfunneled'"):
        fetch_lfw(tmp_path, variant="lfw-deepfunneled")
