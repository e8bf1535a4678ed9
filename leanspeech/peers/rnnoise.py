"""RNNoise (the librnnoise.so inside pip pyrnnoise), driven with ctypes.

pyrnnoise's Python wrapper imports audiolab (and through it PyAV) for file I/O; the shared library
needs nothing, so it is loaded directly and pyrnnoise installs with --no-deps.
RNNoise works at 48 kHz on 480-sample frames of int16-range floats and returns, per frame, the
denoised frame and a speech probability. Its output lags its input by `DELAY_48K` samples, which
`enhance` removes so that the output lines up with the input sample for sample; the probability lags
by `PROBABILITY_DELAY_48K`, which `frame_probabilities` removes.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.signal

from leanspeech.audio.resample import resample, pad_or_cut
from leanspeech.peers.base import PeerNotInstalledError, chunk_scores_to_frames, mono_at_rate
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install --no-deps pyrnnoise==0.4.5"
MODEL_RATE = 48000
FRAME = 480
# Measured with `estimate_lag` on Allison's asterisk prompts (vm-sorry, agent-pass, demo-congrats,
# conf-onlyperson at 8 kHz → 48 kHz): the peak is at 959 samples every time (≈ 20 ms).
DELAY_48K = 959
# Its speech probability lags less: frame k's probability correlates best with the energy-based speech
# mask of input frame k − 1 (six prompts + faint noise; correlation 0.873, 0.877, 0.871 at 0, 1, 2 frames).
PROBABILITY_DELAY_48K = 480

_FloatPointer = ctypes.POINTER(ctypes.c_float)


@functools.cache
def _library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("pyrnnoise")  # locates the package without importing audiolab
    if spec is None or not spec.submodule_search_locations:
        raise PeerNotInstalledError(f"peer 'rnnoise' needs the package pyrnnoise; install it with: {PIP_COMMAND}")
    path = Path(next(iter(spec.submodule_search_locations))) / "librnnoise.so"
    if not path.exists():
        raise PeerNotInstalledError(f"peer 'rnnoise': {path} is missing; reinstall with: {PIP_COMMAND}")
    lib = ctypes.CDLL(str(path))
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, _FloatPointer, _FloatPointer]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    if lib.rnnoise_get_frame_size() != FRAME:
        raise RuntimeError(f"{path} uses frames of {lib.rnnoise_get_frame_size()} samples, expected {FRAME}")
    return lib


def process_frames(pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run RNNoise over int16-range float32 audio at 48 kHz whose length is a multiple of 480.

    Returns the raw (delayed) output and one speech probability per frame. A fresh state per call
    keeps calls independent and thread-safe.
    """
    lib = _library()
    frames = np.ascontiguousarray(pcm, dtype=np.float32).reshape(-1, FRAME)
    output = np.empty_like(frames)
    probabilities = np.empty(len(frames), dtype=np.float32)
    state = lib.rnnoise_create(None)
    try:
        for index, frame in enumerate(frames):
            probabilities[index] = lib.rnnoise_process_frame(
                state, output[index].ctypes.data_as(_FloatPointer), frame.ctypes.data_as(_FloatPointer)
            )
    finally:
        lib.rnnoise_destroy(state)
    return output.reshape(-1), probabilities


def estimate_lag(reference: np.ndarray, delayed: np.ndarray) -> int:
    """Samples by which `delayed` lags `reference`: the peak of their cross-correlation."""
    correlation = scipy.signal.correlate(delayed, reference, mode="full", method="fft")
    lags = scipy.signal.correlation_lags(len(delayed), len(reference), mode="full")
    return int(lags[np.argmax(correlation)])


class Denoised(NamedTuple):
    audio: np.ndarray  # at the input rate, aligned with the input
    speech_probability: np.ndarray  # per 480-sample frame at 48 kHz, lagging by PROBABILITY_DELAY_48K


@PEERS.register("rnnoise")
class Rnnoise:
    """RNNoise as a speech enhancer (and, through its speech probability, a VAD)."""

    task = "enhance"
    sample_rate = MODEL_RATE
    algorithmic_delay_seconds = DELAY_48K / MODEL_RATE  # what a streaming user waits for, compensated here

    def __init__(self) -> None:
        _library()

    def denoise(self, wav: np.ndarray, sample_rate: int) -> Denoised:
        audio = mono_at_rate(wav, sample_rate, MODEL_RATE) * 32768.0
        # Feed DELAY_48K extra samples so the aligned output covers the whole input.
        padded = np.pad(audio, (0, DELAY_48K + (-(len(audio) + DELAY_48K) % FRAME)))
        output, probabilities = process_frames(padded)
        aligned = output[DELAY_48K : DELAY_48K + len(audio)] / 32768.0
        enhanced = resample(aligned, MODEL_RATE, sample_rate)
        enhanced = pad_or_cut(enhanced, len(wav))
        return Denoised(enhanced.astype(np.float32), probabilities)

    def enhance(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.denoise(wav, sample_rate).audio

    def frame_probabilities(
        self, wav: np.ndarray, sample_rate: int, hop_length: int, n_frames: int
    ) -> np.ndarray:
        """RNNoise's speech probability on our frame grid, shifted back by its delay."""
        probabilities = self.denoise(wav, sample_rate).speech_probability
        return chunk_scores_to_frames(
            probabilities, FRAME, MODEL_RATE, hop_length, sample_rate, n_frames, delay=PROBABILITY_DELAY_48K
        )
