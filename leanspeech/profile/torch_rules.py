"""Counting rules of torch.nn layers (formulas in costs.py; conventions in docs/profiler.md)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from leanspeech.profile import costs
from leanspeech.profile.rules import LayerCost, register_extra, register_free, register_rule

register_free(
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.Flatten, nn.Unflatten, nn.ChannelShuffle, nn.PixelShuffle, nn.PixelUnshuffle,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ZeroPad3d, nn.ConstantPad3d, nn.ReflectionPad3d, nn.ReplicationPad3d,
    nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d,
)


def first_tensor(value: Any) -> Tensor:
    while isinstance(value, (tuple, list)):
        value = value[0]
    return value.data if isinstance(value, PackedSequence) else value


@register_rule(nn.Linear)
def count_linear(module: nn.Linear, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    rows = inputs[0].numel() // module.in_features
    return costs.linear_cost(rows, module.in_features, module.out_features, module.bias is not None)


@register_rule(nn.Bilinear)
def count_bilinear(module: nn.Bilinear, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """y_k = x1ᵀ·A_k·x2 + b_k as torch contracts it: x1 with A (in1 products for each k and in2), then
    with x2 (in2 for each k)."""
    rows = output.numel() // module.out_features
    first = rows * module.out_features * module.in2_features
    bias = module.bias is not None
    return LayerCost(
        macs=float(first * module.in1_features + output.numel() * (module.in2_features + (1 if bias else 0))),
        flops=float(costs.product_sum_flops(first, module.in1_features, False)
                    + costs.product_sum_flops(output.numel(), module.in2_features, bias)),
    )


@register_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def count_conv(module: nn.modules.conv._ConvNd, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    cost = costs.conv_cost(output.numel(), module.in_channels, module.groups, module.kernel_size, module.bias is not None)
    if costs.is_binary_map(inputs[0]):  # fed by a binary activation map: its products are binary
        return costs.with_binary_products(cost, output.numel() if module.bias is not None else 0, "input")
    return cost


@register_rule(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def count_transposed_conv(module: nn.modules.conv._ConvTransposeNd, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return costs.transposed_conv_cost(
        inputs[0].numel(), module.out_channels, module.groups, module.kernel_size, output.numel(),
        module.bias is not None,
    )


def _normalization(
    output: Tensor, groups: int, affine_elements: float, with_bias: bool = True, centered: bool = True
) -> LayerCost:
    """Statistics and normalization per group of n elements (moduleprofiler: 5n + 4; without centring,
    RMSNorm: x² n, sum n, ÷ n, + eps, √, x ÷ rms n = 3n + 3), then the affine scale and shift (2 per
    element, 1 without a bias). MACs: one scale-and-shift per element."""
    n = output.numel() / groups
    statistics = 5 * n + 4 if centered else 3 * n + 3
    affine = affine_elements * (2 if with_bias else 1)
    return LayerCost(macs=output.numel(), flops=groups * statistics + affine, activations=0.0)


@register_rule(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
def count_batchnorm(module: nn.modules.batchnorm._BatchNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    # moduleprofiler counts the statistics as in training: (7N + 4)·C, N = elements per channel.
    return _normalization(output, module.num_features, output.numel() if module.affine else 0)


@register_rule(nn.LayerNorm)
def count_layernorm(module: nn.LayerNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    rows = output.numel() // math.prod(module.normalized_shape)
    affine = output.numel() if module.elementwise_affine else 0
    return _normalization(output, rows, affine, with_bias=getattr(module, "bias", None) is not None)


@register_rule(nn.RMSNorm)
def count_rmsnorm(module: nn.RMSNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    rows = output.numel() // math.prod(module.normalized_shape)
    affine = output.numel() if module.elementwise_affine else 0
    return _normalization(output, rows, affine, with_bias=False, centered=False)


@register_rule(nn.LocalResponseNorm)
def count_local_response_norm(module: nn.LocalResponseNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """x / (k + α·mean of x² over `size` channels)^β: square 1, window mean `size` (zero padding
    included, as torch averages), × α, + k, ^β, ÷ 1 each per element."""
    return LayerCost(macs=float(output.numel()), flops=float(output.numel() * (module.size + 5)), activations=0.0)


@register_rule(nn.GroupNorm)
def count_groupnorm(module: nn.GroupNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    batch = output.shape[0] if output.dim() > 1 else 1
    return _normalization(output, batch * module.num_groups, output.numel() if module.affine else 0)


@register_rule(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def count_instancenorm(module: nn.modules.instancenorm._InstanceNorm, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    spatial = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}[type(module)]
    groups = output.numel() // math.prod(output.shape[-spatial:])
    return _normalization(output, groups, output.numel() if module.affine else 0)


@register_rule(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
               nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)
def count_max_pool(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    # moduleprofiler: one operation per output (a max over the window treated as one op).
    return LayerCost(macs=0.0, flops=float(first_tensor(output).numel()), activations=0.0)


def _as_tuple(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


@register_rule(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
def count_avg_pool(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    dims = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}[type(module)]
    window = math.prod(_as_tuple(module.kernel_size, dims))
    return LayerCost(macs=0.0, flops=float(output.numel() * window), activations=0.0)


@register_rule(nn.LPPool1d, nn.LPPool2d, nn.LPPool3d)
def count_lp_pool(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    # (Σ over the window of x^p)^(1/p): `window` powers, window − 1 adds and one root per output.
    dims = {nn.LPPool1d: 1, nn.LPPool2d: 2, nn.LPPool3d: 3}[type(module)]
    window = math.prod(_as_tuple(module.kernel_size, dims))
    return LayerCost(macs=0.0, flops=float(output.numel() * 2 * window), activations=0.0)


def adaptive_window_total(in_size: int, out_size: int) -> int:
    """Σ over outputs of torch's adaptive window length [floor(i·in/out), ceil((i+1)·in/out))."""
    return sum(-(-(i + 1) * in_size // out_size) - (i * in_size // out_size) for i in range(out_size))


def adaptive_average_flops(x: Tensor, output: Tensor, dims: int) -> float:
    """k adds-and-divide per output of a window of k; windows vary in size, so sum them exactly."""
    channels = x.numel() // math.prod(x.shape[-dims:])
    per_channel = math.prod(adaptive_window_total(i, o) for i, o in zip(x.shape[-dims:], output.shape[-dims:]))
    return float(channels * per_channel)


@register_rule(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
def count_adaptive_avg_pool(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    dims = {nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3}[type(module)]
    return LayerCost(macs=0.0, flops=adaptive_average_flops(inputs[0], output, dims), activations=0.0)


def sequence_shape(module: nn.RNNBase, x: Any) -> tuple[int, int]:
    """(steps, batch) actually run: a PackedSequence runs only its real (unpadded) steps."""
    if isinstance(x, PackedSequence):
        return int(x.data.shape[0]), 1
    if x.dim() == 2:  # unbatched (L, H_in)
        return x.shape[0], 1
    return (x.shape[1], x.shape[0]) if module.batch_first else (x.shape[0], x.shape[1])


def count_gru_family(module: nn.GRU, inputs: tuple[Any, ...], update_fraction: float = 1.0) -> LayerCost:
    """nn.GRU, or a D-GRU updating `update_fraction` of its neurons. Fed by a binary map, the first layer's
    W_i·x products (the share of them a D-GRU computes) are binary."""
    steps, batch = sequence_shape(module, inputs[0])
    cost = costs.gru_cost(steps, batch, module.input_size, module.hidden_size, module.num_layers,
                          module.bidirectional, module.bias, update_fraction=update_fraction)
    if not costs.is_binary_map(first_tensor(inputs[0])):
        return cost
    directions = 2 if module.bidirectional else 1
    binary = (steps * batch * directions * 3 * module.hidden_size * module.input_size
              * costs.dgru_gate_share(update_fraction))
    note = "; ".join(filter(None, [cost.note, "binary input"]))
    return LayerCost(macs=cost.macs - binary, flops=cost.flops, binary_macs=binary, note=note)


@register_rule(nn.GRU)
def count_gru(module: nn.GRU, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    return count_gru_family(module, inputs)


@register_rule(nn.LSTM)
def count_lstm(module: nn.LSTM, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    steps, batch = sequence_shape(module, inputs[0])
    return costs.lstm_cost(
        steps, batch, module.input_size, module.hidden_size, module.num_layers, module.bidirectional, module.bias,
        module.proj_size,
    )


@register_rule(nn.RNN)
def count_rnn(module: nn.RNN, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    steps, batch = sequence_shape(module, inputs[0])
    return costs.rnn_cost(
        steps, batch, module.input_size, module.hidden_size, module.num_layers, module.bidirectional, module.bias,
        module.nonlinearity,
    )


def cell_cost(module: Any, inputs: tuple[Any, ...], kind: str) -> LayerCost:
    """One step of a recurrent cell, `kind` "gru", "lstm" or "rnn" (float or dynamic int8 cells)."""
    args = (1, inputs[0].numel() // module.input_size, module.input_size, module.hidden_size, 1, False, module.bias)
    if kind == "gru":
        return costs.gru_cost(*args)
    if kind == "lstm":
        return costs.lstm_cost(*args)
    return costs.rnn_cost(*args, nonlinearity=module.nonlinearity)


CELL_KINDS = {nn.GRUCell: "gru", nn.LSTMCell: "lstm", nn.RNNCell: "rnn"}


@register_rule(*CELL_KINDS)
def count_cell(module: nn.RNNCellBase, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    return cell_cost(module, inputs, next(CELL_KINDS[c] for c in type(module).__mro__ if c in CELL_KINDS))


@register_rule(nn.MultiheadAttention)
def count_multihead_attention(module: nn.MultiheadAttention, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    query, key = inputs[0], inputs[1]
    if query.dim() == 2:  # unbatched (L, E)
        batch, query_length, key_length = 1, query.shape[0], key.shape[0]
    elif module.batch_first:
        batch, query_length, key_length = query.shape[0], query.shape[1], key.shape[1]
    else:
        batch, query_length, key_length = query.shape[1], query.shape[0], key.shape[0]
    cost = costs.attention_cost(
        batch, query_length, key_length, module.embed_dim, module.num_heads, module.kdim, module.vdim,
        module.in_proj_bias is not None, module.out_proj.bias is not None,
    )
    cost.activations = float(first_tensor(output).numel())
    return cost


@register_rule(nn.CosineSimilarity)
def count_cosine_similarity(module: nn.CosineSimilarity, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """x1·x2 per broadcast pair (n MACs), ‖x1‖² and ‖x2‖² per row of each input as given (a broadcast
    input's norms are computed once), a root per norm, then per pair the product of the roots, the eps
    clamp and the divide (3)."""
    x1, x2 = inputs[0], inputs[1]
    dim = module.dim - output.dim() - 1 if module.dim >= 0 else module.dim  # from the right, as broadcasting aligns
    pairs, n = output.numel(), max(x1.shape[dim], x2.shape[dim])
    rows = [x.numel() // x.shape[dim] for x in (x1, x2)]
    norm_flops = sum(r * (2 * x.shape[dim] - 1) + r for r, x in zip(rows, (x1, x2)))  # sums of squares, roots
    return LayerCost(
        macs=float(pairs * n + x1.numel() + x2.numel()),
        flops=float(costs.product_sum_flops(pairs, n, False) + norm_flops + 3 * pairs),
    )


@register_rule(nn.PairwiseDistance)
def count_pairwise_distance(module: nn.PairwiseDistance, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """‖x1 − x2 + eps‖_p over the last dim: subtract and add eps (2n), then for p = 2 a sum of squares
    (n MACs) and a root; for other p, |d| and d^p (2n), the sum (n − 1) and a root."""
    n = torch.broadcast_shapes(inputs[0].shape, inputs[1].shape)[-1]
    pairs = output.numel()
    if module.norm == 2:
        return LayerCost(macs=float(n * pairs), flops=float(pairs * (2 * n + costs.product_sum_flops(1, n, False) + 1)))
    return LayerCost(macs=0.0, flops=float(pairs * 5 * n))


_FUNCTION_KINDS = {"relu": "relu", "gelu": "gelu", "silu": "silu", "tanh": "tanh", "sigmoid": "sigmoid"}


@register_extra(nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
def extra_transformer_layer(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """The functional parts of the layer: the residual adds (two in an encoder layer, three with a
    decoder's cross-attention) and the feed-forward activation when it is a function (F.relu / F.gelu)
    rather than a child module. Children count the rest."""
    residuals = 3 if isinstance(module, nn.TransformerDecoderLayer) else 2
    cost = costs.elementwise_cost("add", residuals * output.numel())
    activation = module.activation
    if not isinstance(activation, nn.Module):
        kind = _FUNCTION_KINDS[getattr(activation, "__name__", "relu")]
        hidden = output.numel() // module.linear1.in_features * module.linear1.out_features
        cost = cost + costs.elementwise_cost(kind, hidden)
    cost.params = 0.0
    return cost
