"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 MOS from Microsoft's ONNX models inside the `speechmos` wheel.

Non-intrusive: no reference needed. The models take 16 kHz audio in [-1, 1] (other rates are
resampled here) and score 9.01 s windows hopped by 1 s. speechmos doubles a shorter clip until it
fills a window and hops over that too: `one_window` tiles it to exactly one window instead.
The first call loads the models and compiles librosa's numba code (about 15 s). Scores from this
local model differ from Microsoft's DNSMOS web service; clean speech tops out near 3.3 OVRL.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanspeech.audio.resample import resample
from leanspeech.metrics.checks import MetricError, as_vector

DNSMOS_RATE = 16000
WINDOW_SECONDS = 9.01  # the P.835 model's input: 144,160 samples


def one_window(wav: np.ndarray, rate: int) -> np.ndarray:
    """A clip shorter than DNSMOS's window, tiled to exactly one window; longer clips unchanged.
    speechmos would double it until it fills the window (a 4 s clip becomes 16 s, a 7.2 s one 14.5 s)
    and average every 1 s hop over that: 5-7 scorings of the same repeated content (3x the time on 7.2 s
    clips here, with scores that correlate at 0.99 with one window's: bench/dnsmos_one_window.py)."""
    window = int(WINDOW_SECONDS * rate)
    if len(wav) >= window:
        return wav
    return np.tile(wav, -(-window // len(wav)))[:window]


@dataclass(frozen=True)
class DNSMOSScores:
    sig: float
    bak: float
    ovrl: float
    p808: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def dnsmos(wav: object, sample_rate: int, personalized: bool = False) -> DNSMOSScores:
    """Score one clip; `personalized` picks the model that also penalises interfering talkers."""
    audio = as_vector(wav, "waveform")
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        raise MetricError(f"DNSMOS needs samples in [-1, 1], the peak is {peak:.3f}: peak-normalise first")
    if peak == 0.0:
        raise MetricError("DNSMOS: the clip is silent")
    return score_16k(resample(audio.astype(np.float32), sample_rate, DNSMOS_RATE), personalized)


@functools.lru_cache(maxsize=2)
def dnsmos_model(personalized: bool = False) -> Any:
    """speechmos's DNSMOS class on the wheel's ONNX files, loaded once per variant (its `run` would keep
    one model in a global and reload it whenever the variant changes)."""
    from speechmos import dnsmos as speechmos_dnsmos  # imports librosa and loads onnxruntime: slow

    models = Path(speechmos_dnsmos.__file__).parent
    primary = models / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx"
    return speechmos_dnsmos.DNSMOS(str(primary), str(models / "dnsmos_models" / "model_v8.onnx"))


def score_16k(audio: np.ndarray, personalized: bool = False) -> DNSMOSScores:
    """Scores of mono 16 kHz audio (clipped to [-1, 1]: resampling may overshoot full scale by a hair, and
    speechmos rejects anything outside), a short clip tiled to one window."""
    audio = one_window(np.clip(audio, -1.0, 1.0), DNSMOS_RATE)
    result = dnsmos_model(personalized)(audio, DNSMOS_RATE, personalized)
    return DNSMOSScores(
        sig=float(result["sig_mos"]),
        bak=float(result["bak_mos"]),
        ovrl=float(result["ovrl_mos"]),
        p808=float(result["p808_mos"]),
    )
