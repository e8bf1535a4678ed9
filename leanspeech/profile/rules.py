"""Counting rules: one closed-form cost function per layer type, registered next to the layer's code.

A rule receives the module, its forward inputs and its output (as seen by a forward hook) and returns
a LayerCost. A module with a rule is counted whole (its children are not visited), so a layer that
computes less than its weights suggest (a dynamic width, a D-GRU, a binary layer) reports what it
really computes. Conventions (see leanspeech/profile/README in the profiler docs): MAC = one
multiply-accumulate; FLOPs follow moduleprofiler's table so FLOP/s compare with the papers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn


@dataclass
class LayerCost:
    macs: float = 0.0  # full-precision multiply-accumulates
    flops: float | None = None  # moduleprofiler-convention FLOPs; None means 2 * macs
    binary_macs: float = 0.0  # multiply-accumulates with binary (±1 / 0-1) operands, reported apart
    params: float | None = None  # effective parameter count; None means the module's own parameters
    activations: float | None = None  # output elements per forward; None means counted from the output
    activation_bits: int | None = None  # bits per output element when the layer's output is not float
    note: str = ""

    @property
    def total_flops(self) -> float:
        return 2.0 * self.macs if self.flops is None else self.flops


Rule = Callable[[nn.Module, tuple[Any, ...], Any], LayerCost]
_RULES: dict[type, Rule] = {}


def register_rule(*module_types: type) -> Callable[[Rule], Rule]:
    """Decorator: `@register_rule(MyLayer)` above `def count_my_layer(module, inputs, output)`."""

    def decorator(rule: Rule) -> Rule:
        for t in module_types:
            _RULES[t] = rule
        return rule

    return decorator


def rule_for(module: nn.Module) -> Rule | None:
    """The rule of the most specific registered class in the module's MRO, or None."""
    for cls in type(module).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None
