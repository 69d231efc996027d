"""Reading the text and JSON files siamface wrote, when they may since have been damaged.

A run or study folder's files can be cut short by a full disk, edited by hand or replaced by
something else; reading one then says which file and what is wrong with it in one line,
instead of a UnicodeDecodeError or JSONDecodeError traceback.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any

from siamface.errors import SiamfaceError


class DamagedFileError(SiamfaceError, ValueError):
    """A file that is not what siamface wrote there; the message names it."""


class UnprintableNameError(SiamfaceError, ValueError):
    """A file or folder name with control characters or bytes that are not UTF-8, which no
    report or table can show as itself."""


def check_printable_name(path: Path,
                         error: type[SiamfaceError] = UnprintableNameError) -> None:
    """Refuse ``path`` if its name does not print as itself (``error``, naming it)."""
    if not path.name.isprintable():
        raise error(
            f"{path}: the name {path.name!r} has control characters or bytes that are not "
            "UTF-8; rename it so that it prints as itself")


def utf8_path(path: str | Path, error: type[SiamfaceError] = UnprintableNameError) -> str:
    """``path`` as text for safetensors, which opens only paths that are UTF-8: ``error``
    (naming it) where it holds other bytes."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{path}: the path has bytes that are not UTF-8, and safetensors opens no "
                    "such path; move or rename it") from None
    return text


def read_text(path: str | Path, error: type[SiamfaceError] = DamagedFileError) -> str:
    """The UTF-8 text of ``path``; ``error`` (naming the file) where its bytes are not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: bytes that are not UTF-8 (at byte {err.start}); expected a text "
                    "file") from None


def read_json_object(path: str | Path, required: tuple[str, ...] = (),
                     error: type[SiamfaceError] = DamagedFileError) -> dict[str, Any]:
    """The JSON object in ``path``, holding at least the keys ``required``.

    Raises:
        error: naming the file, where it is not UTF-8, not JSON, not an object or lacks a key.
    """
    try:
        value = json.loads(read_text(path, error))
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise error(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object, got {type(value).__name__}")
    missing = [key for key in required if key not in value]
    if missing:
        raise error(f"{path}: missing {', '.join(repr(key) for key in missing)}")
    return value


def read_json_object_if_present(path: str | Path, required: tuple[str, ...] = (),
                                error: type[SiamfaceError] = DamagedFileError
                                ) -> dict[str, Any] | None:
    """``read_json_object(path)``, or None where there is no such file."""
    return read_json_object(path, required, error) if Path(path).is_file() else None


def is_number(value: Any, kind: type = float, finite: bool = True) -> bool:
    """Whether ``value`` is a real number (``kind=int``: a whole one), numpy's included, and
    not a boolean; ``finite``: not NaN or infinite either."""
    if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if kind is int else numbers.Real):
        return False
    return not (finite and not isinstance(value, numbers.Integral) and not math.isfinite(value))


def number_at(data: Any, keys: tuple[str, ...], path: str | Path, prefix: str = "",
              error: type[SiamfaceError] = DamagedFileError) -> float | None:
    """``data[keys[0]][keys[1]]...`` read from ``path``: a number, NaN or null (a metric that
    could not be computed), never an infinity (no metric siamface writes is one).

    Raises:
        error: Naming ``path`` and the dotted key (after ``prefix``), when it is missing or not
            a number.
    """
    name = prefix + ".".join(keys)
    value = data
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise error(f"{path}: no {name}: the file was damaged or edited")
        value = value[key]
    if value is not None and not (is_number(value) or (is_number(value, finite=False)
                                                        and math.isnan(value))):
        raise error(f"{path}: {name} is {value!r}, expected a number")
    return value


def is_inside(relative: Any) -> bool:
    """Whether a path recorded relative to its folder (a run's, "seed-1/default-...") is a
    string that stays inside that folder: not absolute, no "..", not empty."""
    return (isinstance(relative, str) and bool(Path(relative).parts)
            and not Path(relative).is_absolute() and ".." not in Path(relative).parts)
