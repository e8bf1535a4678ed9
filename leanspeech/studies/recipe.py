"""Study recipes: one YAML file becomes a dataclass config; a wrong key is named before any work starts."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from leanspeech.errors import RecipeError

T = TypeVar("T")


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The mapping in a study's YAML file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: study recipe does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(values, dict):
        raise RecipeError(f"{path}: a study recipe is a mapping of keys to values")
    return values


def check_keys(values: dict[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(known)}")


def section(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """A nested settings dataclass (e.g. `train:`) from its recipe section."""
    values = values or {}
    check_keys(values, cls, where)
    try:
        return cls(**values)
    except TypeError as err:
        raise RecipeError(f"{where}: {err}") from None
