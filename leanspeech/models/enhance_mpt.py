"""The MPT speech-enhancement host of dgru-speech-enhancement.md §4.1 (after Chen, Yu & Weng, 2023).

16 kHz, 20 ms frames, 10 ms hop, 320-point FFT → 161-bin noisy magnitude, compressed log(1 + |X|),
zero-padded to 24 bands of 7 bins → a per-band linear embedding of 24 channels → two multi-path
blocks → a per-band decoder → an ideal ratio mask and K = 3 magnitude deep-filtering taps per bin.
Output: the deep-filtered masked magnitude Σ_k c_k(f, t) · (mask · |X|)(f, t − k), rectified.

What the paper fixes: two MPT blocks, each with four GRUs of input 24 and output 48; IRM plus
magnitude deep filtering; 0.28 M parameters, GRU 210.71 M MAC/s and non-GRU 71.61 M MAC/s (Table 1).
Four GRUs of 24 → 48 over 24 positions per frame at 100 frames/s give the GRU figure, hence 24 bands.
Choices it leaves open, made here:
- Bands: 161 bins zero-padded to 168 = 24 × 7, each band embedded by its own Linear(7 → 24)
  (band-split, as in BSRNN), decoded by its own Linear(24 → 128) → Tanh → Linear(128 → 7 · (1 + K)).
- Block: four parallel paths over the (frames × bands) grid, like attention heads: a bidirectional
  GRU across the bands of each frame (two GRUs: low → high and high → low frequency; non-causal only
  within a frame) and two causal GRUs across frames for each band (two heads of one time path). The
  concatenated 4 × 48 outputs → Linear → 24, residual, LayerNorm; then a feed-forward 24 → 128 → ReLU
  → 24, residual, LayerNorm (the transformer layout with GRUs in place of attention).
- Sigmoid mask, Tanh taps, K = 3 (current and two past frames), final ReLU (a magnitude is ≥ 0).
- With these sizes the model has 275,392 parameters (0.28 M, Table 1); the profiler's MAC/s are in the
  tests and the README, next to Table 1's.
`rnn` / `rnn_options` build all eight GRUs (see enhance_common.build_rnn).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from leanspeech.audio.transforms import ISTFT, STFT, LogCompression, PowerSpectrogram
from leanspeech.models.base import SpeechModel
from leanspeech.models.enhance_common import MagnitudeDeepFilter, build_rnn, residual_add_cost
from leanspeech.profile.costs import elementwise_cost
from leanspeech.profile.rules import LayerCost
from leanspeech.registry import MODELS


class MultiPathBlock(nn.Module):
    """(B, T, bands, C) → (B, T, bands, C): frequency and time recurrences in parallel, then a feed-forward."""

    def __init__(self, channels: int, hidden: int, ffn: int, rnn: str, rnn_options: dict[str, Any] | None):
        super().__init__()
        self.frequency = build_rnn(rnn, rnn_options, channels, hidden, bidirectional=True)
        self.time = nn.ModuleList(build_rnn(rnn, rnn_options, channels, hidden) for _ in range(2))
        self.merge = nn.Linear(4 * hidden, channels)
        self.merge_norm = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(nn.Linear(channels, ffn), nn.ReLU(), nn.Linear(ffn, channels))
        self.ffn_norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, bands, _ = x.shape
        across_bands, _ = self.frequency(x.flatten(0, 1))
        paths = [across_bands.reshape(batch, frames, bands, -1)]
        per_band = x.transpose(1, 2).flatten(0, 1)  # (B · bands, T, C); no size read, so T stays dynamic in ONNX
        for rnn in self.time:
            out, _ = rnn(per_band)
            paths.append(out.unflatten(0, (-1, bands)).transpose(1, 2))
        x = self.merge_norm(x + self.merge(torch.cat(paths, dim=-1)))
        return self.ffn_norm(x + self.ffn(x))

    def extra_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        return residual_add_cost(output, adds=2)


@MODELS.register("enhance_mpt")
class EnhanceMPT(SpeechModel):
    task = "enhance"

    def __init__(
        self,
        bands: int = 24,
        channels: int = 24,
        hidden: int = 48,
        blocks: int = 2,
        ffn: int = 128,
        decoder_hidden: int = 128,
        taps: int = 3,
        rnn: str = "gru",
        rnn_options: dict[str, Any] | None = None,
        sample_rate: int = 16000,
        n_fft: int = 320,
        hop_length: int = 160,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.bins = n_fft // 2 + 1
        self.bands = bands
        self.channels = channels
        self.taps = taps
        self.band_width = math.ceil(self.bins / bands)
        self.frontend = PowerSpectrogram(n_fft=n_fft, hop_length=hop_length, power=1.0)
        self.compress = LogCompression(offset=1.0)  # log(1 + |X|)
        self.pad = nn.ZeroPad2d((0, 0, 0, bands * self.band_width - self.bins))
        self.encoder = nn.Conv1d(bands * self.band_width, bands * channels, 1, groups=bands)
        self.blocks = nn.ModuleList(
            MultiPathBlock(channels, hidden, ffn, rnn, rnn_options) for _ in range(blocks)
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(bands * channels, bands * decoder_hidden, 1, groups=bands),
            nn.Tanh(),
            nn.Conv1d(bands * decoder_hidden, bands * self.band_width * (1 + taps), 1, groups=bands),
        )
        self.mask_activation = nn.Sigmoid()
        self.taps_activation = nn.Tanh()
        self.deep_filter = MagnitudeDeepFilter()
        self.output_activation = nn.ReLU()
        self.stft = STFT(n_fft, hop_length)
        self.istft = ISTFT(n_fft, hop_length)

    def mask_and_taps(self, magnitude: Tensor) -> tuple[Tensor, Tensor]:
        """Noisy magnitude (B, F, T) → ratio mask (B, F, T) in (0, 1), deep-filter taps (B, K, F, T)."""
        x = self.encoder(self.pad(self.compress(magnitude)))  # (B, bands · C, T)
        x = x.unflatten(1, (self.bands, self.channels)).permute(0, 3, 1, 2)  # (B, T, bands, C)
        for block in self.blocks:
            x = block(x)
        out = self.decoder(x.permute(0, 2, 3, 1).flatten(1, 2))  # (B, bands · width · (1 + K), T)
        out = out.unflatten(1, (self.bands, 1 + self.taps, self.band_width)).transpose(1, 2).flatten(2, 3)
        out = out[:, :, : self.bins]  # (B, 1 + K, F, T)
        return self.mask_activation(out[:, 0]), self.taps_activation(out[:, 1:])

    def forward(self, magnitude: Tensor) -> Tensor:
        """Noisy magnitude (B, F, T) → enhanced magnitude (B, F, T)."""
        mask, taps = self.mask_and_taps(magnitude)
        return self.output_activation(self.deep_filter(mask * magnitude, taps))

    def extra_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        return elementwise_cost("mul", output.numel())  # mask · |X|

    def enhance(self, wav: Tensor) -> Tensor:
        """Noisy waveform (B, T) → enhanced waveform (B, T): enhanced magnitude with the noisy phase."""
        spec = self.stft(wav)
        magnitude = spec.abs()
        gain = self(magnitude) / magnitude.clamp_min(1e-8)
        return self.istft(spec * gain, length=wav.shape[-1])
