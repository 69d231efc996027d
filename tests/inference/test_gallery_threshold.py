"""Gallery thresholds: set for the gallery's size from the model's calibration, followed as it
grows, saved with it; "unknown" with candidates; the fast ranking equals a brute-force one."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from siamface.evaluation.open_set import ImpostorTail
from siamface.inference.gallery import (
    Gallery,
    GalleryThresholdWarning,
    _RankingIndex,
)
from siamface.inference.verifier import Verifier

from .conftest import IDENTICAL_LOGIT, save

# Different-person scores spread evenly over [-5, 4.9]: thresholds for small galleries sit
# below IDENTICAL_LOGIT (5), so a planted identical photo is named.
SPREAD = np.linspace(-5.0, 4.9, 20_001)


def calibrated(verifier: Verifier, scores: np.ndarray = SPREAD) -> Verifier:
    return Verifier(verifier.model, verifier.preprocessing, verifier.threshold, detect=False,
                    calibration=ImpostorTail.from_scores(scores))


def test_the_threshold_is_set_for_the_gallerys_size(tiny_verifier, people):
    verifier = calibrated(tiny_verifier)
    gallery = Gallery(verifier).fit(people)  # Ann, Bo (two photos), Cy, Di
    assert gallery.people_ == 4
    assert gallery.threshold_ == verifier.calibration.threshold(4, 0.01)
    result = gallery.identify(people / "Bo" / "2.png", top_k=2)
    assert result.threshold == gallery.threshold_.threshold < IDENTICAL_LOGIT
    assert (result.name, result.threshold_kind) == ("Bo", "gallery")
    assert (result.gallery_size, result.target_fpir, result.people) == (4, 0.01, 4)
    first, second = result.candidates
    assert result.margin == pytest.approx(first.logit - second.logit)
    assert "set for 4 people at a 1.0% chance" in str(result)
    assert "margin over the second-best" in str(result)
    assert not result.extrapolated and "can tell" not in str(result)


def test_a_target_finer_than_the_calibration_resolves_says_so(tiny_verifier, people):
    # 1e-6 for 4 people needs the top 2.5e-7 of 20,001 impostor pairs: not one of them
    result = Gallery(calibrated(tiny_verifier), target_fpir=1e-6).fit(people).identify(
        people / "Bo" / "2.png")
    assert result.extrapolated and result.threshold == pytest.approx(4.9)
    assert "can tell: the threshold is the highest impostor score it saw" in str(result)
    assert "at a 1e-06 chance of naming someone not enrolled" in str(result)


def test_a_stricter_target_or_a_larger_gallery_raises_the_threshold(tiny_verifier, people,
                                                                     tmp_path):
    verifier = calibrated(tiny_verifier)
    loose = Gallery(verifier, target_fpir=0.1).fit(people).threshold_.threshold
    gallery = Gallery(verifier).fit(people)
    before = gallery.threshold_.threshold
    assert loose < before
    new = [save(tmp_path / f"new{i}.png", 40 + i) for i in range(3)]
    gallery.enroll("Ed", new[:2], ["Ed 1", "Ed 2"])
    gallery.enroll("Flo", new[2:], ["Flo 1"])
    assert gallery.people_ == 6 and gallery.threshold_.gallery_size == 6
    assert gallery.threshold_.threshold > before
    assert gallery.identify(new[0]).name == "Ed"  # the new photos are searched too


def test_two_people_who_score_exactly_alike_at_the_top_are_a_tie_not_a_name(tiny_verifier,
                                                                           tmp_path):
    for name in ("Ann", "Ann's twin"):  # the same photo enrolled as two people
        save(tmp_path / "people" / f"{name}.png", 10)
    save(tmp_path / "people" / "Cy.png", 13)
    result = Gallery(tiny_verifier).fit(tmp_path / "people").identify(
        tmp_path / "people" / "Ann.png")
    assert result.candidates[0].logit == result.candidates[1].logit >= result.threshold
    assert result.name is None and result.tied_with == "Ann's twin" and result.margin == 0
    assert str(result).startswith("identified: unknown (Ann and Ann's twin tie at the top)")
    one = Gallery(tiny_verifier).fit(tmp_path / "people").identify(
        tmp_path / "people" / "Ann.png", top_k=1)  # the twin is not listed, but still ties
    assert len(one.candidates) == 1 and one.name is None
    assert str(one).startswith("identified: unknown (Ann and Ann's twin tie at the top)")


def test_no_one_past_the_threshold_is_unknown_with_candidates(tiny_verifier, people):
    # Impostor scores up to 6 > IDENTICAL_LOGIT: not even an identical photo passes.
    gallery = Gallery(calibrated(tiny_verifier, np.linspace(-5, 6, 1000))).fit(people)
    result = gallery.identify(people / "Cy.jpg", top_k=3)
    assert result.name is None and result.threshold_kind == "gallery"
    assert result.candidates[0].name == "Cy" and len(result.candidates) == 3
    assert str(result).startswith("identified: unknown (no one passes the threshold; "
                                  "closest: Cy)")


def test_one_person_has_no_margin(tiny_verifier, tmp_path):
    save(tmp_path / "solo" / "Ann.png", 3)
    result = Gallery(calibrated(tiny_verifier)).fit(tmp_path / "solo").identify(
        tmp_path / "solo" / "Ann.png")
    assert result.margin is None and len(result.candidates) == 1
    assert "margin" not in str(result)


def test_without_calibration_the_verification_threshold_is_used_with_a_warning(
        tiny_verifier, people):
    gallery = Gallery(tiny_verifier).fit(people)
    assert gallery.threshold_ is None
    with pytest.warns(GalleryThresholdWarning, match="no gallery calibration"):
        result = gallery.identify(people / "Ann.png")
    assert (result.threshold, result.threshold_kind) == (tiny_verifier.threshold,
                                                         "verification")
    assert result.gallery_size is None and result.target_fpir is None
    assert "one-to-one verification threshold" in str(result)


def test_a_saved_threshold_is_kept_and_warned_about_when_outgrown(tiny_verifier, people,
                                                                  tmp_path):
    fitted = Gallery(calibrated(tiny_verifier)).fit(people)
    out = fitted.save(tmp_path / "saved")
    saved = json.loads((out / "gallery.json").read_text())
    assert saved["version"] == 3 and saved["threshold"] == {
        "logit": fitted.threshold_.threshold, "gallery_size": 4, "target_fpir": 0.01,
        "extrapolated": False}
    assert Gallery.load(out, calibrated(tiny_verifier)).threshold_ == fitted.threshold_
    # A verifier of the same model without calibration: the saved threshold decides ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = Gallery.load(out, tiny_verifier)
        assert loaded.identify(people / "Di.png").threshold == fitted.threshold_.threshold
    # ... until the gallery grows past the size it was set for.
    with pytest.warns(GalleryThresholdWarning, match="has 5 people but its threshold was set "
                                                     "for 4"):
        loaded.enroll("Ed", [save(tmp_path / "ed.png", 50)], ["ed"])
    # ... and another FPIR asked for cannot be met: said, not silently dropped
    with pytest.warns(GalleryThresholdWarning, match=r"an FPIR of 0\.05 was asked for, but this "
                                                     r"model has no gallery calibration .* for "
                                                     r"0\.01$"):
        other = Gallery.load(out, tiny_verifier, 0.05)
    assert other.threshold_ == fitted.threshold_


def test_a_version_1_gallery_without_a_threshold_loads(tiny_verifier, people, tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "old")
    index = json.loads((out / "gallery.json").read_text())
    del index["threshold"]
    (out / index.pop("embeddings")).rename(out / "embeddings.safetensors")  # version 1's name
    (out / "gallery.json").write_text(json.dumps({**index, "version": 1}))
    verifier = calibrated(tiny_verifier)
    assert Gallery.load(out, verifier).threshold_ == verifier.calibration.threshold(4, 0.01)


@pytest.mark.parametrize("bad", [{"logit": "high"}, {"gallery_size": 0},
                                 {"target_fpir": 1.5}, {"extrapolated": 1},
                                 {"logit": float("nan")}])
def test_a_broken_saved_threshold_is_named(tiny_verifier, people, tmp_path, bad):
    out = Gallery(calibrated(tiny_verifier)).fit(people).save(tmp_path / "saved")
    index = json.loads((out / "gallery.json").read_text())
    index["threshold"].update(bad)
    (out / "gallery.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"gallery.json: 'threshold' must be null or an object"):
        Gallery.load(out, tiny_verifier)


def brute_force(logits: np.ndarray, names: list[str], k: int) -> list[int]:
    best: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in best or logits[i] > logits[best[name]]:
            best[name] = i
    return sorted(best.values(), key=lambda i: -logits[i])[:k]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=60), st.integers(1, 12),
       st.integers(0, 2**32 - 1))
def test_the_ranking_index_ranks_people_as_brute_force_does(people_of, k, seed):
    names = [f"p{i}" for i in people_of]
    logits = np.random.default_rng(seed).permutation(len(names)).astype(float)  # no ties
    index = _RankingIndex(torch.zeros(len(names), 1), names)
    assert index.best_photos(logits, k) == brute_force(logits, names, k)


def test_a_query_against_100000_people(tiny_verifier):
    g = torch.Generator().manual_seed(0)
    embeddings = torch.randn(100_000, tiny_verifier.model.out_dim, generator=g)
    names = [f"person {i:06d}" for i in range(100_000)]
    verifier = calibrated(tiny_verifier)
    gallery = Gallery.from_embeddings(verifier, names, names, embeddings)
    result = gallery.identify_embedding(embeddings[31_337], top_k=3)
    assert result.candidates[0].name == "person 031337" and result.people == 100_000
    assert result.candidates[0].logit == pytest.approx(IDENTICAL_LOGIT, abs=1e-5)
    assert result.gallery_size == 100_000
    assert result.threshold == verifier.calibration.threshold(100_000, 0.01).threshold
