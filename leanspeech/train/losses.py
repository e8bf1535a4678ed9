"""Training losses by name. A recipe's `task.loss` is one of these names plus its keyword arguments."""

from __future__ import annotations

import torch
from torch import nn

from leanspeech.registry import Registry

LOSSES: Registry = Registry("loss")

# Losses whose model output is a logit: metrics see sigmoid(output) instead.
LOGIT_LOSSES = {"bce_with_logits"}


@LOSSES.register("bce")
def bce() -> nn.Module:
    """Binary cross-entropy on probabilities (the model ends in a sigmoid)."""
    return nn.BCELoss()


@LOSSES.register("bce_with_logits")
def bce_with_logits(pos_weight: float | None = None) -> nn.Module:
    """Binary cross-entropy on logits; `pos_weight` > 1 weighs the positive class up (rare speech, rare spoofs)."""
    return nn.BCEWithLogitsLoss(pos_weight=None if pos_weight is None else torch.tensor(float(pos_weight)))


@LOSSES.register("mse")
def mse() -> nn.Module:
    return nn.MSELoss()


@LOSSES.register("l1")
def l1() -> nn.Module:
    return nn.L1Loss()
