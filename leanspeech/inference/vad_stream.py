"""Streaming VAD: feed audio chunks of any length, get each frame's probability as soon as it is final.

The offline model sees a centred STFT (the signal reflected at both ends) and repeats its last
feature frame for the convolution's look-ahead. The stream does the same work in pieces: it waits for
n_fft/2 + 1 samples to reflect the start, computes each STFT frame once its window is complete, runs
the convolution once `kernel_size` feature frames exist, and carries the GRU state. Frame t is
therefore emitted (n_fft/2 + 2·hop) samples after its start; `flush()` reflects the end and repeats
the last frame as the offline model does, so stream + flush equals the offline output frame for frame.
Works with CRNNVAD, DynCRNNVAD and their consolidated forms (layers frontend, conv, conv_activation,
gru, head, output_activation).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from leanspeech.errors import LeanspeechError
from leanspeech.inference.vad import load_vad_model, min_samples
from leanspeech.models.base import SpeechModel


class StreamingVAD:
    """Chunks in, frame probabilities out (`process`), or start/end events (`__call__`, like Silero's
    VADIterator): {"start": seconds} when a frame reaches `threshold`, {"end": seconds} after
    `min_silence_seconds` below it. Chunks are mono float arrays at the model's sample rate."""

    def __init__(
        self,
        model: str | Path | SpeechModel | None = None,
        threshold: float = 0.5,
        min_silence_seconds: float = 0.1,
    ):
        self.model = load_vad_model(model)
        self.sample_rate = self.model.sample_rate
        self.hop = self.model.hop_length
        self.n_fft = min_samples(self.model)
        self.half = self.n_fft // 2
        self.kernel = self.model.conv.kernel_size[0]
        self.frontend = copy.deepcopy(self.model.frontend)
        self.frontend.spectrogram.center = False  # the stream does the centring padding itself
        self.threshold = threshold
        self.min_silence_frames = max(1, round(min_silence_seconds * self.sample_rate / self.hop))
        self.reset()

    def reset(self) -> None:
        self._raw = np.zeros(0, dtype=np.float32)  # samples before the start could be reflected
        self._window = np.zeros(0, dtype=np.float32)  # padded signal from the next frame's start
        self._started = False
        self._features: Tensor | None = None  # the last kernel-1 feature frames
        self._hidden: Tensor | None = None
        self._tail = np.zeros(0, dtype=np.float32)  # the last half+1 raw samples, to reflect the end
        self._frames = 0
        self._samples = 0
        self._finished = False
        self._speaking = False
        self._silent_frames = 0

    @property
    def frames_emitted(self) -> int:
        return self._frames

    @torch.no_grad()
    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Probabilities of the frames completed by `chunk` (possibly none)."""
        if self._finished:
            raise LeanspeechError("this stream was flushed; call reset() to start a new one")
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if not np.isfinite(chunk).all():
            raise LeanspeechError("chunk holds NaN or Inf samples")
        self._samples += len(chunk)
        self._tail = np.concatenate([self._tail, chunk])[-(self.half + 1):]
        if not self._started:
            self._raw = np.concatenate([self._raw, chunk])
            if len(self._raw) <= self.half:
                return np.zeros(0, dtype=np.float32)
            # torch.stft(center=True) reflects without repeating the edge sample.
            chunk = np.concatenate([self._raw[1:self.half + 1][::-1], self._raw])
            self._started, self._raw = True, np.zeros(0, dtype=np.float32)
        self._window = np.concatenate([self._window, chunk])
        return self._emit(self._spectral_frames())

    @torch.no_grad()
    def flush(self) -> np.ndarray:
        """The remaining frames: the end reflected and the last feature frame repeated, as offline."""
        if self._finished:
            return np.zeros(0, dtype=np.float32)
        if self._samples < self.n_fft:
            raise LeanspeechError(
                f"the stream got {self._samples} samples; the model needs at least {self.n_fft} "
                f"({1000 * self.n_fft / self.sample_rate:.0f} ms)"
            )
        self._window = np.concatenate([self._window, self._tail[-(self.half + 1):-1][::-1]])
        features = self._spectral_frames()
        last = features if features.shape[-1] else self._features[..., -1:]
        padded = torch.cat([features, last[..., -1:].expand(-1, -1, self.kernel - 1)], dim=-1)
        self._finished = True
        return self._emit(padded)

    def __call__(self, chunk: np.ndarray) -> list[dict[str, float]]:
        """Start/end events (seconds) of the frames completed by `chunk`."""
        first = self._frames
        return self._events(self.process(chunk), first)

    def _events(self, probabilities: np.ndarray, first: int) -> list[dict[str, float]]:
        events = []
        for offset, p in enumerate(probabilities):
            t = (first + offset) * self.hop / self.sample_rate
            if p >= self.threshold:
                if not self._speaking:
                    events.append({"start": round(t, 4)})
                self._speaking, self._silent_frames = True, 0
            elif self._speaking:
                self._silent_frames += 1
                if self._silent_frames >= self.min_silence_frames:
                    end = t - (self._silent_frames - 1) * self.hop / self.sample_rate
                    events.append({"end": round(end, 4)})
                    self._speaking = False
        return events

    def _spectral_frames(self) -> Tensor:
        """Feature frames of every complete window in the buffer; the buffer keeps the next frame's start."""
        count = 0 if len(self._window) < self.n_fft else 1 + (len(self._window) - self.n_fft) // self.hop
        if count == 0:
            return torch.zeros(1, self.model.conv.in_channels, 0)
        used = self._window[: (count - 1) * self.hop + self.n_fft]
        self._window = self._window[count * self.hop:]
        return self.frontend(torch.from_numpy(np.ascontiguousarray(used))[None])

    def _emit(self, features: Tensor) -> np.ndarray:
        if self._features is not None:
            features = torch.cat([self._features, features], dim=-1)
        self._features = features[..., -(self.kernel - 1):] if self.kernel > 1 else features[..., :0]
        if features.shape[-1] < self.kernel:
            return np.zeros(0, dtype=np.float32)
        m = self.model
        h = m.conv_activation(m.conv(features))
        h, self._hidden = m.gru(h.transpose(1, 2), self._hidden)
        probabilities = m.output_activation(m.head(h)).reshape(-1).numpy()
        self._frames += len(probabilities)
        return probabilities
