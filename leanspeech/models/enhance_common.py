"""Pieces shared by the enhancement hosts of dgru-speech-enhancement.md §4.1 (GRU, MPT, DPRNN).

`rnn_class` builds every recurrent layer of every host by name, so that `rnn="dgru"` with
`rnn_options={"update_percent": P}` turns each GRU into a D-GRU with the same weights.
`MagnitudeDeepFilter` is DeepFilterNet's deep filtering on magnitudes: a causal FIR filter per
time-frequency bin whose taps the network predicts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

import leanspeech.nn
from leanspeech.profile.costs import elementwise_cost
from leanspeech.profile.rules import LayerCost


def rnn_class(name: str) -> type[nn.Module]:
    """A recurrent layer class by case-insensitive name: leanspeech.nn first ("DGRU"), then torch.nn ("gru")."""
    for namespace in (leanspeech.nn, torch.nn):
        for attribute, cls in vars(namespace).items():
            if attribute.lower() == name.lower() and isinstance(cls, type) and issubclass(cls, nn.Module):
                return cls
    raise ValueError(f"unknown rnn {name!r}: not an nn.Module class in leanspeech.nn or torch.nn")


def build_rnn(name: str, options: dict[str, Any] | None, input_size: int, hidden_size: int, **kwargs: Any) -> nn.Module:
    """One batch-first recurrent layer of class `name`, called like nn.GRU (returns (output, state))."""
    return rnn_class(name)(input_size, hidden_size, batch_first=True, **kwargs, **(options or {}))


def magnitude_deep_filter(magnitude: Tensor, coefficients: Tensor) -> Tensor:
    """Σ_k c_k(f, t) · |X|(f, t − k) for k < K, with zeros before the first frame.

    magnitude (B, F, T), coefficients (B, K, F, T) → (B, F, T). Slices with constant (negative) bounds
    keep the time axis dynamic in TorchScript traces and ONNX.
    """
    taps = coefficients.shape[1]
    padded = nn.functional.pad(magnitude, (taps - 1, 0))
    out = coefficients[:, 0] * padded[..., taps - 1 :]
    for k in range(1, taps):
        out = out + coefficients[:, k] * padded[..., taps - 1 - k : -k]
    return out


class MagnitudeDeepFilter(nn.Module):
    """Module form of `magnitude_deep_filter` (forward(magnitude, coefficients))."""

    def forward(self, magnitude: Tensor, coefficients: Tensor) -> Tensor:
        return magnitude_deep_filter(magnitude, coefficients)

    def profile_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        return LayerCost(macs=float(inputs[1].numel()))  # one multiply-accumulate per tap and bin


def residual_add_cost(output: Tensor, adds: int = 1) -> LayerCost:
    """The `x + f(x)` additions of a residual block, invisible to module hooks."""
    return elementwise_cost("add", adds * output.numel())
