"""Verifier: symmetric verdicts, identical images match, embeddings as evaluation makes them."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from siamface.data.preprocess import Preprocessing, preset
from siamface.evaluation.embed import embed_images
from siamface.inference.face_detection import Detector, FaceBox, NoFaceError
from siamface.inference.verifier import (
    NonFiniteScoreError,
    Verification,
    Verifier,
    model_fingerprint,
)
from siamface.utils import machine

from .conftest import IDENTICAL_LOGIT, random_photo, tiny_model, write_tiny_run


def test_same_image_is_the_same_person(tiny_verifier):
    photo = random_photo(0)
    result = tiny_verifier.verify(photo, photo)
    assert result.logit == pytest.approx(IDENTICAL_LOGIT, abs=1e-5)
    assert result.distance == pytest.approx(0.0, abs=1e-6)
    assert result.same and result.probability == pytest.approx(1 / (1 + math.exp(-IDENTICAL_LOGIT)))
    assert result.box_a is None and result.box_b is None  # no detection


def test_verification_is_symmetric_and_thresholded(tiny_verifier):
    a, b = random_photo(1), random_photo(2)
    ab, ba = tiny_verifier.verify(a, b), tiny_verifier.verify(b, a)
    assert ab.logit == pytest.approx(ba.logit, abs=1e-6)
    assert ab.distance == pytest.approx(ba.distance, abs=1e-6)
    assert ab.logit < IDENTICAL_LOGIT - 1e-3
    assert ab.same == (ab.logit >= tiny_verifier.threshold)
    # in the precision ab was scored in: bf16 ("auto" on a CPU with it) is off by ~1e-2
    low, high = (Verifier(tiny_verifier.model, tiny_verifier.preprocessing, ab.logit + margin,
                          detect=False, precision=tiny_verifier.precision)
                 for margin in (-1e-3, 1e-3))
    assert low.verify(a, b).same and not high.verify(a, b).same


def test_embeddings_are_evaluations_flip_averaged_ones(tiny_verifier):
    photos = [random_photo(k) for k in range(3)]
    faces = [tiny_verifier.align(p) for p in photos]
    images = np.stack([f.pixels for f in faces])  # (3, 3, 32, 32)
    expected = embed_images(tiny_verifier.model, images, np.arange(3), flip_tta=True,
                            precision="fp32")  # as tiny_verifier
    assert torch.allclose(tiny_verifier.embed(faces), expected, atol=1e-6)
    x = torch.from_numpy(images).float() / 255  # the model's input, and it mirrored left-right
    with torch.no_grad():
        by_hand = (tiny_verifier.model.embed(x) + tiny_verifier.model.embed(x.flip(-1))) / 2
    assert torch.allclose(expected, by_hand, atol=1e-5)
    plain = Verifier(tiny_verifier.model, tiny_verifier.preprocessing, 0.0, detect=False,
                     flip_tta=False, precision="fp32").embed(faces)
    assert not torch.allclose(plain, expected, atol=1e-4)  # the mirror image matters
    assert tiny_verifier.embed([]).shape == (0, 8)


def test_verdict_line():
    v = Verification(same=True, probability=0.8, logit=math.log(4), threshold=0.0,
                     distance=0.1, box_a=None, box_b=None)
    assert str(v) == "same person: p = 0.800 >= 0.500 (logit 1.386 >= 0.000)"
    v = Verification(same=False, probability=0.2, logit=-math.log(4), threshold=0.0,
                     distance=0.9, box_a=None, box_b=None)
    assert str(v) == "different people: p = 0.200 < 0.500 (logit -1.386 < 0.000)"


def test_a_verdict_line_shows_the_digits_that_tell_the_score_from_the_threshold():
    # p = 0.99312 < 0.99334 would read 0.993 < 0.993; the logits 4.97 and 5.00 differ enough
    threshold = 5.0
    logit = float(np.log(0.99312 / (1 - 0.99312)))
    v = Verification(same=False, probability=0.99312, logit=logit, threshold=threshold,
                     distance=0.5, box_a=None, box_b=None)
    assert str(v) == f"different people: p = 0.9931 < 0.9933 (logit {logit:.3f} < 5.000)"
    v = Verification(same=True, probability=0.5, logit=1.00004, threshold=1.00001,
                     distance=0.5, box_a=None, box_b=None)
    assert str(v).endswith("(logit 1.00004 >= 1.00001)")


def test_from_run_reads_model_preprocessing_and_threshold(tmp_path):
    run_dir = write_tiny_run(tmp_path / "run", threshold=1.25)
    verifier = Verifier.from_run(run_dir, detect=False)
    assert verifier.threshold == 1.25 and not verifier.detect
    assert verifier.preprocessing == Preprocessing((50, 50, 200, 200), 32, 3)
    assert not verifier.model.training
    photo = random_photo(7)
    assert verifier.verify(photo, photo).logit == pytest.approx(IDENTICAL_LOGIT, abs=1e-5)


def test_from_run_knows_whether_the_model_saw_grey_photos(tmp_path):
    grey_default = write_tiny_run(tmp_path / "default")  # the default: augment.grey_p 0.2
    colour_only = write_tiny_run(tmp_path / "colour", overrides=["augment.grey_p=0"])
    no_augment = write_tiny_run(tmp_path / "plain", overrides=["augment.enabled=false"])
    assert Verifier.from_run(grey_default, detect=False).saw_grey
    assert not Verifier.from_run(colour_only, detect=False).saw_grey
    assert not Verifier.from_run(no_augment, detect=False).saw_grey


def test_from_run_of_an_unfinished_run_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not a run folder \(no config\.yaml\)"):
        Verifier.from_run(tmp_path)
    (tmp_path / "config.yaml").write_text("")  # one that began training
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        Verifier.from_run(tmp_path)


def test_model_fingerprint_follows_the_weights():
    a, b = tiny_model(seed=0), tiny_model(seed=0)
    assert model_fingerprint(a) == model_fingerprint(b)
    with torch.no_grad():
        b.head.bias += 1e-3
    assert model_fingerprint(a) != model_fingerprint(b)
    assert model_fingerprint(a) != model_fingerprint(tiny_model(seed=1))


def test_a_threshold_that_is_not_finite_is_refused(tiny_verifier):
    for bad in (float("nan"), float("inf")):
        with pytest.raises(NonFiniteScoreError, match="threshold must be a finite number"):
            Verifier(tiny_verifier.model, tiny_verifier.preprocessing, bad, detect=False)


def test_no_verdict_is_given_from_a_nan_score(tiny_verifier):
    with torch.no_grad():
        next(tiny_verifier.model.parameters()).fill_(float("nan"))
    photo = random_photo(0)
    with pytest.raises(NonFiniteScoreError, match="no verdict"):
        tiny_verifier.verify(photo, random_photo(1))


def test_the_precision_follows_the_run_and_auto_follows_the_cpu(tmp_path, monkeypatch):
    run_dir = write_tiny_run(tmp_path / "run")  # train.precision: auto (the default)
    amd = dict.fromkeys(["amx_bf16", "avx512_bf16", "avx512f"], False) | {"avx2": True}
    monkeypatch.setattr(machine, "cpu_features", lambda: amd)
    assert Verifier.from_run(run_dir, detect=False).precision == "fp32"
    monkeypatch.setattr(machine, "cpu_features", lambda: {**amd, "amx_bf16": True})
    assert Verifier.from_run(run_dir, detect=False).precision == "bf16"
    zen4 = {**amd, "avx512f": True, "avx512_bf16": True}
    monkeypatch.setattr(machine, "cpu_features", lambda: zen4)
    assert Verifier.from_run(run_dir, detect=False).precision == "bf16"
    assert Verifier.from_run(run_dir, detect=False, precision="fp32").precision == "fp32"


def test_a_bf16_verdict_is_close_to_the_fp32_one(tiny_verifier):
    a, b = random_photo(1), random_photo(2)
    bf16 = Verifier(tiny_verifier.model, tiny_verifier.preprocessing, tiny_verifier.threshold,
                    detect=False, precision="bf16")
    fp32, low = tiny_verifier.verify(a, b), bf16.verify(a, b)
    assert low.logit != fp32.logit  # it did run in bf16 (emulated on a CPU without it) ...
    assert low.logit == pytest.approx(fp32.logit, abs=0.1)  # ... to bf16's 3 digits


class RecordingDetector(Detector):
    """One centred face per picture (no face in an all-black one); notes the searching thread."""

    def __init__(self, thread_safe: bool) -> None:
        self.thread_safe = thread_safe
        self.threads: list[int] = []

    def detect_all(self, grey):
        self.threads.append(threading.get_ident())
        time.sleep(0.05)  # long enough for the other photo's thread to start meanwhile
        height, width = grey.shape
        return [FaceBox(width / 4, height / 4, 3 * width / 4, 3 * height / 4)] if grey.any() else []

    def no_face(self, source):
        return NoFaceError(f"no face found in {source}")


@pytest.mark.parametrize("thread_safe", [True, False])
def test_verify_aligns_its_two_photos_on_two_threads_where_the_detector_allows(thread_safe):
    detector = RecordingDetector(thread_safe)
    verifier = Verifier(tiny_model(), preset("face", 32, 3), threshold=4.5,
                        detector=detector, precision="fp32")
    photo = random_photo(1, size=(300, 300))
    result = verifier.verify(photo, photo.copy())
    assert result.same and result.logit == pytest.approx(IDENTICAL_LOGIT, abs=1e-4)
    assert len(detector.threads) == 2
    assert (detector.threads[0] != detector.threads[1]) == thread_safe


def test_with_no_face_in_either_photo_the_first_photos_error_is_raised(tmp_path):
    verifier = Verifier(tiny_model(), preset("face", 32, 3), threshold=4.5,
                        detector=RecordingDetector(thread_safe=True), precision="fp32")
    a, b, face = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "face.png"
    for path in (a, b):
        Image.new("RGB", (300, 300)).save(path)
    Image.fromarray(random_photo(1, size=(300, 300))).save(face)
    with pytest.raises(NoFaceError, match=r"a\.png"):
        verifier.verify(a, b)
    with pytest.raises(NoFaceError, match=r"b\.png"):
        verifier.verify(face, b)
