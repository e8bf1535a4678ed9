"""`leanspeech spoof FILE.wav` on a real 8 kHz recording: the printed logit is the model's logit on the
file resampled to 16 kHz (computed here independently with soundfile + soxr), for a consolidated
DynResNet34 given as a run folder; bad inputs are refused with the file named."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from leanspeech.cli import main
from leanspeech.compress.consolidate import consolidate
from leanspeech.models.io import save_model
from leanspeech.models.spoof_resnet_dynamic import DynResNet34

RECORDING = Path("/usr/share/asterisk/sounds/fr_CA_f_June/cancelled.wav")
pytestmark = pytest.mark.skipif(not RECORDING.is_file(), reason="needs asterisk-core-sounds-fr-wav")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = DynResNet34(channels=(4, 4, 8, 8))
    for width in model.stack_widths().values():
        width.set_relative_(0.6)
    folder = tmp_path_factory.mktemp("run")
    save_model(model.eval(), folder / "model.pt")
    plain = consolidate(model).eval()
    save_model(plain, folder / "consolidated.pt")
    return folder, plain


def test_scores_a_real_recording(run_folder, capsys):
    folder, plain = run_folder
    assert main(["spoof", str(RECORDING), "--model", str(folder)]) == 0
    path, logit, probability = capsys.readouterr().out.strip().split("\t")
    wav, rate = sf.read(RECORDING, dtype="float32")
    assert rate == 8000
    wav = soxr.resample(wav, rate, 16000).astype(np.float32)
    with torch.no_grad():
        expected = float(plain.forward_wav(torch.from_numpy(wav)[None])[0])
    assert path == str(RECORDING) and float(logit) == pytest.approx(expected, abs=2e-3)
    assert float(probability) == pytest.approx(1 / (1 + np.exp(-expected)), abs=2e-3)


def test_bad_inputs_are_named(run_folder, tmp_path, capsys):
    folder, _ = run_folder
    assert main(["spoof", str(tmp_path / "missing.wav"), "--model", str(folder)]) != 0
    assert "missing.wav" in capsys.readouterr().err
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, dtype=np.float32), 16000)
    assert main(["spoof", str(short), "--model", str(folder)]) != 0
    assert "short.wav" in capsys.readouterr().err
    assert main(["spoof", str(RECORDING), "--model", str(tmp_path / "nope.pt")]) != 0
    assert "nope.pt" in capsys.readouterr().err
