"""On-the-fly mixing: clean speech → reverberation → noise at an SNR → gain → band limit / telephone.

Every parameter comes from `MixingConfig` (a recipe's `mixing:` section). The defaults follow the
VAD recipe of the width paper: RIR with probability 0.25 and RT60 in [0, 1.5] s, noise with
probability 0.75 at an SNR uniform in [-5, 40] dB. One numpy Generator drives every draw of a mix,
so a mix is a pure function of (seed, epoch, index): see `mixing_rng`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanspeech.data import degrade
from leanspeech.data.config_section import section_from_dict
from leanspeech.data.pools import NoisePool, RirPool
from leanspeech.errors import RecipeError

TARGETS = ("dry", "early", "reverberant")
SNR_DISTRIBUTIONS = ("uniform", "gaussian")


@dataclass(frozen=True)
class MixingConfig:
    sample_rate: int = 16000
    seed: int = 0
    reverb_prob: float = 0.25
    rt60_range: tuple[float, float] = (0.0, 1.5)
    target: str = "early"  # clean target under reverberation: dry | early | reverberant
    early_ms: float = 50.0  # direct path + this much of the RIR makes the "early" target
    noise_prob: float = 0.75
    snr_distribution: str = "uniform"
    snr_range: tuple[float, float] = (-5.0, 40.0)  # used by "uniform"
    snr_mean: float = 10.0  # used by "gaussian"
    snr_std: float = 10.0
    silent_reference_dbfs: float = -25.0  # speech level assumed for the SNR when a crop is silent
    gain_db_range: tuple[float, float] = (0.0, 0.0)  # applied to mixture and target alike
    avoid_clipping: bool = True  # scale both down when the mixture peak would exceed 1
    lowpass_prob: float = 0.0
    lowpass_hz: float = 4000.0
    telephone_prob: float = 0.0
    telephone_rate: int = 8000
    telephone_band_hz: tuple[float, float] = (300.0, 3400.0)
    mu_law_bits: int = 8

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> MixingConfig:
        """Build from a recipe's `mixing:` section; an unknown key or a wrong type is a RecipeError."""
        return section_from_dict(cls, "mixing", values)

    def __post_init__(self) -> None:
        for name in ("reverb_prob", "noise_prob", "lowpass_prob", "telephone_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise RecipeError(f"mixing: {name} = {value} is not a probability in [0, 1]")
        for name in ("rt60_range", "snr_range", "gain_db_range", "telephone_band_hz"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise RecipeError(f"mixing: {name} = {list(value)} must be [low, high] with low <= high")
        if self.target not in TARGETS:
            raise RecipeError(f"mixing: target {self.target!r} is not one of {', '.join(TARGETS)}")
        if self.snr_distribution not in SNR_DISTRIBUTIONS:
            raise RecipeError(f"mixing: snr_distribution {self.snr_distribution!r} is not one of "
                              f"{', '.join(SNR_DISTRIBUTIONS)}")
        if self.snr_std < 0 or self.early_ms < 0:
            raise RecipeError("mixing: snr_std and early_ms must be >= 0")
        if not 0 < self.lowpass_hz < self.sample_rate / 2:
            raise RecipeError(f"mixing: lowpass_hz {self.lowpass_hz} must lie in (0, {self.sample_rate / 2})")
        if not (0 < self.telephone_band_hz[0] and self.telephone_band_hz[1] < self.telephone_rate / 2):
            raise RecipeError(f"mixing: telephone_band_hz must lie in (0, {self.telephone_rate / 2}) Hz")


def mixing_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one mix: the same (seed, epoch, index) gives the same mix in any worker."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


@dataclass
class Mixture:
    mixture: np.ndarray
    target: np.ndarray
    meta: dict[str, float] = field(default_factory=dict)  # NaN where a stage was not applied


class Mixer:
    """Draws and applies the degradation chain; pools may be None when their probability is 0."""

    def __init__(self, config: MixingConfig, noises: NoisePool | None = None, rirs: RirPool | None = None):
        self.config = config
        if config.noise_prob > 0 and (noises is None or len(noises) == 0):
            raise RecipeError(f"mixing: noise_prob is {config.noise_prob} but the noise pool is empty")
        self.noises = noises
        self.rir_choices = np.array([], dtype=np.int64)
        if config.reverb_prob > 0:
            if rirs is None or len(rirs) == 0:
                raise RecipeError(f"mixing: reverb_prob is {config.reverb_prob} but the RIR pool is empty")
            self.rir_choices = rirs.indices_in(*config.rt60_range)
            if len(self.rir_choices) == 0:
                raise RecipeError(
                    f"mixing: no RIR has an RT60 in rt60_range {list(config.rt60_range)}; "
                    f"the pool's RT60s span {rirs.rt60.min():.2f}-{rirs.rt60.max():.2f} s")
        self.rirs = rirs
        self._lowpass = degrade.lowpass_sos(config.lowpass_hz, config.sample_rate)
        self._phone_band = degrade.bandpass_sos(config.telephone_band_hz, config.telephone_rate)

    def draw_snr(self, rng: np.random.Generator) -> float:
        c = self.config
        if c.snr_distribution == "gaussian":
            return float(rng.normal(c.snr_mean, c.snr_std))
        return float(rng.uniform(*c.snr_range))

    def mix(self, speech: np.ndarray, rng: np.random.Generator) -> Mixture:
        """Degrade float32 `speech` (T,); the returned target is time-aligned with the mixture."""
        c = self.config
        speech = np.asarray(speech, dtype=np.float32)
        nan = float("nan")
        meta = {"rt60": nan, "snr": nan, "gain_db": 0.0, "lowpass": 0.0, "telephone": 0.0, "clip_scale": 1.0}

        mixture, target = speech, speech
        if rng.random() < c.reverb_prob:
            index = int(rng.choice(self.rir_choices))
            early_taps = int(round(c.early_ms * 1e-3 * c.sample_rate)) if c.target == "early" else None
            mixture, early = self.rirs.reverberate(index, speech, early_taps)
            target = {"dry": speech, "early": early, "reverberant": mixture}[c.target]
            meta["rt60"] = float(self.rirs.rt60[index])

        if rng.random() < c.noise_prob:
            snr = self.draw_snr(rng)
            noise = self.noises.draw(rng, len(speech))
            speech_power = degrade.power(mixture)
            if speech_power < 1e-12:  # silent crop: noise at the level it would have beside typical speech
                speech_power = 10.0 ** (c.silent_reference_dbfs / 10.0)
            mixture = mixture + degrade.scale_noise_to_snr(speech_power, noise, snr)
            meta["snr"] = snr

        gain_db = float(rng.uniform(*c.gain_db_range))
        if gain_db != 0.0:
            gain = np.float32(10.0 ** (gain_db / 20.0))
            mixture, target = mixture * gain, target * gain
            meta["gain_db"] = gain_db

        if rng.random() < c.lowpass_prob:
            mixture = degrade.apply_sos(mixture, self._lowpass)
            meta["lowpass"] = 1.0
        if rng.random() < c.telephone_prob:
            mixture = degrade.telephone(mixture, c.sample_rate, self._phone_band, c.telephone_rate, c.mu_law_bits)
            meta["telephone"] = 1.0

        peak = float(np.max(np.abs(mixture))) if len(mixture) else 0.0
        if c.avoid_clipping and peak > 0.99:
            scale = np.float32(0.99 / peak)
            mixture, target = mixture * scale, target * scale
            meta["clip_scale"] = float(scale)
        return Mixture(np.ascontiguousarray(mixture, dtype=np.float32),
                       np.ascontiguousarray(target, dtype=np.float32), meta)
