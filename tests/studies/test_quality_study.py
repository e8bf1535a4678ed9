import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanspeech.audio.io import save_audio
from leanspeech.cli import main
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.studies.quality import VARIANTS

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
RATE = 16000


def tiny_corpus(root: Path) -> Path:
    """Allison's prompts (speaker-disjoint by file) and white noise per split."""
    entries = []
    for i, name in enumerate(["all-circuits-busy-now.wav", "agent-newlocation.wav", "agent-alreadyon.wav"]):
        info = sf.info(SOUNDS / name)
        entries.append(ManifestEntry(path=str(SOUNDS / name), kind="speech", split="train" if i < 2 else "test",
                                     speaker=f"s{i}", source="asterisk", duration=info.duration,
                                     sample_rate=info.samplerate))
    for seed, split in enumerate(("train", "test")):
        noise = 0.05 * np.random.default_rng(seed).standard_normal(2 * RATE).astype(np.float32)
        save_audio(root / f"noise-{split}.wav", noise, RATE)
        entries.append(ManifestEntry(path=f"noise-{split}.wav", kind="noise", split=split, speaker="",
                                     source="synthetic", duration=2.0, sample_rate=RATE))
    write_manifest(root / "manifest.csv", entries)
    return root


def conv_weight_macs(frames: int, mels: int = 120) -> tuple[int, int]:
    """Closed form for QualityCNN's 3×3 convs: (MACs of conv 1, MACs of convs 2-4), bias adds excluded."""
    first = frames * mels * 32 * 9
    h, w, rest = frames // 2, mels // 2, 0
    for c_in, c_out, pooled in ((32, 32, True), (32, 32, True), (32, 64, False)):
        rest += h * w * c_out * 9 * c_in
        if pooled:
            h, w = h // 2, w // 2
    return first, rest


@pytest.mark.slow
def test_quick_quality_study_end_to_end(tmp_path):
    corpus = tiny_corpus(tmp_path / "corpus")
    out = tmp_path / "study"
    assert main(["study", "quality", "--corpus", str(corpus), "--out", str(out), "--quick"]) == 0
    rows = {r["variant"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert list(rows) == list(VARIANTS)
    for name in ("metrics.png", "predictions.png", "results.json"):
        assert (out / name).stat().st_size > 0
    frames = (3 * RATE - 640) // 320 + 1  # 3 s quick segments, FFT 640, hop 320, no centring
    first, rest = conv_weight_macs(frames)
    assert float(rows["fp32"]["binary_macs"]) == 0
    assert float(rows["BAM-QAT"]["binary_macs"]) == rest  # every conv but the first reads a binary map
    assert float(rows["BAM + binary weights"]["binary_macs"]) == first + rest  # ±1 weights: the first too
    assert int(rows["fp32"]["params"]) == 45697
    # the int8 variants are profiled as they run: their float models' MACs, binary maps held in 8 bits
    assert float(rows["BAM + int8"]["binary_macs"]) == rest
    assert rows["int8 PTQ"]["macs"] == rows["fp32"]["macs"] and int(rows["int8 PTQ"]["params"]) == 45697
    # fp32 holds at least its conv outputs in float32; a bit-packed map needs 1 bit of each
    assert int(rows["fp32"]["activation_bytes"]) >= 4 * frames * 120 * 32
    assert float(rows["BAM + int8"]["activation_reduction"]) > 10
    assert int(rows["int8 PTQ"]["file_bytes"]) < int(rows["fp32"]["file_bytes"]) / 3
    for row in rows.values():
        # NaN: constant predictions (PCC undefined), e.g. a 2-epoch BAM model whose int8 output step
        # is coarser than the spread of its 4 predictions
        pcc = float(row["test_pcc"])
        assert (math.isnan(pcc) or -1 <= pcc <= 1) and float(row["test_mse"]) >= 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["segments"] == {"train": 8, "val": 4, "test": 4}  # 4 s clips → 2 segments each
    # a re-run resumes: the finished runs are reused, not retrained
    model_file = next((out / "runs").glob("fp32-seed0/model.pt"))
    stamp = model_file.stat().st_mtime_ns
    assert main(["study", "quality", "--corpus", str(corpus), "--out", str(out), "--quick"]) == 0
    assert model_file.stat().st_mtime_ns == stamp
