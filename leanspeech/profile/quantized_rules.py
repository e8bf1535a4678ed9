"""Counting rules of torch.ao's quantized layers (static int8 from FX or eager mode, dynamic int8).

An int8 layer does its float layer's multiply-accumulates on 8-bit operands, so its rule is the float
formula on the same shapes, noted "int8" ("int8 weights" where dynamic quantization keeps float
activations); a fused activation (LinearReLU, ConvReLU2d, ...) or residual add (ConvAdd2d) adds its
elementwise FLOPs. Fed by a binary map held in 8 bits (zero and one other value: "BAM + int8"), an
int8 convolution counts its weight products as binary MACs, as its float layer would. The packed
weights are counted by `params.packed_weights`, at 8 bits in memory; quantized outputs count at their
own width (counter.py). Quantize / DeQuantize modules: a scale and a shift per element (2 FLOPs, no
MAC). The FX flow inserts those two as functions, which hooks do not see, like any functional
arithmetic (docs/profiler.md).
"""

from __future__ import annotations

from typing import Any

import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.intrinsic.quantized.dynamic as nniqd
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
from torch import Tensor

from leanspeech.profile import costs
from leanspeech.profile.rules import LayerCost, register_rule
from leanspeech.profile.torch_rules import cell_cost, count_batchnorm, count_max_pool, first_tensor, sequence_shape

# Fused elementwise work after the weighted op, per output element.
FUSED_KINDS: dict[type, tuple[str, ...]] = {
    nniq.LinearReLU: ("relu",), nniqd.LinearReLU: ("relu",), nniq.LinearLeakyReLU: ("leaky_relu",),
    nniq.LinearTanh: ("tanh",), nniq.ConvReLU1d: ("relu",), nniq.ConvReLU2d: ("relu",), nniq.ConvReLU3d: ("relu",),
    nniq.ConvAdd2d: ("add",), nniq.ConvAddReLU2d: ("add", "relu"), nniq.BNReLU2d: ("relu",), nniq.BNReLU3d: ("relu",),
}


def _int8(cost: LayerCost, module: Any, output: Tensor, dynamic: bool = False) -> LayerCost:
    fused = sum(costs.ELEMENTWISE_FLOPS[kind] for kind in FUSED_KINDS.get(type(module), ()))
    cost.flops = cost.total_flops + fused * output.numel()
    cost.note = "; ".join(filter(None, ["int8 weights" if dynamic else "int8", cost.note]))
    return cost


@register_rule(nnq.Linear)  # with nnqd.Linear and the fused Linear* modules, its subclasses
def count_int8_linear(module: nnq.Linear, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    rows = inputs[0].numel() // module.in_features
    cost = costs.linear_cost(rows, module.in_features, module.out_features, module.bias() is not None)
    return _int8(cost, module, output, dynamic=isinstance(module, nnqd.Linear))


@register_rule(nnq.Conv1d, nnq.Conv2d, nnq.Conv3d)  # and the fused ConvReLU* / ConvAdd* subclasses
def count_int8_conv(module: nnq.Conv2d, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    bias = module.bias() is not None
    cost = costs.conv_cost(output.numel(), module.in_channels, module.groups, module.kernel_size, bias)
    if costs.is_binary_map(inputs[0]):
        cost = costs.with_binary_products(cost, output.numel() if bias else 0, "input")
    return _int8(cost, module, output)


@register_rule(nnq.ConvTranspose1d, nnq.ConvTranspose2d, nnq.ConvTranspose3d)
def count_int8_transposed_conv(module: nnq.ConvTranspose2d, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    cost = costs.transposed_conv_cost(inputs[0].numel(), module.out_channels, module.groups, module.kernel_size,
                                      output.numel(), module.bias() is not None)
    return _int8(cost, module, output)


@register_rule(nnq.BatchNorm2d, nnq.BatchNorm3d)  # and BNReLU2d / BNReLU3d
def count_int8_batchnorm(module: nnq.BatchNorm2d, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return _int8(count_batchnorm(module, inputs, output), module, output)


register_rule(nnq.MaxPool2d)(count_max_pool)  # a _MaxPoolNd, not the nn.MaxPool2d the float rule names


@register_rule(nnq.ReLU6)  # a subclass of nn.ReLU, whose rule would count one comparison, not two
def count_int8_relu6(module: nnq.ReLU6, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return costs.elementwise_cost("relu6", inputs[0].numel())


@register_rule(nnq.PReLU)
def count_int8_prelu(module: nnq.PReLU, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return costs.elementwise_cost("prelu", inputs[0].numel())


@register_rule(nnq.Quantize, nnq.DeQuantize)
def count_quantize(module: Any, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    elements = first_tensor(inputs[0]).numel()
    return LayerCost(macs=0.0, flops=float(elements * (costs.ELEMENTWISE_FLOPS["mul"] + costs.ELEMENTWISE_FLOPS["add"])))


@register_rule(nnqd.GRU, nnqd.LSTM)
def count_dynamic_int8_rnn(module: nnqd.GRU, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    steps, batch = sequence_shape(module, inputs[0])
    shape = (steps, batch, module.input_size, module.hidden_size, module.num_layers, module.bidirectional, module.bias)
    cost = costs.gru_cost(*shape) if module.mode == "GRU" else costs.lstm_cost(*shape, getattr(module, "proj_size", 0))
    cost.note = "int8 weights"
    return cost


DYNAMIC_CELL_KINDS = {nnqd.GRUCell: "gru", nnqd.LSTMCell: "lstm", nnqd.RNNCell: "rnn"}


@register_rule(*DYNAMIC_CELL_KINDS)
def count_dynamic_int8_cell(module: nnqd.GRUCell, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    cost = cell_cost(module, inputs, DYNAMIC_CELL_KINDS[type(module)])
    cost.note = "int8 weights"
    return cost
