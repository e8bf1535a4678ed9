"""Counting rules of torch.nn's elementwise activations and softmax family (FLOPs per element in
costs.ELEMENTWISE_FLOPS; no MACs, and no activation memory: they work in place)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from leanspeech.profile import costs
from leanspeech.profile.rules import LayerCost, register_rule

ACTIVATION_KINDS: dict[type, str] = {
    nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.ELU: "elu", nn.SELU: "selu",
    nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softplus: "softplus", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh",
    nn.Hardsigmoid: "hardsigmoid", nn.Hardswish: "hardswish", nn.SiLU: "silu", nn.GELU: "gelu", nn.Mish: "mish",
    nn.CELU: "celu", nn.Hardshrink: "hardshrink", nn.Threshold: "threshold", nn.Softshrink: "softshrink",
    nn.Softsign: "softsign", nn.Tanhshrink: "tanhshrink", nn.LogSigmoid: "logsigmoid", nn.RReLU: "rrelu",
}


@register_rule(*ACTIVATION_KINDS)
def count_activation(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    # The most specific class first: ReLU6 is a Hardtanh, and must count as ReLU6.
    kind = next(ACTIVATION_KINDS[cls] for cls in type(module).__mro__ if cls in ACTIVATION_KINDS)
    return costs.elementwise_cost(kind, inputs[0].numel())


def softmax_dim(module: nn.Module, x: Tensor) -> int:
    if isinstance(module, nn.Softmax2d):
        return -3  # over the channels at every position
    if module.dim is not None:
        return module.dim
    return 0 if x.dim() in (0, 1, 3) else 1  # torch's legacy default


@register_rule(nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d)
def count_softmax(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    x = inputs[0]
    length = x.shape[softmax_dim(module, x)] if x.dim() else 1
    flops = costs.softmax_flops(x.numel() // length, length)
    if isinstance(module, nn.LogSoftmax):
        flops += x.numel() * costs.ELEMENTWISE_FLOPS["log"]
    return LayerCost(macs=0.0, flops=flops, activations=0.0)


@register_rule(nn.GLU)
def count_glu(module: nn.GLU, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    per_output = costs.ELEMENTWISE_FLOPS["sigmoid"] + costs.ELEMENTWISE_FLOPS["mul"]
    return LayerCost(macs=0.0, flops=per_output * output.numel(), activations=0.0)
