import pytest

from siamface.utils.registry import Registry


def test_build_by_name_and_unknown_name_lists_choices():
    reg: Registry[int] = Registry("widget")
    reg.register("double")(lambda x: 2 * x)
    assert reg.build("double", x=4) == 8
    assert "double" in reg and reg.names() == ["double"]
    with pytest.raises(KeyError, match="unknown widget 'triple'; choose one of: double"):
        reg.build("triple")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("double")(lambda x: x)
