"""Torch datasets over a corpus folder (manifest.csv): mixtures made on the fly, and fixed test sets.

Items are dicts of tensors: `mixture` and `clean` (T,), `labels` (frames,), and one 0-d tensor per
mixing parameter (`snr`, `rt60`, `gain_db`, `lowpass`, `telephone`, `clip_scale`; NaN = not applied).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.data.labels import LabelConfig, speech_presence
from leanspeech.data.manifest import ManifestEntry, read_manifest, write_manifest
from leanspeech.data.mixing import Mixer, MixingConfig, mixing_rng
from leanspeech.data.pools import NoisePool, RirPool, report_skipped
from leanspeech.errors import AudioError, CorpusError
from leanspeech.registry import DATASETS

META_KEYS = ("snr", "rt60", "gain_db", "lowpass", "telephone", "clip_scale")


def read_crop(path: Path, start: int, frames: int, file_rate: int, sample_rate: int) -> np.ndarray:
    """`frames` mono samples from `start` at `sample_rate`, zero-padded past the file's end."""
    if file_rate == sample_rate:
        try:
            data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(path, f"unreadable or unsupported audio ({err})") from None
        wav = data.mean(axis=1)
    else:  # other rates: load and resample the whole file (rare: corpora are built at the model's rate)
        wav, _ = load_audio(path, sample_rate=sample_rate)
        wav = wav[start:start + frames]
    return np.pad(wav, (0, frames - len(wav))).astype(np.float32, copy=False)


def _existing(entries: list[ManifestEntry], root: Path, what: str) -> list[ManifestEntry]:
    kept, missing = [], []
    for entry in entries:
        path = entry.resolve(root)
        if path.is_file():
            kept.append(entry)
        else:
            missing.append((str(path), "file does not exist"))
    report_skipped(what, missing)
    return kept


def _as_tensors(mixture: np.ndarray, clean: np.ndarray, labels: np.ndarray, meta: dict[str, float],
                index: int) -> dict[str, torch.Tensor]:
    item = {"mixture": torch.from_numpy(mixture), "clean": torch.from_numpy(clean),
            "labels": torch.from_numpy(labels), "index": torch.tensor(index)}
    item.update({k: torch.tensor(float(meta[k]), dtype=torch.float32) for k in META_KEYS})
    return item


@DATASETS.register("mixture")
class MixtureDataset(Dataset):
    """Fixed-length crops of a split's speech, mixed on the fly with its noise and RIR pools.

    Item `index` of epoch `epoch` depends only on (mixing.seed, epoch, index), so it is the same with
    any number of DataLoader workers; call `set_epoch` before each epoch for fresh mixes.
    """

    def __init__(self, root: str | Path, split: str = "train", mixing: MixingConfig | dict | None = None,
                 labels: LabelConfig | dict | None = None, segment_seconds: float = 4.0,
                 items_per_epoch: int | None = None, speech_kind: str = "speech", noise_kind: str = "noise",
                 rir_kind: str = "rir"):
        self.root = Path(root)
        self.split = split
        self.mixing = mixing if isinstance(mixing, MixingConfig) else MixingConfig.from_dict(mixing)
        self.label_config = labels if isinstance(labels, LabelConfig) else LabelConfig.from_dict(labels)
        self.segment_seconds = segment_seconds
        self.segment = int(round(segment_seconds * self.mixing.sample_rate))
        manifest = self.root / "manifest.csv"
        rate = self.mixing.sample_rate
        self.speech = _existing(read_manifest(manifest, kind=speech_kind, split=split), self.root, "speech files")
        if not self.speech:
            raise CorpusError(f"{manifest}: no {speech_kind!r} files in split {split!r}")
        noises = rirs = None
        if self.mixing.noise_prob > 0:
            noises = NoisePool.from_entries(read_manifest(manifest, kind=noise_kind, split=split), self.root, rate)
        if self.mixing.reverb_prob > 0:
            rirs = RirPool.from_entries(read_manifest(manifest, kind=rir_kind, split=split), self.root, rate)
        self.mixer = Mixer(self.mixing, noises, rirs)
        self.items_per_epoch = items_per_epoch or len(self.speech)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.items_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int) -> dict[str, torch.Tensor]:
        rng = mixing_rng(self.mixing.seed, epoch, index)
        entry = self.speech[index % len(self.speech)]
        rate = self.mixing.sample_rate
        available = int(entry.duration * rate)
        start = int(rng.integers(max(available - self.segment, 0) + 1))
        speech = read_crop(entry.resolve(self.root), start, self.segment, entry.sample_rate, rate)
        mixed = self.mixer.mix(speech, rng)
        labels = speech_presence(speech, self.label_config)
        return _as_tensors(mixed.mixture, mixed.target, labels, mixed.meta, index)

    def describe(self) -> dict[str, Any]:
        """What determines the items: a fixed test set rendered from a different description is stale."""
        return {"root": str(self.root.resolve()), "split": self.split, "segment_seconds": self.segment_seconds,
                "mixing": asdict(self.mixing), "labels": asdict(self.label_config)}


@DATASETS.register("fixed-mixture")
class FixedTestSet(Dataset):
    """`count` mixtures of a corpus split rendered once into `folder` (wav + labels .npy + manifest),
    reused when present and resumed when interrupted; items are read back from disk.

    The extra keyword arguments configure the `MixtureDataset` that renders them.
    """

    def __init__(self, folder: str | Path, root: str | Path, split: str = "test", count: int = 200,
                 **mixture_kwargs: Any):
        self.folder = Path(folder)
        self.count = count
        source = MixtureDataset(root, split, **mixture_kwargs)
        self.sample_rate = source.mixing.sample_rate
        self._render(source)
        self.entries = read_manifest(self.folder / "manifest.csv")

    def _render(self, source: MixtureDataset) -> None:
        description = {**source.describe(), "count": self.count}
        config_path = self.folder / "config.json"
        if config_path.is_file():
            if json.loads(config_path.read_text()) != json.loads(json.dumps(description)):
                raise CorpusError(f"{self.folder}: holds a fixed test set rendered with another configuration "
                                  f"(see {config_path}); remove the folder or choose another")
            if (self.folder / "manifest.csv").is_file():
                return
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(description, indent=2))
        done_path = self.folder / "items.jsonl"
        done = {}
        if done_path.is_file():
            for line in done_path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    done[row["index"]] = row
        with open(done_path, "a") as log:
            for index in tqdm(range(self.count), desc=f"rendering {self.folder.name}", unit="mix"):
                if index in done:
                    continue
                item = source.item(index, epoch=0)
                name = f"{index:06d}"
                save_audio(self.folder / "mixture" / f"{name}.wav", item["mixture"].numpy(), self.sample_rate, "FLOAT")
                save_audio(self.folder / "clean" / f"{name}.wav", item["clean"].numpy(), self.sample_rate, "FLOAT")
                (self.folder / "labels").mkdir(exist_ok=True)
                np.save(self.folder / "labels" / f"{name}.npy", item["labels"].numpy())
                row = {"index": index, **{k: float(item[k]) for k in META_KEYS}}
                log.write(json.dumps(row) + "\n")
                log.flush()  # a written line means the item's files are complete
                done[index] = row
        entries = [
            ManifestEntry(path=f"mixture/{i:06d}.wav", kind="mixture", split=source.split, speaker="",
                          source="fixed-mixture", duration=source.segment / self.sample_rate,
                          sample_rate=self.sample_rate,
                          extra={"clean": f"clean/{i:06d}.wav", "labels": f"labels/{i:06d}.npy",
                                 **{k: repr(done[i][k]) for k in META_KEYS}})
            for i in range(self.count)
        ]
        write_manifest(self.folder / "manifest.csv", entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        entry = self.entries[index]
        mixture, _ = load_audio(entry.resolve(self.folder), require_rate=True, sample_rate=self.sample_rate)
        clean, _ = load_audio(self.folder / entry.extra["clean"], require_rate=True, sample_rate=self.sample_rate)
        labels = np.load(self.folder / entry.extra["labels"], allow_pickle=False)
        meta = {k: float(entry.extra[k]) for k in META_KEYS}
        return _as_tensors(mixture, clean, labels.astype(np.float32), meta, index)
