"""Fuzz every operation of the OpenAPI schema with schemathesis: no answer is a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from inference.conftest import write_tiny_run
from siamface.inference.verifier import Verifier
from siamface.serve.app import create_app

from .conftest import THRESHOLD


def fuzzed_app():
    """An app with a gallery "staff" of one person, so that gallery paths also hit real rows."""
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    from .conftest import photo

    folder = Path(tempfile.mkdtemp(prefix="siamface-fuzz-"))
    run_dir = write_tiny_run(folder / "run", threshold=THRESHOLD)
    app = create_app(Verifier.from_run(run_dir, detect=False), folder / "galleries.sqlite3")
    with TestClient(app) as client:  # schemathesis starts and stops the app again per call
        client.post("/api/galleries", json={"name": "staff"})
        client.post("/api/galleries/staff/people", data={"name": "Ann"},
                    files=[("photos", ("a.png", photo(1)))])
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
