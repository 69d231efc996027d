"""ServerContext: one unchangeable bundle of what the endpoints share, made once by create_app."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest
from fastapi.testclient import TestClient

from inference.conftest import tiny_verifier  # noqa: F401
from siamface.serve import faces
from siamface.serve.app import create_app
from siamface.serve.context import ServerContext
from siamface.serve.guards import ServeOptions


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    """Apps here embed with the eager model: quick to make, and the wiring is the same."""
    monkeypatch.setattr(faces, "frozen_for_inference", lambda model, channels, size: model)


def test_the_fields_are_in_the_order_create_app_gives_them_and_run_name_is_optional():
    """Positional parts land in faces, store, pool, photos, options; run_name defaults None."""
    parts = [object() for _ in range(5)]
    ctx = ServerContext(*parts)
    assert [f.name for f in fields(ServerContext)] == [
        "faces", "store", "pool", "photos", "options", "run_name"]
    assert [getattr(ctx, f.name) for f in fields(ServerContext)] == [*parts, None]
    assert ServerContext(*parts, "run-1").run_name == "run-1"


def test_a_context_cannot_be_changed_once_made():
    """Every request sees the same parts: assigning one raises."""
    ctx = ServerContext(*[object() for _ in range(5)], run_name="run-1")
    with pytest.raises(FrozenInstanceError):
        ctx.run_name = "run-2"
    with pytest.raises(FrozenInstanceError):
        ctx.options = ServeOptions()
    assert ctx.run_name == "run-1"


def test_create_app_makes_one_context_of_its_arguments_that_the_endpoints_use(
        tiny_verifier, tmp_path):  # noqa: F811
    """The verifier, database, options and run name go into app.state.context; the photos
    share the context's worker pool; /api/version and the gallery endpoints answer from it."""
    options = ServeOptions(workers=3, max_file_bytes=12_345)
    app = create_app(tiny_verifier, tmp_path / "g.sqlite3", options, "run-7")
    ctx = app.state.context
    assert isinstance(ctx, ServerContext)
    assert ctx.faces.verifier is tiny_verifier and ctx.options is options
    assert ctx.run_name == "run-7" and ctx.store.path == tmp_path / "g.sqlite3"
    assert ctx.pool.workers == 3 and ctx.photos.threads is ctx.pool  # one pool of threads
    photos = ctx.photos
    assert (photos.preprocessing, photos.detect, photos.max_file_bytes, photos.processes) == (
        tiny_verifier.preprocessing, False, 12_345, 0)
    with TestClient(app) as client:
        version = client.get("/api/version").json()
        assert version["run"] == "run-7" and version["model_fingerprint"] == ctx.faces.fingerprint
        assert version["limits"]["max_file_bytes"] == 12_345
        assert client.post("/api/galleries", json={"name": "staff"}).status_code == 201
        assert [g.name for g in ctx.store.galleries()] == ["staff"]


def test_without_options_or_a_run_name_the_context_has_the_defaults(tiny_verifier,  # noqa: F811
                                                                     tmp_path):
    """No options: ServeOptions() (2 worker threads); no run name: None, shown as null."""
    app = create_app(tiny_verifier, tmp_path / "g.sqlite3")
    ctx = app.state.context
    assert ctx.options == ServeOptions() and ctx.run_name is None
    assert ctx.pool.workers == ServeOptions().workers == 2
    with TestClient(app) as client:
        assert client.get("/api/version").json()["run"] is None
