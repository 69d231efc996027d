import pytest

from siamface.errors import reason_of


@pytest.mark.parametrize("message, last, expected", [
    ("bad value\n  details", False, "bad value"),
    ("\n  Error(s) in loading:\n\tsize mismatch for w  \n", True, "size mismatch for w"),
    ("", False, "ValueError"),
    (" \n\t", True, "ValueError"),
])
def test_the_reason_quoted_is_one_non_blank_line_or_the_type(message, last, expected):
    assert reason_of(ValueError(message), last=last) == expected
