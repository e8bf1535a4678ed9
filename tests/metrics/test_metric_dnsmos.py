import numpy as np
import pytest

from leanspeech.metrics import MetricError, dnsmos


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
