"""The D-GRU speech-enhancement study (dgru-speech-enhancement.md §4-5), small scale, on CPU.

Schedule (as in the related DeltaGRU code): pretrain the dense host, then, for every update
percentage P, load its weights into the same host with D-GRU layers at P and fine-tune briefly on the
same batches; P = 100 gets the same fine-tuning as a dense GRU, so every P has trained equally long.
The paper does not give its step counts; the recipe does. Training mixes
speech and noise of the corpus' train split on the fly at SNR -5...15 dB (no reverberation, as the
paper's no-reverb test). Test sets come from held-out speakers and noises, rendered once and reused:
one at SNR uniform in 0...19 dB (the DNS no-reverb test's range) and one per SNR in {-5, 0, 5} dB.

Reported: PESQ-WB, ESTOI, SI-SNR and DNSMOS OVRL of the noisy input, RNNoise and each P (Table 1),
MAC/s split into GRU and non-GRU layers (Table 1), Mann-Whitney U p-values of PESQ between every P
pair (Table 2) and the mean PESQ improvement per SNR (Fig. 2).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from leanspeech.audio.io import save_audio
from leanspeech.data.datasets import FixedTestSet, MixtureDataset
from leanspeech.errors import RecipeError
from leanspeech.models.base import SpeechModel
from leanspeech.registry import MODELS, PEERS
from leanspeech.studies.enhance_eval import (
    TestClips,
    cost_split,
    load_test_clips,
    model_enhancer,
    p_value_table,
    score_condition,
)
from leanspeech.studies.enhance_train import load_run, train_enhancer
from leanspeech.studies.recipe import check_keys, read_recipe
from leanspeech.studies.runs import check_same_study, write_study_record
from leanspeech.train.batches import endless_batches

NOISY = "noisy"
EXAMPLES_PER_CONDITION = 2  # enhanced clips of the main test set written as wav, for listening


@dataclass
class EnhanceStudyConfig:
    host: str = "enhance_gru"
    model: dict[str, Any] = field(default_factory=lambda: {"hidden": 128})  # host arguments besides rnn
    percents: tuple[float, ...] = (100.0, 75.0, 50.0, 25.0)
    pretrain_steps: int = 1500  # dense host
    finetune_steps: int = 200  # per P, from the pretrained weights
    batch_size: int = 8
    lr: float = 2e-3
    finetune_lr: float = 5e-4
    loss: str = "magnitude_mse"
    segment_seconds: float = 1.5  # training crops
    train_snr_range: tuple[float, float] = (-5.0, 15.0)
    test_seconds: float = 4.0
    test_clips: int = 64
    test_snr_range: tuple[float, float] = (0.0, 19.0)
    level_snrs: tuple[float, ...] = (-5.0, 0.0, 5.0)
    level_clips: int = 32
    dnsmos: bool = True
    peers: tuple[str, ...] = ("rnnoise",)
    seed: int = 0
    num_workers: int = 0
    threads: int = 1  # torch threads; on a shared CPU more threads than free cores slow training tenfold

    @classmethod
    def quick(cls, **overrides: Any) -> EnhanceStudyConfig:
        """Minutes-long settings for smoke tests: a tiny host, few steps and clips, no DNSMOS."""
        small = dict(model={"hidden": 32}, pretrain_steps=30, finetune_steps=10, batch_size=4, segment_seconds=1.0,
                     test_seconds=2.0, test_clips=8, level_clips=4, dnsmos=False)
        return cls(**{**small, **overrides})

    @classmethod
    def from_yaml(cls, path: str | Path) -> EnhanceStudyConfig:
        return cls.from_dict(read_recipe(path), str(path))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "study") -> EnhanceStudyConfig:
        check_keys(values, cls, where)
        tuples = {"percents", "train_snr_range", "test_snr_range", "level_snrs", "peers"}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in values.items()})

    def __post_init__(self) -> None:
        if not self.percents or any(not 0 < p <= 100 for p in self.percents):
            raise RecipeError(f"percents {list(self.percents)}: each must be in (0, 100]")
        if "rnn" in self.model or "rnn_options" in self.model:
            raise RecipeError("model: the study sets rnn and rnn_options itself (gru, then dgru per P)")
        for name in ("pretrain_steps", "finetune_steps", "batch_size", "test_clips", "level_clips", "threads"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")

    def with_overrides(self, **values: Any) -> EnhanceStudyConfig:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def condition_name(percent: float) -> str:
    return f"P={percent:g}"


def build_host(config: EnhanceStudyConfig, percent: float) -> SpeechModel:
    """The host with plain GRUs at P = 100 and D-GRUs at P < 100 (same parameter names)."""
    rnn = {"rnn": "gru"} if percent >= 100 else {"rnn": "dgru", "rnn_options": {"update_percent": float(percent)}}
    return MODELS.build(config.host, **config.model, **rnn)


def mixing(config: EnhanceStudyConfig, snr_range: tuple[float, float], seed: int) -> dict[str, Any]:
    return {"noise_prob": 1.0, "reverb_prob": 0.0, "snr_range": list(snr_range), "seed": seed}


def test_sets(config: EnhanceStudyConfig, corpus: Path, out: Path) -> dict[str, TestClips]:
    """The main test set (SNR range) and one set per SNR level, rendered once under out/testsets."""
    plans = {"main": (tuple(config.test_snr_range), config.test_clips)}
    plans.update({f"snr{snr:+g}": ((snr, snr), config.level_clips) for snr in config.level_snrs})
    sets = {}
    for offset, (name, (snr_range, count)) in enumerate(plans.items()):
        fixed = FixedTestSet(out / "testsets" / name, corpus, split="test", count=count,
                             mixing=mixing(config, snr_range, config.seed + 1000 + offset),
                             segment_seconds=config.test_seconds)
        sets[name] = load_test_clips(name, fixed)
    return sets


def train_models(config: EnhanceStudyConfig, corpus: Path, runs: Path) -> tuple[dict[float, SpeechModel], dict]:
    """Pretrain the dense host, then fine-tune one model per P; returns the models and their metrics."""
    data = MixtureDataset(corpus, "train", mixing=mixing(config, config.train_snr_range, config.seed),
                          segment_seconds=config.segment_seconds)

    def batches(seed: int) -> Callable[[int], Iterator[dict]]:  # batches(seed)(skip): the stream from batch `skip` on
        return partial(endless_batches, data, config.batch_size, seed, config.num_workers)

    torch.manual_seed(config.seed)  # the initial weights
    dense = build_host(config, 100.0)
    metrics = {"pretrain": train_enhancer("dense pretrain", dense, batches(config.seed), config.pretrain_steps,
                                          config.lr, runs / "pretrain", config.loss, config.seed)}
    pretrained = load_run(runs / "pretrain").state_dict()
    models = {}
    for percent in config.percents:
        name = condition_name(percent)
        model = build_host(config, percent)
        model.load_state_dict(pretrained)  # D-GRU is an nn.GRU: the dense weights load as they are
        folder = runs / f"p{percent:g}"
        # the same batches for every P (a fresh stream of one seed): P is the only difference
        metrics[name] = train_enhancer(f"fine-tune {name}", model, batches(config.seed + 1), config.finetune_steps,
                                       config.finetune_lr, folder, config.loss, config.seed)
        models[percent] = load_run(folder)
    return models, metrics


def _with_examples(produce: Callable[[np.ndarray], np.ndarray], clips: TestClips, folder: Path | None):
    def run() -> np.ndarray:
        outputs = produce(clips.mixtures)
        if folder is not None:
            for index in range(min(EXAMPLES_PER_CONDITION, len(outputs))):
                peak = max(1.0, float(np.abs(outputs[index]).max()))
                save_audio(folder / f"{index:03d}.wav", outputs[index] / peak, clips.sample_rate)
        return outputs
    return run


def peer_enhancers(names: tuple[str, ...], rate: int) -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], list[str]]:
    """Enhancers of the installed peers by display name; a missing peer is a note, not a failure."""
    from leanspeech.peers.base import PeerNotInstalledError

    enhancers, notes = {}, []
    for name in names:
        try:
            peer = PEERS.build(name)
        except PeerNotInstalledError as err:
            notes.append(f"peer {name} left out: {err}")
            continue
        label = {"rnnoise": "RNNoise"}.get(name, name)
        enhancers[label] = lambda mixtures, p=peer: np.stack([p.enhance(m, rate) for m in mixtures])
    return enhancers, notes


def run_enhance_study(config: EnhanceStudyConfig, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    """Train, score and profile every P; writes the report under `out` and returns its content."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run_study(config, Path(corpus), Path(out))
    finally:
        torch.set_num_threads(threads)


def _run_study(config: EnhanceStudyConfig, corpus: Path, out: Path) -> dict[str, Any]:
    from leanspeech.studies.enhance_report import write_report

    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    # test sets, runs and scores are reused as they are: only what adds runs or peers, or the speed, may change
    check_same_study(out, corpus, config, may_change=("percents", "peers", "threads", "num_workers"))
    write_study_record(out, corpus, asdict(config))

    print("[1/4] test sets (held-out speakers and noises, rendered once)")
    sets = test_sets(config, corpus, out)
    print("[2/4] training: dense pretraining, then fine-tuning per P")
    models, train_metrics = train_models(config, corpus, out / "runs")

    print("[3/4] scoring")
    enhancers, notes = peer_enhancers(config.peers, sets["main"].sample_rate)
    enhancers = {NOISY: lambda mixtures: mixtures, **enhancers}
    enhancers.update({condition_name(p): model_enhancer(m) for p, m in models.items()})
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for set_name, clips in sets.items():
        main = set_name == "main"
        scores[set_name] = {
            label: score_condition(
                clips, _with_examples(enhance, clips, out / "examples" / label if main else None),
                out / "scores" / set_name / f"{label}.csv", config.dnsmos and main, f"{label} on {set_name}")
            for label, enhance in enhancers.items()
        }
    costs = {condition_name(p): cost_split(m, config.test_seconds) for p, m in models.items()}
    significance = p_value_table({condition_name(p): scores["main"][condition_name(p)]["pesq"] for p in models})

    print("[4/4] report")
    summary = {
        "config": asdict(config), "corpus": str(corpus), "scores": scores, "costs": costs,
        "significance": significance, "train": train_metrics,
        "train_seconds": sum(m["train_seconds"] for m in train_metrics.values()),
        "snr_levels": {name: float(clips.snr.mean()) for name, clips in sets.items() if name != "main"},
        "wall_seconds": time.monotonic() - started, "notes": notes,
    }
    write_report(summary, out)
    return summary
