"""Binary activation maps and binary weights (bam-qat-sqp.md) trained with surrogate gradients.

Forward: Heaviside H(x) = 1 if x > 0 else 0. Backward, two estimators:
- SuperSpike (Zenke & Ganguli): dH/dx ≈ 1 / (β|x| + 1)², β per layer (default 5, the paper's grid-search
  optimum). The authors' code kept β as a class-level static shared by every layer; here it is a
  plain attribute of each module.
- Straight-through (Bengio et al. 2013), for comparison: dH/dx ≈ 1 for |x| ≤ 1, else 0.
Binary weights: w_b = 2·(H(w) − 0.5) ∈ {±1} through the same SuperSpike surrogate, scaled by
sqrt(2 / fan_in) (He-like, keeps the pre-activation scale), float bias; initialised U(±0.05).

The classes build with no arguments, so a model can name them (`QualityCNN(activation="BinaryActivation")`).
Their counting rules sit at the end: a binary activation reports 1-bit outputs, a binary-weight conv
reports its weight products as binary MACs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from leanspeech.profile.costs import conv_cost, elementwise_cost, is_binary_map, with_binary_products
from leanspeech.profile.rules import LayerCost, register_rule

DEFAULT_BETA = 5.0


class _SuperSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, beta: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad / (ctx.beta * x.abs() + 1.0) ** 2, None


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def heaviside_superspike(x: Tensor, beta: float = DEFAULT_BETA) -> Tensor:
    """H(x) in {0, 1}; gradient 1 / (β|x| + 1)²."""
    return _SuperSpike.apply(x, float(beta))


def heaviside_ste(x: Tensor) -> Tensor:
    """H(x) in {0, 1}; straight-through gradient, clipped to |x| ≤ 1."""
    return _StraightThrough.apply(x)


def superspike_surrogate(x: Tensor, beta: float = DEFAULT_BETA) -> Tensor:
    """The closed-form surrogate derivative 1 / (β|x| + 1)², for analysis and tests."""
    return 1.0 / (beta * x.abs() + 1.0) ** 2


def binary_weight(weight: Tensor, beta: float = DEFAULT_BETA) -> Tensor:
    """±sqrt(2 / fan_in): 2·(H(w) − 0.5) through the SuperSpike surrogate, He-scaled."""
    fan_in = weight[0].numel()
    return 2.0 * (heaviside_superspike(weight, beta) - 0.5) * math.sqrt(2.0 / fan_in)


class BinaryActivation(nn.Module):
    """Heaviside activation with the SuperSpike surrogate gradient; β is this layer's own."""

    binary_output = True

    def __init__(self, beta: float = DEFAULT_BETA):
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:  # a plain comparison: no surrogate needed, and it traces/exports
            return (x > 0).to(x.dtype)
        return heaviside_superspike(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}"


class BinaryActivationSTE(nn.Module):
    """Heaviside activation with the clipped straight-through estimator (the comparison baseline)."""

    binary_output = True

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return (x > 0).to(x.dtype)
        return heaviside_ste(x)


class BinaryConv2d(nn.Conv2d):
    """Conv2d whose weights are used as ±sqrt(2/fan_in) (latent float weights, SuperSpike surrogate)."""

    def __init__(self, *args: Any, beta: float = DEFAULT_BETA, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.beta = float(beta)
        nn.init.uniform_(self.weight, -0.05, 0.05)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -0.05, 0.05)

    def effective_weight(self) -> Tensor:
        return binary_weight(self.weight, self.beta)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta:g}"


def binary_conv_cost(module: nn.Conv2d, x: Tensor, output: Tensor) -> LayerCost:
    """A conv's cost with its weight products moved to binary MACs when a weight or input operand is binary.
    The bias adds stay full-precision."""
    cost = conv_cost(output.numel(), module.in_channels, module.groups, module.kernel_size, module.bias is not None)
    operands = [name for name, binary in (("weights", isinstance(module, BinaryConv2d)), ("input", is_binary_map(x))) if binary]
    if not operands:
        return cost
    return with_binary_products(cost, output.numel() if module.bias is not None else 0, " and ".join(operands))


@register_rule(BinaryActivation, BinaryActivationSTE)
def count_binary_activation(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    cost = elementwise_cost("heaviside", inputs[0].numel())
    cost.activation_bits = 1
    cost.activations = None  # count the output elements, stored at 1 bit
    return cost


@register_rule(BinaryConv2d)
def count_binary_conv(module: BinaryConv2d, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    return binary_conv_cost(module, inputs[0], output)


__all__ = [
    "BinaryActivation", "BinaryActivationSTE", "BinaryConv2d", "DEFAULT_BETA", "binary_conv_cost", "binary_weight",
    "heaviside_ste", "heaviside_superspike", "is_binary_map", "superspike_surrogate",
]
