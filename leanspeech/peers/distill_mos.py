"""Distill-MOS (pip distillmos 0.9.1): a 4.13 M-parameter CNN + transformer MOS predictor at 16 kHz.

distillmos imports torchaudio at the top of its module but uses it only to read files, which we do
with soundfile; torchaudio cannot load beside this torch, so the import runs with a stand-in
`torchaudio` module that fails loudly if touched, removed from sys.modules right after.
Audio of 7.68 s is scored in one crop; longer audio in overlapping crops (hop ≤ 1 s) whose
predictions are averaged, exactly as the package's own forward does. `score_batch` gathers the crops of
many clips into shared forward passes.
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from collections.abc import Iterator

import numpy as np
import torch
from tqdm import tqdm

from leanspeech.peers.base import mono_at_rate, require_module
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0"
MODEL_RATE = 16000


@contextlib.contextmanager
def _torchaudio_stand_in() -> Iterator[None]:
    if "torchaudio" in sys.modules:  # already imported by the user: leave it alone
        yield
        return
    stand_in = types.ModuleType("torchaudio")

    def refuse(name: str):
        # AttributeError, as for any missing module attribute, so that hasattr() still answers.
        raise AttributeError(f"torchaudio.{name} is not available: leanspeech reads audio with soundfile")

    stand_in.__getattr__ = refuse  # type: ignore[attr-defined]
    sys.modules["torchaudio"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("torchaudio") is stand_in:
            del sys.modules["torchaudio"]


def _import_sqa() -> types.ModuleType:
    with _torchaudio_stand_in():
        return require_module("distillmos.sqa", "distill-mos", PIP_COMMAND)


def crop_starts(length: int, crop: int, max_hop: int) -> list[int]:
    """Start samples of distillmos's crops: evenly spread over the overlength, hops ≤ `max_hop`."""
    overlength = max(0, length - crop)
    count = int(np.ceil(overlength / max_hop)) + 1
    return [int(fraction * overlength) for fraction in np.linspace(0, 1, count)]


@PEERS.register("distill-mos")
class DistillMos:
    """Distill-MOS with the weights from its wheel; `score` gives a MOS in [1, 5]."""

    task = "quality"
    sample_rate = MODEL_RATE

    def __init__(self, batch_size: int = 8):
        sqa = _import_sqa()
        self.crop_length = sqa.SEQ_LEN
        self.max_hop = sqa.MAX_HOP_LEN
        self.batch_size = batch_size
        with contextlib.redirect_stdout(io.StringIO()):  # it prints where the weights came from
            self.model = sqa.ConvTransformerSQAModel(load_weights=True, segmenting_in_forward=False)
        self.model.eval()

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def crops(self, wav: np.ndarray, sample_rate: int) -> torch.Tensor:
        """(n_crops, 122880) crops of one clip, zero-padded when shorter than one crop."""
        audio = mono_at_rate(wav, sample_rate, MODEL_RATE)
        audio = np.pad(audio, (0, max(0, self.crop_length - len(audio))))
        starts = crop_starts(len(audio), self.crop_length, self.max_hop)
        return torch.from_numpy(np.stack([audio[s : s + self.crop_length] for s in starts]))

    def score(self, wav: np.ndarray, sample_rate: int) -> float:
        return self.score_batch([wav], sample_rate, progress=False)[0]

    def score_batch(self, wavs: list[np.ndarray], sample_rate: int, progress: bool = True) -> list[float]:
        if not wavs:
            return []
        crops = [self.crops(wav, sample_rate) for wav in wavs]
        owners = torch.cat([torch.full((len(c),), i) for i, c in enumerate(crops)])
        stacked = torch.cat(crops)
        predictions = []
        with torch.no_grad():
            for start in tqdm(
                range(0, len(stacked), self.batch_size), desc="Distill-MOS", disable=not progress
            ):
                predictions.append(self.model(stacked[start : start + self.batch_size]).reshape(-1))
        per_crop = torch.cat(predictions)
        totals = torch.zeros(len(wavs)).index_add_(0, owners, per_crop)
        return (totals / torch.bincount(owners, minlength=len(wavs))).tolist()
