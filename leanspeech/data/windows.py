"""Windows cut from feature clips along their last (frame) axis: a random one per training example, or
overlapping ones that cover a clip for scoring. The quality studies train on short windows of whole-clip
features (studies/sqa_train.py, studies/quality_train.py) because a step costs in proportion to frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def padded(clip: Tensor, frames: int) -> Tensor:
    """A clip shorter than one window, zero-padded at the end to the window; a longer one as it is (a
    view: F.pad would copy the whole clip, and read all of a memory-mapped one, for every window)."""
    return clip if clip.shape[-1] >= frames else F.pad(clip, (0, frames - clip.shape[-1]))


def random_starts(features: list[Tensor], index: list[int], frames: int, generator: torch.Generator,
                  align: int = 1) -> list[int]:
    """A random window start in each chosen clip, a multiple of `align` (a clip shorter than the window: 0)."""
    return [align * int(torch.randint(max(0, features[i].shape[-1] - frames) // align + 1, (), generator=generator))
            for i in index]


def cut_windows(features: list[Tensor], index: list[int], starts: list[int], frames: int) -> Tensor:
    """(len(index), channels, frequencies, frames): the window at `starts[k]` of clip `index[k]` (one copy)."""
    return torch.stack([padded(features[i], frames)[..., s:s + frames] for i, s in zip(index, starts)])


def random_windows(features: list[Tensor], index: Tensor, frames: int, generator: torch.Generator) -> Tensor:
    """(len(index), channels, frequencies, frames): a random window of each chosen clip (slices, one copy)."""
    index = index.tolist()
    return cut_windows(features, index, random_starts(features, index, frames, generator), frames)


def window_starts(length: int, frames: int, hop: int) -> list[int]:
    """Starts of windows `hop` apart over `length` frames, the last window ending at the end (a length
    shorter than one window: one window, at 0)."""
    starts = list(range(0, max(1, length - frames + 1), max(1, hop)))
    if length > frames and starts[-1] != length - frames:
        starts.append(length - frames)
    return starts


def overlapping_windows(clip: Tensor, frames: int, hop: int | None = None) -> Tensor:
    """(K, channels, frequencies, frames): windows `hop` frames apart (default frames // 2), the last one
    ending at the clip's end, channels-last (the students' layout: their forward then copies nothing)."""
    clip = padded(clip, frames)
    starts = window_starts(clip.shape[-1], frames, hop or frames // 2)
    windows = torch.empty((len(starts), *clip.shape[:-1], frames), dtype=clip.dtype,
                          memory_format=torch.channels_last)
    for window, start in zip(windows, starts):
        window.copy_(clip[..., start:start + frames])
    return windows
