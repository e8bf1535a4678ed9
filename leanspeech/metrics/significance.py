"""Mann-Whitney U tests between conditions (e.g. per-clip scores of several models), via scipy."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from leanspeech.metrics.checks import MetricError, as_vector

CORRECTIONS = ("holm", "bonferroni", "none")


@dataclass(frozen=True)
class PairTest:
    first: str
    second: str
    u: float  # U statistic of `first`: pairs (x from first, y from second) with x > y, ties counting 1/2
    p_value: float  # as scipy returns it, uncorrected
    p_adjusted: float  # after the multiple-comparison correction

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_adjusted < alpha


def mann_whitney(first: object, second: object, alternative: str = "two-sided") -> tuple[float, float]:
    """(U of `first`, p). scipy picks the exact test for small samples without ties, else the normal
    approximation with tie and continuity corrections."""
    a, b = as_vector(first, "first"), as_vector(second, "second")
    result = stats.mannwhitneyu(a, b, alternative=alternative)
    return float(result.statistic), float(result.pvalue)


def adjust_p_values(p_values: object, correction: str = "holm") -> np.ndarray:
    """Family-wise corrections: Holm's step-down (uniformly more powerful) or Bonferroni."""
    if correction not in CORRECTIONS:
        raise MetricError(f"unknown correction {correction!r}; choose one of {CORRECTIONS}")
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if correction == "none" or m == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p)
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def pairwise_mann_whitney(
    conditions: Mapping[str, object], correction: str = "holm", alternative: str = "two-sided"
) -> list[PairTest]:
    """A test for every pair of conditions (in the mapping's order), p-values corrected over all pairs."""
    if len(conditions) < 2:
        raise MetricError(f"pairwise tests need at least 2 conditions, got {len(conditions)}")
    pairs = list(itertools.combinations(conditions, 2))
    raw = [mann_whitney(conditions[a], conditions[b], alternative) for a, b in pairs]
    adjusted = adjust_p_values([p for _, p in raw], correction)
    return [
        PairTest(first=a, second=b, u=u, p_value=p, p_adjusted=float(q))
        for (a, b), (u, p), q in zip(pairs, raw, adjusted)
    ]
