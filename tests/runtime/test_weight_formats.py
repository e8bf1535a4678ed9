"""Reduced-precision weights of the streaming runtime (fp16, int8 with per-row scales) against fp32:
the rounding bound per weight, the kernels reading exactly the stored weights, a one-step error within
the bound that the weight rounding implies, and save/load of every format."""

import numpy as np
import pytest
import torch

from leanspeech.nn import DGRU
from leanspeech.runtime import WEIGHT_FORMATS, StreamingEnhancer, StreamingGRU, available_backends
from leanspeech.runtime.gru_layout import pack_gru_layer, unpack_gru_layer
from leanspeech.runtime.weight_formats import QuantizedRows

FP32_SLACK = 1e-5  # fp32 rounding of dot products summed in another order (values of order 1)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


@pytest.mark.parametrize("weights", WEIGHT_FORMATS)
def test_rounding_stays_within_the_format_bound(weights):
    rows_of_many_magnitudes = np.random.default_rng(0).standard_normal((40, 30)) * np.logspace(-3, 1, 40)[:, None]
    matrix = rows_of_many_magnitudes.astype(np.float32)
    matrix[7] = 0.0
    rows = QuantizedRows.of(matrix, weights)
    error = np.abs(rows.dequantized() - matrix)
    bound = {"fp32": 0 * matrix,
             "fp16": np.abs(matrix) * 2.0**-11 + 2.0**-25,  # 11 significant bits; subnormals: half of 2⁻²⁴
             "int8": np.broadcast_to(rows.scales[:, None] / 2, matrix.shape)}[weights]  # half a step
    assert np.all(error <= bound * (1 + 1e-6))
    assert rows.stored.nbytes == matrix.nbytes * {"fp32": 4, "fp16": 2, "int8": 1}[weights] // 4
    assert np.all(rows.dequantized()[7] == 0)
    if weights == "int8":
        assert np.all(np.abs(rows.stored).max(axis=1)[np.arange(40) != 7] == 127)


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("weights", ["fp16", "int8"])
@pytest.mark.parametrize("percent", [100, 50, 25])
def test_kernels_compute_with_exactly_the_stored_weights(backend, weights, percent):
    """A reduced-precision runtime equals an fp32 runtime given its dequantized weights: only the
    summation order differs, so the 1e-4 tolerance of fp32 vs PyTorch applies over many frames."""
    torch.manual_seed(percent)
    dgru = DGRU(48, 64, num_layers=2, update_percent=percent)
    reduced = StreamingGRU.from_torch(dgru, backend=backend, weights=weights)
    assert reduced.weights == weights
    exact = StreamingGRU([unpack_gru_layer(layer) for layer in reduced.layers], percent, backend=backend)
    rng = np.random.default_rng(percent)
    for _ in range(3):
        state = rng.standard_normal((2, 64)).astype(np.float32)
        frames = rng.standard_normal((150, 48)).astype(np.float32)
        reduced.reset(state)
        exact.reset(state)
        np.testing.assert_allclose(reduced.run(frames), exact.run(frames), atol=1e-4, rtol=0)


def one_step_bound(exact, rounded, x, h):
    """Bound on |h'_rounded − h'_exact| for one dense GRU step from the weight rounding alone.
    E = |W − Ŵ|·|v| bounds each pre-activation's error; σ' ≤ 1/4, tanh' ≤ 1, r̂ ≤ 1 and |n̂| ≤ 1 give
    |Δz| ≤ (E_iz + E_hz)/4, |Δr| ≤ (E_ir + E_hr)/4, |Δn| ≤ E_in + |Δr|·|W_hn h + b_hn| + E_hn, and
    h' = (1 − z)·n + z·h gives |Δh'| ≤ |Δn| + |Δz|·(|h| + 1)."""
    size = h.shape[0]
    error_ih = np.abs(exact.w_ih - rounded.w_ih) @ np.abs(x)
    error_hh = np.abs(exact.w_hh - rounded.w_hh) @ np.abs(h)
    chunk = {gate: slice(k * size, (k + 1) * size) for k, gate in enumerate("rzn")}
    delta_z = (error_ih[chunk["z"]] + error_hh[chunk["z"]]) / 4
    delta_r = (error_ih[chunk["r"]] + error_hh[chunk["r"]]) / 4
    hidden_n = np.abs(exact.w_hh[chunk["n"]] @ h + exact.b_hh[chunk["n"]])
    delta_n = error_ih[chunk["n"]] + delta_r * hidden_n + error_hh[chunk["n"]]
    return delta_n + delta_z * (np.abs(h) + 1)


@pytest.mark.parametrize("weights", ["fp16", "int8"])
def test_one_dense_step_stays_within_the_rounding_bound(weights):
    torch.manual_seed(1)
    gru = torch.nn.GRU(48, 64)
    with torch.no_grad():
        gru.weight_hh_l0.mul_(4)  # trained-like magnitudes: saturating gates, not all near 0.5
    exact_runtime = StreamingGRU.from_torch(gru)
    reduced = StreamingGRU.from_torch(gru, weights=weights)
    exact = unpack_gru_layer(exact_runtime.layers[0])
    rounded = unpack_gru_layer(reduced.layers[0])
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        x = rng.standard_normal(48).astype(np.float32)
        h = np.tanh(2 * rng.standard_normal(64)).astype(np.float32)
        exact_runtime.reset(h[None])
        reduced.reset(h[None])
        difference = np.abs(reduced.step(x) - exact_runtime.step(x))
        bound = one_step_bound(exact, rounded, x, h) + FP32_SLACK
        assert np.all(difference <= bound), (difference - bound).max()
        worst = max(worst, float((difference / bound).max()))
    assert worst > 0.05  # not a vacuous bound: the errors reach 0.17 (int8) and 0.23 (fp16) of it here


def test_layout_round_trip_is_exact():
    torch.manual_seed(0)
    gru = torch.nn.GRU(12, 20)
    layer = StreamingGRU.from_torch(gru).layers[0]
    again = pack_gru_layer(unpack_gru_layer(layer), "fp32")
    for a, b in zip(layer.arrays(), again.arrays()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weights", WEIGHT_FORMATS)
def test_every_format_saves_and_loads_the_same_runtime(weights, tmp_path):
    torch.manual_seed(0)
    runtime = StreamingGRU.from_torch(DGRU(12, 20, num_layers=2, update_percent=50), weights=weights)
    loaded = StreamingGRU.load(runtime.save(tmp_path / "gru.npz"))
    assert loaded.weights == weights and loaded.layers[0].wz.dtype == runtime.layers[0].wz.dtype
    frames = np.random.default_rng(0).standard_normal((30, 12)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(frames), runtime.run(frames))


def test_enhancer_files_keep_the_format_and_are_smaller(tmp_path):
    from leanspeech.models.enhance_gru import EnhanceGRU

    torch.manual_seed(0)
    model = EnhanceGRU(hidden=64).eval()
    spectrum = model.stft(model.example_wav(seconds=0.5))[0].numpy().T
    sizes = {}
    for weights in WEIGHT_FORMATS:
        engine = StreamingEnhancer.from_model(model, weights=weights)
        path = engine.save(tmp_path / weights)
        loaded = StreamingEnhancer.load(path)
        assert loaded.weights == weights and loaded.mask_fc.stored.dtype == engine.mask_fc.stored.dtype
        got = [loaded.enhance_spectrum(frame) for frame in spectrum]
        engine.reset()
        np.testing.assert_array_equal(got, [engine.enhance_spectrum(frame) for frame in spectrum])
        sizes[weights] = path.stat().st_size
    assert sizes["int8"] < 0.4 * sizes["fp32"] and sizes["fp16"] < 0.6 * sizes["fp32"]


def test_v1_fp32_files_still_load(tmp_path):
    """Files written before the weight formats (format version 1: fp32 in nn.GRU layout)."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(12, 20, num_layers=2)
    arrays = {"kind": np.array("streaming_gru"), "format_version": np.array(1), "num_layers": np.array(2),
              "update_percent": np.array(100.0), "threshold": np.array(np.nan)}
    for k in range(2):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            short = name.replace("weight", "w").replace("bias", "b")
            arrays[f"{short}_{k}"] = getattr(gru, f"{name}_l{k}").detach().numpy()
    np.savez(tmp_path / "v1.npz", **arrays)
    frames = np.random.default_rng(0).standard_normal((30, 12)).astype(np.float32)
    np.testing.assert_array_equal(StreamingGRU.load(tmp_path / "v1.npz").run(frames),
                                  StreamingGRU.from_torch(gru).run(frames))


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown weight format 'int4'"):
        StreamingGRU.from_torch(torch.nn.GRU(4, 4), weights="int4")
