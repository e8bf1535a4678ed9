"""A tiny model and a learnable synthetic dataset, registered for the training-engine tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from leanspeech.models.base import SpeechModel
from leanspeech.registry import DATASETS, MODELS


@MODELS.register("test-linear")
class TinyLinear(SpeechModel):
    """x (B, F) → one value per row. `frontend="abs"` makes forward_wav differ from forward."""

    def __init__(self, in_features: int = 8, hidden: int = 0, frontend: str = "none"):
        super().__init__()
        self.frontend = {"none": None, "abs": _Abs()}[frontend]
        width = hidden or in_features
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh()) if hidden else nn.Identity()
        self.head = nn.Linear(width, 1)
        self.phase = "dense"  # switched by the set-attribute callback test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class _Abs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


@MODELS.register("test-needs-width")
class NeedsWidth(TinyLinear):
    def __init__(self, width: int):
        super().__init__(in_features=width)


@DATASETS.register("test-synthetic")
class SyntheticProblem(Dataset):
    """x ~ N(0, I); target = 1[x·w > 0] ("classification") or x·w + 0.1·noise ("regression").
    w is the same for every split; `seed` draws the samples."""

    def __init__(self, size: int = 64, features: int = 8, kind: str = "classification", seed: int = 0,
                 as_tuple: bool = False):
        w = torch.randn(features, generator=torch.Generator().manual_seed(1234))
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, features, generator=generator)
        score = self.x @ w
        if kind == "classification":
            self.y = (score > 0).float()
        else:
            self.y = score + 0.1 * torch.randn(size, generator=generator)
        self.as_tuple = as_tuple

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if self.as_tuple:
            return self.x[i], self.y[i]
        return {"input": self.x[i], "target": self.y[i]}


@DATASETS.register("test-epoch-aware")
class EpochAwareProblem(SyntheticProblem):
    """SyntheticProblem whose items carry the epoch the dataset was told (as MixtureDataset draws per epoch)."""

    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int):
        return {**super().__getitem__(i), "epoch": torch.tensor(self.epoch)}
