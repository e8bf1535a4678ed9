"""Switching off PyTorch's fused inference path of nn.TransformerEncoderLayer / nn.MultiheadAttention."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def unfused_attention() -> Iterator[None]:
    """In eval mode the encoder layer runs one fused kernel instead of its children: forward hooks on the
    children never fire (the profiler misses them) and ONNX cannot express the kernel (export fails).
    Inside this block the layers run their plain operations."""
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
