import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.cli import main
from leanspeech.errors import AudioError, LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model
from leanspeech.registry import MODELS, Registry


@MODELS.register("test-tiny")
class TinyModel(SpeechModel):
    hop_length = 160

    def __init__(self, hidden: int = 4, **extra):
        super().__init__()
        self.extra = extra
        self.proj = nn.Linear(1, hidden)

    def forward(self, x):
        return self.proj(x.unsqueeze(-1))


def test_registry_names_and_errors():
    reg = Registry("thing")

    class A:
        pass

    reg.register("a")(A)
    assert A.registry_name == "a"
    assert reg.names() == ["a"] and "a" in reg
    with pytest.raises(KeyError, match="unknown thing 'b'; known: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))


def test_model_config_records_constructor_arguments(tmp_path):
    model = TinyModel(hidden=3, colour="blue")
    assert model.get_config() == {"hidden": 3, "colour": "blue"}
    path = save_model(model, tmp_path / "m.pt")
    loaded = load_model(path)
    assert isinstance(loaded, TinyModel) and loaded.extra == {"colour": "blue"}
    x = torch.randn(2, 5)
    torch.testing.assert_close(loaded(x), model(x))


def test_load_model_rejects_foreign_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(LeanspeechError, match="not a leanspeech model file"):
        load_model(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(LeanspeechError, match="junk.pt: not a loadable model file"):
        load_model(tmp_path / "junk.pt")


def test_load_audio_roundtrip_mono_and_resample(tmp_path):
    stereo = np.stack([np.linspace(-0.5, 0.5, 8000), np.zeros(8000)]).astype(np.float32)
    path = save_audio(tmp_path / "s.wav", stereo, 8000)
    wav, rate = load_audio(path)
    assert rate == 8000 and wav.shape == (8000,)
    np.testing.assert_allclose(wav, stereo.mean(0), atol=1e-4)
    wav16, rate16 = load_audio(path, sample_rate=16000)
    assert rate16 == 16000 and abs(len(wav16) - 16000) <= 1
    with pytest.raises(AudioError, match="8000 Hz.*16000 Hz is required"):
        load_audio(path, sample_rate=16000, require_rate=True)


@pytest.mark.parametrize(
    "content, problem",
    [(None, "does not exist"), (b"", "unreadable"), (b"RIFF garbage", "unreadable")],
)
def test_load_audio_bad_files_name_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=f"bad.wav: .*{problem}"):
        load_audio(path)


def test_load_audio_zero_length_nan_and_short(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav: no samples"):
        load_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: 1 samples are NaN"):
        load_audio(tmp_path / "nan.wav")
    sf.write(tmp_path / "short.wav", np.zeros(10, np.float32), 16000)
    with pytest.raises(AudioError, match="shorter than the 400"):
        load_audio(tmp_path / "short.wav", min_samples=400)


def test_cli_help_lists_commands(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_cli_parser_builds_without_torch_numba_or_librosa():
    # A fresh interpreter: `leanspeech --help` and argument errors answer at once; commands import on run.
    import subprocess

    code = ("import sys; from leanspeech.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'numba', 'librosa') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_registries_fill_themselves_on_first_lookup():
    # A fresh interpreter: nothing but the registry module is imported before the lookups.
    import subprocess
    import sys

    code = ("from leanspeech.registry import DATASETS, MODELS, PEERS, READERS, SOURCES; "
            "print('dnsmos' in PEERS, 'crnn_vad' in MODELS, 'asvspoof2019-la' in READERS, "
            "'mixture' in DATASETS, 'ivr-prompts' in SOURCES)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"] * 5


def test_registry_fill_from_imports_the_named_module_once(tmp_path, monkeypatch):
    (tmp_path / "fills_things.py").write_text(
        "from tests_registry_target import THINGS\nTHINGS.register('filled')(type('Filled', (), {}))\n"
    )
    target = Registry("thing", fill_from=("fills_things",))
    module = type(sys)("tests_registry_target")
    module.THINGS = target
    monkeypatch.setitem(sys.modules, "tests_registry_target", module)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert target.names() == ["filled"]
    assert target.names() == ["filled"]  # imported once, registered once
