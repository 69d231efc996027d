"""The network of Koch, Zemel & Salakhutdinov (2015), "Siamese Neural Networks for One-shot Image
Recognition", section 3.1 and figure 4, with a few opt-in variations.

Paper configuration (all defaults), for a 1x105x105 image:

    conv 64@10x10, ReLU, maxpool 2    ->  64 x 96 x 96  ->  64 x 48 x 48
    conv 128@7x7,  ReLU, maxpool 2    -> 128 x 42 x 42  -> 128 x 21 x 21
    conv 128@4x4,  ReLU, maxpool 2    -> 128 x 18 x 18  -> 128 x  9 x  9
    conv 256@4x4,  ReLU               -> 256 x  6 x  6  -> flatten 9216
    FC 4096, sigmoid                  -> the embedding h, 4096-d
    head: p = sigmoid(sum_j alpha_j |h1_j - h2_j| + b)

38,951,745 parameters, 97% of them in the 9216 x 4096 FC layer. Variations: BatchNorm after each
conv (before the ReLU), dropout after any conv block and on the embedding, a width multiplier on
the conv channels, any number of input channels, any input size of at least 65 (the smallest the
four convs and three pools fit), another FC activation, another embedding size, another head,
and PyTorch's default initialisation instead of the paper's for any kind of layer (what the
seed projects most likely trained with).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from siamface.errors import ConfigError
from siamface.models.heads import build_head
from siamface.models.registry import MODELS
from siamface.models.siamese import SiameseNet
from siamface.utils.registry import Registry
from siamface.utils.settings import FLOAT32_POSITIVE, is_positive_float32

# Activation after the FC layer, by name. The paper uses a sigmoid, which bounds the embedding
# to (0, 1) and so bounds every |h1_j - h2_j| by 1.
ACTIVATIONS: Registry[nn.Module] = Registry("activation")
ACTIVATIONS.register("sigmoid")(nn.Sigmoid)
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("none")(nn.Identity)

# (out_channels at width 1, kernel size, followed by a 2x2 max-pool?) for the four conv layers
CONV_LAYERS: tuple[tuple[int, int, bool], ...] = (
    (64, 10, True),
    (128, 7, True),
    (128, 4, True),
    (256, 4, False),
)


def min_input_size() -> int:
    """The smallest square input the conv stack accepts (65): walk the layers backwards from a
    1x1 final feature map, undoing each valid convolution (+k-1) and each 2x2 pool (x2)."""
    size = 1
    for _, k, pool in reversed(CONV_LAYERS):
        size = size * 2 if pool else size
        size += k - 1
    return size


# The kinds of layer an initialisation is chosen for: the conv stack, the FC embedding layer and
# the pair head's weights.
INIT_KINDS = ("conv", "fc", "head")
INITS = ("paper", "default")  # "default": PyTorch's, as each layer is constructed


def layer_inits(init: str | Mapping[str, str]) -> dict[str, str]:
    """Each layer kind's initialisation: one name for every kind, or a mapping of some kinds
    (the others keep the paper's), e.g. ``{"fc": "default", "head": "default"}``.

    Raises:
        ConfigError: an unknown kind or initialisation.
    """
    chosen = dict.fromkeys(INIT_KINDS, init) if isinstance(init, str) else {
        **dict.fromkeys(INIT_KINDS, "paper"), **init}
    for kind, name in chosen.items():
        if kind not in INIT_KINDS or name not in INITS:
            raise ConfigError(f"model.init: expected {' or '.join(INITS)} (or a mapping of "
                              f"{', '.join(INIT_KINDS)} to one), got {kind}: {name!r}")
    return chosen


def init_koch_(module: nn.Module, conv: bool = True, linear: bool = True) -> None:
    """The paper's initialisation, in place, for every Conv2d (``conv``) and Linear (``linear``)
    inside ``module``.

    Conv weights ~ N(0, 0.01^2), FC weights ~ N(0, 0.2^2), all their biases ~ N(0.5, 0.01^2)
    (section 3.2: "standard deviation 10^-2", "2 x 10^-1", "mean 0.5"). Candidly, this starts
    the network far from a useful point. The 0.5 biases make every feature map mostly a constant,
    so all images get nearly the same embedding (mean |h1 - h2| ~ 1e-3 on uniform noise at
    105x105), and the wide FC weights saturate the sigmoid (pre-activation std ~ 10, two thirds
    of the units beyond +-5, so their gradients are tiny). We keep it because it is what the paper
    says; BatchNorm or another FC activation are the opt-in ways around it.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and conv:
            nn.init.normal_(m.weight, mean=0.0, std=1e-2)
        elif isinstance(m, nn.Linear) and linear:
            nn.init.normal_(m.weight, mean=0.0, std=2e-1)
        else:
            continue
        if m.bias is not None:
            nn.init.normal_(m.bias, mean=0.5, std=1e-2)


class KochBackbone(nn.Module):
    """The paper's convolutional embedding network, initialised as in the paper by default.

    Args:
        in_channels: Image channels (1 in the paper, 3 for RGB).
        input_size: Side of the square input image (105 in the paper; at least 65).
        width: Multiplier on the conv channel counts (64, 128, 128, 256); 0.25 gives 16/32/32/64.
        batchnorm: Put a BatchNorm2d after each conv (before its ReLU); the conv then has no bias,
            which the BatchNorm shift would make redundant.
        dropout: Dropout probability on the embedding, after the FC activation.
        block_dropout: Dropout probability after each of the four conv blocks (after its pool;
            the last has none), e.g. ``[0.3, 0, 0, 0]``; empty: none.
        fc_activation: Name in ``ACTIVATIONS`` ("sigmoid" in the paper, "relu", "tanh", "none").
        fc_dim: Embedding size D (4096 in the paper).
        init: "paper", "default" (PyTorch's), or a mapping of "conv" and "fc" to one of them
            (see ``layer_inits``; "head" is for the factory).
        input_scale: The images reach the first conv multiplied by this: 1 keeps siamface's
            [0, 1]; 255 gives the 0..255 pixel values a Keras pipeline without a rescaling step
            feeds. It matters with the paper's initialisation, whose 0.5 biases drown a [0, 1]
            input's variation layer by layer (the README's seed002 paragraph measures it).
    """

    def __init__(
        self,
        in_channels: int = 1,
        input_size: int = 105,
        width: float = 1.0,
        batchnorm: bool = False,
        dropout: float = 0.0,
        block_dropout: Sequence[float] = (),
        fc_activation: str = "sigmoid",
        fc_dim: int = 4096,
        init: str | Mapping[str, str] = "paper",
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
        if input_size < min_input_size():
            raise ConfigError(
                f"input_size must be at least {min_input_size()} for the koch2015 conv stack "
                f"(four valid convolutions and three 2x2 pools), got {input_size}"
            )
        if width <= 0:
            raise ConfigError(f"width must be positive, got {width}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        if len(block_dropout) not in (0, len(CONV_LAYERS)) or not all(
                0.0 <= p < 1.0 for p in block_dropout):
            raise ConfigError(f"block_dropout: expected {len(CONV_LAYERS)} probabilities in "
                              f"[0, 1) (one a conv block) or none, got {list(block_dropout)}")
        inits = layer_inits(init)
        if fc_dim < 1:
            raise ConfigError(f"fc_dim must be at least 1, got {fc_dim}")
        if not is_positive_float32(input_scale):  # also refuses NaN
            raise ConfigError(f"input_scale must be {FLOAT32_POSITIVE}, got {input_scale!r}")
        make_activation = ACTIVATIONS.get(fc_activation)  # an unknown name fails before any work
        self.in_channels = in_channels
        self.input_size = input_size
        self.out_dim = fc_dim
        self.input_scale = input_scale

        layers: list[nn.Module] = []
        c, size = in_channels, input_size
        for (channels, k, pool), p in zip(CONV_LAYERS, block_dropout or (0.0,) * len(CONV_LAYERS),
                                          strict=True):
            c_out = max(1, round(channels * width))
            layers.append(nn.Conv2d(c, c_out, kernel_size=k, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
            size = size - k + 1  # valid convolution, stride 1
            if pool:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            if p > 0:
                layers.append(nn.Dropout(p))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * size * size, fc_dim)  # 9216 -> 4096 at the paper's size
        self.act = make_activation()
        self.drop = nn.Dropout(dropout)
        init_koch_(self, conv=inits["conv"] == "paper", linear=inits["fc"] == "paper")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.input_size, self.input_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"koch2015 was built for images of shape (C, H, W) = {expected}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        if self.input_scale != 1:
            x = x * self.input_scale
        x = self.features(x)  # (B, 1, 105, 105) -> (B, 256, 6, 6)
        # flatten, not view: under channels_last the feature map is not contiguous in NCHW order;
        # flatten copies when it must and keeps the (C, H, W) order the FC weights expect
        x = torch.flatten(x, 1)  # (B, 9216)
        x = self.act(self.fc(x))  # (B, 4096)
        return self.drop(x)


@MODELS.register("koch2015", kwargs_of=KochBackbone)
def koch2015(head: str = "weighted_l1", head_kwargs: Mapping[str, Any] | None = None,
             init: str | Mapping[str, str] = "paper", **backbone_kwargs: Any) -> SiameseNet:
    """The paper's Siamese network (defaults) or one of its variants.

    Args:
        head: Head name in ``HEADS``; "weighted_l1" is the paper's.
        head_kwargs: Options for the head (e.g. ``{"margin": 2.0}`` for "euclidean").
        init: Each layer kind's initialisation (``layer_inits``): "paper", "default", or a
            mapping of "conv", "fc" and "head" to one.
        **backbone_kwargs: ``KochBackbone``'s other arguments (``in_channels``, ``batchnorm``...).
    """
    backbone = KochBackbone(init=init, **backbone_kwargs)
    pair_head = build_head(head, backbone.out_dim, **(head_kwargs or {}))
    if layer_inits(init)["head"] == "paper":
        init_koch_(pair_head)  # the alphas and b are FC-style (only weighted_l1 has a Linear)
    return SiameseNet(backbone, pair_head)
