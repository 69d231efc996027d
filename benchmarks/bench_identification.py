"""Open-set identification of a trained run on LFW's DevTest people, and a query at scale.

    python benchmarks/bench_identification.py --run runs/default-... [--home HOME]

Writes benchmarks/results/identification.json:
- for galleries of 10, 100 and all DevTest people with two or more images (their first image
  enrolled; their other images mated probes; every image of the people left out, those with a
  single image included, a non-mated probe): rank-1/5/10, DIR at FPIR 1% and 10%, and, at the
  threshold chosen for the gallery's size from the validation people's different-person scores
  (1% FPIR target), the share of impostors named (target: within 1% plus its sampling error)
  and of enrolled probes named as somebody else (target: at most that often), next to the
  same shares at the run's one-to-one verification threshold;
- the time of one query against a gallery of 100,000 people through ``Gallery``: the run's
  own embeddings of every LFW image (13,233), and as many more drawn from a Gaussian with
  their mean and covariance (a query's time depends on the gallery's size, not its values),
  with the threshold set for that size; probes are real embeddings, embedding them excluded.
  Target < 20 ms median, at 1 and at 2 threads; memory of the prepared gallery recorded.
The run's model and its validation split are used as trained; DevTest is scored once.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamface.data.cache import load_or_build_cache
from siamface.data.lfw import open_lfw
from siamface.evaluation.embed import embed_images
from siamface.evaluation.gallery_calibration import gallery_calibration
from siamface.evaluation.open_set_eval import evaluate_open_set
from siamface.inference.gallery import Gallery
from siamface.inference.verifier import Verifier
from siamface.run_folder import Run
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

HERE = Path(__file__).resolve().parent
GALLERY_AT_SCALE = 100_000
TARGET_QUERY_MS = 20.0
TARGET_FPIR = 0.01


def query_at_scale(run: Run, cache, queries: int = 50, seed: int = 0) -> dict[str, Any]:
    """Median and p95 milliseconds of ``Gallery.identify_embedding`` against GALLERY_AT_SCALE
    people, at 1 and 2 threads."""
    real = embed_images(run.model, cache.images, np.arange(len(cache.images)),
                        run.config.train.eval_batch_size)  # (R, D)
    g = torch.Generator().manual_seed(seed)
    mean, centred = real.mean(0), real - real.mean(0)
    cov = centred.T @ centred / (len(real) - 1) + 1e-6 * torch.eye(real.shape[1])
    draws = torch.randn(GALLERY_AT_SCALE - len(real), real.shape[1], generator=g)
    synthetic = mean + draws @ torch.linalg.cholesky(cov).T
    embeddings = torch.cat([real, synthetic])  # (N, D)
    names = [f"entry {i:06d}" for i in range(GALLERY_AT_SCALE)]
    verifier = Verifier(run.model, run.preprocessing, run.threshold, detect=False,
                        calibration=gallery_calibration(run))
    start = time.perf_counter()
    gallery = Gallery.from_embeddings(verifier, names, names, embeddings)  # prepared once
    prepare_ms = (time.perf_counter() - start) * 1000
    rows = torch.randperm(len(real), generator=g)[:queries]
    out: dict[str, Any] = {
        "gallery_size": GALLERY_AT_SCALE, "real_entries": len(real), "queries": queries,
        "head": type(run.model.head).__name__, "prepare_ms": prepare_ms,
        # float32 embeddings, and the cosine head's normalised copy of them
        "memory_mb": 2 * embeddings.numel() * embeddings.element_size() / 2**20,
        "threshold": gallery.threshold_.threshold, "target_ms": TARGET_QUERY_MS,
    }
    threads = torch.get_num_threads()
    for n in (1, 2):
        torch.set_num_threads(n)
        times, own_first = [], 0
        for row in rows.tolist():
            begin = time.perf_counter()
            result = gallery.identify_embedding(real[row], top_k=5)
            times.append((time.perf_counter() - begin) * 1000)
            own_first += result.candidates[0].name == names[row]
        times.sort()
        out[f"threads_{n}"] = {
            "median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times)) - 1],
            "passed": statistics.median(times) < TARGET_QUERY_MS,
            "probe_own_entry_first": own_first / len(rows)}
    torch.set_num_threads(threads)
    return out


def targets(galleries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measured gallery: impostors named within the target plus its sampling error (the
    upper end of the 95% interval must reach down to 1%), enrolled probes named wrongly at most
    as often as the target allows."""
    out = []
    for g in galleries:
        if "skipped" in g:
            continue
        chosen = g["gallery_threshold"]
        named = chosen["impostors_named"]
        wrong = chosen["mated_named_wrongly"]
        out.append({
            "gallery_size": g["gallery_size"],
            "impostors_named": named["rate"], "impostors_named_ci95": named["ci95"],
            "impostors_within_target": named["ci95"][0] <= TARGET_FPIR,
            "mated_named_wrongly": wrong["rate"],
            "mated_wrongly_within_target": wrong["ci95"][0] <= TARGET_FPIR,
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished `default` run")
    parser.add_argument("--home", type=Path, default=None, help="the data home")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "identification.json")
    args = parser.parse_args()

    from siamface.data.home import resolve_data_home

    run = Run(args.run)
    lfw = open_lfw(resolve_data_home(args.home))
    cache = load_or_build_cache(lfw, run.preprocessing, progress=False)
    start = time.perf_counter()
    results = evaluate_open_set(run, cache, lfw, run.open_set_dir)
    seconds = time.perf_counter() - start
    out = {
        "machine": machine_info(),
        "run": str(run.path),
        "run_config": run.config.name,
        "best_epoch": run.best_epoch,
        "open_set": results,
        "open_set_seconds": round(seconds, 1),
        "targets": targets(results["galleries"]),
        "query_at_scale": query_at_scale(run, cache),
    }
    write_json_atomic(args.out, out)
    for row in out["targets"]:
        print(row)
    print(out["query_at_scale"])


if __name__ == "__main__":
    main()
