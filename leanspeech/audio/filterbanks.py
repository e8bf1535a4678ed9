"""Triangular filter-bank matrices on the mel, Bark and ERB scales, shape (n_bands, n_fft // 2 + 1).

All three scales share one construction, the one librosa and torchaudio use for mel: n_bands + 2
points equally spaced on the scale between f_min and f_max; band i is a triangle in Hz rising from
point i to a peak of 1 at point i + 1 (its centre) and falling to point i + 2. With norm="slaney"
each triangle is divided by half its width in Hz so that all bands have equal area.
"""

from __future__ import annotations

import warnings
from typing import Callable

import librosa
import numpy as np
import torch
from torch import Tensor

SCALES = ("mel", "bark", "erb")
NORMS = ("slaney", None)


def hz_to_bark(hz: np.ndarray | float) -> np.ndarray:
    """Traunmüller (1990) critical-band rate, with his corrections below 2 and above 20.1 Bark."""
    hz = np.asarray(hz, dtype=np.float64)
    z = 26.81 * hz / (1960.0 + hz) - 0.53
    z = np.where(z < 2.0, z + 0.15 * (2.0 - z), z)
    return np.where(z > 20.1, z + 0.22 * (z - 20.1), z)


def bark_to_hz(bark: np.ndarray | float) -> np.ndarray:
    """Exact inverse of `hz_to_bark` (the corrections are linear, so they invert in closed form)."""
    z = np.asarray(bark, dtype=np.float64)
    z = np.where(z < 2.0, (z - 0.3) / 0.85, z)
    z = np.where(z > 20.1, (z + 0.22 * 20.1) / 1.22, z)
    return 1960.0 * (z + 0.53) / (26.28 - z)


def hz_to_erb(hz: np.ndarray | float) -> np.ndarray:
    """Glasberg & Moore (1990) ERB-rate: the number of equivalent rectangular bandwidths below hz."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(hz, dtype=np.float64))


def erb_to_hz(erb: np.ndarray | float) -> np.ndarray:
    return (10.0 ** (np.asarray(erb, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def _mel_scale(htk: bool) -> tuple[Callable, Callable]:
    return (lambda hz: librosa.hz_to_mel(hz, htk=htk)), (lambda mel: librosa.mel_to_hz(mel, htk=htk))


def band_points(
    scale: str, n_bands: int, f_min: float, f_max: float, mel_scale: str = "slaney"
) -> np.ndarray:
    """The n_bands + 2 frequencies in Hz (lower edge, centres, upper edge) equally spaced on `scale`."""
    to_scale, to_hz = {
        "mel": _mel_scale(htk=mel_scale == "htk"),
        "bark": (hz_to_bark, bark_to_hz),
        "erb": (hz_to_erb, erb_to_hz),
    }[scale]
    points = to_hz(np.linspace(to_scale(f_min), to_scale(f_max), n_bands + 2))
    points[0], points[-1] = f_min, f_max  # exact edges despite round-off in the scale round trip
    return points


def triangular_filterbank(points_hz: np.ndarray, n_fft: int, sample_rate: int, norm: str | None) -> np.ndarray:
    """Triangles between consecutive `points_hz`, sampled at the rfft bin frequencies (float64)."""
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    widths = np.diff(points_hz)
    ramps = points_hz[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (points_hz[2:] - points_hz[:-2]))[:, None]
    return weights


def filterbank_matrix(
    scale: str,
    n_bands: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = "slaney",
    mel_scale: str = "slaney",
) -> Tensor:
    """A (n_bands, n_fft // 2 + 1) float32 filter bank on `scale` ("mel", "bark" or "erb").

    `mel_scale` ("slaney" or "htk") picks the mel formula and is ignored by the other scales.
    Bands too narrow to contain any FFT bin are all zero; a warning names how many.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if scale not in SCALES:
        raise ValueError(f"unknown filter-bank scale {scale!r}; choose one of {SCALES}")
    if norm not in NORMS:
        raise ValueError(f"unknown filter-bank norm {norm!r}; choose 'slaney' or None")
    if mel_scale not in ("slaney", "htk"):
        raise ValueError(f"unknown mel scale {mel_scale!r}; choose 'slaney' or 'htk'")
    if n_bands < 1 or n_fft < 2 or sample_rate <= 0:
        raise ValueError(f"need n_bands >= 1, n_fft >= 2 and sample_rate > 0, got {n_bands}, {n_fft}, {sample_rate}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}")
    weights = triangular_filterbank(band_points(scale, n_bands, f_min, f_max, mel_scale), n_fft, sample_rate, norm)
    empty = int((weights.max(axis=1) == 0).sum())
    if empty:
        warnings.warn(
            f"{empty} of {n_bands} {scale} bands contain no FFT bin (n_fft={n_fft} is too small for "
            f"{n_bands} bands between {f_min:g} and {f_max:g} Hz); they output zeros",
            stacklevel=2,
        )
    return torch.from_numpy(weights.astype(np.float32))


def mel_filterbank(
    n_bands: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = "slaney",
    mel_scale: str = "slaney",
) -> Tensor:
    return filterbank_matrix("mel", n_bands, n_fft, sample_rate, f_min, f_max, norm, mel_scale)


def bark_filterbank(
    n_bands: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = "slaney",
) -> Tensor:
    return filterbank_matrix("bark", n_bands, n_fft, sample_rate, f_min, f_max, norm)


def erb_filterbank(
    n_bands: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = "slaney",
) -> Tensor:
    return filterbank_matrix("erb", n_bands, n_fft, sample_rate, f_min, f_max, norm)
