"""CPU work on a fixed number of threads, so that concurrent requests queue instead of
oversubscribing the cores.

Each request's model work (the embedding and what follows it; decoding and aligning too when
there are no photo processes: ``photo_pool``) runs on one of ``workers`` threads; the rest wait
in the executor's queue. PyTorch and OpenCV each start their own thread teams
inside an operation, so ``fix_cpu_threads(1)`` keeps a worker to one core: ``workers`` threads
then use ``workers`` cores, never more.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")


def fix_cpu_threads(threads: int) -> None:
    """Set the process's PyTorch and OpenCV intra-op threads (process-wide: call once, at start).

    Args:
        threads: Threads per operation; 1 when every worker runs its own request.
    """
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


class WorkerPool:
    """A bounded pool of threads for CPU work, awaited from the event loop.

    Args:
        workers: Threads; requests beyond that wait their turn.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., Result], *args: Any) -> Result:
        """``fn(*args)`` on a worker thread, once one is free (the threads start on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="siamface-worker")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def close(self) -> None:
        """Finish the running work, drop what still waits, and stop the threads (a later
        ``run`` starts new ones, as a restarted server does)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
