"""The `siamface` command's entry point: the command line is imported where Ctrl-C is caught,
so that an interrupt while its modules load ends with the one line an interrupt during the
work ends with, not a traceback."""

from __future__ import annotations

import sys


def console() -> None:
    """Import the command line, then run it (``siamface.cli.main.console``)."""
    try:
        from siamface.cli.main import console as run
    except KeyboardInterrupt:
        print("siamface: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    run()
