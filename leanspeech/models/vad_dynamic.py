"""DynCRNNVAD: CRNNVAD whose filter bank and convolution learn their widths (width-noise-injection.md §V.B, Fig. 4b).

The fixed mel matrix becomes a DynamicLinear over frequency initialised as that mel matrix, so bands
(highest first) can be removed; the convolution reads the live bands (adaptive input) and learns its
own channel count (dynamic output); the GRU reads the live channels. A ReLU before the log keeps the
learned, noise-injected band energies non-negative (the paper leaves this open; at initialisation it
is the identity, since mel weights and power spectra are ≥ 0).
Train it with `leanspeech.compress.width.WidthSchedule` (the paper: 100 epochs fixed, then 100 with
β = 0.5); `leanspeech.compress.consolidate` then turns it into plain layers with fewer bands.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from leanspeech.models.vad import CRNNVAD
from leanspeech.nn.dynamic import DynamicConv1d, DynamicLinear
from leanspeech.nn.dynamic_adaptive import AdaptiveGRU
from leanspeech.registry import MODELS


class FrequencyLinear(nn.Module):
    """Applies a linear layer over the frequency axis: (B, F, frames) → (B, bands, frames)."""

    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear

    def forward(self, spec: Tensor) -> Tensor:
        return self.linear(spec.transpose(-1, -2)).transpose(-1, -2)


@MODELS.register("dyn_crnn_vad")
class DynCRNNVAD(CRNNVAD):
    def __init__(
        self,
        n_mels: int = 80,
        conv_channels: int = 64,
        gru_hidden: int = 64,
        kernel_size: int = 3,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        min_fraction: float = 0.0625,
    ):
        super().__init__(n_mels, conv_channels, gru_hidden, kernel_size, sample_rate, n_fft, hop_length)
        mel = self.frontend.filterbank.matrix
        bands = DynamicLinear(mel.shape[1], n_mels, bias=False, min_fraction=min_fraction)
        with torch.no_grad():
            bands.weight.copy_(mel)
        self.frontend.filterbank = FrequencyLinear(bands)
        self.frontend.log = nn.Sequential(nn.ReLU(), self.frontend.log)
        self.conv = DynamicConv1d(n_mels, conv_channels, kernel_size, min_fraction=min_fraction, source=bands)
        self.gru = AdaptiveGRU(self.conv, gru_hidden, batch_first=True)
