"""How big and how costly a model is: parameter count, and FLOPs per image for backbone costs.

FLOPs here are 2 x multiply-accumulates (MACs) of the Conv2d and Linear layers, measured with
forward hooks on one real forward pass. Bias additions, activations, pooling and normalisation
are left out: they are a small fraction of the total for the networks in this package, and
leaving them out matches how papers usually quote conv-net FLOPs.
"""

from __future__ import annotations

import torch
from torch import nn

from siamface.models.siamese import SiameseNet


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements in ``model``.

    Args:
        model: Any module.
        trainable_only: Count only parameters with ``requires_grad``.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs (= 2 x MACs of Conv2d and Linear layers) to embed one image.

    For a SiameseNet this is the cost of its backbone on one image (a pair costs twice that plus
    a head that is negligible); any other module is run as is.

    Args:
        model: A SiameseNet or a backbone.
        input_shape: (C, H, W) of one image.
    """
    net = model.backbone if isinstance(model, SiameseNet) else model
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        # each output element sums over (C_in / groups) * kh * kw products
        macs += out.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        macs += out.numel() * module.in_features

    handles = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = net.training
    param = next(net.parameters(), None)
    x = torch.zeros((1, *input_shape), device=param.device if param is not None else None)
    try:
        net.eval()  # BatchNorm must not update its running statistics on this dummy image
        with torch.no_grad():
            net(x)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return 2 * macs
