"""ResFace: our compact residual backbone, built for accuracy per FLOP on a 2-core CPU.

Why not the paper's network? Koch et al.'s twin spends 38.9M parameters and 1.82 GFLOPs per
105x105 image: the FLOPs mostly (78%) in its 7x7 second convolution, 64 -> 128 channels at
42x42, the parameters mostly (97%) in a 9216 -> 4096 FC layer; on LFW's ~9,500 training images
it overfits long before it is fast. ResFace does the opposite: a stride-2 3x3 stem, three
residual stages that halve the resolution and double the width, then a flattening "output
layer" (BatchNorm, dropout, FC, BatchNorm) in the style of ArcFace's, which keeps where on the
face a feature was found, unlike global average pooling.

For the default 3x80x80 input and width 24 (measured by ``siamface.models.count_flops``):
1.29M parameters and 0.081 GFLOPs per image, 1/22 of the paper's 1.82 GFLOPs.

    x (B, C, 80, 80)
    stem   3x3/2 conv, BN, ReLU        -> (B,   w, 40, 40)   (BN: models/batchnorm.py, w = 24)
    stage1 residual block, stride 2    -> (B,  2w, 20, 20)
    stage2 residual block, stride 2    -> (B,  4w, 10, 10)
    stage3 residual block, stride 2    -> (B,  8w,  5,  5)
    output BN, flatten, dropout, FC, BN -> (B, D)   (a standardised embedding)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamface.errors import ConfigError
from siamface.models.batchnorm import BatchNorm2d
from siamface.models.dropout import Dropout
from siamface.models.heads import build_head
from siamface.models.registry import MODELS
from siamface.models.siamese import SiameseNet


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a projected shortcut (He et al. 2016).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first convolution and of the shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        # Every block changes width and resolution, so the shortcut always needs a projection.
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
            BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)  # (B, C', H/s, W/s)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


class ResFaceBackbone(nn.Module):
    """Stem, three residual stages and a flattening output layer.

    Args:
        in_channels: 1 (grayscale) or 3 (RGB).
        input_size: Side of the square input; must be divisible by 16.
        width: Channels of the stem; the stages have 2x, 4x and 8x as many.
        embedding_dim: Size D of the output embedding.
        dropout: Dropout before the output FC layer (training only).
    """

    def __init__(
        self,
        in_channels: int = 3,
        input_size: int = 80,
        width: int = 24,
        embedding_dim: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
        if input_size < 16 or input_size % 16:
            raise ConfigError(f"input_size must be a positive multiple of 16, got {input_size}")
        for key, value in (("width", width), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be an integer of at least 1, got {value!r}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.out_dim = embedding_dim
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 2, 1, bias=False),
            BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.Sequential(
            ResidualBlock(width, 2 * width, 2),
            ResidualBlock(2 * width, 4 * width, 2),
            ResidualBlock(4 * width, 8 * width, 2),
        )
        side = input_size // 16
        self.output = nn.Sequential(
            BatchNorm2d(8 * width),
            nn.Flatten(),  # flatten, not .view: works on channels_last tensors too
            Dropout(dropout),
            # No FC bias and no learned BatchNorm shift or scale: BatchNorm subtracts the batch
            # mean (so a bias before it never gets a gradient), a shift cancels in the
            # |e1 - e2| of difference heads, and the heads learn their own scale.
            nn.Linear(8 * width * side * side, embedding_dim, bias=False),
            nn.BatchNorm1d(embedding_dim, affine=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, w, S/2, S/2)
        x = self.stages(x)  # (B, 8w, S/16, S/16)
        return self.output(x)  # (B, D)


@MODELS.register("resface", kwargs_of=ResFaceBackbone)
def resface(head: str = "cosine", head_kwargs: dict[str, Any] | None = None,
            **backbone_kwargs: Any) -> SiameseNet:
    """Our default: ResFace twins compared by a learned cosine head.

    Args:
        head: A head from ``siamface.models.HEADS``.
        head_kwargs: Options for the head.
        **backbone_kwargs: ``ResFaceBackbone``'s arguments (``width``, ``embedding_dim``, ...).
    """
    backbone = ResFaceBackbone(**backbone_kwargs)
    return SiameseNet(backbone, build_head(head, backbone.out_dim, **(head_kwargs or {})))
