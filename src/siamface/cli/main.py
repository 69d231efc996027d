"""The `siamface` command line: a top-level parser and one module per command group.

Each module in COMMAND_GROUPS exposes ``register(subparsers) -> None``, which adds its
sub-parser and sets ``func``, a handler ``(args: argparse.Namespace) -> int``. Handlers import
their heavy dependencies (torch, matplotlib) themselves, so that ``siamface --help`` is quick.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from siamface import __version__
from siamface.cli import data, evaluate, run, serve, train, use
from siamface.errors import SiamfaceError

COMMAND_GROUPS = (data, train, evaluate, run, use, serve)

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
        type=Path,
        default=None,
        help="data home (default: $SIAMFACE_DATA, else the user cache folder)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``siamface`` with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"siamface: error: {' '.join(str(err).splitlines())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("siamface: interrupted", file=sys.stderr)
        return 130
