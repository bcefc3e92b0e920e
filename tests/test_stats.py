"""Statistics over seeds and paired A/B runs, checked against SciPy's own paired t-test and
NumPy over the same numbers."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from lrviz.experiments import ab
from lrviz.experiments.stats import band, paired, summary

A = {0: 0.31, 1: 0.35, 2: 0.29, 3: 0.33, 4: 0.30}
B = {0: 0.27, 1: 0.33, 2: 0.26, 3: 0.30, 4: 0.28}


def test_the_paired_interval_is_scipys_paired_t_test():
    got = paired(A, B)
    ref = scipy_stats.ttest_rel(list(B.values()), list(A.values())).confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert got.diff == pytest.approx(np.mean(np.subtract(list(B.values()), list(A.values()))), rel=1e-12)


def test_seeds_missing_from_either_arm_or_without_a_value_are_left_out():
    got = paired({**A, 9: 1.0}, {**B, 3: None, 4: float("nan")})
    assert got.n == 3


def test_fewer_than_two_paired_seeds_give_no_interval():
    assert paired({0: 0.3}, {0: 0.2}) is None


def test_a_consistent_improvement_is_called_larger_than_noise():
    text = ab.verdict(paired(A, B))
    assert text.startswith("B's final val_loss is 0.028 lower than A's") and "larger than the seed-to-seed noise" in text


def test_an_improvement_within_the_noise_is_called_indistinguishable():
    text = ab.verdict(paired(A, {0: 0.30, 1: 0.36, 2: 0.27, 3: 0.34, 4: 0.29}))
    assert "not distinguishable from seed noise with 5 seeds" in text


def test_the_verdict_without_enough_seeds_says_what_is_missing():
    assert "at least 2 seeds" in ab.verdict(None, seeds=3)


def test_a_band_is_the_mean_and_sample_std_where_runs_have_values():
    runs = [np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0]), np.array([2.0, 3.0, 5.0])]
    b = band(runs)
    np.testing.assert_allclose(b.mean, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(b.high - b.mean, [1.0, 1.0, np.std([3.0, 5.0], ddof=1)])
    assert b.count.tolist() == [3, 3, 2]


def test_a_range_band_is_min_to_max():
    b = band([np.array([1.0, 5.0]), np.array([3.0, 2.0])], "range")
    assert b.low.tolist() == [1.0, 2.0] and b.high.tolist() == [3.0, 5.0]


def test_a_summary_skips_missing_values():
    s = summary([0.2, None, 0.4, float("nan")])
    assert (s.mean, s.n) == (pytest.approx(0.3), 2) and s.std == pytest.approx(np.std([0.2, 0.4], ddof=1))
