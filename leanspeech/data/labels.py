"""Frame-level speech-presence labels by RMS thresholding of the clean speech stem.

Frames follow the model's STFT (`n_fft`, `hop_length`, `center`), so label i belongs to output
frame i: with center=True there are 1 + T // hop frames, as torch.stft gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import median_filter

from leanspeech.data.config_section import section_from_dict
from leanspeech.errors import RecipeError

@dataclass(frozen=True)
class LabelConfig:
    n_fft: int = 1024
    hop_length: int = 256
    center: bool = True
    threshold_db: float = -40.0
    relative: bool = True  # threshold relative to the clip's loudest frame; else absolute dBFS
    floor_dbfs: float = -70.0  # a frame this quiet is never speech (a crop of room tone has no speech)
    hangover_frames: int = 0  # keep "speech" this many frames after speech ends
    smooth_frames: int = 1  # odd median-filter length applied before the hangover (1 = none)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> LabelConfig:
        """Build from a recipe's `labels:` section; an unknown key or a wrong type is a RecipeError."""
        return section_from_dict(cls, "labels", values)

    def __post_init__(self) -> None:
        if self.n_fft < 1 or self.hop_length < 1:
            raise RecipeError("labels: n_fft and hop_length must be >= 1")
        if self.hangover_frames < 0 or self.smooth_frames < 1 or self.smooth_frames % 2 == 0:
            raise RecipeError("labels: hangover_frames must be >= 0 and smooth_frames odd and >= 1")

    def num_frames(self, num_samples: int) -> int:
        if self.center:
            return 1 + num_samples // self.hop_length
        return max(0, 1 + (num_samples - self.n_fft) // self.hop_length)


def frame_rms(wav: np.ndarray, n_fft: int, hop_length: int, center: bool = True) -> np.ndarray:
    """RMS of each n_fft-sample frame (zero padding of n_fft // 2 on both sides when centred).

    Frames start on multiples of gcd(n_fft, hop), so the energies of blocks of that size, summed
    n_fft / gcd at a time, give every frame: one pass over the samples, in float64.
    (librosa.feature.rms gives the same numbers, at the price of seconds of import and JIT
    compilation in every fresh DataLoader worker.)
    """
    x = np.asarray(wav, dtype=np.float32)
    if center:
        x = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = max(0, 1 + (len(x) - n_fft) // hop_length)
    block = math.gcd(n_fft, hop_length)
    blocks = len(x) // block
    energy = np.square(x[:blocks * block].reshape(blocks, block), dtype=np.float64).sum(axis=1)
    sums = np.concatenate([[0.0], np.cumsum(energy)])
    starts = np.arange(frames) * (hop_length // block)
    frame_energy = np.maximum(sums[starts + n_fft // block] - sums[starts], 0.0)  # rounding can dip below 0
    return np.sqrt(frame_energy / n_fft)


def speech_presence(wav: np.ndarray, config: LabelConfig = LabelConfig()) -> np.ndarray:
    """Float32 0/1 label per frame: 1 where the clean stem's RMS passes the threshold."""
    rms = frame_rms(wav, config.n_fft, config.hop_length, config.center)
    level = 20.0 * np.log10(np.maximum(rms, 1e-12))
    threshold = config.threshold_db + (level.max() if config.relative and len(level) else 0.0)
    speech = (level > max(threshold, config.floor_dbfs)).astype(np.float32)
    if config.smooth_frames > 1 and len(speech):
        speech = median_filter(speech, size=config.smooth_frames, mode="nearest")
    if config.hangover_frames and len(speech):
        # frame t is speech when any of frames t-h … t was
        speech = (np.convolve(speech, np.ones(config.hangover_frames + 1))[: len(speech)] > 0.5)
    return speech.astype(np.float32)
