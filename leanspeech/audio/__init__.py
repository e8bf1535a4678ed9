"""Audio I/O, resampling and the front-end: STFT, power and log-mel spectrograms, filter banks,
compressed complex spectrogram, loudness normalisation (pure functions in `spectral`, `filterbanks`,
`normalize`; nn.Module wrappers in `transforms`)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "STFT",
    "ISTFT",
    "PowerSpectrogram",
    "FilterBank",
    "LogCompression",
    "LogMel",
    "CompressedComplexSpectrogram",
    "PeakNormalize",
    "RMSNormalize",
]


def __getattr__(name: str) -> Any:
    """The nn.Module wrappers load on first use: the command line imports `filterbanks` without torch's
    start-up cost where it only needs the scale names."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.transforms"), name)
