"""MODELS: every Siamese model, built by name.

A model factory takes keyword options and returns a SiameseNet. To add a backbone, write an
``nn.Module`` mapping ``(B, C, H, W)`` to ``(B, D)`` with an ``out_dim = D`` attribute, and
register a factory that wraps it::

    @MODELS.register("mynet")
    def mynet(head: str = "cosine", head_kwargs: Mapping[str, Any] | None = None) -> SiameseNet:
        backbone = MyNet()
        return SiameseNet(backbone, build_head(head, backbone.out_dim, **(head_kwargs or {})))

then import its module in ``siamface/models/__init__.py`` so that the registration runs.
"""

from __future__ import annotations

from typing import Any

from siamface.models.siamese import SiameseNet
from siamface.utils.registry import Registry

MODELS: Registry[SiameseNet] = Registry("model")


def build_model(name: str, **kwargs: Any) -> SiameseNet:
    """Build the model registered as ``name``.

    Args:
        name: One of ``list_models()``.
        **kwargs: The model factory's options (e.g. ``input_size``, ``head`` for "koch2015").
    """
    return MODELS.build(name, **kwargs)


def list_models() -> list[str]:
    """Names of the registered models."""
    return MODELS.names()
