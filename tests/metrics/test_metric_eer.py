import numpy as np
import pytest
from scipy.stats import norm

from leanspeech.metrics import MetricError, det_points, equal_error_rate, error_rates


def test_hand_computed_eer_and_threshold():
    # Sorted: 0.9 P, 0.8 P, 0.7 N, 0.4 P, 0.3 N, 0.2 N, 0.1 N (3 positives, 4 negatives).
    # Accepting >= 0.7: FPR 1/4, FNR 1/3; accepting >= 0.4: FPR 1/4, FNR 0. On the segment between
    # them FPR stays 1/4 while FNR falls from 1/3 to 0, reaching 1/4 a quarter of the way: EER = 0.25
    # at threshold 0.7 + (0.4 - 0.7) / 4 = 0.625.
    scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1]
    labels = [1, 1, 0, 1, 0, 0, 0]
    result = equal_error_rate(scores, labels)
    assert result.eer == pytest.approx(0.25)
    assert result.threshold == pytest.approx(0.625)


def test_roc_points_step_once_per_distinct_score():
    rates = error_rates([0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1], [1, 1, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(rates.thresholds, [np.inf, 0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(rates.false_positive_rate, [0, 0, 0, 0.25, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(rates.false_negative_rate, [1, 2 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0])
    np.testing.assert_allclose(rates.true_positive_rate, 1 - rates.false_negative_rate)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0]])
def test_tied_scores_do_not_depend_on_order(order):
    # A positive and a negative tie at 0.5: one ROC step from (FPR 0, FNR 1/2) to (1/2, 0), which
    # crosses FPR = FNR at 1/4, halfway between thresholds 1 and 0.5.
    scores = np.array([1.0, 0.5, 0.5, 0.0])[order]
    labels = np.array([1, 1, 0, 0])[order]
    result = equal_error_rate(scores, labels)
    assert result.eer == pytest.approx(0.25)
    assert result.threshold == pytest.approx(0.75)


def test_perfect_and_inverted_detectors():
    assert equal_error_rate([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]).eer == 0.0
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]).eer == 1.0


def test_gaussian_scores_match_the_closed_form_eer():
    # Positives ~ N(+1, 1), negatives ~ N(-1, 1): FPR = FNR at threshold 0, so EER = Phi(-1) = 0.1587.
    rng = np.random.default_rng(0)
    n = 20000
    scores = np.r_[rng.normal(1, 1, n), rng.normal(-1, 1, n)]
    labels = np.r_[np.ones(n), np.zeros(n)]
    result = equal_error_rate(scores, labels)
    assert result.eer == pytest.approx(norm.cdf(-1), abs=0.006)
    assert result.threshold == pytest.approx(0.0, abs=0.03)


def test_det_points_are_probits_of_the_rates():
    x, y = det_points([0.9, 0.4, 0.6, 0.1], [1, 1, 0, 0])
    # Rates: (0,1), (0,1/2), (1/2,1/2), (1/2,0), (1,0); 0 and 1 clipped to 1e-6 and 1 - 1e-6.
    np.testing.assert_allclose(x, norm.ppf([1e-6, 1e-6, 0.5, 0.5, 1 - 1e-6]))
    np.testing.assert_allclose(y, norm.ppf([1 - 1e-6, 0.5, 0.5, 1e-6, 1e-6]))


@pytest.mark.parametrize("scores,labels,match", [
    ([0.1, 0.2], [1, 1], "both classes"),
    ([0.1, 0.2], [0, 0], "both classes"),
    ([0.1, 0.2, 0.3], [0, 1], "differ in length"),
    ([0.1, np.nan], [0, 1], "NaN"),
    ([0.1, 0.2], [0, 2], "0 \\(negative\\) or 1"),
])
def test_bad_input_is_explained(scores, labels, match):
    with pytest.raises(MetricError, match=match):
        equal_error_rate(scores, labels)
