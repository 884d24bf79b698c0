"""The median of sorted runs (insights.sortedruns): the same number as of the runs merged, by
each of its ways (merged, bisected over the values, bracketed by a sample, and the sample's
miss); and a rollup of many services, whose wider scopes use them, against each scope alone."""

from __future__ import annotations

import math
import random

import pytest

from idp_tui.insights import sortedruns
from idp_tui.insights.dora import (
    DAY,
    WEEK,
    Deploy,
    IncidentRow,
    analyse,
    four_keys,
    four_keys_by,
    rollup,
)


def merged_median(values: list[float]) -> float | None:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def test_medians_by_hand() -> None:
    assert sortedruns.median([]) is None
    assert sortedruns.median([[]]) is None
    assert sortedruns.median([[1.0, 2.0, 7.0]]) == 2.0
    assert sortedruns.median([[1.0, 9.0], [2.0, 3.0]]) == 2.5  # 1 2 3 9
    assert sortedruns.median([[5.0], [], [1.0, 2.0]]) == 2.0  # 1 2 5
    assert sortedruns.median([[2.0, 2.0], [2.0, 4.0]]) == 2.0  # the middle two: the same value
    assert sortedruns.kth([[-3.0, 0.0], [-0.5, 8.0]], 1) == -0.5


def test_short_runs_are_merged_and_empty_ones_dropped() -> None:
    assert sortedruns.runs_of([[3.0], [], [1.0, 2.0]]) == [[1.0, 2.0, 3.0]]
    long = [[float(i) for i in range(100)], [float(i) for i in range(100)]]
    assert sortedruns.runs_of([*long, []]) == long


@pytest.mark.parametrize(("sort_up_to", "bisect_up_to", "sample"), [
    (10**9, 100, 16_384),  # merged
    (0, 10**9, 16_384),    # bisected over the values
    (0, 0, 64),            # bracketed by a sample (some misses: bisected)
    (0, 0, 8),             # a sample that misses often
])
def test_every_way_gives_the_merged_median(monkeypatch: pytest.MonkeyPatch, sort_up_to: int,
                                           bisect_up_to: int, sample: int) -> None:
    monkeypatch.setattr(sortedruns, "SORT_UP_TO", sort_up_to)
    monkeypatch.setattr(sortedruns, "BISECT_UP_TO", bisect_up_to)
    monkeypatch.setattr(sortedruns, "SAMPLE", sample)
    r = random.Random(11)
    for _ in range(400):
        runs = []
        for _ in range(r.randint(1, 9)):
            kind = r.random()
            if kind < 0.3:  # many equal values
                run = [float(r.randint(-2, 2)) for _ in range(r.randint(0, 30))]
            elif kind < 0.5:  # both zeros, the smallest and very large doubles
                run = [r.choice([0.0, -0.0, 5e-324, 1e-300, 1.5, 1e300])
                       for _ in range(r.randint(0, 10))]
            else:
                run = [r.uniform(-1e7, 1e7) for _ in range(r.randint(0, 300))]
            runs.append(sorted(run))
        values = [v for run in runs for v in run]
        assert sortedruns.median(runs) == merged_median(values)
        assert sortedruns.median(sortedruns.runs_of(runs)) == merged_median(values)


def test_a_rollup_of_many_services_counts_like_each_scope_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Teams and the organisation merge their services' weeks and lead times as sorted runs
    (found by a sample here: small limits): the same numbers, weeks and evidence as each scope
    counted on its own, also for deployments exactly at the weeks' bounds."""
    monkeypatch.setattr(sortedruns, "SORT_UP_TO", 50)
    monkeypatch.setattr(sortedruns, "BISECT_UP_TO", 3)
    monkeypatch.setattr(sortedruns, "SAMPLE", 32)
    r = random.Random(5)
    end = 1_000 * DAY + 1234.25
    rows, incidents = [], []
    for s in range(40):
        service = f"s{s:02d}"
        for k in range(r.randint(0, 60)):
            # At a week's bound (each service its own: the evidence of deployments at the
            # same instant is in no set order across services), or anywhen.
            at = end - (s * WEEK if r.random() < 0.2 else r.random() * 380 * DAY)
            outcome = r.choice(["succeeded"] * 6 + ["failed", "rolled_back"])
            rows.append(Deploy(f"{service}/{k}", service, r.choice(["production", "prod-eu"]),
                               at, outcome, "rollback" if r.random() < 0.1 else "deploy",
                               tuple(at - r.random() * 9 * DAY for _ in range(r.randint(0, 3)))))
        if r.random() < 0.5:
            started = end - r.random() * 380 * DAY
            incidents.append(IncidentRow(service, None, started, started + 3600, f"I-{s}"))
    facts = analyse(rows, incidents)
    owners = {f"s{s:02d}": f"team-{s % 4}" for s in range(36)}  # four in no team
    for days in (7, 30, 90, 180):
        counted = rollup(facts, owners.get, end=end, days=days)
        assert counted.organisation == four_keys(facts, end=end, days=days, name="organisation")
        assert counted.teams == four_keys_by(facts, owners.get, end=end, days=days,
                                             scope="team")
        assert counted.services == four_keys_by(facts, str, end=end, days=days,
                                                scope="service")
        assert rollup(facts, owners.get, end=end, days=days, services=False).teams \
            == counted.teams
        # Each week's deployments, counted here: week ceil((at - first) / WEEK) - 1, (from, to].
        weeks = max(1, round(days / 7))
        first = end - weeks * WEEK
        expected = [0] * weeks
        for fact in facts:
            if fact.reached and end - days * DAY < fact.at <= end:
                week = math.ceil((fact.at - first) / WEEK) - 1
                if week >= 0:
                    expected[min(week, weeks - 1)] += 1
        assert [w.deployments for w in counted.organisation.weekly] == expected
