"""The frozen inference copy of every model gives the original's embeddings and scores."""

from __future__ import annotations

import pytest
import torch

from siamface.models import build_model
from siamface.models.frozen import frozen_for_inference

TINY = {"koch2015": {"input_size": 65, "width": 0.25, "fc_dim": 32, "in_channels": 1},
        "resface": {"input_size": 32, "width": 4, "embedding_dim": 8, "in_channels": 3}}


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_frozen_copy_embeds_as_the_original(name):
    torch.manual_seed(0)
    options = TINY[name]
    model = build_model(name, **options).eval()
    with torch.no_grad():  # trained-looking BatchNorm statistics, so that folding them counts
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    size, channels = options["input_size"], options["in_channels"]
    frozen = frozen_for_inference(model, channels, size)
    assert frozen.out_dim == model.out_dim and frozen.head is model.head
    for batch in (1, 3, 8):  # traced on 2: other batch sizes too
        x = torch.rand(batch, channels, size, size).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            want, got = model.embed(x), frozen.embed(x)
            flipped = frozen.embed(torch.flip(x, dims=[3]))  # a flip's strides, as flip TTA
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(flipped, model.embed(torch.flip(x, dims=[3])), atol=1e-5,
                                   rtol=1e-4)
    assert not frozen.backbone.frozen.training
