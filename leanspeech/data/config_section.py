"""Recipe sections (`mixing:`, `labels:`) into frozen dataclasses, with errors that name the key."""

from __future__ import annotations

from dataclasses import MISSING, fields
from numbers import Real
from typing import Any, TypeVar

from leanspeech.errors import RecipeError

C = TypeVar("C")


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default; YAML lists become tuples."""
    def wrong(expected: str) -> RecipeError:
        return RecipeError(f"{section}: {key} must be {expected}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise wrong("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise wrong("a number")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise wrong("a string")
    elif isinstance(default, tuple):
        if (not isinstance(value, (list, tuple)) or len(value) != len(default)
                or any(isinstance(v, bool) or not isinstance(v, Real) for v in value)):
            raise wrong(f"a list of {len(default)} numbers")
        value = tuple(float(v) for v in value)
    return value


def section_from_dict(cls: type[C], section: str, values: dict[str, Any] | None) -> C:
    known = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    checked = {}
    for key, value in (values or {}).items():
        if key not in known:
            raise RecipeError(f"{section}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        checked[key] = _coerce(section, key, value, known[key])
    return cls(**checked)
