"""Training of the enhancement study's hosts: mixtures made on the fly, a spectral loss, Adam.

The loss compares the model's output on the noisy features with the clean features (`model.features`
of both waveforms): for the GRU host, enhanced vs clean magnitude (the paper's magnitude MSE).
A run folder holds `model.pt` (the `save_model` format) and `metrics.json`, written last; a folder
with both is finished and is reused as it is, so re-running the study resumes after the last
finished run; an unfinished one goes on from its last `progress.pt` (every `CHECKPOINT_EVERY`
steps) as if it had not stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm import tqdm

from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model
from leanspeech.studies.runs import is_finished
from leanspeech.train.losses import LOSSES
from leanspeech.train.progress import CHECKPOINT_EVERY, load_progress, save_progress


def train_enhancer(
    name: str,
    model: SpeechModel,
    batches: Callable[[int], Iterator[dict[str, torch.Tensor]]],
    steps: int,
    lr: float,
    run_dir: Path,
    loss: str = "magnitude_mse",
    seed: int = 0,
) -> dict[str, Any]:
    """Train `model` (already holding its starting weights) for `steps` batches into `run_dir`;
    `batches(skip)`: the run's batch stream from batch `skip` on (`endless_batches`)."""
    if is_finished(run_dir):
        return json.loads((run_dir / "metrics.json").read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    loss_fn = LOSSES.build(loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    progress_path = run_dir / "progress.pt"
    done, losses, spent = 0, [], 0.0
    if progress_path.exists():
        done, state = load_progress(progress_path, model, optimizer)
        losses, spent = state["losses"], state["seconds"]
    stream = batches(skip=done)
    model.train()
    started = time.monotonic() - spent
    progress = tqdm(range(done, steps), desc=f"train {name}", unit="step", initial=done, total=steps)
    for step in progress:
        batch = next(stream)
        with torch.no_grad():
            target = model.features(batch["clean"])
        value = loss_fn(model.forward_wav(batch["mixture"]), target)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # D-GRU's hard selection can spike gradients
        optimizer.step()
        losses.append(value.item())
        if step % 10 == 0:
            progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
        if (step + 1) % CHECKPOINT_EVERY == 0:
            # the last 50 losses are all the metrics read: the checkpoint does not grow with the run
            save_progress(progress_path, step + 1, model, optimizer, losses=losses[-50:],
                          seconds=time.monotonic() - started)
    model.eval()
    tail = losses[-50:]
    metrics = {"name": name, "steps": steps, "lr": lr, "loss": loss,
               "train_seconds": time.monotonic() - started, "final_loss": sum(tail) / max(1, len(tail))}
    save_model(model, run_dir / "model.pt")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))  # written last: marks the run finished
    progress_path.unlink(missing_ok=True)
    return metrics


def load_run(run_dir: Path) -> SpeechModel:
    return load_model(run_dir / "model.pt")
