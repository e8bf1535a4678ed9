import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.cli import main
from leanspeech.commands.score import predict_file, run_score
from leanspeech.data.pesq_segments import SegmentRule
from leanspeech.errors import LeanspeechError
from leanspeech.models.io import load_model, save_model
from leanspeech.models.quality_cnn import QualityCNN

WAV = Path("/usr/share/asterisk/sounds/en_US_f_Allison/all-circuits-busy-now.wav")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(QualityCNN(), tmp_path_factory.mktemp("model") / "model.pt")


def test_prediction_is_the_model_on_the_repeated_clip(model_file):
    model = QualityCNN()
    model.load_state_dict(torch.load(model_file, weights_only=True)["state_dict"])
    rule = SegmentRule()
    score, count, _ = predict_file(model.eval(), WAV, rule)
    wav, _ = load_audio(WAV, sample_rate=16000)  # an 8 kHz prompt of about 3 s, resampled
    tiled = np.resize(wav, 9 * 16000)  # shorter than a segment: repeated to fill it
    with torch.no_grad():
        expected = model(model.features(torch.from_numpy(tiled)[None])).item()
    assert count == 1 and score == pytest.approx(expected, abs=1e-5)


def test_score_cli_on_a_real_wav(model_file, capsys):
    assert main(["score", str(WAV), "--model", str(model_file.parent)]) == 0  # a run folder holding model.pt
    out = capsys.readouterr().out
    model = QualityCNN()
    model.load_state_dict(torch.load(model_file, weights_only=True)["state_dict"])
    score = predict_file(model.eval(), WAV, SegmentRule())[0]
    assert "predicted PESQ" in out and f"{score:.2f}" in out


def test_score_cli_reports_bad_files(model_file, tmp_path, capsys):
    tiny = tmp_path / "tiny.wav"
    save_audio(tiny, np.zeros(800, np.float32), 16000)  # 0.05 s: under the 1 s minimum
    assert main(["score", str(WAV), str(tiny), "--model", str(model_file)]) == 1  # one scored, one skipped
    with pytest.raises(LeanspeechError, match="no file could be scored"):
        run_score(argparse.Namespace(files=[tmp_path / "missing.wav"], model=model_file, dnsmos=False))


def test_the_bundled_default_model_scores_a_file(capsys):
    from leanspeech.commands.score import DEFAULT_MODEL

    model = load_model(DEFAULT_MODEL)  # weights_only=True
    assert isinstance(model, QualityCNN) and sum(p.numel() for p in model.parameters()) == 45697
    assert main(["score", str(WAV)]) == 0
    score = predict_file(model.eval(), WAV, SegmentRule())[0]
    assert f"{score:.2f}" in capsys.readouterr().out


def test_without_a_bundled_model_the_error_says_what_to_do(tmp_path, monkeypatch, capsys):
    import leanspeech.commands.score as score

    monkeypatch.setattr(score, "DEFAULT_MODEL", tmp_path / "absent.pt")
    wav = save_audio(tmp_path / "a.wav", np.zeros(16000, np.float32) + 0.01, 16000)
    assert main(["score", str(wav)]) == 2
    assert "no quality model is bundled" in capsys.readouterr().err
