"""StreamingEnhancer: the `enhance_gru` host (models/enhance_gru.py) frame by frame at batch 1.

`enhance_spectrum` takes one complex STFT frame (n_fft // 2 + 1 bins) and returns the masked frame,
exactly what `EnhanceGRU.forward` computes for that frame in a sequence. `enhance_hop` takes
`hop_length` new samples and returns `hop_length` enhanced samples, delayed by n_fft − hop_length
samples (a streaming Hann STFT / overlap-add; the first frame sees zeros where the offline STFT
reflects, so the first outputs differ slightly from `EnhanceGRU.enhance`). A frame is one kernel call
(FC, all GRU layers, FC, mask) between numpy's rfft and irfft; all weights are stored in the GRU's
weight format (fp32, fp16 or int8, see weight_formats.py), and with `activations="int8"` the GRU layers
run in 8-bit integer arithmetic (w8a8_kernel.py; the two FCs keep float activations).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch import nn

from leanspeech.runtime.streaming_gru import RuntimeFormatError, StreamingGRU, read_versioned_npz, write_versioned_npz
from leanspeech.runtime.weight_formats import QuantizedRows


def periodic_hann(length: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


class StreamingEnhancer:
    def __init__(
        self,
        input_weight: np.ndarray | QuantizedRows,
        input_bias: np.ndarray,
        gru: StreamingGRU,
        mask_weight: np.ndarray | QuantizedRows,
        mask_bias: np.ndarray,
        n_fft: int = 320,
        hop_length: int = 160,
    ):
        """Float weight matrices are stored in `gru.weights`' format; QuantizedRows are kept as given."""
        self.input_fc, self.mask_fc = (
            w if isinstance(w, QuantizedRows) else QuantizedRows.of(w, gru.weights) for w in (input_weight, mask_weight)
        )
        self.input_bias, self.mask_bias = (np.ascontiguousarray(b, dtype=np.float32) for b in (input_bias, mask_bias))
        self.gru = gru
        self.n_fft, self.hop_length = n_fft, hop_length
        self.bins = n_fft // 2 + 1
        if self.input_fc.stored.shape[1] != self.bins or self.mask_fc.stored.shape[0] != self.bins:
            raise ValueError(f"weights do not fit n_fft {n_fft}: {self.bins} bins expected")
        if n_fft % hop_length:
            raise ValueError(f"n_fft {n_fft} must be a multiple of hop_length {hop_length}")
        view = gru.kernels.view
        features, hidden, mask = (np.zeros(n, np.float32) for n in (self.bins, self.input_bias.shape[0], self.bins))
        # The kernel's host arguments, built once (views as in StreamingGRU: in-place edits of the weights show).
        self._host = (view(self.input_fc.stored), self.input_fc.scales, self.input_bias,
                      view(self.mask_fc.stored), self.mask_fc.scales, self.mask_bias, features, hidden, mask)
        self.window = periodic_hann(n_fft)
        # Overlap-add normalisation: the sum of squared windows over the frames covering each output sample.
        self._envelope = sum(np.roll(self.window**2, k * hop_length) for k in range(n_fft // hop_length))[:hop_length]
        self.reset()

    @property
    def weights(self) -> str:
        return self.gru.weights

    @classmethod
    def from_model(
        cls, model: nn.Module, update_percent: float | None = None, backend: str | None = None, weights: str = "fp32",
        activations: str = "fp32",
    ) -> StreamingEnhancer:
        """From a trained `EnhanceGRU` (rnn "gru" or "dgru"); `update_percent` overrides a DGRU's P;
        `weights` is the storage format of all its weights, `activations` that of the GRU's inputs and states."""
        if not isinstance(getattr(model, "rnn", None), nn.GRU):
            raise TypeError(f"{type(model).__name__}: the streaming enhancer runs enhance_gru hosts with a GRU/DGRU")
        gru = StreamingGRU.from_torch(model.rnn, update_percent, backend=backend, weights=weights,
                                      activations=activations)
        host = [model.input_fc.weight, model.input_fc.bias, model.mask_fc.weight, model.mask_fc.bias]
        w_in, b_in, w_out, b_out = (p.detach().cpu().numpy() for p in host)
        return cls(w_in, b_in, gru, w_out, b_out, model.stft.n_fft, model.hop_length)

    def reset(self) -> None:
        self.gru.reset()
        self._frame = np.zeros(self.n_fft, np.float32)
        self._overlap = np.zeros(self.n_fft - self.hop_length, np.float32)
        # Per-hop buffers (numpy's float32 FFTs write into them: no allocation, no dtype conversion).
        self._windowed = np.zeros(self.n_fft, np.float32)
        self._spectrum = np.zeros(self.bins, np.complex64)
        self._synthesis = np.zeros(self.n_fft, np.float32)

    def enhance_spectrum(self, frame: np.ndarray) -> np.ndarray:
        """One complex frame (bins,) → the enhanced complex frame (bins,), a new array."""
        if frame.shape != (self.bins,):
            raise ValueError(f"a spectrum frame must have shape ({self.bins},), got {frame.shape}")
        spectrum = frame.astype(np.complex64)
        self._mask_in_place(spectrum)
        return spectrum

    def _mask_in_place(self, spectrum: np.ndarray) -> None:
        gru = self.gru
        gru.kernels.enhance_frame(spectrum, self._host, gru.kernel_layers, gru.state, gru.count,
                                  gru.selection_threshold, gru.scratch, gru.last_updated, gru.kernels.gru_stack)

    def enhance_hop(self, samples: np.ndarray) -> np.ndarray:
        """`hop_length` new samples → `hop_length` enhanced samples, n_fft − hop_length samples behind."""
        if samples.shape != (self.hop_length,):
            raise ValueError(f"a hop must have shape ({self.hop_length},), got {samples.shape}")
        hop, frame = self.hop_length, self._frame
        frame[:-hop] = frame[hop:]
        frame[-hop:] = samples
        np.fft.rfft(np.multiply(frame, self.window, out=self._windowed), out=self._spectrum)
        self._mask_in_place(self._spectrum)
        synthesis = np.fft.irfft(self._spectrum, self.n_fft, out=self._synthesis)
        synthesis *= self.window
        synthesis[:-hop] += self._overlap
        self._overlap[:] = synthesis[hop:]
        return synthesis[:hop] / self._envelope

    def save(self, path: str | Path) -> Path:
        return write_versioned_npz(
            path, "streaming_enhancer",
            shape=np.array(json.dumps({"n_fft": self.n_fft, "hop_length": self.hop_length})),
            **self.input_fc.arrays("input"), input_bias=self.input_bias,
            **self.mask_fc.arrays("mask"), mask_bias=self.mask_bias,
            **self.gru.arrays("gru_"),
        )

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> StreamingEnhancer:
        arrays = read_versioned_npz(path, "streaming_enhancer")
        version = int(arrays["format_version"])
        try:
            gru = StreamingGRU.from_arrays(arrays, "gru_", backend, version)
            w_in, w_out = (QuantizedRows.from_arrays(arrays, name) if version >= 2
                           else arrays[f"{name}_weight"] for name in ("input", "mask"))
            shape = json.loads(str(arrays["shape"]))
            return cls(w_in, arrays["input_bias"], gru, w_out, arrays["mask_bias"], shape["n_fft"], shape["hop_length"])
        except KeyError as error:
            raise RuntimeFormatError(f"{path}: missing array {error}") from error
