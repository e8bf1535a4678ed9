"""The anti-spoofing study's data: a corpus in the ASVspoof 2019 LA layout, read by `asvspoof2019-la`,
as fixed-length crops with label 1 = bona fide (the positive class of the countermeasure's score).

Every utterance becomes `segment_seconds` of audio: a short one is repeated to that length (silence
padding would mark short files), a long one is cropped (a random crop for training, its start for
dev and eval, so scores are reproducible). Files load lazily: the real corpus does not fit in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.readers.asvspoof import SPLITS, protocol_path
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS

ATTACK_ID = re.compile(r"A\d{2}")  # ASVspoof ids: A01..A19 in 2019 LA, A01..A06 in the corpus built here
BONAFIDE = "-"


def fit_length(wav: np.ndarray, samples: int, offset: int = 0) -> np.ndarray:
    """`samples` samples of `wav` from `offset`, repeating a shorter utterance end to end."""
    if len(wav) < samples:
        wav = np.tile(wav, -(-samples // len(wav)))
    return wav[offset:offset + samples]


@dataclass(frozen=True)
class Utterance:
    path: Path
    bonafide: bool
    attack: str  # "-" for bona fide speech


def check_attack(root: Path, split: str, entry: ManifestEntry) -> str:
    """The entry's attack id, or a CorpusError naming the protocol file, its line and the bad id."""
    attack = entry.extra.get("attack", "")
    if attack == BONAFIDE or ATTACK_ID.fullmatch(attack):
        return attack
    part = next(p for p, s in SPLITS.items() if s == split)
    protocol = protocol_path(root, part)
    name = Path(entry.path).stem
    number = next((i for i, line in enumerate(protocol.read_text().splitlines(), 1) if name in line.split()), "?")
    raise CorpusError(f"{protocol}, line {number}: unknown attack id {attack!r} for {name} "
                      f"(expected '-' for bona fide or A01, A02, ...)")


def read_split(root: str | Path, split: str) -> list[Utterance]:
    """The utterances of one split ("train", "dev" or "test" = the eval part); missing files are
    reported and skipped by the reader, bad protocol lines and attack ids are errors."""
    root = Path(root)
    part = next((p for p, s in SPLITS.items() if s == split), None)
    if part is None:
        raise CorpusError(f"no split {split!r} in ASVspoof 2019 LA; splits: {', '.join(SPLITS.values())}")
    listing = READERS.build("asvspoof2019-la", root=root, parts=(part,))
    utterances = [Utterance(entry.resolve(root), entry.extra["label"] == "bonafide", check_attack(root, split, entry))
                  for entry in listing.entries]
    kinds = {u.bonafide for u in utterances}
    if kinds != {True, False}:
        raise CorpusError(f"{protocol_path(root, part)}: the {split} split needs bona fide and spoof files, "
                          f"found {len(utterances)} file(s) of {'no' if not kinds else 'one'} class")
    return utterances


class SpoofCrops(Dataset):
    """(waveform crop, label) pairs; `random_crop` draws a new offset per call from `seed` and the epoch."""

    def __init__(self, utterances: list[Utterance], sample_rate: int, segment_seconds: float,
                 random_crop: bool = False, seed: int = 0):
        self.utterances, self.sample_rate = utterances, sample_rate
        self.samples = int(round(segment_seconds * sample_rate))
        self.random_crop, self.seed, self.epoch = random_crop, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        utterance = self.utterances[index]
        wav, _ = load_audio(utterance.path, sample_rate=self.sample_rate)
        offset = 0
        if self.random_crop and len(wav) > self.samples:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            offset = int(rng.integers(len(wav) - self.samples + 1))
        crop = fit_length(wav, self.samples, offset)
        return torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32)), torch.tensor(float(utterance.bonafide))
