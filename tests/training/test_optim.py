"""Optimizers by name and the weight-decay parameter groups."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn

from siamface.config import ConfigError, OptimConfig
from siamface.training.optim import (
    OPTIMIZERS,
    build_optimizer,
    check_loaded_state,
    param_groups,
)
from siamface.utils.files import DamagedFileError


class Tiny(nn.Module):
    """conv (weight, bias) -> BatchNorm (weight, bias) -> two linears, and a learned scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        self.fc = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 1)  # "fc" must not match "fc2" as a prefix
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def names_by_group(model: nn.Module, groups: list[dict]) -> dict[str, tuple[float, set[str]]]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return {g["group"]: (g["weight_decay"], {ids[id(p)] for p in g["params"]}) for g in groups}


def test_biases_norms_and_scalars_get_no_decay() -> None:
    model = Tiny()
    groups = names_by_group(model, param_groups(model, weight_decay=0.1))
    assert groups == {
        "default": (0.1, {"features.0.weight", "fc.weight", "fc2.weight"}),
        "no_decay": (0.0, {"features.0.bias", "features.1.weight", "features.1.bias",
                           "fc.bias", "fc2.bias", "scale"}),
    }  # frozen.* is left out: it does not train


def test_layer_prefixes_override_the_global_decay_longest_first() -> None:
    model = Tiny()
    layer = {"fc": 0.5, "features": 0.01, "features.0": 0.02}
    groups = names_by_group(model, param_groups(model, 0.1, layer))
    assert groups["fc"] == (0.5, {"fc.weight"})
    assert groups["features.0"] == (0.02, {"features.0.weight"})
    assert groups["default"] == (0.1, {"fc2.weight"})
    assert "fc.bias" in groups["no_decay"][1]  # a prefix does not put decay on a bias


def test_prefix_matching_no_parameter_is_an_error_listing_names() -> None:
    with pytest.raises(ConfigError, match=r"prefix 'backbone\.fc' matches no parameter of Tiny; "
                                          r"its parameters are: scale, features\.0\.weight"):
        param_groups(Tiny(), 0.0, {"backbone.fc": 0.1})
    with pytest.raises(ConfigError, match=r"prefix 'features\.1\.w'"):
        param_groups(Tiny(), 0.0, {"features.1.w": 0.1})  # only whole name components match


def test_groups_are_deterministic() -> None:
    a = [g["group"] for g in param_groups(Tiny(), 0.1, {"fc": 0.5})]
    b = [g["group"] for g in param_groups(Tiny(), 0.1, {"fc": 0.5})]
    assert a == b == ["no_decay", "default", "fc"]  # in order of first parameter ("scale")


@pytest.mark.parametrize(
    ("name", "cls", "extra"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("adam", torch.optim.Adam, {"betas": [0.5, 0.9]}),
        ("adamw", torch.optim.AdamW, {"betas": [0.5, 0.9]}),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.3}),
    ],
)
def test_build_optimizer_by_name(name: str, cls: type, extra: dict) -> None:
    opt = build_optimizer({"name": name, "lr": 0.05, "weight_decay": 0.01, **extra}, Tiny())
    assert type(opt) is cls
    for group in opt.param_groups:
        assert group["lr"] == 0.05
        assert group["weight_decay"] == (0.0 if group["group"] == "no_decay" else 0.01)
        for key, value in extra.items():
            assert group[key] == (tuple(value) if key == "betas" else value)


def test_registry_has_the_four_optimizers() -> None:
    assert OPTIMIZERS.names() == ["adam", "adamw", "rmsprop", "sgd"]


def test_hyperparameter_the_optimizer_lacks_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"optim\.betas does not apply to optimizer 'sgd'"):
        build_optimizer(OptimConfig(name="sgd", betas=[0.9, 0.99]), Tiny())
    with pytest.raises(ConfigError, match="unknown optimizer 'lbfgs'; choose one of: adam"):
        build_optimizer({"name": "lbfgs"}, Tiny())


def test_decay_acts_on_weights_only() -> None:
    # with zero gradients, an SGD step changes a parameter only through its weight decay:
    # w <- w - lr * wd * w
    model = Tiny()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer({"name": "sgd", "lr": 0.5, "weight_decay": 0.2,
                           "layer_weight_decay": {"fc2": 0.0}}, model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        shrink = 0.9 if name in ("features.0.weight", "fc.weight") else 1.0
        torch.testing.assert_close(p.detach(), before[name] * shrink)


def test_a_loaded_state_is_checked_against_the_optimizer_it_was_loaded_into(tmp_path) -> None:
    model = nn.Linear(3, 2)
    optimizer = build_optimizer({"name": "adam", "lr": 1e-3}, model)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]  # as a schedule leaves it
    saved = optimizer.state_dict()

    def load(edit=lambda state: None) -> None:
        state = copy.deepcopy(saved)
        edit(state)
        fresh = build_optimizer({"name": "adam", "lr": 1e-3}, model)
        built = [dict(group) for group in fresh.param_groups]
        fresh.load_state_dict(state)
        check_loaded_state(fresh, built, tmp_path / "trainer_state.pt")

    load()  # as saved: it fits
    edits = {
        "the optimizer's 'exp_avg' of shape (1, 2) is for a parameter of shape (2, 3)":
            lambda s: s["state"][0].update(exp_avg=torch.zeros(1, 2)),
        "the optimizer's 'exp_avg_sq' holds NaN": lambda s: s["state"][0]["exp_avg_sq"].fill_(
            float("nan")),
        "'base_lr' is 'x', expected a finite number": lambda s: s["param_groups"][0].update(
            base_lr="x"),
        "'lr' is nan, expected a finite number": lambda s: s["param_groups"][0].update(
            lr=float("nan")),
        "'amsgrad' is 1.0, expected False": lambda s: s["param_groups"][0].update(amsgrad=1.0),
    }
    for message, edit in edits.items():
        with pytest.raises(DamagedFileError, match=r"trainer_state\.pt: .*" + re.escape(message)):
            load(edit)
