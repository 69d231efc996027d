"""PhotoPool: uploads decoded and aligned in worker processes, or on the worker threads.

A photo's decode, detection and alignment hold Python's interpreter lock for much of their
time (dlib's landmark model for all of its ~2 ms a face), so worker threads of one process wait
for each other: on 2 cores two threads verified LFW pairs only 1.35x as fast as one, and with
the photos aligned in two processes (the embedding left on the threads, where PyTorch lets go
of the lock) 1.25x as fast as in two threads (benchmarks/README.md, serve). Each process has
its own interpreter and detector, and no model: it does not load PyTorch (about 100 MB of
memory each, measured, against 250-300 MB with it). They are spawned (not forked from a
process that runs threads) when the server starts, which takes a few seconds; one that dies (a
crash in a native library, the kernel's out-of-memory killer) fails the requests it held with
503, and new processes take its place.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from siamface.data.preprocess import Preprocessing
from siamface.serve.photos import Face, UploadAligner
from siamface.serve.problems import ApiError
from siamface.serve.workers import WorkerPool

_process_aligner: UploadAligner | None = None  # a worker process's own (made by _start_process)


def _start_process(preprocessing: Preprocessing, detect: bool, max_file_bytes: int) -> None:
    import cv2

    global _process_aligner
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    cv2.setNumThreads(1)  # one core a process (PyTorch is not loaded here: no model)
    _process_aligner = UploadAligner(preprocessing, detect, max_file_bytes)


def _process_face(data: bytes, field: str) -> Face:
    return _process_aligner.face(data, field)


def _process_id() -> int:
    return os.getpid()


class PhotoPool:
    """Decode and align uploads: in ``processes`` worker processes, or with none on ``threads``.

    Args:
        preprocessing, detect, max_file_bytes: What every ``UploadAligner`` is made with.
        processes: Worker processes; 0: align on the worker threads (one aligner a thread).
        threads: The server's worker threads.
    """

    def __init__(self, preprocessing: Preprocessing, detect: bool, max_file_bytes: int,
                 processes: int, threads: WorkerPool) -> None:
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, got {processes}")
        self.preprocessing = preprocessing
        self.detect = detect
        self.max_file_bytes = max_file_bytes
        self.processes = processes
        self.threads = threads
        self._executor: ProcessPoolExecutor | None = None
        self._local = threading.local()

    async def start(self) -> None:
        """Start the worker processes now (each imports siamface: seconds), not at the first
        photo."""
        if self.processes:
            loop = asyncio.get_running_loop()
            executor = self._processes()
            await asyncio.gather(*(loop.run_in_executor(executor, _process_id)
                                   for _ in range(self.processes)))

    async def face(self, data: bytes, field: str) -> Face:
        """The upload's largest face, aligned.

        Raises:
            ApiError: as ``UploadAligner.face``; 503 when the worker process died at it.
        """
        if not self.processes:
            return await self.threads.run(self._thread_face, data, field)
        executor = self._processes()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, _process_face, data, field)
        except BrokenProcessPool:
            if self._executor is executor:  # the first request to see it replaces it
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise ApiError(503, field, f"{field}: the worker process reading it stopped; "
                           "send the request again") from None

    async def faces(self, uploads: list[tuple[bytes, str]]) -> list[Face]:
        """Several uploads' faces, aligned at once; the first upload (in order) that fails
        names the error."""
        results = await asyncio.gather(*(self.face(data, field) for data, field in uploads),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def close(self) -> None:
        """Stop the worker processes (a later photo starts new ones)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _processes(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes, multiprocessing.get_context("spawn"),
                initializer=_start_process,
                initargs=(self.preprocessing, self.detect, self.max_file_bytes))
        return self._executor

    def _thread_face(self, data: bytes, field: str) -> Face:
        """``UploadAligner.face`` with the calling worker thread's own aligner."""
        aligner = getattr(self._local, "aligner", None)
        if aligner is None:
            aligner = UploadAligner(self.preprocessing, self.detect, self.max_file_bytes)
            self._local.aligner = aligner
        return aligner.face(data, field)
