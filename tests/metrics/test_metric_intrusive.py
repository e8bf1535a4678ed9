import math

import numpy as np
import pytest
import torch

from leanspeech.metrics import MetricError, estoi, intrusive_scores, pesq, si_snr, si_snr_db


def test_pesq_of_a_clean_reference_is_the_scale_maximum(speech_16k, speech_8k):
    assert pesq(speech_16k, speech_16k, 16000, "wb") == pytest.approx(4.644, abs=0.01)  # P.862.2 ceiling
    assert pesq(speech_8k, speech_8k, 8000, "nb") == pytest.approx(4.549, abs=0.01)  # P.862.1 ceiling
    # 8 kHz audio in wide-band mode is resampled to 16 kHz rather than refused
    assert pesq(speech_8k, speech_8k, 8000, "wb") == pytest.approx(4.644, abs=0.01)


def test_pesq_falls_with_noise(speech_8k, speech_16k, add_white_noise):
    # Narrow band at the recording's own 8 kHz; in wide band, white noise above the 4 kHz speech
    # bandwidth drives PESQ to its floor (about 1.0) already at 20 dB, so compare high SNRs there.
    narrow = [pesq(speech_8k, add_white_noise(speech_8k, snr), 8000, "nb") for snr in (30, 20, 10, 0)]
    assert all(a > b + 0.1 for a, b in zip(narrow, narrow[1:]))
    assert narrow[-1] < 1.5
    wide = [pesq(speech_16k, add_white_noise(speech_16k, snr), 16000, "wb") for snr in (40, 30, 20)]
    assert all(a > b + 0.3 for a, b in zip(wide, wide[1:]))


def test_pesq_refuses_silence_and_short_clips_or_returns_nan(speech_16k):
    silence = np.zeros_like(speech_16k)
    with pytest.raises(MetricError, match="reference is silent"):
        pesq(silence, speech_16k, 16000)
    assert math.isnan(pesq(speech_16k, silence, 16000, on_error="nan"))
    short = speech_16k[:1600]
    with pytest.raises(MetricError, match="PESQ: .*short"):
        pesq(short, short, 16000)
    with pytest.raises(ValueError, match="on_error"):
        pesq(silence, silence, 16000, on_error="ignore")


def test_estoi_is_one_for_identical_signals_and_falls_with_noise(speech_16k, add_white_noise):
    assert estoi(speech_16k, speech_16k, 16000) == pytest.approx(1.0, abs=1e-6)
    noisy = [estoi(speech_16k, add_white_noise(speech_16k, snr), 16000) for snr in (10, 0, -10)]
    assert noisy[0] > noisy[1] > noisy[2]
    with pytest.raises(MetricError, match="differ in length"):
        estoi(speech_16k, speech_16k[:-1], 16000)
    with pytest.raises(MetricError, match="30 non-silent frames"):
        estoi(speech_16k[:3000], speech_16k[:3000], 16000)


def test_si_snr_equals_a_constructed_snr_exactly():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal(8000)
    reference -= reference.mean()
    error = rng.standard_normal(8000)
    error -= error.mean()
    error -= (error @ reference) / (reference @ reference) * reference  # orthogonal to the reference
    error *= np.sqrt((reference @ reference) / (error @ error) / 10 ** (12.5 / 10))
    # exact up to the cap term: 10 log10(1 + eps * 10 ** 1.25) = 8e-7 dB
    assert si_snr_db(reference, reference + error) == pytest.approx(12.5, abs=1e-6)
    # invariant to the estimate's gain and to a DC offset
    assert si_snr_db(reference, 0.2 * (reference + error) + 0.3) == pytest.approx(12.5, abs=1e-6)


def test_si_snr_of_noisy_speech_matches_the_mixing_snr(speech_16k, add_white_noise):
    assert si_snr_db(speech_16k, add_white_noise(speech_16k, 10.0)) == pytest.approx(10.0, abs=0.1)
    assert si_snr_db(speech_16k, speech_16k) == pytest.approx(80.0)  # the documented cap, 10 log10(1 / eps)


def test_si_snr_is_batched_and_differentiable():
    reference = torch.randn(3, 4000, dtype=torch.float64)
    estimate = (reference + 0.1 * torch.randn(3, 4000, dtype=torch.float64)).requires_grad_(True)
    values = si_snr(reference, estimate)
    assert values.shape == (3,)
    for b in range(3):
        assert values[b].item() == pytest.approx(si_snr_db(reference[b].numpy(), estimate[b].detach().numpy()))
    (-values.mean()).backward()
    assert torch.isfinite(estimate.grad).all()
    assert si_snr(torch.zeros(1, 100), torch.zeros(1, 100)).item() == 0.0  # silence scores 0 dB, not NaN


def test_intrusive_scores_table_row(speech_16k, add_white_noise):
    row = intrusive_scores(speech_16k, add_white_noise(speech_16k, 5.0), 16000)
    assert set(row) == {"pesq_wb", "pesq_nb", "estoi", "si_snr"}
    assert 1.0 <= row["pesq_wb"] < 4.64 and 0 < row["estoi"] < 1
    assert row["si_snr"] == pytest.approx(5.0, abs=0.1)
