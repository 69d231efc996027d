"""A SiameseNet whose backbone is frozen TorchScript, for serving: the same embeddings, faster.

``torch.jit.freeze`` of a traced backbone in eval mode folds each BatchNorm into the
convolution before it and inlines the weights as constants, which takes about a third off a
ResFace forward pass on a small CPU batch. The result is for inference only (no gradients, no
state_dict to save or fingerprint: keep the original model for those) and agrees with the
original to float rounding (about 1e-6), not bit for bit. TorchScript is deprecated in favour
of ``torch.compile``, which needs a C++ toolchain at start-up and compiles for tens of seconds;
``siamface export`` ships TorchScript too, and its deprecation notices are silenced here.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from siamface.models.siamese import SiameseNet


class FrozenBackbone(nn.Module):
    """A backbone traced on an example batch and frozen; ``out_dim`` kept.

    Args:
        backbone: The trained backbone (put in eval mode).
        example: (B, C, H, W) input of the shape and memory format it will be given.
    """

    def __init__(self, backbone: nn.Module, example: torch.Tensor) -> None:
        super().__init__()
        self.out_dim = backbone.out_dim
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shape checks
            self.frozen = torch.jit.freeze(torch.jit.trace(backbone.eval(), example))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frozen(x)  # (B, D)


def frozen_for_inference(model: SiameseNet, channels: int, size: int) -> SiameseNet:
    """``model`` with its backbone frozen for (B, channels, size, size) channels-last input
    (as ``to_model_input`` makes it); the head is shared with ``model``."""
    example = torch.zeros(2, channels, size, size).contiguous(memory_format=torch.channels_last)
    return SiameseNet(FrozenBackbone(model.backbone, example), model.head).eval()
