"""Where siamface keeps its data: --data-dir > $SIAMFACE_DATA > the platform's user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from siamface.errors import SiamfaceError

ENV_VAR = "SIAMFACE_DATA"


class DataHomeError(SiamfaceError, ValueError):
    """An explicit data home that names no folder."""


def resolve_data_home(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data home folder (not created here).

    Args:
        data_dir: An explicit folder (the CLI's ``--data-dir``); wins over everything else.
            Without it, ``$SIAMFACE_DATA`` is used when set and non-empty, else the
            platform's user cache folder for "siamface" (``~/.cache/siamface`` on Linux).

    Raises:
        DataHomeError: ``data_dir`` is empty or blank (``--data-dir ''`` is not read as ".").
    """
    if data_dir is not None:
        if not str(data_dir).strip():
            raise DataHomeError("the data home (--data-dir, or data_dir in Python): expected a "
                                "folder, got an empty name")
        return Path(data_dir).expanduser()
    from_env = os.environ.get(ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_cache_dir("siamface"))
