"""Parameter figures: dense count, sparse storage of pruned weights, int8 storage, and model file size."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized.dynamic.modules.rnn import RNNBase as DynamicQuantizedRNN
from torch.ao.nn.quantized.dynamic.modules.rnn import RNNCellBase as DynamicQuantizedCell
from torch.ao.nn.quantized.modules.utils import WeightedQuantizedModule

SPARSE_WEIGHT_COST = 1.5  # a kept weight of a sparse tensor stores its value and half a value of index


@dataclass
class ParameterCount:
    dense: int  # every parameter (a pruned weight counts at its full shape)
    nonzero: int  # weights that survive pruning (mask or exact zeros)
    sparse: float  # storage in weight units: per tensor min(dense, 1.5·nonzero)
    quantized: int = 0  # of `dense`, weights stored as integers (torch.ao int8 modules)
    quantized_bits: int = 0  # their storage in bits

    def storage_bits(self, float_bits: int) -> int:
        """Bits to hold every parameter: integer weights at their own width, the rest at `float_bits`."""
        return (self.dense - self.quantized) * float_bits + self.quantized_bits


def packed_weights(module: nn.Module) -> list[Tensor]:
    """The module's own weights that torch.ao's quantized layers keep packed rather than as parameters."""
    if isinstance(module, WeightedQuantizedModule):  # int8 Linear and convolutions, static or dynamic
        return [t for t in module._weight_bias() if t is not None]
    if isinstance(module, (DynamicQuantizedRNN, DynamicQuantizedCell)):
        return [*module.get_weight().values(), *module.get_bias().values()]
    return []


def weight_count(module: nn.Module, recurse: bool = True) -> int:
    """Elements of the parameters and packed int8 weights of the module (and, with `recurse`, below it)."""
    modules = list(module.modules()) if recurse else [module]
    return sum(p.numel() for m in modules for p in m.parameters(recurse=False)) + sum(
        w.numel() for m in modules for w in packed_weights(m))


def effective_weights(module: nn.Module) -> list[Tensor]:
    """Each weight of the module and its submodules as used in forward: `weight_orig * weight_mask` for
    torch.nn.utils.prune, packed int8 weights as the quantized tensors they are."""
    tensors = []
    for mod in module.modules():
        for name, param in mod.named_parameters(recurse=False):
            mask = getattr(mod, f"{name[: -len('_orig')]}_mask", None) if name.endswith("_orig") else None
            tensors.append(param.detach() if mask is None else param.detach() * mask)
        tensors += packed_weights(mod)
    return tensors


def count_parameters(module: nn.Module) -> ParameterCount:
    dense = nonzero = quantized = quantized_bits = 0
    sparse = 0.0
    for weight in effective_weights(module):
        kept = int(torch.count_nonzero(weight.dequantize() if weight.is_quantized else weight))
        dense += weight.numel()
        nonzero += kept
        sparse += min(float(weight.numel()), SPARSE_WEIGHT_COST * kept)
        if weight.is_quantized:
            quantized += weight.numel()
            quantized_bits += weight.numel() * weight.element_size() * 8
    return ParameterCount(dense, nonzero, sparse, quantized, quantized_bits)


def file_size(model: nn.Module, path: str | Path | None = None) -> int:
    """Bytes of the saved model: the file when one is given, else its state dict serialised in memory."""
    if path is not None:
        return Path(path).stat().st_size
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
