"""Frame hints: the teacher's hidden frames as a second distillation target, beside its score.

The paper distils one number per clip (distill-prune-sqa.md §IV-B). A quality student that scores 2 s
windows then learns each window from a label the teacher gave the whole clip. Hints add, per 20 ms
frame, the teacher's transformer output (`QualityStudent.hidden`: Distill-MOS's 200 features, computed
once on the whole clip): the student's own hidden frames, through a linear map that training discards,
are pulled towards them (FitNets, Romero et al. 2015; frame-level, as DistilHuBERT distils speech models).
On the 1080-minute corpus (recipes/sqa/xlarge-hints.yaml against xlarge-hints-control.yaml) hints raised
xs's agreement with the teacher within each held-out speaker from 0.88 / 0.75 to 0.92 / 0.85, at no cost
at inference (README, "Distillation and pruning for speech quality").

Teachers: Distill-MOS (its published weights in the `xl` student, which is its architecture) or any
saved leanspeech model with `hidden`. Frames are cached per clip in chunk files, memory-mapped back
(`cached_teacher_frames`, data/tensor_cache.py), so a killed run computes only what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.data.tensor_cache import cached_tensors
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model

FRAME_STRIDE = 2  # feature frames per hidden frame: the students' last conv block has time stride 2


def hint_teacher(teacher: str | Path) -> SpeechModel:
    """The model whose hidden frames are the hints: "distill-mos" (its weights in an xl student), or a saved
    leanspeech model with a `hidden` method (e.g. a quality student); an XLS-R-SQA teacher has no frames on
    the students' time grid."""
    if str(teacher) == "distill-mos":
        from leanspeech.models.quality_student import QualityStudent, load_distill_mos_weights
        from leanspeech.peers.distill_mos import DistillMos

        model = load_distill_mos_weights(QualityStudent("xl"), DistillMos().model)
    else:
        model = load_model(teacher)
    if not callable(getattr(model, "hidden", None)):
        raise LeanspeechError(f"{teacher}: {type(model).__name__} has no hidden frames to give as hints")
    return model.eval()


@torch.no_grad()
def teacher_frames(teacher: nn.Module, features: list[Tensor]) -> list[Tensor]:
    """The teacher's hidden frames (frames / 2, features) of each whole clip, in float16 (half the memory;
    hints are targets, not weights)."""
    return [teacher.hidden(clip[None])[0].half() for clip in features]


def cached_teacher_frames(make_teacher: Callable[[], nn.Module], features: list[Tensor], keys: list[str],
                          folder: Path, chunk: int = 250) -> list[Tensor]:
    """`teacher_frames` of each clip, memory-mapped from `folder` (data/tensor_cache.py) where an earlier
    run saved them and computed for the rest, a chunk at a time, by the teacher `make_teacher()` builds
    (only when a clip is missing)."""
    teacher = None

    def compute(part: list[int]) -> list[Tensor]:
        nonlocal teacher
        if teacher is None:  # built only when some clip lacks its frames
            teacher = make_teacher()
        return teacher_frames(teacher, [features[i] for i in part])

    return cached_tensors(folder, keys, compute, recipe={"frames": "teacher hidden, float16"}, chunk=chunk,
                          desc="teacher frames")


def hint_windows(frames: list[Tensor], index: list[int], starts: list[int], window: int) -> tuple[Tensor, Tensor]:
    """The teacher frames under feature windows `starts[k]`…+`window` of clips `index[k]` (starts are multiples
    of FRAME_STRIDE): (B, window / 2, features) in float32, and a (B, window / 2) mask that is False where a
    window runs past its clip's end (zero-padded features; no hint there)."""
    length = window // FRAME_STRIDE
    targets, masks = [], []
    for i, start in zip(index, starts):
        part = frames[i][start // FRAME_STRIDE:start // FRAME_STRIDE + length].float()
        targets.append(F.pad(part, (0, 0, 0, length - len(part))))
        masks.append(torch.arange(length) < len(part))
    return torch.stack(targets), torch.stack(masks)


class FrameHintLoss(nn.Module):
    """MSE between a linear map of the student's hidden frames and the teacher's, each teacher feature
    standardised (mean and standard deviation over the training clips' frames), so that no feature's scale
    decides the loss. The map is trained with the student and thrown away after."""

    def __init__(self, student_features: int, teacher_frames: list[Tensor]):
        super().__init__()
        sample = torch.cat([f.float() for f in teacher_frames[::max(1, len(teacher_frames) // 500)]])
        self.register_buffer("mean", sample.mean(0))
        self.register_buffer("std", sample.std(0).clamp_min(1e-5))
        self.map = nn.Linear(student_features, sample.shape[1])

    def forward(self, hidden: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        if not mask.any():
            return hidden.new_zeros(())
        error = (self.map(hidden) - (targets - self.mean) / self.std).pow(2).mean(-1)
        return error[mask].mean()
