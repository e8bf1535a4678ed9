"""Case study 2 of width-noise-injection.md (§V): the VAD performance/complexity trade-off.

CRNNVAD (fixed width) is the baseline. DynCRNNVAD trains in two phases: a fixed-width phase, shared
by every variant (all start "from the same conditions"), then a width-learning phase with the penalty
β/N·Σλ² (β = 0.5) per minimum width (50, 25, 12.5, 6.25 %), each branching off the shared phase
with its weights and optimizer state. The baseline trains as many steps as phase 1 + phase 2. Each
variant is consolidated into plain layers and saved. Models and peers (Silero VAD, WebRTC VAD's four
modes) are scored on one fixed test set of held-out speakers, voices, noises and RIRs; FLOP/s come
from the profiler (dynamic layers at their live width). Steps replace the paper's epochs: a corpus
built here is minutes long, so an epoch means little.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import leanspeech.peers  # noqa: F401  (fills PEERS)
from leanspeech.compress.consolidate import consolidate
from leanspeech.data.datasets import FixedTestSet, MixtureDataset
from leanspeech.models.io import save_model
from leanspeech.profile.model_profile import profile_model
from leanspeech.registry import MODELS, PEERS
from leanspeech.studies.recipe import check_keys, read_recipe, section
from leanspeech.studies.runs import check_same_study, write_study_record
from leanspeech.studies.vad_eval import (
    TestClips,
    error_point,
    load_test_clips,
    model_probabilities,
    operating_points_eer,
    peer_scores,
    pooled_eer,
)
from leanspeech.studies.vad_train import TrainSettings, load_run, train_run
from leanspeech.train.batches import endless_batches

BASELINE = "CRNNVAD"


@dataclass
class VadStudyConfig:
    """Defaults: the demo size (recipes/vad/demo.yaml); recipes/vad/full.yaml is the paper's size."""

    fixed_steps: int = 80  # phase 1 of DynCRNNVAD
    width_steps: int = 60  # phase 2 (width learning); the baseline trains fixed_steps + width_steps
    min_fractions: tuple[float, ...] = (0.5, 0.25, 0.125, 0.0625)
    beta: float = 0.5
    test_clips: int = 300
    test_seconds: float = 4.0  # length of a test clip
    segment_seconds: float = 1.0  # length of a training crop (the GRU's time steps dominate the cost)
    conv_channels: int = 64
    gru_hidden: int = 64
    peers: tuple[str, ...] = ("silero-vad", "webrtc-vad")
    train: TrainSettings = field(default_factory=lambda: TrainSettings(width_lr=2e-2, num_workers=0))
    mixing: dict[str, Any] = field(default_factory=dict)  # MixingConfig overrides (defaults: the paper's)
    labels: dict[str, Any] = field(default_factory=dict)  # LabelConfig overrides

    @classmethod
    def from_yaml(cls, path: str | Path) -> VadStudyConfig:
        return cls.from_dict(read_recipe(path), str(path))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "study") -> VadStudyConfig:
        check_keys(values, cls, where)
        values = dict(values)
        train = section(TrainSettings, values.pop("train", None), f"{where}: train")
        for key in ("min_fractions", "peers"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(train=train, **values)


@dataclass
class ModelResult:
    name: str
    kind: str  # "baseline" | "dynamic" | "peer"
    eer: float
    bands: int | None = None
    conv_channels: int | None = None
    params: int | None = None
    macs_per_second: float | None = None
    flops_per_second: float | None = None
    train_seconds: float | None = None
    min_fraction: float | None = None
    note: str = ""
    model: str | None = None  # the scored model file, relative to the report folder


def variant_name(min_fraction: float) -> str:
    return f"DCRNNVAD {100 * min_fraction:g}"


def _model_result(name: str, kind: str, model, probabilities, clips: TestClips, metrics: dict[str, Any],
                  model_file: str, min_fraction: float | None = None) -> ModelResult:
    profile = profile_model(model, seconds=clips.mixtures.shape[1] / clips.sample_rate)
    return ModelResult(
        name=name, kind=kind, eer=pooled_eer(probabilities, clips.labels),
        bands=model.conv.in_channels, conv_channels=model.conv.out_channels, params=int(profile.params.dense),
        macs_per_second=profile.per_second["macs"], flops_per_second=profile.per_second["flops"],
        train_seconds=metrics.get("train_seconds"), min_fraction=min_fraction, model=model_file,
    )


def _build(name: str, config: VadStudyConfig, **kwargs: Any):
    return MODELS.build(name, conv_channels=config.conv_channels, gru_hidden=config.gru_hidden, **kwargs)


def run_vad_study(config: VadStudyConfig, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    """Train, consolidate, score and profile everything; returns the study's results (see vad_report)."""
    from leanspeech.studies.vad_report import write_report

    started = time.monotonic()
    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # finished runs are reused by folder name: only what adds runs or peers may change
    check_same_study(out, corpus, config, may_change=("min_fractions", "peers"))
    write_study_record(out, corpus, asdict(config))
    data_args = dict(mixing=config.mixing, labels=config.labels)

    print("[1/4] fixed test set (held-out speakers, voices, noises, RIRs)")
    test_set = FixedTestSet(out / "testset", corpus, split="test", count=config.test_clips,
                            segment_seconds=config.test_seconds, **data_args)
    clips = load_test_clips(test_set)

    print("[2/4] training")
    train_data = MixtureDataset(corpus, "train", segment_seconds=config.segment_seconds, **data_args)
    settings = config.train

    # every run sees the same batches (fresh mixes every pass); batches(skip) starts at batch `skip`
    batches = partial(endless_batches, train_data, settings.batch_size, settings.seed, settings.num_workers)

    runs = out / "runs"
    baseline = _build("crnn_vad", config)
    base_metrics = train_run(BASELINE, baseline, batches, config.fixed_steps + config.width_steps, runs / "crnnvad",
                             settings)
    baseline = load_run(runs / "crnnvad")
    shared = runs / "dcrnnvad-phase1"
    phase1 = train_run("DCRNNVAD phase 1", _build("dyn_crnn_vad", config), batches, config.fixed_steps, shared,
                       settings)
    variants = {}
    for fraction in config.min_fractions:
        name = variant_name(fraction)
        folder = runs / f"dcrnnvad-{100 * fraction:g}"
        metrics = train_run(name, _build("dyn_crnn_vad", config, min_fraction=fraction),
                            batches, config.width_steps, folder, settings, beta=config.beta, start_from=shared)
        metrics["train_seconds"] += phase1["train_seconds"]  # the shared phase is part of every variant
        consolidated = consolidate(load_run(folder)).eval()
        save_model(consolidated, folder / "consolidated.pt")
        variants[name] = (fraction, consolidated, metrics, f"../runs/{folder.name}/consolidated.pt")

    print("[3/4] scoring models and peers on the test set")
    results = [_model_result(BASELINE, "baseline", baseline, probs := model_probabilities(baseline, clips), clips,
                             base_metrics, "../runs/crnnvad/model.pt")]
    traces = {BASELINE: probs}
    for name, (fraction, model, metrics, model_file) in variants.items():
        traces[name] = model_probabilities(model, clips)
        results.append(_model_result(name, "dynamic", model, traces[name], clips, metrics, model_file, fraction))
    results += score_peers(config.peers, clips, baseline.hop_length, out / "peer_scores")

    print("[4/4] report")
    summary = {"results": results, "clips": clips, "traces": traces, "config": config,
               "wall_seconds": time.monotonic() - started, "corpus": str(corpus)}
    write_report(summary, out)
    return summary


def score_peers(names: tuple[str, ...], clips: TestClips, hop_length: int, cache: Path) -> list[ModelResult]:
    results = []
    rate, frames = clips.sample_rate, clips.labels.shape[1]
    if "silero-vad" in names:
        silero = PEERS.build("silero-vad")
        scores = peer_scores("silero-vad", lambda wav: silero.frame_probabilities(wav, rate, hop_length, frames),
                             clips, cache / "silero-vad.npy")
        cost = silero.cost()
        results.append(ModelResult(name="Silero VAD", kind="peer", eer=pooled_eer(scores, clips.labels),
                                   macs_per_second=cost.macs_per_second, flops_per_second=2 * cost.macs_per_second,
                                   params=int(cost.params), note="pretrained wheel model, not retrained here"))
    if "webrtc-vad" in names:
        webrtc = PEERS.build("webrtc-vad")
        points = []
        for mode in (0, 1, 2, 3):
            decisions = peer_scores(f"webrtc-vad mode {mode}",
                                    lambda wav, m=mode: webrtc.frame_probabilities(wav, rate, hop_length, frames, m),
                                    clips, cache / f"webrtc-vad-{mode}.npy")
            points.append(error_point(decisions, clips.labels))
        detail = ", ".join(f"mode {m}: FPR {100 * p[0]:.1f} % FNR {100 * p[1]:.1f} %" for m, p in enumerate(points))
        results.append(ModelResult(name="WebRTC VAD", kind="peer", eer=operating_points_eer(points),
                                   note=f"binary; EER on the ROC through its 4 modes ({detail})"))
    return results
