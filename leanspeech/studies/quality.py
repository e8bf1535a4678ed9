"""The BAM / int8 quality study of bam-qat-sqp.md (Fig. 2, §4): non-intrusive PESQ prediction, six ways.

Data: PESQ-labelled 9 s segments of noisy clips (`leanspeech.data.pesq_segments`). Variants, each
scored on the same test segments (held-out speakers and noises) by MSE and PCC, mean ± std over seeds:
  fp32                 QualityCNN (ReLU, global max pool), trained
  binary PTQ           the fp32 model with its conv activations swapped for Heaviside, not retrained
  BAM-QAT              Heaviside activations (SuperSpike surrogate, β = 5), global average pool, trained
  BAM + binary weights BAM-QAT with ±1 conv weights, trained
  int8 PTQ             fp32 after static int8 PTQ (calibration: 20 % of the training segments)
  BAM + int8           BAM-QAT after static int8 PTQ (binary maps held in 8-bit tensors)
Costs come from the seed-0 models (study_costs in quality_costs.py). DNSMOS P.835/P.808 scores the
same test segments as the peer predictor.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor
from tqdm import tqdm

from leanspeech.compress.binarize import binarize_activations
from leanspeech.compress.quantize import quantize_static
from leanspeech.data.pesq_segments import (
    PesqDataConfig,
    Segment,
    SegmentRule,
    build_pesq_segments,
    load_segment,
    read_pesq_segments,
)
from leanspeech.errors import LeanspeechError
from leanspeech.metrics import agreement
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.studies.quality_train import TrainSettings, fit_or_load, predict, recenter
from leanspeech.studies.recipe import check_keys, read_recipe, section
from leanspeech.studies.runs import check_same_study, write_study_record

FP32, BINARY_PTQ, BAM, BAM_BW, INT8, BAM_INT8 = (
    "fp32", "binary PTQ", "BAM-QAT", "BAM + binary weights", "int8 PTQ", "BAM + int8")
VARIANTS = (FP32, BINARY_PTQ, BAM, BAM_BW, INT8, BAM_INT8)


@dataclass
class QualityStudyConfig:
    seeds: int = 4
    data: PesqDataConfig = field(default_factory=PesqDataConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    calibration_fraction: float = 0.2  # of the training segments, for int8 PTQ (the paper's 20 %)
    workers: int = 2  # PESQ label processes
    latency_repeats: int = 20
    dnsmos: bool = True
    model: dict[str, Any] = field(default_factory=dict)  # QualityCNN arguments of every variant

    @classmethod
    def from_yaml(cls, path: str | Path) -> QualityStudyConfig:
        return cls.from_dict(read_recipe(path), str(path))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "study") -> QualityStudyConfig:
        values = dict(values)
        check_keys(values, cls, where)
        data = dict(values.pop("data", {}) or {})
        check_keys(data, PesqDataConfig, f"{where}: data")
        segments = section(SegmentRule, data.pop("segments", None), f"{where}: data: segments")
        train = section(TrainSettings, values.pop("train", None), f"{where}: train")
        if "gap_seconds" in data:
            data["gap_seconds"] = tuple(data["gap_seconds"])
        return cls(data=PesqDataConfig(segments=segments, **data), train=train, **values)


def segment_features(segments: list[Segment], rule: SegmentRule, batch: int = 16) -> Tensor:
    """Log-mel features (N, n_mels, T) of the segments, with QualityCNN's front end."""
    frontend = QualityCNN(sample_rate=rule.sample_rate).frontend.eval()
    chunks = []
    for i in tqdm(range(0, len(segments), batch), desc="features", unit="batch", mininterval=1.0):
        group = segments[i:i + batch]
        with torch.no_grad():
            features = frontend(torch.stack([torch.from_numpy(load_segment(s, rule)) for s in group]))
        bad = ~torch.isfinite(features).flatten(1).all(dim=1)
        if bad.any():
            where = group[int(bad.nonzero()[0])]
            raise LeanspeechError(f"{where.path}: segment at {where.start / rule.sample_rate:g} s gives NaN or "
                                  "infinite features (NaN or inf samples in the audio?)")
        chunks.append(features)
    return torch.cat(chunks)


def _cached_features(path: Path, segments: list[Segment], rule: SegmentRule) -> Tensor:
    if path.is_file():
        return torch.load(path, weights_only=True)
    features = segment_features(segments, rule)
    torch.save(features, path)
    return features


def _builders(options: dict[str, Any] | None = None) -> dict[str, Callable[[], QualityCNN]]:
    """The variants that are trained (the others are made from trained ones after training); `options`
    are QualityCNN arguments shared by all (the recipe's `model`)."""
    options = options or {}
    return {
        FP32: lambda: QualityCNN(**options),
        BAM: lambda: QualityCNN(activation="BinaryActivation", pool="avg", **options),
        BAM_BW: lambda: QualityCNN(activation="BinaryActivation", pool="avg", binary_weights=True, **options),
    }


def run_quality_study(config: QualityStudyConfig, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    """Label, train, quantize, score and profile everything; writes the report into `out`."""
    from leanspeech.studies.quality_costs import study_costs
    from leanspeech.studies.quality_report import write_report

    started = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # segments, features and runs are reused as they are: only what adds seeds or is redone each time may change
    check_same_study(out, corpus, config, may_change=(
        "seeds", "workers", "latency_repeats", "dnsmos", "calibration_fraction"))
    write_study_record(out, corpus, asdict(config))
    rule = config.data.segments

    print("[1/5] PESQ-labelled segments")
    labelled = build_pesq_segments(corpus, out / "segments", config.data, workers=config.workers)
    segments = {split: read_pesq_segments(out / "segments", split) for split in ("train", "val", "test")}
    for split, items in segments.items():
        if len(items) < 2:
            raise LeanspeechError(f"{out / 'segments'}: only {len(items)} labelled {split} segment(s); "
                                  "make more clips (data.train_clips / data.test_clips)")
    print(f"      {', '.join(f'{len(v)} {k}' for k, v in segments.items())} segments "
          f"({labelled.skipped} skipped: PESQ could not score them)")
    features = {k: _cached_features(out / "segments" / f"features-{k}.pt", v, rule) for k, v in segments.items()}
    labels = {k: torch.tensor([s.label for s in v], dtype=torch.float32) for k, v in segments.items()}
    train, val = (features["train"], labels["train"]), (features["val"], labels["val"])
    n_calibration = max(1, round(config.calibration_fraction * len(features["train"])))
    calibration = [features["train"][i:i + 16] for i in range(0, n_calibration, 16)]

    print("[2/5] training and quantizing")
    predictions: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}
    models: dict[str, Any] = {}
    train_seconds: dict[str, list[float]] = {v: [] for v in _builders()}
    shifts: dict[str, list[float]] = {v: [] for v in _builders()}
    for seed in range(config.seeds):
        trained = {}
        for name, build in _builders(config.model).items():
            folder = out / "runs" / f"{name.replace(' ', '').replace('+', '_').lower()}-seed{seed}"
            trained[name], metrics = fit_or_load(folder, build, train, val, config.train, seed, f"{name} seed {seed}")
            train_seconds[name].append(metrics["train_seconds"])
            if config.train.recenter:  # after loading too: a run folder holds the model as trained
                shifts[name].append(recenter(trained[name], val))
        trained[BINARY_PTQ] = binarize_activations(trained[FP32]).eval()
        trained[INT8] = quantize_static(trained[FP32], calibration)
        trained[BAM_INT8] = quantize_static(trained[BAM], calibration, observer="minmax")
        for name in VARIANTS:
            predictions[name].append(predict(trained[name], features["test"]).tolist())
        if seed == 0:
            models = trained

    print("[3/5] test scores")
    target = labels["test"].tolist()
    quality = {name: _mean_std([agreement(p, target).as_dict() for p in runs]) for name, runs in predictions.items()}

    print("[4/5] costs: memory, operations, size, latency")
    costs = study_costs(models, features["test"][:1], rule.segment_seconds, config.latency_repeats)

    peer = None
    if config.dnsmos:
        print("[5/5] DNSMOS peer on the test segments")
        peer = dnsmos_peer(segments["test"], rule, target, out / "dnsmos.json")
    summary = {"quality": quality, "costs": costs, "predictions": predictions, "target": target, "peer": peer,
               "train_seconds": train_seconds, "output_shifts": shifts, "segments": {k: len(v) for k, v in segments.items()},
               "skipped_segments": labelled.skipped, "config": asdict(config), "corpus": str(corpus),
               "wall_seconds": time.monotonic() - started}
    write_report(summary, out)
    return summary


def _mean_std(runs: list[dict[str, float]]) -> dict[str, float]:
    result = {}
    for key in ("mse", "pcc", "srcc"):
        values = [r[key] for r in runs]
        result[key] = statistics.fmean(values)
        result[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        result[f"{key}_per_seed"] = values  # a mean over few seeds can hide one failed run
    result["n"] = len(runs)
    return result


def dnsmos_peer(segments: list[Segment], rule: SegmentRule, target: list[float], cache: Path) -> dict[str, Any]:
    """DNSMOS P.835 (SIG/BAK/OVRL) and P.808 on the test segments, and their agreement with WB-PESQ."""
    if cache.is_file():
        scores = json.loads(cache.read_text())
    else:
        from leanspeech.registry import PEERS

        peer = PEERS.build("dnsmos")
        scores = peer.score_batch([load_segment(s, rule) for s in segments], rule.sample_rate)
        cache.write_text(json.dumps(scores))
    return {key: {"agreement": agreement([s[key] for s in scores], target).as_dict(),
                  "mean": statistics.fmean(s[key] for s in scores)} for key in ("sig", "bak", "ovrl", "p808")}
