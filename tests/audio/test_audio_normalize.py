import pytest
import torch

from leanspeech.audio import PeakNormalize, RMSNormalize
from leanspeech.audio.normalize import dbfs, peak_normalize, rms_normalize


def test_peak_normalize_sets_each_peak():
    wav = torch.tensor([[0.1, -0.4, 0.2], [2.0, 1.0, -0.5]])
    out = peak_normalize(wav, peak=0.5)
    torch.testing.assert_close(out, torch.tensor([[0.125, -0.5, 0.25], [0.5, 0.25, -0.125]]))
    torch.testing.assert_close(PeakNormalize(0.5)(wav), out)


def test_rms_normalize_sets_level_in_dbfs():
    # A full-scale sine has RMS 1/sqrt(2), i.e. -3.0103 dBFS.
    sine = torch.sin(2 * torch.pi * 100 * torch.arange(16000) / 16000).unsqueeze(0)
    assert dbfs(sine).item() == pytest.approx(-3.0103, abs=1e-3)
    out = rms_normalize(torch.cat([sine, 0.01 * sine]), target_dbfs=-20.0)
    torch.testing.assert_close(dbfs(out).squeeze(1), torch.tensor([-20.0, -20.0]))
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(RMSNormalize(-20.0)(sine), out[:1])


def test_silence_stays_silent():
    silence = torch.zeros(2, 100)
    assert torch.equal(peak_normalize(silence), silence)
    assert torch.equal(rms_normalize(silence), silence)
