"""`leanspeech bench`: models and peers on the same audio, interleaved, ratios against the first entry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leanspeech.cli import main
from leanspeech.models.io import save_model
from leanspeech.registry import MODELS
from leanspeech.report.bench import ratio_table, run_bench
from leanspeech.report.timing import Measured

import leanspeech.models  # noqa: F401


def test_ratio_table_divides_by_the_first_entry():
    rows = ratio_table([Measured("a", 0.02, 0.01, 0.03, 5, 4.0), Measured("b", 0.05, 0.04, 0.06, 5, 4.0)])
    assert [r["time_vs_first"] for r in rows] == [1.0, 2.5]
    assert rows[1]["rtf"] == pytest.approx(0.05 / 4.0)


def test_bench_runs_a_run_dir_a_registered_model_and_a_peer(tmp_path, capsys):
    pytest.importorskip("webrtcvad")
    save_model(MODELS.build("crnn_vad", conv_channels=8, gru_hidden=8), tmp_path / "run" / "model.pt")
    code = main(["bench", str(tmp_path / "run"), "crnn_vad", "webrtc-vad", "--seconds", "0.5", "--repeats", "2",
                 "--warmup", "0", "--json", str(tmp_path / "bench.json")])
    assert code == 0
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert [r["name"] for r in rows] == [str(tmp_path / "run"), "crnn_vad", "webrtc-vad"]
    assert rows[0]["time_vs_first"] == 1.0 and all(r["repeats"] == 2 and r["audio_seconds"] == 0.5 for r in rows)
    assert all(r["min_s"] <= r["median_s"] <= r["max_s"] for r in rows)
    assert "time vs first" in capsys.readouterr().out


def test_bench_names_an_unknown_entry(capsys):
    assert main(["bench", "no-such-model", "--seconds", "0.2", "--repeats", "1"]) == 2
    assert "no-such-model: not a registered model" in capsys.readouterr().err


def test_run_bench_resamples_for_the_model():
    wav = np.zeros(8000, np.float32)  # 1 s at 8 kHz; crnn_vad runs at 16 kHz
    (result,) = run_bench(["crnn_vad"], wav, 8000, repeats=1, warmup=0)
    assert result.audio_seconds == 1.0
