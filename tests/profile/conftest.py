"""An instrumented arithmetic kit: reference implementations written with it compute real outputs
(compared with torch's) while counting every multiply-accumulate and FLOP they perform."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

# FLOPs per element of each function, the table leanspeech documents (moduleprofiler's where it has one).
FUNCTION_FLOPS = {"sigmoid": 3, "tanh": 7, "relu": 1, "elu": 3, "sqrt": 1, "exp": 1, "log": 1}


class Ops:
    def __init__(self) -> None:
        self.macs = 0
        self.flops = 0

    def matvec(self, w: Tensor, x: Tensor, b: Tensor | None = None) -> Tensor:
        """x (..., in) @ wᵀ (+ b): in multiplies per output, in − 1 adds, + 1 bias add."""
        outputs = x.numel() // x.shape[-1] * w.shape[0]
        self.macs += outputs * w.shape[1] + (outputs if b is not None else 0)
        self.flops += outputs * (2 * w.shape[1] - (0 if b is not None else 1))
        y = x @ w.T
        return y if b is None else y + b

    def ew(self, kind: str, *xs: Tensor) -> Tensor:
        """One elementwise operation on broadcast tensors: counted once per output element."""
        out = {
            "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
            "sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "elu": torch.nn.functional.elu,
            "abs": torch.abs, "neg": torch.neg, "sign": torch.sign, "pow": torch.pow, "max": torch.maximum,
            "min": torch.minimum,
            "where_gt": lambda a, threshold, yes, no: torch.where(a > threshold, yes, no),  # compare-and-select
        }[kind](*xs)
        self.flops += out.numel() * FUNCTION_FLOPS.get(kind, 1)
        return out

    def mac(self, a: Tensor, b: Tensor, dim: int) -> Tensor:
        """Σ a·b over `dim`: one MAC per product, 2n − 1 FLOPs per output."""
        products = torch.broadcast_tensors(a, b)[0]
        n = products.shape[dim]
        out = (a * b).sum(dim)
        self.macs += out.numel() * n
        self.flops += out.numel() * (2 * n - 1)
        return out

    def total(self, x: Tensor, dim: int) -> Tensor:
        """Σ over `dim`: n − 1 adds per output."""
        out = x.sum(dim)
        self.flops += out.numel() * (x.shape[dim] - 1)
        return out

    def softmax(self, x: Tensor, dim: int) -> Tensor:
        """max (n − 1 compares), subtract (n), exp (n), sum (n − 1), divide (n) → 4n − 1 counted as
        moduleprofiler does (its 4n − 1 folds the max search and the subtraction into one pass)."""
        n = x.shape[dim]
        self.flops += x.numel() // n * (4 * n - 1)
        return torch.softmax(x, dim)


@pytest.fixture
def ops() -> Ops:
    return Ops()
