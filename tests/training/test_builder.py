"""Building a config's components: the model each shipped seed config builds, and what
``check_config`` refuses (through ``resolve_config``) by building every component once before
anything is written."""

from __future__ import annotations

import re

import pytest
import torch

from siamface.config import ConfigError, load_config
from siamface.training import builder
from siamface.training.builder import build_run_model, resolve_config

# What each seed project's report says of its best setup (issue 15), as the shipped configs hold
# it: model options, optimizer, lr, L2, batch, epochs, schedule, split, input.
SEED_REPORTS = {
    "seed000": ({"batchnorm": True, "init": "default"}, ("adam", 0.005, 0.0005, None), 32, 50,
                ("step", {"step_size": 5, "gamma": 0.95}), ("random", 0.2), 1),
    "seed001": ({"batchnorm": True, "fc_activation": "relu", "init": "default"},
                ("adam", 0.0001, 0.0, None), 128, 20, ("constant", {}), ("random", 0.2), 1),
    "seed002": ({"batchnorm": False, "block_dropout": [0.3, 0.0, 0.0, 0.0], "dropout": 0.02,
                 "init": "paper"}, ("sgd", 0.02, 0.001, 0.7), 64, 50,
                ("step", {"step_size": 1, "gamma": 0.99}), ("random", 0.2), 3),
    "seed003": ({"batchnorm": True, "width": 0.25, "init": "default"},
                ("adam", 0.001, 0.0, None), 32, 50, ("step", {"step_size": 1, "gamma": 0.99}),
                ("random", 0.1), 1),
}


@pytest.mark.parametrize("name", sorted(SEED_REPORTS))
def test_each_seed_config_is_its_reported_setup_and_builds(name: str) -> None:
    model, optim, batch, epochs, schedule, split, channels = SEED_REPORTS[name]
    c = load_config(name)
    assert c.model.name == "koch2015" and c.model.kwargs == model
    assert (c.optim.name, c.optim.lr, c.optim.weight_decay, c.optim.momentum) == optim
    assert (c.train.batch_size, c.train.epochs) == (batch, epochs)
    assert (c.schedule.name, c.schedule.kwargs) == schedule
    assert (c.data.split, c.data.val_fraction, c.data.sampling) == (*split, "pairs")
    assert (c.data.preprocessing, c.data.size, c.data.channels) == ("full", 105, channels)
    net = build_run_model(c).eval()
    assert net.embed(torch.rand(2, channels, 105, 105)).shape == (2, 4096)


@pytest.mark.parametrize(("config", "overrides", "message"), [
    # torch's byte count of the weights overflows before any memory is asked for
    ("koch2015", ["model.fc_dim=4611686018427387904"], "model: koch2015 cannot be built from "
     "these values (Storage size calculation overflowed"),
    # a loss on distances alone would leave the weighted L1 head's logits as they began
    ("koch2015", ["loss.name=contrastive"], "loss: contrastive trains the pairs' distances "
     "alone, and the logits of koch2015's head do not follow them"),
])
def test_a_config_that_cannot_train_is_refused_in_one_line(config, overrides, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config(config, overrides)
    assert resolve_config("default", ["loss.name=contrastive"]).loss.name == "contrastive"


@pytest.mark.parametrize(("config", "override", "message"), [
    ("default", "data.images_per_identity=1000", "data.identities_per_batch x "
     "data.images_per_identity: a step of 32,000 images; expected at most 4,096"),
    ("koch2015", "train.batch_size=4096", "train.batch_size (pairs: 2 images each): a step of "
     "8,192 images; expected at most 4,096"),
])
def test_a_step_too_large_to_fit_in_memory_is_refused(config, override, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config(config, [override])
    assert resolve_config("koch2015", ["train.batch_size=2048"]).train.batch_size == 2048


@pytest.mark.parametrize(("override", "message"), [
    ("data.mined_pairs=10", "data.mined_pairs: expected 0 with data.sampling: identities"),
    ("data.size=4096", "data.size: expected at most 250 (LFW's frames are 250x250), got 4096"),
])
def test_a_new_config_may_not_ask_what_older_runs_did(override, message) -> None:
    assert load_config("default", [override])  # an older run's config.yaml still loads...
    with pytest.raises(ConfigError, match=f"^override '{override}': {re.escape(message)}"):
        resolve_config("default", [override])  # ...but no new run is made of it
    assert resolve_config("koch2015", ["data.mined_pairs=10"]).data.mined_pairs == 10


def test_an_optimizer_torch_refuses_is_named_not_left_to_torch() -> None:
    with pytest.raises(ConfigError, match=r"optim: sgd cannot be built from its values "
                                          r"\(Nesterov momentum requires a momentum"):
        resolve_config("koch2015", ["optim.momentum=0", "optim.nesterov=true"])
    assert resolve_config("koch2015", ["optim.momentum=0.5", "optim.nesterov=true"]).optim.nesterov
    # for an optimizer without it, the first thing to say is that it does not apply
    with pytest.raises(ConfigError, match=r"optim\.nesterov does not apply to optimizer 'adamw'"):
        resolve_config("default", ["optim.nesterov=true"])


def test_every_component_is_checked_before_anything_is_built_for_real() -> None:
    with pytest.raises(ConfigError, match=r"model.input_size must be at least 65"):
        resolve_config("koch2015", ["data.size=64"])
    with pytest.raises(ConfigError, match=r"optim.layer_weight_decay: prefix 'backbone.fcc'"):
        resolve_config("koch2015", ["optim.layer_weight_decay.backbone.fcc=0.1"])
    with pytest.raises(ConfigError, match=r"loss.margin must be positive"):
        resolve_config("default", ["loss.name=contrastive", "loss.margin=-1"])


def test_a_data_shape_the_model_cannot_take_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"resface cannot take the 3x40x40 images"):
        resolve_config("default", ["data.size=40", "model.input_size=32"])
    with pytest.raises(ConfigError, match=r"model.input_size must be a positive multiple of 16"):
        resolve_config("default", ["data.size=40"])


def test_a_component_refusing_without_a_message_is_still_named(monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError()

    monkeypatch.setattr(builder, "build_optimizer", refuse)
    refused = r"koch2015\.yaml: optim: sgd cannot be built from its values \(ValueError\)$"
    with pytest.raises(ConfigError, match=refused):
        resolve_config("koch2015")
