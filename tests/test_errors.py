import pytest

from siamface.errors import ConfigError, reason_of
from siamface.training import builder
from siamface.training.builder import resolve_config


@pytest.mark.parametrize("message, last, expected", [
    ("bad value\n  details", False, "bad value"),
    ("\n  Error(s) in loading:\n\tsize mismatch for w  \n", True, "size mismatch for w"),
    ("", False, "ValueError"),
    (" \n\t", True, "ValueError"),
])
def test_the_reason_quoted_is_one_non_blank_line_or_the_type(message, last, expected):
    assert reason_of(ValueError(message), last=last) == expected


def test_a_component_refusing_without_a_message_is_still_named(monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError()

    monkeypatch.setattr(builder, "build_optimizer", refuse)
    refused = r"koch2015\.yaml: optim: sgd cannot be built from its values \(ValueError\)$"
    with pytest.raises(ConfigError, match=refused):
        resolve_config("koch2015")
