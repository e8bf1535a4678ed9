"""The GRU speech-enhancement host of dgru-speech-enhancement.md §4.1 (the model D-GRU is shown on).

16 kHz, 20 ms frames, 10 ms hop, 320-point FFT → 161-bin noisy magnitude →
FC 161→320 → ReLU → two recurrent layers of 320 → FC 320→161 → Sigmoid: an ideal ratio mask, applied
to the noisy magnitude. `enhance(wav)` puts the noisy phase back and inverts the STFT.
1.34 M parameters, as the paper's Table 1 states (1,336,161 with PyTorch's two GRU bias vectors).

Choices the paper leaves open: the input is compressed with log(1 + |X|) (a raw magnitude spans
orders of magnitude) and the first FC is followed by a ReLU. The mask multiplies the uncompressed
magnitude, so `forward` returns the enhanced magnitude the paper's MSE loss compares.

`rnn` names the recurrent layer: "gru", "lstm", or a class exported by `leanspeech.nn` (e.g. "dgru"),
built as cls(input_size, hidden_size, num_layers=2, batch_first=True, **rnn_options) and called like
nn.GRU (returns (output, state)).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from leanspeech.audio.transforms import ISTFT, STFT, LogCompression, PowerSpectrogram
from leanspeech.models.base import SpeechModel
from leanspeech.models.enhance_common import rnn_class
from leanspeech.profile.costs import elementwise_cost
from leanspeech.profile.rules import LayerCost
from leanspeech.registry import MODELS


@MODELS.register("enhance_gru")
class EnhanceGRU(SpeechModel):
    task = "enhance"

    def __init__(
        self,
        hidden: int = 320,
        num_layers: int = 2,
        rnn: str = "gru",
        rnn_options: dict[str, Any] | None = None,
        sample_rate: int = 16000,
        n_fft: int = 320,
        hop_length: int = 160,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        bins = n_fft // 2 + 1
        self.frontend = PowerSpectrogram(n_fft=n_fft, hop_length=hop_length, power=1.0)
        self.compress = LogCompression(offset=1.0)  # log(1 + |X|)
        self.input_fc = nn.Linear(bins, hidden)
        self.input_activation = nn.ReLU()
        self.rnn = rnn_class(rnn)(hidden, hidden, num_layers=num_layers, batch_first=True, **(rnn_options or {}))
        self.mask_fc = nn.Linear(hidden, bins)
        self.mask_activation = nn.Sigmoid()
        self.stft = STFT(n_fft, hop_length)
        self.istft = ISTFT(n_fft, hop_length)

    def mask(self, magnitude: Tensor) -> Tensor:
        """Noisy magnitude (B, F, T) → ratio mask in (0, 1), (B, F, T)."""
        h = self.input_activation(self.input_fc(self.compress(magnitude).transpose(1, 2)))
        h, _ = self.rnn(h)
        return self.mask_activation(self.mask_fc(h)).transpose(1, 2)

    def forward(self, magnitude: Tensor) -> Tensor:
        """Noisy magnitude (B, F, T) → enhanced magnitude (B, F, T)."""
        return self.mask(magnitude) * magnitude

    def extra_cost(self, inputs: tuple, output: Tensor) -> LayerCost:
        # The mask multiply is a tensor op in forward, where the profiler's module hooks cannot see it.
        return elementwise_cost("mul", output.numel())

    def enhance(self, wav: Tensor) -> Tensor:
        """Noisy waveform (B, T) → enhanced waveform (B, T): masked magnitude with the noisy phase."""
        spec = self.stft(wav)
        return self.istft(spec * self.mask(spec.abs()), length=wav.shape[-1])
