"""Checks every registered model must pass: shapes, finiteness, gradients, symmetry, determinism,
channels_last. A newly registered model needs a small configuration in SMALL_CONFIGS."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from siamface.models import SiameseNet, build_model, list_models

KOCH_SMALL: dict[str, Any] = {"input_size": 65, "width": 0.25, "fc_dim": 32}

# model name -> small configurations (factory kwargs, (C, H, W) input) that keep the tests fast
# while exercising the model's options
SMALL_CONFIGS: dict[str, list[tuple[dict[str, Any], tuple[int, int, int]]]] = {
    "resface": [
        ({"input_size": 32, "width": 4, "embedding_dim": 16}, (3, 32, 32)),
        (
            {"input_size": 48, "in_channels": 1, "width": 4, "embedding_dim": 8,
             "head": "weighted_l1"},
            (1, 48, 48),
        ),
        ({"input_size": 32, "width": 4, "embedding_dim": 8, "head": "euclidean"}, (3, 32, 32)),
    ],
    "koch2015": [
        (KOCH_SMALL, (1, 65, 65)),
        (
            {**KOCH_SMALL, "batchnorm": True, "dropout": 0.5, "fc_activation": "relu"},
            (1, 65, 65),
        ),
        # 80 leaves a 2x2 final map, so channels_last really is non-contiguous at the flatten
        ({**KOCH_SMALL, "input_size": 80, "in_channels": 3, "head": "cosine"}, (3, 80, 80)),
        (
            {**KOCH_SMALL, "head": "euclidean", "head_kwargs": {"margin": 2.0}, "dropout": 0.2},
            (1, 65, 65),
        ),
    ],
}

CASES = [
    pytest.param(name, kwargs, shape, id=f"{name}-{i}")
    for name in list_models()
    for i, (kwargs, shape) in enumerate(SMALL_CONFIGS.get(name, [({}, (0, 0, 0))]))
]


def make(name: str, kwargs: dict[str, Any], seed: int = 0) -> SiameseNet:
    if name not in SMALL_CONFIGS:
        pytest.fail(f"model {name!r} is registered but has no small configuration in this file")
    torch.manual_seed(seed)
    return build_model(name, **kwargs)


def pair_batch(shape: tuple[int, int, int], b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, *shape, generator=g), torch.rand(b, *shape, generator=g)


def test_registry_lists_koch2015_and_rejects_unknown_names() -> None:
    assert "koch2015" in list_models()
    with pytest.raises(KeyError, match=r"unknown model 'kotch2015'; choose one of: .*koch2015"):
        build_model("kotch2015")


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_shapes_and_finite_outputs(name: str, kwargs: dict[str, Any], shape: tuple) -> None:
    model = make(name, kwargs)
    x1, x2 = pair_batch(shape)
    scores = model(x1, x2)
    assert isinstance(model, SiameseNet)
    assert scores.logits.shape == (4,) and scores.distances.shape == (4,)
    assert model.embed(x1).shape == (4, model.out_dim)
    assert torch.isfinite(scores.logits).all() and torch.isfinite(scores.distances).all()
    assert (scores.distances >= 0).all()


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_gradients_reach_every_parameter(name: str, kwargs: dict[str, Any], shape: tuple) -> None:
    model = make(name, kwargs).train()
    x1, x2 = pair_batch(shape)
    scores = model(x1, x2)
    # random coefficients: a plain logits.sum() + distances.sum() cancels exactly for the
    # euclidean head at its initial scale 1, since there d logit / d distance = -1
    c = torch.rand(2, 4, generator=torch.Generator().manual_seed(2))
    ((c[0] * scores.logits).sum() + (c[1] * scores.distances).sum()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_swapping_the_inputs_gives_the_same_scores(
    name: str, kwargs: dict[str, Any], shape: tuple
) -> None:
    model = make(name, kwargs).eval()
    x1, x2 = pair_batch(shape)
    with torch.no_grad():
        a, b = model(x1, x2), model(x2, x1)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(a.distances, b.distances, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_eval_mode_is_deterministic(name: str, kwargs: dict[str, Any], shape: tuple) -> None:
    model = make(name, kwargs).eval()
    x1, x2 = pair_batch(shape)
    with torch.no_grad():
        a, b = model(x1, x2), model(x1, x2)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.distances, b.distances)


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES)
def test_channels_last_gives_the_same_output(
    name: str, kwargs: dict[str, Any], shape: tuple
) -> None:
    model = make(name, kwargs).eval()
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x1, x2 = pair_batch(shape)
    cl = torch.channels_last
    with torch.no_grad():
        a = model(x1, x2)
        b = model_cl(x1.contiguous(memory_format=cl), x2.contiguous(memory_format=cl))
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.distances, b.distances, atol=1e-5, rtol=1e-5)
