"""Case study 3 of width-noise-injection.md (§VI): anti-spoofing, ResNet34 against DynResNet34.

RN34 (fixed width) trains `fixed_steps + width_steps` steps. Every DynResNet34 run is phase 2 only:
it starts from RN34's weights and optimizer state at step `fixed_steps` (DynResNet34 with its widths
frozen at full width is RN34, so that is exactly its phase 1), then learns its widths with β = 1.0
for `width_steps`. Runs differ only in which stacks learn (single-stack B0..B3, all stacks BX) and
in the minimum width. Each model is selected on the dev EER, consolidated (with `finetune_steps` > 0 a
copy trains that long at the learned widths, without noise, selected on the dev EER again, and is
reported beside it as "<name> fine-tuned"; RN34 trains as many steps more. Not in the paper), scored on
the eval split (EER overall and per attack; in ASVspoof 2019 LA and in the corpus built here the eval
attacks are unseen in training) and profiled (parameters, FLOP/s per second of audio). Steps replace
the paper's epochs (100 + 100): they make small and real corpora comparable.

`seeds` > 1 repeats the whole study (initial weights, crops and batch order) for seeds train.seed,
train.seed + 1, ...: on a small eval split one file moves an attack's EER by points, so a comparison
with RN34 needs the spread. Each model's row gives the mean over seeds, the std and every seed's value.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanspeech.compress.consolidate import consolidate
from leanspeech.errors import RecipeError
from leanspeech.metrics import equal_error_rate
from leanspeech.models.io import load_model, save_model
from leanspeech.models.spoof_resnet import SAMPLE_RATE
from leanspeech.models.spoof_resnet_dynamic import STACK_NAMES, channel_progression
from leanspeech.profile.model_profile import profile_model
from leanspeech.registry import MODELS
from leanspeech.studies.recipe import check_keys, read_recipe, section
from leanspeech.studies.runs import check_same_study, write_study_record
from leanspeech.studies.spoof_data import BONAFIDE, SpoofCrops, read_split
from leanspeech.studies.spoof_train import score, train_run
from leanspeech.studies.vad_train import TrainSettings

BASELINE = "RN34"


@dataclass
class SpoofStudyConfig:
    """Defaults: the small CPU study (recipes/spoof/small.yaml); recipes/spoof/full.yaml is the paper's size."""

    fixed_steps: int = 120  # RN34 alone; DynResNet34 branches off here
    width_steps: int = 120  # phase 2 of every DynResNet34 run (RN34 goes on for as long)
    finetune_steps: int = 0  # phase 3, not in the paper: the consolidated model trained on (RN34 as long)
    eval_every: int = 20  # dev EER period (model selection)
    beta: float = 1.0
    all_stacks_min_fractions: tuple[float, ...] = (0.25, 0.125)  # "DRN34 BX <min %>" runs
    single_stacks: tuple[str, ...] = STACK_NAMES  # "DRN34 B<i> <min %>" runs ...
    single_stack_min_fractions: tuple[float, ...] = (0.125,)  # ... at these minimum widths
    channels: tuple[int, ...] = (32, 64, 128, 256)
    segment_seconds: float = 2.0  # crop length of every utterance, in training and scoring
    profile_seconds: float = 4.0  # input length the FLOP/s are measured on
    seeds: int = 1  # repetitions of the whole study, seeds train.seed, train.seed + 1, ...
    train: TrainSettings = field(default_factory=lambda: TrainSettings(width_lr=2e-2, num_workers=0))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SpoofStudyConfig:
        return cls.from_dict(read_recipe(path), str(path))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "study") -> SpoofStudyConfig:
        check_keys(values, cls, where)
        values = dict(values)
        train = section(TrainSettings, values.pop("train", None), f"{where}: train")
        for key in ("all_stacks_min_fractions", "single_stacks", "single_stack_min_fractions", "channels"):
            if key in values:
                values[key] = tuple(values[key])
        bad = sorted(set(values.get("single_stacks", ())) - set(STACK_NAMES))
        if bad:
            raise RecipeError(f"{where}: single_stacks {bad} unknown; stacks are {list(STACK_NAMES)}")
        if values.get("seeds", 1) < 1:
            raise RecipeError(f"{where}: seeds must be >= 1, not {values['seeds']!r}")
        return cls(train=train, **values)

    def variants(self) -> dict[str, tuple[tuple[str, ...], float]]:
        """{run name: (stacks learning, minimum width)} in the paper's naming ("DRN34 BX 12.5")."""
        runs = {f"DRN34 BX {100 * f:g}": (STACK_NAMES[: len(self.channels)], f) for f in self.all_stacks_min_fractions}
        for stack in self.single_stacks:
            runs.update({f"DRN34 {stack} {100 * f:g}": ((stack,), f) for f in self.single_stack_min_fractions})
        return runs


def evaluate(name: str, model, crops: SpoofCrops, attacks: list[str], config: SpoofStudyConfig,
             metrics: dict[str, Any]) -> dict[str, Any]:
    """EER overall and per attack (that attack's spoofs against all bona fide), cost, channels."""
    logits, labels = score(model, crops)
    attack_of = np.array(attacks)
    per_attack = {}
    for attack in sorted(set(attacks) - {BONAFIDE}):
        keep = (attack_of == BONAFIDE) | (attack_of == attack)
        per_attack[attack] = equal_error_rate(logits[keep], labels[keep]).eer
    profile = profile_model(model, seconds=config.profile_seconds)
    return {
        "name": name, "eer": equal_error_rate(logits, labels).eer, "eer_per_attack": per_attack,
        "dev_eer": metrics["dev_eer"], "selected_step": metrics["selected_step"],
        "params": int(profile.params.dense), "flops_per_second": profile.per_second["flops"],
        "macs_per_second": profile.per_second["macs"], "channels": channel_progression(model),
        "train_seconds": metrics["train_seconds"],
    }


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model, in run order: means over its seeds (with `eer_std` and the per-seed values),
    the channels of its first seed, and the FLOP/s saved against RN34 (mean over seeds)."""
    names = list(dict.fromkeys(r["name"] for r in runs))
    baseline_flops = statistics.fmean(r["flops_per_second"] for r in runs if r["name"] == BASELINE)
    rows = []
    for name in names:
        mine = [r for r in runs if r["name"] == name]
        mean = {key: statistics.fmean(r[key] for r in mine)
                for key in ("eer", "dev_eer", "params", "flops_per_second", "macs_per_second", "train_seconds")}
        attacks = mine[0]["eer_per_attack"]
        rows.append({
            "name": name, **mean, "eer_std": statistics.stdev(r["eer"] for r in mine) if len(mine) > 1 else 0.0,
            "eer_per_attack": {a: statistics.fmean(r["eer_per_attack"][a] for r in mine) for a in attacks},
            "flops_saved": 1.0 - mean["flops_per_second"] / baseline_flops, "channels": mine[0]["channels"],
            "selected_step": mine[0]["selected_step"], "seeds": [r["seed"] for r in mine],
            **{f"{key}_per_seed": [r[key] for r in mine] for key in ("eer", "flops_per_second", "channels")},
        })
    return rows


def run_spoof_study(config: SpoofStudyConfig, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    """Train, select, consolidate, score and profile every model (per seed); writes the report into `out`."""
    from leanspeech.studies.spoof_report import write_report

    started = time.monotonic()
    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # a run's folder name says which stacks learn and down to which width: the lists of runs may change
    check_same_study(out, corpus, config, may_change=(
        "seeds", "profile_seconds", "all_stacks_min_fractions", "single_stacks", "single_stack_min_fractions"))
    write_study_record(out, corpus, asdict(config))
    print("[1/3] reading the corpus")
    splits = {split: read_split(corpus, split) for split in ("train", "dev", "test")}
    crops = {split: SpoofCrops(splits[split], SAMPLE_RATE, config.segment_seconds) for split in ("dev", "test")}
    attacks = [u.attack for u in splits["test"]]

    runs: list[dict[str, Any]] = []
    for offset in range(config.seeds):
        settings = replace(config.train, seed=config.train.seed + offset)
        print(f"[2/3] training (seed {settings.seed}, {offset + 1} of {config.seeds})")
        train = SpoofCrops(splits["train"], SAMPLE_RATE, config.segment_seconds, random_crop=True, seed=settings.seed)
        suffix = f"-seed{settings.seed}" if offset else ""  # the recipe's own seed keeps the plain folder names
        models = train_models(config, settings, train, crops["dev"], out / "runs", suffix)
        print(f"[3/3] scoring on the eval split and profiling (seed {settings.seed})")
        runs += [{**evaluate(name, model, crops["test"], attacks, config, metrics), "seed": settings.seed}
                 for name, (model, metrics) in models.items()]
    summary = {"results": summarize(runs), "runs": runs, "config": asdict(config), "corpus": str(corpus),
               "files": {split: len(u) for split, u in splits.items()}, "wall_seconds": time.monotonic() - started}
    write_report(summary, out)
    return summary


def train_models(config: SpoofStudyConfig, settings: TrainSettings, train: SpoofCrops, dev: SpoofCrops, runs: Path,
                 suffix: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    """RN34 and every DRN34 run of one seed, in folders like runs/"drn34-bx-12.5<suffix>":
    {name: (dev-selected consolidated model, training metrics)}."""
    def folder(name: str) -> Path:
        return runs / (name.lower().replace(" ", "-") + suffix)

    torch.manual_seed(settings.seed)  # the initial weights
    baseline = MODELS.build("spoof_resnet34", channels=config.channels)
    rn34 = folder(BASELINE)
    steps = config.fixed_steps + config.width_steps + config.finetune_steps
    metrics = train_run(BASELINE, baseline, train, dev, steps, rn34, settings, config.eval_every,
                        branch_at=config.fixed_steps)
    models = {BASELINE: (load_model(rn34 / "model.pt"), metrics)}
    for name, (stacks, fraction) in config.variants().items():
        model = MODELS.build("dyn_spoof_resnet34", channels=config.channels, stacks_learning=stacks, min_fraction=fraction)
        metrics = train_run(name, model, train, dev, config.width_steps, folder(name), settings, config.eval_every,
                            beta=config.beta, start_from=rn34 / "branch.pt")
        consolidated = consolidate(load_model(folder(name) / "model.pt")).eval()
        save_model(consolidated, folder(name) / "consolidated.pt")
        models[name] = (consolidated, metrics)
        if config.finetune_steps:
            tuned = folder(name) / "finetuned"
            tuning = train_run(f"{name} fine-tuning", copy.deepcopy(consolidated), train, dev, config.finetune_steps,
                               tuned, settings, config.eval_every)
            tuning["train_seconds"] += metrics["train_seconds"]
            models[f"{name} fine-tuned"] = (load_model(tuned / "model.pt").eval(), tuning)
    return models
