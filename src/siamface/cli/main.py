"""The `siamface` command line: a top-level parser and one module per command group.

Each module in COMMAND_GROUPS exposes ``register(subparsers) -> None``, which adds its
sub-parser and sets ``func``, a handler ``(args: argparse.Namespace) -> int``. Handlers import
their heavy dependencies (torch, matplotlib) themselves, so that ``siamface --help`` is quick.

While a handler runs, siamface's own warnings (``SiamfaceWarning``) are printed as one-line
notices, ``siamface: note: ...``, each distinct one once, and so are Pillow's warnings about a
photo being read, named by the photo; other warnings are shown as Python shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from siamface import __version__
from siamface.cli import data, evaluate, experiments, run, serve, train, use
from siamface.data.preprocess import READING
from siamface.errors import SiamfaceError, SiamfaceWarning, WorkFailedError

COMMAND_GROUPS = (data, train, evaluate, run, use, serve, experiments)

# Errors that mean "bad input or environment", not "bug": one line on stderr, no traceback.
# SiamfaceError is every error siamface raises about what it was given (a config, a file, a run
# folder, an option); OSError a missing file, a full disk or no network. Anything else is a bug
# and shows its traceback.
USER_ERRORS = (SiamfaceError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamface",
        description="One-shot face verification with Siamese networks on LFW.",
    )
    parser.add_argument("--version", action="version", version=f"siamface {__version__}")
    parser.add_argument(
        "--data-dir",
        default=None,  # a str: resolve_data_home refuses '' (a Path would make it ".")
        help="data home (default: $SIAMFACE_DATA, else the user cache folder)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    return parser


@contextlib.contextmanager
def warnings_as_notices() -> Iterator[None]:
    """Print each distinct ``SiamfaceWarning`` once, as ``siamface: note: <message>`` on stderr,
    and a warning Pillow gives while a photo is read as
    ``siamface: note: <photo>: <message> (Pillow)``.

    The warning filters are left as they are (``-W error`` still raises, ``ignore`` still
    hides); only how a shown warning looks changes: its message, without the file, line and
    category Python adds.
    """
    shown: set[str] = set()
    with warnings.catch_warnings():
        show_other = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            photo = READING.get()  # set on this thread while it reads a photo
            if issubclass(category, SiamfaceWarning):
                text = " ".join(str(message).split())
            elif photo is not None and "PIL" in Path(filename).parts:
                text = f"{photo}: {' '.join(str(message).split())} (Pillow)"
            else:
                show_other(message, category, filename, lineno, file, line)
                return
            if text not in shown:
                shown.add(text)
                print(f"siamface: note: {one_line(text)}", file=sys.stderr)

        warnings.showwarning = show
        yield


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be: the command stops the same
    way (a trial is failed at once, a file being written is finished or left out whole)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _default_sigterm_in_child() -> None:
    """A forked worker (the image cache's) dies by SIGTERM as it did before it was forked."""
    if signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):  # (not on Windows, which has no fork)
    os.register_at_fork(after_in_child=_default_sigterm_in_child)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops the command as Ctrl-C does (main thread only:
    only it can set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def console() -> None:
    """The `siamface` command: exit with ``main``'s code, or, when SIGTERM stopped it, die by
    SIGTERM once its line is printed, as a process stopped by the signal is expected to (a
    service manager counts that as a clean stop, and exit code 143 as a failure)."""
    code = main()
    if code == 128 + signal.SIGTERM:
        sys.stdout.flush()  # dying by the signal skips Python's own flush at exit
        sys.stderr.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    raise SystemExit(code)


def one_line(text: str) -> str:
    """``text`` as one line that any stream can print: a file name's bytes that are not UTF-8
    (surrogates, as os.listdir gives them) shown as ``\udcff``."""
    return " ".join(text.splitlines()).encode(errors="backslashreplace").decode()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``siamface`` with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        with warnings_as_notices(), sigterm_as_interrupt():
            return args.func(args)
    except USER_ERRORS as err:
        print(f"siamface: error: {one_line(str(err))}", file=sys.stderr)
        return 1 if isinstance(err, WorkFailedError) else 2
    except Terminated:
        print("siamface: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("siamface: interrupted", file=sys.stderr)
        return 130
