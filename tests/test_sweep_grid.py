"""`leanspeech sweep`: grid expansion, run names, resumable runs, parallel processes, summary report."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import yaml

from leanspeech.cli import main
from leanspeech.errors import RecipeError
from leanspeech.sweep import expand_grid, parse_grid, plan_sweep, run_name, run_sweep

TRAIN_TESTS = Path(__file__).parent / "train"
sys.path.insert(0, str(TRAIN_TESTS))  # train_tiny_task registers the tiny model and dataset (also in workers)

RECIPE = {
    "imports": ["train_tiny_task"],
    "model": {"name": "test-linear"},
    "data": {"name": "test-synthetic", "batch_size": 16, "train": {"seed": 0, "size": 32}, "val": {"seed": 1}},
    "task": {"loss": "bce_with_logits", "metrics": ["accuracy"]},
    "optim": {"name": "adam", "lr": 0.03},
    "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                "enable_model_summary": False, "num_sanity_val_steps": 0, "log_every_n_steps": 1},
}


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


def test_grid_is_the_cartesian_product_in_key_order():
    grid = parse_grid(["optim.lr=1e-3,3e-3", "model.hidden=0,4,8"])
    combos = expand_grid(grid)
    assert len(combos) == 6 and combos[0] == ["optim.lr=1e-3", "model.hidden=0"]
    assert combos[-1] == ["optim.lr=3e-3", "model.hidden=8"]
    assert len({run_name(c) for c in combos}) == 6
    assert run_name(["model.rnn_options={update_percent: 50}"]) == "rnn_options-update_percent_50"


@pytest.mark.parametrize("bad", ["optim.lr", "=1,2", "optim.lr="])
def test_bad_grid_items_are_named(bad):
    with pytest.raises(RecipeError, match="expected dotted.key=value1,value2"):
        parse_grid([bad])


def test_every_recipe_is_checked_before_training(recipe, tmp_path):
    with pytest.raises(RecipeError, match="optim.lrr"):
        plan_sweep(recipe, parse_grid(["optim.lrr=0.1,0.2"]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sweep_trains_each_point_once_and_reports(recipe, tmp_path, capsys):
    out = tmp_path / "sweep"
    runs = run_sweep(recipe, parse_grid(["model.hidden=0,4"]), out)
    assert [(r.name, r.status) for r in runs] == [("hidden-0", "done"), ("hidden-4", "done")]
    for run in runs:
        config = yaml.safe_load((run.run_dir / "config.yaml").read_text())
        assert config["model"]["hidden"] == int(run.name.split("-")[1]) and config["run_dir"] == str(run.run_dir)
        assert json.loads((run.run_dir / "metrics.json").read_text())["epochs"] == 2
    rows = list(csv.DictReader((out / "report" / "results.csv").open()))
    assert sorted(r["name"] for r in rows) == ["hidden-0", "hidden-4"]
    assert {r["metric"] for r in rows} == {"loss"} and all(float(r["value"]) > 0 for r in rows)
    # The tiny test model reads (B, 8) features, not audio: profiling it is reported, not fatal.
    assert "cannot profile" in (out / "report" / "results.md").read_text()
    # Running again trains nothing: finished runs are skipped (their metrics.json untouched).
    stamp = (out / "hidden-0" / "metrics.json").stat().st_mtime_ns
    assert main(["sweep", str(recipe), "--grid", "model.hidden=0,4", "--out", str(out), "--no-report"]) == 0
    assert "0 trained, 2 already finished, 0 failed" in capsys.readouterr().out
    assert (out / "hidden-0" / "metrics.json").stat().st_mtime_ns == stamp


@pytest.mark.slow  # two spawned worker processes each import torch and lightning
def test_parallel_sweep_reports_a_failed_run_and_finishes_the_others(recipe, tmp_path, capsys):
    out = tmp_path / "parallel"
    # batch_size 0 passes the recipe check (an int) but the DataLoader refuses it when the run starts.
    code = main(["sweep", str(recipe), "--grid", "data.batch_size=16,0", "--jobs", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1 and "1 trained, 0 already finished, 1 failed" in printed and "failed batch_size-0" in printed
    assert (out / "batch_size-16" / "metrics.json").is_file() and not (out / "batch_size-0" / "metrics.json").exists()
    assert (out / "report" / "index.html").is_file()
