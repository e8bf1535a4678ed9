"""Registers "consolidated": the name under which a model saved after `leanspeech.compress.consolidate` is rebuilt."""

from leanspeech.compress.consolidate import CONSOLIDATED, build_consolidated
from leanspeech.registry import MODELS

MODELS.register(CONSOLIDATED)(build_consolidated)
