import copy
import json
import math

import lightning as L
import pytest
import torch
from train_tiny_task import SyntheticProblem, TinyLinear

from leanspeech.config import apply_override, resolve_recipe
from leanspeech.errors import LeanspeechError
from leanspeech.models.io import load_model
from leanspeech.train import train
from leanspeech.train.hooks import param_norm
from leanspeech.train.module import TaskModule

BASE = {
    "model": {"name": "test-linear"},
    "data": {"name": "test-synthetic", "batch_size": 8, "train": {"seed": 0, "size": 64}, "val": {"seed": 1}},
    "task": {"loss": "bce_with_logits", "metrics": ["accuracy", "eer"]},
    "optim": {"name": "adam", "lr": 0.03},
    "trainer": {
        "max_epochs": 4,
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
    },
}


def make_recipe(tmp_path, *overrides):
    recipe = copy.deepcopy(BASE)
    recipe["run_dir"] = str(tmp_path / "run")
    for override in overrides:
        apply_override(recipe, override)
    return resolve_recipe(recipe)


class Record(L.Callback):
    """Collects what the tests check: weights at the start, per-step values, the final learning rate."""

    def __init__(self):
        self.start_weights = None
        self.steps = []

    def on_train_start(self, trainer, pl_module):
        self.start_weights = {k: v.clone() for k, v in pl_module.model.state_dict().items()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.steps.append((trainer.current_epoch, trainer.global_step, pl_module.model.phase))

    def on_train_end(self, trainer, pl_module):
        self.final_lr = trainer.optimizers[0].param_groups[0]["lr"]


class StopAt(L.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def brute_force_accuracy(model, seed):
    data = SyntheticProblem(size=64, seed=seed)
    with torch.no_grad():
        predicted = (model(data.x).squeeze(-1) > 0).float()
    return (predicted == data.y).float().mean().item()


def test_classification_learns_and_leaves_a_complete_run_dir(tmp_path):
    run_dir = train(make_recipe(tmp_path))
    summary = json.loads((run_dir / "metrics.json").read_text())
    losses = [entry["val/loss"] for entry in summary["history"]]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    assert summary["epochs"] == 4 and summary["steps"] == 4 * 8  # 64 samples / batch 8
    assert summary["best"]["val/loss"] == min(losses) and summary["wall_seconds"] > 0

    # model.pt is the best checkpoint's model; its accuracy on the validation split, computed here by hand,
    # is what the engine logged for that epoch.
    model = load_model(run_dir / "model.pt")
    assert isinstance(model, TinyLinear)
    assert brute_force_accuracy(model, seed=1) == pytest.approx(summary["best"]["val/accuracy"], abs=1e-6)
    assert brute_force_accuracy(model, seed=1) > 0.75  # a separable problem; chance is ~0.5

    saved = (run_dir / "config.yaml").read_text()
    assert "bce_with_logits" in saved and "test-synthetic" in saved
    assert (run_dir / "logs" / "version_0" / "metrics.csv").is_file()


def test_checkpoints_load_with_weights_only(tmp_path):
    run_dir = train(make_recipe(tmp_path, "trainer.max_epochs=2", "scheduler.name=reduce_on_plateau",
                                "early_stopping.enabled=true"))
    checkpoints = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    assert {p.name for p in checkpoints} >= {"last.ckpt"} and len(checkpoints) == 2
    for path in checkpoints:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        assert {"state_dict", "optimizer_states", "lr_schedulers", "callbacks"} <= set(blob)
        assert blob["state_dict"]["model.head.weight"].shape == (1, 8)


def test_resume_continues_step_and_weights(tmp_path, capsys):
    first = train(make_recipe(tmp_path, "trainer.max_steps=12", "trainer.max_epochs=-1"))
    last = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 12
    record = Record()
    train(make_recipe(tmp_path, "trainer.max_steps=20", "trainer.max_epochs=-1"), callbacks=[record])
    out = capsys.readouterr().out
    assert "Resuming from" in out and "step 12" in out and "trainer.max_steps: 12 → 20" in out
    for key, value in record.start_weights.items():
        torch.testing.assert_close(value, last["state_dict"][f"model.{key}"])
    assert [step for _, step, _ in record.steps] == list(range(12, 20))
    summary = json.loads((first / "metrics.json").read_text())
    assert summary["steps"] == 20 and [e["step"] for e in summary["history"]] == [8, 12, 16, 20]
    assert [e["step"] for e in summary["history"] if "val/loss" in e] == [8, 16]  # validated at epoch ends


def test_interrupt_saves_last_and_rerun_resumes(tmp_path, capsys):
    recipe = make_recipe(tmp_path, "trainer.max_epochs=2")
    with pytest.raises(KeyboardInterrupt, match="run the same command again"):
        train(recipe, callbacks=[StopAt(5)])
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5
    record = Record()
    train(recipe, callbacks=[record])
    assert "Resuming from" in capsys.readouterr().out and record.steps[0][1] == 5
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 16
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("last*")) == ["last.ckpt"]
    with pytest.raises(LeanspeechError, match="already holds a run; pick another run_dir or set resume=true"):
        train(make_recipe(tmp_path, "resume=false"))


def test_regression_recovers_weights_and_l1_penalty_shrinks_them(tmp_path):
    plain = "data.kind=regression", "task.loss=mse", "task.metrics=[pcc, mae]", "data.val=null", "optim.lr=0.1"
    free = load_model(train(make_recipe(tmp_path / "a", *plain)) / "model.pt")
    summary = json.loads((tmp_path / "a" / "run" / "metrics.json").read_text())
    assert summary["monitor"] == "train/loss_epoch" and summary["final"]["train/loss_epoch"] < 0.1
    # The dataset's target is x·w + noise with w drawn from seed 1234: least squares recovers w.
    w = torch.randn(8, generator=torch.Generator().manual_seed(1234))
    assert (free.head.weight.detach().squeeze(0) - w).abs().max() < 0.15
    penalised = load_model(
        train(make_recipe(tmp_path / "b", *plain, "task.extra_losses=[{name: param-norm, weight: 0.5}]"))
        / "model.pt"
    )
    # At the optimum every |w_i| shrinks by 0.25 (soft threshold), i.e. the L1 norm drops by about half.
    assert penalised.head.weight.abs().sum() < 0.7 * free.head.weight.abs().sum()


def test_param_norm_matches_brute_force():
    model = TinyLinear(hidden=3)
    weights = [model.body[0].weight, model.head.weight]
    l1 = sum(w.abs().sum() for w in weights).item()
    l2_all = sum((p**2).sum() for p in model.parameters()).item()
    assert param_norm(0.5)(model, 0).item() == pytest.approx(0.5 * l1)
    assert param_norm(0.5, p=2, only_weights=False)(model, 0).item() == pytest.approx(0.5 * l2_all)
    assert param_norm(1.0, warmup_steps=4)(model, 1).item() == pytest.approx(0.5 * l1)


def test_two_phase_callback_switches_at_epoch(tmp_path):
    record = Record()
    train(
        make_recipe(tmp_path, "trainer.max_epochs=3",
                    "callbacks=[{name: set-attribute, attribute: phase, value: sparse, epoch: 2}]"),
        callbacks=[record],
    )
    assert {(epoch, phase) for epoch, _, phase in record.steps} == {(0, "dense"), (1, "dense"), (2, "sparse")}


def test_schedulers_reach_their_closed_form_rates(tmp_path):
    record = Record()
    train(make_recipe(tmp_path / "c", "trainer.max_epochs=3", "scheduler={name: cosine, T_max: 4}"),
          callbacks=[record])
    assert record.final_lr == pytest.approx(0.03 * (1 + math.cos(math.pi * 3 / 4)) / 2)
    # lr 1e-6 cannot move the loss by the plateau threshold: every epoch after the first is a bad one.
    record = Record()
    train(make_recipe(tmp_path / "p", "trainer.max_epochs=4", "optim={name: sgd, lr: 1.0e-6}",
                      "scheduler={name: reduce_on_plateau, factor: 0.5, patience: 0}"), callbacks=[record])
    assert record.final_lr == pytest.approx(1e-6 * 0.5**3)


def test_batches_as_tuples_waveform_inputs_and_shape_errors():
    recipe = resolve_recipe({**BASE, "model": {"name": "test-linear", "frontend": "abs"},
                             "task": {"loss": "mse", "input": 0, "target": 1, "input_is_wav": True}})
    model = TinyLinear(frontend="abs")
    module = TaskModule(model, recipe["task"], recipe["optim"], recipe["scheduler"])
    x, y = torch.randn(4, 8), torch.randn(4)
    output, target = module.predict((x, y))
    torch.testing.assert_close(output, model(x.abs()).squeeze(-1))
    assert not torch.allclose(output, model(x).squeeze(-1))
    with pytest.raises(LeanspeechError, match=r"task.target: the batch has no item 1; it has a tuple of 1 items"):
        module.predict((x,))
    module.task = {**module.task, "input": "input", "target": "target"}
    with pytest.raises(LeanspeechError, match=r"task.input: the batch has no item 'input'; it has \['wav'\]"):
        module.predict({"wav": x})
    with pytest.raises(LeanspeechError, match=r"model output of shape \(4, 1\) does not match the target's \(4, 2\)"):
        module.predict({"input": x, "target": torch.zeros(4, 2)})
