"""What a method adds to training: extra loss terms and callbacks that change things mid-training.

A recipe names them (`task.extra_losses: [{name: ..., ...}]`, `callbacks: [{name: ..., ...}]`);
a method registers its own here, e.g. a complexity penalty or a dense-then-sparse schedule.
An extra loss factory returns a callable `(model, step) -> scalar Tensor` that is added to the loss.
"""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
from torch import Tensor, nn

from leanspeech.errors import RecipeError
from leanspeech.registry import Registry

ExtraLoss = Callable[[nn.Module, int], Tensor]

EXTRA_LOSSES: Registry = Registry("extra loss")
CALLBACKS: Registry = Registry("callback")


@EXTRA_LOSSES.register("param-norm")
def param_norm(weight: float, p: int = 1, warmup_steps: int = 0, only_weights: bool = True) -> ExtraLoss:
    """weight · Σ|θ|^p over the parameters, ramped in linearly over `warmup_steps`.

    p=1 drives weights to zero before pruning; p=2 is classic weight decay as a loss term.
    `only_weights` leaves biases and norm gains (1-D tensors) alone.
    """
    if p not in (1, 2):
        raise RecipeError(f"param-norm: p must be 1 or 2, not {p!r}")

    def penalty(model: nn.Module, step: int) -> Tensor:
        params = [q for q in model.parameters() if q.requires_grad and (q.dim() > 1 or not only_weights)]
        total = sum(q.abs().sum() if p == 1 else q.pow(2).sum() for q in params)
        ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
        return weight * ramp * total

    return penalty


def _resolve(model: nn.Module, dotted: str) -> tuple[Any, str]:
    *parents, leaf = dotted.split(".")
    owner: Any = model
    for part in parents:
        owner = getattr(owner, part)
    if not hasattr(owner, leaf):
        raise RecipeError(f"set-attribute: the model has no attribute {dotted!r}")
    return owner, leaf


@CALLBACKS.register("set-attribute")
class SetAttribute(L.Callback):
    """Set `model.<attribute>` to `value` when training reaches `epoch` (or `step`): a two-phase schedule,
    e.g. pretrain a dense GRU, then switch its sparse update on. Re-applied on resume past that point."""

    def __init__(self, attribute: str, value: Any, epoch: int | None = None, step: int | None = None):
        if (epoch is None) == (step is None):
            raise RecipeError("set-attribute: give exactly one of epoch or step")
        self.attribute, self.value, self.epoch, self.step = attribute, value, epoch, step

    def _due(self, trainer: L.Trainer) -> bool:
        if self.epoch is not None:
            return trainer.current_epoch >= self.epoch
        return trainer.global_step >= self.step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._due(trainer):
            owner, leaf = _resolve(pl_module.model, self.attribute)
            setattr(owner, leaf, self.value)
