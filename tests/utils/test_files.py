"""Reading files siamface wrote that may since have been damaged: one line naming the file."""

import math

import numpy as np
import pytest

from siamface.errors import ConfigError, SiamfaceError
from siamface.utils.files import (
    DamagedFileError,
    is_number,
    number_at,
    read_json_object,
    read_json_object_if_present,
    read_text,
)


def test_text_that_is_not_utf8_names_the_file_and_the_byte(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"ok: 1\n\xff")
    with pytest.raises(DamagedFileError, match=rf"^{path}: bytes that are not UTF-8 \(at byte 6\)"):
        read_text(path)
    with pytest.raises(ConfigError, match="not UTF-8"):  # the caller's own error type
        read_text(path, ConfigError)


@pytest.mark.parametrize(("text", "problem"), [
    ('{"a": 1,\n', r"not valid JSON \(line 2: Expecting property name"),
    ("", r"not valid JSON \(line 1: Expecting value\)"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"a": 1}', "missing 'b', 'c'"),
])
def test_a_damaged_json_object_is_named_with_its_problem(tmp_path, text, problem):
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DamagedFileError, match=rf"^{path}: {problem}"):
        read_json_object(path, ("a", "b", "c"))


def test_a_sound_object_is_returned_and_a_missing_file_is_none(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": 1, "b": [2]}', encoding="utf-8")
    assert read_json_object(path, ("a",)) == {"a": 1, "b": [2]}
    assert read_json_object_if_present(path) == {"a": 1, "b": [2]}
    assert read_json_object_if_present(tmp_path / "absent.json") is None
    assert issubclass(DamagedFileError, SiamfaceError)  # the CLI prints it as one line


def test_json_nested_too_deeply_is_named(tmp_path):
    path = tmp_path / "study.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(DamagedFileError, match=rf"^{path}: not valid JSON \(nested too deeply\)"):
        read_json_object(path)


@pytest.mark.parametrize(("value", "kind", "finite", "expected"), [
    (1, float, True, True), (1.5, int, True, False), (np.int64(3), int, True, True),
    (np.float32(0.5), float, True, True), (True, int, True, False), ("1", float, True, False),
    (float("nan"), float, True, False), (float("nan"), float, False, True),
    (10**400, int, True, True),
    (None, float, False, False)])
def test_is_number_takes_numpy_numbers_and_refuses_booleans(value, kind, finite, expected):
    assert is_number(value, kind, finite) is expected


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (3, 3), (None, None), (float("nan"), "nan"),  # NaN, null: not computable
    (float("inf"), "error"), (float("-inf"), "error"), ("0.5", "error"), (True, "error"),
])
def test_number_at_takes_numbers_nan_and_null_but_no_infinity(tmp_path, value, expected):
    data, path = {"a": {"b": value}}, tmp_path / "m.json"
    if expected == "error":
        with pytest.raises(DamagedFileError, match=r"m\.json: a\.b is .*, expected a number$"):
            number_at(data, ("a", "b"), path)
    elif expected == "nan":
        assert math.isnan(number_at(data, ("a", "b"), path))
    else:
        assert number_at(data, ("a", "b"), path) == expected
