"""Open-set identification of a trained run on LFW: galleries of DevTest people at several sizes.

For each gallery size N, N DevTest people with two or more images are enrolled (seeded) with
their first image; their other images are the mated probes, and every image of the DevTest
people not enrolled (those with one image included) is a non-mated probe. The scores are the
model's own head, as in verification. Reported per size: the closed-set CMC (rank 1/5/10),
DIR at FPIR 1% and 10% (the threshold set on these test impostors: the standard measure, not a
choice the model makes), and what a threshold chosen *before* the test does: the one for the
gallery's size and a 1% FPIR target from the validation people's different-person scores
(``ImpostorTail.threshold`` on the run's ``gallery_calibration``), next to the run's one-to-one
verification threshold. Nothing here is chosen on DevTest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.cache import ImageCache
from siamface.data.lfw import LFWDataset
from siamface.data.people import dev_test_people, person_images
from siamface.errors import SiamfaceError
from siamface.evaluation.embed import embed_run_images
from siamface.evaluation.gallery_calibration import calibrate_gallery, gallery_calibration
from siamface.evaluation.oneshot import wilson_interval
from siamface.evaluation.open_set import (
    TARGET_FPIR,
    ImpostorTail,
    Ranked,
    cmc,
    dir_at,
    fpir,
    named_wrongly,
    rank_probes,
    threshold_at_fpir,
)
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic

OPEN_SET_FILE = "open_set.json"
RANKS = (1, 5, 10)
FPIRS = (0.01, 0.1)
CURVE_RANKS = 20  # the CMC curve's ranks 1..20, for the plot
FPIR_GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # the DIR-FPIR curve


def fpir_key(fpir: float) -> str:
    """open_set.json's key of the DIR at ``fpir``: "0.01" for 1%."""
    return f"{fpir:g}"


class OpenSetError(SiamfaceError, ValueError):
    """A run whose open-set identification cannot be measured; the message says why."""


def _rate(successes: float, n: int) -> dict[str, Any]:
    return {"rate": successes / n if n else None, "n": n,
            "ci95": list(wilson_interval(successes, n)) if n else None}


def gallery_results(ranked: Ranked, gallery_size: int, verification_threshold: float,
                    calibration: ImpostorTail) -> dict[str, Any]:
    """Every figure of one gallery: CMC, DIR at FPIR, and the chosen thresholds' behaviour."""
    mated, impostors = ranked.mated_rank.size, ranked.nonmated_best.size
    out: dict[str, Any] = {
        "gallery_size": gallery_size, "mated_probes": mated, "nonmated_probes": impostors,
        "cmc": {str(k): _rate(rate * mated, mated) for k, rate in cmc(ranked, RANKS).items()},
        "dir_at_fpir": {},
        "cmc_curve": list(cmc(ranked, range(1, min(CURVE_RANKS, gallery_size) + 1)).values()),
        # FPIRs finer than one impostor in I cannot be measured: left out
        "dir_fpir_curve": [[f, dir_at(ranked, threshold_at_fpir(ranked.nonmated_best, f))]
                           for f in FPIR_GRID if f * impostors >= 1],
    }
    for target in FPIRS:
        t = threshold_at_fpir(ranked.nonmated_best, target)
        out["dir_at_fpir"][fpir_key(target)] = {
            "dir": _rate(dir_at(ranked, t) * mated, mated), "threshold": t,
            "fpir": fpir(ranked, t)}
    chosen = calibration.threshold(gallery_size, TARGET_FPIR)
    for name, t in (("gallery_threshold", chosen.threshold),
                    ("verification_threshold", verification_threshold)):
        out[name] = {
            "threshold": t,
            "impostors_named": _rate(fpir(ranked, t) * impostors, impostors),
            "mated_named_correctly": _rate(dir_at(ranked, t) * mated, mated),
            "mated_named_wrongly": _rate(named_wrongly(ranked, t) * mated, mated),
        }
    out["gallery_threshold"].update(target_fpir=TARGET_FPIR, extrapolated=chosen.extrapolated)
    return out


def evaluate_open_set(run: Run, cache: ImageCache, lfw: LFWDataset, out_dir: Path,
                      sizes: Sequence[int | None] = (10, 100, None),
                      seed: int = 0) -> dict[str, Any]:
    """Open-set identification on DevTest at each gallery size (None: every eligible person).

    Writes ``open_set.json`` into ``out_dir``.

    Args:
        run: A finished run.
        cache: LFW cached under the run's preprocessing.
        lfw: The imported LFW copy.
        out_dir: Where to write.
        sizes: Gallery sizes; one larger than the DevTest people with two or more images, or
            one that leaves nobody out to be an impostor, is recorded as skipped, with why.
        seed: Seeds who is enrolled.
    """
    people = sorted(dev_test_people(lfw))
    refs, ids = person_images(people, lfw.image_counts)
    emb = embed_run_images(run, cache, refs)  # (M, D)
    first = np.array([r.number == 1 for r in refs])
    eligible = np.array([i for i, p in enumerate(people) if lfw.image_counts[p] >= 2])
    calibration = gallery_calibration(run) or calibrate_gallery(run, cache, lfw)
    if calibration is None:
        raise OpenSetError(f"{run.path}: its validation split has fewer than two people, so "
                           "no gallery threshold can be set for open-set identification")
    rng = np.random.default_rng(seed)
    results = []
    for size in sizes:
        n = eligible.size if size is None else size
        if n < 1:
            raise ValueError(f"gallery size {n}: a gallery enrols at least one person")
        if n > eligible.size:
            results.append({"gallery_size": n, "skipped": f"DevTest has only {eligible.size} "
                            "people with two or more images to enrol"})
            continue
        enrolled = np.sort(rng.choice(eligible, n, replace=False))
        in_gallery = np.isin(ids, enrolled)
        if in_gallery.all():
            results.append({"gallery_size": n, "skipped": "every DevTest person is enrolled: "
                            "nobody is left to be an impostor"})
            continue
        gallery_rows = np.flatnonzero(in_gallery & first)  # one image per enrolled person
        probe_rows = np.flatnonzero(~(in_gallery & first))
        with torch.inference_mode():
            scores = run.model.logit_matrix(
                emb[probe_rows], run.model.prepare_gallery(emb[gallery_rows])).double().numpy()
        ranked = rank_probes(scores, ids[probe_rows], ids[gallery_rows])
        results.append(gallery_results(ranked, n, run.threshold, calibration))
    out = {
        "run": str(run.path), "people": len(people), "images": len(refs), "seed": seed,
        "eligible_people": int(eligible.size), "validation_pairs": calibration.pairs,
        "similarity": "the logit of the model's head (SiameseNet.score)",
        "galleries": results,
    }
    write_json_atomic(out_dir / OPEN_SET_FILE, out)
    return out
