"""DORA's four keys over 10,000 services and 180 days (about a million deployments to production).

Run: python benchmarks/dora.py [--services 10000] [--days 180] [--repeat 3]

The history is synthetic and seeded: each service deploys at its team's pace (six teams, from
several times a day to monthly), some deployments fail or are rolled back (a rollback follows),
some are followed by an incident; each brings one to three commits.

Measures (best of ``--repeat``):

* ``organisation and teams``: ``idp_tui.insights.dora.rollup`` — the four keys of the
  organisation and of every team over the 180 days from the analysed rows (each service tallied,
  teams and the organisation merged from them; the previous 180 days for the trend, the weekly
  series, the evidence). Baseline: a plain SQLite ``GROUP BY team`` plus the organisation's total
  over the same rows in an in-memory database, indexed by time (count, failures, average lead time),
  run in the same process. Goal: within 3×.
* ``analysis``: ``analyse`` of every row (failures, incidents, lead times, restores), once per
  refresh of the history, against loading the same rows into SQLite and indexing them (the
  baseline's own preparation, which the query above does not pay either).
* ``every service``: ``rollup`` with the 10,000 services against ``GROUP BY service``.
* ``sandbox history``: generating the sandbox's year of history for 40 services (for information).
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import ROOT, emit, measure

from idp_tui import Service
from idp_tui.insights.facts import World as Facts
from idp_tui.insights.rules import load_rules
from idp_tui.insights.scorecards import score
from idp_tui.insights.dora import (
    DAY,
    HOUR,
    Deploy,
    IncidentRow,
    analyse,
    rollup,
)

#: Deployments a day per service, share failing, typical lead time (hours), by team.
TEAMS = {"platform": (2.0, 0.03, 3), "checkout": (1.0, 0.08, 20), "identity": (0.4, 0.10, 60),
         "search": (0.3, 0.12, 100), "payments": (0.2, 0.14, 150), "data": (0.04, 0.4, 900)}
END = 1_800_000_000.0


def history(services: int, days: int, seed: int = 7
            ) -> tuple[list[Deploy], list[IncidentRow], dict[str, str]]:
    r = random.Random(seed)
    names = list(TEAMS)
    deploys: list[Deploy] = []
    incidents: list[IncidentRow] = []
    owners: dict[str, str] = {}
    span = 2 * days * DAY  # the window and the one before it
    for index in range(services):
        team = names[index % len(names)]
        per_day, failure, lead_hours = TEAMS[team]
        service = f"svc-{index:05d}"
        owners[service] = f"team-{team}"
        count = int(per_day * 2 * days * r.uniform(0.5, 1.5)) + 1
        for k, at in enumerate(sorted(END - span + r.random() * span for _ in range(count))):
            roll = r.random()
            commits = tuple(at - r.expovariate(1 / (lead_hours * HOUR))
                            for _ in range(1 + int(r.random() * 3)))
            outcome = "failed" if roll < failure * 0.3 else "rolled_back" if roll < failure * 0.7 \
                else "succeeded"
            deploys.append(Deploy(f"{service}/{k}", service, "production", at, outcome, "deploy",
                                  commits))
            if outcome != "succeeded":
                deploys.append(Deploy(f"{service}/{k}/r", service, "production",
                                      at + r.expovariate(1 / (2 * HOUR)), "succeeded", "rollback"))
            elif roll < failure:
                incidents.append(IncidentRow(service, "production", at + HOUR, at + 3 * HOUR))
    return deploys, incidents, owners


def sqlite_baseline(deploys: list[Deploy], owners: dict[str, str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE deploys (id TEXT, service TEXT, team TEXT, environment TEXT,"
               " at REAL, outcome TEXT, kind TEXT, lead REAL)")
    db.executemany("INSERT INTO deploys VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
        (d.id, d.service, owners[d.service], d.environment, d.at, d.outcome, d.kind,
         sum(d.at - c for c in d.commits) / len(d.commits) if d.commits else None)
        for d in deploys))
    db.execute("CREATE INDEX deploys_at ON deploys (at)")
    db.commit()
    return db


TOTAL = ("SELECT 'organisation', count(*), sum(outcome != 'succeeded'), avg(lead) FROM deploys"
         " WHERE kind = 'deploy' AND at > ? AND at <= ?")
GROUP_BY = ("SELECT {column}, count(*), sum(outcome != 'succeeded'), avg(lead) FROM deploys"
            " WHERE kind = 'deploy' AND at > ? AND at <= ? GROUP BY {column}")


def best(repeat: int, fn: Any) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    gc.disable()  # millions of records without cycles: made without the collector walking them
    deploys, incidents, owners = history(args.services, args.days)
    gc.enable()
    in_window = sum(1 for d in deploys if d.at > END - args.days * DAY and d.kind == "deploy")
    print(f"{len(deploys):,} rows ({in_window:,} deployments in the last {args.days} days), "
          f"{len(incidents):,} incidents, {args.services:,} services: made in "
          f"{time.perf_counter() - started:.1f} s")
    loaded, db = best(1, lambda: sqlite_baseline(deploys, owners))
    analysed, facts = best(1, lambda: analyse(deploys, incidents))
    teams: dict[str, set[str]] = defaultdict(set)
    for service, owner in owners.items():
        teams[owner].add(service)

    services = [Service(name=name, owner=owner, tier=1 + index % 3,
                        description=f"{name} of {owner}")
                for index, (name, owner) in enumerate(owners.items())]
    rules = load_rules()

    def organisation_and_teams() -> list[Any]:
        counted = rollup(facts, owners.get, end=END, days=args.days, services=False)
        return [counted.organisation, *counted.teams.values()]

    def keys_and_scorecards() -> tuple[list[Any], list[Any]]:
        world = Facts(services, now=END, delivery=facts, production=["production"])
        return organisation_and_teams(), score(rules, world)

    def every_service() -> int:
        return len(rollup(facts, owners.get, end=END, days=args.days).services)

    start = END - args.days * DAY

    def group_by_team() -> list[Any]:
        rows = db.execute(GROUP_BY.format(column="team"), (start, END)).fetchall()
        total = db.execute(TOTAL, (start, END)).fetchall()
        return rows + total

    def group_by_team_and_service() -> list[Any]:
        return group_by_team() + db.execute(GROUP_BY.format(column="service"),
                                            (start, END)).fetchall()

    ours, results = best(args.repeat, organisation_and_teams)
    base, rows = best(args.repeat, group_by_team)
    ours_cards, (_, cards) = best(args.repeat, keys_and_scorecards)
    base_cards, _ = best(args.repeat, group_by_team_and_service)
    ours_all, _ = best(max(1, args.repeat - 1), every_service)
    base_all, _ = best(args.repeat, lambda: db.execute(
        GROUP_BY.format(column="service"), (start, END)).fetchall())
    org = results[0]
    print(f"organisation: {org.level}, "
          + ", ".join(f"{k} {v.value:.4g}" for k, v in org.keys.items() if v.value is not None))
    print(f"analysis of every row: {analysed:.2f} s; SQLite load and index: {loaded:.2f} s; "
          f"ratio {analysed / loaded:.1f}×")
    print(f"organisation and {len(teams)} teams: {ours:.2f} s; SQLite GROUP BY team and total: "
          f"{base:.2f} s; ratio {ours / base:.1f}× (goal: within 3×)")
    print(f"organisation and teams with every service's scorecard ({len(rules)} rules, "
          f"{len(cards):,} cards): {ours_cards:.2f} s; SQLite GROUP BY team, total and service: "
          f"{base_cards:.2f} s; ratio {ours_cards / base_cards:.1f}× (goal: within 3×)")
    print(f"every service ({args.services:,}): {ours_all:.2f} s; SQLite GROUP BY service: "
          f"{base_all:.2f} s; ratio {ours_all / base_all:.1f}×")
    # The same deployments counted on both sides.
    assert rows[-1][1] == len(org.keys["change_failure_rate"].evidence)

    # The sandbox's own history, generated for 40 services (a year).
    sys.path.insert(0, str(ROOT / "plugins"))
    from idp_tui_sandbox.history import History  # noqa: PLC0415
    from idp_tui_sandbox.pipelines import Pipelines  # noqa: PLC0415
    from idp_tui_sandbox.world import World  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        sandbox_db = sqlite3.connect(str(Path(folder) / "history.sqlite3"))
        world = World(7, 40)
        generated, added = best(1, lambda: History(sandbox_db, 7, world.seeded,
                                                   Pipelines(world)).ensure(END))
        sandbox_db.close()
    print(f"sandbox: a year of history for 40 services ({added:,} rows) generated and stored "
          f"in {generated:.2f} s")
    emit([
        measure("dora: organisation and teams, 1M deployments", ours, "s", baseline=base,
                baseline_name="SQLite GROUP BY team and total", ratio=ours / base,
                goal="≤ 3× baseline", passed=ours / base <= 3),
        measure("dora and scorecards: organisation, teams, 10,000 scorecards", ours_cards, "s",
                baseline=base_cards, baseline_name="SQLite GROUP BY team, total and service",
                ratio=ours_cards / base_cards, goal="≤ 3× baseline",
                passed=ours_cards / base_cards <= 3),
        measure("dora: analysis of every row", analysed, "s", baseline=loaded,
                baseline_name="SQLite load and index", ratio=analysed / loaded),
        measure("dora: every service", ours_all, "s", baseline=base_all,
                baseline_name="SQLite GROUP BY service", ratio=ours_all / base_all),
        measure("sandbox history: 40 services, a year", generated, "s"),
    ])


if __name__ == "__main__":
    main()
