"""Non-intrusive PESQ-prediction data (bam-qat-sqp.md §3.2): noisy clips, 9 s segments, one WB-PESQ label each.

A clip is made like the DNS Challenge synthesizer makes one: utterances of a corpus split are
concatenated (short random gaps) up to `clip_seconds`, then degraded by the mixing pipeline (noise at
an SNR from `mixing.snr_range`, optional RIR). The clip is cut into segments of `segment_seconds` with
a hop of `stride_seconds`; each segment gets PESQ(clean segment, noisy segment), and the clean signal
is discarded: only the noisy clip is written. Clips are a pure function of (seed, split, index).

Splits: "train" and "val" clips both come from the corpus's train split, the last `val_fraction`
(5 %) of the clip indices being validation; "test" clips come from the corpus's test split (held-out
speakers and noises). Short clips: a clip of at least `min_seconds` (1 s) but shorter than a segment
is repeated to fill one segment (as DNSMOS does); a shorter clip is rejected. A segment PESQ cannot score (silent, no
utterance detected) is skipped and counted, never given a made-up label.

Labels cost ≈0.2 s per segment, so they are computed in worker processes and cached: `labels.jsonl`
gets one line per finished clip, and a re-run computes only the clips it lacks. User data with real
scores (a CSV of path, score) goes through `table_segments` instead.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.data.manifest import read_manifest
from leanspeech.data.mixing import Mixer, MixingConfig, mixing_rng
from leanspeech.data.pools import NoisePool, RirPool, report_skipped
from leanspeech.data.readers.table import read_table
from leanspeech.errors import AudioError, CorpusError, LeanspeechError
from leanspeech.metrics import pesq

SPLIT_CODES = {"train": 0, "val": 0, "test": 1}  # val clips are drawn from the corpus's train split
CORPUS_SPLIT = {"train": "train", "val": "train", "test": "test"}
# The paper's DNS2020 data: noise on every clip, no reverberation (its test set is reverberation-free).
DEFAULT_MIXING = {"noise_prob": 1.0, "reverb_prob": 0.0, "snr_range": [-5.0, 25.0]}


@dataclass(frozen=True)
class SegmentRule:
    segment_seconds: float = 9.0
    stride_seconds: float = 2.0
    min_seconds: float = 1.0  # a clip shorter than a segment but at least this long is repeated to fill one
    sample_rate: int = 16000

    @property
    def length(self) -> int:
        return int(round(self.segment_seconds * self.sample_rate))

    @property
    def stride(self) -> int:
        return int(round(self.stride_seconds * self.sample_rate))

    def starts(self, n_samples: int) -> list[int]:
        """Segment starts of a clip of `n_samples`: every `stride` while a whole segment fits, [0] for a
        short clip that is repeated, [] for a rejected one."""
        if n_samples >= self.length:
            return list(range(0, n_samples - self.length + 1, self.stride))
        return [0] if n_samples >= self.min_seconds * self.sample_rate else []

    def cut(self, wav: np.ndarray, start: int) -> np.ndarray:
        """One segment; a clip shorter than a segment is repeated to fill it."""
        piece = wav[start:start + self.length]
        return np.resize(piece, self.length).astype(np.float32, copy=False)


@dataclass(frozen=True)
class PesqDataConfig:
    clip_seconds: float = 30.0
    train_clips: int = 200  # train + val clips (the paper: 6,000 clips of 30 s)
    test_clips: int = 30
    val_fraction: float = 0.05
    gap_seconds: tuple[float, float] = (0.1, 0.6)  # silence between concatenated utterances
    seed: int = 0
    segments: SegmentRule = field(default_factory=SegmentRule)
    mixing: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_MIXING))

    def clips(self) -> list[tuple[str, int]]:
        """(split, index) of every clip; indices count within the corpus split they are drawn from."""
        n_val = math.ceil(self.val_fraction * self.train_clips) if self.val_fraction > 0 else 0
        n_train = self.train_clips - n_val
        return ([("train", i) for i in range(n_train)] + [("val", i) for i in range(n_train, self.train_clips)]
                + [("test", i) for i in range(self.test_clips)])

    def mixing_config(self) -> MixingConfig:
        return MixingConfig.from_dict({**self.mixing, "sample_rate": self.segments.sample_rate, "seed": self.seed})


@dataclass
class Segment:
    """One labelled segment of an audio file: `label` is WB-PESQ (synthetic data) or the user's score."""

    path: Path
    start: int
    label: float
    split: str


def segment_labels(clean: np.ndarray, noisy: np.ndarray, rule: SegmentRule) -> tuple[list[int], list[float], list[str]]:
    """Starts and WB-PESQ labels of the scorable segments of a clip, and one problem per skipped segment."""
    starts, labels, problems = [], [], []
    for start in rule.starts(len(noisy)):
        try:
            value = pesq(rule.cut(clean, start), rule.cut(noisy, start), rule.sample_rate, "wb")
        except LeanspeechError as err:
            problems.append(f"segment at {start / rule.sample_rate:g} s: {err}")
            continue
        starts.append(start)
        labels.append(value)
    return starts, labels, problems


class ClipMaker:
    """Makes the (noisy, clean) clips of one PesqDataConfig from a corpus folder (manifest.csv)."""

    def __init__(self, corpus: str | Path, config: PesqDataConfig):
        self.root, self.config = Path(corpus), config
        self.rate = config.segments.sample_rate
        self.mixing = config.mixing_config()
        manifest = self.root / "manifest.csv"
        self.speech: dict[str, list[Path]] = {}
        self.mixers: dict[str, Mixer] = {}
        for split in sorted(set(CORPUS_SPLIT.values())):
            entries = read_manifest(manifest, kind="speech", split=split)
            if not entries:
                raise CorpusError(f"{manifest}: no speech files in split {split!r}")
            self.speech[split] = [e.resolve(self.root) for e in entries]
            noises = rirs = None
            if self.mixing.noise_prob > 0:
                noises = NoisePool.from_entries(read_manifest(manifest, kind="noise", split=split), self.root, self.rate)
            if self.mixing.reverb_prob > 0:
                rirs = RirPool.from_entries(read_manifest(manifest, kind="rir", split=split), self.root, self.rate)
            self.mixers[split] = Mixer(self.mixing, noises, rirs)
        self._cache: dict[Path, np.ndarray] = {}

    def _utterance(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_audio(path, sample_rate=self.rate)[0]
        return self._cache[path]

    def clip(self, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean) float32 arrays of `clip_seconds`."""
        c = self.config
        rng = mixing_rng(c.seed, 1000 + SPLIT_CODES[split], index)  # apart from the epochs of MixtureDataset
        files = self.speech[CORPUS_SPLIT[split]]
        length = int(round(c.clip_seconds * self.rate))
        pieces, filled = [], 0
        while filled < length:
            utterance = self._utterance(files[int(rng.integers(len(files)))])
            gap = np.zeros(int(rng.uniform(*c.gap_seconds) * self.rate), np.float32)
            pieces += [utterance, gap]
            filled += len(utterance) + len(gap)
        clean = np.concatenate(pieces)[:length]
        mixed = self.mixers[CORPUS_SPLIT[split]].mix(clean, rng)
        return mixed.mixture, mixed.target


# Worker-process state: one ClipMaker per process, built once by the pool's initializer.
_MAKER: ClipMaker | None = None


def _init_worker(corpus: str, config: PesqDataConfig) -> None:
    global _MAKER
    _MAKER = ClipMaker(corpus, config)


def _label_clip(job: tuple[str, int, str]) -> dict[str, Any]:
    split, index, out = job
    noisy, clean = _MAKER.clip(split, index)
    rule = _MAKER.config.segments
    starts, labels, problems = segment_labels(clean, noisy, rule)
    path = f"clips/{split}/{index:06d}.wav"
    save_audio(Path(out) / path, noisy, rule.sample_rate, "FLOAT")  # the clean clip is not kept
    return {"split": split, "index": index, "path": path, "starts": starts, "pesq": labels, "problems": problems}


@dataclass
class LabelRun:
    folder: Path
    computed: int  # clips labelled by this call
    reused: int  # clips found in the cache
    segments: int  # labelled segments in the cache after this call
    skipped: int  # segments PESQ could not score, in the cache after this call


def _read_records(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    records = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                records[(row["split"], row["index"])] = row
    return records


def build_pesq_segments(
    corpus: str | Path, out: str | Path, config: PesqDataConfig = PesqDataConfig(), workers: int = 2,
    max_new_clips: int | None = None, progress: bool = True,
) -> LabelRun:
    """Make and label every clip of `config` into `out`, reusing the clips already labelled there.
    `max_new_clips` stops after that many new clips (a budgeted or interrupted run; call again to finish)."""
    out = Path(out)
    description = {"corpus": str(Path(corpus).resolve()), **asdict(config)}
    config_path = out / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()) != json.loads(json.dumps(description)):
        raise CorpusError(f"{out}: holds PESQ segments made with another configuration (see {config_path}); "
                          "remove the folder or choose another")
    out.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(description, indent=2))
    log_path = out / "labels.jsonl"
    records = _read_records(log_path)
    todo = [(split, index, str(out)) for split, index in config.clips() if (split, index) not in records]
    todo = todo[:max_new_clips] if max_new_clips is not None else todo
    reused = len(records)
    with open(log_path, "a") as log, tqdm(total=len(todo), desc="PESQ labels", unit="clip", disable=not progress) as bar:
        for record in _map_jobs(todo, str(corpus), config, workers):
            log.write(json.dumps(record) + "\n")
            log.flush()  # a written line means the clip's file is complete
            records[(record["split"], record["index"])] = record
            bar.update()
    problems = [(f"{r['path']} {p.split(':')[0]}", p.split(": ", 1)[-1]) for r in records.values() for p in r["problems"]]
    report_skipped("PESQ segments", problems)
    return LabelRun(out, len(todo), reused, sum(len(r["pesq"]) for r in records.values()), len(problems))


def _map_jobs(jobs: list[tuple[str, int, str]], corpus: str, config: PesqDataConfig, workers: int) -> Iterator[dict]:
    if not jobs:
        return
    # built here first: a corpus error raised in a worker's initializer reaches the caller only as a BrokenProcessPool
    _init_worker(corpus, config)
    if workers <= 1:
        yield from map(_label_clip, jobs)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(corpus, config)) as pool:
        yield from pool.map(_label_clip, jobs, chunksize=1)


def read_pesq_segments(folder: str | Path, split: str | None = None) -> list[Segment]:
    """The labelled segments of a folder made by `build_pesq_segments`, in clip order."""
    folder = Path(folder)
    log = folder / "labels.jsonl"
    if not log.is_file():
        raise CorpusError(f"{folder}: no labels.jsonl; run build_pesq_segments first")
    rows = sorted(_read_records(log).values(), key=lambda r: (r["split"], r["index"]))
    return [Segment(folder / r["path"], start, label, r["split"])
            for r in rows if split is None or r["split"] == split
            for start, label in zip(r["starts"], r["pesq"])]


def table_segments(table: str | Path, score_column: str = "score", rule: SegmentRule = SegmentRule(),
                   split: str = "train") -> list[Segment]:
    """Segments of the files listed in a user's .csv/.tsv/.jsonl table of (path, score), e.g. real MOS data:
    every segment of a file carries the file's score. A file that is unreadable, too short for the segment
    rule or has no finite score is skipped and counted."""
    listing = read_table(table, split=split)
    segments, skipped = [], []
    for entry in tqdm(listing.entries, desc="scored files", unit="file", mininterval=1.0):
        path = entry.resolve(listing.root)
        try:
            score = float(entry.extra.get(score_column, "nan"))
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            skipped.append((str(path), f"no finite {score_column!r} value"))
            continue
        try:
            wav, _ = load_audio(path, sample_rate=rule.sample_rate)
        except AudioError as err:
            skipped.append((str(path), err.problem))
            continue
        starts = rule.starts(len(wav))
        if not starts:
            skipped.append((str(path), f"{len(wav) / rule.sample_rate:.2f} s is under the {rule.min_seconds:g} s minimum"))
        segments += [Segment(path, start, score, entry.split or split) for start in starts]
    report_skipped(f"files of {table}", skipped)
    return segments


def load_segment(segment: Segment, rule: SegmentRule) -> np.ndarray:
    wav, _ = load_audio(segment.path, sample_rate=rule.sample_rate)
    return rule.cut(wav, segment.start)
