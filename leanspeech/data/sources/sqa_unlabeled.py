"""Degraded speech for quality distillation (`leanspeech data build --task sqa-unlabeled`).

The recipe of distill-prune-sqa.md §IV-B with offline parts. Each clip (4-8 s, speech of one speaker
or voice concatenated) is TTS in `tts_share` (15 %) of the draws, left as generated as in the paper;
the rest is recorded speech degraded by: a room impulse response (33 %) → noise at a Gaussian SNR
(67 %, mean 10 dB, sd √10 dB) → one enhancer uniformly (RNNoise, spectral gating by noisereduce, none)
→ vocoder re-synthesis (33 %, Griffin-Lim or LPC, standing in for HiFiGAN/LPCNet) → coding (50 %,
uniformly a 4 kHz band limit, 8 kHz μ-law telephone, GSM 06.10, or Ogg Vorbis / MP3 at a random
bitrate written by soundfile, standing in for Opus/EnCodec). GSM is there because two of the recorded
speakers (es-co in training, armelle in test) arrive GSM-coded: coding the others too keeps "GSM" from
meaning "that voice" to a student, as in the anti-spoofing channel.

Noise and RIRs come from the same split as the speech, so test clips have held-out speakers, voices
and noise files. Each degraded clip also gets an intrusive label: WB-PESQ (MOS-LQO, 1.04-4.64)
against its clean source, in the manifest column `pesq` (empty where PESQ cannot score it, and for
TTS clips, which have no reference).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from leanspeech.audio.io import load_audio
from leanspeech.audio.resample import resample, pad_or_cut
from leanspeech.data import degrade
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.pools import FileNoise, RirPool
from leanspeech.data.sources.base import BuildContext, Source, existing_duration, run_jobs, write_clip
from leanspeech.data.sources.vocoders import VOCODERS, draw_parameters
from leanspeech.errors import CorpusError, LeanspeechError
from leanspeech.metrics import pesq
from leanspeech.registry import SOURCES

TTS_SOURCES = ("espeak-ng", "flite", "festival")
ENHANCERS = ("rnnoise", "spectral-gating", "none")
CODECS = ("lowpass-4k", "mu-law-8k", "gsm-8k", "ogg", "mp3")
PESQ_RATE = 16000
CHAIN_RECORD = "chain.json"  # in the corpus's degraded/ folder


@dataclass(frozen=True)
class ChainConfig:
    tts_share: float = 0.15
    rir_prob: float = 0.33
    noise_prob: float = 0.67
    snr_mean: float = 10.0
    snr_std: float = math.sqrt(10.0)  # the paper's "variance 10 dB"
    enhancers: tuple[str, ...] = ENHANCERS
    vocoder_prob: float = 0.33
    vocoders: tuple[str, ...] = ("griffin-lim", "lpc")
    coding_prob: float = 0.5
    codecs: tuple[str, ...] = CODECS
    clip_seconds: tuple[float, float] = (4.0, 8.0)
    gap_seconds: tuple[float, float] = (0.1, 0.5)


@dataclass(frozen=True)
class ChainDraw:
    """Every random choice of one clip, drawn when the corpus is planned (and recorded in the manifest)."""

    tts: bool
    seconds: float
    rir: bool = False
    snr: float | None = None  # None: no noise
    enhancer: str = "none"
    vocoder: str = "none"
    vocoder_parameters: dict[str, int | float] = field(default_factory=dict)
    codec: str = "none"
    bitrate: float = 0.0  # soundfile's compression_level for ogg/mp3: 0 best, 1 smallest
    seed: int = 0

    def extras(self) -> dict[str, str]:
        return {"speech_type": "tts" if self.tts else "human", "rir": str(int(self.rir)),
                "snr": "" if self.snr is None else f"{self.snr:.2f}", "enhancer": self.enhancer,
                "vocoder": self.vocoder, "codec": self.codec}


def draw_chain(rng: np.random.Generator, config: ChainConfig = ChainConfig(), tts_available: bool = True) -> ChainDraw:
    seconds = float(rng.uniform(*config.clip_seconds))
    seed = int(rng.integers(2**31))
    if tts_available and rng.random() < config.tts_share:
        return ChainDraw(True, seconds, seed=seed)
    rir = bool(rng.random() < config.rir_prob)
    snr = float(rng.normal(config.snr_mean, config.snr_std)) if rng.random() < config.noise_prob else None
    enhancer = str(rng.choice(config.enhancers))
    vocoder, parameters = "none", {}
    if rng.random() < config.vocoder_prob:
        vocoder = str(rng.choice(config.vocoders))
        parameters = draw_parameters(vocoder, rng)
    codec, bitrate = "none", 0.0
    if rng.random() < config.coding_prob:
        codec = str(rng.choice(config.codecs))
        bitrate = float(rng.uniform(0.3, 1.0))
    return ChainDraw(False, seconds, rir, snr, enhancer, vocoder, parameters, codec, bitrate, seed)


def spectral_gating(wav: np.ndarray, rate: int) -> np.ndarray:
    import noisereduce  # imports matplotlib: only when used

    return noisereduce.reduce_noise(y=wav, sr=rate, stationary=False).astype(np.float32)


def enhance(wav: np.ndarray, rate: int, enhancer: str) -> np.ndarray:
    if enhancer == "rnnoise":
        from leanspeech.peers.rnnoise import Rnnoise

        return Rnnoise().enhance(wav, rate)
    if enhancer == "spectral-gating":
        return spectral_gating(wav, rate)
    if enhancer == "none":
        return wav
    raise ValueError(f"unknown enhancer {enhancer!r}; known: {', '.join(ENHANCERS)}")


def lossy_round_trip(wav: np.ndarray, rate: int, codec: str, compression_level: float) -> np.ndarray:
    """Encode to Ogg Vorbis or MP3 in memory with soundfile and decode again (same length)."""
    fmt, subtype = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}[codec]
    decoded = degrade.soundfile_round_trip(wav, rate, fmt, subtype, compression_level=compression_level)
    return pad_or_cut(decoded, len(wav))


def code(wav: np.ndarray, rate: int, codec: str, compression_level: float) -> np.ndarray:
    if codec == "lowpass-4k":
        return degrade.apply_sos(wav, degrade.lowpass_sos(4000.0, rate))
    if codec == "mu-law-8k":
        return degrade.telephone(wav, rate, degrade.bandpass_sos((300.0, 3400.0), 8000))
    if codec == "gsm-8k":
        return degrade.gsm_610(wav, rate)
    if codec in ("ogg", "mp3"):
        return lossy_round_trip(wav, rate, codec, compression_level)
    if codec == "none":
        return wav
    raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")


def apply_chain(clean: np.ndarray, rate: int, draw: ChainDraw, noise: np.ndarray | None = None,
                rir: np.ndarray | None = None) -> np.ndarray:
    """The degraded clip of `clean` for `draw`; `noise` (as long as `clean`) and `rir` are needed when
    the draw asks for them."""
    rng = np.random.default_rng([draw.seed, 1])
    wav = np.asarray(clean, dtype=np.float32)
    if draw.rir:
        wav = RirPool([rir], [0.0]).reverberate(0, wav)[0]
    if draw.snr is not None:
        speech_power = max(degrade.power(wav), 1e-10)
        wav = wav + degrade.scale_noise_to_snr(speech_power, np.asarray(noise, dtype=np.float32), draw.snr)
    wav = enhance(wav, rate, draw.enhancer)
    if draw.vocoder != "none":
        wav = VOCODERS[draw.vocoder](wav, rate, rng, **draw.vocoder_parameters)
    wav = code(wav, rate, draw.codec, draw.bitrate)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    return (wav * (0.9 / peak) if peak > 0.9 else wav).astype(np.float32)


@dataclass(frozen=True)
class ClipJob:
    origin: str
    entry: ManifestEntry
    out: Path
    draw: ChainDraw
    speech: tuple[str, ...]  # absolute paths of the clean utterances, concatenated in order
    noise: tuple[str, int, int] | None = None  # (path, file rate, start sample at the clip's rate)
    rir: str | None = None


def clean_speech(job: ClipJob, rate: int) -> np.ndarray:
    """The job's utterances with short seeded gaps, cut to the drawn length."""
    rng = np.random.default_rng([job.draw.seed, 0])
    pieces = []
    for path in job.speech:
        pieces += [load_audio(path, sample_rate=rate)[0], np.zeros(int(rng.uniform(0.1, 0.5) * rate), np.float32)]
    return np.concatenate(pieces)[:int(job.draw.seconds * rate)]


def make_degraded_clip(job: ClipJob) -> ManifestEntry:
    entry, rate = job.entry, job.entry.sample_rate
    path = job.out / entry.path
    clean = clean_speech(job, rate)
    if existing_duration(path) is None:
        noise = FileNoise(Path(job.noise[0]), 1, job.noise[1], rate).fetch(job.noise[2], len(clean)) if job.noise else None
        rir = load_audio(job.rir, sample_rate=rate)[0] if job.rir else None
        wav = clean if job.draw.tts else apply_chain(clean, rate, job.draw, noise, rir)
        write_clip(job.out, entry.path, wav, rate, rate)
    written, _ = load_audio(path, sample_rate=rate)  # the label belongs to the file as written
    entry.duration = len(written) / rate
    entry.extra["pesq"] = "" if job.draw.tts else intrusive_label(clean, written, rate)
    return entry


def intrusive_label(clean: np.ndarray, degraded: np.ndarray, rate: int) -> str:
    """WB-PESQ of the degraded clip against its clean source, or "" where PESQ cannot score it."""
    try:
        return f"{pesq(resample(clean, rate, PESQ_RATE), resample(degraded, rate, PESQ_RATE), PESQ_RATE, 'wb'):.3f}"
    except LeanspeechError:
        return ""


@SOURCES.register("sqa-degraded")
class SqaDegraded(Source):
    """Degraded clips of the speech, noise and RIRs built before it; `minutes` are minutes of clips."""

    kind = "degraded"

    def __init__(self, chain: ChainConfig = ChainConfig()):
        self.chain = chain

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        jobs = self.plan(ctx, minutes)
        record_chain(ctx.out / "degraded", self.chain)
        return run_jobs(ctx, make_degraded_clip, jobs, "degraded speech")

    def plan(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ClipJob]:
        jobs = []
        for split in SPLITS:
            speech = [e for e in ctx.entries if e.kind == "speech" and e.split == split]
            human = _by_group([e for e in speech if e.source not in TTS_SOURCES])
            tts = _by_group([e for e in speech if e.source in TTS_SOURCES])
            if not human and minutes.get(split, 0) > 0:
                raise CorpusError(f"{ctx.out}: no recorded speech in split {split!r} to degrade")
            noises = [e for e in ctx.entries if e.kind == "noise" and e.split == split]
            rirs = [e for e in ctx.entries if e.kind == "rir" and e.split == split]
            rng, total, index = ctx.rng(self.registry_name, split), 0.0, 0
            while total < 60 * minutes.get(split, 0):
                draw = draw_chain(rng, self.chain, tts_available=bool(tts))
                if (draw.snr is not None and not noises) or (draw.rir and not rirs):
                    raise CorpusError(f"{ctx.out}: split {split!r} has no noise or no RIR to degrade with")
                jobs.append(self._job(ctx, split, index, draw, tts if draw.tts else human, noises, rirs, rng))
                total += draw.seconds
                index += 1
        return jobs

    def _job(self, ctx: BuildContext, split: str, index: int, draw: ChainDraw, groups: dict[str, list[ManifestEntry]],
             noises: list[ManifestEntry], rirs: list[ManifestEntry], rng: np.random.Generator) -> ClipJob:
        group = sorted(groups)[int(rng.integers(len(groups)))]
        utterances, seconds = [], 0.0
        while seconds < draw.seconds:  # whole utterances in a random order until the clip is full
            utterance = groups[group][int(rng.integers(len(groups[group])))]
            utterances.append(utterance)
            seconds += utterance.duration + 0.1
        noise = None
        if draw.snr is not None:
            chosen = noises[int(rng.integers(len(noises)))]
            noise = (str(chosen.resolve(ctx.out)), chosen.sample_rate,
                     int(rng.integers(max(1, int(chosen.duration * ctx.sample_rate)))))
        rir = str(rirs[int(rng.integers(len(rirs)))].resolve(ctx.out)) if draw.rir else None
        name = f"{split}-{index:05d}"
        first = utterances[0]
        entry = ManifestEntry(
            path=ctx.clip_path("degraded", split, name), kind="degraded", split=split, speaker=group,
            source=self.registry_name, duration=0.0, sample_rate=ctx.sample_rate, language=first.language,
            license=first.license,
            extra={**draw.extras(), "package": first.extra.get("package", ""),
                   "noise": Path(noise[0]).name if noise else "", "room": Path(rir).stem if rir else ""})
        return ClipJob(f"sqa-degraded {name}", entry, ctx.out, draw, tuple(str(u.resolve(ctx.out)) for u in utterances),
                       noise, rir)


def record_chain(folder: Path, chain: ChainConfig) -> None:
    """Record the chain in `folder`, or check it against the one recorded there. A rebuild reuses the
    clips it finds, so clips made by another chain would keep their old degradation under manifest rows
    (codec, SNR, ...) drawn by the new one."""
    wanted = json.loads(json.dumps(asdict(chain)))  # tuples as lists, as read back
    record = folder / CHAIN_RECORD
    if record.is_file():
        found = json.loads(record.read_text())
        changed = sorted(key for key in wanted.keys() | found.keys() if wanted.get(key) != found.get(key))
        if changed:
            raise CorpusError(f"{folder}: its clips were made by another degradation chain (it differs in "
                              f"{', '.join(changed)}); build the corpus into a new folder")
        return
    if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
        raise CorpusError(f"{folder}: its clips were made before leanspeech recorded the chain (before GSM "
                          "06.10 joined the codecs on 2026-12-06) and may not match the current one; build the "
                          "corpus into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(wanted, indent=2) + "\n")


def _by_group(entries: list[ManifestEntry]) -> dict[str, list[ManifestEntry]]:
    groups: dict[str, list[ManifestEntry]] = {}
    for e in entries:
        if e.duration > 0:
            groups.setdefault(e.speaker, []).append(e)
    return groups
