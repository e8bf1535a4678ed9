"""Sample-rate conversion with soxr (high quality, fast)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(wav: np.ndarray, orig_rate: int, target_rate: int, quality: str = "HQ") -> np.ndarray:
    """Resample (T,) or (C, T) float audio from `orig_rate` to `target_rate`."""
    if orig_rate == target_rate:
        return wav
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        return soxr.resample(wav, orig_rate, target_rate, quality=quality).astype(np.float32)
    return soxr.resample(wav.T, orig_rate, target_rate, quality=quality).T.astype(np.float32)


def pad_or_cut(signal: np.ndarray, length: int) -> np.ndarray:
    """`signal` zero-padded or cut to `length` samples (resampling and codecs change lengths a little)."""
    return np.pad(signal, (0, max(0, length - len(signal))))[:length]
