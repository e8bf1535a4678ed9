"""Cached, resumable teacher labels: a stopped run resumes with only the rest; a failing clip is skipped."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.data.pseudo_labels import cached_pseudo_labels, read_cache

RATE = 16000


class RmsTeacher:
    """Scores a clip by its RMS; fails on clips louder than `fail_above`. Counts the clips it saw."""

    name = "rms"
    seen: list[int] = []
    samples: list[int] = []

    def __init__(self, fail_above: float = 10.0):
        self.fail_above = fail_above

    def predict(self, wavs: torch.Tensor) -> torch.Tensor:
        rms = wavs.pow(2).mean(-1).sqrt()
        RmsTeacher.seen.append(len(wavs))
        RmsTeacher.samples.append(wavs.shape[-1])
        if (rms > self.fail_above).any():
            raise RuntimeError("clip too loud")
        return rms


def _clips(folder: Path, levels: list[float], rate: int = RATE) -> list[Path]:
    paths = []
    for i, level in enumerate(levels):
        path = folder / f"clip{i}.wav"
        sf.write(path, np.full(rate // 2, level, dtype=np.float32) * np.sign(np.sin(np.arange(rate // 2))), rate, subtype="FLOAT")
        paths.append(path)
    return paths


def test_stop_and_resume_labels_only_the_rest(tmp_path: Path):
    levels = [0.1 * (i + 1) for i in range(7)]
    clips = _clips(tmp_path, levels)
    cache = tmp_path / "labels.jsonl"
    RmsTeacher.seen = []
    first = cached_pseudo_labels(RmsTeacher, clips, cache, batch_size=2, chunk_size=2, max_new=3, progress=False)
    assert first.computed == 3 and len(first.labels) == 3
    assert sum(RmsTeacher.seen) == 3
    RmsTeacher.seen = []
    second = cached_pseudo_labels(RmsTeacher, clips, cache, batch_size=2, chunk_size=2, progress=False)
    assert second.reused == 3 and second.computed == 4 and sum(RmsTeacher.seen) == 4
    n = RATE // 2  # sign(sin(0)) = 0: one silent sample of n
    expected = {str(c): pytest.approx(level * np.sqrt((n - 1) / n), rel=1e-5) for c, level in zip(clips, levels)}
    assert second.labels == expected
    RmsTeacher.seen = []
    third = cached_pseudo_labels(RmsTeacher, clips, cache, progress=False)
    assert third.computed == 0 and RmsTeacher.seen == [] and third.labels == second.labels


def test_teacher_failure_and_unreadable_file_are_logged_and_skipped(tmp_path: Path, caplog):
    clips = _clips(tmp_path, [0.1, 0.9, 0.2])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    cache = tmp_path / "labels.jsonl"
    teacher = functools.partial(RmsTeacher, fail_above=0.5)
    with caplog.at_level(logging.WARNING):
        result = cached_pseudo_labels(teacher, [*clips, broken], cache, batch_size=4, chunk_size=4, progress=False)
    assert set(result.labels) == {str(clips[0]), str(clips[2])}
    assert set(result.failures) == {str(clips[1]), str(broken)}
    assert str(clips[1]) in caplog.text and "too loud" in caplog.text
    labels, failures = read_cache(cache)
    assert set(failures) == set(result.failures)
    # Failures are recorded, not retried, unless asked; a fixed teacher then labels them.
    assert cached_pseudo_labels(teacher, clips, cache, progress=False).computed == 0
    retried = cached_pseudo_labels(RmsTeacher, clips, cache, retry_failures=True, progress=False)
    assert retried.labels[str(clips[1])] == pytest.approx(0.9, rel=1e-3) and not retried.failures


def test_wrong_rate_is_resampled_and_workers_agree(tmp_path: Path):
    clips = _clips(tmp_path, [0.3, 0.6, 0.4, 0.5], rate=8000)
    RmsTeacher.samples = []
    serial = cached_pseudo_labels(RmsTeacher, clips, tmp_path / "a.jsonl", chunk_size=1, progress=False)
    parallel = cached_pseudo_labels(RmsTeacher, clips, tmp_path / "b.jsonl", workers=2, chunk_size=1, progress=False)
    assert serial.labels == parallel.labels
    assert set(RmsTeacher.samples) == {RATE // 2}  # half a second at 8 kHz reached the teacher at 16 kHz
    assert serial.labels[str(clips[1])] > serial.labels[str(clips[3])] > serial.labels[str(clips[2])]


def test_torn_last_line_is_ignored(tmp_path: Path):
    clips = _clips(tmp_path, [0.2, 0.4])
    cache = tmp_path / "labels.jsonl"
    cached_pseudo_labels(RmsTeacher, clips[:1], cache, progress=False)
    with open(cache, "a") as f:
        f.write('{"clip": "half')
    result = cached_pseudo_labels(RmsTeacher, clips, cache, progress=False)
    assert result.reused == 1 and result.computed == 1 and len(result.labels) == 2
