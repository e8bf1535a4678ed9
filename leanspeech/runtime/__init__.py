"""Streaming inference at batch 1 with fused (numba) kernels: StreamingGRU, StreamingEnhancer,
StreamingVADNetwork, with fp32, fp16 or int8 weights (WEIGHT_FORMATS) and fp32 or 8-bit GRU activations
(ACTIVATION_FORMATS).

Names load on first use, so that importing a light submodule (the command line reads WEIGHT_FORMATS)
does not compile numba kernels or import torch."""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "available_backends": "gru_kernel",
    "StreamingEnhancer": "streaming_enhancer",
    "FORMAT_VERSION": "streaming_gru",
    "RuntimeFormatError": "streaming_gru",
    "StreamingGRU": "streaming_gru",
    "StreamingVADNetwork": "streaming_vad",
    "ACTIVATION_FORMATS": "weight_formats",
    "WEIGHT_FORMATS": "weight_formats",
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
