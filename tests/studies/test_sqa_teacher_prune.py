"""Pruning the quality teacher into a family: sparsities reached, the teacher left untouched, checkpoints
that reload, and Distill-MOS's own network pruned for real."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from leanspeech.studies.sqa import SqaStudyConfig
from leanspeech.studies.sqa_teacher_prune import TeacherPruning, centre_crops, load_pruned, prune_teacher

RECIPES = __import__("pathlib").Path(__file__).resolve().parents[2] / "recipes" / "sqa"


class TinyTeacher(nn.Module):
    """(B, 64) waveform crops → (B,) scores."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, wavs):
        return self.net(wavs).squeeze(-1)


def zero_fraction(model: nn.Module) -> float:
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return float(sum((w == 0).sum() for w in weights) / sum(w.numel() for w in weights))


def test_teacher_pruned_to_each_sparsity_by_self_distillation(tmp_path):
    torch.manual_seed(0)
    teacher = TinyTeacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    settings = TeacherPruning(sparsities=(0.3, 0.6), step_fraction=0.1, finetune_steps=2, lr=1e-3, batch_size=4)
    points = prune_teacher(teacher, torch.randn(12, 64), settings, tmp_path / "pruned")
    assert [p.sparsity for p in points] == [0.3, 0.6]
    for point in points:
        assert zero_fraction(load_pruned(teacher, point)) == pytest.approx(point.sparsity, abs=0.02)
    assert points[1].sparse_params < points[0].sparse_params <= points[0].dense_params  # a kept weight counts 1.5
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # the teacher is untouched
    again = prune_teacher(teacher, torch.randn(12, 64), settings, tmp_path / "pruned")  # resumes: nothing to do
    assert [p.path for p in again] == [p.path for p in points]


def test_centre_crops_pad_short_and_centre_long_clips():
    crops = centre_crops([np.arange(10, dtype=np.float32), np.arange(3, dtype=np.float32)], 4)
    assert crops.tolist() == [[3, 4, 5, 6], [0, 1, 2, 0]]


def test_recipes_configure_teacher_pruning():
    quick = SqaStudyConfig.from_yaml(RECIPES / "quick.yaml", quick=True)
    assert quick.teacher_prune.sparsities == (0.3, 0.5) and quick.teacher_prune.finetune_steps == 4
    full = SqaStudyConfig.from_yaml(RECIPES / "full.yaml")
    assert (full.teacher_prune.step_fraction, full.teacher_prune.finetune_steps) == (0.005, 30)


@pytest.mark.slow
def test_distill_mos_network_prunes_and_reloads(tmp_path):
    from leanspeech.peers.distill_mos import DistillMos

    peer = DistillMos()
    crops = 0.05 * torch.randn(2, peer.crop_length, generator=torch.Generator().manual_seed(0))
    settings = TeacherPruning(sparsities=(0.2,), step_fraction=0.2, finetune_steps=1, batch_size=2)
    (point,) = prune_teacher(peer.model, crops, settings, tmp_path)
    pruned = load_pruned(peer.model, point)
    assert zero_fraction(pruned) == pytest.approx(0.2, abs=0.05)
    with torch.no_grad():
        assert torch.isfinite(pruned(crops)).all()
