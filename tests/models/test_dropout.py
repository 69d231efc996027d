"""Dropout's CPU training path drops what nn.Dropout drops, at the same rate and scale."""

import math

import pytest
import torch
from torch import nn

from siamface.models.dropout import Dropout


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_drops_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p(p):
    torch.manual_seed(0)
    n = 1_000_000
    y = Dropout(p)(torch.ones(n))
    kept = y != 0
    # Binomial(n, 1 - p): 5 standard deviations is about 0.002 at p = 0.5.
    assert abs(kept.double().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    assert torch.all(y[kept] == 1 / (1 - p))


@pytest.mark.parametrize("p", [1e-6, 5e-6, 1 - 1e-6])
def test_a_p_finer_than_the_masks_resolution_keeps_or_drops_everything(p):
    # (below 1/131,072 the kept bound, 32,768, is no int16: it had wrapped to drop everything)
    y = Dropout(p)(torch.ones(10_000))
    assert torch.all(y == 1 / (1 - p)) if p < 0.5 else torch.all(y == 0)


def test_its_own_mask_is_drawn_not_pytorchs():
    x = torch.ones(10_000)
    torch.manual_seed(0)
    ours = Dropout(0.5)(x)
    torch.manual_seed(0)
    assert not torch.equal(ours, nn.Dropout(0.5)(x))  # the cheaper path ran


def test_the_gradient_is_the_mask_it_applied():
    torch.manual_seed(1)
    x = torch.randn(64, 300, requires_grad=True)
    y = Dropout(0.3)(x)
    dy = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, dy)
    mask = (y.detach() != 0) / 0.7  # 0 where dropped, 1 / 0.7 where kept
    torch.testing.assert_close(gx, dy * mask)
    assert 0.6 < (mask != 0).double().mean().item() < 0.8


def test_bf16_in_bf16_out():
    torch.manual_seed(2)
    x = torch.randn(32, 100).bfloat16()
    y = Dropout(0.2)(x)
    assert y.dtype == torch.bfloat16
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] * 1.25, rtol=0, atol=0)


def test_one_seed_one_mask_and_another_seed_another():
    def mask(seed):
        torch.manual_seed(seed)
        return Dropout(0.5)(torch.ones(4096)) != 0

    assert torch.equal(mask(3), mask(3))
    assert not torch.equal(mask(3), mask(4))


def test_masks_of_consecutive_calls_are_independent():
    torch.manual_seed(5)
    d = Dropout(0.5)
    a, b = d(torch.ones(100_000)) != 0, d(torch.ones(100_000)) != 0
    both = (a & b).double().mean().item()
    assert abs(both - 0.25) < 0.01  # independent halves overlap in a quarter


@pytest.mark.parametrize("make", [
    lambda: Dropout(0.2).eval(),  # evaluation: the identity
    lambda: Dropout(0.0),
    lambda: Dropout(1.0),
    lambda: Dropout(0.2, inplace=True),
], ids=["eval", "p=0", "p=1", "inplace"])
def test_other_cases_are_pytorchs_own(make):
    ours, ref = make(), make()
    ref.__class__ = nn.Dropout  # the same settings, PyTorch's forward
    x = torch.randn(50, 40)
    torch.manual_seed(6)
    y_ref = ref(x.clone())
    torch.manual_seed(6)
    assert torch.equal(ours(x.clone()), y_ref)


def test_has_no_state():
    assert Dropout(0.2).state_dict() == {}
