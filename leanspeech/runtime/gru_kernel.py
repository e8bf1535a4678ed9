"""One GRU / D-GRU layer step and one dense layer at batch 1: numba kernels and a numpy fallback.

At batch 1 eager PyTorch spends more time dispatching ops than computing a 320-unit GRU step, so the
streaming runtime runs these fused kernels instead. The D-GRU kernel computes the update gate z for
every row, selects the rows to update, and then computes r, n and the new state for those rows only:
the unselected rows' dot products are never evaluated. Without numba the numpy fallback gives the
same numbers through BLAS calls plus Python overhead (slower; a warning says so once).

Conventions (nn.GRU): gate chunks (r, z, n) in the rows of w_ih (3H, I) and w_hh (3H, H);
h' = (1 − z)·n + z·h. The paper's update gate is 1 − z, so top-A selects the A smallest z.
`count` = A (count ≥ H means dense); `threshold` ≥ 0 selects instead where 1 − z > threshold (Eq. 8);
pass a negative threshold for top-A.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

try:
    import numba
except ImportError:  # the package installs without a compiler toolchain; the fallback is pure numpy
    numba = None

ACTIVATIONS = {"none": 0, "relu": 1, "sigmoid": 2}


def gru_step_numpy(
    x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
    count: int, threshold: float,
) -> int:
    """Updates h in place; returns how many neurons were updated."""
    size = h.shape[0]
    z = 1.0 / (1.0 + np.exp(-(w_ih[size:2 * size] @ x + b_ih[size:2 * size] + w_hh[size:2 * size] @ h
                             + b_hh[size:2 * size])))
    if threshold >= 0:
        rows = np.flatnonzero(1.0 - z > threshold)
    elif count < size:
        rows = np.argpartition(z, count - 1)[:count]
    else:
        rows = np.arange(size)
    r_rows, n_rows = rows, rows + 2 * size
    r = 1.0 / (1.0 + np.exp(-(w_ih[r_rows] @ x + b_ih[r_rows] + w_hh[r_rows] @ h + b_hh[r_rows])))
    n = np.tanh(w_ih[n_rows] @ x + b_ih[n_rows] + r * (w_hh[n_rows] @ h + b_hh[n_rows]))
    h[rows] = (1.0 - z[rows]) * n + z[rows] * h[rows]
    return int(rows.shape[0])


def dense_numpy(w: np.ndarray, b: np.ndarray, x: np.ndarray, out: np.ndarray, activation: int) -> None:
    """out = act(w @ x + b)."""
    np.dot(w, x, out=out)
    out += b
    if activation == 1:
        np.maximum(out, 0, out=out)
    elif activation == 2:
        out[:] = 1.0 / (1.0 + np.exp(-out))


def _gru_step_loops(x, h, w_ih, w_hh, b_ih, b_hh, count, threshold):  # type: ignore[no-untyped-def]
    size, inputs = h.shape[0], x.shape[0]
    z = np.empty_like(h)
    for j in range(size):
        acc = b_ih[size + j] + b_hh[size + j]
        for k in range(inputs):
            acc += w_ih[size + j, k] * x[k]
        for k in range(size):
            acc += w_hh[size + j, k] * h[k]
        z[j] = 1.0 / (1.0 + np.exp(-acc))
    selected = np.zeros(size, dtype=np.bool_)
    if threshold >= 0:
        for j in range(size):
            selected[j] = 1.0 - z[j] > threshold
    elif count < size:
        kth = np.partition(z, count - 1)[count - 1]
        taken = 0
        for j in range(size):  # values below the k-th first, then ties at it up to `count`
            if z[j] < kth:
                selected[j] = True
                taken += 1
        for j in range(size):
            if taken < count and z[j] == kth:
                selected[j] = True
                taken += 1
    else:
        selected[:] = True
    new = h.copy()
    updated = 0
    for j in range(size):
        if not selected[j]:
            continue
        updated += 1
        acc_r = b_ih[j] + b_hh[j]
        acc_n = b_ih[2 * size + j]
        for k in range(inputs):
            acc_r += w_ih[j, k] * x[k]
            acc_n += w_ih[2 * size + j, k] * x[k]
        hidden_n = b_hh[2 * size + j]
        for k in range(size):
            acc_r += w_hh[j, k] * h[k]
            hidden_n += w_hh[2 * size + j, k] * h[k]
        r = 1.0 / (1.0 + np.exp(-acc_r))
        n = np.tanh(acc_n + r * hidden_n)
        new[j] = (1.0 - z[j]) * n + z[j] * h[j]
    h[:] = new
    return updated


def _dense_loops(w, b, x, out, activation):  # type: ignore[no-untyped-def]
    for j in range(w.shape[0]):
        acc = b[j]
        for k in range(x.shape[0]):
            acc += w[j, k] * x[k]
        if activation == 1:
            acc = max(acc, 0.0)
        elif activation == 2:
            acc = 1.0 / (1.0 + np.exp(-acc))
        out[j] = acc


if numba is not None:
    # Reassociation lets LLVM vectorise the dot products; inf/nan semantics are kept (sigmoid of ±large).
    _FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
    gru_step_numba = numba.njit(cache=True, fastmath=_FASTMATH)(_gru_step_loops)
    dense_numba = numba.njit(cache=True, fastmath=_FASTMATH)(_dense_loops)


def available_backends() -> tuple[str, ...]:
    return ("numba", "numpy") if numba is not None else ("numpy",)


_warned = False


def kernels(backend: str | None = None) -> tuple[str, Callable[..., int], Callable[..., None]]:
    """(backend name, gru_step, dense) for `backend` ("numba", "numpy") or the fastest available."""
    global _warned
    if backend is None:
        backend = available_backends()[0]
        if backend == "numpy" and not _warned:
            warnings.warn("numba is not installed: the streaming runtime falls back to numpy, several times slower",
                          RuntimeWarning, stacklevel=3)
            _warned = True
    if backend not in available_backends():
        raise ValueError(f"runtime backend {backend!r} is not available here (have {available_backends()})")
    if backend == "numba":
        return backend, gru_step_numba, dense_numba
    return backend, gru_step_numpy, dense_numpy
