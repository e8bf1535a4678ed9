"""What a run leaves behind besides checkpoints: metrics.json (final and best values, epochs, steps,
wall time, kept across resumes) and model.pt, the best weights in the `save_model` format."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from leanspeech.models.base import SpeechModel
from leanspeech.models.io import save_model


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if (torch.is_tensor(v) and v.numel() == 1) or isinstance(v, float)}


class RunHistory(L.Callback):
    """Records the logged values after every validation and training epoch, and the training time.
    Its state travels in the checkpoints, so a resumed run reports the whole run."""

    def __init__(self) -> None:
        self.entries: list[dict[str, float]] = []
        self.seconds_before = 0.0
        self._started = time.monotonic()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()

    def seconds(self) -> float:
        return self.seconds_before + time.monotonic() - self._started

    def _record(self, trainer: L.Trainer, validated: bool) -> None:
        metrics = _floats(trainer.callback_metrics)
        if not validated:  # values of the last validation would be stale here
            metrics = {k: v for k, v in metrics.items() if not k.startswith("val/")}
        entry = {"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics}
        if self.entries and self.entries[-1]["step"] == entry["step"]:
            self.entries[-1].update(entry)  # the epoch-end values of a step just validated
        else:
            self.entries.append(entry)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, validated=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer, validated=False)

    def best(self, monitor: str, mode: str) -> dict[str, float] | None:
        scored = [e for e in self.entries if monitor in e and not math.isnan(e[monitor])]
        if not scored:
            return None
        pick = min if mode == "min" else max
        return pick(scored, key=lambda e: e[monitor])

    def state_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "seconds": self.seconds()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.entries = list(state["entries"])
        self.seconds_before = float(state["seconds"])


def best_weights(model: SpeechModel, checkpoint: Path) -> SpeechModel:
    """A CPU copy of `model` with the model weights of a Lightning checkpoint (loaded weights_only)."""
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = {k.removeprefix("model."): v for k, v in blob["state_dict"].items() if k.startswith("model.")}
    best = copy.deepcopy(model).cpu()
    best.load_state_dict(weights)
    return best


def export_best_model(model: SpeechModel, checkpoint: Path, path: Path) -> Path:
    """Save `model` with the weights of a Lightning checkpoint as a `save_model` file."""
    return save_model(best_weights(model, checkpoint), path)


def write_metrics(
    path: Path, trainer: L.Trainer, history: RunHistory, monitor: str, mode: str, best_checkpoint: Path
) -> dict[str, Any]:
    summary = {
        "monitor": monitor,
        "mode": mode,
        "best": history.best(monitor, mode),
        "final": _floats(trainer.callback_metrics),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "wall_seconds": round(history.seconds(), 3),
        "stopped_early": bool(trainer.should_stop and trainer.early_stopping_callback is not None
                              and trainer.early_stopping_callback.stopped_epoch > 0),
        "best_checkpoint": str(best_checkpoint),
        "history": history.entries,
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
