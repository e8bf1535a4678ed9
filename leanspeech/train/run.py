"""`train(recipe)`: one run from a resolved recipe into its run directory, resumable.

run_dir/
  config.yaml        the resolved recipe (the single source of truth of the run)
  checkpoints/       best-*.ckpt (by task.monitor) and last.ckpt, all loadable with weights_only=True
  logs/version_N/    metrics.csv of each (re)start
  metrics.json       final and best values, epochs, steps, wall time
  model.pt           the best model, for `leanspeech.models.io.load_model`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from leanspeech.config import parse_yaml, recipe_changes, save_recipe
from leanspeech.errors import RecipeError
from leanspeech.registry import MODELS
from leanspeech.train.data import build_loaders
from leanspeech.train.history import RunHistory, export_best_model, write_metrics
from leanspeech.train.hooks import CALLBACKS, EXTRA_LOSSES
from leanspeech.train.module import TaskModule


def _arguments(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "name"}


class NewMixesEachEpoch(L.Callback):
    """Tell a dataset that draws per epoch (MixtureDataset.set_epoch) which epoch it is, so every epoch
    trains on new mixes. Its loader's workers are not persistent (train/data.py), so they see it."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dataset = getattr(trainer.train_dataloader, "dataset", None)
        if callable(getattr(dataset, "set_epoch", None)):
            dataset.set_epoch(trainer.current_epoch)


class SaveLast(L.Callback):
    """Write last.ckpt when fit ends, also mid-epoch (max_steps) or on an exception or Ctrl-C, so that
    re-running resumes from the very last step. ModelCheckpoint alone saves only after validation, and
    Lightning's OnExceptionCheckpoint deletes its file at teardown."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume


def resume_checkpoint(recipe: dict[str, Any]) -> Path | None:
    """last.ckpt of an interrupted or finished run in the same run_dir, or None for a fresh run."""
    run_dir = Path(recipe["run_dir"])
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    if not recipe["resume"]:
        raise RecipeError(f"run_dir: {run_dir} already holds a run; pick another run_dir or set resume=true")
    state = torch.load(last, map_location="cpu", weights_only=True)
    if rank_zero_only.rank == 0:
        print(f"Resuming from {last} (epoch {state['epoch']}, step {state['global_step']}).")
        saved = run_dir / "config.yaml"
        changes = recipe_changes(parse_yaml(saved.read_text()), recipe) if saved.is_file() else []
        for line in changes:
            print(f"  changed since the last start: {line}")
    return last


def train(recipe: dict[str, Any], callbacks: Sequence[L.Callback] = ()) -> Path:
    """Train the recipe's model; returns the run directory. `callbacks` are added to the recipe's own."""
    run_dir = Path(recipe["run_dir"])
    checkpoints = run_dir / "checkpoints"
    task = recipe["task"]
    resume_from = resume_checkpoint(recipe)
    L.seed_everything(recipe["seed"], workers=True, verbose=False)

    model = MODELS.build(recipe["model"]["name"], **_arguments(recipe["model"]))
    extra_losses = {e["name"]: EXTRA_LOSSES.build(e["name"], **_arguments(e)) for e in task["extra_losses"]}
    module = TaskModule(model, task, recipe["optim"], recipe["scheduler"], extra_losses)
    train_loader, val_loader = build_loaders(recipe["data"], recipe["seed"])

    history = RunHistory()
    best = ModelCheckpoint(
        dirpath=checkpoints,
        filename="best-{epoch}-{step}",
        monitor=task["monitor"],
        mode=task["mode"],
        save_last=True,
        enable_version_counter=False,  # last.ckpt is overwritten, never last-v1.ckpt: resume finds one file
        **recipe["checkpoint"],
    )
    engine_callbacks: list[L.Callback] = [best, SaveLast(checkpoints / "last.ckpt"), history, NewMixesEachEpoch()]
    engine_callbacks.append(LearningRateMonitor())
    stopping = recipe["early_stopping"]
    if stopping["enabled"]:
        arguments = {k: v for k, v in stopping.items() if k != "enabled"}
        engine_callbacks.append(EarlyStopping(monitor=task["monitor"], mode=task["mode"], **arguments))
    recipe_callbacks = [CALLBACKS.build(c["name"], **_arguments(c)) for c in recipe["callbacks"]]
    trainer = L.Trainer(
        **recipe["trainer"],
        callbacks=[*engine_callbacks, *recipe_callbacks, *callbacks],
        logger=CSVLogger(run_dir, name="logs"),
        default_root_dir=run_dir,
    )
    if trainer.is_global_zero:
        save_recipe(recipe, run_dir / "config.yaml")
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=resume_from, weights_only=True)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into exit(1) after saving last.ckpt
            raise KeyboardInterrupt(f"interrupted; run the same command again to resume from {run_dir}") from None
        raise
    if trainer.is_global_zero:
        chosen = Path(best.best_model_path or best.last_model_path)
        export_best_model(model, chosen, run_dir / "model.pt")
        write_metrics(run_dir / "metrics.json", trainer, history, task["monitor"], task["mode"], chosen)
    return run_dir
