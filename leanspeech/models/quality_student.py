"""The convolutional transformer quality students of distill-prune-sqa.md (Distill-MOS's family).

Waveform at 16 kHz → peak normalisation → compressed complex spectrogram (window 320, hop 160, Hann;
real and imaginary parts as 2 channels) → Conv2d 3×3 blocks, each followed by LeakyReLU(0.1), with
stride (frequency, time) = (1, 1) first, (2, 1) after and (2, 2) in the last block (20 ms frames, the
XLS-R frame rate) → `QualityHead`: BatchNorm → Linear to d_model → sinusoidal positions → transformer
encoder → BatchNorm → attention pooling → Linear → sigmoid → 1 + 4·y, a MOS in [1, 5].

`size` picks a preset; explicit `channels`, `d_model`, `heads`, `layers` override it. "xl" is
Distill-MOS's own architecture (4,133,226 parameters), and `load_distill_mos_weights` copies the
published weights into it. `QualityHead` is shared with the XLS-R-SQA teacher (compress/teachers.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from leanspeech.audio.transforms import CompressedComplexSpectrogram, PeakNormalize
from leanspeech.models.base import SpeechModel
from leanspeech.nn.pooling import AttentionPooling
from leanspeech.profile.costs import elementwise_cost
from leanspeech.profile.rules import LayerCost
from leanspeech.registry import MODELS

N_FREQUENCIES = 161  # n_fft 320 → 161 bins
POSITION_PERIOD_FRAMES = 384  # Distill-MOS's crop in frames: its position code divides by log(2 · 384)

# channels per conv block, d_model, attention heads, transformer layers
SIZES: dict[str, tuple[tuple[int, ...], int, int, int]] = {
    "xxs": ((4, 4, 8, 8, 8, 8), 16, 2, 1),
    "xs": ((8, 8, 16, 16, 16, 16), 32, 4, 1),
    "s": ((16, 16, 32, 32, 32, 32), 48, 4, 2),
    "sm": ((24, 24, 48, 48, 48, 48), 64, 4, 3),  # 200,610 parameters: the largest within 1/20 of Distill-MOS
    "m": ((32, 32, 64, 64, 64, 64), 96, 4, 3),
    "l": ((48, 48, 96, 128, 128, 128), 128, 8, 5),
    "xl": ((64, 64, 128, 256, 256, 256), 200, 8, 7),  # Distill-MOS
}


def conv_output_frequencies(n_blocks: int, frequencies: int = N_FREQUENCIES) -> int:
    """Frequency bins after the blocks: kernel 3 without frequency padding, stride 2 from block 2 on."""
    for i in range(n_blocks):
        frequencies = (frequencies - 3) // (2 if i >= 1 else 1) + 1
    return frequencies


def conv_stack(channels: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = len(channels) - 1
    for i, (c_in, c_out) in enumerate(zip((2, *channels), channels)):
        stride = (2 if i >= 1 else 1, 2 if i == last else 1)
        # In place: a fresh 4 MB activation buffer per layer costs more in page faults than the ReLU itself.
        layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=(0, 1)), nn.LeakyReLU(0.1, inplace=True)]
    return nn.Sequential(*layers)


def sinusoidal_positions(frames: int, dim: int, period: int = POSITION_PERIOD_FRAMES) -> Tensor:
    """(frames, dim): sin on even, cos on odd features, wavelengths up to 2π · 2 · period (XLS-R-SQA's code)."""
    position = torch.arange(frames, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(2 * period) / dim))
    angles = position * rate
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :dim]


class SinusoidalPositions(nn.Module):
    """Adds `sinusoidal_positions` to (B, T, dim) for any T."""

    def __init__(self, dim: int, period: int = POSITION_PERIOD_FRAMES):
        super().__init__()
        self.dim = dim
        self.period = period

    def forward(self, x: Tensor) -> Tensor:
        return x + sinusoidal_positions(x.shape[1], self.dim, self.period).to(x)

    def profile_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        return elementwise_cost("add", output.numel())


class QualityHead(nn.Module):
    """Frames (B, T, in_features) → logits (B,); `forward` gives the MOS 1 + 4·sigmoid(logits).

    Two BatchNorms in a row, as in XLS-R-SQA's code that Distill-MOS reuses (the head's own and its
    transformer wrapper's): kept so that published weights load one to one.
    """

    def __init__(self, in_features: int, d_model: int, heads: int, layers: int, dropout: float = 0.0):
        super().__init__()
        self.input_norm = nn.BatchNorm1d(in_features)
        self.projection_norm = nn.BatchNorm1d(in_features)
        self.projection = nn.Linear(in_features, d_model)
        self.positions = SinusoidalPositions(d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.output_norm = nn.BatchNorm1d(d_model)
        self.pool = AttentionPooling(d_model, 2 * d_model)
        self.output = nn.Linear(d_model, 1)
        self.sigmoid = nn.Sigmoid()

    def encode(self, frames: Tensor) -> Tensor:
        """(B, T, in_features) → the transformer's output frames (B, T, d_model), before pooling."""
        x = self.projection_norm(self.input_norm(frames.transpose(1, 2))).transpose(1, 2)
        return self.encoder(self.positions(self.projection(x)))

    def pooled_logits(self, hidden: Tensor) -> Tensor:
        """`encode`'s frames → logits (B,)."""
        x = self.output_norm(hidden.transpose(1, 2)).transpose(1, 2)
        return self.output(self.pool(x)).squeeze(-1)

    def logits(self, frames: Tensor) -> Tensor:
        return self.pooled_logits(self.encode(frames))

    def mos(self, hidden: Tensor) -> Tensor:
        """`encode`'s frames → MOS (B,)."""
        return 1.0 + 4.0 * self.sigmoid(self.pooled_logits(hidden))

    def forward(self, frames: Tensor) -> Tensor:
        return self.mos(self.encode(frames))


@MODELS.register("quality_student")
class QualityStudent(SpeechModel):
    task = "quality"

    def __init__(
        self,
        size: str = "m",
        channels: tuple[int, ...] | None = None,
        d_model: int | None = None,
        heads: int | None = None,
        layers: int | None = None,
        dropout: float = 0.0,
        sample_rate: int = 16000,
    ):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
        preset_channels, preset_d, preset_heads, preset_layers = SIZES[size]
        channels = tuple(channels or preset_channels)
        d_model = d_model or preset_d
        heads = heads or preset_heads
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        if conv_output_frequencies(len(channels)) < 1:
            raise ValueError(f"{len(channels)} conv blocks leave no frequency bins of {N_FREQUENCIES}")
        self.sample_rate = sample_rate
        self.frontend = nn.Sequential(PeakNormalize(), CompressedComplexSpectrogram(320, 160, 0.3, 80))
        self.cnn = conv_stack(channels)
        self.head = QualityHead(
            channels[-1] * conv_output_frequencies(len(channels)), d_model, heads, layers or preset_layers, dropout
        )

    def forward(self, x: Tensor) -> Tensor:
        """Compressed complex spectrogram (B, 2, 161, frames) → MOS (B,)."""
        return self.head.mos(self.hidden(x))

    def hidden(self, x: Tensor) -> Tensor:
        """Compressed complex spectrogram (B, 2, 161, frames) → the transformer's output frames
        (B, ⌈frames / 2⌉, d_model): what frame hints (compress/frame_hints.py) compare across models."""
        # oneDNN runs these few-channel convolutions 1.3-2x faster channels-last on CPU, in training and
        # inference (bench/sqa_student_step.py); same numbers, so published weights still match.
        x = x.contiguous(memory_format=torch.channels_last)
        frames = self.cnn(x).flatten(1, 2).transpose(1, 2)  # (B, T', channels · frequencies)
        return self.head.encode(frames)

    @property
    def hidden_features(self) -> int:
        """Features per frame of `hidden`: d_model."""
        return self.head.projection.out_features

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.cnn if isinstance(m, nn.Conv2d)]

    def shrink_dead_channels(self) -> None:
        """Remove conv channels whose filters are all zero (after channel pruning): a smaller model,
        equal in eval mode. The recorded config follows, so save/load rebuilds the shrunk shape."""
        from leanspeech.compress.prune import shrink_conv_chain  # compress builds on models, not back

        head = self.head
        shrink_conv_chain(self.conv_layers(), [head.input_norm, head.projection_norm, head.projection])
        self._config["channels"] = tuple(conv.out_channels for conv in self.conv_layers())


# Distill-MOS state-dict prefixes → ours (the transformer layers keep their torch names).
_DISTILL_MOS_NAMES = {
    "cnn.cnn.": "cnn.",
    "transformer_pool_attn.norm_input.": "head.input_norm.",
    "transformer_pool_attn.transformer.norm.": "head.projection_norm.",
    "transformer_pool_attn.transformer.linear_proj.": "head.projection.",
    "transformer_pool_attn.transformer.transformer_encoder.": "head.encoder.",
    "transformer_pool_attn.norm_trans.": "head.output_norm.",
    "transformer_pool_attn.pool.linear1.": "head.pool.score.0.",
    "transformer_pool_attn.pool.linear2.": "head.pool.score.2.",
    "transformer_pool_attn.pool.linear3.": "head.output.",
}


def distill_mos_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a Distill-MOS (`ConvTransformerSQAModel`) state dict for `QualityStudent(size="xl")`."""
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in _DISTILL_MOS_NAMES if key.startswith(p)), None)
        if prefix is None:
            if key.endswith(".pe"):  # its fixed position table; ours is computed
                continue
            raise KeyError(f"unexpected Distill-MOS parameter {key!r}")
        renamed[_DISTILL_MOS_NAMES[prefix] + key[len(prefix) :]] = value
    return renamed


def load_distill_mos_weights(student: QualityStudent, distill_mos: nn.Module) -> QualityStudent:
    """Copy the weights of a Distill-MOS model (e.g. the `distill-mos` peer's `.model`) into an xl student."""
    student.load_state_dict(distill_mos_state_dict(distill_mos.state_dict()))
    return student
