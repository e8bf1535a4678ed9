"""The VAD trade-off study: its scoring helpers by hand, its recipe, and a quick end-to-end demo."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from leanspeech.cli import main
from leanspeech.errors import RecipeError
from leanspeech.models.io import load_model
from leanspeech.registry import MODELS
from leanspeech.report import read_run
from leanspeech.studies.vad import VadStudyConfig
from leanspeech.studies.vad_eval import error_point, operating_points_eer, pooled_eer
from leanspeech.studies.vad_report import pick_trace_clips
from leanspeech.studies.vad_train import TrainSettings, train_run

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "vad"


def test_operating_points_eer_by_hand():
    # ROC polyline (0, 1) → (0.2, 0.1) → (1, 0): FNR = 1 − 4.5·FPR meets FNR = FPR at FPR = 1/5.5
    assert operating_points_eer([(0.2, 0.1)]) == pytest.approx(1 / 5.5)
    # a point on the diagonal is its own EER, whatever else is there
    assert operating_points_eer([(0.3, 0.3), (0.6, 0.05)]) == pytest.approx(0.3)
    # between two points (0.1, 0.4) and (0.4, 0.1) the crossing is at 0.25
    assert operating_points_eer([(0.4, 0.1), (0.1, 0.4)]) == pytest.approx(0.25)


def test_error_point_and_pooled_eer_by_brute_force():
    rng = np.random.default_rng(0)
    labels = (rng.random((6, 50)) > 0.4).astype(np.float32)
    decisions = (rng.random((6, 50)) > 0.5).astype(np.float32)
    fpr = sum(d and not y for d, y in zip(decisions.flat, labels.flat)) / (labels == 0).sum()
    fnr = sum(y and not d for d, y in zip(decisions.flat, labels.flat)) / (labels == 1).sum()
    assert error_point(decisions, labels) == pytest.approx((fpr, fnr))
    assert pooled_eer(labels * 0.8 + 0.1, labels) == 0.0  # separable scores
    assert pooled_eer(1 - labels, labels) == 1.0  # inverted scores


def test_trace_clips_pick_highest_and_lowest_snr_among_mixed_clips():
    labels = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=np.float32)
    snr = np.array([50.0, 10.0, np.nan, -20.0, -3.0])  # clip 0 is all speech, clip 3 has none
    assert pick_trace_clips(snr, labels) == (2, 4)  # no noise (NaN) is the highest SNR


def test_demo_recipe_is_the_default_and_keys_are_checked():
    assert asdict(VadStudyConfig.from_yaml(RECIPES / "demo.yaml")) == asdict(VadStudyConfig())
    full = VadStudyConfig.from_yaml(RECIPES / "full.yaml")
    assert (full.test_clips, full.train.batch_size, full.beta) == (2000, 32, 0.5)
    with pytest.raises(RecipeError, match="unknown key.*width_step"):
        VadStudyConfig.from_dict({"width_step": 3})
    with pytest.raises(RecipeError, match="train"):
        VadStudyConfig.from_dict({"train": {"batch": 3}})


@pytest.mark.slow
def test_quick_demo_end_to_end_and_resume(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "demo"
    # a 0.3-minute corpus has one test RIR, possibly above the paper's 1.5 s
    arguments = ["demo", "--corpus", str(tiny_corpus), "--out", str(out), "--quick", "--rt60-max", "4"]
    assert main(arguments) == 0
    assert f"report: {out / 'report' / 'README.md'}" in capsys.readouterr().out
    report = out / "report"
    for name in ("README.md", "results.csv", "metrics.json", "eer_vs_flops.png", "spp_traces.png"):
        assert (report / name).is_file() and (report / name).stat().st_size > 0
    rows = {row["name"]: row for row in csv.DictReader(open(report / "results.csv"))}
    assert set(rows) == {"CRNNVAD", "DCRNNVAD 50", "DCRNNVAD 25", "DCRNNVAD 12.5", "DCRNNVAD 6.25",
                         "Silero VAD", "WebRTC VAD"}
    assert all(0.0 <= float(row["eer"]) <= 1.0 for row in rows.values())
    assert int(rows["CRNNVAD"]["bands"]) == 80

    wav = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))[None]
    for fraction in ("50", "6.25"):
        run = out / "runs" / f"dcrnnvad-{fraction}"
        dynamic, consolidated = load_model(run / "model.pt"), load_model(run / "consolidated.pt")
        with torch.no_grad():
            assert (dynamic.forward_wav(wav) - consolidated.forward_wav(wav)).abs().max() < 1e-5
        assert consolidated.conv.in_channels == int(rows[f"DCRNNVAD {fraction}"]["bands"])
        assert consolidated.conv.in_channels >= round(80 * float(fraction) / 100)
    assert len(list((out / "runs").glob("*/metrics.json"))) == 6  # baseline, shared phase 1, four variants
    assert json.loads((report / "metrics.json").read_text())["test_clips"] == 8

    points, incomplete = read_run(report)  # what `leanspeech report` sees: every model and peer, complete
    assert not incomplete and {p.name for p in points} == set(rows)
    assert {p.name for p in points if p.kind == "peer"} == {"Silero VAD", "WebRTC VAD"}


def test_a_finished_run_is_reused_and_a_variant_branches_off_phase_one(tmp_path):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    stream = iter(lambda: {"mixture": 0.1 * torch.randn(2, 4096, generator=generator),
                           "labels": (torch.rand(2, 17, generator=generator) > 0.5).float()}, None)

    def batches(skip):
        return stream
    settings = TrainSettings(batch_size=2, width_lr=0.05)
    small = dict(conv_channels=4, gru_hidden=4)
    phase1 = train_run("p1", MODELS.build("dyn_crnn_vad", **small), batches, 2, tmp_path / "p1", settings)
    assert phase1["relative_widths"] == {"frontend.filterbank.linear.width": 1.0, "conv.width": 1.0}
    written = (tmp_path / "p1" / "model.pt").stat().st_mtime_ns
    again = train_run("p1", MODELS.build("dyn_crnn_vad", **small), batches, 2, tmp_path / "p1", settings)
    assert again == phase1 and (tmp_path / "p1" / "model.pt").stat().st_mtime_ns == written
    variant = train_run("v", MODELS.build("dyn_crnn_vad", min_fraction=0.5, **small), batches, 3, tmp_path / "v",
                        settings, beta=0.5, start_from=tmp_path / "p1")
    # the penalty pulls every width down from 1 (λ moves by about width_lr per Adam step)
    assert all(0.5 <= w < 1.0 for w in variant["relative_widths"].values())
