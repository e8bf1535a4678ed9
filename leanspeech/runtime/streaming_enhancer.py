"""StreamingEnhancer: the `enhance_gru` host (models/enhance_gru.py) frame by frame at batch 1.

`enhance_spectrum` takes one complex STFT frame (n_fft // 2 + 1 bins) and returns the masked frame,
exactly what `EnhanceGRU.forward` computes for that frame in a sequence. `enhance_hop` takes
`hop_length` new samples and returns `hop_length` enhanced samples, delayed by n_fft − hop_length
samples (a streaming Hann STFT / overlap-add; the first frame sees zeros where the offline STFT
reflects, so the first outputs differ slightly from `EnhanceGRU.enhance`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch import nn

from leanspeech.runtime.gru_kernel import ACTIVATIONS, kernels
from leanspeech.runtime.streaming_gru import FORMAT_VERSION, RuntimeFormatError, StreamingGRU, read_versioned_npz


def periodic_hann(length: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


class StreamingEnhancer:
    def __init__(
        self,
        input_weight: np.ndarray,
        input_bias: np.ndarray,
        gru: StreamingGRU,
        mask_weight: np.ndarray,
        mask_bias: np.ndarray,
        n_fft: int = 320,
        hop_length: int = 160,
        backend: str | None = None,
    ):
        dtype = gru.dtype
        self.input_weight, self.input_bias, self.mask_weight, self.mask_bias = (
            np.ascontiguousarray(a, dtype=dtype) for a in (input_weight, input_bias, mask_weight, mask_bias)
        )
        self.gru = gru
        self.n_fft, self.hop_length = n_fft, hop_length
        self.bins = n_fft // 2 + 1
        if self.input_weight.shape[1] != self.bins or self.mask_weight.shape[0] != self.bins:
            raise ValueError(f"weights do not fit n_fft {n_fft}: {self.bins} bins expected")
        if n_fft % hop_length:
            raise ValueError(f"n_fft {n_fft} must be a multiple of hop_length {hop_length}")
        _, _, self._dense = kernels(backend or gru.backend)
        self._hidden = np.zeros(self.input_weight.shape[0], dtype)
        self._mask = np.zeros(self.bins, dtype)
        self.window = periodic_hann(n_fft)
        # Overlap-add normalisation: the sum of squared windows over the frames covering each output sample.
        self._envelope = sum(np.roll(self.window**2, k * hop_length) for k in range(n_fft // hop_length))[:hop_length]
        self.reset()

    @classmethod
    def from_model(
        cls, model: nn.Module, update_percent: float | None = None, backend: str | None = None, dtype: type = np.float32
    ) -> StreamingEnhancer:
        """From a trained `EnhanceGRU` (rnn "gru" or "dgru"); `update_percent` overrides a DGRU's P."""
        if not isinstance(getattr(model, "rnn", None), nn.GRU):
            raise TypeError(f"{type(model).__name__}: the streaming enhancer runs enhance_gru hosts with a GRU/DGRU")
        gru = StreamingGRU.from_torch(model.rnn, update_percent, backend=backend, dtype=dtype)
        host = [model.input_fc.weight, model.input_fc.bias, model.mask_fc.weight, model.mask_fc.bias]
        w_in, b_in, w_out, b_out = (p.detach().cpu().numpy() for p in host)
        return cls(w_in, b_in, gru, w_out, b_out, model.stft.n_fft, model.hop_length, backend)

    def reset(self) -> None:
        self.gru.reset()
        self._frame = np.zeros(self.n_fft, np.float32)
        self._overlap = np.zeros(self.n_fft - self.hop_length, np.float32)

    def enhance_spectrum(self, frame: np.ndarray) -> np.ndarray:
        """One complex frame (bins,) → the enhanced complex frame (bins,)."""
        if frame.shape != (self.bins,):
            raise ValueError(f"a spectrum frame must have shape ({self.bins},), got {frame.shape}")
        magnitude = np.abs(frame)
        self._dense(self.input_weight, self.input_bias, np.log1p(magnitude).astype(self.gru.dtype), self._hidden,
                    ACTIVATIONS["relu"])
        state = self.gru.step(self._hidden)
        self._dense(self.mask_weight, self.mask_bias, state, self._mask, ACTIVATIONS["sigmoid"])
        return self._mask * frame

    def enhance_hop(self, samples: np.ndarray) -> np.ndarray:
        """`hop_length` new samples → `hop_length` enhanced samples, n_fft − hop_length samples behind."""
        if samples.shape != (self.hop_length,):
            raise ValueError(f"a hop must have shape ({self.hop_length},), got {samples.shape}")
        hop = self.hop_length
        self._frame[:-hop] = self._frame[hop:]
        self._frame[-hop:] = samples
        spectrum = self.enhance_spectrum(np.fft.rfft(self.window * self._frame))
        frame = np.fft.irfft(spectrum, self.n_fft).astype(np.float32) * self.window
        frame[:-hop] += self._overlap
        out = frame[:hop] / self._envelope
        self._overlap = frame[hop:]
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(
            path, kind=np.array("streaming_enhancer"), format_version=np.array(FORMAT_VERSION),
            shape=np.array(json.dumps({"n_fft": self.n_fft, "hop_length": self.hop_length})),
            input_weight=self.input_weight, input_bias=self.input_bias,
            mask_weight=self.mask_weight, mask_bias=self.mask_bias, **self.gru.arrays("gru_"),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> StreamingEnhancer:
        arrays = read_versioned_npz(path, "streaming_enhancer")
        try:
            gru = StreamingGRU.from_arrays(arrays, "gru_", backend)
            shape = json.loads(str(arrays["shape"]))
            return cls(arrays["input_weight"], arrays["input_bias"], gru, arrays["mask_weight"], arrays["mask_bias"],
                       shape["n_fft"], shape["hop_length"], backend)
        except KeyError as error:
            raise RuntimeFormatError(f"{path}: missing array {error}") from error
