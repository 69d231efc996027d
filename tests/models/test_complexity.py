"""count_parameters and count_flops against hand-counted tiny networks."""

from __future__ import annotations

import torch
from torch import nn

from siamface.models import SiameseNet, count_flops, count_parameters
from siamface.models.heads import WeightedL1Head


class Tiny(nn.Module):
    """Conv2d(1, 2, 3) -> BatchNorm -> flatten -> Linear(18, 4) on a 1x5x5 image."""

    def __init__(self) -> None:
        super().__init__()
        self.out_dim = 4
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 3 * 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.bn(self.conv(x)), 1))


def test_count_parameters_by_hand() -> None:
    model = Tiny()
    # conv 2*1*9 + 2 = 20, BatchNorm 2 + 2 = 4 (running stats are buffers), FC 18*4 + 4 = 76
    assert count_parameters(model) == 100
    model.conv.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 80
    assert count_parameters(model) == 100


def test_count_flops_by_hand() -> None:
    # conv: 2*3*3 = 18 outputs x 1*9 products = 162 MACs; FC: 4 outputs x 18 = 72 MACs
    assert count_flops(Tiny(), (1, 5, 5)) == 2 * (162 + 72)


def test_grouped_convolutions_count_only_their_group() -> None:
    # 4 -> 4 channels in 2 groups: each output sums over 2 channels x 9 = 18 products
    conv = nn.Conv2d(4, 4, 3, groups=2)
    assert count_flops(conv, (4, 5, 5)) == 2 * (4 * 3 * 3) * 18


def test_a_siamese_net_counts_its_backbone_on_one_image() -> None:
    net = SiameseNet(Tiny(), WeightedL1Head(4))
    assert count_flops(net, (1, 5, 5)) == count_flops(net.backbone, (1, 5, 5)) == 468


def test_counting_leaves_the_model_as_it_was() -> None:
    model = Tiny().train()
    before = model.bn.running_mean.clone()
    count_flops(model, (1, 5, 5))
    count_flops(model, (1, 5, 5))  # hooks removed: a second count is not doubled
    assert model.training and torch.equal(model.bn.running_mean, before)
    assert count_flops(model, (1, 5, 5)) == 468
    assert not model.conv._forward_hooks and not model.fc._forward_hooks
