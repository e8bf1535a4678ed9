"""Speech-enhancement losses of dgru-speech-enhancement.md §4.1, registered in `LOSSES` by name.

- `magnitude_mse`: MSE between enhanced and target magnitude spectrograms (the GRU and MPT hosts).
- `complex_mse`: MSE between complex spectra given as (B, 2, F, T), real then imaginary.
- `magnitude_complex_mse`: the mean of the two (the DPRNN host): the magnitudes are computed from
  the (B, 2, F, T) spectra.
A complex-dtype tensor (B, F, T) is accepted wherever a (B, 2, F, T) spectrum is.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from leanspeech.train.losses import LOSSES


def real_imag(spectrum: Tensor) -> Tensor:
    """A complex (B, F, T) or real (B, 2, F, T) spectrum as real (B, 2, F, T)."""
    if spectrum.is_complex():
        return torch.view_as_real(spectrum).movedim(-1, 1)
    if spectrum.dim() < 2 or spectrum.shape[1] != 2:
        raise ValueError(f"expected a complex tensor or a (B, 2, F, T) spectrum, got shape {tuple(spectrum.shape)}")
    return spectrum


def magnitude_of(spectrum: Tensor) -> Tensor:
    """|X| of a (B, 2, F, T) spectrum; the gradient stays finite at X = 0."""
    return real_imag(spectrum).pow(2).sum(1).clamp_min(1e-12).sqrt()


def magnitude_mse(estimate: Tensor, target: Tensor) -> Tensor:
    return nn.functional.mse_loss(estimate, target)


def complex_mse(estimate: Tensor, target: Tensor) -> Tensor:
    return nn.functional.mse_loss(real_imag(estimate), real_imag(target))


def magnitude_complex_mse(estimate: Tensor, target: Tensor) -> Tensor:
    magnitude = magnitude_mse(magnitude_of(estimate), magnitude_of(target))
    return 0.5 * (magnitude + complex_mse(estimate, target))


@LOSSES.register("magnitude_mse")
class MagnitudeMSE(nn.Module):
    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        return magnitude_mse(estimate, target)


@LOSSES.register("complex_mse")
class ComplexMSE(nn.Module):
    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        return complex_mse(estimate, target)


@LOSSES.register("magnitude_complex_mse")
class MagnitudeComplexMSE(nn.Module):
    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        return magnitude_complex_mse(estimate, target)
