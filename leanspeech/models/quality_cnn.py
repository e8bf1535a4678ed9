"""The DNSMOS CNN of bam-qat-sqp.md Table 1: a non-intrusive quality (PESQ / MOS) regressor.

log-power mel, 120 bands, 40 ms window, 50 % overlap (16 kHz: FFT 640, hop 320, no centring, as in
the authors' later code) as a (time × mel) image →
  3× [Conv2d 3×3 "same" → activation → MaxPool 2×2 → Dropout 0.3]  (32, 32, 32 channels)
  Conv2d 3×3 → activation (64 channels) → global max pool (average pool for binary activations)
  → Dense 64 → ReLU → Dense 64 → ReLU → Dense 1 (the ReLUs of the original DNSMOS; Table 1 lists no
  activations for the dense layers).
45,697 parameters, as Table 1 states. For a 9 s clip the input is 449 × 120 frames × bands.

`input_mean` / `input_std` standardise the log-mel inside the model (default: off, the paper's input).
Log-mel values sit near −8 ± 5; a Heaviside right after the first convolution then sees pre-activations
far from 0, where the SuperSpike surrogate is nearly flat, and BAM-QAT stalls (README, speech quality).
The two scalar operations are not counted by the profiler (2 FLOPs per input element, 0.03 % of it).

`activation` names the class used after each convolution: a `torch.nn` class ("ReLU") or one
exported by `leanspeech.nn` (a binary-activation layer), built without arguments. Each is its own
module (`blocks[i].activation`), so a compressor can find and swap it. `binary_weights` builds the
convolutions as `leanspeech.nn.BinaryConv2d` (±sqrt(2/fan_in) weights), so a saved binary-weight model
rebuilds as one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import leanspeech.nn
from leanspeech.audio.transforms import LogMel
from leanspeech.models.base import SpeechModel
from leanspeech.registry import MODELS

GLOBAL_POOLS = {"max": nn.AdaptiveMaxPool2d, "avg": nn.AdaptiveAvgPool2d}


def activation_class(name: str) -> type[nn.Module]:
    """A layer class by name from leanspeech.nn first, then torch.nn."""
    for namespace in (leanspeech.nn, torch.nn):
        cls = getattr(namespace, name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            return cls
    raise ValueError(f"unknown activation {name!r}: not an nn.Module class in leanspeech.nn or torch.nn")


class ConvBlock(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, activation: type[nn.Module], pool: bool, dropout: float,
        conv: type[nn.Conv2d] = nn.Conv2d,
    ):
        super().__init__()
        self.conv = conv(in_channels, out_channels, 3, padding=1)
        self.activation = activation()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.dropout = nn.Dropout(dropout) if pool else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.pool(self.activation(self.conv(x))))


@MODELS.register("dnsmos_cnn")
class QualityCNN(SpeechModel):
    task = "quality"

    def __init__(
        self,
        activation: str = "ReLU",
        pool: str = "max",
        dropout: float = 0.3,
        channels: tuple[int, ...] = (32, 32, 32, 64),
        dense: int = 64,
        n_mels: int = 120,
        sample_rate: int = 16000,
        n_fft: int = 640,
        hop_length: int = 320,
        log_offset: float = 1e-9,
        binary_weights: bool = False,
        input_mean: float = 0.0,
        input_std: float = 1.0,
    ):
        super().__init__()
        if input_std <= 0:
            raise ValueError(f"input_std must be positive, got {input_std}")
        self.input_mean, self.input_std = float(input_mean), float(input_std)
        if pool not in GLOBAL_POOLS:
            raise ValueError(f"pool must be one of {sorted(GLOBAL_POOLS)}, got {pool!r}")
        self.sample_rate = sample_rate
        self.frontend = LogMel(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, center=False,
            log_offset=log_offset,
        )
        act = activation_class(activation)
        conv = leanspeech.nn.BinaryConv2d if binary_weights else nn.Conv2d
        widths = (1, *channels)
        last = len(channels) - 1
        self.blocks = nn.Sequential(
            *(ConvBlock(widths[i], widths[i + 1], act, pool=i < last, dropout=dropout, conv=conv) for i in range(len(channels)))
        )
        self.global_pool = GLOBAL_POOLS[pool](1)
        self.dense = nn.Sequential(
            nn.Linear(channels[-1], dense), nn.ReLU(), nn.Linear(dense, dense), nn.ReLU(), nn.Linear(dense, 1)
        )

    def normalize(self, x: Tensor) -> Tensor:
        """(x − input_mean) / input_std, written as a scalar multiply-add (FX int8 quantizes those)."""
        if (self.input_mean, self.input_std) == (0.0, 1.0):
            return x
        return x * (1.0 / self.input_std) + (-self.input_mean / self.input_std)

    def forward(self, x: Tensor) -> Tensor:
        """Log-mel (B, n_mels, T) → predicted score (B,)."""
        h = self.blocks(self.normalize(x).transpose(1, 2).unsqueeze(1))  # (B, 1, T, mels): Table 1's image
        return self.dense(self.global_pool(h).flatten(1)).squeeze(-1)
