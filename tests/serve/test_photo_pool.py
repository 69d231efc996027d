"""PhotoPool: uploads aligned in worker processes give the answers the threads give, errors
come back whole, and a worker process that dies costs only its request."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys

import pytest

from siamface.serve.guards import ServeOptions
from siamface.serve.problems import ApiError

from .conftest import photo, photo_bytes


def verify(client, a: bytes, b: bytes):
    return client.post("/api/verify", files={"image_a": ("a.jpg", a), "image_b": ("b.jpg", b)})


def test_a_photo_process_loads_no_pytorch():
    # what a spawned photo process imports: this module, and the command line it was started by
    code = ("import sys, siamface.serve.photo_pool, siamface.cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_api_error_survives_the_trip_from_a_worker_process():
    err = pickle.loads(pickle.dumps(ApiError(422, "image_b", "image_b: no face found")))
    assert (err.status, err.field, err.message) == (422, "image_b", "image_b: no face found")


@pytest.mark.real_data
def test_processes_and_threads_give_the_same_verdict(make_client, lfw_faces):
    a, b = photo_bytes(lfw_faces[0], "JPEG"), photo_bytes(lfw_faces[3], "JPEG")
    by_threads = verify(make_client(detect=True), a, b).json()
    by_processes = verify(make_client(ServeOptions(photo_processes=2), detect=True), a, b).json()
    assert by_processes["logit"] == pytest.approx(by_threads["logit"], abs=1e-5)
    assert by_processes["box_a"] == by_threads["box_a"]
    assert by_processes["photo_b"] == by_threads["photo_b"]


def test_a_photo_without_a_face_is_named_from_the_worker_process(make_client):
    client = make_client(ServeOptions(photo_processes=1), detect=True)
    r = verify(client, photo(1), photo(2))
    assert r.status_code == 422
    assert r.json()["field"] == "image_a" and "no face found" in r.json()["message"]


def test_a_killed_worker_process_fails_its_request_with_503_and_is_replaced(make_client):
    client = make_client(ServeOptions(photo_processes=1))  # started with the app
    (worker,) = multiprocessing.active_children()
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(timeout=10)
    r = verify(client, photo(1), photo(1))
    assert r.status_code == 503 and r.json()["field"] in ("image_a", "image_b")
    assert "send the request again" in r.json()["message"]
    assert verify(client, photo(1), photo(1)).json()["same"] is True
