"""The statistics behind the advisor's judgements: pure functions on counts and series.

A regression after a deploy is judged on request and error *counts* (a rate of requests times the
step of its series), so the traffic volume decides how sure the judgement is: one error in three
requests proves nothing, 9 % of 40 requests a second for half an hour against 2 % before does.

- :func:`rate_increase_p`: the conditional (exact) test of two Poisson rates: given the errors of
  both periods, how likely as many fell in the second period if the error ratio had not changed.
  Exact (a binomial tail) for small counts, its normal approximation for large ones.
- :func:`two_proportion_z`: the pooled two-proportion z statistic, with its one-sided p-value.
- :func:`welch`: Welch's t statistic for two samples (the latency points before and after),
  with a one-sided p-value from the normal distribution (used with enough points on each side).
- :func:`counts`: a request-rate and an error-ratio series as request and error counts over a range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Counts",
    "Judgement",
    "binomial_upper_tail",
    "counts",
    "judge_errors",
    "judge_latency",
    "mean",
    "normal_upper_tail",
    "rate_increase_p",
    "two_proportion_z",
    "values_in",
    "welch",
]

#: Above this many errors in all, the binomial tail is taken from its normal approximation.
EXACT_LIMIT = 2000


def normal_upper_tail(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
             + i * log_p + (n - i) * log_q for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def rate_increase_p(errors_before: int, requests_before: float, errors_after: int,
                    requests_after: float) -> float:
    """One-sided p-value that the error rate per request rose after (conditional Poisson test).

    Under "no change", of the ``k`` errors of both periods each fell after with probability
    ``requests_after / (requests_before + requests_after)``; the p-value is the chance of at
    least ``errors_after`` of them doing so.
    """
    total = requests_before + requests_after
    if requests_after <= 0 or total <= 0:
        return 1.0
    k = errors_before + errors_after
    share = requests_after / total
    if k <= EXACT_LIMIT:
        return binomial_upper_tail(errors_after, k, share)
    sd = math.sqrt(k * share * (1 - share))
    if sd == 0:
        return 1.0
    return normal_upper_tail((errors_after - 0.5 - k * share) / sd)


def two_proportion_z(errors_before: float, requests_before: float, errors_after: float,
                     requests_after: float) -> tuple[float, float]:
    """The pooled two-proportion z statistic of "the error ratio after is higher", and its
    one-sided p-value. (0.0, 1.0) when either period has no requests."""
    if requests_before <= 0 or requests_after <= 0:
        return 0.0, 1.0
    p1, p2 = errors_before / requests_before, errors_after / requests_after
    pooled = (errors_before + errors_after) / (requests_before + requests_after)
    se = math.sqrt(pooled * (1 - pooled) * (1 / requests_before + 1 / requests_after))
    if se == 0:
        return 0.0, 1.0
    z = (p2 - p1) / se
    return z, normal_upper_tail(z)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def welch(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """Welch's t statistic of "the mean after is higher", and its one-sided p-value from the
    normal distribution. (0.0, 1.0) with fewer than two values on a side."""
    if len(before) < 2 or len(after) < 2:
        return 0.0, 1.0
    m1, m2 = mean(before), mean(after)
    v1 = sum((x - m1) ** 2 for x in before) / (len(before) - 1)
    v2 = sum((x - m2) ** 2 for x in after) / (len(after) - 1)
    se = math.sqrt(v1 / len(before) + v2 / len(after))
    if se == 0:
        return (math.inf, 0.0) if m2 > m1 else (0.0, 1.0)
    t = (m2 - m1) / se
    return t, normal_upper_tail(t)


@dataclass(frozen=True)
class Counts:
    """Requests and errors over a time range (``points``: how many series points made them)."""

    requests: float
    errors: float
    points: int

    @property
    def ratio(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


_finite = math.isfinite


def counts(rate: Sequence[tuple[float, float]], ratio: Sequence[tuple[float, float]],
           start: float, end: float, step: float) -> Counts:
    """Requests and errors in ``[start, end)`` from a request-rate series (req/s) and an
    error-ratio series of the same step: each point stands for ``step`` seconds."""
    ratios = {t: v for t, v in ratio if start <= t < end and _finite(v)}
    requests = errors = 0.0
    points = 0
    for t, r in rate:
        if not start <= t < end or not _finite(r) or r < 0:
            continue
        e = ratios.get(t)
        if e is None:
            continue
        n = r * step
        requests += n
        errors += n * min(max(e, 0.0), 1.0)
        points += 1
    return Counts(requests, errors, points)


def values_in(series: Sequence[tuple[float, float]], start: float, end: float) -> list[float]:
    """The finite values of a series' points in ``[start, end)``."""
    return [v for t, v in series if start <= t < end and _finite(v)]


@dataclass(frozen=True)
class Judgement:
    """The verdict of a test: ``regressed`` with the figures that decided it."""

    regressed: bool
    p_value: float
    before: float | None
    after: float | None
    why: str


def judge_errors(before: Counts, after: Counts, *, alpha: float, min_errors: int,
                 min_increase: float) -> Judgement:
    """Did the error ratio rise after? Only when the rise is significant at ``alpha`` (the exact
    rate test on the counts), there are at least ``min_errors`` errors after, and the ratio rose by
    at least ``min_increase`` (absolute)."""
    r1, r2 = before.ratio, after.ratio
    if r1 is None or r2 is None:
        return Judgement(False, 1.0, r1, r2, "no requests on one side")
    k1, k2 = round(before.errors), round(after.errors)
    p = rate_increase_p(k1, before.requests, k2, after.requests)
    if k2 < min_errors:
        return Judgement(False, p, r1, r2, f"{k2} errors after: fewer than {min_errors}")
    if r2 - r1 < min_increase:
        return Judgement(False, p, r1, r2, "the rise is below the minimum")
    if p >= alpha:
        return Judgement(False, p, r1, r2, f"not significant (p = {p:.2g})")
    return Judgement(True, p, r1, r2, f"conditional Poisson rate test, p = {p:.2g}")


def judge_latency(before: Sequence[float], after: Sequence[float], *, alpha: float,
                  min_increase: float, min_points: int = 5) -> Judgement:
    """Did the latency rise after? Welch's test on the series' points, significant at ``alpha``,
    with the mean at least ``min_increase`` (a share) above the baseline's."""
    m1 = mean(before) if before else None
    m2 = mean(after) if after else None
    if len(before) < min_points or len(after) < min_points or m1 is None or m2 is None:
        return Judgement(False, 1.0, m1, m2, f"fewer than {min_points} points on one side")
    _, p = welch(before, after)
    if m2 < m1 * (1 + min_increase):
        return Judgement(False, p, m1, m2, "the rise is below the minimum")
    if p >= alpha:
        return Judgement(False, p, m1, m2, f"not significant (p = {p:.2g})")
    return Judgement(True, p, m1, m2, f"Welch's test, p = {p:.2g}")
