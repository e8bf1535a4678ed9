from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.data.pesq_segments import (
    PesqDataConfig, SegmentRule, build_pesq_segments, read_pesq_segments, segment_labels, table_segments,
)

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
SPEECH = ["all-circuits-busy-now.wav", "agent-newlocation.wav", "agent-alreadyon.wav", "agent-loginok.wav"]
RATE = 16000


def make_corpus(root: Path) -> Path:
    """Real speech (Allison prompts; two files per split) and white/brown noise, listed in a manifest."""
    rng = np.random.default_rng(0)
    entries = []
    for i, name in enumerate(SPEECH):
        split = "train" if i < 2 else "test"
        info = sf.info(SOUNDS / name)
        entries.append(ManifestEntry(path=str(SOUNDS / name), kind="speech", split=split, speaker=f"s{i}",
                                     source="asterisk", duration=info.duration, sample_rate=info.samplerate))
    for split, noise in (("train", rng.standard_normal(3 * RATE)), ("test", np.cumsum(rng.standard_normal(3 * RATE)))):
        noise = (0.1 * noise / np.abs(noise).max()).astype(np.float32)
        save_audio(root / f"noise-{split}.wav", noise, RATE)
        entries.append(ManifestEntry(path=f"noise-{split}.wav", kind="noise", split=split, speaker="",
                                     source="synthetic", duration=3.0, sample_rate=RATE))
    write_manifest(root / "manifest.csv", entries)
    return root


TINY = PesqDataConfig(clip_seconds=4.0, train_clips=4, test_clips=2, val_fraction=0.25,
                      segments=SegmentRule(segment_seconds=3.0, stride_seconds=1.0))


@pytest.mark.parametrize("seconds", [9.0, 9.5, 11.0, 20.0, 30.0, 31.9])
def test_segment_starts_match_brute_force(seconds):
    rule = SegmentRule()  # 9 s segments, 2 s stride
    n = int(seconds * RATE)
    brute = [s for s in range(0, n, 1) if s % (2 * RATE) == 0 and s + 9 * RATE <= n]
    assert rule.starts(n) == brute
    assert len(rule.starts(30 * RATE)) == 11  # 0, 2, ..., 20 s


def test_short_clip_is_repeated_and_tiny_clip_rejected():
    rule = SegmentRule()
    clip = np.arange(5 * RATE, dtype=np.float32)
    assert rule.starts(len(clip)) == [0]
    segment = rule.cut(clip, 0)
    assert len(segment) == 9 * RATE and np.array_equal(segment[5 * RATE:], clip[:4 * RATE])
    assert rule.starts(int(0.9 * RATE)) == []


def test_silent_segment_is_skipped_and_counted_never_labelled():
    speech, _ = load_audio(SOUNDS / "all-circuits-busy-now.wav", sample_rate=RATE)
    speech = np.resize(speech, 3 * RATE)
    rule = SegmentRule(segment_seconds=3.0, stride_seconds=3.0)
    clean = np.concatenate([speech, np.zeros(3 * RATE, np.float32)])
    noisy = clean + 0.01 * np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32) * (clean != 0)
    starts, labels, problems = segment_labels(clean, noisy, rule)
    assert starts == [0] and len(labels) == 1 and 1.0 <= labels[0] <= 4.65
    assert len(problems) == 1 and "3 s" in problems[0]


def test_label_cache_resumes_after_interruption_with_the_same_labels(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    first = build_pesq_segments(corpus, tmp_path / "a", TINY, workers=1, max_new_clips=2, progress=False)
    assert (first.computed, first.reused) == (2, 0)
    assert len((tmp_path / "a" / "labels.jsonl").read_text().splitlines()) == 2
    resumed = build_pesq_segments(corpus, tmp_path / "a", TINY, workers=1, progress=False)
    assert (resumed.computed, resumed.reused) == (4, 2)
    assert build_pesq_segments(corpus, tmp_path / "a", TINY, workers=1, progress=False).computed == 0
    fresh = build_pesq_segments(corpus, tmp_path / "b", TINY, workers=2, progress=False)  # parallel, uninterrupted
    a, b = read_pesq_segments(tmp_path / "a"), read_pesq_segments(tmp_path / "b")
    assert [(s.split, s.start, s.label) for s in a] == [(s.split, s.start, s.label) for s in b]
    assert fresh.segments == len(a) == 6 * 2  # 4 s clips, 3 s segments, 1 s stride: 2 each
    assert {s.split for s in a} == {"train", "val", "test"} and sum(s.split == "val" for s in a) == 2
    assert not (tmp_path / "a" / "clips" / "train" / "000000.wav").with_name("clean").exists()
    wav, rate = load_audio(a[0].path)
    assert rate == RATE and len(wav) == 4 * RATE


def test_other_configuration_in_the_same_folder_is_refused(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    build_pesq_segments(corpus, tmp_path / "a", TINY, workers=1, max_new_clips=1, progress=False)
    other = PesqDataConfig(**{**TINY.__dict__, "seed": 1})
    with pytest.raises(Exception, match="another configuration"):
        build_pesq_segments(corpus, tmp_path / "a", other, workers=1, progress=False)


def test_user_table_of_scores(tmp_path):
    short = tmp_path / "short.wav"
    save_audio(short, np.zeros(RATE // 2, np.float32), RATE)
    table = tmp_path / "mos.csv"
    table.write_text(f"path,score\n{SOUNDS / 'all-circuits-busy-now.wav'},3.5\nshort.wav,2.0\n"
                     f"{SOUNDS / 'agent-pass.wav'},n/a\nmissing.wav,4.0\n")
    segments = table_segments(table)
    assert len(segments) == 1 and segments[0].label == 3.5 and segments[0].path.name == "all-circuits-busy-now.wav"
