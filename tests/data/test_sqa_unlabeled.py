"""The sqa-unlabeled degradation chain: its proportions on a large seeded draw, labels and planning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.sources.base import BuildContext
from leanspeech.data.sources.sqa_unlabeled import (
    CODECS, ENHANCERS, ChainConfig, ChainDraw, ClipJob, SqaDegraded, apply_chain, code, draw_chain,
    make_degraded_clip, record_chain,
)
from leanspeech.errors import CorpusError

RATE = 16000


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Harmonics of a gliding 120-220 Hz pitch under a 4 Hz syllable envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    return (0.2 * voiced * np.maximum(0, np.sin(2 * np.pi * 4 * t + seed)) ** 2).astype(np.float32)


def within(observed: float, p: float, n: int) -> bool:
    return abs(observed - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_chain_proportions_follow_the_paper():
    rng = np.random.default_rng(1234)
    draws = [draw_chain(rng) for _ in range(20000)]
    human = [d for d in draws if not d.tts]
    n = len(human)
    assert within(1 - n / len(draws), 0.15, len(draws))
    assert within(sum(d.rir for d in human) / n, 0.33, n)
    noisy = [d.snr for d in human if d.snr is not None]
    assert within(len(noisy) / n, 0.67, n)
    assert abs(np.mean(noisy) - 10.0) < 4 * math.sqrt(10 / len(noisy))
    assert abs(np.std(noisy) - math.sqrt(10)) < 0.1
    for enhancer in ENHANCERS:
        assert within(sum(d.enhancer == enhancer for d in human) / n, 1 / 3, n)
    assert within(sum(d.vocoder != "none" for d in human) / n, 0.33, n)
    coded = [d.codec for d in human if d.codec != "none"]
    assert within(len(coded) / n, 0.5, n)
    for codec in CODECS:
        assert within(coded.count(codec) / len(coded), 1 / len(CODECS), len(coded))
    assert all(4.0 <= d.seconds <= 8.0 for d in draws)
    # Without TTS voices every clip is recorded speech.
    assert not any(draw_chain(rng, ChainConfig(), tts_available=False).tts for _ in range(200))


def test_lossy_codecs_keep_length_and_change_the_signal():
    wav = speech_like(1.0, 0)
    for codec in ("ogg", "mp3", "gsm-8k"):
        coded = code(wav, RATE, codec, 0.9)
        assert coded.shape == wav.shape and coded.dtype == np.float32
        assert 0 < np.mean((coded - wav) ** 2) < np.mean(wav**2)


def test_noise_lands_at_the_drawn_snr():
    clean = speech_like(2.0, 1)
    noise = np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    degraded = apply_chain(clean, RATE, ChainDraw(False, 2.0, snr=5.0), noise)
    residual = degraded - clean
    assert 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(residual.astype(np.float64) ** 2)) == pytest.approx(5.0, abs=0.01)


def _entry(path: str, kind: str, split: str, speaker: str, source: str = "ivr-prompts") -> ManifestEntry:
    return ManifestEntry(path, kind, split, speaker, source, 3.0, RATE)


def test_clip_label_is_pesq_against_the_clean_source(tmp_path: Path):
    sf.write(tmp_path / "a.wav", speech_like(3.0, 2), RATE, subtype="PCM_16")
    entry = _entry("degraded/x.flac", "degraded", "train", "alice", "sqa-degraded")
    job = ClipJob("x", entry, tmp_path, ChainDraw(False, 3.0), (str(tmp_path / "a.wav"),))
    done = make_degraded_clip(job)
    assert float(done.extra["pesq"]) > 4.4  # an untouched clip: WB-PESQ near its 4.64 ceiling
    assert done.duration == pytest.approx(3.0, abs=1e-3)
    tts = ClipJob("t", _entry("degraded/t.flac", "degraded", "train", "v"), tmp_path, ChainDraw(True, 2.0),
                  (str(tmp_path / "a.wav"),))
    assert make_degraded_clip(tts).extra["pesq"] == ""  # TTS clips have no reference


def test_plan_keeps_noise_and_rooms_in_the_speech_split(tmp_path: Path):
    entries = []
    for split, speakers in (("train", ("a", "b")), ("dev", ("c",)), ("test", ("d",))):
        entries += [_entry(f"s/{s}{i}.flac", "speech", split, s) for s in speakers for i in range(3)]
        entries += [_entry(f"s/{split}-v.flac", "speech", split, f"voice-{split}", "espeak-ng")]
        entries += [_entry(f"n/{split}.flac", "noise", split, f"noise-{split}"),
                    _entry(f"r/{split}.flac", "rir", split, f"room-{split}")]
    ctx = BuildContext(out=tmp_path, entries=entries)
    jobs = SqaDegraded().plan(ctx, {"train": 2.0, "dev": 1.0, "test": 1.0})
    assert sum(j.draw.seconds for j in jobs if j.entry.split == "train") >= 120
    speech_split = {e.speaker: e.split for e in entries}
    for job in jobs:
        split = job.entry.split
        assert speech_split[job.entry.speaker] == split
        assert job.entry.extra["speech_type"] == ("tts" if job.entry.speaker.startswith("voice") else "human")
        if job.noise:
            assert Path(job.noise[0]).stem == split
        if job.rir:
            assert Path(job.rir).stem == split


def test_a_rebuild_refuses_clips_of_another_chain(tmp_path: Path):
    folder = tmp_path / "degraded"
    record_chain(folder, ChainConfig())
    (folder / "train").mkdir()
    (folder / "train" / "train-00000.flac").write_bytes(b"clip")
    record_chain(folder, ChainConfig())  # the same chain: the clips are reused
    with pytest.raises(CorpusError, match="coding_prob"):
        record_chain(folder, ChainConfig(coding_prob=0.9))
    (folder / "chain.json").unlink()  # clips from before the chain was recorded
    with pytest.raises(CorpusError, match="before leanspeech recorded the chain"):
        record_chain(folder, ChainConfig())
