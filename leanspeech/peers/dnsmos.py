"""DNSMOS (the ONNX models inside pip speechmos): P.835 SIG/BAK/OVRL and P.808 MOS at 16 kHz.

The peer interface around `metrics.dnsmos` (one model cache and one scoring path for both): 9.01 s
windows hopped by 1 s and averaged, a shorter clip tiled to exactly one window. The first call is slow
(≈15 s: numba compiles librosa's mel code).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from leanspeech.errors import AudioError
from leanspeech.metrics.dnsmos import DNSMOS_RATE, dnsmos_model, score_16k
from leanspeech.peers.base import mono_at_rate, require_module
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install speechmos==0.0.1.1"


@PEERS.register("dnsmos")
class Dnsmos:
    """DNSMOS P.835 (or its personalized variant) plus P.808; scores are dicts sig, bak, ovrl, p808."""

    task = "quality"
    sample_rate = DNSMOS_RATE

    def __init__(self, personalized: bool = False):
        require_module("speechmos.dnsmos", "dnsmos", PIP_COMMAND)
        self.personalized = personalized
        dnsmos_model(personalized)  # load now, not on the first clip

    def score(self, wav: np.ndarray, sample_rate: int) -> dict[str, float]:
        peak = float(np.max(np.abs(wav))) if np.size(wav) else 0.0
        if peak > 1.0:
            raise AudioError(None, f"DNSMOS takes float audio in [-1, 1]; the peak is {peak:.3g}")
        return score_16k(mono_at_rate(wav, sample_rate, DNSMOS_RATE), self.personalized).as_dict()

    def score_batch(self, wavs: list[np.ndarray], sample_rate: int, progress: bool = True) -> list[dict[str, float]]:
        return [self.score(wav, sample_rate) for wav in tqdm(wavs, desc="DNSMOS", disable=not progress)]
