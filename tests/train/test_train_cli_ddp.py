import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leanspeech.cli import main

HERE = Path(__file__).parent
RECIPE = {
    "imports": ["train_tiny_task"],
    "model": {"name": "test-linear"},
    "data": {"name": "test-synthetic", "batch_size": 8, "train": {"seed": 0, "size": 64}, "val": {"seed": 1}},
    "task": {"loss": "bce_with_logits", "metrics": ["accuracy"]},
    "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
}


def write_recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "run_dir": str(tmp_path / "run")}))
    return path


def test_cli_trains_and_prints_the_run_dir(tmp_path, capsys):
    assert main(["train", str(write_recipe(tmp_path)), "trainer.max_epochs=1"]) == 0
    assert f"run directory: {tmp_path / 'run'}" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 1


def test_cli_rejects_a_bad_key_before_any_work(tmp_path, capsys):
    assert main(["train", str(write_recipe(tmp_path)), "trainer.max_epoch=1"]) == 2
    err = capsys.readouterr().err
    assert "trainer.max_epoch: not an argument of Trainer; did you mean trainer.max_epochs?" in err
    assert not (tmp_path / "run").exists()


def test_cli_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "leanspeech train recipes/vad.yaml trainer.max_epochs=3" in out and "trainer.strategy=ddp" in out


@pytest.mark.slow
def test_ddp_on_cpu_with_two_processes(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "leanspeech.cli", "train", str(write_recipe(tmp_path)),
               "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
    # A new session, so that on a hang the whole process group (both ranks) is killed.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"DDP run hung:\n{process.communicate()[0][-3000:]}")
    assert process.returncode == 0, output[-3000:]
    assert "distributed_backend=gloo" in output and "All distributed processes registered" in output
    assert output.count("run directory:") == 1  # printed by rank 0 only
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # Each rank sees half of the 64 samples: 4 batches of 8 per epoch instead of 8.
    assert summary["steps"] == 2 * 4 and summary["epochs"] == 2
    assert summary["best"]["val/loss"] <= summary["history"][0]["val/loss"]
