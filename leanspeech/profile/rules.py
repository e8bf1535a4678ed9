"""Counting rules: one closed-form cost function per layer type, registered next to the layer's code.

A rule receives the module, its forward inputs and its output (as seen by a forward hook) and returns
a LayerCost. A module with a rule is counted whole (its children are not visited), so a layer that
computes less than its weights suggest (a dynamic width, a D-GRU, a binary layer) reports what it
really computes: its rule reads the live width / update percentage and builds the cost with the pure
functions of `leanspeech.profile.costs` (`linear_cost`, `conv_cost`, `gru_cost(..., update_fraction)`),
moving multiplies with a binary operand to `binary_macs`.

A container whose own forward does arithmetic that no child module sees (a residual add, a functional
softmax) declares it with an *extra* rule (`register_extra`) or an `extra_cost(inputs, output)` method:
its children are counted as usual and the extra cost is added on top. A one-off layer may define
`profile_cost(inputs, output)` instead of registering a rule. Conventions: docs/profiler.md.
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

    def __add__(self, other: LayerCost) -> LayerCost:
        """Sum of two costs of one layer (e.g. its parts); None fields stay None only if both are."""

        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None and b is None else (a or 0.0) + (b or 0.0)

        return LayerCost(
            macs=self.macs + other.macs,
            flops=self.total_flops + other.total_flops,
            binary_macs=self.binary_macs + other.binary_macs,
            params=add(self.params, other.params),
            activations=add(self.activations, other.activations),
            activation_bits=self.activation_bits or other.activation_bits,
            note="; ".join(n for n in (self.note, other.note) if n),
        )


Rule = Callable[[nn.Module, tuple[Any, ...], Any], LayerCost]
_RULES: dict[type, Rule] = {}
_EXTRAS: dict[type, Rule] = {}
_FREE: set[type] = set()


def register_rule(*module_types: type) -> Callable[[Rule], Rule]:
    """Decorator: `@register_rule(MyLayer)` above `def count_my_layer(module, inputs, output)`."""

    def decorator(rule: Rule) -> Rule:
        for t in module_types:
            _RULES[t] = rule
        return rule

    return decorator


def register_extra(*module_types: type) -> Callable[[Rule], Rule]:
    """Decorator for the functional work of a container, added to the cost of its counted children."""

    def decorator(rule: Rule) -> Rule:
        for t in module_types:
            _EXTRAS[t] = rule
        return rule

    return decorator


def register_free(*module_types: type) -> None:
    """Parameter-free modules that compute nothing at inference (Dropout, Identity, Flatten...)."""
    _FREE.update(module_types)


def _lookup(table: dict[type, Rule], module: nn.Module) -> Rule | None:
    for cls in type(module).__mro__:
        if cls in table:
            return table[cls]
    return None


def _method_rule(name: str) -> Rule:
    return lambda module, inputs, output: getattr(module, name)(inputs, output)


def rule_for(module: nn.Module) -> Rule | None:
    """The rule of the most specific registered class in the module's MRO, its `profile_cost`, or None."""
    _load_standard_rules()
    rule = _lookup(_RULES, module)
    if rule is None and callable(getattr(module, "profile_cost", None)):
        return _method_rule("profile_cost")
    return rule


def extra_rule_for(module: nn.Module) -> Rule | None:
    _load_standard_rules()
    rule = _lookup(_EXTRAS, module)
    if rule is None and callable(getattr(module, "extra_cost", None)):
        return _method_rule("extra_cost")
    return rule


def is_free(module: nn.Module) -> bool:
    _load_standard_rules()
    return any(cls in _FREE for cls in type(module).__mro__)


def _load_standard_rules() -> None:
    # Rules of torch and leanspeech layers live in their own modules; a layer's rule may call
    # `rule_for(nn.Linear)` before anything imported them, so the first lookup loads them.
    from leanspeech.profile import quantized_rules, speech_rules, torch_rules  # noqa: F401
    from leanspeech.profile import torch_activation_rules, torch_indexing_rules  # noqa: F401
