"""StreamingVADNetwork: the network of the CRNN voice-activity hosts (models/vad.py) frame by frame at
batch 1, on the runtime's kernels — what `leanspeech export --format runtime` writes for a VAD. (For
audio chunks in and speech events out, front end included, see `inference.vad_stream.StreamingVAD`.)

Covers `crnn_vad`, a consolidated `dyn_crnn_vad` and their stacked forms (D-GRU, binary activation map
after the convolution): Conv1d (kernel K, i.e. K − 1 frames of look-ahead) → Tanh or Heaviside → GRU or
D-GRU (StreamingGRU: unselected neurons' r and n rows are skipped) → Linear → Sigmoid. The front end
stays outside, as in every export (runtime/export.py): `push` takes one log-mel frame and, once K frames
have arrived, returns the speech probability of the frame K − 1 hops back; `flush` ends the stream by
repeating the last frame, as the model's replication padding does, so `run` equals `forward` frame for
frame. Convolution and head weights are stored in the GRU's weight format (fp32, fp16, int8) and widened
to fp32 once at load (smaller files, fp32 arithmetic); the GRU's rows stay in their format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch import nn

from leanspeech.runtime.streaming_gru import RuntimeFormatError, StreamingGRU, read_versioned_npz, write_versioned_npz
from leanspeech.runtime.weight_formats import QuantizedRows

ACTIVATIONS = ("tanh", "heaviside")


def conv_activation_name(module: nn.Module) -> str:
    if isinstance(module, nn.Tanh):
        return "tanh"
    if getattr(module, "binary_output", False):
        return "heaviside"
    raise TypeError(f"no streaming rule for the activation {type(module).__name__} after the VAD convolution")


class StreamingVADNetwork:
    def __init__(self, conv_weight: QuantizedRows, conv_bias: np.ndarray, kernel_size: int, activation: str,
                 gru: StreamingGRU, head_weight: QuantizedRows, head_bias: np.ndarray):
        """`conv_weight` (channels, bands · kernel_size) in (band, tap) order; `head_weight` (1, hidden)."""
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        channels, columns = conv_weight.stored.shape
        if columns % kernel_size or channels != gru.input_size or head_weight.stored.shape != (1, gru.hidden_size):
            raise ValueError(f"weights do not chain: conv {conv_weight.stored.shape} (kernel {kernel_size}), "
                             f"GRU {gru.input_size}→{gru.hidden_size}, head {head_weight.stored.shape}")
        self.conv_rows, self.head_rows = conv_weight, head_weight
        self.conv = conv_weight.dequantized()
        self.head = head_weight.dequantized()[0]
        self.conv_bias, self.head_bias = (np.ascontiguousarray(b, np.float32).reshape(-1) for b in (conv_bias, head_bias))
        self.kernel_size, self.bands, self.activation = kernel_size, columns // kernel_size, activation
        self.gru = gru
        self.reset()

    @property
    def lookahead(self) -> int:
        return self.kernel_size - 1

    @classmethod
    def from_model(cls, model: nn.Module, update_percent: float | None = None, backend: str | None = None,
                   weights: str = "fp32") -> StreamingVADNetwork:
        """From a trained CRNN VAD (conv → activation → GRU/DGRU → head); dynamic layers must be consolidated."""
        name = type(model).__name__
        conv, gru, head = (getattr(model, n, None) for n in ("conv", "gru", "head"))
        if type(conv) is not nn.Conv1d or not isinstance(gru, nn.GRU) or type(head) is not nn.Linear:
            raise TypeError(f"{name}: the streaming VAD runs crnn_vad hosts (plain Conv1d, GRU or D-GRU, Linear)")
        if conv.stride != (1,) or conv.dilation != (1,) or conv.groups != 1 or conv.padding != (0,):
            raise TypeError(f"{name}: the streaming VAD needs a plain convolution (stride, dilation, groups 1, no padding)")
        if gru.num_layers != 1 or not isinstance(model.output_activation, nn.Sigmoid):
            raise TypeError(f"{name}: the streaming VAD runs one GRU layer and a sigmoid output")
        activation = conv_activation_name(model.conv_activation)
        stream = StreamingGRU.from_torch(gru, update_percent, backend=backend, weights=weights)
        w = conv.weight.detach().cpu().numpy()  # (channels, bands, taps)
        bias = np.zeros(w.shape[0], np.float32) if conv.bias is None else conv.bias.detach().cpu().numpy()
        head_bias = np.zeros(1, np.float32) if head.bias is None else head.bias.detach().cpu().numpy()
        return cls(QuantizedRows.of(w.reshape(w.shape[0], -1), weights), bias, conv.kernel_size[0], activation,
                   stream, QuantizedRows.of(head.weight.detach().cpu().numpy(), weights), head_bias)

    def reset(self) -> None:
        self.gru.reset()
        self._window = np.zeros((self.bands, self.kernel_size), np.float32)  # the last K frames, oldest first
        self._seen = 0

    def push(self, frame: np.ndarray) -> float | None:
        """One feature frame (bands,) → the probability of the frame `lookahead` hops back (None until then)."""
        frame = np.asarray(frame, np.float32)
        if frame.shape != (self.bands,):
            raise ValueError(f"a feature frame must have shape ({self.bands},), got {frame.shape}")
        self._window[:, :-1] = self._window[:, 1:]
        self._window[:, -1] = frame
        self._seen += 1
        if self._seen < self.kernel_size:
            return None
        pre = self.conv @ self._window.reshape(-1) + self.conv_bias
        hidden = (pre > 0).astype(np.float32) if self.activation == "heaviside" else np.tanh(pre)
        logit = float(self.head @ self.gru.step(hidden) + self.head_bias[0])
        return float(1.0 / (1.0 + np.exp(-logit)))

    def flush(self) -> list[float]:
        """The probabilities still owed at the end of a stream (the last frame repeated as padding); then reset."""
        if self._seen == 0:
            return []
        last = self._window[:, -1].copy()
        # T frames padded with K − 1 copies of the last give T outputs, however short the stream was.
        out = [p for p in (self.push(last) for _ in range(self.lookahead)) if p is not None]
        self.reset()
        return out

    def run(self, features: np.ndarray) -> np.ndarray:
        """(bands, frames) log-mel → (frames,) speech probabilities, from a fresh state."""
        self.reset()
        out = [p for p in (self.push(frame) for frame in np.asarray(features, np.float32).T) if p is not None]
        return np.array(out + self.flush(), np.float32)

    def save(self, path: str | Path) -> Path:
        return write_versioned_npz(
            path, "streaming_vad",
            shape=np.array(json.dumps({"kernel_size": self.kernel_size, "activation": self.activation})),
            **self.conv_rows.arrays("conv"), conv_bias=self.conv_bias,
            **self.head_rows.arrays("head"), head_bias=self.head_bias,
            **self.gru.arrays("gru_"),
        )

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> StreamingVADNetwork:
        arrays = read_versioned_npz(path, "streaming_vad")
        try:
            gru = StreamingGRU.from_arrays(arrays, "gru_", backend, int(arrays["format_version"]))
            conv, head = (QuantizedRows.from_arrays(arrays, name) for name in ("conv", "head"))
            shape = json.loads(str(arrays["shape"]))
            return cls(conv, arrays["conv_bias"], shape["kernel_size"], shape["activation"], gru, head,
                       arrays["head_bias"])
        except KeyError as error:
            raise RuntimeFormatError(f"{path}: missing array {error}") from error
