"""Audio I/O, resampling and the front-end: STFT, power and log-mel spectrograms, filter banks,
compressed complex spectrogram, loudness normalisation (pure functions in `spectral`, `filterbanks`,
`normalize`; nn.Module wrappers in `transforms`)."""

from leanspeech.audio.transforms import (
    ISTFT,
    STFT,
    CompressedComplexSpectrogram,
    FilterBank,
    LogCompression,
    LogMel,
    PeakNormalize,
    PowerSpectrogram,
    RMSNormalize,
)

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
