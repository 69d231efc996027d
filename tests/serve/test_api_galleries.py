"""The gallery endpoints: create, enroll, list, identify, delete; keys, restarts, other models."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from inference.conftest import write_tiny_run
from siamface.evaluation.open_set import ImpostorTail
from siamface.inference.verifier import Verifier
from siamface.run_folder import Run
from siamface.serve.guards import ServeOptions

from .conftest import THRESHOLD, other_model_verifier, photo

KEY = "s3cret-key"


def enroll(client, gallery: str, name: str, *seeds: int, headers=None):
    files = [("photos", (f"{name}-{s}.png", photo(s))) for s in seeds]
    return client.post(f"/api/galleries/{gallery}/people", data={"name": name}, files=files,
                       headers=headers or {})


def identify(client, gallery: str, seed: int, top_k: int = 5):
    return client.post(f"/api/galleries/{gallery}/identify", params={"top_k": top_k},
                       files={"photo": ("probe.png", photo(seed))})


@pytest.fixture
def staff(client):
    """A gallery "staff": Ann (photos 1 and 3) and Bo (photo 2)."""
    assert client.post("/api/galleries", json={"name": "staff"}).status_code == 201
    assert enroll(client, "staff", "Ann", 1, 3).json() == {
        "gallery": "staff", "person": "Ann", "added": 2, "photos": 2}
    assert enroll(client, "staff", "Bo", 2).status_code == 201
    return client


def test_enrolled_people_are_listed_and_identified(staff):
    assert staff.get("/api/galleries/staff/people").json() == [
        {"name": "Ann", "photos": 2}, {"name": "Bo", "photos": 1}]
    [gallery] = staff.get("/api/galleries").json()
    assert gallery["people"] == 2 and gallery["photos"] == 3 and gallery["compatible"] is True
    body = identify(staff, "staff", 2).json()
    assert body["verdict"] == body["name"] == "Bo" and body["threshold"] == THRESHOLD
    logits = [c["logit"] for c in body["candidates"]]
    assert body["candidates"][0]["name"] == "Bo" and logits == sorted(logits)[::-1]
    assert body["candidates"][0]["source"] == "Bo-2.png"


def test_a_stranger_is_unknown_with_the_candidates(staff):
    body = identify(staff, "staff", 9, top_k=1).json()
    assert body["verdict"] == "unknown" and body["name"] is None
    assert len(body["candidates"]) == 1 and body["candidates"][0]["logit"] < THRESHOLD


def test_more_photos_add_to_a_person_and_deletes_remove(staff):
    assert enroll(staff, "staff", "Bo", 4, 5).json()["photos"] == 3
    assert staff.delete("/api/galleries/staff/people/Ann").json() == {"deleted": "Ann"}
    assert [p["name"] for p in staff.get("/api/galleries/staff/people").json()] == ["Bo"]
    assert staff.delete("/api/galleries/staff/people/Ann").status_code == 404
    assert staff.delete("/api/galleries/staff").status_code == 200
    assert staff.get("/api/galleries/staff").status_code == 404
    assert staff.get("/api/galleries").json() == []


def test_names_that_a_url_path_would_lose_are_refused(staff):
    for name in (".", ".."):
        r = enroll(staff, "staff", name, 4)
        assert r.status_code == 422 and r.json()["field"] == "name"
    # a client that collapses ".../people/.." to ".../staff/" reaches no gallery delete
    assert staff.delete("/api/galleries/staff/").status_code == 404
    assert staff.get("/api/galleries/staff").status_code == 200


def test_a_name_has_one_spelling_for_enroll_and_delete(staff):
    assert enroll(staff, "staff", " Zoe\u0308 ", 4).json()["person"] == "Zo\u00eb"
    assert enroll(staff, "staff", "Zo\u00eb", 5).json()["photos"] == 2  # the same person
    r = staff.delete("/api/galleries/staff/people/%20Zoe%CC%88%20")
    assert r.json() == {"deleted": "Zo\u00eb"}


def test_the_length_limit_holds_for_the_one_spelling_a_name_is_stored_in(staff):
    # 100 letters with spaces around them, and 60 letters typed as 120 code points (NFD)
    assert enroll(staff, "staff", " " + "b" * 100 + " ", 4).json()["person"] == "b" * 100
    assert enroll(staff, "staff", "e\u0301" * 60, 5).json()["person"] == "\u00e9" * 60
    for name in ("c" * 101, "   "):
        r = enroll(staff, "staff", name, 6)
        assert r.status_code == 422 and r.json()["message"] == (
            "a name must have 1 to 100 characters")
    empty = enroll(staff, "staff", "", 6)
    assert empty.status_code == 422 and empty.json()["message"] == "name is required"
    schema = staff.get("/openapi.json").json()["components"]["schemas"]
    enroll_form = next(v for k, v in schema.items() if k.startswith("Body_enroll"))
    assert "name" in enroll_form["required"]  # a generated client must send it


@pytest.mark.parametrize(("files", "data", "params", "field"), [
    ([("photo", ("a.png", photo(1))), ("photo", ("b.png", photo(2)))], {}, {}, "photo"),
    ([("photo", ("a.png", photo(1)))], {}, [("top_k", 1), ("top_k", 50)], "top_k"),
    ([("photo", ("a.png", photo(1)))], {}, [("fpir", 0.1), ("fpir", 0.01)], "fpir"),
])
def test_a_field_sent_twice_is_refused_not_taken_from_its_last_copy(staff, files, data,
                                                                     params, field):
    r = staff.post("/api/galleries/staff/identify", files=files, data=data, params=params)
    assert r.status_code == 422 and r.json() == {
        "field": field, "message": f"{field} was sent 2 times; send it once", "status": 422}


def test_an_enroll_sending_two_names_stores_neither(staff):
    r = staff.post("/api/galleries/staff/people", data={"name": ["Al", "Cy"]},
                   files=[("photos", ("a.png", photo(7)))])
    assert r.status_code == 422 and r.json()["field"] == "name"
    names = [p["name"] for p in staff.get("/api/galleries/staff/people").json()]
    assert names == ["Ann", "Bo"]


@pytest.mark.parametrize(("call", "status", "field"), [
    (lambda c: c.post("/api/galleries", json={"name": "staff"}), 409, "name"),
    (lambda c: c.post("/api/galleries", json={"name": "../etc"}), 422, "name"),
    (lambda c: c.post("/api/galleries", json={}), 422, "name"),
    (lambda c: enroll(c, "nobody", "Cy", 1), 404, "gallery"),
    (lambda c: enroll(c, "staff", "Cy\x07", 1), 422, "name"),
    (lambda c: enroll(c, "staff", "a/b", 1), 422, "name"),
    (lambda c: enroll(c, "staff", "Cy", *range(11)), 422, "photos"),
    (lambda c: c.post("/api/galleries/staff/people", data={"name": "Cy"}), 422, "photos"),
    (lambda c: identify(c, "staff", 1, top_k=0), 422, "top_k"),
    (lambda c: identify(c, "nobody", 1), 404, "gallery"),
])
def test_bad_gallery_requests_are_4xx_naming_the_field(staff, call, status, field):
    r = call(staff)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field and r.json()["message"]


def test_an_enroll_with_one_bad_photo_stores_none(staff):
    files = [("photos", ("ok.png", photo(7))), ("photos", ("bad.png", b"not an image"))]
    r = staff.post("/api/galleries/staff/people", data={"name": "Cy"}, files=files)
    assert r.status_code == 415 and r.json()["field"] == "photos[1]"
    assert "Cy" not in [p["name"] for p in staff.get("/api/galleries/staff/people").json()]


def test_an_empty_gallery_cannot_identify(client):
    client.post("/api/galleries", json={"name": "empty"})
    r = identify(client, "empty", 1)
    assert r.status_code == 409 and "no people" in r.json()["message"]


def test_with_an_api_key_every_write_needs_it_and_reads_do_not(make_client):
    client = make_client(ServeOptions(api_key=KEY))
    for headers, status in (({}, 401), ({"X-API-Key": "wrong"}, 401), ({"X-API-Key": KEY}, 201)):
        r = client.post("/api/galleries", json={"name": "staff"}, headers=headers)
        assert r.status_code == status
        if status == 401:
            assert r.json()["field"] == "X-API-Key"
    assert enroll(client, "staff", "Ann", 1).status_code == 401
    assert enroll(client, "staff", "Ann", 1, headers={"X-API-Key": KEY}).status_code == 201
    assert client.delete("/api/galleries/staff/people/Ann").status_code == 401
    assert client.delete("/api/galleries/staff").status_code == 401
    assert identify(client, "staff", 1).status_code == 200  # reads need no key
    assert client.get("/api/galleries").status_code == 200
    assert client.get("/api/version").json()["api_key_required"] is True


def test_a_write_another_process_keeps_locked_is_a_503_to_retry_and_reads_go_on(
        make_client, tmp_path, monkeypatch):
    monkeypatch.setattr("siamface.serve.store.BUSY_TIMEOUT_S", 0.5)
    db = tmp_path / "busy.sqlite3"
    client = make_client(db=db)
    client.post("/api/galleries", json={"name": "staff"})
    other = sqlite3.connect(db, isolation_level=None)  # a second server, mid-write
    other.execute("BEGIN IMMEDIATE")
    try:
        r = enroll(client, "staff", "Ann", 1)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["field"] == "database" and "send the request again" in r.json()["message"]
        assert client.get("/api/galleries").json()[0]["people"] == 0  # reads do not wait
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert enroll(client, "staff", "Ann", 1).status_code == 201


def test_galleries_survive_a_restart(make_client, tmp_path):
    db = tmp_path / "kept.sqlite3"
    first = make_client(db=db)
    first.post("/api/galleries", json={"name": "staff"})
    enroll(first, "staff", "Bo", 2)
    first.__exit__(None, None, None)  # the server stops
    second = make_client(db=db)
    assert second.get("/api/galleries/staff/people").json() == [{"name": "Bo", "photos": 1}]
    assert identify(second, "staff", 2).json()["name"] == "Bo"


def test_a_gallery_of_another_model_is_refused(make_client, tmp_path):
    db = tmp_path / "shared.sqlite3"
    first = make_client(db=db)
    first.post("/api/galleries", json={"name": "staff"})
    enroll(first, "staff", "Bo", 2)
    other = make_client(db=db, verifier=other_model_verifier())
    [gallery] = other.get("/api/galleries").json()
    assert gallery["compatible"] is False
    for r in (identify(other, "staff", 2), enroll(other, "staff", "Cy", 3)):
        assert r.status_code == 409 and r.json()["field"] == "gallery"
        assert "another model" in r.json()["message"]


def test_concurrent_enrolls_are_all_kept(client):
    client.post("/api/galleries", json={"name": "crowd"})
    names = [f"Person {i:02d}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda n: enroll(client, "crowd", n, 1).status_code, names))
    assert codes == [201] * len(names)
    people = client.get("/api/galleries/crowd/people").json()
    assert [p["name"] for p in people] == names and {p["photos"] for p in people} == {1}


def test_a_calibrated_model_names_at_the_threshold_for_the_gallerys_size(make_client,
                                                                         tmp_path):
    run = Run(write_tiny_run(tmp_path / "calibrated", threshold=THRESHOLD))
    scores = torch.linspace(4.9, -5.0, 20_001)  # different-person validation scores
    run.write_gallery_calibration(scores, 20_001, 30)
    tail = ImpostorTail(scores.double().numpy(), 20_001)
    client = make_client(verifier=Verifier.from_run(run.path, detect=False))
    assert client.post("/api/galleries", json={"name": "staff"}).status_code == 201
    for name, seed in (("Ann", 1), ("Bo", 2), ("Cy", 3)):
        assert enroll(client, "staff", name, seed).status_code == 201
    body = identify(client, "staff", 2).json()
    assert body["name"] == "Bo" and body["threshold_kind"] == "gallery"
    assert (body["gallery_size"], body["people"], body["target_fpir"]) == (3, 3, 0.01)
    assert body["threshold"] == tail.threshold(3, 0.01).threshold
    first, second = body["candidates"][:2]
    assert body["margin"] == pytest.approx(first["logit"] - second["logit"])
    loose = client.post("/api/galleries/staff/identify", params={"fpir": 0.1},
                        files={"photo": ("probe.png", photo(2))}).json()
    assert loose["threshold"] == tail.threshold(3, 0.1).threshold < body["threshold"]
    assert body["extrapolated"] is False and loose["extrapolated"] is False
    fine = client.post("/api/galleries/staff/identify", params={"fpir": 1e-6},
                       files={"photo": ("probe.png", photo(2))}).json()
    # 1e-6 for 3 people needs a tail of 3.3e-7 of 20,001 pairs: none, so their highest decides
    assert fine["extrapolated"] is True and fine["threshold"] == tail.threshold(3, 1e-6).threshold
    assert fine["threshold"] == pytest.approx(4.9)
    assert enroll(client, "staff", "Di", 4).status_code == 201  # the gallery grows ...
    assert identify(client, "staff", 2).json()["threshold"] == tail.threshold(4, 0.01).threshold
    bad = client.post("/api/galleries/staff/identify", params={"fpir": 0.5},
                      files={"photo": ("probe.png", photo(2))})
    assert bad.status_code == 422 and "fpir" in bad.text
    for value in ("nan", "inf"):  # not "less than or equal to 0.1"
        bad = client.post("/api/galleries/staff/identify", params={"fpir": value},
                          files={"photo": ("probe.png", photo(2))})
        assert bad.status_code == 422 and bad.json()["field"] == "fpir"
        assert "finite number" in bad.json()["message"]


def test_without_calibration_the_answer_says_which_threshold_decided(staff):
    body = identify(staff, "staff", 2).json()
    assert body["threshold_kind"] == "verification" and body["gallery_size"] is None
    assert body["people"] == 2 and body["target_fpir"] is None


def test_a_database_failing_after_start_up_answers_json(client, monkeypatch):
    from siamface.serve.store import GalleryStore

    def malformed(self):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(GalleryStore, "galleries", malformed)
    r = client.get("/api/galleries")
    assert r.status_code == 500 and r.json()["field"] == "database"
    assert "database disk image is malformed" in r.json()["message"]


def test_an_embedding_changed_to_nan_in_the_file_is_the_servers_500_not_the_clients_422(
        staff, tmp_path):
    with sqlite3.connect(tmp_path / "galleries.sqlite3") as db:
        blob = db.execute("SELECT embedding FROM photos LIMIT 1").fetchone()[0]
        nan = bytes(bytearray(b"\x00\x00\xc0\x7f") + blob[4:])  # its first value: NaN
        db.execute("UPDATE photos SET embedding = ? WHERE id = 1", (nan,))
    r = identify(staff, "staff", 2)
    assert r.status_code == 500 and r.json()["field"] == "gallery"
    assert "holds embeddings that are not finite numbers" in r.json()["message"]


@pytest.mark.parametrize("value", [0.0, 1e30])  # no direction; a length float32 cannot hold
def test_an_embedding_no_model_makes_in_the_file_is_the_servers_500_not_the_clients_422(
        staff, tmp_path, value):
    with sqlite3.connect(tmp_path / "galleries.sqlite3") as db:
        blob = db.execute("SELECT embedding FROM photos LIMIT 1").fetchone()[0]
        changed = np.full(len(blob) // 4, value, dtype="<f4").tobytes()
        db.execute("UPDATE photos SET embedding = ? WHERE id = 1", (changed,))
    r = identify(staff, "staff", 2)
    assert r.status_code == 500 and r.json()["field"] == "gallery"
    assert "holds an embedding that is all zeros or too large to compare" in r.json()["message"]


def test_text_where_a_photo_goes_is_named_without_python_words(client):
    r = client.post("/api/verify", data={"image_a": "hello"},
                    files={"image_b": ("b.png", photo(2))})
    assert r.status_code == 422 and r.json()["message"] == (
        "image_a: send a file (an image), not a text field")


def test_a_body_that_is_not_json_names_the_body(client):
    r = client.post("/api/galleries", content=b"{bad", headers={"Content-Type":
                                                                  "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert r.json()["message"].startswith("the request body is not valid JSON (at character 1")


def test_a_name_stored_before_names_had_one_spelling_can_still_be_deleted(staff, tmp_path):
    with sqlite3.connect(tmp_path / "galleries.sqlite3") as db:  # as an older server stored it
        db.execute("UPDATE photos SET person = ? WHERE person = 'Bo'", ("Zoe\u0308",))
    r = staff.delete("/api/galleries/staff/people/Zoe%CC%88")
    assert r.json() == {"deleted": "Zoe\u0308"}
    assert [p["name"] for p in staff.get("/api/galleries/staff/people").json()] == ["Ann"]


def test_a_tie_at_the_top_names_no_one_and_says_with_whom(client):
    client.post("/api/galleries", json={"name": "twins"})
    for name in ("Ann", "Ann's twin"):
        assert enroll(client, "twins", name, 1).status_code == 201  # one photo, two people
    body = identify(client, "twins", 1, top_k=1).json()
    assert body["verdict"] == "unknown" and body["name"] is None
    names = {body["tied_with"], body["candidates"][0]["name"]}
    assert names == {"Ann", "Ann's twin"} and body["margin"] == 0
