"""BatchNorm2d's channels-last training path computes what nn.BatchNorm2d computes."""

import pytest
import torch
from torch import nn

from siamface.models import batchnorm
from siamface.models.batchnorm import BatchNorm2d


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def twins(channels: int, dtype: torch.dtype = torch.float64, **kwargs):
    """An nn.BatchNorm2d with random affine parameters and ours with the same state."""
    ref = nn.BatchNorm2d(channels, **kwargs).to(dtype)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
        ref.running_mean.normal_()
        ref.running_var.uniform_(0.5, 2.0)
    ours = BatchNorm2d(channels, **kwargs).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("shape", [(8, 24, 10, 10), (3, 5, 7, 7), (2, 3, 1, 1), (5, 1, 3, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_step_matches_pytorch_in_float64(shape, momentum):
    torch.manual_seed(0)
    ref, ours = twins(shape[1], momentum=momentum)
    x = channels_last(torch.randn(*shape, dtype=torch.float64) * 3 + 2).requires_grad_()
    dy = torch.randn(*shape, dtype=torch.float64)
    for _ in range(2):  # twice: the running statistics and the step count accumulate
        y_ref = ref(x)
        grads_ref = torch.autograd.grad(y_ref, (x, ref.weight, ref.bias), dy)
        y = ours(x)
        grads = torch.autograd.grad(y, (x, ours.weight, ours.bias), dy)
        torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
        for g, g_ref in zip(grads, grads_ref, strict=True):
            torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-11)
    for name, buffer in ref.named_buffers():
        torch.testing.assert_close(getattr(ours, name), buffer, rtol=0, atol=1e-12)


def test_output_keeps_the_input_layout_and_dtype():
    _, ours = twins(6, dtype=torch.float32)
    y = ours(channels_last(torch.randn(4, 6, 5, 5)).bfloat16())
    assert y.dtype == torch.bfloat16
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_bf16_keeps_the_variance_of_a_channel_far_from_zero():
    # mean/std = 6: computing E[x^2] - mean^2 in bf16 lost 3% of the variance here
    torch.manual_seed(0)
    x = channels_last(torch.randn(128, 24, 40, 40) * 0.5 + 3).bfloat16()
    ours = BatchNorm2d(24, momentum=1.0)  # running statistics = this batch's
    ours(x)
    exact = x.double()
    torch.testing.assert_close(ours.running_mean.double(), exact.mean((0, 2, 3)),
                               rtol=1e-3, atol=0)
    torch.testing.assert_close(ours.running_var.double(), exact.var((0, 2, 3)),
                               rtol=2e-3, atol=0)


def test_bf16_gradients_are_within_half_a_percent_of_exact():
    # The per-channel sums are rounded to bf16 in 64 parts before they are added in fp32, so
    # the weight and bias gradients carry about 0.2% of error; PyTorch's kernel sums in fp32.
    torch.manual_seed(1)
    _, ours = twins(24, dtype=torch.float32)
    exact = nn.BatchNorm2d(24).double()
    exact.load_state_dict(ours.state_dict())
    x = channels_last(torch.randn(16, 24, 12, 12) + 1).bfloat16().requires_grad_()
    dy = channels_last(torch.randn(16, 24, 12, 12)).bfloat16()
    x64 = x.detach().double().requires_grad_()
    grads = torch.autograd.grad(ours(x), (x, ours.weight, ours.bias), dy)
    grads_exact = torch.autograd.grad(exact(x64), (x64, exact.weight, exact.bias), dy.double())
    assert [g.dtype for g in grads] == [torch.bfloat16, torch.float32, torch.float32]
    for g, g_exact in zip(grads, grads_exact, strict=True):
        scale = g_exact.abs().max().item()
        torch.testing.assert_close(g.double(), g_exact, rtol=0, atol=0.005 * scale)


@pytest.mark.parametrize("case", ["eval", "nchw", "width 16"])
def test_other_inputs_take_pytorchs_path_unchanged(case):
    torch.manual_seed(2)
    width = 16 if case == "width 16" else 7
    ref, ours = twins(width, dtype=torch.float32)
    x = torch.randn(4, width, 6, 6)
    if case != "nchw":
        x = channels_last(x)
    if case == "eval":
        ref.eval(), ours.eval()
    assert torch.equal(ours(x), ref(x))  # bit for bit: the very same kernel
    assert torch.equal(ours.running_var, ref.running_var)


@pytest.mark.parametrize(("channels", "layout", "ours"), [
    (24, channels_last, True),  # ResFace's stem: the case the module is for
    (48, channels_last, False),  # a multiple of 16: PyTorch's kernel is fast already
    (24, lambda t: t, False),  # not channels-last
])
def test_the_width_independent_path_runs_where_it_is_meant_to(monkeypatch, channels, layout,
                                                               ours):
    calls = []
    apply = batchnorm._BatchNormFunction.apply
    monkeypatch.setattr(batchnorm._BatchNormFunction, "apply",
                        lambda *args: calls.append(1) or apply(*args))
    _, bn = twins(channels, torch.float32)
    bn(layout(torch.randn(4, channels, 5, 5)))
    assert bool(calls) is ours


def test_state_dict_is_nn_batchnorms():
    ref, ours = twins(4)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert isinstance(ours, nn.BatchNorm2d)
