"""CRNNVAD: the voice-activity baseline of width-noise-injection.md §V.B.

80-band log-mel (16 kHz, FFT 1024, hop 256) → Conv1d (kernel 3, i.e. two frames of look-ahead) → Tanh
→ GRU → Linear → Sigmoid: one speech-presence probability per frame.

The paper gives no hidden sizes (they are in its Fig. 4 only as blocks); `conv_channels` and
`gru_hidden` default to 64, a size typical of such lightweight VADs, and are arguments.
Look-ahead: the convolution sees frames t, t+1, t+2 for output t, so the input is padded on the
right by repeating its last frame; output frame t is aligned with input frame t (a streaming
implementation waits two hops before emitting it).
Layers are addressable by name (`frontend.filterbank`, `conv`, `gru`, `head`) so that a dynamic
variant can swap the filter bank for a DynamicLinear and adapt the conv and GRU inputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from leanspeech.audio.transforms import LogMel
from leanspeech.models.base import SpeechModel
from leanspeech.registry import MODELS


@MODELS.register("crnn_vad")
class CRNNVAD(SpeechModel):
    task = "vad"

    def __init__(
        self,
        n_mels: int = 80,
        conv_channels: int = 64,
        gru_hidden: int = 64,
        kernel_size: int = 3,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.lookahead = kernel_size - 1
        self.frontend = LogMel(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.pad = nn.ReplicationPad1d((0, self.lookahead))
        self.conv = nn.Conv1d(n_mels, conv_channels, kernel_size)
        self.conv_activation = nn.Tanh()
        self.gru = nn.GRU(conv_channels, gru_hidden, batch_first=True)
        self.head = nn.Linear(gru_hidden, 1)
        self.output_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """Log-mel (B, n_mels, T) → speech-presence probability (B, T)."""
        h = self.conv_activation(self.conv(self.pad(x)))
        h, _ = self.gru(h.transpose(1, 2))
        return self.output_activation(self.head(h)).squeeze(-1)
