"""Recipes: one YAML file per run is the single source of truth.

`load_recipe(path, overrides)` reads the YAML, applies dotted command-line overrides
(`trainer.max_epochs=3`, values parsed as YAML scalars), fills defaults and checks every key before any
work starts: an unknown key fails with its full path and the closest valid key, and the `model`, `data`,
`optim`, `scheduler`, `trainer`, `early_stopping`, `checkpoint`, loss, extra-loss and callback arguments
are checked against the signature of what they configure. The result is a plain dict; `save_recipe`
writes it next to the checkpoints. `study` and `extra` are open sections for method-specific keys.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from leanspeech.errors import RecipeError

REQUIRED = object()
NONE = type(None)
Spec = dict[str, tuple[Any, tuple[type, ...]]]

# Keys the engine reads itself: (default, accepted types). Other keys of a section are arguments of the
# thing it configures (see `_signature_target`).
FIXED: dict[str, Spec] = {
    "model": {"name": (REQUIRED, (str,))},
    "data": {
        "name": (REQUIRED, (str,)),
        "batch_size": (8, (int,)),
        "val_batch_size": (None, (int, NONE)),
        "num_workers": (0, (int,)),
        "train": ({}, (dict, NONE)),
        "val": (None, (dict, NONE)),  # dataset arguments of the validation split; none: no validation
    },
    "task": {
        "input": ("input", (str, int)),  # batch key (dict batches) or index (tuple batches)
        "target": ("target", (str, int)),
        "input_is_wav": (False, (bool,)),  # True: model.forward_wav(input), else model(input)
        "loss": (REQUIRED, (str, dict)),
        "metrics": ([], (list,)),
        "monitor": (None, (str, NONE)),  # default: val/loss, or train/loss_epoch without validation
        "mode": (None, (str, NONE)),  # default: the monitored metric's direction
        "extra_losses": ([], (list,)),
    },
    "optim": {"name": ("adam", (str,)), "lr": (1e-3, (float,)), "weight_decay": (0.0, (float,))},
    "scheduler": {
        "name": ("none", (str,)),
        "monitor": (None, (str, NONE)),
        "interval": ("epoch", (str,)),
        "frequency": (1, (int,)),
    },
    "trainer": {"max_epochs": (10, (int,))},
    "early_stopping": {"enabled": (False, (bool,)), "patience": (5, (int,))},
    "checkpoint": {"save_top_k": (1, (int,))},
}
TOP_LEVEL: Spec = {
    "seed": (0, (int,)),
    "run_dir": (None, (str, NONE)),  # default: runs/<recipe file stem>
    "resume": (True, (bool,)),  # re-running with the same run_dir continues from last.ckpt
    "imports": ([], (list,)),  # modules to import first: they register user models and datasets
    "callbacks": ([], (list,)),
    "study": ({}, (dict,)),
    "extra": ({}, (dict,)),
}
SECTIONS = [*FIXED, *TOP_LEVEL]
# Trainer and checkpoint arguments the engine sets itself.
MANAGED = {
    "trainer": ("logger", "callbacks", "default_root_dir", "enable_checkpointing"),
    "checkpoint": ("dirpath", "filename", "save_last", "save_on_exception", "monitor", "mode", "enable_version_counter"),
    "early_stopping": ("monitor", "mode"),
}
# Modules whose import fills the registries a recipe names (those present in this installation).
REGISTERING_MODULES = (
    "leanspeech.models",
    "leanspeech.data.datasets",
    "leanspeech.data.readers",
    "leanspeech.compress",
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float (YAML 1.1 wants `1.0e-3`, a classic recipe trap)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read, override, fill and check a recipe. Raises RecipeError naming the first bad key."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file does not exist")
    try:
        recipe = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections, not a {type(recipe).__name__}")
    for override in overrides:
        apply_override(recipe, override)
    recipe.setdefault("run_dir", str(Path("runs") / path.stem))
    return resolve_recipe(recipe)


def apply_override(recipe: dict[str, Any], override: str) -> None:
    """Apply `dotted.key=value` in place; list items are addressed by index (`callbacks.0.epoch=3`)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise RecipeError(f"override {override!r}: expected dotted.key=value")
    *parents, leaf = key.split(".")
    node: Any = recipe
    for depth, part in enumerate(parents):
        if isinstance(node, list):
            node = node[_list_index(node, part, ".".join(parents[:depth]))]
        else:
            if node.get(part) is None:
                node[part] = {}  # e.g. `early_stopping.enabled=true` on a recipe without that section
            node = node[part]
        if not isinstance(node, (dict, list)):
            raise RecipeError(f"override {override!r}: {'.'.join(parents[: depth + 1])} is a value, not a section")
    value = parse_yaml(text) if text.strip() else None
    if isinstance(node, list):
        node[_list_index(node, leaf, ".".join(parents))] = value
    else:
        node[leaf] = value


def _list_index(items: list, part: str, where: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise RecipeError(f"{where}: a list of {len(items)} items has no item {part!r}")
    return int(part)


def resolve_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every key of an (already overridden) recipe; returns a new dict."""
    from lightning import Trainer
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from leanspeech.registry import DATASETS, MODELS
    from leanspeech.train.data import LOADER_KEYS, dataset_kwargs
    from leanspeech.train.hooks import CALLBACKS
    from leanspeech.train.optim import OPTIMIZERS, SCHEDULER_KEYS, SCHEDULERS

    recipe = copy.deepcopy(recipe)
    _reject_unknown("", recipe, SECTIONS)
    resolved = {
        key: _checked(key, recipe.get(key, copy.deepcopy(default)), types) for key, (default, types) in TOP_LEVEL.items()
    }
    _import_registrations(resolved["imports"])
    for section, spec in FIXED.items():
        given = recipe.get(section) or {}
        if not isinstance(given, dict):
            raise RecipeError(f"{section}: expected a mapping of keys, not {given!r}")
        resolved[section] = {**{k: copy.deepcopy(d) for k, (d, _) in spec.items() if d is not REQUIRED}, **given}
        for key, (default, types) in spec.items():
            if default is REQUIRED and key not in given:
                raise RecipeError(f"{section}.{key}: missing (required)")
            resolved[section][key] = _checked(f"{section}.{key}", resolved[section][key], types)

    _reject_unknown("task", resolved["task"], list(FIXED["task"]))
    _resolve_task(resolved)
    model, data, optim, scheduler = (resolved[s] for s in ("model", "data", "optim", "scheduler"))
    _check_arguments("model", _extra(model, ["name"]), _entry("model.name", MODELS, model["name"]))
    _check_name("optim.name", optim["name"], list(OPTIMIZERS), "optimizer")
    _check_arguments("optim", _extra(optim, ["name"]), OPTIMIZERS[optim["name"]], skip=("params",))
    _check_name("scheduler.name", scheduler["name"], list(SCHEDULERS), "scheduler")
    scheduler_cls = SCHEDULERS[scheduler["name"]]
    _check_arguments("scheduler", _extra(scheduler, SCHEDULER_KEYS), scheduler_cls, skip=("optimizer",))
    _check_arguments("trainer", resolved["trainer"], Trainer, skip=MANAGED["trainer"])
    stopping = _extra(resolved["early_stopping"], ["enabled"])
    _check_arguments("early_stopping", stopping, EarlyStopping, skip=MANAGED["early_stopping"])
    _check_arguments("checkpoint", resolved["checkpoint"], ModelCheckpoint, skip=MANAGED["checkpoint"])
    dataset = _entry("data.name", DATASETS, data["name"])
    _check_arguments("data", _extra(data, LOADER_KEYS), dataset, require=False)
    for split in ("train", "val") if data["val"] is not None else ("train",):
        _check_arguments(f"data.{split}", data[split] or {}, dataset, require=False)
        _check_arguments(f"data.{split}", dataset_kwargs(data, split), dataset)
    resolved["callbacks"] = _named_list("callbacks", resolved["callbacks"], CALLBACKS)
    return resolved


def _resolve_task(recipe: dict[str, Any]) -> None:
    """Normalise the task section and derive the monitored value and its direction."""
    from leanspeech.train.hooks import EXTRA_LOSSES
    from leanspeech.train.losses import LOSSES
    from leanspeech.train.metrics import METRICS

    task = recipe["task"]
    task["loss"] = _named_list("task.loss", [task["loss"]], LOSSES, indexed=False)[0]
    for i, name in enumerate(task["metrics"]):
        _check_name(f"task.metrics.{i}", name, METRICS.names(), "metric")
    task["extra_losses"] = _named_list("task.extra_losses", task["extra_losses"], EXTRA_LOSSES)
    has_val = recipe["data"]["val"] is not None
    task["monitor"] = task["monitor"] or ("val/loss" if has_val else "train/loss_epoch")
    valid = ["train/loss_epoch", "train/task_loss_epoch"]
    valid += ["val/loss", *(f"val/{m}" for m in task["metrics"])] if has_val else []
    _check_name("task.monitor", task["monitor"], valid, "monitored value" + ("" if has_val else " (no data.val)"))
    metric = task["monitor"].removeprefix("val/")
    task["mode"] = task["mode"] or (METRICS.get(metric).mode if metric in METRICS else "min")
    _check_name("task.mode", task["mode"], ["min", "max"], "mode")
    scheduler = recipe["scheduler"]
    _check_name("scheduler.interval", scheduler["interval"], ["epoch", "step"], "interval")
    if scheduler["name"] == "reduce_on_plateau":
        scheduler["monitor"] = scheduler["monitor"] or task["monitor"]
        scheduler.setdefault("mode", task["mode"])
    if scheduler["name"] == "cosine" and "T_max" not in scheduler:
        # One cosine period over the whole run unless the recipe says otherwise.
        limit = "max_epochs" if scheduler["interval"] == "epoch" else "max_steps"
        horizon = recipe["trainer"].get(limit)
        if not isinstance(horizon, int) or horizon <= 0:
            raise RecipeError(f"scheduler.T_max: missing; cosine needs it or trainer.{limit}")
        scheduler["T_max"] = horizon


def _extra(section: dict[str, Any], fixed: Iterable[str]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k not in fixed}


def _check_arguments(
    where: str, arguments: dict[str, Any], target: Callable | None, skip: Iterable[str] = (), require: bool = True
) -> None:
    """`arguments` must be keyword arguments `target` accepts (all of them, when `require`); `skip` are
    arguments the engine passes itself. A None target (e.g. scheduler `none`) takes no arguments."""
    if target is None:
        _reject_unknown(where, arguments, [], "takes no arguments here")
        return
    what = getattr(target, "__qualname__", repr(target))
    params = {n: p for n, p in inspect.signature(target).parameters.items() if n != "self"}
    for key in arguments:
        if key in skip:
            raise RecipeError(f"{where}.{key}: set by the training engine, not by the recipe")
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        _reject_unknown(where, arguments, [n for n in params if n not in skip], f"not an argument of {what}")
    if require:
        for name, param in params.items():
            plain = param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
            if plain and param.default is param.empty and name not in arguments and name not in skip:
                raise RecipeError(f"{where}.{name}: missing (required by {what})")


def _named_list(where: str, items: list, registry: Any, indexed: bool = True) -> list[dict[str, Any]]:
    """Check `{name, ...arguments}` entries (or bare names) against a registry of factories."""
    checked = []
    for i, item in enumerate(items):
        here = f"{where}.{i}" if indexed else where
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or "name" not in item:
            raise RecipeError(f"{here}: expected a name or a mapping with a name, not {item!r}")
        _check_arguments(here, _extra(item, ["name"]), _entry(f"{here}.name", registry, item["name"]))
        checked.append(dict(item))
    return checked


def _entry(where: str, registry: Any, name: str) -> Any:
    _check_name(where, name, registry.names(), registry.kind)
    return registry.get(name)


def _import_registrations(imports: list[str]) -> None:
    for module in REGISTERING_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for i, module in enumerate(imports):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise RecipeError(f"imports.{i}: cannot import {module!r} ({err})") from None


def _checked(where: str, value: Any, types: tuple[type, ...]) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if float in types and is_number:
        return float(value)
    if isinstance(value, types) and (bool in types or not isinstance(value, bool)):
        return value
    expected = " or ".join("null" if t is NONE else t.__name__ for t in types)
    raise RecipeError(f"{where}: expected {expected}, got {value!r}")


def _check_name(where: str, name: Any, valid: list[str], kind: str) -> None:
    if name not in valid:
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RecipeError(f"{where}: unknown {kind} {name!r}{hint}; valid: {', '.join(valid) or 'none'}")


def _reject_unknown(where: str, values: dict[str, Any], valid: list[str], problem: str = "unknown key") -> None:
    prefix = f"{where}." if where else ""
    for key in values:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise RecipeError(f"{prefix}{key}: {problem}{hint}")


def flatten(recipe: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} → {'a.b': 1}: how recipes are compared and overridden."""
    flat: dict[str, Any] = {}
    for key, value in recipe.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def recipe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable `key: old → new` lines for every key that differs."""
    before, after = flatten(old), flatten(new)
    return [
        f"{key}: {before.get(key, '(unset)')} → {after.get(key, '(unset)')}"
        for key in sorted(set(before) | set(after))
        if before.get(key, "(unset)") != after.get(key, "(unset)")
    ]


def save_recipe(recipe: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    return path
