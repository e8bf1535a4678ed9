import importlib.util

import numpy as np
import pytest

from leanspeech.audio.resample import resample
from leanspeech.peers.rnnoise import DELAY_48K, FRAME, Rnnoise, estimate_lag, process_frames

RATE = 16000


@pytest.fixture(scope="module")
def rnnoise():
    # Not importorskip: pyrnnoise's own __init__ needs audiolab, which we do without.
    if importlib.util.find_spec("pyrnnoise") is None:
        pytest.skip("pyrnnoise is not installed")
    return Rnnoise()


def snr_db(clean, estimate):
    return 10 * np.log10(np.sum(clean**2) / np.sum((estimate - clean) ** 2))


def test_estimate_lag_finds_a_known_shift():
    noise = np.random.default_rng(1).standard_normal(4000)
    assert estimate_lag(noise, np.concatenate([np.zeros(37), noise])) == 37
    assert estimate_lag(noise, noise[37:]) == -37


def test_delay_constant_is_what_the_library_does_on_speech(scene, rnnoise):
    speech = resample(scene.clean, RATE, 48000) * 32768.0
    speech = np.pad(speech, (0, -len(speech) % FRAME))
    raw, probabilities = process_frames(speech)
    assert len(probabilities) == len(speech) // FRAME
    assert abs(estimate_lag(speech, raw) - DELAY_48K) <= 48  # 1 ms at 48 kHz


@pytest.mark.parametrize("rate", [16000, 8000])
def test_enhanced_output_is_aligned_with_its_input(scene, rnnoise, rate):
    wav = resample(scene.noisy(10), RATE, rate)
    enhanced = rnnoise.enhance(wav, rate)
    assert enhanced.shape == wav.shape and enhanced.dtype == np.float32
    assert abs(estimate_lag(wav, enhanced)) <= rate // 1000  # lag 0 ± 1 ms


def test_rnnoise_raises_snr_and_removes_noise_in_pauses(scene, rnnoise):
    noisy = scene.noisy(5)
    gain = np.sum(noisy * scene.clean) / np.sum(scene.clean**2)  # noisy() may have scaled the mix
    clean = gain * scene.clean
    enhanced = rnnoise.enhance(noisy, RATE)
    assert snr_db(clean, enhanced) > snr_db(clean, noisy) + 5
    pause = slice(0, scene.speech_start - RATE // 10)
    assert np.mean(enhanced[pause] ** 2) < np.mean(noisy[pause] ** 2) * 1e-2  # > 20 dB less noise


def test_rnnoise_speech_probability_follows_the_speech(scene, rnnoise):
    wav = scene.noisy(10)
    n = len(wav) // 256 + 1
    scores = rnnoise.frame_probabilities(wav, RATE, 256, n)
    speech, silence = scene.masks(256, n)
    assert scores[speech].mean() > 0.8 and scores[silence].mean() < 0.2
