"""Counting rules of leanspeech's front-ends (audio/transforms.py) and learned pooling (nn/pooling.py).

A frame's DFT is counted by `costs.stft_cost` under the convention chosen with `costs.fft_convention`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from leanspeech.audio import transforms
from leanspeech.nn import pooling
from leanspeech.profile import costs
from leanspeech.profile.rules import LayerCost, register_extra, register_rule

def _frames(spec: Tensor, bins: int) -> int:
    return spec.numel() // bins


@register_rule(transforms.STFT)
def count_stft(module: transforms.STFT, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    cost = costs.stft_cost(_frames(output, module.n_fft // 2 + 1), module.n_fft, module.win_length)
    cost.activations = 2.0 * output.numel()  # complex: two reals per bin
    return cost


@register_rule(transforms.ISTFT)
def count_istft(module: transforms.ISTFT, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """Inverse DFT per frame (same cost as the forward one, window included), overlap-add of the
    windowed frames (win_length adds) and division by the summed squared window (one per sample)."""
    spec = inputs[0]
    frames = _frames(spec, module.n_fft // 2 + 1)
    cost = costs.stft_cost(frames, module.n_fft, module.win_length)
    return cost + LayerCost(macs=0.0, flops=float(frames * module.win_length + output.numel()))


# Per bin after the DFT: re² + im² = 3; a power other than 2 adds a clamp and a pow.
def _power_flops(power: float) -> float:
    return 3.0 if power == 2.0 else 5.0


@register_rule(transforms.PowerSpectrogram)
def count_power_spectrogram(module: transforms.PowerSpectrogram, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    cost = costs.stft_cost(_frames(output, module.n_fft // 2 + 1), module.n_fft, module.win_length)
    return cost + LayerCost(macs=0.0, flops=_power_flops(module.power) * output.numel(), activations=float(output.numel()))


@register_rule(transforms.CompressedComplexSpectrogram)
def count_compressed_complex(
    module: transforms.CompressedComplexSpectrogram, inputs: tuple[Any, ...], output: Tensor
) -> LayerCost:
    bins = output.numel() // 2
    cost = costs.stft_cost(bins // (module.n_fft // 2 + 1), module.n_fft, module.n_fft)
    # energy re² + im² (3), clamp (1), pow (1), scaling re and im (2)
    return cost + LayerCost(macs=0.0, flops=7.0 * bins, activations=float(output.numel()))


@register_rule(transforms.FilterBank)
def count_filterbank(module: transforms.FilterBank, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    # Applied as a dense matrix product, so counted dense; the note says how much of it is zeros.
    cost = costs.conv_cost(output.numel(), module.n_freqs, 1, (1,), bias=False)
    nonzero = int(torch.count_nonzero(module.matrix))
    cost.note = f"dense; {nonzero} of {module.matrix.numel()} weights nonzero"
    return cost


@register_rule(transforms.LogCompression)
def count_log_compression(module: transforms.LogCompression, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return LayerCost(macs=0.0, flops=2.0 * output.numel(), activations=0.0)  # add offset, log


@register_rule(transforms.PeakNormalize)
def count_peak_normalize(module: transforms.PeakNormalize, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return LayerCost(macs=0.0, flops=3.0 * output.numel(), activations=0.0)  # |x|, running max, scale


@register_rule(transforms.RMSNormalize)
def count_rms_normalize(module: transforms.RMSNormalize, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return LayerCost(macs=float(output.numel()), flops=3.0 * output.numel(), activations=0.0)  # x², sum, scale


@register_extra(pooling.AttentionPooling)
def extra_attention_pooling(module: pooling.AttentionPooling, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """softmax over T of the (B, T, 1) scores, then the weighted sum Σ_t w_t·x_t (children: the MLP)."""
    x = inputs[0]
    frames, dim = x.shape[-2], x.shape[-1]
    rows = x.numel() // (frames * dim)
    flops = costs.softmax_flops(rows, frames) + costs.product_sum_flops(rows * dim, frames, bias=False)
    return LayerCost(macs=rows * frames * dim, flops=flops, params=0.0, activations=float(output.numel()))


@register_extra(pooling.AttentiveStatisticsPooling)
def extra_attentive_statistics_pooling(
    module: pooling.AttentiveStatisticsPooling, inputs: tuple[Any, ...], output: Tensor
) -> LayerCost:
    """Per channel and clip of T frames (children: the attention MLP):
    global context (optional): mean (T − 1 adds, 1 divide) and std (x − μ, square, T − 1 adds, divide, sqrt);
    softmax over T; weighted mean (T MACs); weighted variance (x − μ, square, then T MACs with the weights); sqrt."""
    x = inputs[0]
    frames = x.shape[-1]
    series = x.numel() // frames  # B · C
    weighted_sums = costs.product_sum_flops(2 * series, frames, bias=False)
    flops = costs.softmax_flops(series, frames) + weighted_sums + 2 * x.numel() + series
    if module.global_context:
        flops += 4 * x.numel() + series
    return LayerCost(macs=2.0 * x.numel(), flops=flops, params=0.0, activations=float(output.numel()))
