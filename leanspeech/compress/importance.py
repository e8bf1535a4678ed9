"""Pruning importance criteria: small callables that score every weight of one tensor (the score, not
the surgery: masks and shrinking live in compress/prune.py, as in Torch-Pruning).

A criterion takes (module, name) — e.g. (conv, "weight") — and returns a tensor of the weight's shape,
higher meaning more important. It reads the weight as used in forward, so it works before and after
`torch.nn.utils.prune` reparametrised it (`weight_orig · weight_mask`).

- `taylor_importance`: (dL/dw · w)², the first-order Taylor estimate of the loss change when w is
  set to zero (Molchanov et al. 2019; distill-prune-sqa.md eq. 1), from the gradients of the last
  backward. Pruned weights score 0 (their gradient through the mask is 0).
- `magnitude_importance`: |w|; for a convolution the L1 norm of each kernel (the taps of one
  input-output pair), shared by the kernel's weights — the paper's magnitude baseline.
`SmoothedImportance` keeps the recursive average s ← β·s + (1 − β)·I over fine-tuning steps.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

Criterion = Callable[[nn.Module, str], Tensor]


def weight_parameter(module: nn.Module, name: str) -> nn.Parameter:
    """The trainable tensor behind `module.<name>`: `<name>_orig` once pruning reparametrised it."""
    return getattr(module, f"{name}_orig", None) if hasattr(module, f"{name}_mask") else getattr(module, name)


def effective_weight(module: nn.Module, name: str) -> Tensor:
    """The weight as forward uses it (original times mask when pruned), detached."""
    mask = getattr(module, f"{name}_mask", None)
    weight = weight_parameter(module, name).detach()
    return weight if mask is None else weight * mask


def taylor_importance(module: nn.Module, name: str) -> Tensor:
    param = weight_parameter(module, name)
    if param.grad is None:
        raise ValueError(f"{type(module).__name__}.{name} has no gradient: run a backward pass before scoring")
    return (param.grad.detach() * effective_weight(module, name)).pow(2)


def magnitude_importance(module: nn.Module, name: str) -> Tensor:
    magnitude = effective_weight(module, name).abs()
    if magnitude.dim() > 2:  # (out, in, *kernel): one score per kernel
        return magnitude.sum(dim=tuple(range(2, magnitude.dim())), keepdim=True).expand_as(magnitude).clone()
    return magnitude


def channel_importance(scores: Tensor) -> Tensor:
    """Per-weight scores → one score per output channel (row): their sum over the channel's filter."""
    return scores.reshape(scores.shape[0], -1).sum(dim=1)


CRITERIA: dict[str, Criterion] = {"taylor": taylor_importance, "magnitude": magnitude_importance}
GRADIENT_CRITERIA = frozenset({"taylor"})  # scored after every fine-tuning backward, and smoothed


class SmoothedImportance:
    """Recursive average of a criterion over steps for each (module, name) target; the first update
    sets the average to the score itself."""

    def __init__(self, targets: Sequence[tuple[nn.Module, str]], criterion: Criterion, smoothing: float = 0.9):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.targets = list(targets)
        self.criterion = criterion
        self.smoothing = smoothing
        self.scores: list[Tensor] | None = None

    @torch.no_grad()
    def update(self) -> None:
        current = [self.criterion(module, name) for module, name in self.targets]
        if self.scores is None:
            self.scores = current
            return
        for average, score in zip(self.scores, current):
            average.mul_(self.smoothing).add_(score, alpha=1.0 - self.smoothing)

    def state_dict(self) -> dict[str, list[Tensor]]:
        return {"scores": [] if self.scores is None else [s.clone() for s in self.scores]}

    def load_state_dict(self, state: dict[str, list[Tensor]]) -> None:
        self.scores = [s.clone() for s in state["scores"]] or None
