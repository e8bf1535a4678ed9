"""A study's record of what it ran on (study.json), and its run folders, reused on a re-run once finished:
their model and metrics.json (written last) exist."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from leanspeech.data.manifest import read_build_record
from leanspeech.errors import RecipeError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model


def write_study_record(out: Path, corpus: str | Path, config: dict[str, Any]) -> Path:
    """out/study.json: the corpus path, its build record (build.json: how it was built, the manifest's
    hash) and the study's configuration."""
    record = {"corpus": str(Path(corpus).resolve()), "corpus_build": read_build_record(corpus), **config}
    path = Path(out) / "study.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def check_same_study(out: Path, corpus: str | Path, config: Any, may_change: tuple[str, ...] = ()) -> None:
    """Refuses to resume into `out` when its study.json was written for another corpus or another recipe:
    its finished run folders would be reused as they are. `config` is the study's configuration dataclass;
    keys in `may_change` (those that add runs or only change the scoring) may differ, and its defaults
    stand in for keys that a study.json from an older leanspeech lacks."""
    check_same_record(Path(out) / "study.json", {"corpus": str(Path(corpus).resolve()), **asdict(config)},
                      (*may_change, "corpus_build"), defaults=asdict(type(config)()))


def check_same_record(path: Path, record: dict[str, Any], may_change: tuple[str, ...] = (),
                      defaults: dict[str, Any] | None = None) -> None:
    """Refuses when the record at `path` (a run folder's study.json, run.json, ...) differs from `record`
    in a key outside `may_change`; nothing to compare when there is no record yet. A key the record lacks
    (at any depth) counts as its value in `defaults`: settings added since it was written default to what
    the code did before them."""
    if not path.is_file():
        return
    before = with_defaults(json.loads(path.read_text()), json.loads(json.dumps(defaults or {})))
    now = json.loads(json.dumps(record))  # tuples as lists
    changed = sorted(k for k in now.keys() | before.keys() if k not in may_change and before.get(k) != now.get(k))
    if changed:
        raise RecipeError(f"{path.parent}: its runs were made with other {', '.join(changed)} (see {path}); "
                          "choose another --out, or remove the folder to start again")


def with_defaults(record: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """`record` with each key it lacks, in it or in a nested dict, taken from `defaults`."""
    merged = dict(record)
    for key, value in defaults.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = with_defaults(merged[key], value)
    return merged


def is_finished(run_dir: Path, also: tuple[str, ...] = ()) -> bool:
    """True when `model.pt`, `metrics.json` and the files in `also` are all in `run_dir`."""
    return all((run_dir / name).is_file() for name in ("model.pt", "metrics.json", *also))


def train_or_reuse(folder: Path, train: Callable[[Path], tuple[SpeechModel, dict[str, Any]]],
                   ) -> tuple[SpeechModel, dict[str, Any]]:
    """The finished run in `folder`, loaded; otherwise `train(progress file)`, which goes on from that file
    when a killed attempt left one, saved as model.pt + metrics.json (the progress file is then removed)."""
    if is_finished(folder):
        return load_model(folder / "model.pt").eval(), json.loads((folder / "metrics.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    model, metrics = train(folder / "progress.pt")
    save_model(model, folder / "model.pt")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "progress.pt").unlink(missing_ok=True)
    return model, metrics
