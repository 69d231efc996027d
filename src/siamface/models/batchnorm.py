"""BatchNorm2d that trains fast on channels-last CPU tensors of any width.

Why not ``nn.BatchNorm2d`` as it is? On two cores its channels-last CPU kernels are several
times slower at widths that are not a multiple of 16: ResFace's 24-channel stem took 22 ms a
step, forward and backward, where this module takes 9 ms (README, Benchmarks, the paragraph
after the table of the Intel Xeon kind). The arithmetic of BatchNorm is the same at every
width, so this module does it with operations whose speed does not depend on the width: a
channels-last (N, C, H, W) tensor is an (N*H*W, C) matrix in memory, and read as the wider
(N*H*W/k, k*C) matrix every reduction and every per-channel multiply-add runs along rows k*C
long. The k partial results of a channel are then added.

Training mode on a channels-last CPU input whose width is not a multiple of 16 takes that path;
anything else (eval mode, an NCHW input, 16, 32, 48... channels) is PyTorch's own. Parameters,
buffers and state dict are ``nn.BatchNorm2d``'s: checkpoints and exports see no difference.
"""

from __future__ import annotations

from math import gcd

import torch
from torch import nn

# PyTorch's own kernel is the faster one where the width is a multiple of this (measured with
# torch 2.13 on two cores of an AVX-512 Xeon, bf16, forward and backward, 128 images: 24
# channels at 40x40 22.0 ms against ours 9.0; 8, 12, 20, 40, 72 channels 1.2-5.6x slower than
# ours; 16, 32, 48, 64, 80, 96, 192 channels 1.4-2x faster than ours).
FAST_WIDTH_MULTIPLE = 16

# Rows are k*C long; 64 makes them 1,536 bf16 values at 24 channels, and the per-channel sums
# are added from 64 partial sums, each rounded once to the input's precision.
FOLD = 64


def wide_view(x: torch.Tensor, k: int) -> torch.Tensor:
    """The (N*H*W/k, k*C) matrix a channels-last (N, C, H, W) tensor is in memory (no copy)."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n * h * w // k, k * c)


def channel_sums(wide: torch.Tensor, k: int) -> torch.Tensor:
    """(C,) sums of each channel of a wide view, at least fp32: a column sum, its k parts added."""
    acc = torch.promote_types(wide.dtype, torch.float32)
    return wide.sum(0).to(acc).view(k, -1).sum(0)


class _BatchNormFunction(torch.autograd.Function):
    """Training-mode batch normalisation of a channels-last tensor with a hand-written backward.

    It works on d = x - mean', the input less its mean rounded to the input's precision, so a
    channel whose mean is large against its spread keeps its variance (E[x^2] - mean^2 in bf16
    lost 3% of it at mean/std = 6). With s = mean - mean' (tiny), per channel over M = N*H*W:
        var = E[d^2] - s^2,  rstd = 1 / sqrt(var + eps),  x_hat = (d - s) * rstd
        forward:   y = weight * x_hat + bias = a * d + b,   a = weight * rstd, b = bias - a * s
        backward:  dx = a * dy + p * d + q,   p = -a * rstd * sum(dy * x_hat) / M,
                                              q = -a * sum(dy) / M - p * s
    so each direction is a few column sums and fused multiply-adds over the wide view.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps, k):
        n, c, h, w = x.shape
        m = n * h * w
        xw = wide_view(x, k)  # (M/k, k*C)
        mean = channel_sums(xw, k) / m  # (C,), fp32 or wider
        shift = mean.to(x.dtype)  # mean', exactly representable in x's precision
        d = xw - shift.repeat(k)  # (M/k, k*C)
        s = mean - shift.to(mean.dtype)
        var = (channel_sums(d * d, k) / m - s * s).clamp_min(0.0)  # biased
        rstd = torch.rsqrt(var + eps)
        a = weight.to(mean.dtype) * rstd
        b = bias.to(mean.dtype) - a * s
        # y is a tensor of its own (written through its wide view), not a view of one: ReLU
        # after BatchNorm works in place, and autograd forbids that on a function's view output.
        y = torch.empty_like(x)  # channels-last like x
        torch.addcmul(b.repeat(k).to(x.dtype), d, a.repeat(k).to(x.dtype), out=wide_view(y, k))
        ctx.save_for_backward(d, a, s, rstd)
        ctx.shape, ctx.k, ctx.param_dtype = (n, c, h, w), k, weight.dtype
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        d, a, s, rstd = ctx.saved_tensors
        (n, c, h, w), k = ctx.shape, ctx.k
        m = n * h * w
        dyw = wide_view(dy.contiguous(memory_format=torch.channels_last), k)
        sum_dy = channel_sums(dyw, k)  # (C,) = grad of bias
        sum_dy_xhat = (channel_sums(dyw * d, k) - s * sum_dy) * rstd  # (C,) = grad of weight
        p = -a * rstd * sum_dy_xhat / m
        q = -a * sum_dy / m - p * s
        dxw = torch.addcmul(q.repeat(k).to(d.dtype), d, p.repeat(k).to(d.dtype))
        dxw = torch.addcmul(dxw, dyw, a.repeat(k).to(d.dtype))
        dx = dxw.view(n, h, w, c).permute(0, 3, 1, 2)
        return dx, sum_dy_xhat.to(ctx.param_dtype), sum_dy.to(ctx.param_dtype), None, None


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (affine, with running statistics) with a width-independent training
    path for channels-last inputs; same arguments, same state dict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.affine and self.track_running_stats
                and x.dim() == 4 and x.device.type == "cpu"
                and x.is_contiguous(memory_format=torch.channels_last)
                and self.num_features % FAST_WIDTH_MULTIPLE):
            return super().forward(x)
        n, _, h, w = x.shape
        m = n * h * w
        y, mean, var = _BatchNormFunction.apply(x, self.weight, self.bias, self.eps,
                                                gcd(m, FOLD))
        with torch.no_grad():  # as nn.BatchNorm2d: momentum average, running_var unbiased
            self.num_batches_tracked.add_(1)
            momentum = self.momentum if self.momentum is not None else (
                1.0 / float(self.num_batches_tracked))
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
            unbiased = var * (m / max(m - 1, 1))
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        return y
