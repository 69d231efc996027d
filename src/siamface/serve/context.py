"""ServerContext: what every endpoint works with, made once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from siamface.serve.faces import FaceService
from siamface.serve.guards import ServeOptions
from siamface.serve.photo_pool import PhotoPool
from siamface.serve.store import GalleryStore
from siamface.serve.workers import WorkerPool


@dataclass(frozen=True)
class ServerContext:
    """The model's service, the galleries, the worker pools and the options.

    Attributes:
        faces: The model's work on aligned photos.
        store: The galleries.
        pool: The threads where the model's work runs.
        photos: Where uploads are decoded and aligned.
        options: Limits and the API key.
        run_name: The run folder the model came from (shown by /api/version).
    """

    faces: FaceService
    store: GalleryStore
    pool: WorkerPool
    photos: PhotoPool
    options: ServeOptions
    run_name: str | None = None
