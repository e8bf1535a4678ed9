"""Training of the quality students (distill-prune-sqa.md §IV-B, §V-A): MSE, AdamW, best validation MSE.

A plain loop rather than the Lightning engine: each batch mixes two pools with their own targets
(unlabeled clips with teacher labels, labeled clips with mapped ground truth, `round(p · batch)` of the
latter) and validation runs every `val_every` steps, as in the paper; features are computed once.
A killed run goes on from its last validation (`progress.pt`) as if it had not stopped.
Labeled clips are drawn with `capped_weights`, so a dataset larger than `dataset_cap` is down-weighted.

Features are computed once per clip, whole (studies/sqa.py). Each training example is a random window
of `window_seconds` cut from its clip as a tensor slice: short windows make a step cheap (the
convolutions at full frequency resolution cost in proportion to the frames), and the random window adds
variety to a small corpus. A clip's prediction is the mean over windows that overlap by `score_overlap`
(default 50 %, as Distill-MOS scores audio longer than its crop; 0 nearly halves the scoring cost and,
measured on the scale study's students, keeps their agreement with the teacher).

BatchNorm statistics are re-estimated on training batches (`precise_batchnorm`) before each validation:
after a few hundred steps the running averages still drift from batch to batch, and the shifted output
made validation MSE jump by up to 10x. `lr_schedule: cosine` decays the learning rate to 0 over the run.
`select_by: pcc` keeps the checkpoint whose validation scores correlate best with the targets instead of
the one with the lowest MSE: with one dev speaker (the offline corpus), MSE also measures how well a
checkpoint's level happens to fit that speaker, and picked early, less correlated checkpoints.
`hint_weight` > 0 adds frame hints (compress/frame_hints.py) for clips whose pool carries teacher frames:
the loss is then MSE(score) + hint_weight · MSE(hidden frames); windows start on even frames to align.
`loss_scale: logit` takes the score's MSE between the student's logits and the target's (the inverse of
1 + 4·sigmoid), as distillation usually matches logits: the sigmoid flattens an MOS error's gradient
towards both ends of the scale, where the students compress the teacher's range.
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
from torch.optim.swa_utils import update_bn
from tqdm import tqdm

from leanspeech.compress.teachers import grid_search_scale_shift, logits_to_mos, mos_to_logits
from leanspeech.compress.frame_hints import FRAME_STRIDE, FrameHintLoss, hint_windows
from leanspeech.data.windows import cut_windows, overlapping_windows, random_starts
from leanspeech.metrics import pcc
from leanspeech.models.quality_student import QualityStudent
from leanspeech.train.progress import load_progress, save_progress

FRAME_RATE = 100  # feature frames per second: hop 160 at 16 kHz (models/quality_student.py)
LR_SCHEDULES = ("constant", "cosine")
SELECTION_METRICS = ("mse", "pcc")
LOSS_SCALES = ("mos", "logit")


@dataclass
class StudentTraining:
    steps: int = 3000
    batch_size: int = 20  # the paper's
    lr: float = 1e-3  # the paper uses 2e-5 over 250 k steps; short runs need more
    lr_schedule: str = "constant"  # or "cosine": decays to 0 over `steps`
    select_by: str = "mse"  # the kept checkpoint: lowest validation MSE (the paper's), or highest PCC ("pcc")
    weight_decay: float = 0.01
    val_every: int = 100
    dataset_cap: int = 7000  # labeled datasets above this many clips are sampled as if they had this many
    window_seconds: float = 4.0  # a random window per training example; predictions average windows
    score_overlap: float = 0.5  # the share of a window that consecutive scoring windows have in common
    precise_bn_batches: int = 10  # training batches that re-estimate BatchNorm statistics before validation
    hint_weight: float = 0.0  # frame hints' share of the loss (0: the paper's score-only distillation)
    loss_scale: str = "mos"  # the score's MSE between MOS (the paper's) or between logits (then so is train_mse)

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.select_by not in SELECTION_METRICS:
            raise ValueError(f"select_by must be one of {SELECTION_METRICS}, got {self.select_by!r}")
        if not 0 <= self.score_overlap < 1:
            raise ValueError(f"score_overlap must be in [0, 1), got {self.score_overlap}")
        if self.loss_scale not in LOSS_SCALES:
            raise ValueError(f"loss_scale must be one of {LOSS_SCALES}, got {self.loss_scale!r}")
        if self.hint_weight < 0:
            raise ValueError(f"hint_weight must be ≥ 0, got {self.hint_weight}")
        if self.hint_weight and self.window_frames % FRAME_STRIDE:
            raise ValueError(f"frame hints need windows of a multiple of {FRAME_STRIDE} frames (10 ms each), "
                             f"got window_seconds {self.window_seconds}")

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * FRAME_RATE)

    @property
    def score_hop_frames(self) -> int:
        return max(1, round(self.window_frames * (1 - self.score_overlap)))

    def score(self, model: torch.nn.Module, features: list[Tensor]) -> Tensor:
        """One score per clip, on this training's windows and scoring overlap (`predict`)."""
        return predict(model, features, self.window_frames, self.score_hop_frames)


@dataclass
class Pool:
    """Features of each clip ((channels, frequencies, frames), lengths may differ), one target each, the
    dataset name of each clip and, for frame hints, the teacher's hidden frames of each clip."""

    features: list[Tensor]
    targets: Tensor
    datasets: list[str]
    hints: list[Tensor] | None = None

    def __len__(self) -> int:
        return len(self.targets)


def capped_weights(datasets: list[str], cap: int) -> Tensor:
    """Per-clip sampling weights: each dataset's clips share min(n, cap) units, so a dataset above the
    cap is drawn as often as one of exactly `cap` clips (the paper's sampling limit)."""
    counts: dict[str, int] = {}
    for name in datasets:
        counts[name] = counts.get(name, 0) + 1
    return torch.tensor([min(counts[d], cap) / counts[d] for d in datasets], dtype=torch.float64)


def fit_label_map(labels: Tensor, teacher: Tensor) -> tuple[float, float, float]:
    """(scale, shift, mse): 1 + 4·sigmoid(scale · logit(label) + shift) ≈ teacher, by grid search: labels
    mapped into the teacher's scale in the logit domain, as the paper maps per-dataset labels."""
    return grid_search_scale_shift(mos_to_logits(labels), teacher, torch.linspace(0.05, 3.0, 119),
                                   torch.linspace(-4, 4, 161))


def map_labels(labels: Tensor, scale: float, shift: float) -> Tensor:
    return logits_to_mos(scale * mos_to_logits(labels) + shift)


class MixedBatches:
    """A batch sampler: `round(mix · batch)` labeled clips (capped weights), the rest unlabeled (uniform),
    each a random window of `frames`; every draw comes from `generator` (saved with a run's progress).
    A batch is (windows, targets), and where a pool has hints, also the hint targets and their mask
    (`hint_windows`; all False for the clips of a pool without)."""

    def __init__(self, unlabeled: Pool | None, labeled: Pool | None, mix: float, batch_size: int, cap: int,
                 generator: torch.Generator, frames: int):
        self.n_labeled = round(mix * batch_size) if unlabeled is not None else batch_size
        if self.n_labeled and (labeled is None or not len(labeled)):
            raise ValueError("a labeled mix-in fraction needs labeled clips")
        self.weights = capped_weights(labeled.datasets, cap) if labeled is not None and len(labeled) else None
        self.unlabeled, self.labeled, self.batch_size = unlabeled, labeled, batch_size
        self.generator, self.frames = generator, frames
        self.hinted = next((p for p in (unlabeled, labeled) if p is not None and p.hints is not None), None)

    def __call__(self) -> tuple[Tensor, ...]:
        parts = []
        if self.n_labeled:
            index = torch.multinomial(self.weights, self.n_labeled, replacement=True, generator=self.generator)
            parts.append(self._windows(self.labeled, index.tolist()))
        if self.batch_size - self.n_labeled:
            index = torch.randint(len(self.unlabeled), (self.batch_size - self.n_labeled,), generator=self.generator)
            parts.append(self._windows(self.unlabeled, index.tolist()))
        return tuple(torch.cat(column) for column in zip(*parts))

    def _windows(self, pool: Pool, index: list[int]) -> tuple[Tensor, ...]:
        align = FRAME_STRIDE if pool.hints is not None else 1
        starts = random_starts(pool.features, index, self.frames, self.generator, align)
        batch = (cut_windows(pool.features, index, starts, self.frames), pool.targets[index])
        if self.hinted is None:
            return batch
        if pool.hints is None:  # beside a hinted pool: zero targets under all-False masks
            length, features = self.frames // FRAME_STRIDE, self.hinted.hints[0].shape[1]
            return (*batch, torch.zeros(len(index), length, features), torch.zeros(len(index), length, dtype=torch.bool))
        return (*batch, *hint_windows(pool.hints, index, starts, self.frames))


@torch.no_grad()
def predict(model: torch.nn.Module, features: list[Tensor], frames: int, hop: int | None = None,
            clips_per_call: int = 8) -> Tensor:
    """One score per clip: the model's mean over the clip's `overlapping_windows` (`hop` frames apart)."""
    model.eval()
    scores = []
    for i in range(0, len(features), clips_per_call):
        windows = [overlapping_windows(clip, frames, hop) for clip in features[i:i + clips_per_call]]
        flat = model(torch.cat(windows)).float().reshape(-1)
        scores += [part.mean() for part in flat.split([len(w) for w in windows])]
    return torch.stack(scores)


def precise_batchnorm(model: torch.nn.Module, draw: Callable[[], tuple[Tensor, Tensor]], count: int) -> None:
    """BatchNorm running statistics replaced by their plain average over `count` training batches."""
    if count > 0:
        update_bn((draw() for _ in range(count)), model)


def train_student(model: QualityStudent, draw: MixedBatches, val: Pool, settings: StudentTraining, seed: int, name: str,
                  progress: Path | None = None) -> tuple[QualityStudent, dict[str, Any]]:
    """AdamW on MSE for `settings.steps`; returns the model at its best validation MSE (or PCC, `select_by`),
    and its history. `progress`: a checkpoint file, written at every validation and continued from."""
    torch.manual_seed(seed)
    hints = _hint_loss(model, draw, settings)
    parameters = [*model.parameters(), *(hints.parameters() if hints is not None else ())]
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
                 if settings.lr_schedule == "cosine" else None)
    best, best_state, kept, history, losses, hint_losses = -math.inf, copy.deepcopy(model.state_dict()), None, [], [], []
    done, spent = 0, 0.0
    if progress is not None and progress.exists():
        done, state = load_progress(progress, model, optimizer)
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        draw.generator.set_state(state["generator"])
        best, best_state, kept, history = state["best"], state["best_state"], state["kept"], state["history"]
        spent = state["seconds"]
        if hints is not None:
            hints.load_state_dict(state["hints"])
    started = time.monotonic() - spent
    bar = tqdm(range(done + 1, settings.steps + 1), desc=f"training {name}", unit="step", leave=False, initial=done,
               total=settings.steps)
    for step in bar:
        model.train()
        features, targets, *hint_targets = draw()
        hidden = model.hidden(features)
        loss = score_loss = (F.mse_loss(model.head.pooled_logits(hidden), mos_to_logits(targets))
                             if settings.loss_scale == "logit" else F.mse_loss(model.head.mos(hidden), targets))
        if hints is not None:
            hint_loss = hints(hidden, *hint_targets)
            loss = score_loss + settings.hint_weight * hint_loss
            hint_losses.append(hint_loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(score_loss.item())
        if step % settings.val_every == 0 or step == settings.steps:
            precise_batchnorm(model, draw, settings.precise_bn_batches)
            scores = settings.score(model, val.features)
            val_mse = F.mse_loss(scores, val.targets).item()
            val_pcc = pcc(scores.numpy(), val.targets.numpy())
            history.append({"step": step, "train_mse": sum(losses) / len(losses), "val_mse": val_mse, "val_pcc": val_pcc})
            if hint_losses:
                history[-1]["train_hint_mse"] = sum(hint_losses) / len(hint_losses)
            losses, hint_losses = [], []
            bar.set_postfix(mse=f"{val_mse:.3f}", pcc=f"{val_pcc:.3f}")
            merit = val_pcc if settings.select_by == "pcc" else -val_mse
            merit = -math.inf if math.isnan(merit) else merit  # constant scores have no PCC
            if kept is None or merit > best:
                best, best_state, kept = merit, copy.deepcopy(model.state_dict()), history[-1]
            if progress is not None:
                save_progress(progress, step, model, optimizer, generator=draw.generator.get_state(), best=best,
                              best_state=best_state, kept=kept, history=history, seconds=time.monotonic() - started,
                              scheduler=scheduler.state_dict() if scheduler is not None else None,
                              hints=hints.state_dict() if hints is not None else None)
    model.load_state_dict(best_state)
    return model.eval(), {"best_step": kept["step"], "val_mse": kept["val_mse"], "val_pcc": kept["val_pcc"],
                          "train_seconds": time.monotonic() - started,
                          "history": history}


def _hint_loss(model: QualityStudent, draw: MixedBatches, settings: StudentTraining) -> FrameHintLoss | None:
    """The frame-hint loss when `hint_weight` > 0 and a pool of `draw` carries teacher frames, else None."""
    if not settings.hint_weight or draw.hinted is None:
        return None
    return FrameHintLoss(model.hidden_features, draw.hinted.hints)

