"""Reading and writing audio with soundfile, with errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from leanspeech.errors import AudioError

SUPPORTED_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"}


def check_waveform(wav: np.ndarray, path: str | Path | None = None, min_samples: int = 1) -> np.ndarray:
    """Raise AudioError for empty, too short or non-finite audio; return the array unchanged."""
    if wav.size == 0:
        raise AudioError(path, "no samples (zero-length audio)")
    length = wav.shape[-1]
    if length < min_samples:
        raise AudioError(path, f"{length} samples is shorter than the {min_samples} the model needs")
    if not np.isfinite(wav).all():
        bad = int(np.size(wav) - np.isfinite(wav).sum())
        raise AudioError(path, f"{bad} samples are NaN or Inf")
    return wav


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without reading the samples."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file does not exist")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(path, f"unreadable or unsupported audio ({err})") from None


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    mono: bool = True,
    min_samples: int = 1,
    require_rate: bool = False,
) -> tuple[np.ndarray, int]:
    """Load a file as float32.

    Returns (wav, rate): wav has shape (T,) when mono, else (C, T). With `sample_rate` set, audio at
    another rate is resampled to it, unless `require_rate`, where a different rate is an error.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file does not exist")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(path, f"unreadable or unsupported audio ({err})") from None
    wav = data.T  # (C, T)
    if mono:
        wav = wav.mean(axis=0)
    check_waveform(wav, path)
    if sample_rate is not None and rate != sample_rate:
        if require_rate:
            raise AudioError(path, f"sample rate is {rate} Hz, {sample_rate} Hz is required")
        from leanspeech.audio.resample import resample

        wav = resample(wav, rate, sample_rate)
        rate = sample_rate
    check_waveform(wav, path, min_samples=min_samples)
    return np.ascontiguousarray(wav, dtype=np.float32), int(rate)


def save_audio(path: str | Path, wav: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write (T,) or (C, T) float audio; the format follows the suffix (wav, flac, ogg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = np.asarray(wav, dtype=np.float32)
    check_waveform(wav, path)
    sf.write(str(path), wav.T if wav.ndim == 2 else wav, sample_rate, subtype=subtype)
    return path
