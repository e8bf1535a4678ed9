"""Consolidation: replace every dynamic/adaptive layer by the plain torch layer holding only its live units.

`consolidate(model)` returns a new model (the input is left as it was) whose eval-mode output equals
the dynamic model's: each layer's `to_plain()` keeps the first ⌈K⌉ units, folds the boundary unit's
eval gain √f into its weights, and cuts the inputs (Linear/Conv columns, GRU input weights,
BatchNorm statistics) of the layers that read that width.

A consolidated registered model saves and loads on its own: it is re-registered as "consolidated"
with the config {base, base_config, widths}, and `build_consolidated` rebuilds it from that config
(the base model at those exact integer widths, consolidated), so `leanspeech.models.io.load_model`
needs nothing but weights_only=True.

Any layer that reads a dynamic width must be adaptive or elementwise: a plain layer mixing units
(LayerNorm, a plain Linear) would see the zero units during training and miss them afterwards.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from leanspeech.nn.dynamic import WidthLayer
from leanspeech.nn.dynamic_width import LayerWidth

CONSOLIDATED = "consolidated"  # the MODELS name registered in leanspeech/models/consolidated.py


def live_widths(model: nn.Module) -> dict[str, int]:
    """{qualified name of each LayerWidth: its live units ⌈K⌉}."""
    return {name: module.live_units() for name, module in model.named_modules() if isinstance(module, LayerWidth)}


def _swap_plain(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, WidthLayer):
            setattr(module, name, child.to_plain())
        else:
            _swap_plain(child)


def consolidate(model: nn.Module) -> nn.Module:
    """A copy of `model` with plain layers at the live widths (equal output in eval mode)."""
    result = copy.deepcopy(model)
    _swap_plain(result)
    if getattr(model, "registry_name", "") and hasattr(model, "get_config"):
        config = {"base": model.registry_name, "base_config": model.get_config(), "widths": live_widths(model)}
        object.__setattr__(result, "registry_name", CONSOLIDATED)
        object.__setattr__(result, "_config", config)
    return result


def build_consolidated(base: str, base_config: dict[str, Any], widths: dict[str, int]) -> nn.Module:
    """Rebuild the architecture of a consolidated model (weights come from its state_dict)."""
    from leanspeech.registry import MODELS

    model = MODELS.build(base, **base_config)
    layer_widths = dict(model.named_modules())
    for name, units in widths.items():
        width = layer_widths.get(name)
        if not isinstance(width, LayerWidth):
            raise KeyError(f"model {base!r} has no dynamic width {name!r}")
        width.set_relative_(units / width.units)
        if width.live_units() != units:
            raise ValueError(f"width {name!r} cannot be {units} units (allowed {width.min_fraction:g}..1 of {width.units})")
    return consolidate(model)
