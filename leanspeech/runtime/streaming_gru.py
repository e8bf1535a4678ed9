"""StreamingGRU: a (D-)GRU stack run one frame at a time at batch 1, state kept between calls.

Built from a trained nn.GRU or DGRU (`from_torch`), it skips the r and n rows of unselected neurons
(see gru_kernel.py), so a D-GRU at P % costs about (1 + 2P/100)/3 of the dense step here — unlike the
batched PyTorch layer, which computes every row. `weights` picks the storage format ("fp32", the
default, which matches PyTorch within 1e-4; "fp16"; "int8" with per-row scales; weight_formats.py):
fewer bytes streamed per frame, fp32 arithmetic. `activations="int8"` (with int8 weights) quantizes
each layer's input and state every step too and runs integer dot products (w8a8_kernel.py): the fastest
mode where the native kernel is built, within about 1e-2 of PyTorch. Weights are saved to .npz with a
format version and loaded without pickle; a file of an unknown version is refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from leanspeech.errors import LeanspeechError
from leanspeech.nn.dgru import DGRU, selected_count
from leanspeech.runtime.gru_kernel import gru_scratch, kernels
from leanspeech.runtime.gru_layout import GRULayerWeights, PackedGRULayer, pack_gru_layer
from leanspeech.runtime.w8a8_kernel import w8a8_description, w8a8_kernels, w8a8_layer_arrays, w8a8_scratch
from leanspeech.runtime.weight_formats import check_activations, check_format

FORMAT_VERSION = 2  # 2: weights in the kernel layout and a storage format; 1: fp32 in nn.GRU layout
READABLE_VERSIONS = (1, 2)

__all__ = ["FORMAT_VERSION", "GRULayerWeights", "RuntimeFormatError", "StreamingGRU", "read_versioned_npz",
           "write_versioned_npz"]


class RuntimeFormatError(LeanspeechError, ValueError):
    """A runtime weight file that is not one, or was written by another runtime format version."""


def read_versioned_npz(path: str | Path, kind: str) -> dict[str, np.ndarray]:
    """Arrays of a runtime file, after checking that it is a `kind` file of a version this reads."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = dict(data)
    except (OSError, ValueError) as error:
        raise RuntimeFormatError(f"{path}: not a readable runtime file ({error})") from error
    if str(arrays.get("kind", "")) != kind:
        raise RuntimeFormatError(f"{path}: not a {kind} file (kind {str(arrays.get('kind', 'missing'))!r})")
    version = int(arrays.get("format_version", -1))
    if version not in READABLE_VERSIONS:
        raise RuntimeFormatError(
            f"{path}: written by runtime format version {version}, this leanspeech reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; export it again from the PyTorch model"
        )
    return arrays


def write_versioned_npz(path: str | Path, kind: str, **arrays: np.ndarray) -> Path:
    """Save `arrays` as a `kind` runtime file of this format version; returns the path written (.npz added)."""
    path = Path(path)
    np.savez(path, kind=np.array(kind), format_version=np.array(FORMAT_VERSION), **arrays)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


class StreamingGRU:
    def __init__(
        self,
        layers: list[GRULayerWeights] | list[PackedGRULayer],
        update_percent: float = 100.0,
        threshold: float | None = None,
        backend: str | None = None,
        weights: str = "fp32",
        activations: str = "fp32",
    ):
        """`layers` in nn.GRU layout (stored as `weights`) or already packed (kept as they are);
        `activations` "int8" needs int8 weights."""
        if not layers:
            raise ValueError("a StreamingGRU needs at least one layer")
        check_format(weights)
        self.layers = [l if isinstance(l, PackedGRULayer) else pack_gru_layer(l, weights) for l in layers]
        self.weights = self.layers[0].weights
        self.activations = check_activations(activations, self.weights)
        self.hidden_size = self.layers[0].hidden_size
        self.input_size = self.layers[0].input_size
        self.update_percent = float(update_percent)
        self.threshold = threshold
        self.count = selected_count(self.update_percent, self.hidden_size)
        self.last_updated = np.zeros(len(self.layers), np.int64)  # neurons updated per layer at the last step
        # The arrays as the kernels take them, built once: views of `layers`, so in-place edits show
        # (except fp16 under the numpy fallback, widened to a copy, and the w8a8 arrays: w8a8_layer_arrays).
        if self.activations == "int8":
            self.kernels = w8a8_kernels(backend)
            self.kernel_layers = tuple(w8a8_layer_arrays(layer) for layer in self.layers)
            self.scratch = w8a8_scratch(self.input_size, self.hidden_size)
        else:
            self.kernels = kernels(backend)
            self.kernel_layers = tuple(tuple(self.kernels.view(a) for a in layer.arrays()) for layer in self.layers)
            self.scratch = gru_scratch(self.input_size, self.hidden_size)
        self.backend = self.kernels.backend
        self.reset()

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def engine(self) -> str:
        """What runs the step, e.g. "numba" or "numba, w8a8 native avx512vnni"."""
        return self.backend if self.activations == "fp32" else f"{self.backend}, w8a8 {w8a8_description(self.backend)}"

    @classmethod
    def from_torch(
        cls, gru: nn.GRU, update_percent: float | None = None, threshold: float | None = None,
        backend: str | None = None, weights: str = "fp32", activations: str = "fp32",
    ) -> StreamingGRU:
        """From a trained nn.GRU or DGRU; a DGRU's own P and threshold are used unless given here."""
        if gru.bidirectional:
            raise ValueError("a bidirectional GRU cannot stream: it needs future frames")
        if isinstance(gru, DGRU):
            update_percent = gru.update_percent if update_percent is None else update_percent
            threshold = gru.threshold if threshold is None else threshold
        layers = []
        for k in range(gru.num_layers):
            w_ih, w_hh = (getattr(gru, f"weight_{n}_l{k}").detach().cpu().numpy() for n in ("ih", "hh"))
            zeros = np.zeros(w_ih.shape[0], dtype=w_ih.dtype)
            b_ih, b_hh = (getattr(gru, f"bias_{n}_l{k}").detach().cpu().numpy() if gru.bias else zeros
                          for n in ("ih", "hh"))
            layers.append(GRULayerWeights(w_ih, w_hh, b_ih, b_hh))
        return cls(layers, 100.0 if update_percent is None else update_percent, threshold, backend, weights,
                   activations)

    def reset(self, state: np.ndarray | None = None) -> None:
        """Zero state, or a given (num_layers, hidden_size) state (copied)."""
        shape = (self.num_layers, self.hidden_size)
        if state is not None and np.shape(state) != shape:
            raise ValueError(f"state must have shape {shape}, got {np.shape(state)}")
        self.state = np.zeros(shape, np.float32) if state is None else np.array(state, dtype=np.float32)

    @property
    def selection_threshold(self) -> float:
        """The kernels' threshold argument: negative = top-A."""
        return -1.0 if self.threshold is None else float(self.threshold)

    def step(self, x: np.ndarray) -> np.ndarray:
        """One frame (input_size,) → the top layer's new state (hidden_size,), a view valid until the next step."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape != (self.input_size,):
            raise ValueError(f"a frame must have shape ({self.input_size},), got {x.shape}")
        self.kernels.gru_stack(x, self.state, self.kernel_layers, self.count, self.selection_threshold,
                               self.scratch, self.last_updated)
        return self.state[-1]

    def run(self, frames: np.ndarray) -> np.ndarray:
        """(T, input_size) → (T, hidden_size), continuing from the current state."""
        return np.stack([self.step(frame).copy() for frame in frames])

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            f"{prefix}num_layers": np.array(self.num_layers),
            f"{prefix}update_percent": np.array(self.update_percent),
            f"{prefix}threshold": np.array(np.nan if self.threshold is None else self.threshold),
            f"{prefix}activations": np.array(self.activations),
        }
        for k, layer in enumerate(self.layers):
            for name, array in zip(("wz", "wrn", "scales", "biases"), layer.arrays()):
                out[f"{prefix}{name}_{k}"] = array
        return out

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str = "", backend: str | None = None, version: int = FORMAT_VERSION
    ) -> StreamingGRU:
        names, layer_type = (("wz", "wrn", "scales", "biases"), PackedGRULayer) if version >= 2 else \
            (("w_ih", "w_hh", "b_ih", "b_hh"), GRULayerWeights)
        layers = [layer_type(*(arrays[f"{prefix}{name}_{k}"] for name in names))
                  for k in range(int(arrays[f"{prefix}num_layers"]))]
        threshold = float(arrays[f"{prefix}threshold"])
        activations = str(arrays.get(f"{prefix}activations", "fp32"))  # files before w8a8 have none
        return cls(layers, float(arrays[f"{prefix}update_percent"]), None if np.isnan(threshold) else threshold,
                   backend, activations=activations)

    def save(self, path: str | Path) -> Path:
        return write_versioned_npz(path, "streaming_gru", **self.arrays())

    @classmethod
    def load(cls, path: str | Path, backend: str | None = None) -> StreamingGRU:
        arrays = read_versioned_npz(path, "streaming_gru")
        try:
            return cls.from_arrays(arrays, backend=backend, version=int(arrays["format_version"]))
        except KeyError as error:
            raise RuntimeFormatError(f"{path}: missing array {error}") from error
