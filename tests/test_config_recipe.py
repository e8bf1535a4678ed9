from pathlib import Path

import pytest
import yaml

from leanspeech.config import apply_override, load_recipe, recipe_changes, save_recipe
from leanspeech.errors import RecipeError

BASE = {
    "imports": ["train_tiny_task"],
    "model": {"name": "test-linear", "hidden": 4},
    "data": {"name": "test-synthetic", "batch_size": 8, "train": {"seed": 0}, "val": {"seed": 1}},
    "task": {"loss": "bce_with_logits", "metrics": ["accuracy", "eer"]},
    "optim": {"name": "adam", "lr": 0.01},
    "trainer": {"max_epochs": 2},
}


@pytest.fixture(autouse=True)
def _tiny_task_importable(monkeypatch):
    # train_tiny_task (tests/train) registers the test-linear model and the test-synthetic dataset.
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "train"))


def write(tmp_path, recipe, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe) if isinstance(recipe, dict) else recipe)
    return path


def test_defaults_are_filled(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE, "vad-small.yaml"))
    assert recipe["run_dir"] == "runs/vad-small"
    assert recipe["task"]["loss"] == {"name": "bce_with_logits"}
    assert recipe["task"]["monitor"] == "val/loss" and recipe["task"]["mode"] == "min"
    assert recipe["optim"] == {"name": "adam", "lr": 0.01, "weight_decay": 0.0}
    assert recipe["scheduler"]["name"] == "none" and recipe["seed"] == 0 and recipe["resume"] is True
    assert recipe["data"]["num_workers"] == 0 and recipe["early_stopping"]["enabled"] is False


def test_overrides_apply_as_yaml_scalars(tmp_path):
    recipe = dict(BASE, callbacks=[{"name": "set-attribute", "attribute": "phase", "value": "x", "epoch": 1}])
    resolved = load_recipe(
        write(tmp_path, recipe),
        [
            "trainer.max_epochs=3",
            "optim.lr=3e-4",
            "model.hidden=6",
            "early_stopping.enabled=true",
            "callbacks.0.epoch=2",
            "task.monitor=val/accuracy",
            "run_dir=runs/x",
        ],
    )
    assert resolved["trainer"]["max_epochs"] == 3
    assert resolved["optim"]["lr"] == 3e-4 and isinstance(resolved["optim"]["lr"], float)
    assert resolved["model"]["hidden"] == 6
    assert resolved["early_stopping"]["enabled"] is True
    assert resolved["callbacks"][0]["epoch"] == 2
    assert resolved["task"]["mode"] == "max"  # accuracy: higher is better
    assert resolved["run_dir"] == "runs/x"


def test_exponent_without_dot_reads_as_float(tmp_path):
    text = yaml.safe_dump(BASE).replace("lr: 0.01", "lr: 1e-3")
    assert load_recipe(write(tmp_path, text))["optim"]["lr"] == 1e-3


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainr.max_epochs=3", r"^trainr: unknown key; did you mean trainer\?"),
        ("trainer.max_epoch=3", r"^trainer.max_epoch: not an argument of Trainer; did you mean trainer.max_epochs\?"),
        ("model.hiden=3", r"^model.hiden: not an argument of TinyLinear; did you mean model.hidden\?"),
        ("data.sise=3", r"^data.sise: not an argument of SyntheticProblem; did you mean data.size\?"),
        ("data.val.sead=3", r"^data.val.sead: not an argument of SyntheticProblem; did you mean data.val.seed\?"),
        ("task.los=mse", r"^task.los: unknown key; did you mean task.loss\?"),
        ("task.loss=bce_logits", r"^task.loss.name: unknown loss 'bce_logits' \(did you mean 'bce_with_logits'\?\)"),
        ("task.metrics=[acuracy]", r"^task.metrics.0: unknown metric 'acuracy' \(did you mean 'accuracy'\?\)"),
        ("task.monitor=val/pcc", r"^task.monitor: unknown monitored value 'val/pcc'"),
        ("optim.name=adamm", r"^optim.name: unknown optimizer 'adamm' \(did you mean 'adam'\?\)"),
        ("optim.momentun=0.9", r"^optim.momentun: not an argument of Adam"),
        ("optim.lr=fast", r"^optim.lr: expected float, got 'fast'"),
        ("scheduler.name=cosine", None),
        ("scheduler.patience=2", r"^scheduler.patience: takes no arguments here"),
        ("checkpoint.dirpath=/x", r"^checkpoint.dirpath: set by the training engine"),
        ("early_stopping.patence=2", r"^early_stopping.patence: not an argument of EarlyStopping; did you mean"),
        ("model={name: test-needs-width}", r"^model.width: missing \(required by NeedsWidth\)"),
        ("model=null", r"^model.name: missing"),
        ("trainer.max_epochs=true", r"^trainer.max_epochs: expected int, got True"),
        ("seed=one", r"^seed: expected int, got 'one'"),
        ("task.extra_losses=[{name: param-norm}]", r"^task.extra_losses.0.weight: missing \(required by param_norm\)"),
        ("callbacks=[{name: set-atribute}]", r"^callbacks.0.name: unknown callback 'set-atribute' \(did you mean"),
        ("imports=[no_such_module_here]", r"^imports.0: cannot import 'no_such_module_here'"),
        ("trainer.max_epochs", r"expected dotted.key=value"),
    ],
)
def test_bad_keys_fail_naming_the_key(tmp_path, override, message):
    path = write(tmp_path, BASE)
    if message is None:
        load_recipe(path, [override])
        return
    with pytest.raises(RecipeError, match=message):
        load_recipe(path, [override])


def test_monitor_needs_validation_data(tmp_path):
    resolved = load_recipe(write(tmp_path, BASE), ["data.val=null"])
    assert resolved["task"]["monitor"] == "train/loss_epoch"
    with pytest.raises(RecipeError, match=r"task.monitor: unknown monitored value \(no data.val\) 'val/loss'"):
        load_recipe(write(tmp_path, BASE), ["data.val=null", "task.monitor=val/loss"])


def test_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="nope.yaml: recipe file does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        load_recipe(write(tmp_path, "model: [unclosed", "bad.yaml"))
    with pytest.raises(RecipeError, match="list.yaml: a recipe is a mapping"):
        load_recipe(write(tmp_path, "- a\n- b\n", "list.yaml"))


def test_saved_recipe_reloads_to_itself(tmp_path):
    resolved = load_recipe(write(tmp_path, BASE), ["scheduler.name=reduce_on_plateau", "scheduler.factor=0.5"])
    assert resolved["scheduler"]["monitor"] == "val/loss" and resolved["scheduler"]["mode"] == "min"
    saved = save_recipe(resolved, tmp_path / "run" / "config.yaml")
    assert load_recipe(saved) == resolved


def test_override_into_lists_and_changes():
    recipe = {"callbacks": [{"name": "a", "epoch": 1}], "optim": {"lr": 0.1}}
    apply_override(recipe, "callbacks.0.epoch=4")
    with pytest.raises(RecipeError, match="callbacks: a list of 1 items has no item '3'"):
        apply_override(recipe, "callbacks.3.epoch=4")
    with pytest.raises(RecipeError, match="optim.lr is a value, not a section"):
        apply_override(recipe, "optim.lr.x=1")
    assert recipe_changes({"optim": {"lr": 0.1}}, recipe) == [
        "callbacks: (unset) → [{'name': 'a', 'epoch': 4}]"
    ]
