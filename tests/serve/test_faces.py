"""FaceService: verify, embed and identify aligned uploads with one model, as the verifier would."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.special import expit

from inference.conftest import tiny_model, tiny_verifier  # noqa: F401
from siamface.data.preprocess import preset
from siamface.errors import SiamfaceError
from siamface.inference.align import FaceAligner
from siamface.inference.face_detection import FaceBox
from siamface.inference.verifier import Verifier, model_fingerprint
from siamface.serve import faces as faces_module
from siamface.serve.faces import AlignedFaceVerifier, FaceService
from siamface.serve.photos import Face
from siamface.serve.problems import ApiError

from .conftest import THRESHOLD, random_photo

IDENTICAL = 5.0  # the tiny model's cosine head at init: 10 * cos(e, e) - 5
PRE = preset("face", size=32, channels=3)


def face(seed: int) -> Face:
    """random_photo(seed) as an upload aligned without detection (a 250x250 frame)."""
    return Face(FaceAligner(PRE, detect=False)(random_photo(seed)), None, 250, 250)


def verifier(**kwargs) -> Verifier:
    """The tiny model (threshold 4.5, no detection, fp32 unless ``precision`` says)."""
    kwargs = {"detect": False, "precision": "fp32", **kwargs}
    return Verifier(tiny_model(), PRE, THRESHOLD, **kwargs)


@pytest.fixture(scope="module")
def service() -> FaceService:
    """A service with its real frozen embedder (made once: tracing takes seconds)."""
    return FaceService(verifier())


@pytest.fixture
def unfrozen(monkeypatch):
    """Services made from now on embed with the eager model (quick to make); returns the
    (model, channels, size) of each ``frozen_for_inference`` call."""
    calls = []

    def eager(model, channels, size):
        calls.append((model, channels, size))
        return model

    monkeypatch.setattr(faces_module, "frozen_for_inference", eager)
    return calls


def test_an_aligned_face_goes_on_as_it_is_and_a_photo_is_aligned(tiny_verifier):  # noqa: F811
    """AlignedFaceVerifier takes an AlignedFace unchanged (no colour warning: the answer carries
    the note) and still aligns a plain photo as Verifier does."""
    v = AlignedFaceVerifier(tiny_verifier.model, PRE, THRESHOLD, detect=False)
    grey = replace(face(1).aligned, grey=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a GreyPhotoWarning would be raised here
        assert v.align(grey) is grey
    aligned = v.align(random_photo(2))
    assert aligned.pixels.shape == (3, 32, 32)
    np.testing.assert_array_equal(aligned.pixels, tiny_verifier.align(random_photo(2)).pixels)


def test_verify_scores_as_the_eager_verifier_does(service):
    """The frozen embedder changes no verdict: the logits of the plain Verifier on the same
    photos, 5 for a photo with itself, and the verdict at the model's threshold."""
    same, other = service.verify(face(1), face(1)), service.verify(face(1), face(2))
    eager = verifier().verify(random_photo(1), random_photo(2))
    assert same.logit == pytest.approx(IDENTICAL, abs=1e-4) and same.same is True
    assert same.distance == pytest.approx(0.0, abs=1e-6)
    assert other.logit == pytest.approx(eager.logit, abs=1e-5) and other.logit < THRESHOLD
    assert other.same is False and other.threshold == THRESHOLD
    assert other.probability == pytest.approx(float(expit(other.logit)))


def test_each_photos_box_and_face_count_come_back_on_its_own_side(service):
    """verify passes photo a as a and photo b as b: their boxes and counts are not swapped."""
    box_a, box_b, small = FaceBox(10, 20, 110, 120), FaceBox(5, 6, 55, 56), FaceBox(0, 0, 9, 9)
    a = Face(replace(face(1).aligned, box=box_a, faces_found=2, boxes=(box_a, small)),
             2, 250, 250)
    b = Face(replace(face(2).aligned, box=box_b, faces_found=1, boxes=(box_b,)), 1, 250, 250)
    result = service.verify(a, b)
    assert (result.box_a, result.box_b) == (box_a, box_b)
    assert (result.faces_a, result.faces_b) == (2, 1)
    assert (result.boxes_a, result.boxes_b) == ((box_a, small), (box_b,))


def test_embed_gives_one_float32_row_per_face_in_order(service):
    """(N, 8) float32, row i the embedding of face i (the eager model's to float rounding);
    no faces: an empty (0, 8)."""
    e = service.embed([face(1), face(2), face(1)])
    assert e.shape == (3, 8) and e.dtype == np.float32
    np.testing.assert_array_equal(e[0], e[2])
    reference = verifier().embed([face(1).aligned, face(2).aligned]).numpy()
    np.testing.assert_allclose(e[:2], reference, atol=1e-6)
    assert np.abs(e[0] - e[1]).max() > 1e-4  # two photos: the order is seen
    empty = service.embed([])
    assert empty.shape == (0, 8) and empty.dtype == np.float32


def test_one_service_answers_threads_at_once_as_it_answers_one(service):
    """One verifier serves every worker thread: four threads at once get the serial logits."""
    pairs = [(face(i), face(j)) for i, j in ((1, 2), (3, 4), (5, 5), (2, 6), (1, 3), (4, 6))]
    serial = [service.verify(a, b).logit for a, b in pairs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda ab: service.verify(*ab).logit, pairs))
    assert parallel == pytest.approx(serial, abs=1e-6)
    assert len(set(np.round(serial, 4))) == 6  # six different answers, not one repeated


def test_an_fp32_model_embeds_with_a_copy_frozen_for_its_input(unfrozen):
    """fp32: the backbone is frozen once, for (3, 32, 32) input."""
    v = verifier()
    FaceService(v)
    assert unfrozen == [(v.model, 3, 32)]


def test_the_settings_and_fingerprint_are_the_original_models(service):
    """What galleries are stored with is the model's, not its frozen copy's (whose graph holds
    the weights as constants): the same as the plain verifier's, and as a fresh copy's."""
    assert service.settings == service.verifier.settings() == verifier().settings()
    assert service.fingerprint == service.settings["model"]
    assert service.fingerprint == model_fingerprint(tiny_model())
    assert len(service.fingerprint) == 64


def test_a_bf16_model_embeds_with_the_eager_model_and_its_own_settings(unfrozen):
    """bf16: no frozen copy (autocast would not reach inside it), and precision and flip_tta
    go on to the embedding: exactly the plain verifier's embeddings, not fp32's nor flipped."""
    v = verifier(precision="bf16", flip_tta=False)
    s = FaceService(v)
    assert unfrozen == []
    faces = [face(1), face(2)]
    got = s.embed(faces)
    np.testing.assert_array_equal(got, v.embed([f.aligned for f in faces]).numpy())
    for other in (verifier(precision="fp32", flip_tta=False),
                  verifier(precision="bf16", flip_tta=True)):
        assert np.abs(got - other.embed([f.aligned for f in faces]).numpy()).max() > 1e-6


def test_a_score_that_is_not_a_number_is_a_422_without_a_field(unfrozen):
    """A NaN logit (verify or identify) is an ApiError 422, field None, the reason in words."""
    v = verifier()
    with torch.no_grad():
        v.model.head.bias.fill_(float("nan"))
    s = FaceService(v)
    with pytest.raises(ApiError) as info:
        s.verify(face(1), face(2))
    assert (info.value.status, info.value.field) == (422, None)
    assert info.value.message == ("the model scored this pair nan: its weights or these photos "
                                  "give no valid answer, so there is no verdict")
    embeddings = s.embed([face(1)])
    with pytest.raises(ApiError) as info:
        s.identify(face(1), ["Ann"], ["a.png"], embeddings, 5, 0.01)
    assert (info.value.status, info.value.field) == (422, None)
    assert info.value.message == ("the model gave a score that is not a number against this "
                                  "gallery; its weights may be damaged")


def test_a_siamface_error_becomes_one_line_and_a_bug_stays_a_bug(service, monkeypatch):
    """A SiamfaceError's message is joined onto one line (its traceback left out); any other
    exception passes through as it is, to be the server's 500."""

    def fails(error):
        def verify(self, a, b):
            raise error
        return verify

    monkeypatch.setattr(AlignedFaceVerifier, "verify",
                        fails(SiamfaceError("first line\n   second\tthird  ")))
    with pytest.raises(ApiError) as info:
        service.verify(face(1), face(2))
    assert (info.value.status, info.value.field) == (422, None)
    assert info.value.message == "first line second third"
    assert info.value.__suppress_context__ is True
    monkeypatch.setattr(AlignedFaceVerifier, "verify", fails(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        service.verify(face(1), face(2))


def test_identify_names_the_person_of_the_best_photo_with_its_label(service):
    """Ann has photos 1 and 3, Bo photo 2: a probe of photo 3 is Ann at logit 5 by her second
    photo, Bo next; top_k trims the list, the margin is best minus second."""
    faces = [face(1), face(2), face(3)]
    people, sources = ["Ann", "Bo", "Ann"], ["ann-1.png", "bo.png", "ann-3.png"]
    result = service.identify(face(3), people, sources, service.embed(faces), 5, 0.01)
    assert result.name == "Ann" and [c.name for c in result.candidates] == ["Ann", "Bo"]
    best, second = result.candidates
    assert best.source == "ann-3.png" and best.logit == pytest.approx(IDENTICAL, abs=1e-4)
    assert second.logit == pytest.approx(service.verify(face(3), face(2)).logit, abs=1e-5)
    assert result.margin == pytest.approx(best.logit - second.logit)
    assert (result.threshold, result.people) == (THRESHOLD, 2)
    top1 = service.identify(face(3), people, sources, service.embed(faces), 1, 0.01)
    assert [c.name for c in top1.candidates] == ["Ann"]


def test_identify_without_calibration_warns_no_one_and_leaves_the_filters_alone(service):
    """An uncalibrated model's GalleryThresholdWarning is not raised (threshold_kind says it),
    and the caller's warning filters are as they were afterwards."""
    embeddings = service.embed([face(1), face(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = list(warnings.filters)
        result = service.identify(face(2), ["Ann", "Bo"], ["a", "b"], embeddings, 5, 0.01)
        assert warnings.filters == before
    assert result.name == "Bo" and result.threshold_kind == "verification"
    assert (result.gallery_size, result.target_fpir) == (None, None)
