"""Learned pooling over time: a sequence of frames → one vector per clip.

`attention_pool` / `AttentionPooling`: a softmax over time of an MLP score, then the weighted mean
(Distill-MOS's head: MLP 200→400→1). Frames are the last-but-one axis: (B, T, D), as transformers give.

`attentive_statistics_pool` / `AttentiveStatisticsPooling`: Okabe et al. 2018 in the ECAPA-TDNN form,
a per-channel softmax over time, then the weighted mean and standard deviation concatenated.
Channels first: (B, C, T), as convolutions give. With `global_context`, the attention also sees the
clip's plain mean and std, so a frame is weighed relative to the whole clip.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

STD_FLOOR = 1e-12  # keeps sqrt differentiable where a channel is constant over time


def attention_pool(x: Tensor, scores: Tensor) -> Tensor:
    """x (B, T, D), scores (B, T, 1) → (B, D): the softmax(scores over T)-weighted mean of x."""
    weights = torch.softmax(scores, dim=1)
    return (weights * x).sum(dim=1)


def weighted_mean_std(x: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, C, T), weights (B, C or 1, T) summing to 1 over T → mean and std, each (B, C)."""
    mean = (weights * x).sum(dim=-1)
    variance = (weights * (x - mean.unsqueeze(-1)).pow(2)).sum(dim=-1)
    return mean, variance.clamp_min(STD_FLOOR).sqrt()


def attentive_statistics_pool(x: Tensor, scores: Tensor) -> Tensor:
    """x (B, C, T), scores (B, C, T) → (B, 2C): [mean, std] weighted by softmax(scores over T)."""
    mean, std = weighted_mean_std(x, torch.softmax(scores, dim=-1))
    return torch.cat([mean, std], dim=1)


class AttentionPooling(nn.Module):
    """(B, T, dim) → (B, dim). Score MLP dim → hidden → 1 with `activation` between."""

    def __init__(self, dim: int, hidden: int, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), activation(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return attention_pool(x, self.score(x))


class AttentiveStatisticsPooling(nn.Module):
    """(B, channels, T) → (B, 2·channels): attention-weighted mean and std per channel.

    Attention: Conv1d(k=1) → ReLU → BatchNorm1d → Tanh → Conv1d(k=1) to one score per channel and frame.
    """

    def __init__(self, channels: int, attention_channels: int = 128, global_context: bool = True):
        super().__init__()
        self.channels = channels
        self.global_context = global_context
        in_channels = 3 * channels if global_context else channels
        self.attention = nn.Sequential(
            nn.Conv1d(in_channels, attention_channels, kernel_size=1),
            nn.ReLU(),
            nn.BatchNorm1d(attention_channels),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, kernel_size=1),
        )

    @property
    def out_features(self) -> int:
        return 2 * self.channels

    def forward(self, x: Tensor) -> Tensor:
        context = x
        if self.global_context:
            mean = x.mean(dim=-1, keepdim=True)
            std = (x - mean).pow(2).mean(dim=-1, keepdim=True).clamp_min(STD_FLOOR).sqrt()
            context = torch.cat([x, mean.expand_as(x), std.expand_as(x)], dim=1)
        return attentive_statistics_pool(x, self.attention(context))
