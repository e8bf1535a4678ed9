"""Peak and RMS loudness normalisation over the last (time) axis of a waveform tensor."""

from __future__ import annotations

import torch
from torch import Tensor


def peak_normalize(wav: Tensor, peak: float = 1.0, eps: float = 1e-8) -> Tensor:
    """Scale each signal so that max |x| equals `peak`; an all-zero signal stays zero."""
    current = wav.abs().amax(dim=-1, keepdim=True)
    return wav * (peak / current.clamp_min(eps))


def rms(wav: Tensor) -> Tensor:
    """Root mean square over time, shape (..., 1)."""
    return wav.pow(2).mean(dim=-1, keepdim=True).sqrt()


def rms_normalize(wav: Tensor, target_dbfs: float = -25.0, eps: float = 1e-8) -> Tensor:
    """Scale each signal to an RMS of `target_dbfs` dB relative to full scale (1.0); silence stays zero.

    The result may exceed [-1, 1]: peak-limit afterwards if it has to be written as PCM.
    """
    target = 10.0 ** (target_dbfs / 20.0)
    return wav * (target / rms(wav).clamp_min(eps))


def dbfs(wav: Tensor, eps: float = 1e-12) -> Tensor:
    """RMS level in dB relative to full scale, shape (..., 1)."""
    return 20.0 * torch.log10(rms(wav).clamp_min(eps))
