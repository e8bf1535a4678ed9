"""nn.Module wrappers of the front-end functions, for models and for export.

Inputs are (B, T) waveforms (a single (T,) waveform works too). Windows are non-persistent buffers
(rebuilt from the constructor arguments, so they stay out of checkpoints); a filter-bank matrix is a
persistent buffer, because a model may carry a matrix that no constructor argument describes.
Export: everything here scripts with TorchScript. ONNX (TorchScript exporter, `dynamo=False`,
opset >= 17) exports PowerSpectrogram, FilterBank, LogMel and CompressedComplexSpectrogram; STFT
and ISTFT return or take complex tensors, which ONNX does not have.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from leanspeech.audio import filterbanks, normalize, spectral


class STFT(nn.Module):
    """(B, T) → complex (B, n_fft // 2 + 1, frames), periodic Hann window of `win_length` (default n_fft)."""

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int | None = None,
        win_length: int | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length or n_fft
        self.hop_length = hop_length or self.win_length // 4
        self.center = center
        self.pad_mode = pad_mode
        self.register_buffer("window", spectral.hann_window(self.win_length), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        return spectral.stft(wav, self.n_fft, self.hop_length, self.window, self.center, self.pad_mode)

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, center={self.center}"


class ISTFT(nn.Module):
    """Complex (B, F, frames) → (B, T): the inverse of an STFT with the same arguments."""

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int | None = None,
        win_length: int | None = None,
        center: bool = True,
    ):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length or n_fft
        self.hop_length = hop_length or self.win_length // 4
        self.center = center
        self.register_buffer("window", spectral.hann_window(self.win_length), persistent=False)

    def forward(self, spec: Tensor, length: int | None = None) -> Tensor:
        return spectral.istft(spec, self.n_fft, self.hop_length, self.window, self.center, length)

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, center={self.center}"


class PowerSpectrogram(nn.Module):
    """(B, T) → |STFT| ** power, real (B, n_fft // 2 + 1, frames)."""

    def __init__(
        self,
        n_fft: int,
        hop_length: int,
        win_length: int | None = None,
        center: bool = True,
        power: float = 2.0,
    ):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length or n_fft
        self.center = center
        self.power = float(power)
        self.register_buffer("window", spectral.hann_window(self.win_length), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        return spectral.power_spectrogram(
            wav, self.n_fft, self.hop_length, self.window, self.center, "reflect", self.power
        )

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"center={self.center}, power={self.power}"
        )


class FilterBank(nn.Module):
    """Applies a fixed (n_bands, F) matrix: (B, F, frames) → (B, n_bands, frames).

    A plain linear map over frequency, so a model can swap it for a learnable layer of the same shape.
    """

    def __init__(self, matrix: Tensor | np.ndarray):
        super().__init__()
        matrix = torch.as_tensor(matrix, dtype=torch.float32)
        if matrix.dim() != 2:
            raise ValueError(f"a filter-bank matrix is (n_bands, n_freqs), got shape {tuple(matrix.shape)}")
        self.register_buffer("matrix", matrix.clone())

    @property
    def n_bands(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_freqs(self) -> int:
        return self.matrix.shape[1]

    def forward(self, spec: Tensor) -> Tensor:
        return torch.matmul(self.matrix, spec)

    @classmethod
    def mel(
        cls,
        n_bands: int,
        n_fft: int,
        sample_rate: int,
        f_min: float = 0.0,
        f_max: float | None = None,
        norm: str | None = "slaney",
        mel_scale: str = "slaney",
    ) -> FilterBank:
        return cls(filterbanks.mel_filterbank(n_bands, n_fft, sample_rate, f_min, f_max, norm, mel_scale))

    @classmethod
    def bark(
        cls,
        n_bands: int,
        n_fft: int,
        sample_rate: int,
        f_min: float = 0.0,
        f_max: float | None = None,
        norm: str | None = "slaney",
    ) -> FilterBank:
        return cls(filterbanks.bark_filterbank(n_bands, n_fft, sample_rate, f_min, f_max, norm))

    @classmethod
    def erb(
        cls,
        n_bands: int,
        n_fft: int,
        sample_rate: int,
        f_min: float = 0.0,
        f_max: float | None = None,
        norm: str | None = "slaney",
    ) -> FilterBank:
        return cls(filterbanks.erb_filterbank(n_bands, n_fft, sample_rate, f_min, f_max, norm))

    def extra_repr(self) -> str:
        return f"n_bands={self.n_bands}, n_freqs={self.n_freqs}"


class LogCompression(nn.Module):
    """log(x + offset), elementwise."""

    def __init__(self, offset: float = 1e-6):
        super().__init__()
        self.offset = float(offset)

    def forward(self, x: Tensor) -> Tensor:
        return spectral.log_compress(x, self.offset)

    def extra_repr(self) -> str:
        return f"offset={self.offset}"


class LogMel(nn.Module):
    """(B, T) → log(mel filter bank · |STFT| ** power + log_offset), shape (B, n_mels, frames).

    Three attributes in a row, `spectrogram`, `filterbank` and `log`, so a model can replace the
    filter bank (e.g. by a learnable layer initialised from it) without touching the rest.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 80,
        win_length: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 2.0,
        center: bool = True,
        log_offset: float = 1e-6,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.spectrogram = PowerSpectrogram(n_fft, hop_length, win_length, center, power)
        self.filterbank = FilterBank.mel(n_mels, n_fft, sample_rate, f_min, f_max)
        self.log = LogCompression(log_offset)

    def forward(self, wav: Tensor) -> Tensor:
        return self.log(self.filterbank(self.spectrogram(wav)))


class CompressedComplexSpectrogram(nn.Module):
    """(B, T) → |X| ** exponent · X / |X| as (B, 2, n_fft // 2 + 1, frames) (Distill-MOS input features)."""

    def __init__(self, n_fft: int = 320, hop_length: int = 160, exponent: float = 0.3, pad: int = 80):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.exponent = float(exponent)
        self.pad = pad
        self.register_buffer("window", spectral.hann_window(n_fft), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        return spectral.compressed_complex_spectrogram(
            wav, self.n_fft, self.hop_length, self.window, self.exponent, self.pad
        )

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, exponent={self.exponent}, pad={self.pad}"


class PeakNormalize(nn.Module):
    def __init__(self, peak: float = 1.0):
        super().__init__()
        self.peak = float(peak)

    def forward(self, wav: Tensor) -> Tensor:
        return normalize.peak_normalize(wav, self.peak)


class RMSNormalize(nn.Module):
    def __init__(self, target_dbfs: float = -25.0):
        super().__init__()
        self.target_dbfs = float(target_dbfs)

    def forward(self, wav: Tensor) -> Tensor:
        return normalize.rms_normalize(wav, self.target_dbfs)
