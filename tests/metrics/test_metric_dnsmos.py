import numpy as np
import pytest

from leanspeech.metrics import MetricError, dnsmos
from leanspeech.metrics.dnsmos import one_window


@pytest.mark.slow  # loads two ONNX models and compiles librosa's numba code (~15 s)
def test_clean_speech_scores_higher_than_the_same_speech_in_heavy_noise(speech_16k, add_white_noise):
    clean = dnsmos(speech_16k, 16000)
    noisy = dnsmos(np.clip(add_white_noise(speech_16k, 0.0), -1, 1), 16000)
    for scores in (clean, noisy):
        assert all(1.0 <= value <= 5.0 for value in scores.as_dict().values())
    assert clean.ovrl > noisy.ovrl + 0.5
    assert clean.bak > noisy.bak + 1.0
    assert clean.p808 > noisy.p808


def test_out_of_range_and_silent_input_is_refused_before_loading_models():
    with pytest.raises(MetricError, match=r"\[-1, 1\].*peak is 2.000"):
        dnsmos(np.array([0.1, -2.0, 0.5]), 16000)
    with pytest.raises(MetricError, match="silent"):
        dnsmos(np.zeros(16000), 16000)


def test_a_short_clip_is_tiled_to_exactly_one_window_and_a_long_one_left_alone():
    rate = 16000
    clip = np.arange(4 * rate, dtype=np.float32)
    tiled = one_window(clip, rate)
    assert len(tiled) == 144_160  # 9.01 s
    assert np.array_equal(tiled[: len(clip)], clip) and np.array_equal(tiled[len(clip) : 2 * len(clip)], clip)
    assert np.array_equal(tiled[2 * len(clip) :], clip[: 144_160 - 2 * len(clip)])
    long = np.zeros(10 * rate, dtype=np.float32)
    assert one_window(long, rate) is long
