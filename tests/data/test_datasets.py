import json
import logging
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from leanspeech.audio.io import save_audio
from leanspeech.data.datasets import FixedTestSet, MixtureDataset
from leanspeech.data.labels import LabelConfig
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.errors import CorpusError
from leanspeech.registry import DATASETS

RATE = 16000
FULL_CHAIN = {"reverb_prob": 0.5, "noise_prob": 0.8, "gain_db_range": [-6, 3], "lowpass_prob": 0.3,
              "telephone_prob": 0.3, "rt60_range": [0.2, 1.0]}


def write_corpus(root, missing_speech=False):
    """3 train speech files (tones with pauses), 2 noises (one shorter than a crop), 2 RIRs."""
    rng = np.random.default_rng(0)
    entries = []

    def add(name, wav, kind, speaker, extra=None):
        save_audio(root / name, wav.astype(np.float32), RATE)
        entries.append(ManifestEntry(name, kind, "train", speaker, "test", len(wav) / RATE, RATE, extra=extra or {}))

    for i, seconds in enumerate([1.5, 2.5, 3.0]):
        t = np.arange(int(seconds * RATE)) / RATE
        wav = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
        add(f"speech/s{i}.wav", wav, "speech", f"spk{i}")
    add("noise/white.wav", 0.1 * rng.standard_normal(3 * RATE), "noise", "white")
    add("noise/short.wav", 0.1 * np.cumsum(rng.standard_normal(RATE // 4)) / 50, "noise", "brown")
    for i, rt60 in enumerate([0.3, 0.8]):
        n = int(rt60 * RATE)
        rir = np.concatenate([[1.0], 0.2 * rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / RATE / rt60)])
        add(f"rir/r{i}.wav", rir, "rir", f"room{i}", {"rt60": str(rt60)})
    if missing_speech:
        entries.append(ManifestEntry("speech/gone.wav", "speech", "train", "x", "test", 2.0, RATE))
    write_manifest(root / "manifest.csv", entries)
    return root


def test_items_have_the_documented_shapes(tmp_path):
    data = MixtureDataset(write_corpus(tmp_path), "train", mixing=FULL_CHAIN, segment_seconds=2.0,
                          labels={"n_fft": 512, "hop_length": 160}, items_per_epoch=10)
    assert len(data) == 10
    item = data[1]
    assert item["mixture"].shape == item["clean"].shape == (32000,)
    assert item["mixture"].dtype == torch.float32
    assert item["labels"].shape == (LabelConfig(n_fft=512, hop_length=160).num_frames(32000),)
    assert set(item["labels"].unique().tolist()) <= {0.0, 1.0} and item["labels"].sum() > 0
    assert torch.isfinite(item["mixture"]).all() and item["mixture"].abs().max() <= 0.99 + 1e-6
    assert DATASETS.get("mixture") is MixtureDataset


def test_short_files_are_zero_padded_and_labelled_silent_there(tmp_path):
    data = MixtureDataset(write_corpus(tmp_path), mixing={"reverb_prob": 0, "noise_prob": 0}, segment_seconds=2.0)
    item = data.item(0, epoch=0)  # index 0 → s0.wav, 1.5 s long
    assert torch.all(item["clean"][24000:] == 0) and torch.all(item["labels"][-10:] == 0)


def test_mixture_snr_matches_the_metadata(tmp_path):
    data = MixtureDataset(write_corpus(tmp_path), mixing={"reverb_prob": 0, "noise_prob": 1, "target": "dry"},
                          segment_seconds=1.0, items_per_epoch=6)
    for index in range(6):
        item = data[index]
        clean, noise = item["clean"].double(), (item["mixture"] - item["clean"]).double()
        if clean.pow(2).mean() > 0:
            measured = 10 * torch.log10(clean.pow(2).mean() / noise.pow(2).mean())
            assert measured.item() == pytest.approx(item["snr"].item(), abs=0.01)


def test_mixes_depend_only_on_seed_epoch_and_index(tmp_path):
    data = MixtureDataset(write_corpus(tmp_path), mixing=FULL_CHAIN, segment_seconds=1.0, items_per_epoch=8)
    serial = list(DataLoader(data, batch_size=4, num_workers=0))
    parallel = list(DataLoader(data, batch_size=4, num_workers=2))
    for a, b in zip(serial, parallel):
        for key in a:
            torch.testing.assert_close(a[key], b[key], equal_nan=True, rtol=0, atol=0)
    data.set_epoch(1)
    assert not torch.equal(data[0]["mixture"], serial[0]["mixture"][0])


def test_dataset_pickles_for_spawned_workers(tmp_path):
    data = MixtureDataset(write_corpus(tmp_path), mixing=FULL_CHAIN, segment_seconds=1.0)
    copy = pickle.loads(pickle.dumps(data))
    for index in range(3):
        torch.testing.assert_close(copy[index]["mixture"], data[index]["mixture"], rtol=0, atol=0)


def test_missing_speech_files_are_reported_and_skipped(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        data = MixtureDataset(write_corpus(tmp_path, missing_speech=True), mixing={"reverb_prob": 0, "noise_prob": 0})
    assert len(data.speech) == 3
    assert "skipped 1 speech files" in caplog.text and "gone.wav" in caplog.text
    with pytest.raises(CorpusError, match="no 'speech' files in split 'dev'"):
        MixtureDataset(tmp_path, "dev")


def test_fixed_test_set_renders_once_resumes_and_reads_back(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus")
    kwargs = dict(root=corpus, split="train", count=4, mixing=FULL_CHAIN, segment_seconds=1.0)
    fixed = FixedTestSet(tmp_path / "fixed", **kwargs)
    source = MixtureDataset(corpus, "train", mixing=FULL_CHAIN, segment_seconds=1.0)
    assert len(fixed) == 4
    for index in range(4):
        expected, got = source.item(index, epoch=0), fixed[index]
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], equal_nan=True, rtol=0, atol=0)

    rendered = []
    original = MixtureDataset.item
    monkeypatch.setattr(MixtureDataset, "item", lambda self, i, epoch: rendered.append(i) or original(self, i, epoch))
    FixedTestSet(tmp_path / "fixed", **kwargs)
    assert rendered == []  # reused as it is

    (tmp_path / "fixed" / "manifest.csv").unlink()  # as if interrupted after three items
    lines = (tmp_path / "fixed" / "items.jsonl").read_text().splitlines()
    (tmp_path / "fixed" / "items.jsonl").write_text("\n".join(lines[:3]) + "\n")
    resumed = FixedTestSet(tmp_path / "fixed", **kwargs)
    assert rendered == [3] and len(resumed) == 4
    assert json.loads((tmp_path / "fixed" / "config.json").read_text())["count"] == 4

    with pytest.raises(CorpusError, match="another configuration"):
        FixedTestSet(tmp_path / "fixed", **{**kwargs, "segment_seconds": 2.0})
