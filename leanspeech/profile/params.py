"""Parameter figures: dense count, sparse storage of pruned weights, and model file size."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

SPARSE_WEIGHT_COST = 1.5  # a kept weight of a sparse tensor stores its value and half a value of index


@dataclass
class ParameterCount:
    dense: int  # every parameter (a pruned weight counts at its full shape)
    nonzero: int  # weights that survive pruning (mask or exact zeros)
    sparse: float  # storage in weight units: per tensor min(dense, 1.5·nonzero)


def effective_weights(module: nn.Module) -> list[Tensor]:
    """Each parameter as used in forward: `weight_orig * weight_mask` for torch.nn.utils.prune."""
    tensors = []
    for mod in module.modules():
        for name, param in mod.named_parameters(recurse=False):
            mask = getattr(mod, f"{name[: -len('_orig')]}_mask", None) if name.endswith("_orig") else None
            tensors.append(param.detach() if mask is None else param.detach() * mask)
    return tensors


def count_parameters(module: nn.Module) -> ParameterCount:
    dense = nonzero = 0
    sparse = 0.0
    for weight in effective_weights(module):
        kept = int(torch.count_nonzero(weight))
        dense += weight.numel()
        nonzero += kept
        sparse += min(float(weight.numel()), SPARSE_WEIGHT_COST * kept)
    return ParameterCount(dense, nonzero, sparse)


def file_size(model: nn.Module, path: str | Path | None = None) -> int:
    """Bytes of the saved model: the file when one is given, else its state dict serialised in memory."""
    if path is not None:
        return Path(path).stat().st_size
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
