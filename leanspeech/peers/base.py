"""What every peer shares: the task interfaces, optional-package loading, input checks, frame alignment.

Peers are published models run offline from their wheels (see requirements-peers-no-deps.txt). Each task has
one interface, so benchmarks compare a peer and a leanspeech model through the same call:

- VAD: `frame_probabilities(wav, sample_rate, hop_length, n_frames)` → (n_frames,) speech scores on
  OUR frame grid: frame j is centred on input sample j · hop_length (centred frames, as torch.stft).
- enhancement: `enhance(wav, sample_rate)` → the enhanced waveform at the input rate, time-aligned.
- quality: `score(wav, sample_rate)` and `score_batch(wavs, sample_rate)`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np

from leanspeech.audio.io import check_waveform
from leanspeech.audio.resample import resample
from leanspeech.errors import AudioError, LeanspeechError


class PeerNotInstalledError(LeanspeechError, ImportError):
    """A peer's package is missing: the message gives the pip command that installs it."""


def require_module(module: str, peer: str, pip_command: str) -> ModuleType:
    """Import `module` for `peer`, or raise PeerNotInstalledError naming `pip_command`."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise PeerNotInstalledError(
            f"peer {peer!r} needs the Python module {module!r} ({err}); install it with: {pip_command}"
        ) from None


def mono_at_rate(wav: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Check a (T,) waveform and resample it to `target_rate` as float32."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise AudioError(None, f"peers take mono (T,) audio, got shape {tuple(wav.shape)}")
    check_waveform(wav)
    if sample_rate <= 0:
        raise AudioError(None, f"sample rate must be positive, got {sample_rate}")
    return np.ascontiguousarray(resample(wav, sample_rate, target_rate), dtype=np.float32)


def to_pcm16(wav: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] → int16 samples (clipped), the input format of C speech libraries."""
    return np.clip(np.round(wav * 32768.0), -32768, 32767).astype(np.int16)


def chunk_scores_to_frames(
    chunk_scores: np.ndarray,
    chunk_length: int,
    peer_rate: int,
    hop_length: int,
    sample_rate: int,
    n_frames: int,
    delay: int = 0,
) -> np.ndarray:
    """Give each of our frames the score of the peer chunk that holds the frame's centre.

    Chunk k scores peer-rate samples [k · chunk_length − delay, (k + 1) · chunk_length − delay) of the
    input (`delay` > 0 for a peer whose output lags its input). Our frame j is centred on input sample
    j · hop_length at `sample_rate`. Integer arithmetic keeps chunk boundaries exact; frames past the
    last chunk take the nearest chunk.
    """
    chunk_scores = np.asarray(chunk_scores, dtype=np.float32)
    if chunk_scores.ndim != 1 or len(chunk_scores) == 0:
        raise ValueError(f"need a non-empty (K,) array of chunk scores, got shape {chunk_scores.shape}")
    centres = np.arange(n_frames, dtype=np.int64) * hop_length * peer_rate  # × sample_rate scale
    index = (centres + delay * sample_rate) // (chunk_length * sample_rate)
    return chunk_scores[np.clip(index, 0, len(chunk_scores) - 1)]


@runtime_checkable
class VadPeer(Protocol):
    task: str

    def frame_probabilities(
        self, wav: np.ndarray, sample_rate: int, hop_length: int, n_frames: int
    ) -> np.ndarray: ...


@runtime_checkable
class EnhancementPeer(Protocol):
    task: str

    def enhance(self, wav: np.ndarray, sample_rate: int) -> np.ndarray: ...


@runtime_checkable
class QualityPeer(Protocol):
    task: str

    def score(self, wav: np.ndarray, sample_rate: int) -> float | dict[str, float]: ...

    def score_batch(self, wavs: list[np.ndarray], sample_rate: int) -> list: ...
