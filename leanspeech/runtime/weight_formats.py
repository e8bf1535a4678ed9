"""Weight storage formats of the streaming runtime: "fp32", "fp16", "int8" with a per-row scale.

A batch-1 step reads every weight once, so it streams the whole model per frame: 4.9 MB for a 2 × 320
GRU in fp32, half of it in fp16, a quarter in int8. Rows are stored in the format, widened to fp32
inside the kernel, and dot products accumulate in fp32 before the row's scale is applied. int8 is
symmetric, round to nearest, scale = max|row| / 127 (error ≤ scale / 2 per weight); the float
formats have scale 1 (fp16 rounds each weight to 11 significant bits: relative error ≤ 2⁻¹¹).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STORAGE = {"fp32": np.float32, "fp16": np.float16, "int8": np.int8}
WEIGHT_FORMATS = tuple(STORAGE)
INT8_LEVELS = 127
# The GRU layers' inputs and states: fp32, or "int8" (quantized every step; with int8 weights only,
# see w8a8_kernel.py).
ACTIVATION_FORMATS = ("fp32", "int8")


def check_format(weights: str) -> str:
    if weights not in STORAGE:
        raise ValueError(f"unknown weight format {weights!r}; choose one of {', '.join(WEIGHT_FORMATS)}")
    return weights


def check_activations(activations: str, weights: str) -> str:
    if activations not in ACTIVATION_FORMATS:
        raise ValueError(f"unknown activation format {activations!r}; choose one of {', '.join(ACTIVATION_FORMATS)}")
    if activations == "int8" and weights != "int8":
        raise ValueError(f"8-bit activations need int8 weights, not {weights}")
    return activations


def format_of(stored: np.ndarray) -> str:
    for name, dtype in STORAGE.items():
        if stored.dtype == dtype:
            return name
    raise ValueError(f"no runtime weight format stores {stored.dtype}")


@dataclass
class QuantizedRows:
    """A (rows, columns) weight matrix in one storage format and its per-row fp32 scales."""

    stored: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, matrix: np.ndarray, weights: str) -> QuantizedRows:
        matrix = np.asarray(matrix, np.float32)
        if check_format(weights) != "int8":
            return cls(np.ascontiguousarray(matrix, STORAGE[weights]), np.ones(matrix.shape[0], np.float32))
        scales = np.abs(matrix).max(axis=1) / INT8_LEVELS
        scales[scales == 0] = 1.0  # an all-zero row stays zero
        stored = np.clip(np.rint(matrix / scales[:, None]), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
        return cls(stored, scales.astype(np.float32))

    @property
    def weights(self) -> str:
        return format_of(self.stored)

    def dequantized(self) -> np.ndarray:
        return self.stored.astype(np.float32) * self.scales[:, None]

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays a runtime file stores for this matrix, as `<name>_weight` and `<name>_scales`."""
        return {f"{name}_weight": self.stored, f"{name}_scales": self.scales}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], name: str) -> QuantizedRows:
        return cls(arrays[f"{name}_weight"], arrays[f"{name}_scales"])


def kernel_view(stored: np.ndarray) -> np.ndarray:
    """The array as the numba kernels read it: numba has no float16 type, so fp16 goes in as its uint16
    bit patterns (gru_kernel.widen converts them, one F16C instruction per 8 weights)."""
    return stored.view(np.uint16) if stored.dtype == np.float16 else stored
