"""StreamingGRU and StreamingEnhancer against the PyTorch layers over many frames, skipped rows,
the numpy fallback, and versioned save/load."""

import numpy as np
import pytest
import torch
from torch import nn

from leanspeech.models.enhance_gru import EnhanceGRU
from leanspeech.nn import DGRU
from leanspeech.runtime import RuntimeFormatError, StreamingEnhancer, StreamingGRU, available_backends
from leanspeech.runtime import gru_kernel


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize(("percent", "threshold"), [(100, None), (75, None), (50, None), (25, None), (100, 0.5)])
def test_streaming_gru_matches_dgru_from_random_states(backend, percent, threshold):
    torch.manual_seed(percent)
    dgru = DGRU(48, 64, num_layers=2, batch_first=True, update_percent=percent, threshold=threshold)
    runtime = StreamingGRU.from_torch(dgru, backend=backend)
    for _ in range(3):
        x, h0 = torch.randn(1, 150, 48), torch.randn(2, 1, 64)
        with torch.no_grad():
            expected, expected_h = dgru(x, h0)
        runtime.reset(h0[:, 0].numpy())
        got = runtime.run(x[0].numpy())
        np.testing.assert_allclose(got, expected[0].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(runtime.state, expected_h[:, 0].numpy(), atol=1e-4, rtol=0)
    if threshold is None:
        assert runtime.last_updated.tolist() == [64 * percent // 100] * 2


@pytest.mark.parametrize("backend", available_backends())
def test_unselected_rows_are_never_read(backend):
    torch.manual_seed(0)
    dgru = DGRU(8, 16, num_layers=1, update_percent=50)
    with torch.no_grad():  # neurons 0-7 get z_torch ≈ 1 (the paper's z ≈ 0): never among the top half
        dgru.bias_ih_l0[16:24] = 40.0
    x = torch.randn(60, 1, 8)
    with torch.no_grad():
        expected, _ = dgru(x)
    runtime = StreamingGRU.from_torch(dgru, backend=backend)
    for layer in runtime.layers:  # poison the r and n rows of those neurons: reading them would give NaN
        layer.wrn[:8] = np.nan
        layer.scales[:8, 2:] = layer.biases[:8, 1:] = np.nan
    got = runtime.run(x[:, 0].numpy())
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected[:, 0].numpy(), atol=1e-5)


def test_save_load_and_version_mismatch(tmp_path):
    torch.manual_seed(0)
    runtime = StreamingGRU.from_torch(DGRU(12, 20, num_layers=2, update_percent=50))
    path = runtime.save(tmp_path / "gru.npz")
    loaded = StreamingGRU.load(path)
    frames = np.random.default_rng(0).standard_normal((30, 12)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(frames), runtime.run(frames))
    assert loaded.update_percent == 50 and loaded.threshold is None

    arrays = dict(np.load(path))
    arrays["format_version"] = np.array(99)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(RuntimeFormatError, match=r"future\.npz: written by runtime format version 99"):
        StreamingGRU.load(tmp_path / "future.npz")
    with pytest.raises(RuntimeFormatError, match="not a streaming_enhancer file"):
        StreamingEnhancer.load(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(RuntimeFormatError, match=r"junk\.npz: not a readable runtime file"):
        StreamingGRU.load(tmp_path / "junk.npz")


def test_bidirectional_is_refused():
    with pytest.raises(ValueError, match="bidirectional"):
        StreamingGRU.from_torch(nn.GRU(4, 4, bidirectional=True))


def test_fallback_warns_once_when_numba_is_missing(monkeypatch):
    monkeypatch.setattr(gru_kernel, "numba", None)
    monkeypatch.setattr(gru_kernel, "_warned", False)
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        chosen = gru_kernel.kernels()
    assert chosen.backend == "numpy" and chosen.gru_stack is gru_kernel.gru_stack_numpy
    with pytest.raises(ValueError, match="'numba' is not available"):
        gru_kernel.kernels("numba")


@pytest.fixture(scope="module")
def host():
    torch.manual_seed(0)
    model = EnhanceGRU(rnn="dgru", rnn_options={"update_percent": 50}).eval()
    return model, model.example_wav(seconds=2.0)


def test_enhancer_spectrum_frames_match_the_model(host):
    model, wav = host
    spec = model.stft(wav)[0]
    with torch.no_grad():
        expected = (spec * model.mask(spec.abs()[None])[0]).numpy()
    enhancer = StreamingEnhancer.from_model(model)
    got = np.stack([enhancer.enhance_spectrum(frame) for frame in spec.numpy().T], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_enhancer_waveform_matches_offline_istft(host, tmp_path):
    model, wav = host
    enhancer = StreamingEnhancer.load(StreamingEnhancer.from_model(model).save(tmp_path / "host"))
    hop = 160
    samples = wav[0].numpy()
    got = np.concatenate([enhancer.enhance_hop(samples[i:i + hop]) for i in range(0, len(samples), hop)])
    # The frames the stream saw: frame k holds samples [(k-1)·hop, (k+1)·hop), zeros before the start.
    frames = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.zeros(hop), samples]), 320)[::hop]
    spec = torch.from_numpy(np.fft.rfft(frames * np.hanning(321)[:-1], axis=1).T[None]).to(torch.complex64)
    with torch.no_grad():
        enhanced = spec * model.mask(spec.abs())
    expected = torch.istft(enhanced, 320, hop, window=torch.hann_window(320), center=True)[0].numpy()
    # Stream output lags by n_fft − hop; compare away from the first and last frame.
    np.testing.assert_allclose(got[hop + hop: len(expected)], expected[hop: len(expected) - hop], atol=1e-4)


def test_enhancer_with_a_unit_mask_returns_the_input_one_hop_late(host):
    model, wav = host
    enhancer = StreamingEnhancer.from_model(model)
    enhancer.mask_fc.stored[:] = 0
    enhancer.mask_bias[:] = 40.0  # sigmoid(40) = 1 in float32
    samples = wav[0].numpy()
    got = np.concatenate([enhancer.enhance_hop(samples[i:i + 160]) for i in range(0, len(samples), 160)])
    np.testing.assert_allclose(got[160:], samples[:-160], atol=1e-5)
