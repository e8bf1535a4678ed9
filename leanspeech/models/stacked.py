"""Registers "stacked": the name under which a model changed by structural compression steps is rebuilt
(leanspeech.stack: D-GRU, binary activations, channels removed by pruning): its base model, then the same
steps replayed without data, then parameters resized to the saved shapes — so it saves and loads like any other."""

from __future__ import annotations

from typing import Any

from torch import nn

from leanspeech.registry import MODELS


@MODELS.register("stacked")
def build_stacked_model(base: str, base_config: dict[str, Any], steps: list[dict[str, Any]],
                        shapes: dict[str, list[int]]) -> nn.Module:
    # Imported here: leanspeech.stack imports compression code, which imports this package.
    from leanspeech.stack import rebuild_stacked

    return rebuild_stacked(MODELS.build(base, **base_config), base, base_config, steps, shapes)
