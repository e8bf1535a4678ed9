"""DNSMOS (the ONNX models inside pip speechmos): P.835 SIG/BAK/OVRL and P.808 MOS at 16 kHz.

speechmos's `run` keeps one model in a global and returns pandas frames for lists; its DNSMOS class
is used directly instead. It scores 9.01 s windows hopped by 1 s and averages them; a shorter clip is
tiled to exactly one window (`metrics.dnsmos.one_window`), not doubled and hopped over as speechmos
would. The first call is slow (≈15 s: numba compiles librosa's mel code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from leanspeech.errors import AudioError
from leanspeech.metrics.dnsmos import one_window
from leanspeech.peers.base import mono_at_rate, require_module
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install speechmos==0.0.1.1"
MODEL_RATE = 16000
KEYS = {"sig_mos": "sig", "bak_mos": "bak", "ovrl_mos": "ovrl", "p808_mos": "p808"}


@PEERS.register("dnsmos")
class Dnsmos:
    """DNSMOS P.835 (or its personalized variant) plus P.808; scores are dicts sig, bak, ovrl, p808."""

    task = "quality"
    sample_rate = MODEL_RATE

    def __init__(self, personalized: bool = False):
        dnsmos = require_module("speechmos.dnsmos", "dnsmos", PIP_COMMAND)
        models = Path(dnsmos.__file__).parent
        primary = models / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx"
        self.personalized = personalized
        self._model = dnsmos.DNSMOS(str(primary), str(models / "dnsmos_models" / "model_v8.onnx"))

    def score(self, wav: np.ndarray, sample_rate: int) -> dict[str, float]:
        peak = float(np.max(np.abs(wav))) if np.size(wav) else 0.0
        if peak > 1.0:
            raise AudioError(None, f"DNSMOS takes float audio in [-1, 1]; the peak is {peak:.3g}")
        # Resampling may overshoot full scale by a hair; speechmos rejects anything outside [-1, 1].
        audio = one_window(np.clip(mono_at_rate(wav, sample_rate, MODEL_RATE), -1.0, 1.0), MODEL_RATE)
        result = self._model(audio, MODEL_RATE, self.personalized)
        return {name: float(result[key]) for key, name in KEYS.items()}

    def score_batch(self, wavs: list[np.ndarray], sample_rate: int, progress: bool = True) -> list[dict[str, float]]:
        return [self.score(wav, sample_rate) for wav in tqdm(wavs, desc="DNSMOS", disable=not progress)]
