"""Synthetic speech from the TTS engines Debian ships: espeak-ng (formant voices in several languages),
flite and festival (CMU/CSTR diphone and HTS voices).

A voice's `speaker` is the unit kept inside one split: an espeak-ng variant across all its languages,
and one recorded talent across engines (flite's kal16/slt and festival's kal_diphone/slt HTS are the
same people, so they share a speaker and a split).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.sources.base import BuildContext, Source, existing_duration, run_command, run_jobs, write_clip
from leanspeech.data.sources.debian import DebianPackage
from leanspeech.data.splits import assign_groups
from leanspeech.data.text import estimated_seconds, make_sentence
from leanspeech.registry import SOURCES

ESPEAK = DebianPackage("espeak-ng", "GPL-3+ engine; generated audio")
FLITE = DebianPackage("flite", "BSD-style (CMU) voices; generated audio")
FESTIVAL = DebianPackage("festival", "BSD-style (CSTR) engine; generated audio")


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str  # what the engine's command line calls it
    speaker: str
    languages: tuple[str, ...]
    package: DebianPackage
    rate: int  # the engine's output rate (checked by a test), recorded as source_rate


# Human-sounding espeak-ng variants (robot, whisper and novelty variants left out).
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "croak", "adam", "linda", "steph", "antonio", "belinda", "benjamin", "david", "edward",
                   "john", "paul", "quincy", "rob", "travis", "victor", "aunty", "grandma", "grandpa")
ESPEAK_LANGUAGES = {"en-us": "en", "en": "en", "es": "es", "fr": "fr", "it": "it", "de": "de"}  # voice -> text language
ESPEAK_VOICES = tuple(Voice("espeak-ng", v, f"espeak-{v}", tuple(ESPEAK_LANGUAGES), ESPEAK, 22050) for v in ESPEAK_VARIANTS)

CMU_VOICES = (
    Voice("flite", "kal16", "kal", ("en",), FLITE, 16000),
    Voice("flite", "awb", "awb", ("en",), FLITE, 16000),
    Voice("flite", "rms", "rms", ("en",), FLITE, 16000),
    Voice("flite", "slt", "slt", ("en",), FLITE, 16000),
    Voice("festival", "kal_diphone", "kal", ("en",), DebianPackage("festvox-kallpc16k", "BSD-style (CSTR/CMU)"), 16000),
    Voice("festival", "ked_diphone", "ked", ("en",), DebianPackage("festvox-kdlpc16k", "BSD-style (CSTR/CMU)"), 16000),
    Voice("festival", "cmu_us_slt_arctic_hts", "slt", ("en",), DebianPackage("festvox-us-slt-hts", "EST-2003 (CMU)"), 32000),
)


@dataclass(frozen=True)
class TtsJob:
    origin: str
    command: tuple[str, ...]  # "{wav}" stands for the output file
    text: str
    entry: ManifestEntry
    out: Path


def synthesize(job: TtsJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        with tempfile.TemporaryDirectory() as tmp:
            wav_path = str(Path(tmp) / "tts.wav")
            run_command([part.replace("{wav}", wav_path) for part in job.command], stdin=job.text)
            wav, rate = load_audio(wav_path)
        duration = write_clip(job.out, entry.path, wav, rate, entry.sample_rate)
    entry.duration = duration
    return entry


class TtsSource(Source):
    """Synthesizes generated sentences with every installed voice of one engine, voices split by speaker."""

    kind = "speech"
    engine_package: DebianPackage
    all_voices: tuple[Voice, ...]  # every voice that shares speakers with this engine's, for a stable split

    def voices(self) -> list[Voice]:
        return [v for v in self.all_voices if v.engine == self.registry_name]

    def packages(self) -> list[DebianPackage]:
        return list(dict.fromkeys([self.engine_package] + [v.package for v in self.voices()]))

    def command(self, voice: Voice, language: str, rng: np.random.Generator) -> tuple[tuple[str, ...], dict[str, str]]:
        """The command line for one utterance (text arrives on stdin) and the prosody it chose."""
        raise NotImplementedError

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        installed = {p.name for p in self.installed(ctx, self.packages())}
        if self.engine_package.name not in installed:
            return []
        splits = assign_groups(v.speaker for v in self.all_voices)
        voices = [v for v in self.voices() if v.package.name in installed]
        jobs = []
        for split in SPLITS:
            in_split = [v for v in voices if splits[v.speaker] == split]
            jobs += self._split_jobs(ctx, in_split, split, 60 * minutes.get(split, 0))
        return run_jobs(ctx, synthesize, jobs, f"{self.registry_name} speech")

    def _split_jobs(self, ctx: BuildContext, voices: list[Voice], split: str, seconds: float) -> list[TtsJob]:
        """Sentences dealt to the split's voices in turn (in a seeded order) until the quota is met, so a
        small budget uses a few voices rather than one sentence from each."""
        if not voices:
            return []
        order = [voices[i] for i in ctx.rng(self.registry_name, split).permutation(len(voices))]
        rngs = {v: ctx.rng(v.engine, v.name) for v in voices}
        counts = {v: 0 for v in voices}
        jobs, total = [], 0.0
        while total < seconds:
            voice = order[len(jobs) % len(order)]
            rng = rngs[voice]
            language = voice.languages[int(rng.integers(len(voice.languages)))]
            text = make_sentence(ESPEAK_LANGUAGES.get(language, language), rng)
            command, prosody = self.command(voice, language, rng)
            total += estimated_seconds(text)
            entry = ManifestEntry(
                path=ctx.clip_path("speech", split, f"{voice.engine}-{voice.name}", f"{counts[voice]:04d}"),
                kind="speech", split=split, speaker=voice.speaker, source=self.registry_name, duration=0.0,
                sample_rate=ctx.sample_rate, language=language, license=voice.package.license,
                extra={"text": text, "voice": f"{voice.engine}:{voice.name}", "package": voice.package.name,
                       "source_rate": str(voice.rate), **prosody},
            )
            counts[voice] += 1
            jobs.append(TtsJob(f"{voice.engine}:{voice.name} {text!r}", command, text, entry, ctx.out))
        return jobs


@SOURCES.register("espeak-ng")
class EspeakNg(TtsSource):
    engine_package = ESPEAK
    all_voices = ESPEAK_VOICES

    def command(self, voice, language, rng):
        speed, pitch = int(rng.integers(130, 191)), int(rng.integers(30, 71))
        cmd = ("espeak-ng", "-v", f"{language}+{voice.name}", "-s", str(speed), "-p", str(pitch), "--stdin", "-w", "{wav}")
        return cmd, {"speed_wpm": str(speed), "pitch": str(pitch)}


@SOURCES.register("flite")
class Flite(TtsSource):
    engine_package = FLITE
    all_voices = CMU_VOICES

    def command(self, voice, language, rng):
        stretch = f"{rng.uniform(0.85, 1.2):.2f}"
        # flite reads the text from a file; /dev/stdin lets it come through the pipe like the others
        cmd = ("flite", "-voice", voice.name, "--setf", f"duration_stretch={stretch}", "-f", "/dev/stdin", "-o", "{wav}")
        return cmd, {"duration_stretch": stretch}


@SOURCES.register("festival")
class Festival(TtsSource):
    engine_package = FESTIVAL
    all_voices = CMU_VOICES

    def command(self, voice, language, rng):
        return ("text2wave", "-eval", f"(voice_{voice.name})", "-o", "{wav}"), {}
