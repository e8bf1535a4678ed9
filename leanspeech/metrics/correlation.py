"""Agreement between predicted and true scores (e.g. MOS): PCC, SRCC, MSE, per set and across sets."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from leanspeech.metrics.checks import MetricError, as_vector, same_length


@dataclass(frozen=True)
class Agreement:
    """PCC and SRCC are NaN where undefined (fewer than 2 clips, or a constant input)."""

    pcc: float
    srcc: float
    mse: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _pair(predicted: object, target: object) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_vector(predicted, "predicted"), as_vector(target, "target")
    same_length(a, b, "predicted and target")
    return a, b


def _undefined_correlation(a: np.ndarray, b: np.ndarray) -> bool:
    return a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0


def pcc(predicted: object, target: object) -> float:
    """Pearson linear correlation coefficient."""
    a, b = _pair(predicted, target)
    if _undefined_correlation(a, b):
        return math.nan
    return float(stats.pearsonr(a, b).statistic)


def srcc(predicted: object, target: object) -> float:
    """Spearman rank correlation coefficient (ties get their average rank)."""
    a, b = _pair(predicted, target)
    if _undefined_correlation(a, b):
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


def mse(predicted: object, target: object) -> float:
    a, b = _pair(predicted, target)
    return float(np.mean((a - b) ** 2))


def agreement(predicted: object, target: object) -> Agreement:
    a, b = _pair(predicted, target)
    return Agreement(pcc=pcc(a, b), srcc=srcc(a, b), mse=mse(a, b), n=int(a.size))


def agreement_per_set(predicted: object, target: object, set_names: Sequence[str]) -> dict[str, Agreement]:
    """Agreement within each set (a test corpus, condition or system), in first-seen order of the names."""
    a, b = _pair(predicted, target)
    names = np.asarray(set_names, dtype=object)
    if names.shape != a.shape:
        raise MetricError(f"set_names has {names.size} entries for {a.size} scores")
    return {str(name): agreement(a[names == name], b[names == name]) for name in dict.fromkeys(names)}


def mean_over_sets(per_set: Mapping[str, Agreement], weighted: bool = True) -> dict[str, float]:
    """Average of each metric over sets: weighted by the sets' clip counts, or each set counting once.

    A set whose correlation is undefined (NaN) leaves that metric NaN: drop it first if that is meant.
    """
    if not per_set:
        raise MetricError("no sets to average")
    weights = np.array([s.n if weighted else 1 for s in per_set.values()], dtype=np.float64)
    return {
        key: float(np.average([getattr(s, key) for s in per_set.values()], weights=weights))
        for key in ("pcc", "srcc", "mse")
    }

