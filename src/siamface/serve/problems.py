"""Every error the API answers, as JSON that names the field and the problem.

    {"field": "image_a", "message": "no face found in image_a (...)", "status": 422}

Validation errors list each problem under ``errors`` too. Bad input (an unreadable image, no
face) is a 4xx; a 5xx means a bug or a broken server, and among siamface's own errors only the
gallery database's: 503 while another process holds it (with Retry-After), 500 when damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from siamface.errors import SiamfaceError
from siamface.serve.store import is_busy

RETRY_AFTER = "1"  # seconds


class ApiError(Exception):
    """An error answer.

    Args:
        status: The HTTP status (4xx for anything the client sent).
        field: The request field at fault ("image_a", "name", "X-API-Key"), or None.
        message: What is wrong and what is expected, one line.
    """

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def __reduce__(self):  # as it is made, for the trip back from a worker process
        return type(self), (self.status, self.field, self.message)


def error_response(status: int, field: str | None, message: str,
                   headers: Mapping[str, str] | None = None, **extra: object) -> JSONResponse:
    """The JSON error body every error shares (``headers``: e.g. a 405's Allow); every 503
    (a photo worker that died, a database another process kept busy) says Retry-After."""
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER, **(headers or {})}
    return JSONResponse({"field": field, "message": message, "status": status, **extra},
                        status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer ApiError, siamface errors, validation and HTTP errors with the JSON error body."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.field, err.message)

    @app.exception_handler(SiamfaceError)
    async def siamface_error(_: Request, err: SiamfaceError) -> JSONResponse:
        status = getattr(err, "status", 422)
        return error_response(status, getattr(err, "field", None), " ".join(str(err).split()))

    @app.exception_handler(sqlite3.Error)
    async def database_error(_: Request, err: sqlite3.Error) -> JSONResponse:
        if is_busy(err):
            # another process held the write lock for all of BUSY_TIMEOUT_S: nothing is wrong
            return error_response(
                503, "database", "the gallery database is busy: another process is writing to "
                "it; nothing was changed, send the request again")
        # damage found by a query after start-up: an answer, not a plain-text 500
        return error_response(500, "database", f"the gallery database failed: {err}")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = [_problem(e) for e in err.errors()]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        return error_response(422, first["field"], first["message"], errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        return error_response(err.status_code, None, str(err.detail), err.headers)  # a 405's Allow


def _problem(error: dict) -> dict[str, str | None]:
    """One of a RequestValidationError's errors as a field and a message."""
    if error.get("type") == "json_invalid":  # its location holds a character offset
        where = error.get("loc", ("body", "?"))[-1]
        return {"field": "body", "message": f"the request body is not valid JSON (at character "
                                           f"{where}: {error.get('msg', '')})"}
    field = _field_name(error.get("loc", ()))
    if "Expected UploadFile" in str(error.get("msg", "")):  # a text field where a file goes
        return {"field": field, "message": f"{field}: send a file (an image), not a text field"}
    if error.get("type") == "missing" and field is not None:  # (an empty form field too)
        return {"field": field, "message": f"{field} is required"}
    return {"field": field, "message": str(error.get("msg", ""))}


def _field_name(location: tuple | list) -> str | None:
    """("body", "image_a") -> "image_a"; ("query", "top_k") -> "top_k"."""
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) if parts else None
