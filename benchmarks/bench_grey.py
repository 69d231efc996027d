"""Grey photos on validation: how a run scores its own validation pairs shown grey.

A grey photo reaches an RGB model as its luminance in all three channels. This scores each
run's validation pairs (its person-disjoint split of the training scope: DevTrain people, never
DevTest) twice, as they are and with both images turned grey (ITU-R 601 luma, as Pillow's
``convert("L")``), at the run's precision, and records the AUC and the accuracy at the run's
validation threshold for each. It is the validation evidence for ``augment.grey_p``.

    .venv/bin/python benchmarks/bench_grey.py --home HOME --runs RUN [RUN ...] \
        --out benchmarks/results/grey_validation.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import LFWDataset, open_lfw
from siamface.data.people import training_scope
from siamface.data.splits import training_split
from siamface.evaluation.embed import embed_images
from siamface.evaluation.metrics import accuracy, roc_auc
from siamface.run_folder import Run
from siamface.training.augment import LUMA
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info


def to_grey(images: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 RGB -> (N, 3, H, W) uint8 with the luma in every channel."""
    weights = np.array(LUMA, dtype=np.float32)
    luma = np.tensordot(weights, images.astype(np.float32), axes=([0], [1]))  # (N, H, W)
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, None], 3, axis=1)


def score_validation(run: Run, lfw: LFWDataset) -> dict[str, Any]:
    """The run's validation AUC and accuracy at its threshold, in colour and grey."""
    data = run.config.data
    scope = training_scope(lfw, data.view2_fold)
    _, val = training_split(scope, lfw.image_counts, data, run.config.seed)
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    rows = cache.indices([r for p in val for r in (p.left, p.right)]).reshape(-1, 2)  # (V, 2)
    labels = np.array([p.same for p in val], dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    colour = np.asarray(cache.images[unique])  # (U, 3, H, W)
    out: dict[str, Any] = {"run": str(run.path), "seed": run.config.seed,
                           "grey_p": run.config.augment.grey_p, "val_pairs": len(val)}
    for name, images in (("colour", colour), ("grey", to_grey(colour))):
        emb = embed_images(run.model, images, np.arange(len(unique)),
                           run.config.train.eval_batch_size,
                           precision=run.config.train.precision)  # (U, D)
        pairs = inverse.reshape(-1, 2)
        with torch.no_grad():
            logits = run.model.score(emb[pairs[:, 0]], emb[pairs[:, 1]]).logits
        scores = logits.float().numpy().astype(np.float64)
        out[name] = {"auc": roc_auc(scores, labels),
                     "accuracy": accuracy(scores, labels, run.threshold)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the data home")
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lfw = open_lfw(args.home)
    results = []
    for path in args.runs:
        results.append(score_validation(Run(path), lfw))
        r = results[-1]
        print(f"{path}: grey_p {r['grey_p']}, colour AUC {r['colour']['auc']:.4f}, grey AUC "
              f"{r['grey']['auc']:.4f}", flush=True)
    write_json_atomic(args.out, {"benchmark": "grey_validation", "runs": results,
                                 "machine": machine_info()})


if __name__ == "__main__":
    main()
