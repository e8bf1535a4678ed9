"""Equal error rate, ROC and DET points from detection scores (higher score = more likely positive)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from leanspeech.metrics.checks import MetricError, as_vector, same_length


@dataclass(frozen=True)
class ErrorRates:
    """One operating point per distinct score: decide positive when score >= threshold.

    The first point has threshold +inf (nothing accepted): false-positive rate 0, miss rate 1.
    """

    thresholds: np.ndarray
    false_positive_rate: np.ndarray
    false_negative_rate: np.ndarray

    @property
    def true_positive_rate(self) -> np.ndarray:
        return 1.0 - self.false_negative_rate


@dataclass(frozen=True)
class EER:
    eer: float
    threshold: float


def error_rates(scores: object, labels: object) -> ErrorRates:
    """FPR and FNR at every distinct score. Tied scores form one step, so ties never depend on order."""
    scores = as_vector(scores, "scores")
    labels = as_vector(labels, "labels")
    same_length(scores, labels, "scores and labels")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise MetricError("labels must be 0 (negative) or 1 (positive)")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise MetricError(f"EER needs both classes, got {n_pos} positive and {n_neg} negative labels")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    accepted_pos = np.cumsum(labels)
    accepted_neg = np.cumsum(1.0 - labels)
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    return ErrorRates(
        thresholds=np.r_[np.inf, scores[last_of_each_score]],
        false_positive_rate=np.r_[0.0, accepted_neg[last_of_each_score] / n_neg],
        false_negative_rate=np.r_[1.0, 1.0 - accepted_pos[last_of_each_score] / n_pos],
    )


def equal_error_rate(scores: object, labels: object) -> EER:
    """The rate where false positives equal misses, on the straight line between the two operating
    points that bracket it. The threshold is interpolated between their scores in the same ratio
    (when the first bracketing point is the +inf one, the top score stands in for it)."""
    rates = error_rates(scores, labels)
    fpr, fnr, thr = rates.false_positive_rate, rates.false_negative_rate, rates.thresholds
    # fnr - fpr falls from 1 to -1 as the threshold drops; find the first point at or below zero.
    i = int(np.flatnonzero(fnr - fpr <= 0)[0])
    gap_before, gap_after = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    weight = gap_before / (gap_before - gap_after)  # 0 at point i - 1, 1 at point i
    eer = fpr[i - 1] + weight * (fpr[i] - fpr[i - 1])
    upper = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    threshold = upper + weight * (thr[i] - upper)
    return EER(eer=float(eer), threshold=float(threshold))


def det_points(scores: object, labels: object, clip: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """DET curve coordinates: probit (normal deviate) of FPR and FNR, rates clipped to [clip, 1 - clip]."""
    rates = error_rates(scores, labels)
    fpr = np.clip(rates.false_positive_rate, clip, 1 - clip)
    fnr = np.clip(rates.false_negative_rate, clip, 1 - clip)
    return norm.ppf(fpr), norm.ppf(fnr)
