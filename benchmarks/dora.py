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
* ``every service``: ``rollup`` with the 10,000 services (each with its weekly series, the
  teams and the organisation merged from them) against ``GROUP BY service``. Goal: within 3×.
* ``sandbox history``: generating the sandbox's year of history for 40 services (for information).
* ``Insights first frame``: an idp-tui dashboard over a source that answers from memory (a
  catalog, a production environment, and the delivery history of ``--frame-services`` services
  over twice the longest window), from the app's start to the first frame of the Insights pane
  with its figures (the four keys of the organisation, the teams and the services, and every
  service's scorecard). Baseline, in the same run: a plain Textual app that counts the same rows
  the same way (``analyse`` and ``rollup``, in a thread) and draws the same rows in a DataTable.
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


# The Insights pane's first frame --------------------------------------------------------------------

def memory_source(deploys: list[Deploy], incidents: list[IncidentRow],
                  owners: dict[str, str]) -> Any:
    """A source class that answers the catalog, one production environment and the delivery
    history of the rows from memory (the records built once, as a source's cache would)."""
    from datetime import UTC, datetime

    from idp_tui import (
        Capability,
        Commit,
        DeliveryEvent,
        DeliveryHistory,
        DeliveryKind,
        DeliveryOutcome,
        Environment,
        EnvironmentType,
        HistoryQuery,
        Incident,
        Source,
        SourceConfig,
    )

    def at(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    events = [DeliveryEvent.model_construct(
        service=d.service, environment=d.environment, started=at(d.at - 300), finished=at(d.at),
        outcome=DeliveryOutcome(d.outcome), kind=DeliveryKind(d.kind), version="",
        commits=tuple(Commit.model_construct(sha=f"{i:040x}", at=at(c))
                      for i, c in enumerate(d.commits)), trigger="pipeline", actor="ci",
        id=d.id, source="memory") for d in deploys]
    events.sort(key=lambda e: e.finished)
    finished = [e.finished.timestamp() for e in events]  # type: ignore[union-attr]
    told = [Incident.model_construct(service=i.service, environment=i.environment,
                                     started=at(i.started), resolved=at(i.resolved or i.started),
                                     title="", id=f"i{k}", source="memory")
            for k, i in enumerate(incidents)]
    catalog = [Service(name=name, owner=owner, tier=1 + index % 3,
                       description=f"{name} of {owner}")
               for index, (name, owner) in enumerate(owners.items())]

    class MemorySource(Source):
        Config = SourceConfig
        capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS,
                                  Capability.DELIVERY})

        async def services(self) -> list[Service]:
            return catalog

        async def environments(self) -> list[Environment]:
            return [Environment(name="production", type=EnvironmentType.PRODUCTION)]

        async def deployments(self) -> list[Any]:
            return []

        async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
            import bisect

            lo = bisect.bisect_left(finished, query.start.timestamp())
            hi = bisect.bisect_left(finished, query.end.timestamp())
            return DeliveryHistory.model_construct(deliveries=tuple(events[lo:hi]),
                                                   incidents=tuple(told), source="memory")

    return MemorySource


async def insights_first_frame(source: Any, data: Path) -> float:
    """Seconds from the dashboard's start to the first frame of the Insights pane with its
    figures drawn."""
    from idp_tui import ManualClock
    from idp_tui.config import AppConfig, SourceSpec
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.panes.insights import InsightsPane
    from idp_tui.ui.tables import KeyedTable
    from datetime import UTC, datetime

    from _common import PaintProbe, running

    spec = SourceSpec(name="memory", type="memory", cls=source, config=source.Config(),
                      timeout=120)
    started = time.perf_counter()
    app = IdpApp(AppConfig(path=None, sources=[spec]), data_dir=data,
                 clock=ManualClock(datetime.fromtimestamp(END, UTC)))
    probe = PaintProbe(app)
    async with running(app) as pilot:
        await pilot.pause()
        app.show_pane("insights")

        def drawn() -> bool:
            try:
                pane = app.query_one(InsightsPane)
                table = pane.query_one("#insights-keys", KeyedTable)
            except Exception:  # noqa: BLE001 - not mounted yet
                return False
            return pane.insights is not None and table.row_count > 1

        end = await probe.wait(drawn, timeout=600)
    return end - started


async def baseline_first_frame(deploys: list[Deploy], incidents: list[IncidentRow],
                               owners: dict[str, str]) -> float:
    """The same count and rows in a plain Textual app: start to the first frame with them."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from _common import PaintProbe, running

    class Baseline(App[None]):
        counted = False

        def compose(self) -> ComposeResult:
            yield DataTable()

        async def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Scope", *KEY_NAMES, "Level")

            def count() -> Any:
                facts = analyse(deploys, incidents)
                return rollup(facts, owners.get, end=END, days=30)

            counted = await asyncio.to_thread(count)
            for keys in (counted.organisation, *counted.teams.values(),
                         *counted.services.values()):
                table.add_row(keys.name, *(str(v.value) for v in keys.keys.values()),
                              str(keys.level))
            self.counted = True

    started = time.perf_counter()
    app = Baseline()
    # The probe is on before the app starts: its count may be drawn before run_test hands over.
    probe = PaintProbe(app)
    waiter = asyncio.ensure_future(probe.wait(lambda: app.counted, timeout=600))
    async with running(app):
        end = await waiter
    return end - started


KEY_NAMES = ("Deploys", "Lead time", "Failure rate", "Restore")


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
    parser.add_argument("--frame-services", type=int, default=1000,
                        help="services of the Insights pane's first frame (0: not measured)")
    parser.add_argument("--only-frame", action="store_true",
                        help="measure the Insights pane's first frame only")
    args = parser.parse_args()
    if args.only_frame:
        emit(first_frame(args))
        return
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
          f"{base_all:.2f} s; ratio {ours_all / base_all:.1f}× (goal: within 3×)")
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
        measure(f"dora: organisation and teams, {in_window:,} deployments", ours, "s",
                baseline=base,
                baseline_name="SQLite GROUP BY team and total", ratio=ours / base,
                goal="≤ 3× baseline", passed=ours / base <= 3),
        measure(f"dora and scorecards: organisation, teams, {len(cards):,} scorecards",
                ours_cards, "s",
                baseline=base_cards, baseline_name="SQLite GROUP BY team, total and service",
                ratio=ours_cards / base_cards, goal="≤ 3× baseline",
                passed=ours_cards / base_cards <= 3),
        measure("dora: analysis of every row", analysed, "s", baseline=loaded,
                baseline_name="SQLite load and index", ratio=analysed / loaded),
        measure("dora: every service", ours_all, "s", baseline=base_all,
                baseline_name="SQLite GROUP BY service", ratio=ours_all / base_all,
                goal="≤ 3× baseline", passed=ours_all / base_all <= 3),
        measure("sandbox history: 40 services, a year", generated, "s"),
        *(first_frame(args) if args.frame_services else []),
    ])


def first_frame(args: Any) -> list[dict[str, Any]]:
    """The Insights pane's first frame against the baseline app's, one after the other."""
    import asyncio

    deploys, incidents, owners = history(args.frame_services, 2 * 180)
    source = memory_source(deploys, incidents, owners)
    with tempfile.TemporaryDirectory() as folder:
        ours = asyncio.run(insights_first_frame(source, Path(folder)))
    base = asyncio.run(baseline_first_frame(deploys, incidents, owners))
    print(f"Insights pane's first frame, {args.frame_services:,} services ({len(deploys):,} "
          f"rows): {ours:.2f} s; a plain Textual app counting and drawing the same: "
          f"{base:.2f} s; ratio {ours / base:.1f}×")
    return [measure(f"Insights first frame: {args.frame_services:,} services", ours, "s",
                    baseline=base, baseline_name="plain App: the same count in a DataTable",
                    ratio=ours / base)]


if __name__ == "__main__":
    main()
