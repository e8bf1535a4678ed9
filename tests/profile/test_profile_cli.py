"""`leanspeech profile` end to end: registry names, run directories, outputs and errors."""

from __future__ import annotations

import csv
import json

from leanspeech.cli import main
from leanspeech.models.io import save_model
from leanspeech.registry import MODELS

import leanspeech.models  # noqa: F401


def test_profile_registered_model_writes_csv_and_json(tmp_path, capsys):
    code = main(["profile", "dnsmos_cnn", "--seconds", "1", "--bits", "8", "--csv", str(tmp_path / "l.csv"),
                 "--json", str(tmp_path / "p.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "blocks" in out and "45,697 dense" in out and "at 8 bit" in out
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    conv = next(r for r in rows if r["name"] == "blocks.0.conv")
    assert conv["status"] == "counted" and float(conv["params"]) == 320
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["params"]["dense"] == 45_697 and data["complete"] and data["file_bytes"] > 45_697 * 4
    assert data["macs"] == sum(r["macs"] for r in data["layers"] if r["status"] in ("counted", "container+extra"))


def test_profile_run_directory_with_latency(tmp_path, capsys):
    model = MODELS.build("spoof_resnet34", channels=[4, 4, 8, 8])
    save_model(model, tmp_path / "run" / "model.pt")
    code = main(["profile", str(tmp_path / "run"), "--seconds", "0.5", "--latency", "--repeats", "2", "--warmup", "0",
                 "--latency-batch", "2", "--threads", "1", "--json", str(tmp_path / "p.json")])
    assert code == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert [t["batch"] for t in data["latency"]["timings"]] == [1, 2]
    assert data["file_bytes"] == (tmp_path / "run" / "model.pt").stat().st_size
    assert "latency batch 2" in capsys.readouterr().out


def test_profile_set_overrides_the_constructor(capsys):
    assert main(["profile", "spoof_resnet34", "--seconds", "0.5", "--set", "channels=[5,9,17,42]"]) == 0
    expected = sum(p.numel() for p in MODELS.build("spoof_resnet34", channels=[5, 9, 17, 42]).parameters())
    assert f"{expected:,} dense" in capsys.readouterr().out


def test_profile_errors_name_the_problem(tmp_path, capsys):
    assert main(["profile", "no_such_model"]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["profile", str(tmp_path / "empty")]) == 2
    assert "has no model.pt" in capsys.readouterr().err
    assert main(["profile", "dnsmos_cnn", "--set", "channels"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
