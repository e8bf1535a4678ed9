"""Pruning the teacher itself into a family (distill-prune-sqa.md §III-C, the part that runs offline).

The teacher's own network (Distill-MOS's, from its wheel) is pruned by `compress.prune` — first-order
Taylor importance by default, fine-tuning between steps — on the study's unlabeled training clips, with
the unpruned teacher's predictions as targets (self-distillation: no labels needed, and a pruned
teacher is judged by how well it keeps the teacher's judgement). Each clip is one centre crop of the
teacher's input length, its target computed once. A checkpoint is saved per sparsity and the run
resumes (compress.prune's state file); each pruned teacher then scores the test clips exactly as the
teacher does (its own crops and averaging).

Distill-MOS takes only fixed 7.68 s crops, so a fine-tuning step costs ~1.8 s at batch 2 on one core:
the paper's schedule (0.5 % per step, 30 steps between) is the full recipe's; the quick one prunes in
coarser steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from leanspeech.compress.prune import PruneConfig, PrunePoint, load_checkpoint_state, prune_model


@dataclass
class TeacherPruning:
    sparsities: tuple[float, ...] = ()  # empty: the teacher is not pruned
    criterion: str = "taylor"
    step_fraction: float = 0.005  # the paper's 0.5 % of the weights per step
    finetune_steps: int = 30
    lr: float = 2e-5
    batch_size: int = 2
    max_clips: int = 200  # training crops (one per unlabeled clip) held in memory

    def prune_config(self) -> PruneConfig:
        return PruneConfig(self.criterion, self.step_fraction, self.finetune_steps, self.lr, sparsities=self.sparsities)


def crop_batches(network: nn.Module, crops: Tensor, batch_size: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled (crops, targets) batches, the targets `network`'s predictions, computed when the first
    batch is asked for (a resumed run with nothing left to prune never runs the teacher)."""
    targets = teacher_targets(network, crops)
    generator = torch.Generator().manual_seed(seed)
    while True:
        for index in torch.randperm(len(crops), generator=generator).split(batch_size):
            yield crops[index], targets[index]


def teacher_targets(network: nn.Module, crops: Tensor, batch_size: int = 8) -> Tensor:
    """The unpruned network's prediction for every crop (eval mode, computed once)."""
    network.eval()
    with torch.no_grad():
        return torch.cat([network(chunk).reshape(-1) for chunk in
                          tqdm(crops.split(batch_size), desc="teacher targets", unit="batch", leave=False)])


def prune_teacher(network: nn.Module, crops: Tensor, settings: TeacherPruning, out_dir: str | Path,
                  seed: int = 0) -> list[PrunePoint]:
    """A pruned copy of `network` (crops (B, samples) → scores (B,)) at each of `settings.sparsities`,
    saved in `out_dir`; `network` itself is left as it was."""
    pruned = copy.deepcopy(network)
    loss: Callable[[nn.Module, tuple[Tensor, Tensor]], Tensor] = lambda m, b: F.mse_loss(m(b[0]).reshape(-1), b[1])  # noqa: E731
    return prune_model(pruned, loss, crop_batches(network, crops, settings.batch_size, seed), settings.prune_config(),
                       out_dir)


def load_pruned(network: nn.Module, point: PrunePoint) -> nn.Module:
    """A copy of `network` with the weights of one pruned checkpoint (saved by compress.prune), in eval mode."""
    pruned = copy.deepcopy(network)
    pruned.load_state_dict(load_checkpoint_state(point.path))
    return pruned.eval()


def centre_crops(wavs: list[np.ndarray], length: int) -> Tensor:
    """One crop of `length` samples from the centre of each waveform (zero-padded when shorter)."""
    out = torch.zeros(len(wavs), length)
    for i, wav in enumerate(wavs):
        start = max(0, (len(wav) - length) // 2)
        piece = torch.from_numpy(np.asarray(wav[start:start + length], dtype=np.float32))
        out[i, :len(piece)] = piece
    return out
