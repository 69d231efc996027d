"""From cached uint8 images to the float tensors a model takes."""

from __future__ import annotations

import numpy as np
import torch


def to_model_input(images: np.ndarray, channels_last: bool = True) -> torch.Tensor:
    """Turn (N, C, H, W) uint8 images into float32 in [0, 1].

    Args:
        images: (N, C, H, W) uint8, e.g. rows gathered from an ``ImageCache``.
        channels_last: Return NHWC memory layout, which oneDNN's CPU convolutions run faster on.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)  # (N, C, H, W)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
