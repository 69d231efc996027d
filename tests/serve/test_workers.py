"""The serve's worker pool: a bounded number of threads, each on one core."""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import pytest
import torch

from siamface.serve.workers import WorkerPool, fix_cpu_threads


def test_fix_cpu_threads_sets_torch_and_opencv_alike():
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        fix_cpu_threads(1)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_requests_beyond_the_workers_wait_their_turn():
    pool, running, most = WorkerPool(2), [], [0]
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running.append(i)
            most[0] = max(most[0], len(running))
        time.sleep(0.05)
        with lock:
            running.remove(i)
        return i * i

    async def six_requests() -> list[int]:
        return await asyncio.gather(*(pool.run(work, i) for i in range(6)))

    try:
        assert asyncio.run(six_requests()) == [0, 1, 4, 9, 16, 25]
    finally:
        pool.close()
    assert most[0] == 2  # never more at once than the pool's threads
    assert asyncio.run(six_requests()) == [0, 1, 4, 9, 16, 25]  # a closed pool starts anew
    pool.close()


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        WorkerPool(0)
