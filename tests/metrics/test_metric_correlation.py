import math

import numpy as np
import pytest

from leanspeech.metrics import MetricError, agreement, agreement_per_set, mean_over_sets, mse, pcc, srcc


def test_pcc_hand_computed():
    # x - mean = [-1.5, -0.5, 0.5, 1.5], y - mean = [-1.75, 0.25, 1.25, 0.25]
    # sum xy = 2.625 + -0.125 + 0.625 + 0.375 = 3.5; sum x^2 = 5; sum y^2 = 4.75
    assert pcc([1, 2, 3, 4], [2, 4, 5, 4]) == pytest.approx(3.5 / math.sqrt(5 * 4.75))


def test_srcc_uses_average_ranks_for_ties():
    # y ranks with the tie at 4 shared: [1, 2.5, 4, 2.5]; x ranks [1, 2, 3, 4].
    # Pearson of the ranks: dx = [-1.5, -0.5, 0.5, 1.5], dy = [-1.5, 0, 1.5, 0]
    # sum dx dy = 2.25 + 0.75 = 3, sum dx^2 = 5, sum dy^2 = 4.5
    assert srcc([1, 2, 3, 4], [2, 4, 5, 4]) == pytest.approx(3 / math.sqrt(5 * 4.5))
    assert srcc([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)


def test_mse_and_agreement():
    result = agreement([1, 2, 3], [1, 2, 5])
    assert result.mse == pytest.approx(4 / 3) == mse([1, 2, 3], [1, 2, 5])
    assert result.n == 3
    assert set(result.as_dict()) == {"pcc", "srcc", "mse", "n"}


def test_undefined_correlations_are_nan_not_warnings():
    assert math.isnan(pcc([3, 3, 3], [1, 2, 3]))
    assert math.isnan(srcc([1, 2, 3], [5, 5, 5]))
    assert math.isnan(pcc([1], [2]))


def test_per_set_and_means_over_sets():
    predicted = [1, 2, 3, 4, 1, 2, 3]
    target = [1, 2, 3, 4, 3, 2, 1]
    sets = ["a", "a", "a", "a", "b", "b", "b"]
    per_set = agreement_per_set(predicted, target, sets)
    assert list(per_set) == ["a", "b"]
    assert per_set["a"].pcc == pytest.approx(1.0) and per_set["b"].pcc == pytest.approx(-1.0)
    assert per_set["b"].mse == pytest.approx(8 / 3)
    weighted = mean_over_sets(per_set, weighted=True)
    assert weighted["pcc"] == pytest.approx((4 * 1 + 3 * -1) / 7)
    assert weighted["mse"] == pytest.approx(3 * (8 / 3) / 7)
    assert mean_over_sets(per_set, weighted=False)["pcc"] == pytest.approx(0.0)


def test_bad_input_is_explained():
    with pytest.raises(MetricError, match="differ in length"):
        pcc([1, 2, 3], [1, 2])
    with pytest.raises(MetricError, match="set_names has 2 entries for 3"):
        agreement_per_set([1, 2, 3], [1, 2, 3], ["a", "b"])
    with pytest.raises(MetricError, match="empty"):
        mse([], [])
    with pytest.raises(MetricError, match="no sets"):
        mean_over_sets({})
    assert np.isfinite(pcc(np.arange(5.0), np.arange(5.0) ** 2))
