"""The streaming runtime's 8-bit-activation mode (w8a8): the compiled integer dot products of every
instruction-set variant against numpy's exact integers, one step on the quantization grid against fp32
arithmetic, numba vs numpy over many frames, save/load, bad combinations, and the numba fallback
where the compiled kernel is missing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from leanspeech.nn import DGRU
from leanspeech.nn.dgru import selected_count
from leanspeech.runtime import StreamingEnhancer, StreamingGRU, available_backends, native
from leanspeech.runtime.gru_layout import unpack_gru_layer
from leanspeech.runtime.w8a8_kernel import ZERO_POINT, dot_rows_numpy, quantize_numpy

VARIANTS = ("avx512vnni", "avx2", "portable")


def test_the_native_kernel_is_built():
    """make setup installs a C compiler, so CI always tests the compiled path (users without one get the
    numba fallback, tested below)."""
    assert native.dot_rows is not None, native.unavailable_reason
    assert native.variant() in VARIANTS


@pytest.fixture
def restore_variant():
    chosen = native.variant()
    yield
    native.use_variant(chosen)


def dot_cases(rng):
    """Segments of every length class the variants treat apart (below, at and past one 16/64-byte
    chunk), row counts around the 4-row blocks, repeated and unordered rows, extreme values."""
    for n in (1, 15, 16, 17, 63, 64, 65, 130, 320, 641):
        for count in (0, 1, 3, 4, 5, 9, 40):
            stride = n + 7
            w = rng.integers(-127, 128, size=(50, stride), dtype=np.int8)
            q = rng.integers(0, 256, size=n, dtype=np.uint8)
            rows = rng.integers(0, 50, size=count).astype(np.int64)
            yield w, 3 if n < stride - 3 else 0, rows, q
    w = np.full((8, 640), -127, np.int8)
    yield w, 0, np.arange(8, dtype=np.int64), np.full(640, 255, np.uint8)  # the largest |sum|


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_native_variant_gives_the_exact_integers(variant, restore_variant):
    if not native.use_variant(variant):
        pytest.skip(f"this CPU or build has no {variant} variant")
    from leanspeech.runtime.w8a8_kernel import _dot_rows

    for w, column, rows, q in dot_cases(np.random.default_rng(0)):
        out = np.full(max(len(rows), 1), -1, np.int32)
        _dot_rows(w, column, rows, len(rows), q, out)
        expected = w[rows, column:column + len(q)].astype(np.int64) @ q.astype(np.int64)
        np.testing.assert_array_equal(out[:len(rows)], expected)


def test_numba_fallback_loops_and_numpy_give_the_exact_integers():
    from leanspeech.runtime.w8a8_kernel import _dot_rows_numba

    for w, column, rows, q in dot_cases(np.random.default_rng(1)):
        out, out_numpy = np.zeros((2, max(len(rows), 1)), np.int32)
        _dot_rows_numba(w, column, rows, len(rows), q, out)
        dot_rows_numpy(w, column, rows, len(rows), q, out_numpy)
        expected = w[rows, column:column + len(q)].astype(np.int64) @ q.astype(np.int64)
        np.testing.assert_array_equal(out[:len(rows)], expected)
        np.testing.assert_array_equal(out_numpy[:len(rows)], expected)


def test_quantization_is_symmetric_round_to_nearest():
    v = np.array([0.5, -1.0, 0.25, 0.0, 1.0 / 254], np.float32)
    q = np.zeros(5, np.uint8)
    scale = quantize_numpy(v, q)
    assert scale == np.float32(1.0) / np.float32(127)
    assert (q.astype(int) - ZERO_POINT).tolist() == [64, -127, 32, 0, 0]  # 63.5 and 0.5 round to even
    assert quantize_numpy(np.zeros(3, np.float32), q) == 1.0 and (q[:3] == ZERO_POINT).all()


def on_grid(rng, size, scale):
    """A vector that 8-bit quantization reproduces exactly: scale × integers, one of them ±127."""
    q = rng.integers(-127, 128, size=size)
    q[rng.integers(size)] = 127 * rng.choice([-1, 1])
    return (scale * q).astype(np.float32)


def reference_step(layer, x, h, percent):
    """One w8a8 step in float64 from the dequantized weights: the dense GRU update, applied to the
    `count` rows of lowest gate level ⌊256 z⌋ (ties by lowest index), the others kept."""
    w = unpack_gru_layer(layer)
    pre_i = w.w_ih.astype(np.float64) @ x + w.b_ih
    pre_h = w.w_hh.astype(np.float64) @ h + w.b_hh
    r_i, z_i, n_i = np.split(pre_i, 3)
    r_h, z_h, n_h = np.split(pre_h, 3)
    z, r = 1 / (1 + np.exp(-(z_i + z_h))), 1 / (1 + np.exp(-(r_i + r_h)))
    dense = (1 - z) * np.tanh(n_i + r * n_h) + z * h
    count = selected_count(percent, h.shape[0])
    rows = np.argsort(np.minimum(np.floor(256 * z), 255), kind="stable")[:count]
    out = h.astype(np.float64).copy()
    out[rows] = dense[rows]
    return out


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("percent", [100, 50, 25])
def test_one_step_on_the_quantization_grid_is_exact_arithmetic(backend, percent):
    """Where x and h are already on the 8-bit grid, quantizing them loses nothing: a w8a8 step must then
    equal float arithmetic with the dequantized int8 weights (up to fp32 rounding and the 4e-7 of the
    rational sigmoid/tanh), with top-A taken by gate level."""
    torch.manual_seed(percent)
    gru = DGRU(48, 64, num_layers=1, update_percent=percent)
    with torch.no_grad():
        gru.weight_hh_l0.mul_(4)  # trained-like magnitudes: saturating gates, not all near 0.5
    w8a8 = StreamingGRU.from_torch(gru, backend=backend, weights="int8", activations="int8")
    rng = np.random.default_rng(percent)
    for _ in range(50):
        x, h = on_grid(rng, 48, 0.02), on_grid(rng, 64, 1 / 127)
        w8a8.reset(h[None])
        np.testing.assert_allclose(w8a8.step(x), reference_step(w8a8.layers[0], x, h, percent), atol=1e-5, rtol=0)
        assert w8a8.last_updated.tolist() == [64 * percent // 100]


@pytest.mark.parametrize("percent", [100, 50])
def test_numba_and_numpy_agree_over_many_frames(percent):
    """Both quantize and sum the same integers; only float rounding of the scales differs, which can
    flip one activation's rounding now and then (a change of one step, 1/127 of the peak)."""
    if "numba" not in available_backends():
        pytest.skip("numba is not installed")
    torch.manual_seed(0)
    gru = DGRU(48, 64, num_layers=2, update_percent=percent)
    runs = [StreamingGRU.from_torch(gru, backend=b, weights="int8", activations="int8") for b in ("numba", "numpy")]
    frames = np.random.default_rng(0).standard_normal((150, 48)).astype(np.float32)
    a, b = (r.run(frames) for r in runs)
    assert np.abs(a - b).max() < 5e-3
    assert np.median(np.abs(a - b)) < 1e-6


def test_dense_w8a8_stays_near_pytorch():
    torch.manual_seed(2)
    gru = torch.nn.GRU(48, 64, num_layers=2)
    frames = torch.randn(200, 1, 48)
    with torch.no_grad():
        expected = gru(frames)[0][:, 0].numpy()
    got = StreamingGRU.from_torch(gru, weights="int8", activations="int8").run(frames[:, 0].numpy())
    error = np.abs(got - expected)
    assert error.max() < 0.03 and error.mean() < 3e-3, (error.max(), error.mean())  # measured 0.007, 0.0009


def test_layer_arrays_are_cache_line_aligned_and_hold_every_segment():
    torch.manual_seed(0)
    runtime = StreamingGRU.from_torch(torch.nn.GRU(48, 64, num_layers=2), weights="int8", activations="int8")
    for (weights, params, offsets), layer in zip(runtime.kernel_layers, runtime.layers):
        assert weights.ctypes.data % 64 == 0  # the kernel's 64-byte loads then never straddle two lines
        np.testing.assert_array_equal(weights, np.concatenate([layer.wz, layer.wrn], axis=1))
        np.testing.assert_array_equal(params, np.concatenate([layer.scales.T, layer.biases.T]))
        assert offsets.shape == (6, 64) and offsets.dtype == np.int32


def test_save_load_keeps_the_activation_format(tmp_path):
    torch.manual_seed(0)
    runtime = StreamingGRU.from_torch(DGRU(12, 20, num_layers=2, update_percent=50), weights="int8",
                                      activations="int8")
    loaded = StreamingGRU.load(runtime.save(tmp_path / "gru.npz"))
    assert loaded.activations == "int8" and loaded.weights == "int8"
    frames = np.random.default_rng(0).standard_normal((30, 12)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(frames), runtime.run(frames))


def test_8_bit_activations_need_int8_weights():
    gru = torch.nn.GRU(4, 4)
    with pytest.raises(ValueError, match="8-bit activations need int8 weights, not fp16"):
        StreamingGRU.from_torch(gru, weights="fp16", activations="int8")
    with pytest.raises(ValueError, match="unknown activation format 'int4'"):
        StreamingGRU.from_torch(gru, weights="int8", activations="int4")


def test_enhancer_runs_in_w8a8_and_reports_its_engine():
    from leanspeech.models.enhance_gru import EnhanceGRU

    torch.manual_seed(0)
    model = EnhanceGRU(hidden=32).eval()
    hops = model.example_wav(seconds=0.5)[0].numpy()[:7200].reshape(-1, 160)
    outputs = {}
    for activations in ("fp32", "int8"):
        enhancer = StreamingEnhancer.from_model(model, weights="int8", activations=activations)
        outputs[activations] = np.concatenate([enhancer.enhance_hop(h) for h in hops])
    assert "w8a8" in enhancer.gru.engine and "w8a8" not in StreamingGRU.from_torch(model.rnn).engine
    error = outputs["int8"] - outputs["fp32"]
    assert 10 * np.log10(np.sum(outputs["fp32"] ** 2) / np.sum(error**2)) > 30  # SNR to the float-activation run


FALLBACK_SCRIPT = """
import json, sys
sys.modules["leanspeech.runtime._int8_dot"] = None  # as if the build had no C compiler
import numpy as np, torch
from leanspeech.nn import DGRU
from leanspeech.nn.dgru import selected_count
from leanspeech.runtime import StreamingGRU, native
torch.manual_seed(0)
runtime = StreamingGRU.from_torch(DGRU(48, 64, num_layers=2, update_percent=50), weights="int8", activations="int8")
frames = np.random.default_rng(0).standard_normal((40, 48)).astype(np.float32)
print(json.dumps({"reason": native.unavailable_reason, "engine": runtime.engine,
                  "out": runtime.run(frames).tolist()}))
"""


def test_without_the_native_kernel_numba_does_the_same_arithmetic():
    if "numba" not in available_backends():
        pytest.skip("numba is not installed")
    done = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT], capture_output=True, text=True, check=True,
                          env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "not built" in report["reason"] and "numba loops" in report["engine"]
    torch.manual_seed(0)
    runtime = StreamingGRU.from_torch(DGRU(48, 64, num_layers=2, update_percent=50), weights="int8",
                                      activations="int8")
    frames = np.random.default_rng(0).standard_normal((40, 48)).astype(np.float32)
    np.testing.assert_allclose(np.array(report["out"], np.float32), runtime.run(frames), atol=1e-5, rtol=0)
