"""Where siamface keeps its data: --data-dir > $SIAMFACE_DATA > the platform's user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "SIAMFACE_DATA"


def resolve_data_home(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data home folder (not created here).

    Args:
        data_dir: An explicit folder (the CLI's ``--data-dir``); wins over everything else.
            Without it, ``$SIAMFACE_DATA`` is used when set and non-empty, else the
            platform's user cache folder for "siamface" (``~/.cache/siamface`` on Linux).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_cache_dir("siamface"))
