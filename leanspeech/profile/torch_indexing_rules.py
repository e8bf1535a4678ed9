"""Counting rules of torch.nn layers that move values by index: embedding lookups, interpolating
upsampling, fold / unfold and max unpooling. A pure gather or scatter costs no arithmetic, but its
output is a new feature map (activation memory); what they add or weigh is counted below."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.profile.rules import LayerCost, register_rule
from leanspeech.profile.torch_rules import adaptive_average_flops

# Inputs an output element of each interpolation mode weighs (what torch computes, taps of zero
# weight included): MACs per output, a weighted sum of that many terms.
INTERPOLATION_TAPS = {"nearest": 0, "nearest-exact": 0, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}


@register_rule(nn.Embedding)
def count_embedding(module: nn.Embedding, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """A lookup. With max_norm, torch first renormalises each distinct looked-up row in place: its p-norm
    (|w|, ^p, sum, root: 3D), a compare, the factor max_norm / (norm + 1e-7) (2) and the scaling (D),
    counted for every distinct row (an upper bound: rows already within max_norm are not scaled)."""
    if module.max_norm is None:
        return LayerCost(macs=0.0, flops=0.0)
    rows = torch.unique(inputs[0]).numel()
    return LayerCost(macs=0.0, flops=float(rows * (4 * module.embedding_dim + 3)), note="max_norm renorm")


def bag_sizes(module: nn.EmbeddingBag, indices: Tensor, offsets: Tensor | None) -> Tensor:
    """Rows each bag really sums (entries equal to padding_idx are left out, as torch does)."""
    used = torch.ones_like(indices, dtype=torch.long) if module.padding_idx is None else (indices != module.padding_idx).long()
    if indices.dim() == 2:
        return used.sum(1)
    starts = offsets.tolist() if offsets is not None else [0]
    ends = starts[1:] + ([] if module.include_last_offset else [indices.numel()])
    counts = torch.cat([used.new_zeros(1), used.cumsum(0)])
    return torch.tensor([int(counts[end] - counts[start]) for start, end in zip(starts, ends)])


@register_rule(nn.EmbeddingBag)
def count_embedding_bag(module: nn.EmbeddingBag, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """A bag of n rows of width D: sum (n − 1)·D adds, mean that + D divides, max (n − 1)·D compares;
    with per-sample weights a weighted sum, n·D MACs. Empty bags cost nothing (their output is zero)."""
    indices = inputs[0]
    offsets = next((x for x in inputs[1:] if isinstance(x, Tensor) and not x.is_floating_point()), None)
    weights = next((x for x in inputs[1:] if isinstance(x, Tensor) and x.is_floating_point()), None)
    sizes = bag_sizes(module, indices, offsets)
    rows, bags, width = int(sizes.sum()), int((sizes > 0).sum()), module.embedding_dim
    if weights is not None:
        return LayerCost(macs=float(rows * width), flops=float((2 * rows - bags) * width))
    flops = (rows - bags) * width + (bags * width if module.mode == "mean" else 0)
    return LayerCost(macs=0.0, flops=float(flops))


@register_rule(nn.Upsample)
def count_upsample(module: nn.Upsample, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """Nearest: a copy. Linear modes: each output a weighted sum of 2^d inputs (bicubic 4^2), 2·taps − 1
    FLOPs. Area: an adaptive average pool."""
    if module.mode == "area":
        return LayerCost(macs=0.0, flops=adaptive_average_flops(inputs[0], output, inputs[0].dim() - 2))
    taps = INTERPOLATION_TAPS[module.mode]
    return LayerCost(macs=float(output.numel() * taps), flops=float(output.numel() * max(2 * taps - 1, 0)))


@register_rule(nn.Fold)
def count_fold(module: nn.Fold, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """col2im sums the patches that overlap at each output position: (patches there − 1) adds."""
    x = inputs[0]
    shape = (1, x.shape[-2], x.shape[-1])
    overlaps = F.fold(torch.ones(shape), module.output_size, module.kernel_size, module.dilation, module.padding, module.stride)
    per_sample = float((overlaps - 1).clamp(min=0).sum())
    batch = x.shape[0] if x.dim() == 3 else 1
    return LayerCost(macs=0.0, flops=batch * per_sample)


@register_rule(nn.Unfold, nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)
def count_copy(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """im2col and max unpooling write a new map and compute nothing."""
    return LayerCost(macs=0.0, flops=0.0)
