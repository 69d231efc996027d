"""koch2015: the paper's parameter count and initialisation, and what each option changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamface.models import SiameseNet, build_model, count_flops, count_parameters
from siamface.models.heads import CosineHead, EuclideanHead, WeightedL1Head
from siamface.models.koch2015 import KochBackbone, min_input_size

SMALL = {"input_size": 65, "width": 0.25, "fc_dim": 32}


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.fixture(scope="module")
def paper_model() -> SiameseNet:
    return build_model("koch2015")  # 156 MB of float32 weights, built once for this file


def test_paper_configuration_has_38951745_parameters(paper_model: SiameseNet) -> None:
    model = paper_model  # counted without a forward pass
    # conv  64@10x10 on 1 channel:   64*1*100 + 64    =      6,464
    # conv 128@7x7 on 64:           128*64*49 + 128    =    401,536
    # conv 128@4x4 on 128:         128*128*16 + 128    =    262,272
    # conv 256@4x4 on 128:         256*128*16 + 256    =    524,544
    # FC 256*6*6 = 9216 -> 4096:   9216*4096 + 4096    = 37,752,832
    # head alphas + bias:               4096 + 1       =      4,097
    assert count_parameters(model) == 38_951_745
    assert model.backbone.fc.in_features == 9216 and model.out_dim == 4096
    assert isinstance(model.head, WeightedL1Head)
    assert [(c.out_channels, c.kernel_size) for c in convs(model)] == [
        (64, (10, 10)),
        (128, (7, 7)),
        (128, (4, 4)),
        (256, (4, 4)),
    ]


def test_paper_configuration_costs_1_82_gflops_per_image(paper_model: SiameseNet) -> None:
    macs = (
        64 * 96 * 96 * 1 * 100  # conv1: 58,982,400
        + 128 * 42 * 42 * 64 * 49  # conv2: 708,083,712
        + 128 * 18 * 18 * 128 * 16  # conv3: 84,934,656
        + 256 * 6 * 6 * 128 * 16  # conv4: 18,874,368
        + 9216 * 4096  # FC: 37,748,736
    )
    assert count_flops(paper_model, (1, 105, 105)) == 2 * macs == 1_817_247_744


def test_initialisation_follows_the_paper() -> None:
    torch.manual_seed(0)
    # full width and a 4096-d FC, at the smallest input so the FC has 256 inputs, not 9216
    model = build_model("koch2015", input_size=65)
    conv_w = torch.cat([c.weight.flatten() for c in convs(model)])  # ~1.2M values
    fc_w = model.backbone.fc.weight.flatten()  # 1M values
    alphas = model.head.fc.weight.flatten()  # 4096 values
    fc_biases = [model.backbone.fc.bias, model.head.fc.bias]
    biases = torch.cat([c.bias for c in convs(model)] + fc_biases)  # 4673 values
    # standard errors: conv std 0.01/sqrt(2*1.2M) ~ 6e-6, bias mean 0.01/sqrt(4673) ~ 1.5e-4;
    # the tolerances are far wider than that yet far narrower than PyTorch's default init
    # (conv std ~0.006-0.06, biases centred on 0) or a swapped conv/FC rule would give
    assert abs(conv_w.mean().item()) < 1e-4 and abs(conv_w.std().item() - 0.01) < 2e-4
    for c in convs(model):  # every layer, not only the pooled statistics
        assert abs(c.weight.std().item() - 0.01) < 5e-4
    assert abs(fc_w.mean().item()) < 2e-3 and abs(fc_w.std().item() - 0.2) < 2e-3
    assert abs(alphas.mean().item()) < 2e-2 and abs(alphas.std().item() - 0.2) < 1e-2
    assert abs(biases.mean().item() - 0.5) < 1e-3 and abs(biases.std().item() - 0.01) < 1e-3


def test_default_initialisation_is_pytorchs_for_the_kinds_asked_for() -> None:
    torch.manual_seed(0)
    model = build_model("koch2015", input_size=65, init={"fc": "default", "head": "default"})
    # the conv stack keeps the paper's: weights N(0, 0.01), biases around 0.5
    conv_biases = torch.cat([c.bias for c in convs(model)])
    assert abs(conv_biases.mean().item() - 0.5) < 1e-3
    # PyTorch's Linear: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the FC layer has
    # 256 inputs here (bound 1/16), the head 4096 (bound 1/64), where the paper draws N(0, 0.2)
    # weights and N(0.5, 0.01) biases
    for layer, bound in ((model.backbone.fc, 1 / 16), (model.head.fc, 1 / 64)):
        assert layer.weight.abs().max().item() <= bound
        assert abs(layer.weight.std().item() - bound / 3**0.5) < bound / 20
        assert layer.bias.abs().max().item() <= bound
    everything = build_model("koch2015", input_size=65, init="default")
    first = convs(everything)[0]  # fan_in 1 x 10 x 10 = 100: bound 0.1
    assert first.weight.abs().max().item() <= 0.1 and first.bias.abs().max().item() <= 0.1


@pytest.mark.parametrize("init", ["xavier", {"conv": "kaiming"}, {"embedding": "default"}])
def test_an_unknown_initialisation_or_layer_kind_is_refused(init) -> None:
    with pytest.raises(ValueError, match=r"model\.init: expected paper or default"):
        build_model("koch2015", **SMALL, init=init)


def test_block_dropout_follows_its_conv_block_and_acts_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("koch2015", **SMALL, block_dropout=[0.3, 0.0, 0.0, 0.0])
    layers = list(model.backbone.features)
    drops = [i for i, m in enumerate(layers) if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 and layers[drops[0]].p == 0.3
    assert isinstance(layers[drops[0] - 1], nn.MaxPool2d)  # after the first block's pool
    assert not any(isinstance(m, nn.Dropout) for m in layers[drops[0] + 1:])
    x = torch.rand(2, 1, 65, 65)
    assert not torch.equal(model.train().embed(x), model.embed(x))
    assert torch.equal(model.eval().embed(x), model.embed(x))


@pytest.mark.parametrize("block_dropout", [[0.3], [0.3, 0.0, 0.0, 1.0]])
def test_block_dropout_needs_four_probabilities(block_dropout: list[float]) -> None:
    with pytest.raises(ValueError, match="block_dropout: expected 4 probabilities"):
        build_model("koch2015", **SMALL, block_dropout=block_dropout)


def test_euclidean_and_cosine_heads_keep_their_own_initial_values() -> None:
    euc = build_model("koch2015", **SMALL, head="euclidean", head_kwargs={"margin": 3.0}).head
    cos = build_model("koch2015", **SMALL, head="cosine").head
    assert isinstance(euc, EuclideanHead) and euc.offset.item() == 1.5
    assert euc.log_scale.item() == 0.0
    assert isinstance(cos, CosineHead) and cos.bias.item() == -5.0
    assert abs(cos.log_scale.exp().item() - 10.0) < 1e-5


def test_batchnorm_adds_a_norm_after_each_conv_and_drops_conv_biases() -> None:
    plain = build_model("koch2015", **SMALL)
    bn = build_model("koch2015", **SMALL, batchnorm=True)
    layers = list(bn.backbone.features)
    norms = [i for i, m in enumerate(layers) if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 4
    for i in norms:  # conv -> BatchNorm -> ReLU
        assert isinstance(layers[i - 1], nn.Conv2d) and isinstance(layers[i + 1], nn.ReLU)
    assert all(c.bias is None for c in convs(bn))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    # each layer: +2C (BatchNorm weight and bias) - C (conv bias); C = 16, 32, 32, 64
    assert count_parameters(bn) - count_parameters(plain) == 16 + 32 + 32 + 64


def test_dropout_acts_on_the_embedding_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("koch2015", **SMALL, dropout=0.5)
    x = torch.rand(4, 1, 65, 65)
    model.train()
    a, b = model.embed(x), model.embed(x)
    assert not torch.equal(a, b)
    # sigmoid outputs are never exactly 0: zeros are dropped units; survivors are scaled by 2
    assert 0.2 < (a == 0).float().mean().item() < 0.8
    model.eval()
    e = model.embed(x)
    assert (e > 0).all() and (e < 1).all() and torch.equal(e, model.embed(x))
    kept = a != 0
    torch.testing.assert_close(a[kept], 2 * e[kept])


def test_no_dropout_means_deterministic_training_mode() -> None:
    model = build_model("koch2015", **SMALL).train()
    x = torch.rand(2, 1, 65, 65)
    assert torch.equal(model.embed(x), model.embed(x))


@pytest.mark.parametrize(
    ("width", "channels"), [(0.25, [16, 32, 32, 64]), (0.5, [32, 64, 64, 128]), (1.0, None)]
)
def test_width_scales_the_conv_channels(width: float, channels: list[int] | None) -> None:
    model = build_model("koch2015", input_size=65, width=width, fc_dim=8)
    expected = channels or [64, 128, 128, 256]
    assert [c.out_channels for c in convs(model)] == expected
    assert model.backbone.fc.in_features == expected[-1]  # 1x1 final map at input 65


def test_in_channels_sets_the_first_conv_and_is_checked() -> None:
    model = build_model("koch2015", **SMALL, in_channels=3)
    assert convs(model)[0].in_channels == 3
    assert model.embed(torch.rand(2, 3, 65, 65)).shape == (2, 32)
    with pytest.raises(ValueError, match=r"built for images of shape \(C, H, W\) = \(3, 65, 65\)"):
        model.embed(torch.rand(2, 1, 65, 65))


@pytest.mark.parametrize(("size", "flat"), [(65, 1), (80, 2 * 2), (105, 6 * 6)])
def test_input_size_sets_the_flatten_size(size: int, flat: int) -> None:
    # 80: conv 71, pool 35, conv 29, pool 14, conv 11, pool 5, conv 2 -> 64 x 2 x 2 at width 0.25
    model = build_model("koch2015", input_size=size, width=0.25, fc_dim=8)
    assert model.backbone.fc.in_features == 64 * flat
    assert count_flops(model, (1, size, size)) > 0  # the computed size is the real one


def test_smallest_input_is_65() -> None:
    assert min_input_size() == 65
    with pytest.raises(ValueError, match="input_size must be at least 65"):
        KochBackbone(input_size=64)


@pytest.mark.parametrize(
    ("activation", "check"),
    [
        ("sigmoid", lambda e: bool((e > 0).all() and (e < 1).all())),
        ("relu", lambda e: bool((e >= 0).all() and (e > 1).any() and (e == 0).any())),
        ("tanh", lambda e: bool((e > -1).all() and (e < 1).all() and (e < 0).any())),
        ("none", lambda e: bool((e < -1).any() and (e > 1).any())),
    ],
)
def test_fc_activation_by_name(activation: str, check) -> None:
    torch.manual_seed(0)
    model = build_model("koch2015", input_size=65, width=0.25, fc_activation=activation)
    e = model.embed(torch.rand(4, 1, 65, 65))
    assert e.shape == (4, 4096) and check(e)


def test_unknown_activation_lists_the_choices() -> None:
    with pytest.raises(KeyError, match="unknown activation 'gelu'; choose one of: none, relu"):
        KochBackbone(fc_activation="gelu")


def test_fc_dim_sets_the_embedding_size() -> None:
    model = build_model("koch2015", **{**SMALL, "fc_dim": 7})
    assert model.out_dim == 7 and model.head.dim == 7
    assert model.embed(torch.rand(1, 1, 65, 65)).shape == (1, 7)


def test_input_scale_multiplies_the_images_before_the_first_conv() -> None:
    torch.manual_seed(0)
    scaled = build_model("koch2015", **SMALL, input_scale=255.0).eval()
    plain = build_model("koch2015", **SMALL).eval()
    plain.load_state_dict(scaled.state_dict())  # no weights of its own: the same state dict
    x = torch.rand(2, 1, 65, 65)
    torch.testing.assert_close(scaled.embed(x), plain.embed(x * 255.0))
    assert not torch.allclose(scaled.embed(x), plain.embed(x))


def test_at_the_paper_initialisation_pixel_values_in_0_255_keep_the_images_apart() -> None:
    # The paper's 0.5 biases on N(0, 0.01) weights swamp a [0, 1] input's variation layer by
    # layer: the embeddings of different images come out nearly equal. Fed 0..255 they differ.
    torch.manual_seed(0)
    x = torch.rand(8, 1, 105, 105)
    spread = {}
    for scale in (1.0, 255.0):
        torch.manual_seed(0)
        model = build_model("koch2015", input_scale=scale).eval()
        with torch.no_grad():
            spread[scale] = model.embed(x).std(dim=0).mean().item()  # across the 8 images
    assert spread[255.0] > 10 * spread[1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels must be at least 1"),
        ({"width": 0.0}, "width must be positive"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"fc_dim": 0}, "fc_dim must be at least 1"),
        ({"input_scale": 0.0}, "input_scale must be positive"),
        ({"input_scale": float("nan")}, "input_scale must be positive"),
        ({"input_scale": 1e300}, "input_scale must be positive"),  # inf in float32
    ],
)
def test_invalid_options_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model("koch2015", **kwargs)
