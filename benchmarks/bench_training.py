"""Training speed: throughput and achieved GFLOP/s of the real training step, against this
CPU's fp32 peak and against a seed-style loop at equal batch size, plus the share of an epoch
spent gathering, converting and augmenting images, and the image-cache build time.

What is timed is ``Trainer.train_step``, the very code ``siamface train`` runs each step
(gather from the uint8 memmap cache, float conversion, batched augmentation, embed, score,
loss, backward, optimizer step), on batches from the run's own sampler, after warm-up steps.
The seed-style loop (benchmarks/seed_style.py) is timed the same way in the same process.

    .venv/bin/python benchmarks/bench_training.py --home /tmp/siamdata      # about 6-8 minutes
    .venv/bin/python benchmarks/bench_training.py --home /tmp/siamdata --steps 2 --warmup 1 \
        --out /tmp/training.json                                          # a quick check

Precision: each config runs in fp32 and in bf16 (``train.precision``: autocast of the forward
pass, fp32 loss and optimizer state). Each case's GFLOP/s are reported against the reference of
the precision it used: torch.mm of fp32 or of bf16 matrices, measured in the same run, and the
theoretical peak of that precision (for bf16 only where the CPU has AMX-BF16 or AVX512-BF16;
without them PyTorch emulates bf16, far slower than fp32, and the reference is measured on
smaller matrices so that it ends, and a bf16 case there gets no epoch estimate). Cases can be
chosen with ``--cases``; a run of only some of them is merged into the existing JSON under
``runs`` (the earlier figures are kept):

    .venv/bin/python benchmarks/bench_training.py --home /tmp/siamdata \
        --cases default,default_bf16 --bf16-warmup 1 --bf16-steps 3     # about 4 minutes here

FLOPs are ``siamface.models.count_flops`` (2 x the multiply-accumulates of the conv and linear
layers) per image, times 3 for a training step: the backward pass computes the gradients of
both the inputs and the weights of each layer, each as costly as the forward pass. That
slightly overstates the work (the first layer needs no input gradient: 6.5% of koch2015's
forward cost, about 2% of a step's counted FLOPs) and leaves out BatchNorm, activations,
pooling and the optimizer update, so the achieved GFLOP/s are those of the convolutions and
matrix products, the quoted convention.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from bench_data import describe_machine
from seed_style import (
    BATCH_SIZE,
    LR,
    SiameseNetwork,
    make_loader,
    pair_list,
    random_split,
    train_one_epoch,
)
from siamface.config import Config
from siamface.data.cache import all_image_refs, build_cache
from siamface.data.lfw import LFWDataset, open_lfw
from siamface.models import count_flops
from siamface.pipeline import apply_process_settings
from siamface.run_folder import Run
from siamface.training.batches import PairBatch
from siamface.training.builder import resolve_config
from siamface.training.inputs import prepare_inputs
from siamface.training.trainer import Trainer
from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import (
    CPU_FEATURES,
    cpu_features,
    machine_info,
    onednn_isa_limit,
    usable_cpu_features,
    usable_features,
)
from siamface.utils.seed import seed_everything

TARGET_RATIO_VS_SEED = 1.3  # koch2015 pairs/s over the seed-style loop's, same batch size
TARGET_PEAK_FRACTION = 0.70  # koch2015 achieved GFLOP/s over the CPU's fp32 peak
TARGET_DATA_SHARE = 0.05  # gather + convert + augment, as a share of an epoch
TARGET_BF16_SPEEDUP = {"default": 1.5, "koch2015": 2.0}  # bf16 step over fp32, AMX machines
TRAIN_FLOPS_PER_FORWARD = 3  # forward + input gradients + weight gradients


# -- the CPU's limit ---------------------------------------------------------------------------


def cpu_fields() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (what lscpu reads too)."""
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if not line.strip():
            break  # the end of the first processor's block
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_identity(fields: dict[str, str]) -> tuple[str, int, set[str]]:
    """The vendor, family and flags of ``cpu_fields()``: what the FLOP-per-cycle rules read,
    less the features a oneDNN cap (ONEDNN_MAX_CPU_ISA) keeps it from using."""
    flags = set(fields.get("flags", "").split())
    usable = usable_features({f: f in flags for f in CPU_FEATURES}, onednn_isa_limit())
    return (fields.get("vendor_id", ""), int(fields.get("cpu family", 0)),
            flags - {f for f, ok in usable.items() if not ok})


def flop_per_cycle(vendor: str, family: int, flags: set[str]) -> tuple[int, str]:
    """fp32 FLOP per cycle per core, and why.

    Args:
        vendor: ``vendor_id`` from /proc/cpuinfo.
        family: ``cpu family`` from /proc/cpuinfo.
        flags: ``flags`` from /proc/cpuinfo.
    """
    if vendor == "AuthenticAMD" and family == 25:
        return 32, ("AMD family 25 (Zen 3; Zen 4 runs AVX-512 at the same rate): two 256-bit FMA "
                    "pipes x 8 fp32 lanes x 2 FLOP per fused multiply-add")
    if "avx512f" in flags:
        return 64, "AVX-512: two 512-bit FMA units assumed (x 16 lanes x 2)"
    if {"avx2", "fma"} <= flags:
        return 32, "AVX2 + FMA: two 256-bit FMA pipes assumed (x 8 lanes x 2)"
    return 8, "no FMA: one 128-bit add and one 128-bit multiply per cycle assumed"


def bf16_flop_per_cycle(vendor: str, family: int, flags: set[str]) -> tuple[int | None, str]:
    """bf16 FLOP per cycle per core, and why (None: no bf16 instructions, no bf16 peak).

    Args:
        vendor: ``vendor_id`` from /proc/cpuinfo.
        family: ``cpu family`` from /proc/cpuinfo.
        flags: ``flags`` from /proc/cpuinfo.
    """
    if "amx_bf16" in flags:
        return 1024, ("AMX-BF16: one TDPBF16PS (a 16x32 by 32x16 bf16 tile product, 16,384 "
                      "FLOP) every 16 cycles per core")
    if "avx512_bf16" in flags and vendor == "AuthenticAMD" and family == 25:
        return 64, ("AMD family 25 with AVX512-BF16 (Zen 4): VDPBF16PS (2 bf16 products summed "
                    "into each fp32 lane, 4 FLOP a lane) on the two 256-bit pipes x 8 lanes")
    if "avx512_bf16" in flags:
        return 128, ("AVX512-BF16: VDPBF16PS (32 bf16 products summed pairwise into 16 fp32 "
                     "lanes, 64 FLOP) on two 512-bit units")
    return None, ("no AVX512-BF16 or AMX-BF16: bf16 is converted in software, so there is no "
                  "bf16 peak; the bf16 matmul reference is what this CPU achieves")


def bf16_peak() -> dict[str, Any]:
    """The theoretical bf16 peak where the CPU has bf16 instructions (gflops None elsewhere)."""
    fields = cpu_fields()
    flops, why = bf16_flop_per_cycle(*cpu_identity(fields))
    cores = len(os.sched_getaffinity(0))
    ghz = float(fields["cpu MHz"]) / 1000
    return {
        "flop_per_cycle_per_core": flops,
        "flop_per_cycle_why": why,
        "clock_ghz": ghz,
        "gflops": None if flops is None else round(cores * flops * ghz, 1),
        "formula": None if flops is None else f"{cores} cores x {flops} FLOP/cycle x {ghz:.3f} GHz",
    }


def fp32_peak() -> dict[str, Any]:
    """The theoretical fp32 peak: usable cores x FLOP per cycle x clock."""
    fields = cpu_fields()
    flops, why = flop_per_cycle(*cpu_identity(fields))
    cores = len(os.sched_getaffinity(0))
    ghz = float(fields["cpu MHz"]) / 1000
    return {
        "cpu": fields.get("model name"),
        "vendor": fields.get("vendor_id"),
        "family": int(fields.get("cpu family", 0)),
        "model": int(fields.get("model", 0)),
        "cores": cores,
        "flop_per_cycle_per_core": flops,
        "flop_per_cycle_why": why,
        "clock_ghz": ghz,
        "clock_source": "'cpu MHz' of /proc/cpuinfo (the nominal clock the hypervisor reports; "
                        "a boost clock would raise the real limit, see matmul_gflops)",
        "gflops": round(cores * flops * ghz, 1),
        "formula": f"{cores} cores x {flops} FLOP/cycle x {ghz:.3f} GHz",
    }


def matmul_gflops(n: int = 4096, repeats: int = 5,
                  dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Achieved GFLOP/s of torch.mm on two n x n matrices of ``dtype``: a practical ceiling.

    Args:
        n: The side of the matrices.
        repeats: Timed products (after one untimed).
        dtype: torch.float32 or torch.bfloat16.
    """
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm-up: threads, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    best, median = min(times), statistics.median(times)
    return {"dtype": str(dtype).removeprefix("torch."), "n": n, "repeats": repeats,
            "seconds_median": round(median, 4),
            "gflops_median": round(2 * n**3 / median / 1e9, 1),
            "gflops_best": round(2 * n**3 / best / 1e9, 1)}


# -- timing ------------------------------------------------------------------------------------


def time_steps(step: Callable[[], object], warmup: int, steps: int) -> dict[str, Any]:
    """Seconds per call of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "warmup_steps": warmup,
        "steps": steps,
        "seconds_per_step": round(statistics.fmean(times), 4),  # what throughput is made of
        "seconds_median": round(statistics.median(times), 4),
        "seconds_min": round(min(times), 4),
        "seconds_max": round(max(times), 4),
    }


def full_batches(trainer: Trainer) -> Iterator[PairBatch]:
    """The run's own batches, epoch after epoch, leaving out each epoch's smaller last batch."""
    batches = trainer.inputs.batches
    size = max(len(b.images) for b in batches.epoch(0))
    epoch = 0
    while True:
        yield from (b for b in batches.epoch(epoch) if len(b.images) == size)
        epoch += 1


def throughput(seconds_per_step: float, images: int, pairs: int,
               flops_per_image: int) -> dict[str, Any]:
    """Images/s, pairs/s and achieved GFLOP/s of a training step."""
    flops = images * TRAIN_FLOPS_PER_FORWARD * flops_per_image
    return {
        "images_per_step": images,
        "pairs_per_step": pairs,
        "images_per_s": round(images / seconds_per_step, 2),
        "pairs_per_s": round(pairs / seconds_per_step, 2),
        "gflop_per_step": round(flops / 1e9, 2),
        "gflops": round(flops / seconds_per_step / 1e9, 1),
    }


def make_trainer(config: Config, lfw: LFWDataset, run_dir: Path) -> Trainer:
    """What ``siamface.pipeline.train`` builds before ``fit`` (the cache is built if it is
    missing)."""
    apply_process_settings(config.train)
    seed_everything(config.seed)
    inputs = prepare_inputs(config, lfw, progress=False)
    return Trainer.from_config(config, inputs, Run(run_dir), progress=False)


def bench_trainer(config: Config, lfw: LFWDataset, warmup: int, steps: int,
                  compile_backbone: bool = False, epoch_estimate: bool = True) -> dict[str, Any]:
    """Throughput of ``Trainer.train_step`` and the data share of one epoch for ``config``.

    Args:
        config: The resolved config (its ``train.precision`` included).
        lfw: The imported LFW copy.
        warmup: Untimed steps.
        steps: Timed steps.
        compile_backbone: torch.compile the backbone first.
        epoch_estimate: Also time the data half over one epoch and one validation pass (the
            "epoch" block; None without it, e.g. where bf16 is emulated and a validation pass
            would take many minutes).
    """
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(config, lfw, Path(tmp))
        data = config.data
        flops = count_flops(trainer.model, (data.channels, data.size, data.size))
        if compile_backbone:
            trainer.model.backbone = torch.compile(trainer.model.backbone)
        trainer.model.train()
        trainer.schedule.apply(trainer.optimizer, 0.0)
        batches = full_batches(trainer)
        generator = torch.Generator().manual_seed(0)
        first = next(batches)
        timing = time_steps(lambda: trainer.train_step(next(batches), generator), warmup, steps)
        epoch = epoch_share(trainer, generator, timing["seconds_per_step"]) if epoch_estimate \
            else None

    return {
        "config": config.name,
        "precision": trainer.precision,
        "precision_requested": config.train.precision,
        "model": config.model.to_dict(),
        "optimizer": config.optim.name,
        "input": [data.channels, data.size, data.size],
        "channels_last": config.train.channels_last,
        "keep_freed_memory": config.train.keep_freed_memory,
        "augment": config.augment.enabled,
        "compiled_backbone": compile_backbone,
        "forward_gflop_per_image": round(flops / 1e9, 4),
        **timing,
        **throughput(timing["seconds_per_step"], len(first.images), len(first.left), flops),
        "epoch": epoch,
    }


def epoch_share(trainer: Trainer, generator: torch.Generator,
                seconds_per_step: float) -> dict[str, Any]:
    """The data half of a step over one whole epoch and one validation pass, timed, and the
    epoch they make with ``seconds_per_step``."""
    t0 = time.perf_counter()
    for batch in trainer.inputs.batches.epoch(0):
        trainer.batch_input(batch, generator)
    data_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.validate()
    validate_s = time.perf_counter() - t0
    steps_per_epoch = len(trainer.inputs.batches)
    epoch_s = steps_per_epoch * seconds_per_step + validate_s
    return {
        "steps": steps_per_epoch,
        "seconds_estimated": round(epoch_s, 1),
        "how": "steps x seconds_per_step + one timed validation pass (in the case's precision)",
        "validate_seconds": round(validate_s, 2),
        "data_seconds": round(data_s, 3),
        "data_what": "Trainer.batch_input over the epoch's batches: gather from the memmap "
                     "cache, uint8 -> float, batched augmentation (timed alone)",
        "data_share": round(data_s / epoch_s, 4),
    }


def bench_seed_style(lfw: LFWDataset, warmup: int, steps: int,
                     batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Throughput of the seed-style loop, its data loading included as it is in its epochs."""
    train, _ = random_split(pair_list(lfw, "pairsDevTrain.txt"))
    torch.manual_seed(0)
    model = SiameseNetwork()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    loader = make_loader(train, shuffle=True, batch_size=batch_size)
    flops = count_flops(model.cnn, (1, 105, 105))
    timing = time_steps(lambda: train_one_epoch(model, loader, optimizer, loss_fn, max_steps=1),
                        warmup, steps)
    t0 = time.perf_counter()
    for _ in loader:  # one epoch of its per-item JPEG decoding, without the network
        pass
    data_s = time.perf_counter() - t0
    steps_per_epoch = len(loader)
    return {
        "config": "seed_style (benchmarks/seed_style.py)",
        "optimizer": "adam",
        "input": [1, 105, 105],
        "channels_last": False,
        "forward_gflop_per_image": round(flops / 1e9, 4),
        **timing,
        **throughput(timing["seconds_per_step"], 2 * batch_size, batch_size, flops),
        "epoch": {
            "steps": steps_per_epoch,
            "train_seconds_estimated": round(steps_per_epoch * timing["seconds_per_step"], 1),
            "data_seconds": round(data_s, 2),
            "data_what": "iterating its DataLoader once (PIL decode + resize per image)",
            "data_share_of_training": round(
                data_s / (steps_per_epoch * timing["seconds_per_step"]), 4),
        },
    }


def bench_cache_build(lfw: LFWDataset, config: Config) -> dict[str, Any]:
    """Seconds to build ``config``'s image cache of all of LFW from the JPEGs, from scratch."""
    prep = config.data.preprocessing_settings()
    refs = all_image_refs(lfw.image_counts)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_cache(lfw.images_dir, refs, prep, tmp, lfw.checksums, workers=2, progress=False)
        seconds = time.perf_counter() - t0
    return {"config": config.name, "preprocessing": prep.to_dict(), "images": len(refs),
            "seconds": round(seconds, 1), "workers": 2}


# -- the run -----------------------------------------------------------------------------------

FP32_CASES = ("seed_style", "koch2015_glibc_default_malloc", "koch2015", "koch2015_nchw",
              "default")
BF16_CASES = ("koch2015_bf16", "default_bf16")
COMPILED_CASES = ("koch2015_compiled", "default_compiled")
# Without bf16 instructions a 4096^2 bf16 product takes minutes (0.3 GFLOP/s measured on the
# AMD EPYC): the reference is measured on smaller matrices there.
BF16_EMULATED_MATMUL_N = 512


def references(native_bf16: bool) -> dict[str, Any]:
    """The fp32 and bf16 peaks and their torch.mm references, measured now."""
    fp32 = fp32_peak()
    fp32["matmul"] = matmul_gflops()
    bf16 = bf16_peak()
    bf16["matmul"] = matmul_gflops(4096 if native_bf16 else BF16_EMULATED_MATMUL_N,
                                   dtype=torch.bfloat16)
    return {"peak": fp32, "peak_bf16": bf16}


def compare(throughput_results: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    """Each case against the references of the precision it used (and bf16 against fp32)."""
    seed = throughput_results.get("seed_style")
    comparison = {}
    for name, r in throughput_results.items():
        precision = r.get("precision", "fp32")  # the seed-style loop is fp32
        ref = refs["peak_bf16"] if precision == "bf16" else refs["peak"]
        matmul = ref["matmul"]
        row: dict[str, Any] = {
            "precision": precision,
            "reference": f"torch.mm {matmul['dtype']} n={matmul['n']}: "
                         f"{matmul['gflops_median']} GFLOP/s; peak {ref['gflops']}",
            "fraction_of_matmul": round(r["gflops"] / matmul["gflops_median"], 3),
            "fraction_of_peak": None if ref["gflops"] is None else round(
                r["gflops"] / ref["gflops"], 3),
        }
        if row["fraction_of_peak"] is not None and row["fraction_of_peak"] > 1:
            row["above_peak"] = (
                "faster than the peak at the reported clock, so the cores ran above it: at "
                f"least {ref['clock_ghz'] * row['fraction_of_peak']:.2f} GHz (a boost clock)")
        if seed is not None:
            row["pairs_per_s_ratio_vs_seed_style"] = round(r["pairs_per_s"] / seed["pairs_per_s"],
                                                           3)
        fp32_twin = throughput_results.get(name.removesuffix("_bf16"))
        if precision == "bf16" and fp32_twin is not None:
            row["step_speedup_vs_fp32"] = round(
                fp32_twin["seconds_per_step"] / r["seconds_per_step"], 3)
        comparison[name] = row
    return comparison


def targets_of(throughput_results: dict[str, Any], comparison: dict[str, Any],
               amx: bool) -> dict[str, Any]:
    """The issue's targets for the cases that ran (passed None: not applicable here)."""
    targets: dict[str, Any] = {}
    if {"koch2015", "seed_style"} <= throughput_results.keys():
        value = comparison["koch2015"]["pairs_per_s_ratio_vs_seed_style"]
        targets["koch2015_pairs_per_s_vs_seed_style"] = {
            "target": f">= {TARGET_RATIO_VS_SEED}", "batch_size": BATCH_SIZE, "value": value,
            "passed": value >= TARGET_RATIO_VS_SEED}
    if "koch2015" in throughput_results:
        value = comparison["koch2015"]["fraction_of_peak"]
        targets["koch2015_fraction_of_fp32_peak"] = {
            "target": f">= {TARGET_PEAK_FRACTION}", "value": value,
            "passed": value >= TARGET_PEAK_FRACTION}
    for name in ("default", "koch2015"):
        epoch = throughput_results.get(name, {}).get("epoch")
        if epoch is not None:
            targets[f"{name}_data_share_of_epoch"] = {
                "target": f"< {TARGET_DATA_SHARE}", "value": epoch["data_share"],
                "passed": epoch["data_share"] < TARGET_DATA_SHARE}
    for name, limit in TARGET_BF16_SPEEDUP.items():
        value = comparison.get(f"{name}_bf16", {}).get("step_speedup_vs_fp32")
        if value is not None:
            targets[f"{name}_bf16_step_speedup_vs_fp32"] = {
                "target": f">= {limit} on a CPU with AMX-BF16", "value": value,
                "applies": amx, "passed": value >= limit if amx else None}
    return targets


def cpu_kind(features: dict[str, bool]) -> str:
    """The kind of CPU, by its best vector feature: amx_bf16, avx512_bf16, avx512f or avx2."""
    return ("amx_bf16" if features["amx_bf16"] else "avx512_bf16" if features["avx512_bf16"]
            else "avx512f" if features["avx512f"] else "avx2")


def run_id(features: dict[str, bool], usable: dict[str, bool] | None = None) -> str:
    """This run's key in the JSON: the time and the kind of CPU, and the kind it ran as where a
    oneDNN cap left it fewer ``usable`` features."""
    key = f"{time.strftime('%Y-%m-%dT%H:%M')}-{cpu_kind(features)}"
    capped = None if usable is None else cpu_kind(usable)
    return key if capped in (None, cpu_kind(features)) else f"{key}-capped-{capped}"


def merge_into(out: Path, key: str, record: dict[str, Any]) -> dict[str, Any]:
    """The JSON in ``out`` with this partial run added under ``runs``, its other figures kept."""
    existing = json.loads(out.read_text()) if out.is_file() else {}
    existing.setdefault("runs", {})[key] = record
    existing["figures_by_run"] = (
        "The top-level peak, throughput, comparison, targets and machine are one run of every "
        "fp32 case (its date and CPU in machine); runs[<time>-<cpu kind>] holds later runs of "
        "some cases (--cases), each with its own machine, references and comparison. Compare "
        "figures only within one run: the machine is shared.")
    return existing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="an imported data home")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per case")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    parser.add_argument("--default-steps", type=int, default=30,
                        help="timed steps for the default config (its steps are short)")
    parser.add_argument("--bf16-warmup", type=int, help="untimed steps of a bf16 case "
                        "(default: as for fp32; bf16 is slow where it is emulated)")
    parser.add_argument("--bf16-steps", type=int, help="timed steps of a bf16 case")
    parser.add_argument("--compile", action="store_true",
                        help="also time each config with torch.compile on the backbone")
    parser.add_argument("--cases", help="comma-separated cases to run (default: all); a partial "
                        f"run is merged into --out under 'runs'. Cases: "
                        f"{', '.join(FP32_CASES + BF16_CASES + COMPILED_CASES)}")
    parser.add_argument("--note", help="recorded with the run: what was left out and why")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()
    known = FP32_CASES + BF16_CASES + COMPILED_CASES
    if args.cases is None:
        chosen = FP32_CASES + BF16_CASES + (COMPILED_CASES if args.compile else ())
    else:
        chosen = tuple(args.cases.split(","))
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(known)}")

    before = machine_info()
    features = cpu_features()
    usable = usable_cpu_features()  # under a oneDNN cap bf16 may be emulated
    native_bf16 = usable["amx_bf16"] or usable["avx512_bf16"]
    lfw = open_lfw(args.home)
    bf16_warmup = args.warmup if args.bf16_warmup is None else args.bf16_warmup
    def koch_config(*overrides: str) -> Config:  # channels_last, fp32 unless told otherwise
        return resolve_config("koch2015", [f"train.batch_size={BATCH_SIZE}",
                                           "train.precision=fp32", *overrides])

    koch, koch_bf16 = koch_config(), koch_config("train.precision=bf16")
    koch_nchw = koch_config("train.channels_last=false")  # what the layout buys
    koch_malloc = koch_config("train.keep_freed_memory=false")
    default = resolve_config("default", ["train.precision=fp32"])
    default_bf16 = resolve_config("default", ["train.precision=bf16"])
    refs = references(native_bf16)
    print("references", refs, flush=True)

    def bf16_case(config: Config, steps: int) -> dict[str, Any]:
        # where bf16 is emulated a validation pass takes many minutes: no epoch estimate there
        return bench_trainer(config, lfw, bf16_warmup,
                             steps if args.bf16_steps is None else args.bf16_steps,
                             epoch_estimate=native_bf16)

    # keep_freed_memory changes glibc's malloc for the rest of the process, so the cases that
    # run without it come first: the seed-style loop (as the seeds ran it) and koch2015 with
    # glibc's default, to show what the setting buys.
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "seed_style": lambda: bench_seed_style(lfw, args.warmup, args.steps),
        "koch2015_glibc_default_malloc":
            lambda: bench_trainer(koch_malloc, lfw, args.warmup, args.steps),
        "koch2015": lambda: bench_trainer(koch, lfw, args.warmup, args.steps),
        "koch2015_nchw": lambda: bench_trainer(koch_nchw, lfw, args.warmup, args.steps),
        "default": lambda: bench_trainer(default, lfw, args.warmup, args.default_steps),
        "koch2015_bf16": lambda: bf16_case(koch_bf16, args.steps),
        "default_bf16": lambda: bf16_case(default_bf16, args.default_steps),
        "koch2015_compiled": lambda: bench_trainer(koch, lfw, args.warmup, args.steps, True),
        "default_compiled":
            lambda: bench_trainer(default, lfw, args.warmup, args.default_steps, True),
    }
    throughput_results: dict[str, Any] = {}
    for name in (n for n in known if n in chosen):  # in the order above
        load = [round(x, 2) for x in os.getloadavg()]  # a shared machine: say what we ran beside
        throughput_results[name] = {**cases[name](), "loadavg_before": load}
        gc.collect()  # koch2015 and its optimizer state hold ~0.5-0.6 GB: free before the next
        print(name, throughput_results[name], flush=True)

    if "default" in throughput_results:
        # default compares every pair of its 128 images: 8,128 pairs a step. A pair-batch
        # pipeline embeds 2 images per pair, so the same 128 images would give it 64 pairs: the
        # fair "pairs-equivalent" rate, for comparing the cost of embedding with koch2015.
        d = throughput_results["default"]
        d["pairs_equivalent_per_s"] = round(d["images_per_s"] / 2, 2)
        d["pairs_note"] = ("pairs_per_s counts every in-batch pair (PK(PK-1)/2 = 8,128 per step "
                           "of P x K = 32 x 4 images); pairs_equivalent_per_s counts 2 images as "
                           "one pair (64 per step), as a pair-batch loop would")
    comparison = compare(throughput_results, refs)
    targets = targets_of(throughput_results, comparison, usable["amx_bf16"])
    record: dict[str, Any] = {
        **refs,
        "cpu_features": features,
        "throughput": throughput_results,
        "comparison": comparison,
        "targets": targets,
        "passed": all(t["passed"] for t in targets.values() if t["passed"] is not None),
        "settings": {"cases": list(throughput_results), "warmup": args.warmup,
                     "steps": args.steps, "default_steps": args.default_steps,
                     "bf16_warmup": bf16_warmup, "bf16_steps": args.bf16_steps,
                     "flops_convention": "count_flops per image x 3 per training image"},
    }
    if args.note:
        record["note"] = args.note
    if args.cases is None:
        record["cache_build"] = [bench_cache_build(lfw, c) for c in (koch, default)]
        print("cache_build", record["cache_build"], flush=True)
    record["machine"] = describe_machine(before)
    if args.cases is None:  # a run of every case is the top level; earlier partial runs stay
        earlier = json.loads(args.out.read_text()).get("runs") if args.out.is_file() else None
        results = record if earlier is None else {**record, "runs": earlier}
    else:
        results = merge_into(args.out, run_id(features, usable), record)
    write_json_atomic(args.out, results)
    print("comparison", comparison, flush=True)
    print("targets", targets, flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
