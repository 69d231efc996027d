"""`siamface serve RUN`: the REST API and the web page, run by uvicorn.

    siamface serve runs/default-20261123-121020             http://127.0.0.1:8000/
    SIAMFACE_API_KEY=secret siamface serve RUN --port 9000  writes need X-API-Key: secret
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from platformdirs import user_data_path

from siamface.cli.errors import UsageError
from siamface.utils.precision import PRECISIONS

API_KEY_ENV = "SIAMFACE_API_KEY"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# a photo's file, from 1 KiB (below, no photo would pass) to 1 GiB (the largest image decoded
# is held by MAX_PIXELS anyway)
MIN_UPLOAD_MB, MAX_UPLOAD_MB = 2**-10, 1024


def default_db() -> Path:
    """Where the galleries are kept unless --db says: the user data folder."""
    return user_data_path("siamface") / "galleries.sqlite3"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    serve = subparsers.add_parser(
        "serve",
        help="serve RUN's model: a REST API and a web page to verify and identify",
        description="Serve RUN's model over HTTP: a JSON API under /api (schema at "
        "/openapi.json) and a web page at /. Galleries are kept in a SQLite file. It listens "
        "on 127.0.0.1 (this machine only) unless --host says otherwise.",
    )
    serve.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 = every network)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="a host name the server answers to (repeat for more; default: the "
                       "loopback names when it listens on loopback, else any: on a network, "
                       "name it here so that a page elsewhere cannot reach it by DNS "
                       "rebinding)")
    serve.add_argument("--api-key", metavar="KEY", default=os.environ.get(API_KEY_ENV),
                       help=f"require KEY in the X-API-Key header for every write (default: "
                       f"${API_KEY_ENV}, else no key)")
    serve.add_argument("--db", type=Path, default=None, metavar="FILE",
                       help=f"the galleries' SQLite file (default {default_db()})")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="threads for model work, one core each (default: every core)")
    serve.add_argument("--photo-processes", type=int, default=None, metavar="N",
                       help="processes that decode and align uploads, each with its own Python "
                       "interpreter lock (default: as many as --workers; 0: the worker threads "
                       "do it)")
    serve.add_argument("--max-upload-mb", type=float, default=10.0, metavar="MB",
                       help="largest photo taken (default 10)")
    serve.add_argument("--no-detect", action="store_true",
                       help="skip face detection: photos are aligned LFW-style 250x250 frames")
    serve.add_argument("--precision", choices=PRECISIONS, default=None,
                       help="the embedding's precision (default: the run's train.precision)")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from siamface.inference.pretrained import refuse_pretrained

    refuse_pretrained(args.run, "`siamface serve`")
    try:  # the serve extra: fastapi, uvicorn, python-multipart
        import uvicorn

        from siamface.serve.app import create_app
    except ModuleNotFoundError as err:  # a missing install, not a bug
        raise UsageError(f"siamface serve needs the serve extra: pip install 'siamface[serve]' "
                         f"({err})") from None
    from siamface.inference.verifier import Verifier
    from siamface.serve.workers import fix_cpu_threads
    from siamface.utils.machine import usable_cores

    options = serve_options(args, usable_cores())
    # listening before the model loads: a port in use is one line, not a "serving" line first
    sock = listening_socket(args.host, args.port)
    fix_cpu_threads(1)  # each worker on one core: requests queue, cores are not oversubscribed
    precision = {} if args.precision is None else {"precision": args.precision}
    verifier = Verifier.from_run(args.run, detect=not args.no_detect, **precision)
    db = args.db if args.db is not None else default_db()
    app = create_app(verifier, db, options, run_name=args.run.resolve().name)
    hosts = ("any host name" if options.allowed_hosts is None
             else f"host names {', '.join(options.allowed_hosts)}")
    host, port = sock.getsockname()[:2]  # the port the system chose for --port 0
    url_host = f"[{host}]" if ":" in host else host
    print(f"siamface serve: {args.run} on http://{url_host}:{port}/ ({options.workers} "
          f"workers, {options.photo_processes} photo processes, galleries in {db}, "
          f"API key {'required for writes' if options.api_key else 'off'}, {hosts})",
          flush=True)
    # uvicorn's Server, not uvicorn.run, which would swallow Ctrl-C and SIGTERM: the command
    # then stops as every other does (a line, and exit 130 or death by SIGTERM)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (IPv6, and IPv4 beside it where the system
    allows, when ``host`` is an IPv6 address).

    Raises:
        UsageError: The system refuses it (a port in use, an address not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:  # "::" answers IPv4 clients too, as the system's default (and uvicorn's) socket does
        return socket.create_server((host, port), family=family, dualstack_ipv6=(
            family == socket.AF_INET6 and socket.has_dualstack_ipv6()))
    except OSError as err:  # (its message also repeats the address)
        reason = os.strerror(err.errno) if err.errno and err.errno > 0 else err.strerror
        raise UsageError(f"--host {host} --port {port}: cannot listen there "
                         f"({reason or err})") from None


def serve_options(args: argparse.Namespace, cores: int):  # -> ServeOptions
    """The server's limits, key and host names from the command line (``cores``: the default
    number of workers)."""
    from siamface.errors import ConfigError
    from siamface.serve.guards import ServeOptions

    workers = args.workers if args.workers is not None else cores
    processes = args.photo_processes if args.photo_processes is not None else workers
    # (a NaN limit fails the comparison, so it is refused too)
    for valid, option, expected, value in (
        (workers >= 1, "--workers", "at least 1 thread", workers),
        (processes >= 0, "--photo-processes", "0 or more processes", processes),
        (MIN_UPLOAD_MB <= args.max_upload_mb <= MAX_UPLOAD_MB, "--max-upload-mb",
         f"megabytes from {MIN_UPLOAD_MB:.4g} to {MAX_UPLOAD_MB}", args.max_upload_mb),
        (0 <= args.port <= 65535, "--port", "a port number from 0 to 65535", args.port),
    ):
        if not valid:
            raise ConfigError(f"{option}: expected {expected}, got {value}")
    # "[::1]" as a URL writes it; the Host check compares "::1"
    names = [name.strip().removeprefix("[").removesuffix("]") for name in args.allowed_host or ()]
    # a name as the Host header gives it without its port: "example.org", "10.0.0.5", "::1"
    if not all(names) or any("/" in n or n.count(":") == 1 or n != "".join(n.split())
                             for n in names):
        raise ConfigError(f"--allowed-host: expected host names without port or path, got "
                          f"{args.allowed_host}")
    max_file = int(args.max_upload_mb * 2**20)
    return ServeOptions(
        api_key=args.api_key or None, workers=workers, photo_processes=processes,
        max_file_bytes=max_file,
        max_request_bytes=max(24 * 2**20, 2 * max_file + 2**20),
        allowed_hosts=(tuple(names) if names else LOOPBACK if args.host in LOOPBACK else None),
    )

