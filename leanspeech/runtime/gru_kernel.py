"""The streaming runtime's kernels at batch 1: a GRU / D-GRU stack step, a dense layer and one whole
enhancement-host frame, in numba, with a numpy fallback.

At batch 1 eager PyTorch spends more time dispatching ops than computing a 320-unit GRU step, so the
runtime runs these fused kernels: one call per frame for all layers. The D-GRU step computes the update
gate z for every row, selects the rows to update, then computes r, n and the new state for those rows
only: the unselected rows' weights are never read (rows in gru_layout.py's layout; weights in any
weight_formats.py format, widened to fp32 as they are read, fp32 accumulation). Without numba the
numpy fallback gives the same numbers through BLAS calls plus Python overhead (slower; it warns once).

Conventions (nn.GRU): h' = (1 − z)·n + z·h. The paper's update gate is 1 − z, so top-A selects the A
smallest z. `count` = A (count ≥ H means dense); `threshold` ≥ 0 selects instead where 1 − z >
threshold (Eq. 8); pass a negative threshold for top-A.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, NamedTuple

import numpy as np

from leanspeech.runtime.weight_formats import kernel_view

try:
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload
except ImportError:  # the package installs without a compiler toolchain; the fallback is pure numpy
    numba = None

ACTIVATIONS = {"none": 0, "relu": 1, "sigmoid": 2}
# Reassociation lets LLVM vectorise the dot products; inf/nan semantics are kept (sigmoid of ±large).
# numpy's error model: a float division by zero gives inf instead of raising, so the check that Python's
# semantics need is not compiled into loops, and loops with divisions vectorize.
JIT_OPTIONS = {"fastmath": {"reassoc", "contract", "nsz", "arcp"}, "error_model": "numpy"}


def sigmoid(v: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-v))


def activate(v: Any, activation: int) -> Any:
    if activation == 1:
        return np.maximum(v, 0.0)
    if activation == 2:
        return sigmoid(v)
    return v


# numpy fallback ---------------------------------------------------------------------------------------


def select_rows_numpy(z: np.ndarray, count: int, threshold: float) -> np.ndarray:
    if threshold >= 0:
        return np.flatnonzero(1.0 - z > threshold)
    if count < z.shape[0]:
        return np.sort(np.argpartition(z, count - 1)[:count])
    return np.arange(z.shape[0])


def gru_layer_numpy(x, h, wz, wrn, scales, biases, count, threshold) -> int:  # type: ignore[no-untyped-def]
    """Updates h in place; returns how many neurons were updated."""
    size, inputs = h.shape[0], x.shape[0]
    z = sigmoid(scales[:, 0] * (wz[:, :inputs] @ x) + scales[:, 1] * (wz[:, inputs:] @ h) + biases[:, 0])
    rows = select_rows_numpy(z, count, threshold)
    w, s, b = wrn[rows], scales[rows], biases[rows]
    hidden_n = s[:, 5] * (w[:, 2 * inputs + size:] @ h) + b[:, 3]
    r = sigmoid(s[:, 2] * (w[:, :inputs] @ x) + s[:, 3] * (w[:, inputs:inputs + size] @ h) + b[:, 1])
    n = np.tanh(s[:, 4] * (w[:, inputs + size:2 * inputs + size] @ x) + b[:, 2] + r * hidden_n)
    h[rows] = (1.0 - z[rows]) * n + z[rows] * h[rows]
    return int(rows.shape[0])


def gru_stack_numpy(x, state, layers, count, threshold, scratch, updated):  # type: ignore[no-untyped-def]
    """All layers of one frame: state (L, H) updated in place, updated[k] = neurons updated in layer k."""
    for k, (wz, wrn, scales, biases) in enumerate(layers):
        updated[k] = gru_layer_numpy(x, state[k], wz, wrn, scales, biases, count, threshold)
        x = state[k]


def dense_numpy(w, scales, b, x, out, activation):  # type: ignore[no-untyped-def]
    """out = act(scales · (w @ x) + b)."""
    out[:] = activate(scales * (w @ x) + b, activation)


def enhance_frame_numpy(spectrum, host, layers, state, count, threshold, scratch, updated, gru_stack):  # type: ignore[no-untyped-def]
    """One enhance_gru frame in place: spectrum *= sigmoid(FC(GRU(relu(FC(log1p|spectrum|))))), the GRU
    run by `gru_stack` (this backend's float or w8a8 stack)."""
    w_in, s_in, b_in, w_out, s_out, b_out, features, hidden, mask = host
    features[:] = np.log1p(np.abs(spectrum))
    dense_numpy(w_in, s_in, b_in, features, hidden, 1)
    gru_stack(hidden, state, layers, count, threshold, scratch, updated)
    dense_numpy(w_out, s_out, b_out, state[-1], mask, 2)
    spectrum *= mask


# numba ------------------------------------------------------------------------------------------------


def _dot(w, v):  # type: ignore[no-untyped-def]
    acc = np.float32(0.0)
    for k in range(v.shape[0]):
        acc += widen(w[k]) * v[k]
    return acc


def _dot2(w_a, w_b, v):  # type: ignore[no-untyped-def]
    """Two rows against one vector in one pass (v is loaded once)."""
    a = np.float32(0.0)
    b = np.float32(0.0)
    for k in range(v.shape[0]):
        a += widen(w_a[k]) * v[k]
        b += widen(w_b[k]) * v[k]
    return a, b


def _dot4(w, j, start, v):  # type: ignore[no-untyped-def]
    """Rows j..j+3 of w, from column `start`, against v in one pass (v is loaded once for four rows)."""
    end = start + v.shape[0]
    w_0, w_1, w_2, w_3 = w[j, start:end], w[j + 1, start:end], w[j + 2, start:end], w[j + 3, start:end]
    a = np.float32(0.0)
    b = np.float32(0.0)
    c = np.float32(0.0)
    d = np.float32(0.0)
    for k in range(v.shape[0]):
        a += widen(w_0[k]) * v[k]
        b += widen(w_1[k]) * v[k]
        c += widen(w_2[k]) * v[k]
        d += widen(w_3[k]) * v[k]
    return a, b, c, d


def _sigmoid32(v):  # type: ignore[no-untyped-def]
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))


def _tanh32(v):  # type: ignore[no-untyped-def]
    """tanh through one exp: libm's tanhf costs 3x an expf here; the absolute error stays ~1e-7."""
    return np.float32(2.0) / (np.float32(1.0) + np.exp(np.float32(-2.0) * v)) - np.float32(1.0)


def _kth_smallest(values, k, work):  # type: ignore[no-untyped-def]
    """The k-th smallest (0-based) of `values`: quickselect whose partition pass has no data-dependent
    branch (each value is written at both ends of `work[1]` and only its own end advances), so it
    costs a few passes over the values instead of the mispredictions of a sorting select."""
    m = values.shape[0]
    candidates, parted = work[0], work[1]
    candidates[:m] = values
    while True:
        a, b, c = candidates[0], candidates[m >> 1], candidates[m - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        low = 0
        high = 0
        for i in range(m):
            v = candidates[i]
            parted[low] = v
            parted[m - 1 - high] = v
            low += v < pivot
            high += v > pivot
        if k < low:
            candidates[:low] = parted[:low]
            m = low
        elif k < m - high:
            return pivot  # NaN pivots end here too: nothing compares below or above them
        else:
            k -= m - high
            candidates[:high] = parted[m - high:m]
            m = high


def _select_rows(z, count, threshold, rows, work):  # type: ignore[no-untyped-def]
    """The rows to update, ascending, in rows[:taken]; returns taken. Top-A ties at the A-th value go to
    the lowest indices."""
    size = z.shape[0]
    if threshold >= 0:
        return _rows_above_threshold(z, threshold, rows)
    if count >= size:
        return _every_row(rows, size)
    return _rows_up_to(z, _kth_smallest(z, count - 1, work), count, rows)


def _rows_above_threshold(z, threshold, rows):  # type: ignore[no-untyped-def]
    taken = 0
    for j in range(z.shape[0]):
        rows[taken] = j
        taken += np.float32(1.0) - z[j] > threshold
    return taken


def _every_row(rows, size):  # type: ignore[no-untyped-def]
    for j in range(size):
        rows[j] = j
    return size


def _rows_up_to(keys, kth, count, rows):  # type: ignore[no-untyped-def]
    """The `count` rows of smallest key, given the count-th smallest key `kth`: every row below it, then
    rows equal to it from the lowest index on. Branch-free, and the two running counts do not depend on
    each other (a chain through both cost twice the time)."""
    below = 0
    for j in range(keys.shape[0]):
        below += keys[j] < kth
    wanted, seen, taken = count - below, 0, 0
    for j in range(keys.shape[0]):
        tie = keys[j] == kth
        rows[taken] = j
        taken += (keys[j] < kth) | (tie & (seen < wanted))
        seen += tie
    return taken


def _gru_layer_loops(x, h, wz, wrn, scales, biases, count, threshold, xh, z, rows, work):  # type: ignore[no-untyped-def]
    size, inputs = h.shape[0], x.shape[0]
    xv = xh[:inputs]
    hv = xh[inputs:inputs + size]  # the old state: h is overwritten row by row below
    xv[:] = x
    hv[:] = h
    block = size - size % 4
    for j in range(0, block, 4):  # z pre-activations four rows at a time, then the sigmoids in one loop
        x_dots, h_dots = _dot4(wz, j, 0, xv), _dot4(wz, j, inputs, hv)
        for q in range(4):
            z[j + q] = scales[j + q, 0] * x_dots[q] + scales[j + q, 1] * h_dots[q] + biases[j + q, 0]
    for j in range(block, size):
        z[j] = scales[j, 0] * _dot(wz[j, :inputs], xv) + scales[j, 1] * _dot(wz[j, inputs:], hv) + biases[j, 0]
    for j in range(size):
        z[j] = _sigmoid32(z[j])
    taken = _select_rows(z, count, threshold, rows, work)
    for i in range(taken):
        j = rows[i]
        row = wrn[j]
        r_x, n_x = _dot2(row[:inputs], row[inputs + size:2 * inputs + size], xv)
        r_h, n_h = _dot2(row[inputs:inputs + size], row[2 * inputs + size:], hv)
        r = _sigmoid32(scales[j, 2] * r_x + scales[j, 3] * r_h + biases[j, 1])
        n = _tanh32(scales[j, 4] * n_x + biases[j, 2] + r * (scales[j, 5] * n_h + biases[j, 3]))
        h[j] = (np.float32(1.0) - z[j]) * n + z[j] * hv[j]
    return taken


def _gru_stack_loops(x, state, layers, count, threshold, scratch, updated):  # type: ignore[no-untyped-def]
    xh, z, rows, work = scratch
    for k in range(len(layers)):
        wz, wrn, scales, biases = layers[k]
        updated[k] = _gru_layer(x, state[k], wz, wrn, scales, biases, count, threshold, xh, z, rows, work)
        x = state[k]


def _dense_loops(w, scales, b, x, out, activation):  # type: ignore[no-untyped-def]
    for j in range(w.shape[0]):
        acc = scales[j] * _dot(w[j], x) + b[j]
        if activation == 1:
            acc = max(acc, np.float32(0.0))
        elif activation == 2:
            acc = _sigmoid32(acc)
        out[j] = acc


def _enhance_frame_loops(spectrum, host, layers, state, count, threshold, scratch, updated, gru_stack):  # type: ignore[no-untyped-def]
    w_in, s_in, b_in, w_out, s_out, b_out, features, hidden, mask = host
    for b in range(spectrum.shape[0]):
        features[b] = np.log1p(np.abs(spectrum[b]))
    _dense(w_in, s_in, b_in, features, hidden, 1)
    gru_stack(hidden, state, layers, count, threshold, scratch, updated)
    _dense(w_out, s_out, b_out, state[state.shape[0] - 1], mask, 2)
    for b in range(spectrum.shape[0]):
        spectrum[b] *= mask[b]


if numba is not None:

    def widen(value):  # type: ignore[no-untyped-def]
        """A stored weight as fp32 (numba only; see the overload)."""
        raise NotImplementedError("widen runs inside numba kernels")

    @intrinsic
    def _half_bits_to_float(typingctx, bits):  # type: ignore[no-untyped-def]
        if bits != types.uint16:
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

        return types.float32(types.uint16), codegen

    @intrinsic
    def bits_to_float32(typingctx, bits):  # type: ignore[no-untyped-def]
        """The float32 whose bit pattern is the int32 `bits` (numba only)."""
        if bits != types.int32:
            return None

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.bitcast(args[0], ir.FloatType())

        return types.float32(types.int32), codegen

    @overload(widen)
    def _widen(value):  # type: ignore[no-untyped-def]
        if value == types.uint16:  # fp16 bit patterns (weight_formats.kernel_view)
            return lambda value: _half_bits_to_float(value)
        return lambda value: np.float32(value)

    _jit = numba.njit(cache=True, **JIT_OPTIONS)
    _dot, _dot2, _dot4 = _jit(_dot), _jit(_dot2), _jit(_dot4)
    _sigmoid32, _tanh32 = _jit(_sigmoid32), _jit(_tanh32)
    _kth_smallest, _select_rows = _jit(_kth_smallest), _jit(_select_rows)
    _rows_above_threshold, _every_row, _rows_up_to = _jit(_rows_above_threshold), _jit(_every_row), _jit(_rows_up_to)
    _gru_layer = _jit(_gru_layer_loops)
    _gru_stack = _jit(_gru_stack_loops)
    _dense = _jit(_dense_loops)
    _enhance_frame = _jit(_enhance_frame_loops)


class Kernels(NamedTuple):
    backend: str
    gru_stack: Callable[..., None]
    dense: Callable[..., None]
    enhance_frame: Callable[..., None]
    view: Callable[[np.ndarray], np.ndarray]  # how a stored weight array is passed to the kernels


def available_backends() -> tuple[str, ...]:
    return ("numba", "numpy") if numba is not None else ("numpy",)


_warned = False


def kernels(backend: str | None = None) -> Kernels:
    """The kernels of `backend` ("numba", "numpy") or of the fastest available."""
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
        return Kernels(backend, _gru_stack, _dense, _enhance_frame, kernel_view)
    return Kernels(backend, gru_stack_numpy, dense_numpy, enhance_frame_numpy, widen_float16)


def widen_float16(stored: np.ndarray) -> np.ndarray:
    """The numpy fallback's view: fp16 widened once to an fp32 copy (numpy converts float16 in software,
    ~10x slower than the matmul itself); other formats as they are."""
    return stored.astype(np.float32) if stored.dtype == np.float16 else stored


def gru_scratch(input_size: int, hidden_size: int) -> tuple[np.ndarray, ...]:
    """Buffers a stack step reuses every frame: [x | h] of the widest layer, z, the selected rows, and
    the selection's two work rows."""
    return (np.zeros(max(input_size, hidden_size) + hidden_size, np.float32), np.zeros(hidden_size, np.float32),
            np.zeros(hidden_size, np.int64), np.zeros((2, hidden_size), np.float32))
