"""create_app(): the FastAPI application of `siamface serve`.

    app = create_app(Verifier.from_run(run_dir), "galleries.sqlite3", ServeOptions())
    uvicorn.run(app, host="127.0.0.1", port=8000)

The JSON API lives under /api, its schema at /openapi.json, the web page at /. FastAPI's
interactive docs pages are off: they load their scripts from a CDN, and this server's pages
load nothing from anywhere else (the Content-Security-Policy says so to the browser too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siamface import __version__
from siamface.inference.verifier import Verifier
from siamface.serve.api_faces import faces_router
from siamface.serve.api_galleries import galleries_router
from siamface.serve.context import ServerContext
from siamface.serve.faces import FaceService
from siamface.serve.guards import RequestGuard, ServeOptions
from siamface.serve.photo_pool import PhotoPool
from siamface.serve.problems import install_error_handlers
from siamface.serve.store import GalleryStore
from siamface.serve.workers import WorkerPool

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def create_app(verifier: Verifier, db_path: str | Path,
               options: ServeOptions | None = None, run_name: str | None = None) -> FastAPI:
    """The application: ``verifier``'s model (loaded once), galleries in ``db_path``.

    Args:
        verifier: The model, its threshold and detection setting.
        db_path: The galleries' SQLite file (made if missing).
        options: Limits, the API key and the worker threads (defaults if None).
        run_name: The run the model came from, for /api/version.
    """
    options = options or ServeOptions()
    pool = WorkerPool(options.workers)
    photos = PhotoPool(verifier.preprocessing, verifier.detect, options.max_file_bytes,
                       options.photo_processes, pool)
    ctx = ServerContext(FaceService(verifier), GalleryStore(db_path), pool, photos, options,
                        run_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ctx.photos.start()
        yield
        ctx.photos.close()
        ctx.pool.close()
        ctx.store.close()

    app = FastAPI(title="siamface", version=__version__, lifespan=lifespan,
                  description="Face verification and identification with a Siamese network.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  # a DELETE of ".../people/.." that a client collapses to ".../<gallery>/"
                  # must not be redirected into a DELETE of the gallery
                  redirect_slashes=False)
    install_error_handlers(app)
    app.include_router(faces_router(ctx))
    app.include_router(galleries_router(ctx))

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(RequestGuard, options=options)
    app.add_middleware(SecurityHeaders)
    app.state.context = ctx
    return app


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response.

    Args:
        app: The application whose responses get them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in
                                        SECURITY_HEADERS.items())]
            await send(message)

        await self.app(scope, receive, send_with_headers)
