"""Stacked compression as a study: a trained model, the steps of a stack recipe one after another, and
after each step the task's score, the model's cost and its measured latency (batch 1 in PyTorch, and in
the streaming runtime where one runs the model) — so every point shows what one more method bought on
top of the others.

A recipe (recipes/stack/*.yaml)::

    task: vad                          # stack_tasks.TASKS: what the model is trained and scored on
    task_options: {test_clips: 300}    # that task's constructor arguments
    base: bundled                      # a model file (save_model), a run folder, or the task's bundled model
    base_method: width                 # the method the base model already carries; each stage's method
                                       # (the report's marker) adds the compression steps applied so far
    steps:                             # leanspeech.stack steps, in order
      - {name: dgru, update_percent: 50}
      - {name: finetune, steps: 100}
      - int8

Outputs in `out`: stages/<i>-<step>.pt (the float model after each step, so a re-run resumes after the
last finished one; int8 graphs are rebuilt, they are cheap), results.json, results.md, and metrics.json
in the report's several-points schema, so `leanspeech report` draws the stacked points on the task's
Pareto plots next to the runs they came from.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from leanspeech.errors import RecipeError
from leanspeech.models.io import load_model, save_model
from leanspeech.profile.latency import torch_threads
from leanspeech.report.timing import interleaved_seconds
from leanspeech.stack import StackError, apply_stack, parse_step
from leanspeech.studies.recipe import check_keys, read_recipe
from leanspeech.studies.runs import check_same_study, write_study_record
from leanspeech.studies.stack_tasks import TASKS


@dataclass
class StackStudyConfig:
    task: str = "vad"
    base: str = "bundled"
    base_method: str = "baseline"
    steps: list[Any] = field(default_factory=list)
    task_options: dict[str, Any] = field(default_factory=dict)
    latency_repeats: int = 20

    @classmethod
    def from_yaml(cls, path: str | Path) -> StackStudyConfig:
        return cls.from_dict(read_recipe(path), str(path))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "stack") -> StackStudyConfig:
        check_keys(values, cls, where)
        config = cls(**values)
        if config.task not in TASKS:
            raise RecipeError(f"{where}: unknown task {config.task!r}; known: {', '.join(TASKS.names())}")
        if not config.steps:
            raise RecipeError(f"{where}: steps is empty; a stack needs at least one step")
        try:
            names = [parse_step(step, f"{where}: steps.{i}")[0] for i, step in enumerate(config.steps)]
        except StackError as err:
            raise RecipeError(str(err)) from None
        if "int8" in names[:-1]:
            raise RecipeError(f"{where}: int8 must be the last step (an int8 model is not trained further)")
        return config


def base_model_path(config: StackStudyConfig) -> Path:
    """The base model file: the task's bundled model, a model file, or a run folder's model."""
    from leanspeech.report.points import model_file

    if config.base == "bundled":
        bundled = TASKS.get(config.task).bundled
        if bundled is None:
            raise RecipeError(f"base: no model is bundled for task {config.task!r}; give a model file or run folder")
        return bundled
    path = Path(config.base)
    found = model_file(path) if path.is_dir() else path
    if found is None or not found.is_file():
        raise RecipeError(f"base: {path} is neither a model file nor a run folder with one")
    return found


def step_label(step: Any) -> str:
    """A short name for one step, e.g. "dgru 50", "prune taylor 0.5", "finetune 100"."""
    name, arguments = parse_step(step)
    detail = {"dgru": ("update_percent",), "prune": ("criterion", "sparsity"), "finetune": ("steps",)}.get(name, ())
    return " ".join([name, *(f"{arguments[k]:g}" if isinstance(arguments[k], float) else str(arguments[k])
                             for k in detail if k in arguments)])


def stage_costs(model: nn.Module, seconds: float) -> dict[str, float | None]:
    """Cost of one stage, profiled as it runs (an int8 stage counts its float layers' MACs)."""
    from leanspeech.compress.quantize import serialized_bytes
    from leanspeech.profile import profile_model

    profile = profile_model(model, seconds=seconds)
    rates = profile.per_second or {}
    return {"params": float(profile.params.dense), "sparse_params": float(profile.params.sparse),
            "macs_per_second": rates.get("macs"), "flops_per_second": rates.get("flops"),
            "binary_macs_per_second": rates.get("binary_macs"), "file_bytes": serialized_bytes(model)}


def run_stack_study(config: StackStudyConfig, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    from leanspeech.studies.stack_report import write_report

    started = time.monotonic()
    out = Path(out)
    (out / "stages").mkdir(parents=True, exist_ok=True)
    # Saved stages are reused on a re-run: only when they were made by the same steps from the same base.
    check_same_study(out, corpus, config, may_change=("latency_repeats",))
    write_study_record(out, corpus, asdict(config))
    base_path = base_model_path(config)
    task = TASKS.build(config.task, corpus=corpus, out=out, **config.task_options)

    labels = ["base", *(step_label(s) for s in config.steps)]
    models: list[nn.Module] = [load_model(base_path).eval()]
    for index, step in enumerate(config.steps, start=1):
        saved = out / "stages" / f"{index}-{labels[index].replace(' ', '-')}.pt"
        if saved.is_file():
            models.append(load_model(saved).eval())
            continue
        print(f"[{index}/{len(config.steps)}] {labels[index]}")
        model = apply_stack(models[-1], [step], task).eval()
        if not getattr(model, "quantized", False):
            save_model(model, saved)
        models.append(model)

    print("scoring every stage on the test set")
    stages = []
    for index, (label, model) in enumerate(zip(labels, models)):
        applied = [parse_step(s)[0] for s in config.steps[:index]]
        method = "+".join([config.base_method, *(name for name in applied if name != "finetune")])
        stages.append({"stage": index, "label": label, "method": method, "scores": task.score(model),
                       "costs": stage_costs(model, task.seconds)})
    # Every stage in PyTorch (batch 1) and, where it runs them, in the streaming runtime, all interleaved.
    calls: dict[tuple[int, str], Callable[[], Any]] = {}
    for index, model in enumerate(models):
        calls[index, "torch"] = task.inference(model.eval())
        streaming = task.streaming(model)
        if streaming is not None:
            calls[index, "runtime"] = streaming
    with torch_threads(1), torch.no_grad():
        latencies = interleaved_seconds(calls, config.latency_repeats, warmup=1)
    for index, stage in enumerate(stages):
        stage["latency"] = latencies[index, "torch"]  # seconds per forward of one test input
        stage["costs"]["latency_ms"] = 1e3 * stage["latency"]["median_s"]
        stage["costs"]["rtf"] = stage["latency"]["median_s"] / task.seconds
        if (index, "runtime") in latencies:
            stage["runtime_latency"] = latencies[index, "runtime"]
            stage["costs"]["runtime_latency_ms"] = 1e3 * stage["runtime_latency"]["median_s"]
    summary = {"task": config.task, "metric": task.metric, "higher_is_better": task.higher_is_better,
               "seconds": task.seconds, "base": str(base_path), "stages": stages, "config": asdict(config),
               "wall_seconds": time.monotonic() - started}
    write_report(summary, out)
    return summary
