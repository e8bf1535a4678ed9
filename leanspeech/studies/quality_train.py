"""Training of the quality study's regressors on cached log-mel features (bam-qat-sqp.md §3.3).

Adam (lr 1e-3), batch 128, MSE; ReduceLROnPlateau (factor 0.9, patience 5) and early stopping
(patience 25) on the validation MSE, keeping the best epoch's weights. A finished run folder
(`model.pt` + `metrics.json`) is reused as it is, so a re-run of the study resumes after it; an
unfinished one goes on from its last epoch (`progress.pt`) as if it had not stopped.

`crop_seconds` (default None: the whole 9 s segment, as in the paper) trains on one random window of
that length per segment and epoch instead, cut from the cached features as a tensor slice: a step
costs in proportion to the frames, so on a CPU short crops buy many more optimizer steps, and the
random offset adds variety to a small corpus. The CNN ends in a global pool, so validation and test
still score whole segments. A crop longer than the segment is refused. Training runs in channels_last
memory format (faster convolutions on CPU; same arithmetic); the saved model is contiguous again.

`recenter` (default off; not in the paper) adds the mean validation residual to the output bias after
training: inverted dropout (0.3) before max pooling makes train-mode activations larger than
eval-mode ones, and a short run ends with eval-mode predictions offset by up to −0.4 PESQ. PCC is
unchanged by the shift; MSE and the scores `leanspeech score` prints are not.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from leanspeech.data.windows import random_windows
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.studies.runs import train_or_reuse
from leanspeech.train.progress import load_progress, save_progress

FRAME_RATE = 50  # QualityCNN's log-mel frames per second: hop 320 at 16 kHz


@dataclass
class TrainSettings:
    epochs: int = 400
    batch_size: int = 128
    lr: float = 1e-3
    lr_factor: float = 0.9
    lr_patience: int = 5
    stop_patience: int = 25
    crop_seconds: float | None = None  # a random training window per segment; None: the whole segment
    recenter: bool = False  # shift the output bias by the mean validation residual after training

    def crop_frames(self, segment_frames: int) -> int:
        """Frames per training example: the crop, or the whole segment; a crop longer than it is refused."""
        if self.crop_seconds is None:
            return segment_frames
        frames = round(self.crop_seconds * FRAME_RATE)
        if not 1 <= frames <= segment_frames:
            raise LeanspeechError(f"train.crop_seconds {self.crop_seconds:g} gives {frames} frames; a segment has "
                                  f"{segment_frames} ({segment_frames / FRAME_RATE:g} s): use at most that, or null")
        return frames


def training_batch(features: Tensor, index: Tensor, frames: int, generator: torch.Generator) -> Tensor:
    """The chosen segments, whole, or one random window of `frames` of each."""
    if frames == features.shape[-1]:
        return features[index]
    return random_windows(features, index, frames, generator)


@torch.no_grad()
def predict(model: torch.nn.Module, features: Tensor, batch_size: int = 64) -> Tensor:
    """Predictions for (N, n_mels, T) features, in eval mode."""
    model.eval()
    return torch.cat([model(features[i:i + batch_size]).float() for i in range(0, len(features), batch_size)])


def fit(model: SpeechModel, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], settings: TrainSettings,
        seed: int, name: str = "model", progress: Path | None = None) -> tuple[SpeechModel, dict[str, Any]]:
    """Train `model` on (features, labels); returns it at its best validation MSE, and the run's metrics.
    `progress`: a checkpoint file, written after every epoch and continued from when it exists."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.lr_factor, patience=settings.lr_patience)
    features, labels = train
    frames = settings.crop_frames(features.shape[-1])
    model.to(memory_format=torch.channels_last)
    best, best_state, best_epoch, history, spent = math.inf, None, 0, [], 0.0
    if progress is not None and progress.exists():
        _, state = load_progress(progress, model, optimizer)
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        best, best_state, best_epoch, history, spent = (state[k] for k in ("best", "best_state", "best_epoch",
                                                                             "history", "seconds"))
    started = time.monotonic() - spent
    epochs = tqdm(range(len(history), settings.epochs), desc=f"training {name}", unit="epoch", initial=len(history),
                  total=settings.epochs)
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(features), generator=generator)
        losses = []
        for i in range(0, len(order), settings.batch_size):
            batch = order[i:i + settings.batch_size]
            loss = F.mse_loss(model(training_batch(features, batch, frames, generator)), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() * len(batch))
        val_mse = F.mse_loss(predict(model, val[0]), val[1]).item()
        scheduler.step(val_mse)
        history.append({"epoch": epoch, "train_mse": sum(losses) / len(features), "val_mse": val_mse})
        epochs.set_postfix(train=f"{history[-1]['train_mse']:.3f}", val=f"{val_mse:.3f}")
        if val_mse < best:
            best, best_state, best_epoch = val_mse, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= settings.stop_patience:
            break
        if progress is not None:
            save_progress(progress, epoch + 1, model, optimizer, scheduler=scheduler.state_dict(),
                          generator=generator.get_state(), best=best, best_state=best_state, best_epoch=best_epoch,
                          history=history, seconds=time.monotonic() - started)
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    metrics = {"best_epoch": best_epoch, "val_mse": best, "epochs_run": len(history),
               "steps": len(history) * math.ceil(len(features) / settings.batch_size), "crop_frames": frames,
               "train_seconds": time.monotonic() - started, "history": history}
    return model.eval(), metrics


@torch.no_grad()
def recenter(model: torch.nn.Module, val: tuple[Tensor, Tensor]) -> float:
    """Add the mean validation residual (label − prediction) to the last layer's bias; returns it."""
    shift = float((val[1] - predict(model, val[0])).mean())
    model.dense[-1].bias += shift
    return shift


def fit_or_load(folder: Path, build: Callable[[], SpeechModel], train: tuple[Tensor, Tensor],
                val: tuple[Tensor, Tensor], settings: TrainSettings, seed: int, name: str) -> tuple[SpeechModel, dict[str, Any]]:
    """`fit(build(), ...)` saved in `folder`, or the finished run found there."""
    def train_seeded(progress: Path) -> tuple[SpeechModel, dict[str, Any]]:
        torch.manual_seed(seed)  # the initial weights depend on the seed too
        return fit(build(), train, val, settings, seed, name, progress=progress)

    return train_or_reuse(folder, train_seeded)
