"""What the server lets in: request size, Host and Origin, and the API key for writes.

- A request body over ``max_request_bytes`` is refused from its Content-Length (413) and a
  body sent without one (chunked) is refused (411), so nothing unbounded is ever read.
- A body that stops arriving (no part for ``body_timeout_s``), or that trickles in slower
  than MIN_BODY_RATE overall, is answered 408 and its connection closed, so a stalled or
  trickling client cannot hold it open for ever. The body is read whole (at most
  ``max_request_bytes``) before the application sees the request.
- With ``allowed_hosts`` set (the CLI sets the names given with --allowed-host, else the
  loopback names when it listens on loopback), a request for another Host is refused (421): a
  web page on another site cannot reach the server by pointing its own name at its address
  (DNS rebinding).
- A write sent by a browser from another origin (its Origin header names another host) is
  refused (403): a page elsewhere cannot post a form to it.
- With an API key, every write needs it in the X-API-Key header (401).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siamface.errors import ConfigError
from siamface.serve.problems import ApiError, error_response

API_KEY_HEADER = "X-API-Key"
# The slowest a request body may arrive on average, in bytes a second, beyond the first
# body_timeout_s: a 24 MiB upload may take 30 s + 25 min, a 1 MB photo 30 s + 1 min.
MIN_BODY_RATE = 16 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Headers the checks below read, each of which a request may send once: with two Host or
# Origin headers, one could pass the check while the other is the one meant.
SINGLE_HEADERS = ("Host", "Origin", "Content-Length", API_KEY_HEADER)


@dataclass(frozen=True)
class ServeOptions:
    """How the server takes requests.

    Args:
        api_key: Needed in the X-API-Key header by every write; None: no key.
        workers: Threads for model work (see ``workers.WorkerPool``).
        photo_processes: Processes that decode and align uploads (``photo_pool.PhotoPool``);
            0: the worker threads do it.
        max_file_bytes: The largest uploaded photo.
        max_request_bytes: The largest request body.
        max_photos: The most photos in one enroll request.
        allowed_hosts: Host names the server answers to; None: any.
        body_timeout_s: The longest wait for the next part of a request body.
    """

    api_key: str | None = None
    workers: int = 2
    photo_processes: int = 0
    max_file_bytes: int = 10 * 2**20
    max_request_bytes: int = 24 * 2**20
    max_photos: int = 10
    allowed_hosts: tuple[str, ...] | None = None
    body_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        key = self.api_key
        # HTTP carries header values as bytes, read as Latin-1, and drops the spaces around
        # them: a key outside printable ASCII, or with spaces at its ends, could never match.
        if key is not None and (not key or key != key.strip(" \t")
                                or not all(" " <= c <= "~" for c in key)):
            raise ConfigError("the API key must be printable ASCII characters (letters, digits, "
                              "punctuation, inner spaces) with no space at either end: a header "
                              "cannot carry any other key unchanged")


class RequestGuard:
    """ASGI middleware: the body size limit and timeout, the Host check and the Origin check for
    writes.

    Args:
        app: The application it guards.
        options: The limits and allowed hosts.
    """

    def __init__(self, app: ASGIApp, options: ServeOptions) -> None:
        self.app = app
        self.options = options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = [k.decode("latin-1").lower() for k, _ in scope["headers"]]
            headers = dict(zip(names, (v.decode("latin-1") for _, v in scope["headers"]),
                               strict=True))
            refusal = _repeated(names) or self._refusal(scope["method"], headers)
            if refusal is not None:
                await error_response(*refusal)(scope, receive, send)
                return
            try:  # (the length is a number: _refusal checked it)
                body = await self._read_body(receive, int(headers.get("content-length", 0)))
            except asyncio.TimeoutError:  # (Python 3.10's is not the builtin TimeoutError)
                await error_response(408, "body", "the request body did not arrive in time: "
                                     "parts came too slowly, or stopped")(scope, receive, send)
                return
            if body is None:  # the client went away: nobody to answer
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive, length: int) -> bytes | None:
        """The whole request body of ``length`` bytes, or None when the client disconnected;
        asyncio.TimeoutError when a part takes longer than ``body_timeout_s`` or the whole body
        longer than that plus its length at MIN_BODY_RATE."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.body_timeout_s + length / MIN_BODY_RATE
        parts = []
        more = True
        while more:
            wait = min(self.options.body_timeout_s, deadline - loop.time())
            if wait <= 0:
                raise asyncio.TimeoutError
            message = await asyncio.wait_for(receive(), wait)
            if message["type"] != "http.request":
                return None
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        return b"".join(parts)

    def _refusal(self, method: str, headers: Mapping[str, str]) -> tuple[int, str, str] | None:
        host = _host_name(headers.get("host", "")).lower()  # host names ignore case
        if self.options.allowed_hosts is not None and host not in {
                h.lower() for h in self.options.allowed_hosts}:
            return (421, "Host", f"this server answers to {', '.join(self.options.allowed_hosts)}"
                    f", not {host!r}")
        if method in WRITE_METHODS and "origin" in headers:
            origin = urlsplit(headers["origin"]).netloc
            if origin != headers.get("host"):
                return (403, "Origin", f"writes from another origin ({headers['origin']}) are "
                        "refused")
        if "transfer-encoding" in headers:  # any coding, any case: its length is not known
            return (411, "Content-Length", "send the request body with a Content-Length")
        length = headers.get("content-length")
        if length is None:
            return None
        if not (length.isascii() and length.isdigit()):  # not "²", which isdigit() takes
            return (400, "Content-Length", f"not a number: {length!r}")
        if int(length) > self.options.max_request_bytes:
            return (413, "Content-Length", f"the request is {int(length):,} bytes; the limit is "
                    f"{self.options.max_request_bytes:,} bytes")
        return None


def _repeated(names: list[str]) -> tuple[int, str, str] | None:
    """A 400 for the first of SINGLE_HEADERS that ``names`` (lower case) holds twice."""
    for header in SINGLE_HEADERS:
        times = names.count(header.lower())
        if times > 1:
            return (400, header, f"the {header} header was sent {times} times; send it once")
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then waits as ``receive`` does (for the
    client's disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "::1"."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def api_key_check(expected: str | None):  # -> a FastAPI dependency
    """A dependency that refuses a write without the right key; with no key set, it lets every
    write through.

    Args:
        expected: The server's key, or None.
    """

    async def check_api_key(
        x_api_key: str | None = Header(None, description="the server's API key (writes)"),
    ) -> None:
        if expected is None:
            return
        if x_api_key is None:
            raise ApiError(401, API_KEY_HEADER, f"this server needs its API key in the "
                           f"{API_KEY_HEADER} header for every write")
        if not secrets.compare_digest(x_api_key.encode(), expected.encode()):
            raise ApiError(401, API_KEY_HEADER, "wrong API key")

    return check_api_key


def sent_once(form: tuple[str, ...] = (), query: tuple[str, ...] = ()):  # -> a dependency
    """A dependency that refuses a request sending any of its single-valued ``form`` fields or
    ``query`` parameters more than once: FastAPI would silently take the last one.

    Args:
        form: Form fields (multipart or urlencoded) the endpoint reads one of.
        query: Query parameters it reads one of.
    """

    async def check_sent_once(request: Request) -> None:
        data = await request.form() if form else None  # FastAPI's own, cached; any content type
        counts = [(f, len(data.getlist(f))) for f in form]
        counts += [(q, len(request.query_params.getlist(q))) for q in query]
        for field, times in counts:
            if times > 1:
                raise ApiError(422, field, f"{field} was sent {times} times; send it once")

    return check_sent_once
