"""The JSON shapes: boxes, gallery names, fields always sent, and errors described as Problem."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from inference.conftest import tiny_verifier  # noqa: F401
from siamface.inference.face_detection import FaceBox
from siamface.serve import faces
from siamface.serve.app import create_app
from siamface.serve.schemas import (
    Box,
    CandidateOut,
    Deleted,
    Enrolled,
    GalleryDetail,
    GalleryOut,
    Health,
    IdentifyResponse,
    Limits,
    NewGallery,
    PersonOut,
    Photo,
    Problem,
    VerifyResponse,
    Version,
)

RESPONSES = [Box, Photo, VerifyResponse, CandidateOut, IdentifyResponse, GalleryOut, PersonOut,
             GalleryDetail, Enrolled, Deleted, Health, Limits, Version, Problem]


def test_box_of_a_face_box_copies_each_side_to_its_own_field():
    """left, top, right, bottom each from their own side (landmarks left out); None: None."""
    box = FaceBox(1.5, 2.25, 30.75, 40.5, landmarks=((10.0, 12.0),) * 5)
    assert Box.of(box).model_dump() == {"left": 1.5, "top": 2.25, "right": 30.75,
                                        "bottom": 40.5}
    assert Box.of(None) is None


def test_a_box_of_numpy_numbers_is_plain_json():
    """Detectors' numpy coordinates (OpenCV's int32, float32) serialise as JSON numbers."""
    box = FaceBox(np.int32(3), np.float32(2.25), np.int64(31), np.float64(40.5))
    assert Box.of(box).model_dump_json() == (
        '{"left":3.0,"top":2.25,"right":31.0,"bottom":40.5}')


@pytest.mark.parametrize("name", ["a", "7", "Staff_2024.v-1", "a" * 64])
def test_a_gallery_name_of_letters_digits_and_dot_dash_underscore_is_taken(name):
    """1 to 64 characters, the first a letter or digit."""
    assert NewGallery(name=name).name == name


@pytest.mark.parametrize("name", [
    "", "a" * 65, "-a", ".a", "_a", "a b", "a/b", "../etc", "staff\n", "\nstaff", "zo\u00eb",
    "a\x00", "a\u0661"])  # "\u0661" is an Arabic-Indic digit: a digit, but not 0-9
def test_any_other_gallery_name_is_one_error_naming_the_field(name):
    """Over 64, a leading . - _, spaces, '/', non-ASCII, a trailing newline: one error at
    "name"."""
    with pytest.raises(ValidationError) as info:
        NewGallery(name=name)
    [error] = info.value.errors()
    assert error["loc"] == ("name",) and error["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize("model", RESPONSES, ids=lambda m: m.__name__)
def test_every_response_field_is_required_null_where_it_has_no_value(model: type[BaseModel]):
    """The schema requires every field, "null when detection is off" ones too: an answer
    always carries each key, and a generated client need not test for a missing one."""
    schema = model.model_json_schema(mode="serialization")
    assert schema["required"] == list(model.model_fields)


def test_a_photo_without_detection_is_sent_with_its_nulls():
    """Nullable fields take null and are still dumped; leaving one out is an error naming it."""
    values = {"width": 250, "height": 240, "faces_found": None, "box": None, "grey": False,
              "note": None}
    assert Photo(**values).model_dump() == values
    with pytest.raises(ValidationError) as info:
        Photo(**{k: v for k, v in values.items() if k != "note"})
    [error] = info.value.errors()
    assert (error["loc"], error["type"]) == (("note",), "missing")


def identify_body(**changes) -> dict:
    """A valid IdentifyResponse body with ``changes``."""
    photo = {"width": 250, "height": 250, "faces_found": None, "box": None, "grey": False,
             "note": None}
    return {"verdict": "unknown", "name": None, "candidates": [], "threshold": 4.5,
            "threshold_probability": 0.989, "threshold_kind": "verification",
            "gallery_size": None, "target_fpir": None, "tied_with": None, "extrapolated": False,
            "people": 1, "margin": None, "photo": photo, **changes}


def test_threshold_kind_is_gallery_or_verification_and_nothing_else():
    """The two kinds are taken; any other word is one error at threshold_kind; the schema
    lists the two."""
    for kind in ("gallery", "verification"):
        assert IdentifyResponse(**identify_body(threshold_kind=kind)).threshold_kind == kind
    with pytest.raises(ValidationError) as info:
        IdentifyResponse(**identify_body(threshold_kind="one-to-one"))
    [error] = info.value.errors()
    assert (error["loc"], error["type"]) == (("threshold_kind",), "literal_error")
    schema = IdentifyResponse.model_json_schema()["properties"]["threshold_kind"]
    assert schema["enum"] == ["gallery", "verification"]


def test_a_gallery_detail_is_its_summary_and_its_members():
    """GalleryDetail = a GalleryOut's fields (as show_gallery passes them) plus members."""
    out = GalleryOut(name="staff", fingerprint="ab" * 32, compatible=True, people=2, photos=3)
    detail = GalleryDetail(**out.model_dump(), members=[PersonOut(name="Ann", photos=2),
                                                        PersonOut(name="Bo", photos=1)])
    assert isinstance(detail, GalleryOut)
    assert detail.model_dump() == {
        "name": "staff", "fingerprint": "ab" * 32, "compatible": True, "people": 2, "photos": 3,
        "members": [{"name": "Ann", "photos": 2}, {"name": "Bo", "photos": 1}]}


def test_every_error_answer_is_a_problem_in_the_schema_and_on_the_wire(
        tiny_verifier, tmp_path, monkeypatch):  # noqa: F811
    """Each 4xx/5xx in /openapi.json is a Problem (FastAPI's HTTPValidationError is not there),
    and real 404, 405 and 422 bodies validate as Problem with their own status."""
    monkeypatch.setattr(faces, "frozen_for_inference", lambda model, channels, size: model)
    app = create_app(tiny_verifier, tmp_path / "g.sqlite3")
    with TestClient(app, raise_server_exceptions=False) as client:
        doc = client.get("/openapi.json").json()
        answers = [client.get("/api/nothing"), client.put("/api/verify"),
                   client.post("/api/galleries", json={})]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Problem"]["required"] == ["field", "message", "status"]
    errors = [(path, method, status, response)
              for path, operations in doc["paths"].items()
              for method, operation in operations.items()
              for status, response in operation["responses"].items() if status[0] in "45"]
    assert len(errors) >= 12 * len(doc["paths"])  # every operation documents its errors
    for path, method, status, response in errors:
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, status)
    assert [r.status_code for r in answers] == [404, 405, 422]
    for r in answers:
        assert Problem.model_validate(r.json()).status == r.status_code
