"""Scoring the VAD study's models and peers on one fixed test set, frame by frame against the same labels.

Our models give one probability per frame (hop 256 at 16 kHz, centred frames). Silero VAD's 32 ms
chunk scores and WebRTC VAD's 10 ms decisions are mapped onto the same frames by the peers' own
alignment (`leanspeech.peers.base.chunk_scores_to_frames`). EER pools all frames of all clips.
WebRTC VAD has no score, only four modes: each is one (FPR, FNR) point, and its EER is read where
the ROC polyline through (0, 0), the four points and (1, 1) crosses FPR = FNR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from leanspeech.data.datasets import FixedTestSet
from leanspeech.metrics import equal_error_rate
from leanspeech.models.base import SpeechModel


@dataclass
class TestClips:
    mixtures: np.ndarray  # (clips, samples) float32
    labels: np.ndarray  # (clips, frames) 0/1
    snr: np.ndarray  # (clips,) dB, NaN where no noise was added
    sample_rate: int


def load_test_clips(test_set: FixedTestSet) -> TestClips:
    items = [test_set[i] for i in tqdm(range(len(test_set)), desc="reading test set", unit="clip")]
    return TestClips(
        mixtures=np.stack([item["mixture"].numpy() for item in items]),
        labels=np.stack([item["labels"].numpy() for item in items]),
        snr=np.array([float(item["snr"]) for item in items]),
        sample_rate=test_set.sample_rate,
    )


@torch.no_grad()
def model_probabilities(model: SpeechModel, clips: TestClips, batch_size: int = 32) -> np.ndarray:
    """(clips, frames) speech-presence probabilities of `model` on the test mixtures."""
    model.eval()
    batches = [
        model.forward_wav(torch.from_numpy(clips.mixtures[start:start + batch_size])).numpy()
        for start in range(0, len(clips.mixtures), batch_size)
    ]
    return np.concatenate(batches).astype(np.float32)


def peer_scores(name: str, score_clip, clips: TestClips, cache: Path) -> np.ndarray:
    """`score_clip(wav) -> frames` over every clip, cached in `cache` (.npy) so a re-run skips it."""
    if cache.is_file():
        scores = np.load(cache, allow_pickle=False)
        if scores.shape[0] == len(clips.mixtures):
            return scores
    scores = np.stack([score_clip(wav) for wav in tqdm(clips.mixtures, desc=f"scoring {name}", unit="clip")])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, scores)
    return scores


def pooled_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    return equal_error_rate(scores.reshape(-1), labels.reshape(-1)).eer


def error_point(decisions: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(FPR, FNR) of binary decisions."""
    decided, truth = decisions.reshape(-1) > 0.5, labels.reshape(-1) > 0.5
    return float(decided[~truth].mean()), float((~decided[truth]).mean())


def operating_points_eer(points: list[tuple[float, float]]) -> float:
    """EER of the ROC polyline through (FPR, FNR) points, closed by (0, 1) and (1, 0)."""
    curve = sorted([(0.0, 1.0), *points, (1.0, 0.0)])
    for (fpr0, fnr0), (fpr1, fnr1) in zip(curve, curve[1:]):
        gap0, gap1 = fnr0 - fpr0, fnr1 - fpr1
        if gap0 >= 0 >= gap1:
            weight = 0.0 if gap0 == gap1 else gap0 / (gap0 - gap1)
            return fpr0 + weight * (fpr1 - fpr0)
    raise ValueError(f"the points {points} do not cross FPR = FNR")  # unreachable: the ends bracket it
