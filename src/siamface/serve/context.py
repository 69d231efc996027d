"""ServerContext: what every endpoint works with, made once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from siamface.serve.faces import FaceService
from siamface.serve.guards import ServeOptions
from siamface.serve.store import GalleryStore
from siamface.serve.workers import WorkerPool


@dataclass(frozen=True)
class ServerContext:
    """The model's service, the galleries, the worker pool and the options.

    Attributes:
        faces: The model's work on photos.
        store: The galleries.
        pool: Where CPU work runs.
        options: Limits and the API key.
        run_name: The run folder the model came from (shown by /api/version).
    """

    faces: FaceService
    store: GalleryStore
    pool: WorkerPool
    options: ServeOptions
    run_name: str | None = None
