import numpy as np
import pytest

from leanspeech.metrics import MetricError, adjust_p_values, mann_whitney, pairwise_mann_whitney


def test_exact_mann_whitney_on_separated_samples():
    # All 3 of a below all 3 of b: U_a = 0. Exact two-sided p = 2 / C(6, 3) = 0.1.
    u, p = mann_whitney([1, 2, 3], [4, 5, 6])
    assert u == 0.0
    assert p == pytest.approx(0.1)
    u, p = mann_whitney([4, 5, 6], [1, 2, 3], alternative="greater")
    assert u == 9.0 and p == pytest.approx(0.05)


def test_u_counts_pairs_with_ties_as_half():
    # Pairs (x, y): (1,1) tie 1/2, (1,3) 0, (2,1) 1, (2,3) 0, (5,1) 1, (5,3) 1 -> U = 3.5
    u, _ = mann_whitney([1, 2, 5], [1, 3])
    assert u == 3.5


def test_holm_and_bonferroni_hand_computed():
    p = [0.01, 0.04, 0.03]
    # Holm: sorted 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.03, 0.06, 0.06
    np.testing.assert_allclose(adjust_p_values(p, "holm"), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), [0.03, 0.12, 0.09])
    np.testing.assert_allclose(adjust_p_values(p, "none"), p)
    np.testing.assert_allclose(adjust_p_values([0.5, 0.6], "bonferroni"), [1.0, 1.0])


def test_pairwise_tests_cover_every_pair_in_order():
    conditions = {"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}
    results = pairwise_mann_whitney(conditions, correction="bonferroni")
    assert [(r.first, r.second) for r in results] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert all(r.p_value == pytest.approx(0.1) for r in results)
    assert all(r.p_adjusted == pytest.approx(0.3) for r in results)
    assert not any(r.significant() for r in results)


def test_bad_input_is_explained():
    with pytest.raises(MetricError, match="at least 2 conditions"):
        pairwise_mann_whitney({"a": [1, 2]})
    with pytest.raises(MetricError, match="unknown correction"):
        adjust_p_values([0.1], "fdr")
    with pytest.raises(MetricError, match="empty"):
        mann_whitney([], [1, 2])
