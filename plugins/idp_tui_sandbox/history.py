"""The sandbox's delivery history: a year of deployments to staging and production for every
seeded service, with their commits, failures, rollbacks and incidents, plus the deploys and
rollbacks its actions ran.

Each team delivers in its own way (:data:`TEAM_PACE`): platform many times a day and rarely
fails, data about once a month and often fails, the others in between. Each day of each service
is drawn from its own seeded generator, so the history is the same on every machine. It is the
fleet's past: each deployment ships the newest release (``pipelines.py``: the versions the
fleet's release runs made, ``1.51.19``) that was built before it and none of the deployments
before it shipped (a deployment with no newer release to ship did not happen); the history of an
environment ends with the deployment the fleet was seeded with there (its version and time, as
the Environments pane shows it). It is generated on first use and stored in the sandbox's SQLite
file (``delivery_events``, ``delivery_incidents``); what happens afterwards is what the actions
did, read from the store's action records when asked, never copied. (Without the fleet's seeded
deployments, as in a benchmark, it is generated up to now and, later, the time since.)
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from idp_tui import (
    Commit,
    DeliveryEvent,
    DeliveryHistory,
    DeliveryKind,
    DeliveryOutcome,
    HistoryQuery,
    Incident,
)

from .world import ServiceSpec

if TYPE_CHECKING:
    from .pipelines import Pipelines

DAY = 86400.0
HOUR = 3600.0
#: Days of history generated before the first start (a 180-day window and the 180 before it).
HISTORY_DAYS = 366
#: The generator's version: a change to it generates the history again.
GENERATOR = "5"
#: A generated rollback ends at most this long after its deployment; a day is drawn again this
#: many days after it was first drawn (what it brought may end then).
_LONGEST_RESTORE = 9.5 * DAY
_REDRAW_DAYS = 10
#: How far before a deployment its release is looked for.
_RELEASE_HORIZON = 14 * DAY
#: The environments with a history (each production deployment follows one to staging).
ENVIRONMENTS = ("staging", "production")


@dataclass(frozen=True, slots=True)
class Pace:
    """How a team delivers: deployments to production a day, the share of them that fail, the
    typical age of a commit when it reaches production and the typical time to restore."""

    per_day: float
    failure_rate: float
    lead_hours: float
    restore_hours: float


#: Teams differ visibly: platform is elite, data is low, the others in between.
TEAM_PACE: dict[str, Pace] = {
    "platform": Pace(per_day=5.0, failure_rate=0.03, lead_hours=3.0, restore_hours=0.5),
    "checkout": Pace(per_day=1.5, failure_rate=0.08, lead_hours=20.0, restore_hours=3.0),
    "identity": Pace(per_day=0.5, failure_rate=0.10, lead_hours=60.0, restore_hours=8.0),
    "search": Pace(per_day=0.3, failure_rate=0.12, lead_hours=100.0, restore_hours=20.0),
    "payments": Pace(per_day=0.2, failure_rate=0.14, lead_hours=150.0, restore_hours=30.0),
    "data": Pace(per_day=1 / 30, failure_rate=0.40, lead_hours=24.0 * 40, restore_hours=24.0 * 9),
}
_DEFAULT_PACE = Pace(per_day=0.3, failure_rate=0.12, lead_hours=80.0, restore_hours=12.0)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_events (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    outcome TEXT NOT NULL,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    commits TEXT NOT NULL,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_events_by_time ON delivery_events (finished);
CREATE TABLE IF NOT EXISTS delivery_incidents (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    environment TEXT,
    started REAL NOT NULL,
    resolved REAL,
    title TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_incidents_by_time ON delivery_incidents (started);
"""

#: A generated row: id, service, environment, started, finished, outcome, kind, version,
#: commits (``sha@time`` joined by spaces), trigger, actor.
Row = tuple[str, str, str, float, float, str, str, str, str, str, str]
IncidentTuple = tuple[str, str, str | None, float, float | None, str]


def _poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, k, p = math.exp(-mean), 0, r.random()
    while p > limit:
        k += 1
        p *= r.random()
    return k


def generate_day(seed: int, spec: ServiceSpec, day: int, pace: float | None = None,
                 base_seed: int | None = None) -> tuple[list[Row], list[IncidentTuple]]:
    """The deployments (production, each after its staging one) and incidents of ``spec`` that
    day ``day`` (days since 1970, UTC) brought. The same on every call. ``pace`` is the service's
    deployments a day (default: :func:`service_pace`), ``base_seed`` its :func:`_base_seed`."""
    team_pace = TEAM_PACE.get(spec.team, _DEFAULT_PACE)
    per_day = service_pace(seed, spec) if pace is None else pace
    r = random.Random((_base_seed(seed, spec.name) if base_seed is None else base_seed) + day)
    count = _poisson(r, per_day)
    if not count:
        return [], []
    pace_ = team_pace
    rows: list[Row] = []
    incidents: list[IncidentTuple] = []
    base = day * DAY
    # Working hours, UTC: 07:00 to 19:00, sorted.
    times = sorted(base + 7 * HOUR + r.random() * 12 * HOUR for _ in range(count))
    name, actor = spec.name, f"team-{spec.team}"
    gauss, rand, bits, exp = r.gauss, r.random, r.getrandbits, math.exp
    lead_mu = math.log(pace_.lead_hours * HOUR)
    restore_mu = math.log(pace_.restore_hours * HOUR)
    failure_rate = pace_.failure_rate
    for k, finished in enumerate(times):
        key = f"{name}/{day}.{k}"
        version = ""  # the release it ships: History._shipped
        started = finished - 120.0 - rand() * 600.0
        commits = " ".join([f"{bits(40):010x}@{finished - exp(lead_mu + 0.6 * gauss()):.0f}"
                            for _ in range(1 + int(rand() * 4))])
        rows.append((f"{key}/s", name, "staging", started - HOUR, finished - HOUR, "succeeded",
                     "deploy", version, "", "pipeline", "ci"))
        roll = rand()
        restore = min(exp(restore_mu + 0.5 * gauss()), _LONGEST_RESTORE)
        if roll < failure_rate * 0.3:  # failed to roll out; the previous version still runs
            rows.append((f"{key}/p", name, "production", started, finished, "failed", "deploy",
                         version, commits, "pipeline", "ci"))
            rows.append((f"{key}/r", name, "production", finished + restore - 60.0,
                         finished + restore, "succeeded", "rollback", "", "", "manual", actor))
        elif roll < failure_rate * 0.7:  # broke something: rolled back
            rows.append((f"{key}/p", name, "production", started, finished, "rolled_back",
                         "deploy", version, commits, "pipeline", "ci"))
            rows.append((f"{key}/r", name, "production", finished + restore - 60.0,
                         finished + restore, "succeeded", "rollback", "", "", "manual", actor))
        else:
            rows.append((f"{key}/p", name, "production", started, finished, "succeeded", "deploy",
                         version, commits, "pipeline", "ci"))
            if roll < failure_rate:  # succeeded, then an alert fired: fixed forward
                began = finished + rand() * 6 * HOUR
                incidents.append((f"{key}/i", name, "production", began, began + restore,
                                  f"{name}: error ratio above its objective"))
    return rows, incidents


def service_pace(seed: int, spec: ServiceSpec) -> float:
    """A service's deployments to production a day: its team's, times its own factor in
    [0.6, 1.4)."""
    factor = random.Random(_base_seed(seed, spec.name) - 1).random()
    return TEAM_PACE.get(spec.team, _DEFAULT_PACE).per_day * (0.6 + 0.8 * factor)


def _base_seed(seed: int, name: str) -> int:
    """A service's integer seed; its day ``d`` is seeded with this plus ``d`` (seeding with an
    integer is cheaper than with a string)."""
    return int.from_bytes(blake2b(f"{seed}:history:{name}".encode(), digest_size=8).digest(),
                          "big") * 1_000_003


class History:
    """The generated history in the sandbox's database, and its queries."""

    def __init__(self, db: sqlite3.Connection, seed: int, specs: Iterable[ServiceSpec],
                 pipelines: Pipelines) -> None:
        self._db = db
        self._seed = seed
        self._specs = [spec for spec in specs if spec.created is None]  # seeded services only
        self._pipelines = pipelines
        self._seeded: dict[tuple[str, str], tuple[str, float]] = {}
        db.executescript(_SCHEMA)

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM delivery_meta"))

    def _fleet(self) -> dict[tuple[str, str], tuple[str, float]]:
        """(service, environment) → the version the fleet was seeded with there and since when
        (the store's first deployment record of each; none without the store's tables)."""
        try:
            rows = self._db.execute(
                "SELECT service, environment, version, deployed_at FROM deployment_history"
                " WHERE id IN (SELECT min(id) FROM deployment_history"
                " GROUP BY service, environment)").fetchall()
        except sqlite3.OperationalError:  # no fleet in this database
            return {}
        return {(service, env): (version, at) for service, env, version, at in rows
                if env in ENVIRONMENTS}

    def ensure(self, now: float) -> int:
        """Generate what is missing up to ``now`` (up to the fleet's seeded deployments);
        returns how many rows were added."""
        self._seeded = self._fleet()
        seeded = blake2b(repr(sorted(self._seeded.items())).encode(), digest_size=8).hexdigest()
        expected = {"seed": str(self._seed), "services": str(len(self._specs)),
                    "generator": GENERATOR, "fleet": seeded}
        meta = self._meta()
        if any(meta.get(k) != v for k, v in expected.items()):
            with self._db:
                self._db.execute("DELETE FROM delivery_events")
                self._db.execute("DELETE FROM delivery_incidents")
                self._db.execute("DELETE FROM delivery_meta")
                self._db.executemany("INSERT INTO delivery_meta VALUES (?, ?)", expected.items())
            since = now - HISTORY_DAYS * DAY
        else:
            since = float(meta.get("until", now))
        if self._seeded:  # nothing after the seeded deployments but what actions do
            now = min(now, max(at for _, at in self._seeded.values()) + 1.0)
        if since >= now:
            return 0
        rows, incidents = self._generate(since, now)
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO delivery_events VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany("INSERT OR IGNORE INTO delivery_incidents VALUES "
                                 "(?, ?, ?, ?, ?, ?)", incidents)
            self._db.execute("INSERT OR REPLACE INTO delivery_meta VALUES ('until', ?)",
                             (repr(now),))
        return len(rows)

    def _generate(self, since: float, until: float) -> tuple[list[Row], list[IncidentTuple]]:
        """Rows that finished (incidents that started) in ``[since, until)``. The days before
        ``since`` are drawn again: their rollbacks may end after it."""
        rows: list[Row] = []
        incidents: list[IncidentTuple] = []
        first, last = int(since // DAY) - _REDRAW_DAYS, int(until // DAY)
        for spec in self._specs:
            pace, base = service_pace(self._seed, spec), _base_seed(self._seed, spec.name)
            drawn: list[Row] = []
            drawn_incidents: list[IncidentTuple] = []
            for day in range(first, last + 1):
                day_rows, day_incidents = generate_day(self._seed, spec, day, pace, base)
                drawn += day_rows
                drawn_incidents += day_incidents
            day_rows, day_incidents = self._shipped(spec, drawn, drawn_incidents)
            rows.extend(row for row in day_rows if since <= row[4] < until)
            incidents.extend(i for i in day_incidents if since <= i[3] < until)
        return rows, incidents

    def _shipped(self, spec: ServiceSpec, rows: list[Row], incidents: list[IncidentTuple]
                 ) -> tuple[list[Row], list[IncidentTuple]]:
        """The drawn deployments (and their incidents) that happened, each with the release
        it shipped, oldest first, ending with the fleet's seeded deployments: a deployment
        ships the newest release built before it (before its staging deployment began) if
        no earlier deployment shipped it and it is older than the seeded one; a rollback
        returns to the version that ran before."""
        name, pipelines = spec.name, self._pipelines
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(row[0].rsplit("/", 1)[0], []).append(row)
        ends: dict[str, float] = {}
        tops: dict[str, float] = {}
        for env in ENVIRONMENTS:
            seeded = self._seeded.get((name, env))
            ends[env] = seeded[1] if seeded else math.inf
            run = pipelines.release_run(spec, seeded[0]) if seeded else None
            tops[env] = run.success_finish if run is not None else math.inf
        out: list[Row] = []
        kept: set[str] = set()
        newest = -math.inf  # when the release the last deployment shipped was built
        running = ""  # the version production runs (what a rollback returns to)
        for key, group in sorted(groups.items(), key=lambda kv: min(r[3] for r in kv[1])):
            deploy = next(r for r in group if r[6] == "deploy" and r[2] == "production")
            if deploy[4] >= ends["production"]:
                continue
            begun = min(r[3] for r in group)
            release = next(pipelines.releases(spec, begun, begun - _RELEASE_HORIZON), None)
            if release is None or release[1] <= newest or release[1] >= tops["production"]:
                continue  # nothing new to ship, or newer than what the fleet runs
            version, newest = release[0], release[1]
            for row in group:
                environment, kind = row[2], row[6]
                if row[4] >= ends[environment] or (environment == "staging"
                                                  and release[1] >= tops["staging"]):
                    continue
                shipped = running if kind == "rollback" else version
                out.append((*row[:7], shipped, *row[8:]))  # type: ignore[arg-type]
            kept.add(key)
            if deploy[5] == "succeeded":
                running = version
        r = random.Random(_base_seed(self._seed, name) - 2)
        lead = TEAM_PACE.get(spec.team, _DEFAULT_PACE).lead_hours * HOUR
        for env in ENVIRONMENTS:
            seeded = self._seeded.get((name, env))
            if seeded is None:
                continue
            version, at = seeded
            commits = " ".join(f"{r.getrandbits(40):010x}@{at - lead * r.uniform(0.3, 1.7):.0f}"
                               for _ in range(1 + r.randrange(3))) if env == "production" else ""
            begun = max(at - 300.0, min(tops[env], at))  # (not before its release was built)
            out.append((f"{name}/seeded/{env[0]}", name, env, begun, at, "succeeded",
                        "deploy", version, commits, "pipeline", "ci"))
        out.sort(key=lambda row: (row[4], row[0]))
        return out, [i for i in incidents if i[0].rsplit("/", 1)[0] in kept
                     and i[3] < ends["production"]]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM delivery_events").fetchone()[0])

    def span(self) -> tuple[float, float] | None:
        """When the oldest and newest stored deployments finished."""
        first, last = self._db.execute(
            "SELECT min(finished), max(finished) FROM delivery_events").fetchone()
        return (first, last) if first is not None else None

    def query(self, query: HistoryQuery, actions: Iterable[DeliveryEvent] = (), source: str = ""
              ) -> DeliveryHistory:
        """The stored history (and ``actions``' deliveries) that ``query`` asks for, as
        ``source``'s."""
        start, end = query.start.timestamp(), query.end.timestamp()
        where, args = ["finished >= ? AND finished < ?"], [start, end]
        if query.service is not None:
            where.append("service = ?")
            args.append(query.service)
        if query.environment is not None:
            where.append("environment = ?")
            args.append(query.environment)
        events = [_event(row, source) for row in self._db.execute(
            "SELECT id, service, environment, started, finished, outcome, kind, version, commits,"
            f" trigger, actor FROM delivery_events WHERE {' AND '.join(where)}"
            " ORDER BY finished, id", args)]
        events.extend(e for e in actions if _wanted(e, query))
        i_where, i_args = ["started >= ? AND started < ?"], [start, end]
        if query.service is not None:
            i_where.append("service = ?")
            i_args.append(query.service)
        if query.environment is not None:
            i_where.append("(environment IS NULL OR environment = ?)")
            i_args.append(query.environment)
        incidents = [Incident(id=id_, service=service, environment=environment,
                              started=_time(started),
                              resolved=_time(resolved) if resolved is not None else None,
                              title=title, source=source)
                     for id_, service, environment, started, resolved, title in self._db.execute(
                         "SELECT id, service, environment, started, resolved, title FROM"
                         f" delivery_incidents WHERE {' AND '.join(i_where)} ORDER BY started",
                         i_args)]
        return DeliveryHistory(deliveries=tuple(events), incidents=tuple(incidents), source=source)


def _wanted(event: DeliveryEvent, query: HistoryQuery) -> bool:
    finished = event.finished
    return (finished is not None and query.start <= finished < query.end
            and query.service in (None, event.service)
            and query.environment in (None, event.environment))


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _commits(text: str) -> tuple[Commit, ...]:
    if not text:
        return ()
    out = []
    for item in text.split():
        sha, _, at = item.partition("@")
        out.append(_built(Commit, _COMMIT_FIELDS, {"sha": sha, "at": _time(float(at))}))
    return tuple(out)


# The records are built from the sandbox's own rows, checked when they were written, without
# validating them again (a year of history is tens of thousands of records): what
# ``model_construct`` does with every field given, at a fraction of its cost (the records are
# plain frozen models; test_sandbox_history checks they equal validated ones).
_new_object = object.__new__
_set_dict, _set_fields, _set_extra, _set_private = (
    BaseModel.__dict__[name].__set__ for name in (
        "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))
_COMMIT_FIELDS = set(Commit.model_fields)  # (shared: a copy of a record copies it first)
_EVENT_FIELDS = set(DeliveryEvent.model_fields)
_OUTCOMES = {outcome.value: outcome for outcome in DeliveryOutcome}
_KINDS = {kind.value: kind for kind in DeliveryKind}


def _built(cls: type[BaseModel], fields: set[str], values: dict) -> Any:
    record = _new_object(cls)
    _set_dict(record, values)
    _set_fields(record, fields)
    _set_extra(record, None)
    _set_private(record, None)
    return record


def _event(row: tuple, source: str) -> DeliveryEvent:
    id_, service, environment, started, finished, outcome, kind, version, commits, trigger, \
        actor = row
    return _built(DeliveryEvent, _EVENT_FIELDS, {
        "service": service, "environment": environment, "started": _time(started),
        "finished": _time(finished), "outcome": _OUTCOMES[outcome], "kind": _KINDS[kind],
        "version": version, "commits": _commits(commits), "trigger": trigger, "actor": actor,
        "id": id_, "source": source})


def action_events(rows: Iterable[tuple], source: str = "") -> list[DeliveryEvent]:
    """Deliveries from the sandbox's finished deploy and rollback actions (``Store.
    delivery_actions``: id, kind, service, environment, state, started, finished, version)."""
    out = []
    for id_, kind, service, environment, state, started, finished, version in rows:
        if finished is None or state not in ("succeeded", "failed"):
            continue
        out.append(DeliveryEvent(
            id=f"action:{id_}", service=service, environment=environment,
            started=_time(started), finished=_time(max(finished, started)),
            outcome=DeliveryOutcome.SUCCEEDED if state == "succeeded" else DeliveryOutcome.FAILED,
            kind=DeliveryKind.ROLLBACK if kind == "rollback" else DeliveryKind.DEPLOY,
            version=version or "", trigger="idp-tui", source=source))
    return out
