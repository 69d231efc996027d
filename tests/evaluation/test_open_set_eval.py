"""Open-set identification of a run on a synthetic LFW: galleries, probes and what is written."""

import json

import pytest

from inference.conftest import write_tiny_run
from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import open_lfw
from siamface.errors import SiamfaceError
from siamface.evaluation import open_set_eval
from siamface.evaluation.gallery_calibration import gallery_calibration
from siamface.evaluation.open_set_eval import OPEN_SET_FILE, evaluate_open_set
from siamface.reporting.eval_figures import plot_open_set
from siamface.run_folder import Run


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
    tail = gallery_calibration(Run(results["run"]))
    for gallery, size in zip(results["galleries"], (2, 4), strict=True):
        assert gallery["gallery_size"] == size
        assert gallery["mated_probes"] + gallery["nonmated_probes"] == 18 - size
        assert set(gallery["cmc"]) == {"1", "5", "10"}
        assert gallery["cmc"]["10"]["rate"] == 1.0  # at most 4 candidates: always in the top 10
        # the run's one-to-one threshold, and the calibration's for this size at FPIR 1%
        assert gallery["verification_threshold"]["threshold"] == 4.5  # write_tiny_run's
        assert gallery["gallery_threshold"]["threshold"] == tail.threshold(size, 0.01).threshold
        assert gallery["gallery_threshold"]["target_fpir"] == 0.01
        for key in ("gallery_threshold", "verification_threshold"):
            named = gallery[key]  # each rate over the probes it is a rate of
            assert named["impostors_named"]["n"] == gallery["nonmated_probes"]
            assert named["mated_named_correctly"]["n"] == gallery["mated_probes"]
            assert named["mated_named_wrongly"]["n"] == gallery["mated_probes"]
            assert named["mated_named_correctly"]["rate"] + named["mated_named_wrongly"][
                "rate"] <= 1.0


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
