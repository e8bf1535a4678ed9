"""ResNet34 countermeasure: the anti-spoofing baseline of width-noise-injection.md §VI.B.

log-mel (B, 80, T) as a one-channel image → stem Conv2d 3×3 → BatchNorm2d → ReLU → four stacks of
residual blocks (depths 3, 4, 6, 3; channels 32, 64, 128, 256 by default, {5, 9, 17, 42} after the
paper's width learning) → attentive statistics pooling over time → Linear → one logit (bona fide > 0).

Choices the paper leaves open, taken from ResNet [He et al. 2016] as speaker/spoof ResNet34s use it:
- block: Conv3×3 → BN → ReLU → Conv3×3 → BN, plus the skip, then ReLU; a 1×1 Conv → BN projects the
  skip where the shape changes;
- stride 1 in the stem and the first stack, stride 2 (time and frequency) at the start of the others,
  so 80 mel bands leave the last stack as 10 rows; channels × rows are pooled as features;
- front end: FFT 1024, hop 256 (the paper's VAD front end; §VI gives none), 80 bands.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from leanspeech.audio.transforms import LogMel
from leanspeech.models.base import SpeechModel
from leanspeech.nn.pooling import AttentiveStatisticsPooling
from leanspeech.profile.costs import elementwise_cost
from leanspeech.profile.rules import LayerCost
from leanspeech.registry import MODELS

SAMPLE_RATE = 16000  # ASVspoof 2019 LA's rate, the paper's


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(h)) + self.shortcut(x))

    def extra_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        # The residual addition is a tensor op, invisible to the profiler's module hooks.
        return elementwise_cost("add", output.numel())


def residual_stack(in_channels: int, out_channels: int, depth: int, stride: int) -> nn.Sequential:
    blocks = [BasicBlock(in_channels, out_channels, stride)]
    blocks += [BasicBlock(out_channels, out_channels) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


@MODELS.register("spoof_resnet34")
class SpoofResNet34(SpeechModel):
    task = "spoof"

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (3, 4, 6, 3),
        n_mels: int = 80,
        attention_channels: int = 128,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 1024,
        hop_length: int = 256,
    ):
        super().__init__()
        if len(channels) != len(depths):
            raise ValueError(f"channels {list(channels)} and depths {list(depths)} must have the same length")
        self.sample_rate = sample_rate
        self.frontend = LogMel(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.stem = nn.Sequential(
            nn.Conv2d(1, channels[0], 3, padding=1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU()
        )
        stacks, rows, previous = [], n_mels, channels[0]
        for index, (width, depth) in enumerate(zip(channels, depths)):
            stride = 1 if index == 0 else 2
            stacks.append(residual_stack(previous, width, depth, stride))
            rows, previous = (rows - 1) // stride + 1, width  # 3×3 conv, padding 1
        self.stacks = nn.Sequential(*stacks)
        self.pooling = AttentiveStatisticsPooling(previous * rows, attention_channels)
        self.head = nn.Linear(self.pooling.out_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Log-mel (B, n_mels, T) → bona-fide logit (B,)."""
        h = self.stacks(self.stem(x.unsqueeze(1)))
        return self.head(self.pooling(h.flatten(1, 2))).squeeze(-1)
