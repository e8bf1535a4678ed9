"""Registers "consolidated": the name under which a model saved after `leanspeech.compress.consolidate` is rebuilt."""

from __future__ import annotations

from typing import Any

from torch import nn

from leanspeech.registry import MODELS


@MODELS.register("consolidated")
def build_consolidated_model(base: str, base_config: dict[str, Any], widths: dict[str, int]) -> nn.Module:
    # Imported here: leanspeech.compress imports the profiler, which imports this package.
    from leanspeech.compress.consolidate import build_consolidated

    return build_consolidated(base, base_config, widths)
