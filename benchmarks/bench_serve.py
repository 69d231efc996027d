"""Serve benchmark: a bounded load test of `siamface serve` on loopback (issue 14).

Starts `siamface serve RUN` (a real trained model; face detection on) on a free 127.0.0.1 port
in its own process, then sends ``--requests`` verify requests of real LFW photos from
``--clients`` concurrent clients (each with one keep-alive connection), and ``--enrolls``
enroll requests of distinct people from as many clients at once, and counts the people the
gallery holds afterwards. It records requests/s, p50/p95/p99 latency, every status, the 5xx
and the lost gallery writes, against the targets: zero 5xx, zero lost writes, p95 < 250 ms at
8 concurrent clients.

    .venv/bin/python benchmarks/bench_serve.py --run runs/default-YYYYMMDD-HHMMSS \
        --lfw ../shared/lfw --out benchmarks/results/serve.json

Without --run it first imports --lfw into a temporary data home and trains the default config
(`siamface train default`, about ten minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2

from siamface.utils.atomic import write_json_atomic
from siamface.utils.machine import machine_info

TARGET_P95_MS = 250.0
START_TIMEOUT_S = 180


def lfw_photos(lfw: Path, count: int) -> list[tuple[str, bytes]]:
    """The first ``count`` JPEGs of the deep-funneled archive, as (file name, bytes)."""
    photos = []
    with tarfile.open(lfw / "lfw-deepfunneled.tgz") as tar:
        for member in tar:
            if member.name.endswith(".jpg"):
                photos.append((Path(member.name).name, tar.extractfile(member).read()))
                if len(photos) == count:
                    break
    return photos


def trained_run(lfw: Path, work: Path) -> Path:
    """Import LFW into a temporary data home and train the default config there."""
    siamface = [sys.executable, "-m", "siamface", "--data-dir", str(work / "home")]
    subprocess.run([*siamface, "data", "import", str(lfw)], check=True)
    subprocess.run([*siamface, "train", "default", "--runs-dir", str(work / "runs"),
                    "--no-progress"], check=True)
    return next(p for p in (work / "runs").iterdir() if (p / "model.safetensors").is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, db: Path, workers: int | None,
                 photo_processes: int | None) -> tuple[subprocess.Popen, str]:
    """`siamface serve RUN` on a free loopback port, once it answers /api/health."""
    port = free_port()
    command = [sys.executable, "-m", "siamface", "serve", str(run), "--port", str(port),
               "--db", str(db), *(["--workers", str(workers)] if workers else []),
               *([] if photo_processes is None else ["--photo-processes", str(photo_processes)])]
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"siamface serve exited with {server.returncode}")
        try:
            if httpx2.get(f"{url}/api/health", timeout=2).status_code == 200:
                return server, url
        except httpx2.HTTPError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit(f"siamface serve did not answer within {START_TIMEOUT_S} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process and its live children (the server's photo
    processes) have used so far, from Linux's /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name_end = (text := stat.read_text()).rindex(")")
        except (OSError, ValueError):  # a process that ended meanwhile
            continue
        fields = text[name_end + 2:].split()  # from the state, field 3
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # itself or its child
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def load(url: str, photos: list[tuple[str, bytes]], requests: int,
         clients: int) -> dict[str, Any]:
    """``requests`` verify requests from ``clients`` threads; latencies and statuses."""
    next_index = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()

    def client() -> None:
        with httpx2.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                a, b = photos[i % len(photos)], photos[(i * 7 + 1) % len(photos)]
                t0 = time.perf_counter()
                try:
                    status = str(http.post("/api/verify", files={"image_a": a, "image_b": b})
                                 .status_code)
                except httpx2.HTTPError as err:
                    status = type(err).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed * 1000)
                    statuses[status] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": requests, "clients": clients, "seconds": round(seconds, 2),
        "requests_per_second": round(requests / seconds, 1),
        "latency_ms": {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1),
                       "p99": round(cuts[98], 1), "mean": round(statistics.mean(latencies), 1),
                       "max": round(max(latencies), 1)},
        "statuses": dict(statuses),
        "errors": requests - statuses["200"],
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
    }


def concurrent_enrolls(url: str, photos: list[tuple[str, bytes]], enrolls: int,
                       clients: int) -> dict[str, Any]:
    """``enrolls`` distinct people enrolled from ``clients`` threads; the writes kept."""
    httpx2.post(f"{url}/api/galleries", json={"name": "bench"}).raise_for_status()
    names = iter(f"Person {i:05d}" for i in range(enrolls))
    lock = threading.Lock()
    statuses: Counter[str] = Counter()

    def client() -> None:
        with httpx2.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    name = next(names, None)
                if name is None:
                    return
                photo = photos[int(name.split()[1]) % len(photos)]
                r = http.post("/api/galleries/bench/people", data={"name": name},
                              files=[("photos", photo)])
                with lock:
                    statuses[str(r.status_code)] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    people = httpx2.get(f"{url}/api/galleries/bench/people").json()
    return {"requested": enrolls, "statuses": dict(statuses), "created": statuses["201"],
            "found": len(people), "lost_writes": statuses["201"] - len(people),
            "server_errors": sum(n for s, n in statuses.items() if s.startswith("5"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: train one)")
    parser.add_argument("--lfw", type=Path, default=Path("../shared/lfw"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--enrolls", type=int, default=200)
    parser.add_argument("--photos", type=int, default=300, help="distinct LFW photos sent")
    parser.add_argument("--workers", type=int, help="the server's --workers (default: its own)")
    parser.add_argument("--photo-processes", type=int,
                        help="the server's --photo-processes (default: its own, one a worker)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve.json"))
    args = parser.parse_args()

    photos = lfw_photos(args.lfw, args.photos)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as work:
        run = args.run or trained_run(args.lfw, Path(work))
        before = machine_info()
        server, url = start_server(run, Path(work) / "galleries.sqlite3", args.workers,
                                   args.photo_processes)
        try:
            load(url, photos, min(10, args.requests), 1)  # warm-up: model, detectors, caches
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            verify = load(url, photos, args.requests, args.clients)
            # Where the cores went: the server's work and this process's clients, per request.
            verify["cpu_ms_per_request"] = {
                "server": round((cpu_seconds(server.pid) - server_cpu) / args.requests * 1e3, 1),
                "clients": round((time.process_time() - client_cpu) / args.requests * 1e3, 1)}
            enroll = concurrent_enrolls(url, photos, args.enrolls, args.clients)
            version = httpx2.get(f"{url}/api/version").json()
        finally:
            server.terminate()
            server.wait(timeout=30)
    targets = {
        "zero_5xx": verify["server_errors"] + enroll["server_errors"] == 0,
        # every enroll the server accepted (201) is found; a 422 (no face) is a right refusal
        "zero_lost_writes": enroll["lost_writes"] == 0 and enroll["found"] == enroll["created"],
        f"p95_under_{TARGET_P95_MS:.0f}ms": verify["latency_ms"]["p95"] < TARGET_P95_MS,
    }
    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "run": str(run), "model_fingerprint": version["model_fingerprint"],
        "detect": version["detect"], "photos": len(photos),
        "server_options": {"workers": args.workers, "photo_processes": args.photo_processes},
        "verify": verify, "enroll": enroll,
        "targets": {k: "PASS" if ok else "FAIL" for k, ok in targets.items()},
        "machine": {**before, "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
    }
    write_json_atomic(args.out, result)
    print(f"verify: {verify['requests_per_second']} requests/s, p50/p95/p99 "
          f"{verify['latency_ms']['p50']}/{verify['latency_ms']['p95']}/"
          f"{verify['latency_ms']['p99']} ms, {verify['errors']} errors; enroll: "
          f"{enroll['lost_writes']} lost of {enroll['created']}; {result['targets']}")


if __name__ == "__main__":
    main()
