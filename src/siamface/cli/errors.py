"""The command line's own errors: options that do not go together or are out of range, and a
pretrained model's folder given to a command that needs a training run."""

from pathlib import Path

from siamface.errors import SiamfaceError


class UsageError(SiamfaceError, ValueError):
    """A command was given options it cannot run with; the message says which and why."""


def refuse_pretrained(folder: Path, command: str) -> None:
    """A pretrained model's folder is a RUN for verify and identify only: say so, rather than
    that it is an unfinished run."""
    from siamface.inference.pretrained import is_pretrained

    if is_pretrained(folder):
        raise UsageError(f"{folder} is a pretrained model's folder (outside data): verify and "
                         f"identify take it, but `siamface {command}` needs a training run "
                         "(`siamface pretrained --test` scores it on pairsDevTest once)")
