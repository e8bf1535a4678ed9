"""Scoring of the enhancement study: per-clip PESQ-WB, ESTOI, SI-SNR and DNSMOS OVRL of every
condition (noisy input, peers, each P), the Mann-Whitney tests between P values (the paper's
Table 2) and the MAC/s split into GRU and non-GRU layers (Table 1).

Per-clip scores are cached as CSV per test set and condition, so an interrupted evaluation resumes.
A clip a metric cannot score (PESQ finds no utterance in a noise-only crop) is NaN there and left out
of that metric's mean; the significance tests use the clips every condition could score.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from leanspeech.data.datasets import FixedTestSet
from leanspeech.metrics import dnsmos, estoi, pairwise_mann_whitney, pesq, si_snr_db
from leanspeech.models.base import SpeechModel
from leanspeech.profile.model_profile import profile_model

METRICS = ("pesq", "estoi", "si_snr", "dnsmos_ovrl")


@dataclass
class TestClips:
    name: str
    mixtures: np.ndarray  # (N, T)
    cleans: np.ndarray  # (N, T)
    snr: np.ndarray  # (N,) dB
    sample_rate: int


def load_test_clips(name: str, test_set: FixedTestSet) -> TestClips:
    items = [test_set[i] for i in range(len(test_set))]
    return TestClips(
        name=name,
        mixtures=np.stack([item["mixture"].numpy() for item in items]),
        cleans=np.stack([item["clean"].numpy() for item in items]),
        snr=np.array([float(item["snr"]) for item in items]),
        sample_rate=test_set.sample_rate,
    )


def model_enhancer(model: SpeechModel, batch_size: int = 16) -> Callable[[np.ndarray], np.ndarray]:
    """Offline enhancement of a (N, T) array of clips, in batches."""
    @torch.no_grad()
    def run(mixtures: np.ndarray) -> np.ndarray:
        model.eval()
        parts = [model.enhance(torch.from_numpy(mixtures[i : i + batch_size])).numpy()
                 for i in range(0, len(mixtures), batch_size)]
        return np.concatenate(parts)
    return run


def clip_scores(clean: np.ndarray, degraded: np.ndarray, rate: int, with_dnsmos: bool) -> dict[str, float]:
    scores = {
        "pesq": pesq(clean, degraded, rate, "wb", on_error="nan"),
        "estoi": estoi(clean, degraded, rate, on_error="nan"),
        "si_snr": si_snr_db(clean, degraded),
        "dnsmos_ovrl": math.nan,
    }
    peak = float(np.abs(degraded).max())
    if with_dnsmos and peak > 0:
        scores["dnsmos_ovrl"] = dnsmos(degraded / max(peak, 1.0), rate).ovrl  # needs [-1, 1]
    return scores


def score_condition(clips: TestClips, produce: Callable[[], np.ndarray], cache: Path, with_dnsmos: bool,
                    label: str) -> dict[str, np.ndarray]:
    """Per-clip scores of one condition as arrays per metric; `produce` gives its (N, T) outputs and
    is called only when `cache` does not hold the scores yet."""
    if cache.is_file():
        with open(cache, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if len(rows) == len(clips.cleans):
            return {m: np.array([float(r[m]) for r in rows]) for m in METRICS}
    degraded = produce()
    rows = [clip_scores(clean, out, clips.sample_rate, with_dnsmos)
            for clean, out in tqdm(zip(clips.cleans, degraded), total=len(degraded), desc=f"score {label}", unit="clip")]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(METRICS))
        writer.writeheader()
        writer.writerows(rows)
    return {m: np.array([r[m] for r in rows]) for m in METRICS}


def p_value_table(pesq_by_condition: dict[str, np.ndarray]) -> list[dict[str, float | str]]:
    """Two-sided Mann-Whitney U on PESQ for every pair (the paper's Table 2: uncorrected p), with
    Holm's correction beside it; clips some condition could not score are left out everywhere."""
    arrays = np.stack(list(pesq_by_condition.values()))
    usable = np.isfinite(arrays).all(axis=0)
    conditions = {name: values[usable] for name, values in pesq_by_condition.items()}
    return [{"a": t.first, "b": t.second, "u": t.u, "p": t.p_value, "p_holm": t.p_adjusted, "clips": int(usable.sum())}
            for t in pairwise_mann_whitney(conditions, correction="holm")]


def is_gru(kind: str) -> bool:
    return kind in ("GRU", "DGRU")


def cost_split(model: SpeechModel, seconds: float = 4.0) -> dict[str, float]:
    """MAC/s of the GRU layers, of the other layers, and of the STFT front end (the paper's Table 1
    counts layers only; the front end is listed apart)."""
    profile = profile_model(model, seconds=seconds)
    kinds = {record.name: record.kind for record in profile.layers}
    split = {"gru": 0.0, "non_gru": 0.0, "front_end": 0.0}
    for name, rates in profile.layer_per_second.items():
        if is_gru(kinds.get(name, "")):
            split["gru"] += rates["macs"]
        elif name == "frontend" or name.startswith("frontend."):
            split["front_end"] += rates["macs"]
        else:
            split["non_gru"] += rates["macs"]
    split["all_layers"] = split["gru"] + split["non_gru"]
    split["params"] = float(sum(p.numel() for p in model.parameters()))
    return split
