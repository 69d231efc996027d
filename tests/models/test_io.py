"""models/io.py: the model's input, the mirror-image average, and weights in and out, against
values and properties checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from siamface.errors import ConfigError
from siamface.models import build_model
from siamface.models.io import (
    build_from_section,
    embed,
    load_state,
    load_weights,
    safetensors_state,
    save_weights,
    to_model_input,
)
from siamface.utils.files import DamagedFileError


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resface", input_size=32, width=4, embedding_dim=8).eval()


def random_images(seed: int, n: int = 3, size: int = 32) -> np.ndarray:
    """(n, 3, size, size) uint8 images whose left and right halves differ."""
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


# ---- to_model_input ----------------------------------------------------------------------


def test_model_input_is_the_uint8_pixels_over_255_in_float32():
    images = np.array([0, 51, 102, 255], dtype=np.uint8).reshape(1, 1, 2, 2)
    x = to_model_input(images, channels_last=False)
    assert x.dtype == torch.float32 and x.shape == (1, 1, 2, 2)
    assert x.flatten().tolist() == pytest.approx([0.0, 0.2, 0.4, 1.0], abs=1e-7)


def test_model_input_is_channels_last_on_request_and_the_same_values_either_way():
    images = random_images(0, n=2, size=4)
    nhwc = to_model_input(images)  # channels_last=True, the default
    nchw = to_model_input(images, channels_last=False)
    assert nhwc.is_contiguous(memory_format=torch.channels_last)
    assert not nhwc.is_contiguous()  # 3 channels: the NHWC layout is not the NCHW one
    assert nchw.is_contiguous()
    assert torch.equal(nhwc, nchw)
    assert torch.equal(nchw, torch.from_numpy(images.astype(np.float32) / 255))


def test_model_input_takes_a_strided_view_and_leaves_the_images_untouched():
    images = random_images(1, n=4, size=4)
    before = images.copy()
    x = to_model_input(images[::2, :, :, ::-1], channels_last=False)  # not contiguous
    assert torch.equal(x * 255, torch.from_numpy(before[::2, :, :, ::-1].astype(np.float32)))
    x.zero_()  # a copy, not a view of the caller's array
    assert np.array_equal(images, before)


# ---- embed -------------------------------------------------------------------------------


def test_flip_tta_averages_each_image_with_its_left_right_mirror_image():
    model, images = tiny_model(), random_images(2)
    x = to_model_input(images)
    mirrored = to_model_input(np.ascontiguousarray(images[:, :, :, ::-1]))  # columns reversed
    with torch.no_grad():  # fp32: no autocast here
        expected = (model.embed(x) + model.embed(mirrored)) / 2
        got = embed(model, x, flip_tta=True)
        upside_down = to_model_input(np.ascontiguousarray(images[:, :, ::-1, :]))
        not_expected = (model.embed(x) + model.embed(upside_down)) / 2
    assert got.dtype == torch.float32 and got.shape == (3, 8)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, not_expected, atol=1e-3)  # a vertical flip is not a mirror


def test_flip_tta_embeds_an_image_and_its_mirror_image_alike():
    model, images = tiny_model(), random_images(3)
    mirrored = np.ascontiguousarray(images[:, :, :, ::-1])
    with torch.no_grad():
        a = embed(model, to_model_input(images), flip_tta=True)
        b = embed(model, to_model_input(mirrored), flip_tta=True)
        plain_a = embed(model, to_model_input(images), flip_tta=False)
        plain_b = embed(model, to_model_input(mirrored), flip_tta=False)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(plain_a, plain_b, atol=1e-3)  # without it they differ


def test_without_flip_tta_embed_is_the_models_own_embedding():
    model, images = tiny_model(), random_images(4)
    x = to_model_input(images)
    with torch.no_grad():
        assert torch.equal(embed(model, x, flip_tta=False), model.embed(x))


# ---- build_from_section ------------------------------------------------------------------


def test_a_section_builds_its_model_for_the_datas_shape_unless_it_sets_its_own():
    section = {"name": "resface", "width": 4, "embedding_dim": 8}
    model = build_from_section(section, channels=1, size=32)
    assert model.backbone.stem[0].in_channels == 1 and model.out_dim == 8
    # the FC layer sees 8 * width channels at size / 16 per side
    assert model.backbone.output[3].in_features == 8 * 4 * 2 * 2
    model = build_from_section({**section, "in_channels": 3, "input_size": 48}, 1, 32)
    assert model.backbone.stem[0].in_channels == 3
    assert model.backbone.output[3].in_features == 8 * 4 * 3 * 3
    assert next(model.parameters()).device.type == "cpu"  # built for real, not left on meta


def test_a_model_over_max_parameters_is_refused_naming_its_count():
    # width 4096: the last stage's second conv alone is (8 * 4096)^2 * 9 = 9.7e9 parameters
    with pytest.raises(ConfigError, match=r"model: resface with these values has [\d,]+ "
                                          r"parameters; the most siamface builds is 250,000,000"):
        build_from_section({"name": "resface", "width": 4096}, channels=3, size=32)


# ---- safetensors_state, save_weights, load_weights ----------------------------------------


class Tied(nn.Module):
    """Two Linear layers sharing one weight, and a buffer that is a view into a larger one."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight
        self.register_buffer("part", torch.arange(10.0)[2:5])


def test_tied_weights_and_views_are_saved_as_their_own_tensors(tmp_path):
    model = Tied()
    state = safetensors_state(model)
    assert set(state) == set(model.state_dict())
    storages = {t.untyped_storage().data_ptr() for t in state.values()}
    assert len(storages) == len(state)  # no two share memory
    assert state["part"].untyped_storage().nbytes() == 3 * 4  # the view, cut out of its buffer
    save_weights(model, tmp_path / "w.safetensors")  # safetensors refuses shared tensors
    loaded = safetensors.torch.load_file(str(tmp_path / "w.safetensors"))
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded[key], tensor), key
    assert loaded["part"].tolist() == [2.0, 3.0, 4.0]


def test_a_state_entry_that_is_not_a_tensor_is_named():
    class WithExtra(nn.Linear):
        def get_extra_state(self):
            return {"note": "not a tensor"}

    with pytest.raises(TypeError, match=r"model state '_extra_state' is a dict, not a tensor"):
        safetensors_state(WithExtra(2, 2))


def test_weights_round_trip_through_a_file(tmp_path):
    source, target = tiny_model(), build_model("resface", input_size=32, width=4,
                                               embedding_dim=8)
    source.backbone.stem[1].num_batches_tracked += 7
    save_weights(source, tmp_path / "w.safetensors")
    load_weights(target, tmp_path / "w.safetensors")
    for (key, a), b in zip(source.state_dict().items(), target.state_dict().values(),
                           strict=True):
        assert torch.equal(a, b), key
    counter = target.backbone.stem[1].num_batches_tracked
    assert counter.dtype == torch.int64 and int(counter) == 7  # integer buffers stay integers


# ---- load_state --------------------------------------------------------------------------


def test_an_integer_tensor_for_a_floating_point_weight_is_refused_not_cast():
    model = nn.Linear(2, 2)
    state = {"weight": torch.ones(2, 2, dtype=torch.int64), "bias": torch.zeros(2)}
    before = model.weight.detach().clone()
    with pytest.raises(DamagedFileError, match=r"w\.safetensors: tensor 'weight' is "
                                               r"torch\.int64, expected a floating-point"):
        load_state(model, state, "w.safetensors")
    assert torch.equal(model.weight, before)  # refused before anything was loaded


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused_naming_the_tensor(bad):
    model = nn.Linear(2, 2)
    state = {"weight": torch.ones(2, 2), "bias": torch.tensor([0.0, bad])}
    with pytest.raises(DamagedFileError, match=r"w\.safetensors: tensor 'bias' holds NaN"):
        load_state(model, state, "w.safetensors")


def test_a_state_that_does_not_fit_the_model_is_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_state(model, {"weight": torch.ones(2, 2)}, "w.safetensors")
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_state(model, {"weight": torch.ones(3, 2), "bias": torch.zeros(2)}, "w")


def test_a_state_that_fits_is_loaded_as_given():
    model = nn.Linear(2, 2)
    state = {"weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "bias": torch.tensor([5.0, 6.0])}
    load_state(model, state, "w.safetensors")
    assert model(torch.tensor([[1.0, 1.0]])).tolist() == [[8.0, 13.0]]  # W @ [1, 1] + b
