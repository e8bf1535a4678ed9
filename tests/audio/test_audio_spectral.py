import io
import warnings

import librosa
import numpy as np
import onnxruntime as ort
import pytest
import torch

from leanspeech.audio import (
    ISTFT,
    STFT,
    CompressedComplexSpectrogram,
    FilterBank,
    LogMel,
    PowerSpectrogram,
)


# The modules keep float32 windows, so even in float64 they agree with the reference to ~1e-7 relative.
def numpy_stft(x: np.ndarray, n_fft: int, hop: int, win: int, center: bool) -> np.ndarray:
    """Brute-force reference: reflect pad, frame, periodic Hann centred in n_fft, rfft."""
    if center:
        x = np.pad(x, n_fft // 2, mode="reflect")
    n = np.arange(win)
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset:offset + win] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)
    frames = [x[i:i + n_fft] * window for i in range(0, len(x) - n_fft + 1, hop)]
    return np.fft.rfft(np.array(frames), axis=1).T  # (F, frames)


def speechlike(batch: int = 2, seconds: float = 1.0, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    noise = torch.randn(batch, t.numel(), generator=torch.Generator().manual_seed(seed))
    return 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * noise


@pytest.mark.parametrize("n_fft,hop,win,center", [(512, 128, 512, True), (400, 160, 320, True), (320, 160, 320, False)])
def test_stft_matches_brute_force_dft(n_fft, hop, win, center):
    wav = speechlike().double()
    spec = STFT(n_fft, hop, win, center=center).double()(wav)
    for b in range(wav.shape[0]):
        ref = numpy_stft(wav[b].numpy(), n_fft, hop, win, center)
        np.testing.assert_allclose(spec[b].numpy(), ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("n_fft,hop,win", [(512, 128, 512), (512, 256, 400), (320, 160, 320)])
@pytest.mark.parametrize("length", [16000, 12345])
def test_istft_reconstructs_perfectly(n_fft, hop, win, length):
    wav = speechlike(batch=3)[:, :length]
    stft, istft = STFT(n_fft, hop, win), ISTFT(n_fft, hop, win)
    rebuilt = istft(stft(wav), length=length)
    assert rebuilt.shape == wav.shape
    torch.testing.assert_close(rebuilt, wav, atol=1e-5, rtol=0)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_power_spectrogram_is_abs_stft_to_the_power(power):
    wav = speechlike().double()
    spec = PowerSpectrogram(512, 128, power=power).double()(wav)
    ref = np.abs(numpy_stft(wav[0].numpy(), 512, 128, 512, True)) ** power
    np.testing.assert_allclose(spec[0].numpy(), ref, rtol=1e-5, atol=1e-6 * ref.max())


def test_log_mel_matches_librosa():
    wav = speechlike(batch=1)
    ours = LogMel(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=80)(wav)[0].numpy()
    mel = librosa.feature.melspectrogram(y=wav[0].numpy(), sr=16000, n_fft=1024, hop_length=256, n_mels=80,
                                         center=True, pad_mode="reflect", power=2.0)
    assert ours.shape == mel.shape == (80, 16000 // 256 + 1)
    np.testing.assert_allclose(ours, np.log(mel + 1e-6), atol=1e-3)


def test_log_mel_filterbank_is_swappable():
    logmel = LogMel(n_mels=40)
    wav = speechlike()
    power = logmel.spectrogram(wav)
    logmel.filterbank = FilterBank.bark(24, 1024, 16000)
    out = logmel(wav)
    assert out.shape == (2, 24, power.shape[-1])
    torch.testing.assert_close(out, torch.log(torch.einsum("bf,nft->nbt", logmel.filterbank.matrix, power) + 1e-6))


def test_compressed_complex_spectrogram_matches_distill_mos_definition():
    wav = speechlike(batch=2, seconds=122880 / 16000).double()
    feats = CompressedComplexSpectrogram().double()(wav)
    assert feats.shape == (2, 2, 161, 768)
    assert feats.is_contiguous(memory_format=torch.channels_last)  # what the students' convolutions take
    padded = np.pad(wav[1].numpy(), 80, mode="reflect")
    spec = numpy_stft(padded, 320, 160, 320, center=False)
    compressed = np.maximum(np.abs(spec), 1e-12) ** 0.3 * spec / np.maximum(np.abs(spec), 1e-12)
    np.testing.assert_allclose(feats[1, 0].numpy(), compressed.real, atol=1e-4)
    np.testing.assert_allclose(feats[1, 1].numpy(), compressed.imag, atol=1e-4)


@pytest.mark.parametrize("module", [CompressedComplexSpectrogram(), PowerSpectrogram(256, 64, power=1.0)])
def test_gradients_stay_finite_on_silence(module):
    wav = torch.zeros(1, 4000)
    wav[0, 2000:] = 0.1 * torch.randn(2000)
    wav.requires_grad_(True)
    module(wav).sum().backward()
    assert torch.isfinite(wav.grad).all()


def test_windows_stay_out_of_checkpoints_and_filter_banks_stay_in():
    assert list(LogMel().state_dict()) == ["filterbank.matrix"]
    assert list(STFT().state_dict()) == []
    assert list(CompressedComplexSpectrogram().state_dict()) == []


@pytest.mark.parametrize("make", [lambda: STFT(400, 160), lambda: PowerSpectrogram(400, 160),
                                  lambda: LogMel(n_mels=40), lambda: CompressedComplexSpectrogram(),
                                  lambda: FilterBank.erb(32, 1024, 16000)])
def test_torchscript_matches_eager(make):
    module = make()
    x = torch.rand(2, 513, 9) if isinstance(module, FilterBank) else speechlike()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module)
    torch.testing.assert_close(scripted(x), module(x), rtol=0, atol=0)


def test_istft_scripts():
    stft, istft = STFT(512, 128), ISTFT(512, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(istft)
    wav = speechlike()
    torch.testing.assert_close(scripted(stft(wav), 16000), wav, atol=1e-5, rtol=0)


def export_onnx(module: torch.nn.Module, example: torch.Tensor) -> ort.InferenceSession:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=17, input_names=["wav"],
                          output_names=["features"], dynamic_axes={"wav": {0: "batch", 1: "samples"}})
    return ort.InferenceSession(buffer.getvalue())


@pytest.mark.parametrize("make,atol", [
    (lambda: LogMel(), 1e-4),
    (lambda: PowerSpectrogram(512, 128, power=1.0), 1e-3),
    # |X| ** -0.7 magnifies float32 FFT round-off at near-zero bins; values are O(1).
    (lambda: CompressedComplexSpectrogram(), 1e-2),
])
def test_onnx_export_runs_in_onnxruntime_with_other_shapes(make, atol):
    module = make()
    session = export_onnx(module, speechlike(batch=1, seconds=1.0))
    wav = speechlike(batch=3, seconds=0.77, seed=1)
    out = session.run(None, {"wav": wav.numpy()})[0]
    ref = module(wav).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=atol, rtol=1e-4)
