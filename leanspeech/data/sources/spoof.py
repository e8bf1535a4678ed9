"""The offline anti-spoofing corpus (`leanspeech data build --task spoof`), in the ASVspoof 2019 LA layout.

Bona fide: the recorded IVR prompts, each speaker in the split `HUMAN_SPEAKER_SPLITS` gives it
(train: allison, es-co; dev: carlo; test = eval: june, armelle). Spoof: attacks with ASVspoof-style ids.
A01-A03 are the seen attacks of train and dev; A04-A06 appear in eval only, unseen as in ASVspoof 2019
(a TTS engine and two vocoders unlike any seen one). Re-synthesis attacks rebuild prompts of the split's
own speakers. Flite's kal16 and slt are the same talents as festival's voices, so A02 uses awb and rms
only and no talent is both a seen and an unseen attack. Every file goes through `apply_channel`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.readers.asvspoof import SPLITS as PART_SPLITS
from leanspeech.data.sources.base import BuildContext, Skipped, Source, existing_duration, run_command, run_jobs, write_clip
from leanspeech.data.sources.debian import DebianPackage, install_hint
from leanspeech.data.sources.human import SOX, IvrPrompts, PromptSet, decode_prompt, prompt_header
from leanspeech.data.sources.spoof_channel import Channel, apply_channel
from leanspeech.data.sources.tts import CMU_VOICES, ESPEAK_VOICES, TtsSource, Voice
from leanspeech.data.sources.vocoders import VOCODERS, draw_parameters
from leanspeech.errors import AudioError, CorpusError
from leanspeech.registry import SOURCES

PARTS = {split: part for part, split in PART_SPLITS.items()}  # test -> eval
SEEN_SPLITS, UNSEEN_SPLITS = ("train", "dev"), ("test",)


@dataclass(frozen=True)
class Attack:
    id: str
    method: str  # a TTS source name or a VOCODERS name
    family: str  # tts | vocoder
    seen: bool  # in train and dev; otherwise eval only
    about: str

    @property
    def splits(self) -> tuple[str, ...]:
        return SEEN_SPLITS if self.seen else UNSEEN_SPLITS


ATTACKS = (
    Attack("A01", "espeak-ng", "tts", True, "espeak-ng formant synthesis, 34 voice variants, 6 languages"),
    Attack("A02", "flite", "tts", True, "flite CMU voices awb and rms"),
    Attack("A03", "griffin-lim", "vocoder", True, "mel spectrogram inverted by NNLS + Griffin-Lim phase"),
    Attack("A04", "festival", "tts", False, "festival diphone (kal, ked) and HTS (slt) voices"),
    Attack("A05", "lpc", "vocoder", False, "LPC-10 style pulse/noise excited all-pole re-synthesis"),
    Attack("A06", "phase-vocoder", "vocoder", False, "phase-vocoder pitch shift of 1.5-4 semitones"),
)
ATTACK_VOICES: dict[str, tuple[Voice, ...]] = {
    "espeak-ng": ESPEAK_VOICES,
    "flite": tuple(v for v in CMU_VOICES if v.engine == "flite" and v.speaker in ("awb", "rms")),
    "festival": tuple(v for v in CMU_VOICES if v.engine == "festival"),
}
Prompt = tuple[PromptSet, Path, float, int, str]  # set, file, seconds, rate, name unique within the set


@dataclass(frozen=True)
class SpoofJob:
    origin: str
    entry: ManifestEntry
    out: Path
    seed: int
    method: str  # "bonafide", "tts" or a VOCODERS name
    command: tuple[str, ...] = ()  # TTS: "{wav}" stands for the output file
    text: str = ""
    parameters: dict[str, int | float] = field(default_factory=dict)
    channel: Channel = Channel()


def render(job: SpoofJob) -> tuple[np.ndarray, int]:
    """The utterance as generated, before the channel (the leakage test probes this too)."""
    if job.method == "tts":
        with tempfile.TemporaryDirectory() as tmp:
            wav_path = str(Path(tmp) / "tts.wav")
            run_command([part.replace("{wav}", wav_path) for part in job.command], stdin=job.text)
            return load_audio(wav_path)
    wav, rate = decode_prompt(Path(job.origin))
    if job.method == "bonafide":
        return wav, rate
    return VOCODERS[job.method](wav, rate, np.random.default_rng([job.seed, 1]), **job.parameters), rate


def make_clip(job: SpoofJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        wav, rate = render(job)
        wav = apply_channel(wav, rate, entry.sample_rate, np.random.default_rng([job.seed, 2]), job.channel)
        duration = write_clip(job.out, entry.path, wav, entry.sample_rate, entry.sample_rate)
    entry.duration = duration
    return entry


def split_seen_voices(speakers: Iterable[str], dev_fraction: float = 0.3) -> dict[str, str]:
    """Seen-attack voices between train and dev by a hash of the speaker (stable across seeds and sizes)."""
    ordered = sorted(set(speakers), key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    n_dev = max(1, round(len(ordered) * dev_fraction)) if len(ordered) > 1 else 0
    return {s: "dev" if i < n_dev else "train" for i, s in enumerate(ordered)}


def file_seed(ctx: BuildContext, path: str) -> int:
    """Each file its own noise floor, dither and vocoder randomness (a shared one would be a fingerprint)."""
    return int(ctx.rng("spoof-file", path).integers(2**31))


def spoof_path(ctx: BuildContext, split: str, name: str) -> str:
    return f"ASVspoof2019_LA_{PARTS[split]}/flac/LS_{PARTS[split][0].upper()}_{name}.{ctx.audio_format}"


class SpoofSource(Source):
    """What the bona fide and the attack sources share: prompts by split and speaker, the channel."""

    kind = "speech"

    def __init__(self, prompts: IvrPrompts | None = None, channel: Channel = Channel()):
        self.prompts, self.channel = prompts or IvrPrompts(), channel

    def packages(self) -> list[DebianPackage]:
        return self.prompts.packages()

    def plan(self, ctx: BuildContext, minutes: dict[str, float]) -> list[SpoofJob]:
        raise NotImplementedError

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        self.check_format(ctx)
        return run_jobs(ctx, make_clip, self.plan(ctx, minutes), self.registry_name)

    def check_format(self, ctx: BuildContext) -> None:
        if ctx.audio_format != "flac":
            raise CorpusError(f"the spoof corpus follows the ASVspoof 2019 LA layout, which is flac; "
                              f"got format {ctx.audio_format!r}")
        if self.channel.codec == "gsm" and not self.installed(ctx, [SOX]):
            raise CorpusError(f"the spoof channel's GSM codec needs sox; install it with: {install_hint(['sox'])}")

    def prompts_by_split(self, ctx: BuildContext) -> dict[str, dict[str, list[Prompt]]]:
        """split -> speaker -> prompts; an unreadable prompt is reported and skipped."""
        files = self.prompts.prompt_files(ctx)
        folders: dict[PromptSet, list[str]] = {}
        for prompt_set, path in files:
            folders.setdefault(prompt_set, []).append(str(path.parent))
        roots = {s: Path(os.path.commonpath(paths)) for s, paths in folders.items()}
        found: dict[str, dict[str, list[Prompt]]] = {split: {} for split in SPLITS}
        for prompt_set, path in files:
            split = self.prompts.speaker_splits.get(prompt_set.speaker)
            if split not in found:
                continue
            name = "-".join(path.relative_to(roots[prompt_set]).with_suffix("").parts).replace(" ", "_")
            try:
                prompt = (prompt_set, path, *prompt_header(path), f"{prompt_set.language}-{name}")
            except (AudioError, OSError) as err:
                ctx.skipped.append(Skipped(str(path), str(err)))
                continue
            found[split].setdefault(prompt_set.speaker, []).append(prompt)
        return found

    def pick(self, ctx: BuildContext, by_speaker: dict[str, list[Prompt]], seconds: float, key: str) -> list[Prompt]:
        """About `seconds` of prompts, an equal share from each speaker, in a seeded order per `key`."""
        chosen = []
        for speaker in sorted(by_speaker):
            candidates, total = by_speaker[speaker], 0.0
            for index in ctx.rng(key, speaker).permutation(len(candidates)):
                if total >= seconds / len(by_speaker):
                    break
                chosen.append(candidates[index])
                total += candidates[index][2]
        return chosen

    def prompt_job(self, ctx: BuildContext, split: str, prompt: Prompt, method: str, attack: str,
                   parameters: dict[str, int | float] | None = None) -> SpoofJob:
        prompt_set, path, _, rate, stem = prompt
        bonafide = method == "bonafide"
        name = f"{'bonafide' if bonafide else attack}_{prompt_set.speaker}_{stem}"
        entry = ManifestEntry(
            path=spoof_path(ctx, split, name), kind="speech", split=split, speaker=prompt_set.speaker,
            source=self.registry_name, duration=0.0, sample_rate=ctx.sample_rate, language=prompt_set.language,
            license=prompt_set.license,
            extra={"attack": "-" if bonafide else attack, "key": "bonafide" if bonafide else "spoof",
                   "package": prompt_set.package.name if prompt_set.package else "", "source_rate": str(rate),
                   **{k: str(v) for k, v in (parameters or {}).items()}},
        )
        return SpoofJob(str(path), entry, ctx.out, file_seed(ctx, entry.path), method, parameters=parameters or {},
                        channel=self.channel)


@SOURCES.register("spoof-bonafide")
class SpoofBonafide(SpoofSource):
    """The recorded prompts, through the common channel."""

    def plan(self, ctx: BuildContext, minutes: dict[str, float]) -> list[SpoofJob]:
        prompts = self.prompts_by_split(ctx)
        return [self.prompt_job(ctx, split, prompt, "bonafide", "-")
                for split in SPLITS for prompt in self.pick(ctx, prompts[split], 60 * minutes.get(split, 0), "bonafide")]


@SOURCES.register("spoof-attacks")
class SpoofAttacks(SpoofSource):
    """Every attack of a split gets an equal part of the split's spoof minutes."""

    def __init__(self, prompts: IvrPrompts | None = None, channel: Channel = Channel(),
                 attacks: tuple[Attack, ...] = ATTACKS):
        super().__init__(prompts, channel)
        self.attacks = attacks

    def packages(self) -> list[DebianPackage]:
        engines = [SOURCES.build(a.method) for a in self.attacks if a.family == "tts"]
        return list(dict.fromkeys(super().packages() + [p for e in engines for p in e.packages()]))

    def plan(self, ctx: BuildContext, minutes: dict[str, float]) -> list[SpoofJob]:
        jobs, prompts = [], self.prompts_by_split(ctx)
        for split in SPLITS:
            attacks = [a for a in self.attacks if split in a.splits]
            for attack in attacks:
                seconds = 60 * minutes.get(split, 0) / len(attacks)
                if attack.family == "tts":
                    jobs += self.tts_jobs(ctx, attack, split, seconds)
                else:
                    jobs += self.vocoder_jobs(ctx, attack, split, seconds, prompts[split])
        return jobs

    def vocoder_jobs(self, ctx: BuildContext, attack: Attack, split: str, seconds: float,
                     prompts: dict[str, list[Prompt]]) -> list[SpoofJob]:
        rng = ctx.rng("spoof", attack.id, split)
        return [self.prompt_job(ctx, split, prompt, attack.method, attack.id, draw_parameters(attack.method, rng))
                for prompt in self.pick(ctx, prompts, seconds, attack.id)]

    def tts_jobs(self, ctx: BuildContext, attack: Attack, split: str, seconds: float) -> list[SpoofJob]:
        engine: TtsSource = SOURCES.build(attack.method)
        installed = {p.name for p in engine.installed(ctx, engine.packages())}
        if engine.engine_package.name not in installed:
            return []
        voices = [v for v in ATTACK_VOICES[attack.method] if v.package.name in installed]
        voice_splits = split_seen_voices(v.speaker for v in voices) if attack.seen else {v.speaker: split for v in voices}
        jobs = []
        for tts in engine._split_jobs(ctx, [v for v in voices if voice_splits[v.speaker] == split], split, seconds):
            *_, voice_dir, file = Path(tts.entry.path).with_suffix("").parts
            entry = replace(tts.entry, path=spoof_path(ctx, split, f"{attack.id}_{voice_dir}_{file}"),
                            source=self.registry_name, extra={**tts.entry.extra, "attack": attack.id, "key": "spoof"})
            jobs.append(SpoofJob(tts.origin, entry, ctx.out, file_seed(ctx, entry.path), "tts", tts.command, tts.text,
                                 channel=self.channel))
        return jobs
