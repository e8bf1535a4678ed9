"""Intrusive quality metrics: the degraded (or enhanced) signal is compared with its clean reference.

PESQ (ITU-T P.862, `pesq`), ESTOI (`pystoi`) and SI-SNR. Arguments are (reference, degraded), 1-D
arrays at `sample_rate`. Clips PESQ or ESTOI cannot score (silent, too short) raise MetricError, or
give NaN with `on_error="nan"` so that one bad clip does not stop a whole evaluation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pesq as pesq_lib
import torch
from pystoi import stoi
from torch import Tensor

from leanspeech.audio.resample import resample
from leanspeech.metrics.checks import MetricError, as_vector, same_length

PESQ_RATES = {"wb": (16000,), "nb": (8000, 16000)}


def _failed(on_error: str, message: str) -> float:
    if on_error == "nan":
        return math.nan
    if on_error != "raise":
        raise ValueError(f"on_error must be 'raise' or 'nan', got {on_error!r}")
    raise MetricError(message)


def _check_not_silent(reference: np.ndarray, degraded: np.ndarray) -> str | None:
    if not np.any(reference):
        return "the reference is silent"
    if not np.any(degraded):
        return "the degraded signal is silent"
    return None


def pesq(reference: object, degraded: object, sample_rate: int, mode: str = "wb", on_error: str = "raise") -> float:
    """PESQ MOS-LQO: wide band (P.862.2, 16 kHz, up to 4.64) or narrow band (P.862.1, 8 or 16 kHz).

    Other sample rates are resampled to 16 kHz first. The two signals may differ in length (PESQ
    aligns them in time).
    """
    if mode not in PESQ_RATES:
        raise ValueError(f"PESQ mode must be 'wb' or 'nb', got {mode!r}")
    ref, deg = as_vector(reference, "reference"), as_vector(degraded, "degraded")
    if problem := _check_not_silent(ref, deg):
        return _failed(on_error, f"PESQ: {problem}")
    if sample_rate not in PESQ_RATES[mode]:
        ref, deg = resample(ref, sample_rate, 16000), resample(deg, sample_rate, 16000)
        sample_rate = 16000
    try:
        return float(pesq_lib.pesq(sample_rate, ref, deg, mode))
    except pesq_lib.NoUtterancesError:
        return _failed(on_error, "PESQ: no utterance detected (speech too quiet or too short)")
    except pesq_lib.BufferTooShortError:
        return _failed(on_error, f"PESQ: clip too short ({min(ref.size, deg.size) / sample_rate:.3f} s)")


def estoi(reference: object, degraded: object, sample_rate: int, on_error: str = "raise") -> float:
    """Extended short-time objective intelligibility (Jensen & Taal 2016), in [-1, 1]; same-length input."""
    ref, deg = as_vector(reference, "reference"), as_vector(degraded, "degraded")
    same_length(ref, deg, "reference and degraded")
    if problem := _check_not_silent(ref, deg):
        return _failed(on_error, f"ESTOI: {problem}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(ref, deg, sample_rate, extended=True))
    # pystoi warns and returns 1e-5 when fewer than 30 non-silent frames (≈ 384 ms) remain.
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return _failed(on_error, "ESTOI: under 30 non-silent frames (about 0.4 s of speech) in the reference")
    return value


def si_snr(reference: Tensor, estimate: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale-invariant SNR in dB over the last axis, batched and differentiable (usable as a loss).

    Both signals are made zero-mean; the estimate is split into its projection on the reference
    (target) and the rest (error). `eps` caps the result at 10·log10(1/eps) (80 dB) when the error
    vanishes, scale-invariantly, so a signal scored against itself is finite.
    """
    reference = reference - reference.mean(dim=-1, keepdim=True)
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    tiny = torch.finfo(reference.dtype).tiny
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + tiny)
    target = scale * reference
    target_energy = target.pow(2).sum(-1)
    error_energy = (estimate - target).pow(2).sum(-1)
    return 10.0 * torch.log10((target_energy + tiny) / (error_energy + eps * target_energy + tiny))


def si_snr_db(reference: object, degraded: object) -> float:
    """`si_snr` of two same-length 1-D arrays, as a float (float64 throughout)."""
    ref, deg = as_vector(reference, "reference"), as_vector(degraded, "degraded")
    same_length(ref, deg, "reference and degraded")
    return float(si_snr(torch.from_numpy(ref), torch.from_numpy(deg)))


def intrusive_scores(reference: object, degraded: object, sample_rate: int, on_error: str = "nan") -> dict[str, float]:
    """PESQ WB and NB, ESTOI and SI-SNR of one clip pair, for evaluation tables."""
    return {
        "pesq_wb": pesq(reference, degraded, sample_rate, "wb", on_error),
        "pesq_nb": pesq(reference, degraded, sample_rate, "nb", on_error),
        "estoi": estoi(reference, degraded, sample_rate, on_error),
        "si_snr": si_snr_db(reference, degraded),
    }
