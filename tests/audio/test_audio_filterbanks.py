import warnings

import librosa
import numpy as np
import pytest

from leanspeech.audio.filterbanks import (
    band_points,
    bark_filterbank,
    bark_to_hz,
    erb_filterbank,
    erb_to_hz,
    filterbank_matrix,
    hz_to_bark,
    hz_to_erb,
    mel_filterbank,
)

# Zwicker & Terhardt (1980): upper edges of critical bands 1..24, the table Traunmüller's formula fits.
ZWICKER_BAND_EDGES_HZ = [100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720,
                         2000, 2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500]


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(16000, 512, 40, 0.0, None), (16000, 1024, 80, 0.0, None),
                                                       (22050, 2048, 128, 50.0, 8000.0), (8000, 321, 24, 100.0, 3800.0)])
@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None])
def test_mel_matches_librosa(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    ours = mel_filterbank(n_mels, n_fft, sr, fmin, fmax, norm=norm, mel_scale="htk" if htk else "slaney").numpy()
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    assert ours.shape == ref.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7 * ref.max())


def test_bark_matches_zwicker_table_and_hand_values():
    np.testing.assert_allclose(hz_to_bark(ZWICKER_BAND_EDGES_HZ), np.arange(1, 25), atol=0.06)
    # 26.81 * 1000 / 2960 - 0.53, no correction needed between 2 and 20.1 Bark
    assert hz_to_bark(1000.0) == pytest.approx(8.527432, abs=1e-6)
    # below 2 Bark: z = 26.81 * 100 / 2060 - 0.53 = 0.771456, then z + 0.15 * (2 - z)
    assert hz_to_bark(100.0) == pytest.approx(0.771456 + 0.15 * (2 - 0.771456), abs=1e-6)


def test_erb_rate_matches_glasberg_moore():
    assert hz_to_erb(1000.0) == pytest.approx(15.62, abs=0.01)  # "about 15.6 ERBs below 1 kHz"
    # The ERB-rate is the integral of 1 / ERB(f), with ERB(f) = 24.7 (4.37 f / 1000 + 1) Hz.
    f = np.array([100.0, 500.0, 1000.0, 4000.0, 7000.0])
    slope = (hz_to_erb(f + 0.5) - hz_to_erb(f - 0.5)) / 1.0
    np.testing.assert_allclose(slope, 1.0 / (24.7 * (4.37 * f / 1000 + 1)), rtol=5e-3)


@pytest.mark.parametrize("to_scale,to_hz", [(hz_to_bark, bark_to_hz), (hz_to_erb, erb_to_hz)])
def test_scale_round_trip(to_scale, to_hz):
    f = np.linspace(0.0, 24000.0, 1001)
    np.testing.assert_allclose(to_hz(to_scale(f)), f, atol=1e-6)
    assert np.all(np.diff(to_scale(f)) > 0)


@pytest.mark.parametrize("scale,to_scale", [("bark", hz_to_bark), ("erb", hz_to_erb),
                                            ("mel", lambda f: librosa.hz_to_mel(f, htk=False))])
def test_centres_equally_spaced_on_scale_and_at_the_peaks(scale, to_scale):
    n_bands, n_fft, sr = 32, 4096, 16000
    points = band_points(scale, n_bands, 0.0, sr / 2)
    spacing = np.diff(to_scale(points))
    np.testing.assert_allclose(spacing, spacing[0], rtol=1e-9)
    matrix = filterbank_matrix(scale, n_bands, n_fft, sr, norm=None).numpy()
    peaks = np.fft.rfftfreq(n_fft, 1 / sr)[matrix.argmax(axis=1)]
    assert np.all(np.diff(peaks) > 0)
    assert np.all(np.abs(peaks - points[1:-1]) <= sr / n_fft)


@pytest.mark.parametrize("scale", ["mel", "bark", "erb"])
@pytest.mark.parametrize("n_bands,n_fft", [(16, 512), (32, 1023), (64, 2048)])
def test_unnormalised_bands_partition_unity_between_first_and_last_centre(scale, n_bands, n_fft):
    sr = 16000
    matrix = filterbank_matrix(scale, n_bands, n_fft, sr, norm=None).numpy()
    assert matrix.shape == (n_bands, n_fft // 2 + 1)
    assert matrix.min() >= 0 and matrix.max() <= 1
    points = band_points(scale, n_bands, 0.0, sr / 2)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    inside = (freqs >= points[1]) & (freqs <= points[-2])
    np.testing.assert_allclose(matrix[:, inside].sum(axis=0), 1.0, atol=1e-5)
    covered = (freqs > points[0]) & (freqs < points[-1])
    assert np.all(matrix[:, covered].sum(axis=0) > 0)


@pytest.mark.parametrize("builder", [bark_filterbank, erb_filterbank])
def test_slaney_norm_gives_unit_area(builder):
    n_fft, sr = 16384, 16000
    matrix = builder(16, n_fft, sr, f_min=50.0, norm="slaney").numpy()
    areas = matrix.sum(axis=1) * sr / n_fft
    np.testing.assert_allclose(areas, 1.0, rtol=0.02)


def test_too_many_bands_for_the_fft_warns_with_count():
    with pytest.warns(UserWarning, match="bands contain no FFT bin"):
        matrix = bark_filterbank(64, 32, 16000)
    assert (matrix.sum(dim=1) == 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        erb_filterbank(64, 1024, 16000)


@pytest.mark.parametrize("kwargs,match", [
    (dict(scale="octave"), "unknown filter-bank scale"),
    (dict(norm="l2"), "unknown filter-bank norm"),
    (dict(f_max=9000.0), "f_max"),
    (dict(f_min=4000.0, f_max=3000.0), "f_min"),
    (dict(n_bands=0), "n_bands"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = dict(scale="mel", n_bands=40, n_fft=512, sample_rate=16000) | kwargs
    with pytest.raises(ValueError, match=match):
        filterbank_matrix(**args)
