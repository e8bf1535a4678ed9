"""Closed-form costs as pure functions of shapes: the one place where the counting convention lives.

MAC: one multiply-accumulate of a tensor contraction (matmul, convolution, DFT, recurrent gates,
attention products, weighted sums), plus one per output element for a bias add (torchinfo's and
ptflops' convention, the one bam-qat-sqp.md's Table 1 uses). Elementwise arithmetic is not a MAC.
FLOPs follow moduleprofiler (the width paper's ruler): a product-sum of n terms with a bias is 2n
FLOPs, without a bias 2n − 1; elementwise functions cost ELEMENTWISE_FLOPS per element.
Layer rules (torch_rules.py, speech_rules.py, and each leanspeech layer's own) call these functions with the
shapes they see, so a dynamic layer passes its live width and a D-GRU its update fraction.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Sequence

import torch

from leanspeech.profile.rules import LayerCost

# FLOPs per element. First line: moduleprofiler's values. The rest are leanspeech's own, counting
# exp/log/sqrt/erf/compare as one operation, as moduleprofiler counts exp.
ELEMENTWISE_FLOPS: dict[str, float] = {
    "relu": 1, "leaky_relu": 4, "prelu": 4, "elu": 3, "selu": 7, "sigmoid": 3, "tanh": 7, "softplus": 5,
    "add": 1, "mul": 1, "sub": 1, "div": 1, "sqrt": 1, "log": 1, "exp": 1, "pow": 1, "max": 1,
    "relu6": 2, "hardtanh": 2, "hardsigmoid": 3, "hardswish": 4, "silu": 4, "gelu": 8, "mish": 12,
    "heaviside": 1, "sign": 1, "identity": 0, "abs": 1, "neg": 1,
    # composites, as their formula's operations: CELU = α·ELU(x/α); a shrink or threshold is |x| (if
    # any) and one compare-and-select, as ReLU; softshrink = sign(x)·relu(|x| − λ); softsign =
    # x / (1 + |x|); tanhshrink = x − tanh x; logsigmoid = −log(1 + exp(−x)); RReLU at inference is a
    # LeakyReLU with the mean slope.
    "celu": 5, "hardshrink": 2, "threshold": 1, "softshrink": 5, "softsign": 3, "tanhshrink": 8,
    "logsigmoid": 5, "rrelu": 4,
}


def softmax_flops(rows: int, length: int) -> float:
    """moduleprofiler: 4n − 1 per row of n (exp, sum, divide; max subtraction included)."""
    return rows * (4 * length - 1)


def product_sum_flops(outputs: float, terms: float, bias: bool) -> float:
    return outputs * (2 * terms if bias else 2 * terms - 1)


def linear_cost(rows: int, in_features: int, out_features: int, bias: bool) -> LayerCost:
    outputs = rows * out_features
    return LayerCost(
        macs=outputs * in_features + (outputs if bias else 0),
        flops=product_sum_flops(outputs, in_features, bias),
    )


def conv_cost(outputs: int, in_channels: int, groups: int, kernel: Sequence[int], bias: bool) -> LayerCost:
    """`outputs` = B·C_out·Π output spatial sizes; each sums C_in/groups · Π kernel products (padding included)."""
    terms = in_channels // groups * math.prod(kernel)
    return LayerCost(macs=outputs * terms + (outputs if bias else 0), flops=product_sum_flops(outputs, terms, bias))


def is_binary_map(x: Any) -> bool:
    """True when every element is 0 or 1 (a binary activation map, also after max pooling or inference
    dropout): products with it are binary, not full-precision, multiplies. A quantized map qualifies when
    it holds zero and at most one other value (a binary map in 8 bits, whose 1 need not dequantize to 1.0)."""
    if not (isinstance(x, torch.Tensor) and x.numel() > 0):
        return False
    if x.is_quantized:
        if x.qscheme() != torch.per_tensor_affine:
            return False
        codes = torch.unique(x.int_repr()).tolist()
        return len(codes) == 1 or (len(codes) == 2 and x.q_zero_point() in codes)
    return bool(((x == 0) | (x == 1)).all())


def with_binary_products(cost: LayerCost, bias_macs: float, operands: str) -> LayerCost:
    """Move a layer's weight products to `binary_macs`; its bias additions stay full-precision."""
    return LayerCost(macs=float(bias_macs), flops=cost.flops, binary_macs=cost.macs - bias_macs, note=f"binary {operands}")


def transposed_conv_cost(
    inputs: int, out_channels: int, groups: int, kernel: Sequence[int], outputs: int, bias: bool
) -> LayerCost:
    """Scatter form, what torch runs: every input element (B·C_in·Π in) meets C_out/groups · Π kernel taps."""
    weight_macs = inputs * (out_channels // groups) * math.prod(kernel)
    return LayerCost(
        macs=weight_macs + (outputs if bias else 0),
        flops=2 * weight_macs - (0 if bias else outputs),
    )


def elementwise_cost(kind: str, elements: int) -> LayerCost:
    return LayerCost(macs=0.0, flops=ELEMENTWISE_FLOPS[kind] * elements, activations=0.0)


# Elementwise FLOPs per hidden unit and step of a recurrent cell, with bias (without: 1 less per gate).
# GRU: r, z = σ(a + b) → 2·(1 + 3); n = tanh(a + r·b) → 1 + 1 + 7; h' = (1 − z)·n + z·h → 4. Total 21.
# LSTM: i, f, o = σ → 3·(1 + 3); g = tanh → 1 + 7; c' = f·c + i·g → 3; h' = o·tanh(c') → 8. Total 31.
GRU_GATE_FLOPS = {"z": 4.0, "r": 4.0, "n": 9.0, "state": 4.0}
LSTM_ELEMENTWISE_FLOPS = 31.0
RNN_ELEMENTWISE_FLOPS = {"tanh": 1 + 7, "relu": 1 + 1}


def dgru_gate_share(update_fraction: float) -> float:
    """Share of a GRU's gate work a D-GRU does: z for every neuron, r and n for the selected ones."""
    return (1 + 2 * update_fraction) / 3


def gru_cost(
    steps: int, batch: int, input_size: int, hidden_size: int, num_layers: int = 1,
    bidirectional: bool = False, bias: bool = True, update_fraction: float = 1.0,
) -> LayerCost:
    """nn.GRU / nn.GRUCell. `update_fraction` = P/100 of a D-GRU: z is always computed, r and n and
    the state update only for the selected units, so gate work is (1 + 2·P/100)/3 of the dense GRU."""
    directions = 2 if bidirectional else 1
    h = hidden_size
    gate_share = dgru_gate_share(update_fraction)
    macs = flops = 0.0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else h * directions
        gate_products = 3 * h * (layer_input + h)  # W_i· x and W_h· h for r, z, n
        biases = 6 * h if bias else 0
        elementwise = GRU_GATE_FLOPS["z"] + update_fraction * (
            GRU_GATE_FLOPS["r"] + GRU_GATE_FLOPS["n"] + GRU_GATE_FLOPS["state"]
        )
        macs += gate_share * (gate_products + biases)
        dot_flops = 2 * gate_products - (0 if bias else 6 * h)
        flops += gate_share * dot_flops + elementwise * h
    units = steps * batch * directions
    note = "" if update_fraction == 1.0 else f"D-GRU P={100 * update_fraction:g}%: gate work x{gate_share:.4f}"
    return LayerCost(macs=units * macs, flops=units * flops, note=note)


def lstm_cost(
    steps: int, batch: int, input_size: int, hidden_size: int, num_layers: int = 1,
    bidirectional: bool = False, bias: bool = True, proj_size: int = 0,
) -> LayerCost:
    """nn.LSTM / nn.LSTMCell; with proj_size the state is projected to proj_size (H·P per step)."""
    directions = 2 if bidirectional else 1
    h = hidden_size
    state = proj_size or h
    macs = flops = 0.0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else state * directions
        gate_products = 4 * h * (layer_input + state)
        projection = h * proj_size
        macs += gate_products + projection + (8 * h if bias else 0)
        flops += 2 * gate_products - (0 if bias else 8 * h) + LSTM_ELEMENTWISE_FLOPS * h + (2 * projection - proj_size)
    units = steps * batch * directions
    return LayerCost(macs=units * macs, flops=units * flops)


def rnn_cost(
    steps: int, batch: int, input_size: int, hidden_size: int, num_layers: int = 1,
    bidirectional: bool = False, bias: bool = True, nonlinearity: str = "tanh",
) -> LayerCost:
    """nn.RNN / nn.RNNCell: h' = act(W_i x + b_i + W_h h + b_h)."""
    directions = 2 if bidirectional else 1
    h = hidden_size
    macs = flops = 0.0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else h * directions
        products = h * (layer_input + h)
        macs += products + (2 * h if bias else 0)
        flops += 2 * products - (0 if bias else 2 * h) + RNN_ELEMENTWISE_FLOPS[nonlinearity] * h
    units = steps * batch * directions
    return LayerCost(macs=units * macs, flops=units * flops)


def attention_cost(
    batch: int, query_length: int, key_length: int, embed_dim: int, num_heads: int, kdim: int, vdim: int,
    in_bias: bool, out_bias: bool,
) -> LayerCost:
    """nn.MultiheadAttention: Q/K/V projections, scaled scores Q·Kᵀ, softmax, weights·V, output projection."""
    q_proj = linear_cost(batch * query_length, embed_dim, embed_dim, in_bias)
    k_proj = linear_cost(batch * key_length, kdim, embed_dim, in_bias)
    v_proj = linear_cost(batch * key_length, vdim, embed_dim, in_bias)
    out_proj = linear_cost(batch * query_length, embed_dim, embed_dim, out_bias)
    products = 2 * batch * query_length * key_length * embed_dim  # Q·Kᵀ and weights·V over all heads
    scale = batch * query_length * embed_dim  # q / sqrt(head_dim)
    softmax = softmax_flops(batch * num_heads * query_length, key_length)
    attention = LayerCost(macs=products, flops=2 * products + scale + softmax)
    return q_proj + k_proj + v_proj + out_proj + attention


def fft_flops(n: int) -> float:
    """A complex radix-2 FFT of n points: (n/2)·log2 n butterflies of 1 complex multiply (6 FLOPs)
    and 2 complex adds (4 FLOPs) = 5·n·log2 n. A real input of n points costs half (packed trick)."""
    return 5 * n * math.log2(n)


# A frame's DFT is counted by one of two conventions, chosen with `fft_convention(name)`:
# - "fft" (default): what torch runs. A real frame of n_fft points costs half a complex radix-2 FFT,
#   2.5·n·log2 n FLOPs, plus the window: one multiply per sample. MACs are FLOPs / 2 so that the MAC
#   column stays comparable with the layers around it.
# - "dft": a dense real DFT by matrix product, the way an accelerator without an FFT would run it:
#   2·n_fft·F MACs per frame (real samples times a complex basis), window folded into the basis.
FFT_CONVENTIONS = ("fft", "dft")
_fft_convention = ["fft"]


@contextlib.contextmanager
def fft_convention(name: str) -> Iterator[None]:
    if name not in FFT_CONVENTIONS:
        raise ValueError(f"unknown DFT convention {name!r}; choose one of {', '.join(FFT_CONVENTIONS)}")
    previous = _fft_convention[0]
    _fft_convention[0] = name
    try:
        yield
    finally:
        _fft_convention[0] = previous


def stft_cost(frames: int, n_fft: int, win_length: int) -> LayerCost:
    """`frames` = batch · frames, each an n_fft-point real DFT to n_fft // 2 + 1 bins."""
    if _fft_convention[0] == "dft":
        bins = n_fft // 2 + 1
        return LayerCost(
            macs=frames * 2 * n_fft * bins,
            flops=product_sum_flops(frames * 2 * bins, n_fft, bias=False),
            note="dense DFT",
        )
    flops = frames * (fft_flops(n_fft) / 2 + win_length)
    return LayerCost(macs=flops / 2, flops=flops, note="real FFT 2.5·n·log2 n")


