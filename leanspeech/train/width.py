"""Width learning from a recipe (width-noise-injection.md): the λ penalty as an extra loss, the projection
of λ into range after every optimiser step as a callback, and the consolidated model at the end.

    task:
      extra_losses: [{name: width-penalty, beta: 0.5, fixed_until: 2000, flop_weighted: false}]
    callbacks: [{name: width-projection}]

The optimiser puts the widths in a group without weight decay on its own (`optim.model_parameter_groups`).
The fixed phase freezes the widths (requires_grad off): under DDP use `trainer.strategy:
ddp_find_unused_parameters_true`, since the set of parameters with gradients changes at `fixed_until`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from leanspeech.compress.consolidate import consolidate
from leanspeech.compress.width import WidthSchedule, dynamic_widths, flop_weights
from leanspeech.errors import RecipeError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import save_model
from leanspeech.train.history import best_weights
from leanspeech.train.hooks import CALLBACKS, EXTRA_LOSSES, ExtraLoss

# Length of the noise clip whose full-width FLOPs weigh the widths (the weights are ratios: any length works).
WEIGHT_SECONDS = 1.0


class _FromWaveform(nn.Module):
    """model.forward_wav as forward, so the front end's dynamic layers (e.g. learned mel bands) are counted."""

    def __init__(self, model: SpeechModel):
        super().__init__()
        self.model = model

    def forward(self, wav: Tensor) -> Tensor:
        return self.model.forward_wav(wav)


def waveform_flop_weights(model: nn.Module) -> dict[str, float]:
    """`flop_weights` of every width of `model`, measured on a noise clip fed through its front end."""
    if not isinstance(model, SpeechModel):
        raise RecipeError(f"width-penalty: flop_weighted needs a SpeechModel (for its example input), "
                          f"not a {type(model).__name__}")
    device = next(model.parameters()).device
    wav = model.example_wav(WEIGHT_SECONDS).to(device)
    return {name.removeprefix("model."): w for name, w in flop_weights(_FromWaveform(model), wav).items()}


@EXTRA_LOSSES.register("width-penalty")
def width_penalty_loss(beta: float, fixed_until: int = 0, flop_weighted: bool = False) -> ExtraLoss:
    """β/N·Σλ_n² (or FLOP/s-weighted) over the model's dynamic widths from step `fixed_until` on; before
    it the widths are held at λ = 1 and frozen. Steps are optimiser steps (Lightning's global_step)."""
    if beta < 0:
        raise RecipeError(f"width-penalty: beta must be >= 0, not {beta!r}")
    if fixed_until < 0:
        raise RecipeError(f"width-penalty: fixed_until must be >= 0, not {fixed_until!r}")
    schedule: WidthSchedule | None = None  # built on first use, when the model is known

    def penalty(model: nn.Module, step: int) -> Tensor:
        nonlocal schedule
        if schedule is None:
            if not dynamic_widths(model):
                raise RecipeError(f"width-penalty: {type(model).__name__} has no dynamic widths to learn")
            weights = waveform_flop_weights(model) if flop_weighted else None
            schedule = WidthSchedule(model, beta, fixed_until, weights)
        return schedule.penalty(step)

    return penalty


def width_label(name: str) -> str:
    """'conv.width' → 'width/conv': the logged name of a layer's relative width."""
    return "width/" + name.removesuffix(".width")


@CALLBACKS.register("width-projection")
class WidthProjection(L.Callback):
    """Clamps every λ into [min_fraction, 1] after each optimiser step and logs it as `width/<layer>`;
    when fit ends, writes `consolidated.pt` (plain layers at the live widths of the best weights, the ones
    in model.pt) into the run directory. `log_every_n_steps` thins the logged widths."""

    def __init__(self, consolidate: bool = True, log_every_n_steps: int = 1):
        if log_every_n_steps < 1:
            raise RecipeError(f"width-projection: log_every_n_steps must be >= 1, not {log_every_n_steps!r}")
        self.write_consolidated, self.log_every_n_steps = consolidate, log_every_n_steps

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not dynamic_widths(pl_module.model):
            rank_zero_warn(f"width-projection: {type(pl_module.model).__name__} has no dynamic widths; nothing to do")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        widths = dynamic_widths(pl_module.model)
        for width in widths.values():
            width.project_()
        if widths and trainer.global_step % self.log_every_n_steps == 0:
            relative = {width_label(name): width.relative().detach() for name, width in widths.items()}
            pl_module.log_dict(relative, on_step=True, on_epoch=False, batch_size=1)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.write_consolidated and trainer.is_global_zero and dynamic_widths(pl_module.model)):
            return
        saved = trainer.checkpoint_callback
        chosen = (saved.best_model_path or saved.last_model_path) if saved is not None else ""
        model = best_weights(pl_module.model, Path(chosen)) if chosen else copy.deepcopy(pl_module.model).cpu()
        save_model(consolidate(model.eval()), Path(trainer.default_root_dir) / "consolidated.pt")
