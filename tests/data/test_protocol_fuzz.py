"""Fuzzing the pairs and people parsers: any input parses or is a ProtocolError, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from siamface.data.protocol import ProtocolError, read_pairs, read_people

COUNTS = {"Ann_Ax": 3, "Bo_By": 1, "Cy_Cz": 2}
PARSERS = {"pairs": read_pairs, "people": read_people}
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that looks like a protocol file: numbers (some huge), names (known, unknown, odd),
# tabs, spaces, newlines and a few other characters, so that fuzzing reaches past the header.
TOKENS = st.sampled_from(["0", "1", "2", "3", "10", "-1", "9" * 5000, "1e3", "Ann_Ax", "Bo_By",
                          "Cy_Cz", "Zed", ".hidden", "a/b", "\t", " ", "\n", "\r\n", "\ufeff",
                          "\u2028", "\x0c", "\x00", "١"])
LIKELY = st.lists(TOKENS, max_size=40).map("".join)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)


def parse(tmp_path, parser: str, data: bytes, counts) -> None:
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    try:
        PARSERS[parser](path, image_counts=counts)
    except ProtocolError as err:
        assert str(err).startswith(f"{path}:")


@pytest.mark.parametrize("counts", [None, COUNTS], ids=["alone", "against-images"])
@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(text=st.one_of(LIKELY, ANY_TEXT))
@example(text="1\n" + "9" * 5000 + "\n")
@example(text="9" * 5000)
def test_any_text(tmp_path, parser, counts, text):
    parse(tmp_path, parser, text.encode("utf-8"), counts)


@pytest.mark.parametrize("counts", [None, COUNTS], ids=["alone", "against-images"])
@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=200))
@example(data=b"1\nJos\xe9_Ax\t1\t2\n")
def test_any_bytes(tmp_path, parser, counts, data):
    parse(tmp_path, parser, data, counts)


def test_a_number_too_long_for_int_is_a_protocol_error(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("1\nAnn_Ax 1 " + "2" * 5000 + "\n")
    with pytest.raises(ProtocolError, match=r"pairs\.txt:2: image number `2{57}\.\.\.` of 5,000 "
                                            r"digits; expected a positive integer of at most 9"):
        read_pairs(path)
