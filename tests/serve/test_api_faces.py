"""POST /api/verify, health, version, the schema and the page: answers and refusals."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import fields

import pytest
from PIL import IcoImagePlugin, Image
from scipy.special import expit

from siamface.data.preprocess import MAX_PIXELS
from siamface.inference.verifier import Verification, Verifier
from siamface.serve.guards import ServeOptions

from .conftest import THRESHOLD, photo, photo_bytes, random_photo, write_tiny_run


def verify(client, a: bytes | None, b: bytes | None, names=("a.png", "b.png")):
    files = {k: (n, v) for k, n, v in (("image_a", names[0], a), ("image_b", names[1], b))
             if v is not None}
    return client.post("/api/verify", files=files)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_the_same_photo_twice_is_the_same_person(client):
    r = verify(client, photo(1), photo(1))
    assert r.status_code == 200
    body = r.json()
    # the fields of `siamface verify --json`, and the verdict in words
    assert {f.name for f in fields(Verification)} | {"threshold_probability"} <= body.keys()
    assert body["verdict"] == "same person" and body["same"] is True
    assert body["logit"] == pytest.approx(5.0, abs=1e-4)
    assert body["threshold"] == THRESHOLD
    assert body["probability"] == pytest.approx(float(expit(body["logit"])))
    assert body["threshold_probability"] == pytest.approx(float(expit(THRESHOLD)))
    assert body["photo_a"] == {"width": 250, "height": 250, "faces_found": None, "box": None,
                               "grey": False, "note": None}


@pytest.mark.parametrize("grey_p", [0.0, 0.2])
def test_a_black_and_white_photo_is_noted_for_a_model_of_colour_photos(make_client, tmp_path,
                                                                      grey_p):
    run = write_tiny_run(tmp_path / "run", threshold=THRESHOLD,
                         overrides=[f"augment.grey_p={grey_p}"])
    client = make_client(verifier=Verifier.from_run(run, detect=False))
    grey = photo_bytes(Image.fromarray(random_photo(2)).convert("L"))
    body = verify(client, photo(1), grey).json()
    assert (body["photo_a"]["grey"], body["photo_a"]["note"]) == (False, None)
    assert body["photo_b"]["grey"] is True
    assert body["photo_b"]["note"] == (None if grey_p else (
        "the photo is black and white but the model compares colour photos: its score is less "
        "reliable than the reported accuracy"))


def test_two_different_photos_are_different_people(client):
    body = verify(client, photo(1), photo(2)).json()
    assert body["verdict"] == "different people" and body["same"] is False
    assert body["logit"] < THRESHOLD


def test_a_missing_photo_is_a_422_naming_its_field(client):
    r = verify(client, photo(1), None)
    assert r.status_code == 422
    assert r.json()["field"] == "image_b" and "required" in r.json()["message"].lower()


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"", 422, "empty"),
    (b"%PDF-1.4 not a photo", 415, "not an image of an accepted format; send one of JPEG"),
    (photo_bytes(random_photo(1), "PPM"), 415, "not an image of an accepted format"),
    # an iPhone's HEIC starts with an ISO media "ftyp" box of brand heic
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), 415,
     "HEIC/HEIF images are not accepted"),
    (png_header(10_000, 6_000), 413, f"{MAX_PIXELS:,} pixels"),
])
def test_a_bad_upload_is_a_4xx_naming_the_field(client, data, status, words):
    r = verify(client, photo(1), data)
    assert r.status_code == status, r.text
    assert r.json()["field"] == "image_b"
    assert words in r.json()["message"]


def test_an_icon_is_refused_without_being_decoded(client, monkeypatch):
    # Pillow decodes an ICO's largest image while opening it, before its size can be checked:
    # a 657 kB icon holding a 13000x13000 PNG cost 650 MB before its 413
    decoded = []
    monkeypatch.setattr(IcoImagePlugin.IcoImageFile, "load", lambda im: decoded.append(im))
    r = verify(client, photo(1), photo_bytes(random_photo(1, (64, 64)), "ICO"))
    assert r.status_code == 415 and "not an image of an accepted format" in r.text
    assert decoded == []


def test_a_photo_over_the_file_limit_is_refused(make_client):
    client = make_client(ServeOptions(max_file_bytes=5_000))
    big = photo_bytes(random_photo(3, (400, 400)), "BMP")  # 480 kB
    r = verify(client, big, photo(1))
    assert r.status_code == 413 and r.json()["field"] == "image_a"
    assert r.json()["message"] == "image_a: the file is larger than the limit of 5,000 bytes"


def test_a_request_over_the_body_limit_is_refused_before_it_is_read(make_client):
    client = make_client(ServeOptions(max_request_bytes=10_000))
    r = verify(client, photo_bytes(random_photo(3, (400, 400)), "BMP"), photo(1))
    assert r.status_code == 413 and r.json()["field"] == "Content-Length"


def test_with_detection_a_photo_without_a_face_is_a_422_naming_it(make_client):
    r = verify(make_client(detect=True), photo(1), photo(2))
    assert r.status_code == 422
    assert r.json()["field"] == "image_a"
    assert r.json()["message"].startswith("no face found in image_a (")


def test_a_phone_jpeg_that_opens_as_mpo_is_taken_as_the_jpeg_it_is(client):
    still = Image.fromarray(random_photo(5, (64, 64)))
    mpo = io.BytesIO()  # a photo with its preview inside, as phones write them
    still.save(mpo, "MPO", save_all=True, append_images=[still.resize((32, 32))])
    plain = photo_bytes(still, "JPEG")  # its main image, the same JPEG encoding, alone
    other = photo_bytes(random_photo(6, (64, 64)), "JPEG")
    r = verify(client, mpo.getvalue(), plain, names=("phone.jpg", "b.jpg"))
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["photo_a"]["width"] == body["photo_a"]["height"] == 64  # not the 32 px preview
    assert body["logit"] == pytest.approx(5.0, abs=1e-4)  # the same pixels as the plain JPEG
    as_mpo = verify(client, mpo.getvalue(), other, names=("phone.jpg", "b.jpg")).json()
    as_jpeg = verify(client, plain, other, names=("a.jpg", "b.jpg")).json()
    assert as_mpo["logit"] == pytest.approx(as_jpeg["logit"], abs=1e-6)
    assert as_jpeg["logit"] < 5.0 - 1e-2  # a different photo: the comparison can tell


@pytest.mark.real_data
def test_with_detection_real_faces_get_their_box(make_client, lfw_faces):
    body = verify(make_client(detect=True), photo_bytes(lfw_faces[0], "JPEG"),
                  photo_bytes(lfw_faces[1], "JPEG"), names=("a.jpg", "b.jpg")).json()
    for side in ("a", "b"):
        found = body[f"photo_{side}"]
        assert found["faces_found"] >= 1
        box = found["box"]
        assert box == body[f"box_{side}"]
        assert 0 <= box["left"] < box["right"] <= 250 and 0 <= box["top"] < box["bottom"] <= 250


def test_health_version_and_schema(client, run_dir):
    assert client.get("/api/health").json() == {"status": "ok"}
    version = client.get("/api/version").json()
    assert version["run"] == run_dir.name and version["threshold"] == THRESHOLD
    assert len(version["model_fingerprint"]) == 64 and version["api_key_required"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/verify", "/api/galleries", "/api/galleries/{gallery}/identify"} <= paths.keys()


def test_the_page_loads_nothing_from_elsewhere_and_the_cdn_docs_are_off(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    for text in (page.text, client.get("/static/app.js").text):
        assert "http://" not in text and "https://" not in text
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_an_unknown_path_is_a_json_404(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


def test_a_method_a_path_does_not_take_is_a_405_with_its_allow_header(client):
    r = client.put("/api/verify")
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.json()["field"] is None


def test_the_page_and_health_answer_head_for_monitors(client):
    for path in ("/", "/api/health"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""


def test_a_photo_sent_twice_is_refused_not_taken_from_its_last_copy(client):
    files = [("image_a", ("a.png", photo(1))), ("image_a", ("c.png", photo(3))),
             ("image_b", ("b.png", photo(2)))]
    r = client.post("/api/verify", files=files)
    assert r.status_code == 422 and r.json()["field"] == "image_a"
    assert r.json()["message"] == "image_a was sent 2 times; send it once"


def test_a_photo_sent_twice_is_refused_whatever_the_case_of_its_content_type(client):
    body = b"".join(
        b"--B\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s.png\"\r\n"
        b"Content-Type: image/png\r\n\r\n%s\r\n" % (field, field, photo(k))
        for field, k in ((b"image_a", 1), (b"image_a", 3), (b"image_b", 2))) + b"--B--\r\n"
    r = client.post("/api/verify", content=body,
                    headers={"Content-Type": "Multipart/Form-Data; boundary=B"})
    assert r.status_code == 422 and r.json()["field"] == "image_a"
