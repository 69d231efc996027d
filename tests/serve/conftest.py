"""Serve fixtures: a tiny run folder, apps on a fresh gallery database, photos as upload bytes."""

from __future__ import annotations

import io
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from inference.conftest import lfw_faces, random_photo, tiny_model, write_tiny_run  # noqa: F401
from siamface.data.preprocess import preset
from siamface.inference.verifier import Verifier
from siamface.serve.app import create_app
from siamface.serve.guards import ServeOptions

THRESHOLD = 4.5  # the tiny model scores identical photos 5, different ones less


def photo_bytes(pixels: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    """An image file's bytes, as a browser would upload it."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def photo(seed: int) -> bytes:
    """A synthetic 250x250 LFW-like frame (no face to detect), as PNG bytes."""
    return photo_bytes(random_photo(seed))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_run(tmp_path_factory.mktemp("serve") / "run", threshold=THRESHOLD)


def other_model_verifier() -> Verifier:
    """A verifier whose model has other weights (another fingerprint) than the tiny run's."""
    return Verifier(tiny_model(seed=1), preset("face", size=32, channels=3), THRESHOLD,
                    detect=False)


@pytest.fixture
def make_client(run_dir: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """make_client(options=None, detect=False, db=tmp/galleries.sqlite3, verifier=None): a
    started TestClient of a new app (closed, with its pool and database, at the end)."""
    clients: list[TestClient] = []

    def make(options: ServeOptions | None = None, detect: bool = False,
             db: Path | None = None, verifier: Verifier | None = None) -> TestClient:
        verifier = verifier or Verifier.from_run(run_dir, detect=detect)
        app = create_app(verifier, db or tmp_path / "galleries.sqlite3", options, run_dir.name)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """An app without detection (synthetic frames) and without an API key."""
    return make_client()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Until `siamface serve` at ``url`` answers its health check (``server``: its process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"siamface serve exited: {server.stdout.read()!r}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"siamface serve did not answer within {timeout_s} s")
