"""Optimizers and learning-rate schedulers by name, built from a recipe's `optim` and `scheduler` sections."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from leanspeech.compress.width import parameter_groups


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}
SCHEDULERS: dict[str, type | None] = {
    "none": None,
    "reduce_on_plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
}
# Keys of the `scheduler` section that Lightning reads rather than the torch scheduler.
SCHEDULER_KEYS = ("name", "monitor", "interval", "frequency")


def model_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """One group with the recipe's weight decay, plus one without for the widths λ of dynamic layers:
    decay would shrink them beside the width penalty."""
    return [group for group in parameter_groups(model, weight_decay) if group["params"]]


def build_optimizer(params: Iterable[Any], optim: dict[str, Any]) -> torch.optim.Optimizer:
    """`params`: parameters or parameter groups."""
    kwargs = {k: v for k, v in optim.items() if k != "name"}
    return OPTIMIZERS[optim["name"]](params, **kwargs)


def build_scheduler(optimizer: torch.optim.Optimizer, scheduler: dict[str, Any]) -> dict[str, Any] | None:
    """The Lightning `lr_scheduler` config for the recipe's scheduler, or None for `name: none`."""
    cls = SCHEDULERS[scheduler["name"]]
    if cls is None:
        return None
    kwargs = {k: v for k, v in scheduler.items() if k not in SCHEDULER_KEYS}
    config: dict[str, Any] = {
        "scheduler": cls(optimizer, **kwargs),
        "interval": scheduler["interval"],
        "frequency": scheduler["frequency"],
    }
    if cls is torch.optim.lr_scheduler.ReduceLROnPlateau:
        config["monitor"] = scheduler["monitor"]
    return config
