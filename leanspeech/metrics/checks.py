"""Input checks shared by the metrics, so bad input fails with a message that says what is wrong."""

from __future__ import annotations

import numpy as np

from leanspeech.errors import LeanspeechError


class MetricError(LeanspeechError, ValueError):
    """Input a metric cannot score: mismatched lengths, one class only, silence, too short."""


def as_vector(values: object, name: str) -> np.ndarray:
    """A finite 1-D float64 array, or MetricError naming `name`."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise MetricError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise MetricError(f"{name} is empty")
    if not np.isfinite(array).all():
        raise MetricError(f"{name} has {int((~np.isfinite(array)).sum())} NaN or Inf values")
    return array


def same_length(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape != b.shape:
        raise MetricError(f"{names} differ in length: {a.shape[0]} vs {b.shape[0]}")
