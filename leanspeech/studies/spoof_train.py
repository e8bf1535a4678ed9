"""Training of the anti-spoofing study's models (width-noise-injection.md §VI.D).

BCE on the bona-fide logit with the positive (bona fide) class weighted 1.5, AdamW (lr 1e-3, weight
decay 1e-2, widths without decay), batch 32; optional width learning with the penalty β/N·Σλ² from
the first step (phase 2). The dev EER is measured every `eval_every` steps and the model with the
best one is kept ("model selection on the dev set"). A run folder holds `model.pt` (the selected
model) and `metrics.json` (written last: a folder with both is finished and reused, so a re-run
resumes); `branch.pt` keeps the weights and the optimizer state, by parameter name, at step
`branch_at`, where the width-learning runs start from; `progress.pt`, rewritten at every dev
evaluation and removed at the end, lets a killed run go on from there with the same batches and
random numbers, so it ends as an uninterrupted run would.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from leanspeech.compress.width import WidthSchedule, dynamic_widths
from leanspeech.metrics import equal_error_rate
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import save_model
from leanspeech.studies.runs import is_finished
from leanspeech.studies.spoof_data import SpoofCrops
from leanspeech.studies.vad_train import TrainSettings, make_optimizer
from leanspeech.train.batches import endless_batches
from leanspeech.train.progress import load_progress, save_progress

POSITIVE_WEIGHT = 1.5  # bona fide examples are the rarer class (§VI.D)


@torch.no_grad()
def score(model: SpeechModel, data: SpoofCrops, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Bona-fide logits and labels of every crop, in order (eval mode)."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for wav, label in DataLoader(data, batch_size=batch_size):
        logits.append(model.forward_wav(wav))
        labels.append(label)
    model.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def dev_eer(model: SpeechModel, dev: SpoofCrops) -> float:
    return equal_error_rate(*score(model, dev)).eer


def save_branch(model: SpeechModel, optimizer: torch.optim.Optimizer, path: Path) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    state = {names[id(p)]: s for p, s in optimizer.state.items()}
    torch.save({"model": model.state_dict(), "optimizer": state}, path)


def load_branch(model: SpeechModel, optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Weights and AdamW moments of a fixed-width run into a model whose extra keys are its widths."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(blob["model"], strict=False)
    widths = {f"{n}.fraction" for n in dynamic_widths(model)}
    if unexpected or set(missing) - widths:
        raise RuntimeError(f"{path}: does not fit {type(model).__name__} (missing {missing}, unexpected {unexpected})")
    parameters = dict(model.named_parameters())
    for name, state in blob["optimizer"].items():
        optimizer.state[parameters[name]] = state


def train_run(name: str, model: SpeechModel, train: SpoofCrops, dev: SpoofCrops, steps: int, run_dir: Path,
              settings: TrainSettings, eval_every: int, beta: float | None = None, start_from: Path | None = None,
              branch_at: int | None = None) -> dict[str, Any]:
    """Train `steps` batches; `beta` switches width learning on (None: widths frozen at full width);
    `start_from`: a branch.pt to continue from. A killed run goes on from its last dev evaluation
    (`progress.pt`). Returns the metrics of the dev-selected model."""
    if is_finished(run_dir):
        return json.loads((run_dir / "metrics.json").read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    optimizer = make_optimizer(model, settings)
    progress_path = run_dir / "progress.pt"
    done, best, history, spent = 0, None, [], 0.0
    if progress_path.exists():
        done, state = load_progress(progress_path, model, optimizer)
        best, history, spent = state["best"], state["history"], state["seconds"]
    elif start_from is not None:
        load_branch(model, optimizer, start_from)
    schedule = WidthSchedule(model, beta or 0.0, fixed_until=0 if beta is not None else steps)
    positive = torch.tensor(POSITIVE_WEIGHT)
    stream = endless_batches(train, settings.batch_size, settings.seed, settings.num_workers, skip=done)
    started = time.monotonic() - spent
    model.train()
    progress = tqdm(range(done + 1, steps + 1), desc=f"train {name}", unit="step", initial=done, total=steps)
    for step in progress:
        wav, label = next(stream)
        task_loss = F.binary_cross_entropy_with_logits(model.forward_wav(wav), label, pos_weight=positive)
        loss = task_loss + schedule.penalty(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.project()
        if step == branch_at:
            save_branch(model, optimizer, run_dir / "branch.pt")
        if step % eval_every == 0 or step == steps:
            eer = dev_eer(model, dev)
            widths = {n: w.live_units() for n, w in dynamic_widths(model).items()}
            history.append({"step": step, "bce": task_loss.item(), "dev_eer": eer, "widths": widths})
            progress.set_postfix(bce=f"{task_loss.item():.3f}", dev_eer=f"{100 * eer:.1f}%")
            if best is None or eer <= best[0]:  # ties go to the later, (for width learning) smaller model
                best = (eer, step, copy.deepcopy(model.state_dict()))
            save_progress(progress_path, step, model, optimizer, best=best, history=history,
                          seconds=time.monotonic() - started)
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    metrics = {
        "name": name, "steps": steps, "train_seconds": time.monotonic() - started,
        "selected_step": best[1], "dev_eer": best[0], "history": history,
        "live_widths": {n: w.live_units() for n, w in dynamic_widths(model).items()},
    }
    save_model(model, run_dir / "model.pt")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    progress_path.unlink()
    return metrics
