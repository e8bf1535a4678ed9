"""`leanspeech spoof FILE.wav` on a real 8 kHz recording: the printed logit is the model's logit on the
file resampled to 16 kHz (computed here independently with soundfile + soxr), for a consolidated
DynResNet34 given as a run folder; bad inputs are refused with the file named; the bundled model
separates an unseen speaker from seen TTS engines."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from leanspeech.cli import main
from leanspeech.commands.spoof import load_countermeasure
from leanspeech.compress.consolidate import consolidate
from leanspeech.models.io import save_model
from leanspeech.data.sources.spoof_channel import apply_channel
from leanspeech.models.spoof_resnet_dynamic import DynResNet34, channel_progression

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


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("espeak-ng", "flite", "sox")),
                    reason="needs espeak-ng, flite and sox (make setup installs them)")
def test_the_bundled_model_tells_an_unseen_speaker_from_seen_tts_engines(capsys):
    """The bundled DRN34 (trained on the offline corpus) ranks the prompts of June, a speaker of the eval
    split it never trained on, above espeak-ng and flite sentences, everything through the corpus channel."""
    model = load_countermeasure()
    assert channel_progression(model) == [1, 2, 4, 8]
    rng = np.random.default_rng(0)

    def logit(wav, rate):
        channelled = apply_channel(wav, rate, model.sample_rate, rng).astype(np.float32)
        with torch.no_grad():
            return float(model.forward_wav(torch.from_numpy(channelled)[None])[0])

    bonafide = [logit(*sf.read(path, dtype="float32")) for path in sorted(RECORDING.parent.glob("*.wav"))[:10]]
    spoofed = []
    for text in ("Your call has been cancelled.", "Please enter your account number followed by the pound key.",
                 "The party you are trying to reach is not available."):
        for engine in (["espeak-ng", text, "-w"], ["flite", "-voice", "awb", "-t", text, "-o"]):
            with tempfile.NamedTemporaryFile(suffix=".wav") as file:
                subprocess.run([*engine, file.name], check=True)
                spoofed.append(logit(*sf.read(file.name, dtype="float32")))
    ranked_above = np.mean([b > s for b in bonafide for s in spoofed])
    assert ranked_above >= 0.9, (bonafide, spoofed)
    assert main(["spoof", str(RECORDING)]) == 0  # the CLI's default is the same model
    assert capsys.readouterr().out.startswith(str(RECORDING))
