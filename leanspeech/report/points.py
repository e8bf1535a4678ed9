"""Read run directories into report points: one task metric and the complexity of one model.

A run directory is read through its metrics.json (schema in `leanspeech/report/__init__.py`): a point
of the report schema, a list of them under "points" (a study with several models and peers), or the
training engine's summary (metric = the monitored best value, task = the saved model's task). A
complexity the file does not give is profiled from the run's model.pt. A run that cannot be read
becomes an `Incomplete` entry with the reason, never an error: a report over many runs shows them all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from leanspeech.config import parse_yaml

COMPLEXITY = ("params", "macs_per_second", "flops_per_second", "activation_bytes", "latency_ms", "rtf")
MODEL_FILES = ("consolidated.pt", "model.pt")


@dataclass
class Point:
    task: str
    name: str
    method: str
    metric: str
    value: float
    higher_is_better: bool
    kind: str = "ours"  # "ours" or "peer"
    params: float | None = None
    macs_per_second: float | None = None
    flops_per_second: float | None = None
    activation_bytes: float | None = None
    latency_ms: float | None = None
    rtf: float | None = None
    source: str = ""  # the metrics.json (and entry) it came from
    model_path: str = ""  # the model file profiled and timed for this point, if any
    series: str = ""  # points of one series (e.g. the stages of a stack), in order, are drawn as a path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Incomplete:
    source: str
    reason: str


def model_file(run_dir: Path) -> Path | None:
    return next((run_dir / n for n in MODEL_FILES if (run_dir / n).is_file()), None)


def profile_complexity(model: Any, seconds: float = 4.0) -> dict[str, float | None]:
    """params, MAC/s, FLOP/s and activation bytes of a SpeechModel on `seconds` of audio."""
    from leanspeech.profile import profile_model

    profile = profile_model(model, seconds=seconds)
    rates = profile.per_second or {}
    return {"params": float(profile.params.dense), "macs_per_second": rates.get("macs"),
            "flops_per_second": rates.get("flops"), "activation_bytes": float(profile.activation_bytes)}


def _point(entry: dict[str, Any], run_dir: Path, source: str, single: bool) -> Point:
    """A Point from one schema entry; KeyError/TypeError/ValueError name what is missing or malformed.
    Its model: the entry's "model" (relative to the run directory), or the run's model.pt for a single point."""
    metric = entry["metric"]
    model = run_dir / entry["model"] if entry.get("model") else (model_file(run_dir) if single else None)
    complexity = {k: (None if v is None else float(v)) for k, v in (entry.get("complexity") or {}).items()
                  if k in COMPLEXITY}
    kind = entry.get("kind", "ours")
    if kind not in ("ours", "peer"):
        raise ValueError(f"kind must be 'ours' or 'peer', got {kind!r}")
    return Point(task=str(entry["task"]), name=str(entry.get("name", run_dir.name)),
                 method=str(entry.get("method", "peer" if kind == "peer" else "baseline")),
                 metric=str(metric["name"]), value=float(metric["value"]),
                 higher_is_better=bool(metric["higher_is_better"]), kind=kind, source=source,
                 model_path="" if model is None else str(model), series=str(entry.get("series", "")), **complexity)


def _training_point(run_dir: Path, summary: dict[str, Any]) -> Point:
    """The training engine's metrics.json: the monitored best value of the model in model.pt."""
    from leanspeech.models.io import load_model

    best = summary.get("best") or {}
    monitor = summary["monitor"]
    if monitor not in best:
        raise ValueError(f"no best value of {monitor!r} (the run has not validated yet)")
    found = model_file(run_dir)
    if found is None:
        raise ValueError("no model.pt to tell the task")
    config_path = run_dir / "config.yaml"
    config = parse_yaml(config_path.read_text()) if config_path.is_file() else {}
    method = ((config or {}).get("extra") or {}).get("method", "baseline")
    entry = {"task": load_model(found).task or "unknown", "method": method,
             "metric": {"name": monitor.removeprefix("val/"), "value": best[monitor],
                        "higher_is_better": summary.get("mode") == "max"}}
    return _point(entry, run_dir, str(run_dir / "metrics.json"), single=True)


def read_run(run_dir: str | Path) -> tuple[list[Point], list[Incomplete]]:
    """Points of one run directory (or one metrics.json), and why any of it is incomplete."""
    run_dir = Path(run_dir)
    path = run_dir if run_dir.is_file() else run_dir / "metrics.json"
    run_dir = path.parent
    if not path.is_file():
        return [], [Incomplete(str(run_dir), "no metrics.json (not finished?)")]
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return [], [Incomplete(str(path), f"unreadable metrics.json ({err})")]
    if not isinstance(data, dict):
        return [], [Incomplete(str(path), "metrics.json is not a JSON object")]
    training = "monitor" in data and "metric" not in data and "points" not in data
    if "points" in data:
        entries = list(enumerate(data["points"]))
    elif "metric" in data or training:
        entries = [(None, data)]
    else:
        return [], [Incomplete(str(path), "metrics.json has no task metric (no 'metric', 'points' or 'monitor')")]
    points, incomplete = [], []
    for index, entry in entries:
        where = str(path) if index is None else f"{path} points[{index}]"
        try:
            point = _training_point(run_dir, entry) if training else _point(entry, run_dir, where, index is None)
        except (KeyError, TypeError, ValueError) as err:
            problem = f"missing {err}" if isinstance(err, KeyError) else str(err)
            incomplete.append(Incomplete(where, problem))
            continue
        points.append(point)
    return points, incomplete


def fill_complexity(points: list[Point], seconds: float = 4.0) -> list[Incomplete]:
    """Profile the model of each point that lacks FLOP/s; returns the points that could not be."""
    from leanspeech.errors import LeanspeechError
    from leanspeech.models.io import load_model

    problems = []
    for point in points:
        if not point.model_path or point.flops_per_second is not None:
            continue
        try:
            measured = profile_complexity(load_model(point.model_path), seconds)
        except (LeanspeechError, RuntimeError, ValueError) as err:
            problems.append(Incomplete(point.source, f"cannot profile {point.model_path} ({err})"))
            continue
        for key, value in measured.items():
            if getattr(point, key) is None:
                setattr(point, key, value)
    return problems


POINT_FIELDS = [f.name for f in fields(Point)]
