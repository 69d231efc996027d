"""N-way one-shot identification of a trained run on the people of an LFW protocol file.

Koch et al. (2015) judge their Siamese network by N-way one-shot classification: given a probe
and N candidates, one of them of the probe's class, pick the candidate the network finds most
alike. Here the classes are people. The image population is every image of the people of the
evaluated file's people set (peopleDevTest.txt for pairsDevTest.txt), keeping the people with
at least two images, so that any of them can be a probe and any other a distractor. The trials
are drawn and scored by ``oneshot.py``; this module supplies the similarities.

The similarity is the model's own head (``SiameseNet.score``), the same logit that verification
thresholds, so a learned head (weighted L1, cosine with a learned scale) is used as trained.
Each image is embedded once (``embed_images``); only the T x N pairs of the trials are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.lfw import LFWDataset
from siamface.data.protocol import ImageRef
from siamface.evaluation.embed import embed_images
from siamface.evaluation.oneshot import OneShotResult, PairScorer, n_way_one_shot_scored
from siamface.evaluation.protocol10 import training_pool
from siamface.evaluation.report import load_run_for_evaluation
from siamface.models.siamese import SiameseNet
from siamface.utils.atomic import write_json_atomic

# The people file that lists the people of each pairs file (View 1 and View 2).
PEOPLE_OF_PAIRS = {
    "pairsDevTrain.txt": "peopleDevTrain.txt",
    "pairsDevTest.txt": "peopleDevTest.txt",
    "pairs.txt": "people.txt",
}
SCORE_CHUNK = 65_536  # pairs per head call: bounds the (chunk, D) gathers to a few MB


def one_shot_people(lfw: LFWDataset, pairs_name: str) -> tuple[list[str], str]:
    """The people of one-shot trials for a pairs file, and the file they were read from.

    The matching people file is used when imported (it lists everyone of that side of the
    protocol, not only those drawn into pairs), else the pairs file itself. People with a
    single image are left out: they could be distractors but never probes, and the task is
    stated over people who can be both.

    Args:
        lfw: The imported LFW copy.
        pairs_name: A pairs file name, e.g. "pairsDevTest.txt".
    """
    people_name = PEOPLE_OF_PAIRS.get(pairs_name)
    if people_name is not None and people_name in lfw.protocol_names():
        names, source = set(lfw.read_people(people_name).names), people_name
    else:
        names, source = set(lfw.read_pairs(pairs_name).people()), pairs_name
    return sorted(n for n in names if lfw.image_counts[n] >= 2), source


def person_images(
    people: Sequence[str], image_counts: Mapping[str, int]
) -> tuple[list[ImageRef], np.ndarray]:
    """Every image of ``people`` and the integer identity of each (its person's position).

    Args:
        people: The people, in the order that defines their ids.
        image_counts: Images per person.
    """
    refs = [ImageRef(name, k) for name in people for k in range(1, image_counts[name] + 1)]
    ids = {name: i for i, name in enumerate(people)}
    return refs, np.array([ids[r.name] for r in refs], dtype=np.int64)


def head_scorer(model: SiameseNet, embeddings: torch.Tensor) -> PairScorer:
    """A ``PairScorer`` for ``oneshot.py``: the model head's logit between embedded images.

    Args:
        model: The Siamese model whose head compares embeddings.
        embeddings: (M, D) embeddings; the scorer's indices are rows of it.
    """

    def score_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        out = np.empty(len(left), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(left), SCORE_CHUNK):
                i = torch.from_numpy(np.asarray(left[start : start + SCORE_CHUNK]))
                j = torch.from_numpy(np.asarray(right[start : start + SCORE_CHUNK]))
                logits = model.score(embeddings[i], embeddings[j]).logits  # (chunk,)
                out[start : start + len(i)] = logits.double().numpy()
        return out

    return score_pairs


def one_shot_curve(
    score_pairs: PairScorer,
    labels: np.ndarray,
    n_ways: Sequence[int],
    n_trials: int = 1000,
    seed: int = 0,
) -> dict[int, OneShotResult]:
    """One-shot accuracy for each N (same seed for each), with 95% Wilson intervals.

    Args:
        score_pairs: Similarity of (K,) left and (K,) right image indices, higher = alike.
        labels: (M,) integer identity of each image.
        n_ways: The values of N.
        n_trials: Trials per N.
        seed: Seed of the trial sampling.
    """
    return {n: n_way_one_shot_scored(score_pairs, labels, n, n_trials, seed) for n in n_ways}


def evaluate_one_shot(
    run_dir: Path,
    lfw: LFWDataset,
    pairs_name: str,
    n_ways: Sequence[int],
    n_trials: int = 1000,
    seed: int = 0,
    out_dir: Path | None = None,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """N-way one-shot identification of a finished run on the people of ``pairs_name``.

    Writes ``one_shot.json`` and, with ``plots``, ``one_shot.png`` (accuracy against N with
    the 1/N chance line) into ``out_dir`` (default ``run_dir/eval/<pairs file stem>``).

    Args:
        run_dir: A finished run folder.
        lfw: The imported LFW copy.
        pairs_name: The pairs file whose people to use, e.g. "pairsDevTest.txt".
        n_ways: The values of N, each at least 2.
        n_trials: Trials per N.
        seed: Seed of the trial sampling.
        out_dir: Where to write.
        plots: Draw the accuracy-vs-N curve.
        progress: Show a progress bar if the image cache must be built.

    Returns:
        The results (also in one_shot.json).
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "eval" / Path(pairs_name).stem
    people, source = one_shot_people(lfw, pairs_name)
    refs, labels = person_images(people, lfw.image_counts)

    model, meta, cache = load_run_for_evaluation(run_dir, lfw, progress)
    batch_size = int(meta["config"]["train"]["eval_batch_size"])
    embeddings = embed_images(model, cache.images, cache.indices(refs), batch_size)  # (M, D)
    curve = one_shot_curve(head_scorer(model, embeddings), labels, n_ways, n_trials, seed)

    results = {
        "run": str(run_dir),
        "pairs_file": pairs_name,
        "people_file": source,
        "people": len(people),
        "images": len(refs),
        "trials": n_trials,
        "seed": seed,
        "similarity": "the logit of the model's head (SiameseNet.score)",
        "seen_people": len(set(people) & training_pool(lfw)),
        "results": [
            {"n_way": n, "accuracy": r.accuracy, "ci95": list(r.ci), "chance": 1 / n}
            for n, r in curve.items()
        ],
    }
    write_json_atomic(out_dir / "one_shot.json", results)
    if plots:
        from siamface.reporting.eval_plots import plot_one_shot_curve

        ns = list(curve)
        plot_one_shot_curve(
            ns, [curve[n].accuracy for n in ns], [curve[n].ci[0] for n in ns],
            [curve[n].ci[1] for n in ns], out_dir / "one_shot.png",
            title=f"N-way one-shot identification, {source} people",
        )
    return results
