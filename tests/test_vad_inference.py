"""VAD inference: segments, streaming == offline, the CLI on real speech, and bad input."""

from __future__ import annotations

import csv
import glob

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.audio.io import load_audio
from leanspeech.cli import main
from leanspeech.compress.consolidate import consolidate
from leanspeech.errors import AudioError, LeanspeechError
from leanspeech.inference.vad import DEFAULT_MODEL, Segment, detect_speech, speech_probabilities, speech_segments
from leanspeech.inference.vad_stream import StreamingVAD
from leanspeech.models.io import save_model
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.registry import MODELS

SPEECH_FILES = sorted(glob.glob("/usr/share/asterisk/sounds/en_US_f_Allison/*.wav"))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wav, _ = load_audio(SPEECH_FILES[0], sample_rate=16000)
    return wav


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return MODELS.build("crnn_vad", conv_channels=8, gru_hidden=8).eval()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, small_model):
    return save_model(small_model, tmp_path_factory.mktemp("vad") / "model.pt")


def test_segments_against_hand_worked_runs():
    p = np.array([0, 0.9, 0.9, 0.1, 0.8, 0.0, 0.0, 0.0, 0.7, 0.7, 0.7, 0.2])
    # runs (frames): [1,3), [4,5), [8,11); frame = 0.1 s
    assert speech_segments(p, 0.1, 1.2, 0.5, 0.0, 0.0) == [Segment(0.1, 0.3), Segment(0.4, 0.5), Segment(0.8, 1.1)]
    # a 0.1 s gap is bridged when min_silence is 0.15; the 0.3 s gap is not
    assert speech_segments(p, 0.1, 1.2, 0.5, 0.0, 0.15) == [Segment(0.1, 0.5), Segment(0.8, 1.1)]
    # segments under 0.25 s are dropped
    assert speech_segments(p, 0.1, 1.2, 0.5, 0.25, 0.0) == [Segment(0.8, 1.1)]
    # the last frame's end is clipped to the duration
    assert speech_segments(np.ones(3), 0.5, 1.2, 0.5, 0.0, 0.0) == [Segment(0.0, 1.2)]
    assert speech_segments(np.zeros(5), 0.1, 0.5) == []


def _stream(vad: StreamingVAD, wav: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    parts, start = [], 0
    while start < len(wav):
        size = int(rng.integers(1, 2500))
        parts.append(vad.process(wav[start:start + size]))
        start += size
    before_flush = sum(len(p) for p in parts)
    parts.append(vad.flush())
    return np.concatenate(parts), before_flush


def test_streaming_equals_offline_for_plain_and_consolidated_models(speech, small_model):
    torch.manual_seed(1)
    dynamic = MODELS.build("dyn_crnn_vad", conv_channels=8, gru_hidden=8, min_fraction=0.1)
    for module in dynamic.modules():
        if isinstance(module, LayerWidth):
            module.set_relative_(0.37)  # a fractional width: the boundary unit's gain is exercised too
    for model in (small_model, consolidate(dynamic.eval()).eval()):
        offline = speech_probabilities(model, speech)
        streamed, before_flush = _stream(StreamingVAD(model), speech, seed=0)
        assert len(offline) == 1 + len(speech) // 256
        assert streamed.shape == offline.shape
        assert np.abs(streamed - offline).max() < 1e-5
        # only the frames whose window or look-ahead reaches past the end wait for flush:
        # (n_fft / 2) / hop = 2 frames of window, 2 of look-ahead, and the partial last hop
        assert len(offline) - 5 <= before_flush < len(offline)


def test_streaming_events_match_offline_segments(speech, small_model):
    vad = StreamingVAD(small_model, threshold=0.5, min_silence_seconds=0.0)
    events = []
    for start in range(0, len(speech), 512):
        events += vad(speech[start:start + 512])
    offline = speech_probabilities(small_model, speech)[: vad.frames_emitted]
    expected = speech_segments(offline, 256 / 16000, 1e9, 0.5, 0.0, 0.0)
    assert [e["start"] for e in events if "start" in e] == [s.start for s in expected]
    ends = [e["end"] for e in events if "end" in e]
    assert ends == [s.end for s in expected][: len(ends)]


def test_stream_rejects_use_after_flush_and_too_short(small_model):
    vad = StreamingVAD(small_model)
    vad.process(np.zeros(500, np.float32))
    with pytest.raises(LeanspeechError, match="500 samples"):
        vad.flush()
    vad.reset()
    vad.process(np.zeros(2000, np.float32))
    vad.flush()
    with pytest.raises(LeanspeechError, match="reset"):
        vad.process(np.zeros(10, np.float32))


def test_cli_prints_the_api_segments_and_writes_csv(tmp_path, capsys, model_file, speech):
    out = tmp_path / "frames.csv"
    assert main(["vad", SPEECH_FILES[0], "--model", str(model_file), "--threshold", "0.5", "--csv", str(out)]) == 0
    printed = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines() if line]
    result = detect_speech(SPEECH_FILES[0], model=model_file)
    assert [(float(a), float(b)) for a, b in printed] == [(round(s.start, 3), round(s.end, 3)) for s in result.segments]
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 1 + len(speech) // 256
    assert np.allclose([float(r["probability"]) for r in rows], result.probabilities, atol=1e-6)


def test_stereo_and_other_rates_are_converted_with_a_note(tmp_path, speech, model_file):
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([speech, 0.5 * speech], axis=1), 16000, subtype="FLOAT")
    result = detect_speech(stereo, model=model_file)
    mono = detect_speech(0.75 * speech, sample_rate=16000, model=model_file)
    assert any("2 channels" in note for note in result.notes)
    assert np.abs(result.probabilities - mono.probabilities).max() < 1e-5
    eight = tmp_path / "eight.wav"
    sf.write(eight, speech[::2], 8000)
    result = detect_speech(eight, model=model_file)
    assert any("8000 Hz" in note for note in result.notes)
    assert len(result.probabilities) == 1 + (2 * len(speech[::2])) // 256


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the bundled model is written by the demo")
def test_bundled_model_finds_speech_and_no_speech_in_silence(tmp_path, speech):
    result = detect_speech(SPEECH_FILES[0])
    assert result.segments and result.segments[0].start < 1.0
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(32000, np.float32), 16000)
    assert detect_speech(silence).segments == []


def test_short_and_corrupt_files_give_clear_errors(tmp_path, model_file, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(800, np.float32), 16000)
    with pytest.raises(AudioError, match=r"short\.wav.*800 samples.*1024 samples"):
        detect_speech(short, model=model_file)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(AudioError, match="corrupt.wav"):
        detect_speech(corrupt, model=model_file)
    assert main(["vad", str(corrupt), "--model", str(model_file)]) == 2
    assert "corrupt.wav" in capsys.readouterr().err
    with pytest.raises(LeanspeechError, match="not a leanspeech model file|not a loadable model file"):
        detect_speech(short, model=corrupt)


def test_streaming_runtime_gives_the_offline_probabilities(tmp_path, capsys, small_model, model_file):
    offline = detect_speech(SPEECH_FILES[0], model=model_file)
    streamed = detect_speech(SPEECH_FILES[0], model=model_file, streaming=True)
    assert np.abs(streamed.probabilities - offline.probabilities).max() < 1e-5
    int8 = detect_speech(SPEECH_FILES[0], model=model_file, streaming=True, weights="int8")
    difference = np.abs(int8.probabilities - offline.probabilities)
    assert len(int8.probabilities) == len(offline.probabilities) and 0 < difference.max() < 0.05
    out = tmp_path / "frames.csv"
    assert main(["vad", SPEECH_FILES[0], "--model", str(model_file), "--streaming", "--weights", "fp16",
                 "--csv", str(out)]) == 0
    fp16 = [float(r["probability"]) for r in csv.DictReader(open(out))]
    assert np.abs(np.array(fp16) - offline.probabilities).max() < 0.01
    assert main(["vad", SPEECH_FILES[0], "--model", str(model_file), "--weights", "int8"]) == 2
    assert "add --streaming" in capsys.readouterr().err
    dynamic = MODELS.build("dyn_crnn_vad", conv_channels=8, gru_hidden=8).eval()  # not consolidated
    with pytest.raises(LeanspeechError, match="--streaming: .*crnn_vad hosts"):
        detect_speech(SPEECH_FILES[0], model=dynamic, streaming=True)
