"""The time-frequency DPRNN speech-enhancement host of dgru-speech-enhancement.md §4.1 (after Luo et al., 2020).

16 kHz, 20 ms frames, 10 ms hop, 320-point FFT → noisy complex spectrum (B, 2, 161, T), real and
imaginary parts → Conv2d 1×1 2 → 64 → four dual-path blocks → Conv2d 1×1 64 → 2: the estimated clean
complex spectrum (complex spectral mapping; `enhance(wav)` inverts it).

What the paper fixes: four dual-path blocks of three GRUs each, input and output 64; complex spectrum
in and out; 0.35 M parameters, GRU 4878.35 M MAC/s, non-GRU 811.02 M MAC/s (Table 1). Twelve GRUs of
64 → 64 stepping once per bin and frame (161 × 100 per second) give the GRU figure, so the blocks run
on the full 161-bin grid without down-sampling.
Choices it leaves open, made here:
- Block (Luo et al.'s layout): intra-frame path = a bidirectional GRU across the 161 bins of a frame
  (two GRUs; non-causal only within a frame) → Linear 128 → 64 → LayerNorm → residual add; inter-frame
  path = a causal GRU across frames for each bin → Linear 64 → 64 → LayerNorm → residual add.
- Encoder and decoder are 1×1 convolutions; the input spectrum is not compressed (the paper's
  complex-spectrum input; a centred STFT with reflect padding, as the other hosts).
- With these sizes the model has 350,530 parameters (0.35 M, Table 1).
`rnn` / `rnn_options` build all twelve GRUs (see enhance_common.build_rnn).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from leanspeech.audio.transforms import ISTFT, CompressedComplexSpectrogram
from leanspeech.models.base import SpeechModel
from leanspeech.models.enhance_common import build_rnn, residual_add_cost
from leanspeech.profile.rules import LayerCost
from leanspeech.registry import MODELS


class DualPathBlock(nn.Module):
    """(B, T, F, C) → (B, T, F, C): a recurrence across the bins of each frame, then across frames per bin."""

    def __init__(self, channels: int, rnn: str, rnn_options: dict[str, Any] | None):
        super().__init__()
        self.intra = build_rnn(rnn, rnn_options, channels, channels, bidirectional=True)
        self.intra_fc = nn.Linear(2 * channels, channels)
        self.intra_norm = nn.LayerNorm(channels)
        self.inter = build_rnn(rnn, rnn_options, channels, channels)
        self.inter_fc = nn.Linear(channels, channels)
        self.inter_norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, bins, channels = x.shape
        intra, _ = self.intra(x.flatten(0, 1))
        x = x + self.intra_norm(self.intra_fc(intra)).reshape(batch, frames, bins, channels)
        inter, _ = self.inter(x.transpose(1, 2).flatten(0, 1))  # no size read, so T stays dynamic in ONNX
        inter = self.inter_norm(self.inter_fc(inter)).unflatten(0, (-1, bins))
        return x + inter.transpose(1, 2)

    def extra_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        return residual_add_cost(output, adds=2)


@MODELS.register("enhance_dprnn")
class EnhanceDPRNN(SpeechModel):
    task = "enhance"

    def __init__(
        self,
        channels: int = 64,
        blocks: int = 4,
        rnn: str = "gru",
        rnn_options: dict[str, Any] | None = None,
        sample_rate: int = 16000,
        n_fft: int = 320,
        hop_length: int = 160,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        # exponent 1 = the plain spectrum; reflect padding of n_fft / 2 + uncentred STFT = a centred STFT
        self.frontend = CompressedComplexSpectrogram(n_fft, hop_length, exponent=1.0, pad=n_fft // 2)
        self.encoder = nn.Conv2d(2, channels, 1)
        self.blocks = nn.ModuleList(DualPathBlock(channels, rnn, rnn_options) for _ in range(blocks))
        self.decoder = nn.Conv2d(channels, 2, 1)
        self.istft = ISTFT(n_fft, hop_length)

    def forward(self, spectrum: Tensor) -> Tensor:
        """Noisy spectrum (B, 2, F, T), real then imaginary → estimated clean spectrum (B, 2, F, T)."""
        x = self.encoder(spectrum).permute(0, 3, 2, 1)  # (B, T, F, C)
        for block in self.blocks:
            x = block(x)
        return self.decoder(x.permute(0, 3, 2, 1))

    def enhance(self, wav: Tensor) -> Tensor:
        """Noisy waveform (B, T) → enhanced waveform (B, T)."""
        estimate = self(self.features(wav))
        return self.istft(torch.complex(estimate[:, 0], estimate[:, 1]), length=wav.shape[-1])
