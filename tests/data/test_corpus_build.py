"""One small real build (Debian packages) shared by the tests: files, splits, determinism, resume, CLI."""

import hashlib
import json
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf

from leanspeech.cli import main
from leanspeech.data.corpus import build_corpus, summary_rows
from leanspeech.data.manifest import read_manifest
from leanspeech.data.sources.debian import is_installed
from leanspeech.studies.runs import write_study_record
from leanspeech.data.splits import HUMAN_SPEAKER_SPLITS

MINUTES = 0.3
pytestmark = pytest.mark.skipif(not is_installed("asterisk-core-sounds-en-wav"),
                                reason="needs the Debian sound packages (make system)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    out, cache = root / "c", root / "rir-cache"
    build = build_corpus(out, minutes=MINUTES, seed=3, workers=2, cache_dir=cache, progress=False)
    return build, cache


def test_every_kind_is_built_at_the_corpus_rate(corpus):
    build, _ = corpus
    entries = read_manifest(build.manifest)
    assert {e.kind for e in entries} == {"speech", "noise", "rir"}
    assert {e.source for e in entries} >= {"ivr-prompts", "espeak-ng", "flite", "festival", "moh-music",
                                            "coloured-noise", "hum", "babble", "shoebox-rir"}
    for e in entries:
        info = sf.info(str(e.resolve(build.out)))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert e.duration == pytest.approx(info.frames / info.samplerate, abs=1e-4)
        wav, _ = sf.read(str(e.resolve(build.out)))
        assert 0 < np.abs(wav).max() <= 0.991
    music = [e for e in entries if e.source == "moh-music"]
    assert all(e.duration <= 10.0 + 1e-3 for e in music)
    assert all(e.extra["text"] for e in entries if e.source in ("espeak-ng", "flite", "festival"))
    assert all(0.05 < float(e.extra["rt60"]) < 3.0 for e in entries if e.kind == "rir")


def test_no_speaker_voice_or_noise_file_crosses_splits(corpus):
    build, _ = corpus
    entries = read_manifest(build.manifest)
    splits_of = defaultdict(set)
    for e in entries:
        splits_of[e.speaker].add(e.split)
    assert all(len(s) == 1 for s in splits_of.values()), {g: s for g, s in splits_of.items() if len(s) > 1}
    for speaker, split in HUMAN_SPEAKER_SPLITS.items():
        assert splits_of.get(speaker, {split}) == {split}
    # the same recorded talent through two engines (flite slt, festival slt HTS) is one speaker
    assert all(e.speaker in ("kal", "ked", "awb", "rms", "slt") for e in entries if e.source in ("flite", "festival"))
    for e in entries:
        for talker in filter(None, e.extra.get("talkers", "").split(";")):
            assert splits_of[talker] == {e.split}
    recordings = defaultdict(set)  # a music file's segments stay together
    for e in entries:
        if e.source == "moh-music":
            recordings[e.path.rsplit("/", 1)[1].rsplit("-", 1)[0]].add(e.split)
    assert recordings and all(len(s) == 1 for s in recordings.values())


def test_same_seed_gives_the_same_manifest_and_attribution(corpus, tmp_path):
    build, _ = corpus
    again = build_corpus(tmp_path / "again", minutes=MINUTES, seed=3, workers=2, cache_dir=tmp_path / "cache", progress=False)
    assert again.manifest.read_bytes() == build.manifest.read_bytes()
    assert (again.out / "ATTRIBUTION.md").read_text() == (build.out / "ATTRIBUTION.md").read_text()
    assert "Allison Smith" in (build.out / "ATTRIBUTION.md").read_text()
    record = json.loads((build.out / "build.json").read_text())
    assert (record["task"], record["minutes"], record["seed"], record["files"]) == ("vad", MINUTES, 3, len(build.entries))
    assert record["manifest_sha256"] == hashlib.sha256(build.manifest.read_bytes()).hexdigest()
    assert (again.out / "build.json").read_text() == (build.out / "build.json").read_text()


def test_cli_rerun_reuses_every_file_and_prints_the_summary(corpus, capsys):
    build, cache = corpus
    before = {p: p.stat().st_mtime_ns for p in build.out.rglob("*.flac")}
    manifest = build.manifest.read_bytes()
    rc = main(["data", "build", "--out", str(build.out), "--minutes", str(MINUTES), "--seed", "3",
               "--cache-dir", str(cache)])
    assert rc == 0
    assert {p: p.stat().st_mtime_ns for p in build.out.rglob("*.flac")} == before
    assert build.manifest.read_bytes() == manifest
    printed = capsys.readouterr().out
    assert "ivr-prompts" in printed and str(build.manifest) in printed


def test_summary_rows_add_up(corpus):
    build, _ = corpus
    rows = summary_rows(build.entries)
    assert sum(r[4] for r in rows) == len(build.entries)
    speech = sum(r[5] for r in rows if r[1] == "speech")
    assert speech == pytest.approx(sum(e.duration for e in build.entries if e.kind == "speech") / 60)
    assert speech >= MINUTES * 0.9  # quotas are filled, never left short


def test_cli_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as done:
        main(["data", "build", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--minutes", "--task", "--seed", "--sample-rate", "--format", "--out"):
        assert option in text


def test_studies_record_the_corpus_build(corpus, tmp_path):
    build, _ = corpus
    study = json.loads(write_study_record(tmp_path, build.out, {"seed": 7}).read_text())
    assert study["corpus"] == str(build.out.resolve()) and study["seed"] == 7
    assert study["corpus_build"]["manifest_sha256"] == hashlib.sha256(build.manifest.read_bytes()).hexdigest()
    assert json.loads(write_study_record(tmp_path, tmp_path, {}).read_text())["corpus_build"] is None  # hand-made
