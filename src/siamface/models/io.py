"""A model's life outside training: build it from its config section, save and load its
weights, turn cached images into its input, and embed with the mirror-image average.

Training, evaluation and inference all go through these functions, so that a model is built,
stored and fed one way only, and evaluation and inference never need the training code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from siamface.errors import ConfigError, reason_of
from siamface.models.complexity import count_parameters
from siamface.models.registry import MODELS
from siamface.models.siamese import SiameseNet
from siamface.utils.atomic import atomic_path
from siamface.utils.files import DamagedFileError

# A model of 250 million float32 parameters takes 1 GB, 4 GB with its gradients and Adam's
# two moments: the largest that training on a CPU machine of a few GB makes sense for.
MAX_PARAMETERS = 250_000_000  # (koch2015 has 39 million at its 105x105 input)


def build_from_section(section: Mapping[str, Any], channels: int, size: int) -> SiameseNet:
    """The model a config's ``model`` section names, for ``channels`` x ``size`` x ``size`` input.

    It is built on PyTorch's "meta" device first, which allocates nothing (nor draws from the
    random generator), so that a model too large to allocate is refused rather than tried.

    Args:
        section: ``{"name": ..., **options}``; the options override the input shape.
        channels: Input channels (``data.channels``), unless the section sets ``in_channels``.
        size: Input side (``data.size``), unless the section sets ``input_size``.

    Raises:
        UnknownNameError, ConfigError: an unknown model or option, or a value the model refuses
            (the message names the ``model.`` key); more than MAX_PARAMETERS parameters.
    """
    name = section["name"]
    options = {k: v for k, v in section.items() if k != "name"}
    kwargs = {"in_channels": channels, "input_size": size, **options}
    try:
        with torch.device("meta"):
            parameters = count_parameters(MODELS.build_section(name, kwargs, "model"))
    except RuntimeError as err:  # sizes whose byte count overflows, even with no memory used
        raise ConfigError(f"model: {name} cannot be built from these values "
                          f"({reason_of(err)})") from None
    if parameters > MAX_PARAMETERS:  # it would fail to allocate, or fill the memory
        raise ConfigError(f"model: {name} with these values has {parameters:,} parameters; "
                          f"the most siamface builds is {MAX_PARAMETERS:,} (a smaller "
                          "data.size or model width makes fewer)")
    return MODELS.build_section(name, kwargs, "model")


def safetensors_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU tensors that safetensors accepts: each contiguous and owning its whole storage.

    safetensors refuses tensors that share memory (tied weights appear twice in a state dict)
    and views into a larger buffer; those are cloned. Everything else is saved as is.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"model state {key!r} is a {type(t).__name__}, not a tensor")
        t = t.detach().cpu()
        storage = t.untyped_storage()
        whole = (t.is_contiguous() and t.storage_offset() == 0
                 and storage.nbytes() == t.numel() * t.element_size())
        if storage.data_ptr() in seen or not whole:
            t = t.clone(memory_format=torch.contiguous_format)
        seen.add(storage.data_ptr())
        out[key] = t
    return out


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Write ``model``'s weights to ``path`` as safetensors (no pickle), atomically."""
    state = safetensors_state(model)
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(state, str(tmp))


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load the safetensors file ``path`` into ``model`` (``load_state``)."""
    load_state(model, safetensors.torch.load_file(str(path)), path)


def load_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor],
               source: str | Path) -> None:
    """Load weights read from the file ``source`` into ``model``: every key must match, a
    tensor the model holds in floating point must be floating point in the file too (torch
    would cast int64, uint8 or bool weights silently; siamface writes none), and finite.
    Integer buffers, such as BatchNorm's ``num_batches_tracked``, stay integers.

    Raises:
        DamagedFileError: Naming ``source`` and a tensor of another dtype, or holding NaN or
            infinite values.
        RuntimeError: ``load_state_dict``'s, for missing, unexpected or reshaped tensors.
    """
    own = model.state_dict()
    for name, tensor in state.items():
        if name in own and own[name].is_floating_point() and not tensor.is_floating_point():
            raise DamagedFileError(f"{source}: tensor {name!r} is {tensor.dtype}, expected a "
                                   f"floating-point dtype ({own[name].dtype}): siamface writes "
                                   "no other")
    model.load_state_dict(state)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DamagedFileError(f"{source}: tensor {name!r} holds NaN or infinite values; "
                                   "the model cannot give a valid answer")


def to_model_input(images: np.ndarray, channels_last: bool = True) -> torch.Tensor:
    """Turn (N, C, H, W) uint8 images into float32 in [0, 1].

    Args:
        images: (N, C, H, W) uint8, e.g. rows gathered from an ``ImageCache``.
        channels_last: Return NHWC memory layout, which oneDNN's CPU convolutions run faster on.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)  # (N, C, H, W)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def embed(model: SiameseNet, x: torch.Tensor, flip_tta: bool) -> torch.Tensor:
    """(B, C, H, W) images in [0, 1] -> (B, D) embeddings, in the model's current mode.

    Args:
        model: A SiameseNet.
        x: The images.
        flip_tta: Average the embeddings of each image and its mirror image. Faces are roughly
            symmetric, so this removes pose noise at twice the cost of one pass.
    """
    e = model.embed(x)
    if flip_tta:
        e = (e + model.embed(torch.flip(x, dims=[3]))) / 2
    return e
