from pathlib import Path

import numpy as np
import pytest

from leanspeech.audio.io import load_audio

# Recorded speech from the Debian package asterisk-core-sounds-en-wav (8 kHz, Allison).
SPEECH_DIRS = [Path("/usr/share/asterisk/sounds/en_US_f_Allison"), Path("/usr/share/asterisk/sounds/en")]


def speech_clip(rate: int, name: str = "agent-alreadyon.wav") -> np.ndarray:
    for folder in SPEECH_DIRS:
        if (folder / name).exists():
            return load_audio(folder / name, sample_rate=rate)[0]
    pytest.skip("real speech needs the Debian package asterisk-core-sounds-en-wav")


@pytest.fixture(scope="session")
def speech_16k() -> np.ndarray:
    return speech_clip(16000)


@pytest.fixture(scope="session")
def speech_8k() -> np.ndarray:
    return speech_clip(8000)


def _add_white_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + noise).astype(np.float32)


@pytest.fixture(scope="session")
def add_white_noise():
    """(clean, snr_db, seed=0) -> clean + white noise at exactly that SNR over the whole clip."""
    return _add_white_noise
