"""Width learning over any model: the λ penalty and the two-phase schedule (width-noise-injection.md, Eq. 6 and 8).

The penalty is β/N·Σλ_n² over the N dynamic widths of a model, λ_n ∈ [min_fraction, 1] being layer
n's relative width (see `leanspeech.nn.dynamic_width`). The FLOP/s-weighted variant replaces 1/N by
w_n/Σw, where w_n = ∂FLOPs/∂λ_n at full width: the full-width FLOPs of every layer that owns or reads
width n, counted by the profiler's rules, so a width that gates more computation is pushed harder.

Schedule: for `fixed_until` steps (or epochs: the caller decides the unit) the widths are frozen at
λ = 1 and no penalty applies; afterwards they train with the penalty and are projected back into
range after every optimiser step. Give the widths their own parameter group without weight decay
(`parameter_groups`): AdamW's decay would otherwise shrink them beside the penalty.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from leanspeech.nn.dynamic import WidthLayer
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.profile.rules import rule_for


def dynamic_widths(model: nn.Module) -> dict[str, LayerWidth]:
    return {name: module for name, module in model.named_modules() if isinstance(module, LayerWidth)}


def width_penalty(model: nn.Module, beta: float, weights: dict[str, float] | None = None) -> Tensor:
    """β·Σ w_n λ_n² / Σ w_n with w_n = 1 by default (the paper's β/N·Σλ_n²); 0 without dynamic widths."""
    widths = dynamic_widths(model)
    if not widths:
        return torch.zeros(())
    w = {name: 1.0 for name in widths} if weights is None else weights
    missing = set(widths) - set(w)
    if missing:
        raise KeyError(f"no penalty weight for widths {sorted(missing)}")
    total = sum(w[name] for name in widths)
    return beta * sum((w[name] / total) * width.relative() ** 2 for name, width in widths.items())


@torch.no_grad()
def flop_weights(model: nn.Module, example_input: Any) -> dict[str, float]:
    """w_n: full-width FLOPs of the layers that own or read each width (one forward, eval mode)."""
    widths = dynamic_widths(model)
    saved = {name: width.fraction.detach().clone() for name, width in widths.items()}
    name_of = {id(width): name for name, width in widths.items()}
    weights = dict.fromkeys(widths, 0.0)

    def count(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        flops = rule_for(module)(module, inputs, output).total_flops
        for width in {id(module.width): module.width, id(module.source): module.source}.values():
            if width is not None:
                weights[name_of[id(width)]] += flops

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, WidthLayer)]
    was_training = model.training
    try:
        for width in widths.values():
            width.set_relative_(1.0)
        model.eval()
        model(example_input)
    finally:
        for hook in hooks:
            hook.remove()
        for name, width in widths.items():
            width.fraction.copy_(saved[name])
        model.train(was_training)
    return weights


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimiser groups: weights with `weight_decay`, widths without (only the penalty shrinks them)."""
    width_params = {id(width.fraction) for width in dynamic_widths(model).values()}
    return [
        {"params": [p for p in model.parameters() if id(p) not in width_params], "weight_decay": weight_decay},
        {"params": [p for p in model.parameters() if id(p) in width_params], "weight_decay": 0.0},
    ]


class WidthSchedule:
    """Two phases: fixed width (λ = 1, frozen) until `fixed_until`, then width learning with the penalty.

    Per step: `loss = task_loss + schedule.penalty(step)`; backward; optimiser step; `schedule.project()`.
    """

    def __init__(self, model: nn.Module, beta: float, fixed_until: int, weights: dict[str, float] | None = None):
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.model, self.beta, self.fixed_until, self.weights = model, beta, fixed_until, weights
        self._learning: bool | None = None

    def learning(self, step: int) -> bool:
        return step >= self.fixed_until

    def _enter(self, learning: bool) -> None:
        for width in dynamic_widths(self.model).values():
            if not learning:
                width.set_relative_(1.0)
            width.fraction.requires_grad_(learning)
        self._learning = learning

    def penalty(self, step: int) -> Tensor:
        """Enters the phase of `step` and returns its penalty term (0 in the fixed phase)."""
        learning = self.learning(step)
        if learning != self._learning:
            self._enter(learning)
        return width_penalty(self.model, self.beta, self.weights) if learning else torch.zeros(())

    def project(self) -> None:
        for width in dynamic_widths(self.model).values():
            width.project_()
