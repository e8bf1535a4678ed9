"""WebRTC VAD (pip webrtcvad-wheels): a GMM detector on 10/20/30 ms frames of 16-bit PCM.

It gives a binary decision per frame and has no score, only four aggressiveness modes (0 = least,
3 = most aggressive at rejecting non-speech). For ROC/EER use `operating_points`: each mode is one
point, not a threshold on a common score. Frames of `frame_ms` tile the input from sample 0 (the tail
is zero-padded to a whole frame); our frames take the decision of the WebRTC frame holding their centre.
Input at 8, 16, 32 or 48 kHz is used as is; other rates are resampled to 16 kHz.
"""

from __future__ import annotations

import numpy as np

from leanspeech.peers.base import chunk_scores_to_frames, mono_at_rate, require_module, to_pcm16
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install webrtcvad-wheels==2.0.14.post1"
NATIVE_RATES = (8000, 16000, 32000, 48000)
MODES = (0, 1, 2, 3)


@PEERS.register("webrtc-vad")
class WebRtcVad:
    """WebRTC VAD at one aggressiveness `mode` (0-3) with frames of `frame_ms` (10, 20 or 30)."""

    task = "vad"

    def __init__(self, mode: int = 0, frame_ms: int = 10):
        if mode not in MODES:
            raise ValueError(f"webrtc-vad mode must be one of {MODES}, got {mode!r}")
        if frame_ms not in (10, 20, 30):
            raise ValueError(f"webrtc-vad frames are 10, 20 or 30 ms, got {frame_ms!r}")
        self._webrtcvad = require_module("webrtcvad", "webrtc-vad", PIP_COMMAND)
        self.mode = mode
        self.frame_ms = frame_ms

    def decisions(self, wav: np.ndarray, sample_rate: int, mode: int | None = None) -> tuple[np.ndarray, int, int]:
        """Binary decision per WebRTC frame: (decisions, frame_length, rate it ran at)."""
        rate = sample_rate if sample_rate in NATIVE_RATES else 16000
        pcm = to_pcm16(mono_at_rate(wav, sample_rate, rate))
        frame_length = rate * self.frame_ms // 1000
        pcm = np.pad(pcm, (0, -len(pcm) % frame_length))
        vad = self._webrtcvad.Vad(self.mode if mode is None else mode)
        frames = pcm.reshape(-1, frame_length)
        decided = np.array([vad.is_speech(frame.tobytes(), rate) for frame in frames], dtype=np.float32)
        return decided, frame_length, rate

    def frame_probabilities(
        self, wav: np.ndarray, sample_rate: int, hop_length: int, n_frames: int, mode: int | None = None
    ) -> np.ndarray:
        """0/1 per frame of our grid at `mode` (default: this instance's mode)."""
        decided, frame_length, rate = self.decisions(wav, sample_rate, mode)
        return chunk_scores_to_frames(decided, frame_length, rate, hop_length, sample_rate, n_frames)

    def operating_points(
        self, wav: np.ndarray, sample_rate: int, hop_length: int, n_frames: int
    ) -> dict[int, np.ndarray]:
        """The 0/1 frame decisions of every mode: four points on the ROC plane."""
        return {mode: self.frame_probabilities(wav, sample_rate, hop_length, n_frames, mode) for mode in MODES}
