"""Open-set identification of a run on a synthetic LFW: galleries, probes and what is written."""

import json

import numpy as np
import pytest

from inference.conftest import write_tiny_run
from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import open_lfw
from siamface.errors import SiamfaceError
from siamface.evaluation import open_set_eval
from siamface.evaluation.gallery_calibration import gallery_calibration
from siamface.evaluation.open_set import FpirResolutionWarning, ImpostorTail, Ranked
from siamface.evaluation.open_set_eval import OPEN_SET_FILE, evaluate_open_set, gallery_results
from siamface.reporting.eval_figures import plot_open_set
from siamface.run_folder import Run

# test_open_set.py's hand-made gallery of people 0, 1, 2, ranked: mated probe 0 scores its own
# person 0.9, first; mated probe 1 its own 0.5, second behind another's 0.8; the impostors'
# best scores are 0.6 and 0.4.
RANKED = Ranked(mated_higher=np.array([0, 1]), mated_tied=np.array([0, 0]),
                mated_score=np.array([0.9, 0.5]), mated_best=np.array([0.9, 0.8]),
                nonmated_best=np.array([0.6, 0.4]))
# 100 validation different-person scores, the highest 0.85: for 3 people at FPIR 1% one
# comparison may pass with chance 1 - 0.99^(1/3) = 0.33%, finer than 1 in 100, so the gallery
# threshold is just above the highest score, 0.85, extrapolated.
CALIBRATION = ImpostorTail.from_scores(np.r_[0.85, np.zeros(99)])
# Wilson 95% intervals of 2 trials (z = 1.96): 1 of 2 is 0.5 -/+ z sqrt(1/8 + z^2/16) /
# (1 + z^2/2) = 0.5 -/+ 0.4055; 0 of 2 is [0, 2 (z^2/4) / (1 + z^2/2)] = [0, 0.6576]; 2 of 2
# the mirror image, [0.3424, 1].
NONE_OF_2 = {"rate": 0.0, "n": 2, "ci95": [0.0, pytest.approx(0.6576198)]}
ONE_OF_2 = {"rate": 0.5, "n": 2, "ci95": [pytest.approx(0.0945312), pytest.approx(0.9054688)]}
TWO_OF_2 = {"rate": 1.0, "n": 2, "ci95": [pytest.approx(0.3423802), 1.0]}


def hand_gallery_results() -> dict:
    # 2 impostors resolve FPIR steps of 1/2: the 1% and 10% targets are met at FPIR 0
    with pytest.warns(FpirResolutionWarning):
        return gallery_results(RANKED, 3, 0.5, CALIBRATION)


def test_a_gallerys_cmc_and_dir_at_fpir_by_hand():
    out = hand_gallery_results()
    assert (out["gallery_size"], out["mated_probes"], out["nonmated_probes"]) == (3, 2, 2)
    # rank 1: probe 0 only; by rank 2 (so 5 and 10) both
    assert out["cmc"] == {"1": ONE_OF_2, "5": TWO_OF_2, "10": TWO_OF_2}
    assert out["cmc_curve"] == [0.5, 1.0, 1.0]  # ranks 1 to 3, the gallery's size
    for target in ("0.01", "0.1"):
        # FPIR 0: just above the top impostor's 0.6, which probe 0's own 0.9 passes
        at = out["dir_at_fpir"][target]
        assert 0.6 < at["threshold"] < 0.6 + 1e-12
        assert at["fpir"] == 0.0 and at["dir"] == ONE_OF_2
    # of the grid only FPIR 0.5 (1 of 2 impostors) is measurable: just above 0.4, DIR 1/2
    assert out["dir_fpir_curve"] == [[0.5, 0.5]]


def test_what_a_gallerys_chosen_thresholds_name_by_hand():
    out = hand_gallery_results()
    gallery = out["gallery_threshold"]
    assert 0.85 < gallery["threshold"] < 0.85 + 1e-12
    assert gallery["target_fpir"] == 0.01 and gallery["extrapolated"] is True
    # above 0.85: no impostor (0.6, 0.4); probe 0's own 0.9 passes, named rightly; probe 1's
    # best, another person's 0.8, does not pass: nobody is named wrongly
    assert gallery["impostors_named"] == NONE_OF_2
    assert gallery["mated_named_correctly"] == ONE_OF_2
    assert gallery["mated_named_wrongly"] == NONE_OF_2
    # at the verification threshold 0.5: the 0.6 impostor is named; probe 0 rightly; probe 1
    # wrongly, as the person whose 0.8 beats its own 0.5
    assert out["verification_threshold"] == {
        "threshold": 0.5, "impostors_named": ONE_OF_2, "mated_named_correctly": ONE_OF_2,
        "mated_named_wrongly": ONE_OF_2}


@pytest.fixture
def evaluated(synthetic_home, tmp_path):
    run = Run(write_tiny_run(tmp_path / "run"))
    lfw = open_lfw(synthetic_home)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    return evaluate_open_set(run, cache, lfw, tmp_path / "out", sizes=(2, 4)), tmp_path / "out"


def test_every_devtest_image_is_enrolled_or_probed_once(evaluated, synthetic_home):
    results, out_dir = evaluated
    assert json.loads((out_dir / OPEN_SET_FILE).read_text()) == json.loads(json.dumps(results))
    # the 6 DevTest people of the synthetic home hold 2+3+4+2+3+4 = 18 images
    assert results["people"] == 6 and results["images"] == 18
    assert results["eligible_people"] == 6 and results["validation_pairs"] > 0
    # the calibration evaluate_open_set made is the one kept with the run
    assert results["validation_pairs"] == gallery_calibration(Run(results["run"])).pairs
    for gallery, size in zip(results["galleries"], (2, 4), strict=True):
        assert gallery["gallery_size"] == size
        assert gallery["mated_probes"] + gallery["nonmated_probes"] == 18 - size
        assert set(gallery["cmc"]) == {"1", "5", "10"}
        assert gallery["cmc"]["10"]["rate"] == 1.0  # at most 4 candidates: always in the top 10
        # the run's one-to-one threshold (the gallery's: test_..._for_each_gallery_size)
        assert gallery["verification_threshold"]["threshold"] == 4.5  # write_tiny_run's
        assert gallery["gallery_threshold"]["target_fpir"] == 0.01
        for key in ("gallery_threshold", "verification_threshold"):
            named = gallery[key]  # each rate over the probes it is a rate of
            assert named["impostors_named"]["n"] == gallery["nonmated_probes"]
            assert named["mated_named_correctly"]["n"] == gallery["mated_probes"]
            assert named["mated_named_wrongly"]["n"] == gallery["mated_probes"]
            assert named["mated_named_correctly"]["rate"] + named["mated_named_wrongly"][
                "rate"] <= 1.0


def test_the_gallery_threshold_is_the_run_calibrations_for_each_gallery_size(
        synthetic_home, tmp_path, monkeypatch):
    run = Run(write_tiny_run(tmp_path / "run"))
    lfw = open_lfw(synthetic_home)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    # a run whose validation impostors scored 0, 1, ..., 999
    monkeypatch.setattr(open_set_eval, "gallery_calibration",
                        lambda r: ImpostorTail.from_scores(np.arange(1000.0)))
    two, four = evaluate_open_set(run, cache, lfw, tmp_path / "out", sizes=(2, 4))["galleries"]
    # FPIR 1% over N people needs one comparison's score to be passed at most 1 - 0.99^(1/N):
    # N = 2: 0.99^(1/2) * 1000 = 994.99, so 995 of the 1000 stay below: just above 994.
    # N = 4: 0.99^(1/4) * 1000 = 997.49, so 998 stay below: just above 997.
    assert 994 < two["gallery_threshold"]["threshold"] < 994 + 1e-9
    assert 997 < four["gallery_threshold"]["threshold"] < 997 + 1e-9
    # 5 and 2 scores lie above them: observed, not extrapolated
    assert not two["gallery_threshold"]["extrapolated"]
    assert not four["gallery_threshold"]["extrapolated"]


def test_galleries_that_cannot_be_measured_are_skipped_with_why(synthetic_home, tmp_path):
    run = Run(write_tiny_run(tmp_path / "run"))
    lfw = open_lfw(synthetic_home)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    big, everyone = evaluate_open_set(run, cache, lfw, tmp_path / "out",
                                      sizes=(7, None))["galleries"]
    assert big == {"gallery_size": 7,
                   "skipped": "DevTest has only 6 people with two or more images to enrol"}
    assert everyone["gallery_size"] == 6 and "nobody is left" in everyone["skipped"]
    with pytest.raises(ValueError, match="at least one person"):
        evaluate_open_set(run, cache, lfw, tmp_path / "out", sizes=(0,))


def test_a_run_without_a_gallery_threshold_is_one_line(synthetic_home, tmp_path, monkeypatch):
    run = Run(write_tiny_run(tmp_path / "run"))
    lfw = open_lfw(synthetic_home)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    # as calibrate_gallery answers for a validation split of fewer than two people
    monkeypatch.setattr(open_set_eval, "calibrate_gallery", lambda *args: None)
    with pytest.raises(SiamfaceError, match="its validation split has fewer than two people"):
        evaluate_open_set(run, cache, lfw, tmp_path / "out", sizes=(2,))


def test_the_figures_are_drawn_for_the_measured_galleries(evaluated):
    results, out_dir = evaluated
    plot_open_set(results, out_dir)
    for name in ("cmc.png", "dir_fpir.png"):
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    skipped = {"galleries": [{"gallery_size": 9, "skipped": "why"}]}
    plot_open_set(skipped, out_dir / "none")
    assert not (out_dir / "none").exists()
