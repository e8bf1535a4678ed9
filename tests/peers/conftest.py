"""Real speech for the peer tests: an asterisk prompt (8 kHz, resampled to 16 kHz) between silences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from leanspeech.audio.io import load_audio

PROMPT = Path("/usr/share/asterisk/sounds/en_US_f_Allison/vm-sorry.wav")
RATE = 16000


def energy_bounds(wav: np.ndarray, rate: int) -> tuple[int, int]:
    """First and last sample of the 10 ms windows within 30 dB of the loudest one."""
    window = rate // 100
    power = (wav[: len(wav) // window * window].reshape(-1, window) ** 2).mean(axis=1)
    loud = np.flatnonzero(power > power.max() * 1e-3)
    return int(loud[0] * window), int((loud[-1] + 1) * window)


@dataclass
class Scene:
    """One second of silence, the prompt, one second of silence, at 16 kHz."""

    clean: np.ndarray
    speech_start: int  # energy onset of the speech, not the start of the file
    speech_end: int
    speech_power: float

    def noisy(self, snr_db: float, seed: int = 0) -> np.ndarray:
        """White noise over the whole scene at `snr_db` relative to the active speech power."""
        noise = np.random.default_rng(seed).standard_normal(len(self.clean)).astype(np.float32)
        mixed = self.clean + noise * np.sqrt(self.speech_power / 10 ** (snr_db / 10))
        peak = np.abs(mixed).max()
        return (mixed * (0.9 / peak) if peak > 0.9 else mixed).astype(np.float32)

    def masks(self, hop: int, n_frames: int, margin: int = RATE // 10) -> tuple[np.ndarray, np.ndarray]:
        """Frames centred well inside the speech, and frames centred well inside the silences."""
        centres = np.arange(n_frames) * hop
        speech = (centres >= self.speech_start + margin) & (centres < self.speech_end - margin)
        silence = (centres < self.speech_start - margin) | (centres >= self.speech_end + margin)
        return speech, silence


@pytest.fixture(scope="session")
def scene() -> Scene:
    if not PROMPT.exists():
        pytest.skip(f"{PROMPT} missing: apt-get install asterisk-core-sounds-en-wav")
    prompt = load_audio(PROMPT, RATE)[0]
    start, end = energy_bounds(prompt, RATE)
    silence = np.zeros(RATE, dtype=np.float32)
    clean = np.concatenate([silence, prompt, silence])
    return Scene(clean, RATE + start, RATE + end, float(np.mean(prompt[start:end] ** 2)))
