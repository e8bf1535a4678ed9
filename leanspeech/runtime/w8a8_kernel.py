"""The GRU / D-GRU stack step with 8-bit activations ("w8a8"): int8 weights times int8 activations,
exact integer dot products, for StreamingGRU(..., weights="int8", activations="int8").

With float activations an int8 weight must be widened to fp32 before its multiply, which caps a dot
product near 25-30 G MAC/s on one x86 core whatever the weight format (weight_formats.py). Quantizing
the activations too lets the CPU's 8-bit dot-product instructions do the work: int8_dot.c (AVX-512 VNNI
64 products per instruction, AVX2 16), the scheme of production 8-bit RNN inference (e.g. Opus/LPCNet's
quantized GRUs). Each step quantizes the layer input x and the state h with one scale per vector,
scale = max|v| / 127, q = round(v / scale); a dot is then w_scale · v_scale · Σ q_w q_v, in int32, exact.
The x86 instruction multiplies unsigned by signed bytes, so q_v is stored + 128 (uint8) and 128 × the
row's weight sum, precomputed per segment (`w8a8_layer_arrays`), is subtracted.

Gates and state update are those of gru_kernel.py (same gate convention, same threshold rule). Three
things change besides the dot products, because with integer dots the rest of the step would cost as
much as the dots: sigmoid and tanh are a rational approximation (|error| ≤ 4e-7) that vectorizes; and
top-A ranks the update gate at 8-bit resolution too, level = ⌊256·z⌋, so a 256-bucket histogram finds
the A-th level in one pass instead of a selection over floats (rows within 1/256 of the A-th gate value
are taken by lowest index, the documented tie rule; int8 noise in z is larger than that step).

Backends: the native kernel called from numba; numba's own integer loops where the native kernel is
not built (same integers, slower); numpy without numba (same integers, exact sigmoid and tanh).
"""

from __future__ import annotations

import numpy as np

from leanspeech.runtime import native
from leanspeech.runtime.gru_kernel import (JIT_OPTIONS, Kernels, _enhance_frame_loops, enhance_frame_numpy, kernels,
                                           numba, select_rows_numpy, sigmoid)
from leanspeech.runtime.gru_layout import PackedGRULayer

LEVELS = 127
ZERO_POINT = 128
GATE_LEVELS = 256


def w8a8_layer_arrays(layer: PackedGRULayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a w8a8 step reads of one int8 layer, built once (copies, unlike the float modes' views):
    int8 rows [wz | wrn] (H, 3(I + H)), whose six segments follow SEGMENT_SCALES; float32 (10, H), the
    six segment scales then the four biases, one row each, so that the per-neuron loops run along
    contiguous rows; int32 (6, H), −ZERO_POINT × each segment's weight sum. Fewer, larger arrays also
    cost less to pass: numba unboxes every array at every call (≈ 75 ns each). The layer's weights are int8
    (StreamingGRU checks it: weight_formats.check_activations)."""
    weights = cache_line_aligned(np.concatenate([layer.wz, layer.wrn], axis=1))
    starts = segment_starts(layer.input_size, layer.hidden_size) + (weights.shape[1],)
    sums = np.stack([weights[:, a:b].astype(np.int64).sum(axis=1) for a, b in zip(starts[:-1], starts[1:])])
    params = np.ascontiguousarray(np.concatenate([layer.scales.T, layer.biases.T]), dtype=np.float32)
    return weights, params, np.ascontiguousarray(-ZERO_POINT * sums, dtype=np.int32)


def cache_line_aligned(array: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A C-contiguous copy whose data starts on a 64-byte boundary (numpy guarantees 16): the kernel reads
    rows in 64-byte loads, and a load that straddles two cache lines costs two."""
    buffer = np.empty(array.nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    aligned = buffer[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    aligned[...] = array
    return aligned


def segment_starts(inputs: int, size: int) -> tuple[int, int, int, int, int, int]:
    """Where the iz, hz, ir, hr, in, hn segments (SEGMENT_SCALES order) start in a row of [wz | wrn]."""
    return 0, inputs, inputs + size, 2 * inputs + size, 2 * (inputs + size), 3 * inputs + 2 * size


def w8a8_scratch(input_size: int, hidden_size: int) -> tuple[np.ndarray, ...]:
    """Buffers a w8a8 step reuses, four arrays: uint8 (2, ·) quantized x and h; int32 (6, ·) four rows of
    dot products, the gate levels and their histogram; float32 (5, H) three rows of pre-activations, the
    old state and z; int64 (2, H) the selected rows and 0..H−1 (the z pass reads every row)."""
    size = hidden_size
    return (np.zeros((2, max(input_size, size)), np.uint8), np.zeros((6, max(size, GATE_LEVELS)), np.int32),
            np.zeros((5, size), np.float32), np.stack([np.zeros(size, np.int64), np.arange(size, dtype=np.int64)]))


# numpy ------------------------------------------------------------------------------------------------


def quantize_numpy(v: np.ndarray, q: np.ndarray) -> np.float32:
    """q[:n] = round(v / scale) + ZERO_POINT as uint8; returns scale = max|v| / LEVELS (1 for a zero vector)."""
    peak = np.float32(np.abs(v).max())
    scale = peak / np.float32(LEVELS) if peak > 0 else np.float32(1.0)
    q[:v.shape[0]] = (np.rint(v * (np.float32(1.0) / scale)) + ZERO_POINT).astype(np.uint8)
    return scale


def select_rows_by_level_numpy(z: np.ndarray, count: int, threshold: float) -> np.ndarray:
    if threshold >= 0 or count >= z.shape[0]:
        return select_rows_numpy(z, count, threshold)
    levels = np.minimum((z * np.float32(GATE_LEVELS)).astype(np.int32), GATE_LEVELS - 1)
    return np.sort(np.argsort(levels, kind="stable")[:count])  # stable: ties by lowest index


def dot_rows_numpy(w: np.ndarray, column: int, rows: np.ndarray, count: int, q: np.ndarray, out: np.ndarray) -> None:
    """out[i] = Σ_k w[rows[i], column + k] · q[k] in int32 (what int8_dot.c computes)."""
    n = q.shape[0]
    out[:count] = w[rows[:count], column:column + n].astype(np.int32) @ q.astype(np.int32)


def gru_layer_w8a8_numpy(x, h, weights, params, offsets, count, threshold, scratch) -> int:  # type: ignore[no-untyped-def]
    size, inputs = h.shape[0], x.shape[0]
    quantized, ints, floats, indices = scratch
    x_q, h_q, acc, old, every_row = quantized[0, :inputs], quantized[1, :size], ints[:4], floats[3], indices[1]
    old[:] = h
    s_x, s_h = quantize_numpy(x, x_q), quantize_numpy(h, h_q)
    s = np.array([s_x, s_h] * 3, np.float32)[:, None] * params[:6]  # scale of each segment's integer dot
    columns = segment_starts(inputs, size)
    dot_rows_numpy(weights, columns[0], every_row, size, x_q, acc[0])
    dot_rows_numpy(weights, columns[1], every_row, size, h_q, acc[1])
    dots = (acc[:2, :size] + offsets[:2]).astype(np.float32)  # exact up to 1,040 columns: 127² · n < 2²⁴
    z = sigmoid(s[0] * dots[0] + s[1] * dots[1] + params[6])
    rows = select_rows_by_level_numpy(z, count, threshold)
    taken = rows.shape[0]
    for k, q in zip(range(2, 6), (x_q, h_q, x_q, h_q)):
        dot_rows_numpy(weights, columns[k], rows, taken, q, acc[k - 2])
    dots = (acc[:, :taken] + offsets[2:, rows]).astype(np.float32)
    s, b = s[:, rows], params[6:, rows]
    r = sigmoid(s[2] * dots[0] + s[3] * dots[1] + b[1])
    n = np.tanh(s[4] * dots[2] + b[2] + r * (s[5] * dots[3] + b[3]))
    h[rows] = (1.0 - z[rows]) * n + z[rows] * old[rows]
    return taken


def gru_stack_w8a8_numpy(x, state, layers, count, threshold, scratch, updated):  # type: ignore[no-untyped-def]
    for k, arrays in enumerate(layers):
        updated[k] = gru_layer_w8a8_numpy(x, state[k], *arrays, count, threshold, scratch)
        x = state[k]


# numba ------------------------------------------------------------------------------------------------

# tanh(x) ≈ x·P(x²)/Q(x²) on |x| ≤ 7.905 (where float32 tanh reaches ±1), the minimax rational function
# Eigen uses for float tanh (generic_fast_tanh_float); measured |error| ≤ 3.6e-7 against float64 tanh.
_CLAMP = np.float32(7.90531110763549805)
_P1, _P3, _P5, _P7 = (np.float32(c) for c in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                              5.12229709037114e-08))
_P9, _P11, _P13 = (np.float32(c) for c in (-8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_Q0, _Q2, _Q4, _Q6 = (np.float32(c) for c in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                              1.19825839466702e-06))


def _rational_tanh(v):  # type: ignore[no-untyped-def]
    x = min(max(v, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x * (((((((_P13 * x2 + _P11) * x2 + _P9) * x2 + _P7) * x2 + _P5) * x2 + _P3) * x2) + _P1)
    return p / (((_Q6 * x2 + _Q4) * x2 + _Q2) * x2 + _Q0)


def _rational_sigmoid(v):  # type: ignore[no-untyped-def]
    return np.float32(0.5) + np.float32(0.5) * _rational_tanh(np.float32(0.5) * v)


def _quantize(v, q):  # type: ignore[no-untyped-def]
    # max|v| as an integer max over the bit patterns with the sign bit cleared: that vectorizes, a float
    # max with Python's NaN rules is a serial chain (0.8 µs for 640 values).
    bits = v.view(np.int32)
    peak_bits = np.int32(0)
    for k in range(bits.shape[0]):
        peak_bits = max(peak_bits, bits[k] & np.int32(0x7FFFFFFF))
    peak = bits_to_float32(np.int32(peak_bits))
    scale = peak / np.float32(LEVELS) if peak > 0 else np.float32(1.0)
    inverse = np.float32(1.0) / scale
    for k in range(v.shape[0]):
        q[k] = np.uint8(np.int32(np.rint(v[k] * inverse)) + ZERO_POINT)
    return scale


def _select_rows_by_level(z, count, threshold, rows, levels, histogram):  # type: ignore[no-untyped-def]
    size = z.shape[0]
    if threshold >= 0:
        return _rows_above_threshold(z, threshold, rows)
    if count >= size:
        return _every_row(rows, size)
    for j in range(size):
        levels[j] = min(np.int32(z[j] * np.float32(GATE_LEVELS)), GATE_LEVELS - 1)
    histogram[:] = 0
    for j in range(size):
        histogram[levels[j]] += 1
    below = 0
    kth = 0
    while below + histogram[kth] < count:
        below += histogram[kth]
        kth += 1
    return _rows_up_to(levels, kth, count, rows)


def _dot_rows_loops(w, column, rows, count, q, out):  # type: ignore[no-untyped-def]
    n = q.shape[0]
    for i in range(count):
        row = w[rows[i], column:column + n]
        acc = np.int32(0)
        for k in range(n):
            acc += np.int32(row[k]) * np.int32(q[k])
        out[i] = acc


def _dot_rows_native(w, column, rows, count, q, out):  # type: ignore[no-untyped-def]
    segment = w[:, column:]
    _native_dot_rows(segment.ctypes, w.shape[1], rows.ctypes, count, q.ctypes, q.shape[0], out.ctypes)


def _gru_layer_w8a8_loops(x, h, weights, params, offsets, count, threshold, scratch):  # type: ignore[no-untyped-def]
    size, inputs = h.shape[0], x.shape[0]
    quantized, ints, floats, indices = scratch
    x_q, h_q, levels, histogram = quantized[0, :inputs], quantized[1, :size], ints[4, :size], ints[5, :GATE_LEVELS]
    pre, old, z, rows, every_row = floats[:3], floats[3], floats[4], indices[0], indices[1]
    old[:] = h
    s_x, s_h = _quantize(x, x_q), _quantize(h, h_q)
    _, c_hz, c_ir, c_hr, c_in, c_hn = _segment_starts(inputs, size)
    _dot_rows(weights, 0, every_row, size, x_q, ints[0])
    _dot_rows(weights, c_hz, every_row, size, h_q, ints[1])
    for j in range(size):
        z[j] = (params[0, j] * s_x * np.float32(ints[0, j] + offsets[0, j])
                + params[1, j] * s_h * np.float32(ints[1, j] + offsets[1, j]) + params[6, j])
    for j in range(size):  # the nonlinearities in loops of their own, so that they vectorize
        z[j] = _rational_sigmoid(z[j])
    taken = _select_rows_by_level(z, count, threshold, rows, levels, histogram)
    _dot_rows(weights, c_ir, rows, taken, x_q, ints[0])
    _dot_rows(weights, c_hr, rows, taken, h_q, ints[1])
    _dot_rows(weights, c_in, rows, taken, x_q, ints[2])
    _dot_rows(weights, c_hn, rows, taken, h_q, ints[3])
    for i in range(taken):
        j = rows[i]
        pre[0, i] = (params[2, j] * s_x * np.float32(ints[0, i] + offsets[2, j])
                     + params[3, j] * s_h * np.float32(ints[1, i] + offsets[3, j]) + params[7, j])
        pre[1, i] = params[4, j] * s_x * np.float32(ints[2, i] + offsets[4, j]) + params[8, j]
        pre[2, i] = params[5, j] * s_h * np.float32(ints[3, i] + offsets[5, j]) + params[9, j]
    for i in range(taken):
        pre[1, i] = _rational_tanh(pre[1, i] + _rational_sigmoid(pre[0, i]) * pre[2, i])
    for i in range(taken):
        j = rows[i]
        h[j] = (np.float32(1.0) - z[j]) * pre[1, i] + z[j] * old[j]
    return taken


def _gru_stack_w8a8_loops(x, state, layers, count, threshold, scratch, updated):  # type: ignore[no-untyped-def]
    for k in range(len(layers)):
        weights, params, offsets = layers[k]
        updated[k] = _gru_layer_w8a8(x, state[k], weights, params, offsets, count, threshold, scratch)
        x = state[k]


if numba is not None:
    from leanspeech.runtime.gru_kernel import _every_row, _jit, _rows_above_threshold, _rows_up_to, bits_to_float32

    _native_dot_rows = native.dot_rows
    _dot_rows_numba, _select_rows_by_level = _jit(_dot_rows_loops), _jit(_select_rows_by_level)
    _quantize, _rational_tanh, _rational_sigmoid = _jit(_quantize), _jit(_rational_tanh), _jit(_rational_sigmoid)
    _segment_starts = _jit(segment_starts)
    # A function that calls a ctypes pointer cannot be cached on disk: the native path compiles once
    # per process (about 3 s).
    _jit_layer = numba.njit(cache=native.dot_rows is None, **JIT_OPTIONS)
    _dot_rows = _dot_rows_numba if native.dot_rows is None else _jit_layer(_dot_rows_native)
    _gru_layer_w8a8 = _jit_layer(_gru_layer_w8a8_loops)
    _gru_stack_w8a8 = _jit_layer(_gru_stack_w8a8_loops)
    _enhance_frame_w8a8 = _jit_layer(_enhance_frame_loops)  # its own copy: the float one is cached on disk


def w8a8_kernels(backend: str | None = None) -> Kernels:
    """The kernels of `backend` with the w8a8 stack step ("numba": the native kernel where built, else
    numba's loops; "numpy"); the dense layers keep float activations."""
    base = kernels(backend)
    if base.backend == "numba":
        return base._replace(gru_stack=_gru_stack_w8a8, enhance_frame=_enhance_frame_w8a8)
    return base._replace(gru_stack=gru_stack_w8a8_numpy, enhance_frame=enhance_frame_numpy)


def w8a8_description(backend: str) -> str:
    if backend != "numba":
        return "numpy"
    return f"native {native.variant()}" if native.dot_rows is not None else f"numba loops ({native.unavailable_reason})"
