"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 MOS from Microsoft's ONNX models inside the `speechmos` wheel.

Non-intrusive: no reference needed. The models take 16 kHz audio in [-1, 1] (other rates are
resampled here) and score 9.01 s windows hopped by 1 s; shorter clips are repeated up to 9.01 s.
The first call loads the models and compiles librosa's numba code (about 15 s). Scores from this
local model differ from Microsoft's DNSMOS web service; clean speech tops out near 3.3 OVRL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from leanspeech.audio.resample import resample
from leanspeech.metrics.checks import MetricError, as_vector

DNSMOS_RATE = 16000


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
    audio = np.clip(resample(audio.astype(np.float32), sample_rate, DNSMOS_RATE), -1.0, 1.0)
    from speechmos import dnsmos as speechmos_dnsmos  # imports librosa and loads onnxruntime: slow

    result = speechmos_dnsmos.run(audio, DNSMOS_RATE, model_type="dnsmos_personalized" if personalized else "dnsmos")
    return DNSMOSScores(
        sig=float(result["sig_mos"]),
        bak=float(result["bak_mos"]),
        ovrl=float(result["ovrl_mos"]),
        p808=float(result["p808_mos"]),
    )
