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
    """Return the data home folder (not created here; refused where a file is).

    Args:
        data_dir: An explicit folder (the CLI's ``--data-dir``); wins over everything else.
            Without it, ``$SIAMFACE_DATA`` is used when set and not blank, else the
            platform's user cache folder for "siamface" (``~/.cache/siamface`` on Linux).

    Raises:
        DataHomeError: ``data_dir`` is empty or blank (``--data-dir ''`` is not read as "."),
            or the home is a file.
    """
    if data_dir is not None:
        if not str(data_dir).strip():
            raise DataHomeError("the data home (--data-dir, or data_dir in Python): expected a "
                                "folder, got an empty name")
        home = Path(data_dir).expanduser()
    elif os.environ.get(ENV_VAR, "").strip():
        home = Path(os.environ[ENV_VAR]).expanduser()
    else:
        home = Path(platformdirs.user_cache_dir("siamface"))
    if home.exists() and not home.is_dir():
        raise DataHomeError(f"{home}: the data home must be a folder (or a path to make one), "
                            "and this is a file")
    return home
