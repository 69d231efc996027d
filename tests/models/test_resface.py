"""resface: the size and cost its docstring states, counted by hand, and the shapes it draws."""

from __future__ import annotations

import pytest
import torch

from siamface.models import SiameseNet, build_model, count_flops, count_parameters
from siamface.models.heads import CosineHead

KOCH2015_FLOPS = 1_817_247_744  # tests/models/test_koch2015.py, counted by hand there


@pytest.fixture(scope="module")
def default_model() -> SiameseNet:
    return build_model("resface").eval()  # 3x80x80 input, width 24, 128-d embedding


def test_default_configuration_has_1294874_parameters_the_documented_1_29m(default_model):
    # Convolutions have no bias; each BatchNorm2d(C) learns 2C; BatchNorm1d is affine=False.
    # stem   conv 3 -> 24, 3x3:        3*24*9 = 648,   BN 48                  =     696
    # stage1 conv 24 -> 48, 3x3:      24*48*9 = 10,368; conv 48 -> 48: 20,736;
    #        shortcut 1x1: 24*48 = 1,152; 3 BN of 48: 288                    =  32,544
    # stage2 48*96*9 = 41,472; 96*96*9 = 82,944; 48*96 = 4,608; 3 BN: 576    = 129,600
    # stage3 96*192*9 = 165,888; 192*192*9 = 331,776; 96*192 = 18,432; 1,152 = 517,248
    # output BN(192): 384; FC 192*5*5 = 4800 -> 128, no bias: 614,400        = 614,784
    # backbone                                                              = 1,294,872
    # cosine head: log-scale and bias                                       =       2
    assert count_parameters(default_model.backbone) == 1_294_872
    assert count_parameters(default_model) == 1_294_874
    assert isinstance(default_model.head, CosineHead) and default_model.out_dim == 128
    # the docstring's "1.29M" is this count to three significant figures
    assert round(count_parameters(default_model) / 1e6, 2) == 1.29


def stage_macs(c_in: int, c_out: int, side: int) -> int:
    """A residual block's multiply-accumulates: c_out * side^2 outputs of each convolution,
    from a 3x3 over c_in, a 3x3 over c_out and the 1x1 shortcut over c_in."""
    return c_out * side * side * (c_in * 9 + c_out * 9 + c_in)


def test_default_configuration_costs_0_081_gflops_per_image_1_22_of_koch2015(default_model):
    macs = (
        24 * 40 * 40 * 3 * 9  # stem, 3x3 over 3 channels: 1,036,800
        + stage_macs(24, 48, 20)  # 12,902,400
        + stage_macs(48, 96, 10)  # 12,902,400
        + stage_macs(96, 192, 5)  # 12,902,400
        + 192 * 5 * 5 * 128  # FC, 4800 -> 128: 614,400
    )
    assert count_flops(default_model, (3, 80, 80)) == 2 * macs == 80_716_800
    # the docstring's "0.081 GFLOPs" is this count to two significant figures, and its "1/22
    # of the paper's 1.82 GFLOPs" the ratio, 22.5, rounded down
    assert round(2 * macs / 1e9, 3) == 0.081
    assert 22 <= KOCH2015_FLOPS / (2 * macs) < 23


def test_each_stage_halves_the_side_and_doubles_the_width_as_documented(default_model):
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
             for m in (default_model.backbone.stem, *default_model.backbone.stages,
                       default_model.backbone.output)]
    try:
        with torch.no_grad():
            default_model.embed(torch.zeros(2, 3, 80, 80))
    finally:
        for hook in hooks:
            hook.remove()
    assert shapes == [(2, 24, 40, 40), (2, 48, 20, 20), (2, 96, 10, 10), (2, 192, 5, 5),
                      (2, 128)]


def test_the_embedding_is_standardised_over_a_training_batch():
    torch.manual_seed(0)
    model = build_model("resface", input_size=32, width=4, embedding_dim=8).train()
    e = model.embed(torch.rand(16, 3, 32, 32))  # the last BatchNorm1d has no shift or scale
    assert torch.allclose(e.mean(0), torch.zeros(8), atol=1e-5)
    assert torch.allclose(e.var(0, unbiased=False), torch.ones(8), atol=1e-3)
