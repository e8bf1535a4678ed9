"""STFT-based features as pure functions on (B, T) or (T,) waveforms; `transforms.py` wraps them.

ONNX has no complex tensors, so everything after the STFT works on real/imaginary parts: in eager
mode they come from the complex STFT, inside `torch.onnx.export` (TorchScript exporter, opset >= 17)
from the real-valued STFT form, which the exporter maps to the ONNX STFT operator.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor


def hann_window(win_length: int) -> Tensor:
    """Periodic Hann window (the STFT convention: overlap-adds to a constant at hop = win / 2)."""
    return torch.hann_window(win_length, periodic=True)


def stft(
    wav: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """Complex spectrogram (..., n_fft // 2 + 1, frames) of a (B, T) or (T,) waveform."""
    return torch.stft(
        wav,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=window.shape[0],
        window=window,
        center=center,
        pad_mode=pad_mode,
        return_complex=True,
    )


def istft(
    spec: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor,
    center: bool = True,
    length: int | None = None,
) -> Tensor:
    """Inverse of `stft` by windowed overlap-add; `length` trims or zero-pads to the original length."""
    return torch.istft(
        spec,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=window.shape[0],
        window=window,
        center=center,
        length=length,
    )


@torch.jit.unused
def _stft_real_for_onnx(wav: Tensor, n_fft: int, hop_length: int, window: Tensor, center: bool, pad_mode: str) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*return_complex=False is deprecated.*")
        return torch.stft(
            wav,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=window.shape[0],
            window=window,
            center=center,
            pad_mode=pad_mode,
            return_complex=False,
        )


def stft_real(
    wav: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """The STFT as real and imaginary parts in a last axis of 2: (..., F, frames, 2); exports to ONNX."""
    if not torch.jit.is_scripting():
        if torch.onnx.is_in_onnx_export():
            return _stft_real_for_onnx(wav, n_fft, hop_length, window, center, pad_mode)
    return torch.view_as_real(stft(wav, n_fft, hop_length, window, center, pad_mode))


def power_spectrogram(
    wav: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor,
    center: bool = True,
    pad_mode: str = "reflect",
    power: float = 2.0,
) -> Tensor:
    """|STFT| ** power, shape (..., F, frames); power 1 is the magnitude, 2 the power spectrum."""
    energy = stft_real(wav, n_fft, hop_length, window, center, pad_mode).pow(2).sum(-1)
    if power == 2.0:
        return energy
    # The clamp keeps the gradient of a fractional power finite at exactly silent bins.
    return energy.clamp_min(1e-20).pow(power / 2.0)


def log_compress(x: Tensor, offset: float = 1e-6) -> Tensor:
    """Natural log with an additive offset, so silent bands give log(offset) rather than -inf."""
    return torch.log(x + offset)


def compressed_complex_spectrogram(
    wav: Tensor,
    n_fft: int = 320,
    hop_length: int = 160,
    window: Tensor | None = None,
    exponent: float = 0.3,
    pad: int = 80,
) -> Tensor:
    """|X| ** exponent · X / |X| as (B, 2, F, frames), real part then imaginary part (Distill-MOS features).

    As in the released Distill-MOS code: reflect padding of `pad` samples on both sides, then an
    uncentred STFT, and magnitudes clipped at 1e-12 before the power and the division.
    """
    if window is None:
        window = hann_window(n_fft).to(wav)
    wav = F.pad(wav.unsqueeze(-2), (pad, pad), mode="reflect").squeeze(-2)
    # The FFT writes frame after frame; one copy to (F, frames, 2) order makes the elementwise work below
    # contiguous and the result a channels-last (2, F, frames) view, the layout the students' convolutions
    # take (no second copy there). Same numbers.
    parts = stft_real(wav, n_fft, hop_length, window, center=False).contiguous()
    real, imaginary = parts.unbind(-1)  # faster than a sum over a last axis of 2
    # max(|X|, 1e-12) ** (exponent - 1), written on the energy so the gradient stays finite at |X| = 0.
    energy = (real * real + imaginary * imaginary).clamp_min(1e-24).unsqueeze(-1)
    compressed = parts * energy.pow((exponent - 1.0) / 2.0)
    # (..., F, frames, 2) → (..., 2, F, frames) by two transposes: movedim(-1, -3) exports to an
    # ONNX Transpose with negative axes, which onnxruntime rejects.
    return compressed.transpose(-1, -2).transpose(-2, -3)
