import re

import pytest

from siamface.errors import ConfigError, UnknownNameError
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


def test_an_unknown_name_is_a_config_error_and_a_key_error():
    reg: Registry[int] = Registry("widget")
    with pytest.raises(UnknownNameError) as info:
        reg.get("triple")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, KeyError)
    assert str(info.value) == "unknown widget 'triple'; choose one of: "  # no KeyError quotes


def test_check_kwargs_accepts_factories_with_var_keywords():
    def strict(a: int, b: int = 1) -> None: ...
    def loose(a: int, **kwargs: int) -> None: ...

    reg: Registry[None] = Registry("x")
    reg.register("strict")(strict)
    reg.register("loose")(loose)
    reg.check_kwargs("strict", {"b": 2}, "x")  # a missing required argument is the caller's job
    reg.check_kwargs("loose", {"anything": 1}, "x")
    expected = "unknown key x.c for strict; valid keys at x: name, a, b"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        reg.check_kwargs("strict", {"c": 3}, "x")


def test_check_types_keys_by_the_prefix_and_leaves_unknown_keys_to_the_factory():
    def head(eps: float = 1.0, name: str = "h") -> None: ...

    reg: Registry[None] = Registry("head")
    reg.register("h")(head)
    reg.check_types("h", {"eps": 2, "other": "x"}, "head_kwargs")
    with pytest.raises(ConfigError, match=r"^head_kwargs\.eps: expected a finite number, got 'x'$"):
        reg.check_types("h", {"eps": "x"}, "head_kwargs")


def test_kwargs_of_lists_the_forwarded_class_arguments_first_and_hides_supplied_ones():
    class Backbone:
        def __init__(self, width: int = 1, depth: int = 2) -> None: ...

    reg: Registry[None] = Registry("model", supplied=("dim",))
    reg.register("net", kwargs_of=Backbone)(lambda dim=0, head="h", **kwargs: None)
    assert reg.valid_keys("net") == ["width", "depth", "head"]
    with pytest.raises(ConfigError, match=re.escape("valid keys at model: name, width, depth")):
        reg.check_kwargs("net", {"widht": 3}, "model")


def test_build_section_names_every_mistake_by_the_section():
    reg: Registry[float] = Registry("loss")

    @reg.register("margin")
    def margin(margin: float = 1.0) -> float:
        if margin <= 0:
            raise ConfigError(f"margin must be positive, got {margin}")
        return margin * 2

    assert reg.build_section("margin", {"margin": 3.0}, "loss") == 6.0
    for kwargs, message in (({"margn": 1}, "unknown key loss.margn for margin"),
                            ({"margin": -1}, "loss.margin must be positive, got -1"),
                            ({"margin": "x"}, "loss.margin: expected a finite number, got 'x'"),
                            ({"margin": True}, "loss.margin: expected a finite number, got True")):
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            reg.build_section("margin", kwargs, "loss")
    with pytest.raises(UnknownNameError, match="unknown loss 'hinge'"):
        reg.build_section("hinge", {}, "loss")


def test_build_section_quotes_only_the_first_line_of_a_type_error():
    def sized(size: int = 1) -> None:
        raise TypeError("empty(): argument 'size' failed to unpack\nException raised from "
                        "THPUtils_unpackLong\nframe #0: c10::Error::Error")

    reg: Registry[None] = Registry("model")
    reg.register("sized")(sized)
    with pytest.raises(ConfigError) as info:
        reg.build_section("sized", {"size": 10**20}, "model")
    assert str(info.value) == "model: empty(): argument 'size' failed to unpack"


def test_a_factory_without_options_lists_name_as_its_only_key():
    reg: Registry[int] = Registry("loss")
    reg.register("plain")(lambda: 1)
    with pytest.raises(ConfigError) as info:
        reg.check_kwargs("plain", {"margin": 1}, "loss")
    assert str(info.value) == "unknown key loss.margin for plain; valid keys at loss: name"
