"""Training of the VAD study's models: mixtures on the fly, BCE, AdamW, and the two-phase width schedule.

A run folder holds `model.pt` (the `save_model` format), `state.pt` (optimizer state, for branching
the width-learning runs off the shared fixed-width phase) and `metrics.json`; a folder with all
three is finished and is reused as it is, so re-running the study resumes after the last finished run;
an unfinished one goes on from its last `progress.pt` (every `CHECKPOINT_EVERY` steps) as if it had
not stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from tqdm import tqdm

from leanspeech.compress.width import WidthSchedule, dynamic_widths, parameter_groups
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model
from leanspeech.studies.runs import is_finished
from leanspeech.train.progress import CHECKPOINT_EVERY, load_progress, save_progress


@dataclass
class TrainSettings:
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    width_lr: float = 1e-3  # learning rate of the widths λ (the paper's: the same as the weights)
    num_workers: int = 1
    seed: int = 0


def make_optimizer(model: SpeechModel, settings: TrainSettings) -> torch.optim.AdamW:
    weights, widths = parameter_groups(model, settings.weight_decay)
    return torch.optim.AdamW([weights, {**widths, "lr": settings.width_lr}], lr=settings.lr)


def train_run(
    name: str,
    model: SpeechModel,
    batches: Callable[[int], Iterator[dict[str, torch.Tensor]]],
    steps: int,
    run_dir: Path,
    settings: TrainSettings,
    beta: float | None = None,
    start_from: Path | None = None,
) -> dict[str, Any]:
    """Train `model` for `steps` batches into `run_dir`; `beta` switches width learning on from the
    first step (phase 2), None keeps the widths frozen at full width (phase 1 and fixed models).
    `start_from`: a finished run folder whose weights and optimizer state this run continues.
    `batches(skip)`: the run's batch stream from batch `skip` on (`endless_batches`)."""
    if is_finished(run_dir, also=("state.pt",)):
        return json.loads((run_dir / "metrics.json").read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    optimizer = make_optimizer(model, settings)
    progress_path = run_dir / "progress.pt"
    done, losses, spent = 0, [], 0.0
    if progress_path.exists():
        done, state = load_progress(progress_path, model, optimizer)
        losses, spent = state["losses"], state["seconds"]
    elif start_from is not None:
        state = torch.load(start_from / "state.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    schedule = WidthSchedule(model, beta or 0.0, fixed_until=0 if beta is not None else steps)
    stream = batches(skip=done)
    model.train()
    started = time.monotonic() - spent
    progress = tqdm(range(done, steps), desc=f"train {name}", unit="step", initial=done, total=steps)
    for step in progress:
        batch = next(stream)
        probability = model.forward_wav(batch["mixture"])
        task_loss = F.binary_cross_entropy(probability, batch["labels"])
        loss = task_loss + schedule.penalty(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.project()
        losses.append(task_loss.item())
        if step % 20 == 0:
            widths = {n.removesuffix(".width"): w.live_units() for n, w in dynamic_widths(model).items()}
            progress.set_postfix(bce=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", **widths)
        if (step + 1) % CHECKPOINT_EVERY == 0:
            # the last 50 losses are all the metrics read: the checkpoint does not grow with the run
            save_progress(progress_path, step + 1, model, optimizer, losses=losses[-50:],
                          seconds=time.monotonic() - started)
    model.eval()
    metrics = {
        "name": name,
        "steps": steps,
        "train_seconds": time.monotonic() - started,
        "final_bce": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "relative_widths": {n: float(w.relative().detach()) for n, w in dynamic_widths(model).items()},
        "live_widths": {n: w.live_units() for n, w in dynamic_widths(model).items()},
    }
    save_model(model, run_dir / "model.pt")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, run_dir / "state.pt")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))  # written last: marks the run finished
    progress_path.unlink(missing_ok=True)
    return metrics


def load_run(run_dir: Path) -> SpeechModel:
    return load_model(run_dir / "model.pt")
