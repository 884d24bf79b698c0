"""The advisor's statistics, on cases computed by hand: binomial tails, the conditional rate test,
the two-proportion z test, Welch's t, counts from series, and the verdicts that account for the
traffic volume (one error in three requests is no regression; 2 % → 9 % at 40 req/s is)."""

from __future__ import annotations

import math

import pytest

from idp_tui.advisor import stats
from idp_tui.advisor.stats import Counts


def test_binomial_upper_tail_by_hand() -> None:
    assert stats.binomial_upper_tail(2, 3, 0.5) == pytest.approx(4 / 8)
    assert stats.binomial_upper_tail(3, 3, 0.5) == pytest.approx(1 / 8)
    assert stats.binomial_upper_tail(1, 1, 3 / 1003) == pytest.approx(3 / 1003)
    # P(X ≥ 2), X ~ B(4, 0.25) = 1 - 0.75^4 - 4·0.25·0.75^3 = 0.26171875
    assert stats.binomial_upper_tail(2, 4, 0.25) == pytest.approx(0.26171875)
    assert stats.binomial_upper_tail(0, 5, 0.3) == 1.0
    assert stats.binomial_upper_tail(6, 5, 0.3) == 0.0


def test_rate_test_small_counts_is_exact() -> None:
    # 0 of 3 requests failed before, 1 of 3 after: the one error fell after with chance 1/2.
    assert stats.rate_increase_p(0, 3, 1, 3) == pytest.approx(0.5)
    # 1 error before in 100 requests, 3 after in 100: P(X ≥ 3), X ~ B(4, 1/2) = 5/16.
    assert stats.rate_increase_p(1, 100, 3, 100) == pytest.approx(5 / 16)
    assert stats.rate_increase_p(3, 100, 0, 0) == 1.0


def test_rate_test_large_counts_follow_the_exact_tail() -> None:
    exact = stats.binomial_upper_tail(1100, 2100, 0.5)
    approx = stats.rate_increase_p(1000, 1e5, 1100, 1e5)  # 2100 errors: the normal approximation
    assert 2100 > stats.EXACT_LIMIT
    assert approx == pytest.approx(exact, rel=0.1)
    assert 0.01 < approx < 0.02


def test_two_proportion_z_by_hand() -> None:
    # 5/100 → 10/100: pooled 0.075, se = sqrt(0.075·0.925·0.02) = 0.037249, z = 1.3423
    z, p = stats.two_proportion_z(5, 100, 10, 100)
    assert z == pytest.approx(1.3423, abs=1e-3)
    assert p == pytest.approx(0.0897, abs=1e-3)
    # 2 % → 9 % at 40 req/s for 30 minutes each (72,000 requests): z = 0.07 / 0.0012016 = 58.26
    z, p = stats.two_proportion_z(1440, 72_000, 6480, 72_000)
    assert z == pytest.approx(58.26, abs=0.05)
    assert p < 1e-300 or p == 0.0
    assert stats.two_proportion_z(0, 0, 1, 3) == (0.0, 1.0)


def test_normal_tail_and_welch_by_hand() -> None:
    assert stats.normal_upper_tail(1.6448536) == pytest.approx(0.05, abs=1e-6)
    assert stats.normal_upper_tail(0.0) == pytest.approx(0.5)
    # means 2 and 5, variances 1 and 1: se = sqrt(1/3 + 1/3) = 0.8165, t = 3.674
    t, p = stats.welch([1, 2, 3], [4, 5, 6])
    assert t == pytest.approx(3.674, abs=1e-3)
    assert p == pytest.approx(stats.normal_upper_tail(3.674), rel=1e-3)
    assert stats.welch([1.0], [2.0, 3.0]) == (0.0, 1.0)
    assert stats.welch([1.0, 1.0], [2.0, 2.0])[1] == 0.0


def test_counts_from_series() -> None:
    rate = [(0, 10.0), (60, 10.0), (120, 20.0), (180, math.nan)]
    ratio = [(0, 0.1), (60, 0.0), (120, 0.5), (180, 0.5)]
    counted = stats.counts(rate, ratio, 0, 120, 60)
    assert counted == Counts(requests=1200.0, errors=60.0, points=2)
    assert counted.ratio == pytest.approx(0.05)
    later = stats.counts(rate, ratio, 120, 300, 60)  # the NaN point is left out
    assert later == Counts(requests=1200.0, errors=600.0, points=1)
    assert Counts(0, 0, 0).ratio is None


JUDGE = {"alpha": 0.001, "min_errors": 5, "min_increase": 0.01}


def test_one_error_in_three_requests_is_no_regression() -> None:
    verdict = stats.judge_errors(Counts(3, 0, 3), Counts(3, 1, 3), **JUDGE)
    assert not verdict.regressed
    assert verdict.after == pytest.approx(1 / 3)
    # Even against a long clean baseline, a single error proves nothing.
    verdict = stats.judge_errors(Counts(1000, 0, 60), Counts(3, 1, 3), **JUDGE)
    assert not verdict.regressed and "fewer than 5" in verdict.why


def test_two_to_nine_percent_at_forty_requests_a_second_is() -> None:
    verdict = stats.judge_errors(Counts(72_000, 1440, 30), Counts(72_000, 6480, 30), **JUDGE)
    assert verdict.regressed
    assert verdict.before == pytest.approx(0.02) and verdict.after == pytest.approx(0.09)
    assert verdict.p_value < 1e-12


def test_the_same_rise_on_little_traffic_is_not_significant() -> None:
    # 2 % → 9 % of 100 requests: 2 errors → 9 errors; P(X ≥ 9), X ~ B(11, 1/2) = 67/2048
    verdict = stats.judge_errors(Counts(100, 2, 10), Counts(100, 9, 10), **JUDGE)
    assert verdict.p_value == pytest.approx(67 / 2048)
    assert not verdict.regressed and "not significant" in verdict.why


def test_a_tiny_significant_rise_is_below_the_minimum() -> None:
    verdict = stats.judge_errors(Counts(1e7, 1e5, 60), Counts(1e7, 1.02e5, 60), **JUDGE)
    assert not verdict.regressed and "below the minimum" in verdict.why


def test_latency_judgement() -> None:
    before = [0.100, 0.102, 0.098, 0.101, 0.099, 0.100, 0.103, 0.097]
    steady = [0.101, 0.099, 0.100, 0.102, 0.098, 0.100]
    slower = [0.300, 0.310, 0.290, 0.305, 0.295, 0.300]
    assert not stats.judge_latency(before, steady, alpha=0.001, min_increase=0.25).regressed
    verdict = stats.judge_latency(before, slower, alpha=0.001, min_increase=0.25)
    assert verdict.regressed and verdict.after == pytest.approx(0.3, abs=0.01)
    few = stats.judge_latency(before, slower[:3], alpha=0.001, min_increase=0.25)
    assert not few.regressed and "fewer than 5 points" in few.why
