"""DORA's four keys from delivery history: deployment frequency, lead time for changes, change
failure rate and time to restore, with their performance level, the trend against the previous
period, a weekly series and, for every number, the deployments it counted.

Pure and Textual-free. The input is the production part of the history as :class:`Deploy` and
:class:`IncidentRow` rows (:func:`rows_from_history` makes them from the plugin API's records and
the names of the production environments); :func:`analyse` derives once what each deployment
says (did it reach production, did it fail and why, its commits' lead times, how long until
service was restored), and :func:`four_keys` counts those facts for one scope and window.

Definitions (docs: README, "Insights (DORA)"):

- **Deployment frequency**: deployments (not rollbacks) that reached production — succeeded or
  later rolled back — per day of the window.
- **Lead time for changes**: the median, over every commit those deployments brought, of the time
  from the commit to the deployment's end.
- **Change failure rate**: of the deployments to production (failed ones too), the share that
  failed, were rolled back, or were followed within :data:`INCIDENT_WINDOW` by an incident of the
  service (the incident is put on the newest deployment before it).
- **Time to restore**: the median, over those failures, of the time from the failure (the
  deployment's end, or the incident's start) to the next good deployment or rollback of the same
  service in the same environment. A failure not yet restored is counted as such, not timed.
"""

from __future__ import annotations

import bisect
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from . import sortedruns
from .levels import OrderedLevel
from .tally import Tally as _Tally
from .tally import merge as _merge
from .tally import tally as _tally
from .tally import window_tally as _window_tally
from .timeunits import DAY, HOUR, MONTH, WEEK

if TYPE_CHECKING:
    from ..api.delivery import DeliveryHistory


#: The windows offered, in days.
WINDOWS = (7, 30, 90, 180)
#: An incident this soon after a deployment to production makes it a failed change.
INCIDENT_WINDOW = DAY

DEPLOYMENT_FREQUENCY = "deployment_frequency"
LEAD_TIME = "lead_time"
CHANGE_FAILURE_RATE = "change_failure_rate"
TIME_TO_RESTORE = "time_to_restore"
KEYS = (DEPLOYMENT_FREQUENCY, LEAD_TIME, CHANGE_FAILURE_RATE, TIME_TO_RESTORE)
#: Each key's unit: deployments per day, seconds, a ratio, seconds.
UNITS = {DEPLOYMENT_FREQUENCY: "per day", LEAD_TIME: "s", CHANGE_FAILURE_RATE: "ratio",
         TIME_TO_RESTORE: "s"}


class Level(OrderedLevel):
    """DORA's software delivery performance clusters, best first."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"




@dataclass(frozen=True, slots=True)
class Bound:
    """A value is at ``level`` when it is within ``limit`` (and no better level holds)."""

    level: Level
    limit: float
    #: The limit itself is within (``≤``/``≥``), else only values strictly better are.
    inclusive: bool


#: The thresholds of the four keys: the performance clusters of Google Cloud's *Accelerate State
#: of DevOps Report 2023* (DORA; https://dora.dev/research/2023/dora-report/, "Software delivery
#: performance" table). The one place they are written down; a value worse than every bound is
#: low.
#:
#: - deployment frequency: elite on demand (at least daily), high between once a day and once a
#:   week, medium between once a week and once a month (deployments per day, at least);
#: - lead time for changes: elite less than a day, high a day to a week, medium a week to a month;
#: - change failure rate: elite 5 %, high 10 %, medium 15 % (low: 64 %);
#: - failed deployment recovery time: elite less than an hour, high less than a day, medium a day
#:   to a week.
THRESHOLDS: dict[str, tuple[Bound, ...]] = {
    DEPLOYMENT_FREQUENCY: (Bound(Level.ELITE, 1.0, True), Bound(Level.HIGH, 1 / 7, True),
                           Bound(Level.MEDIUM, 1 / 30, True)),
    LEAD_TIME: (Bound(Level.ELITE, DAY, False), Bound(Level.HIGH, WEEK, True),
                Bound(Level.MEDIUM, MONTH, True)),
    CHANGE_FAILURE_RATE: (Bound(Level.ELITE, 0.05, True), Bound(Level.HIGH, 0.10, True),
                          Bound(Level.MEDIUM, 0.15, True)),
    TIME_TO_RESTORE: (Bound(Level.ELITE, HOUR, False), Bound(Level.HIGH, DAY, False),
                      Bound(Level.MEDIUM, WEEK, True)),
}
#: Keys where more is better (the others: less is better).
HIGHER_IS_BETTER = frozenset({DEPLOYMENT_FREQUENCY})


def level_of(key: str, value: float | None) -> Level | None:
    """The performance level of ``value`` for ``key`` (None for no value)."""
    if value is None:
        return None
    higher = key in HIGHER_IS_BETTER
    for bound in THRESHOLDS[key]:
        if value == bound.limit:
            if bound.inclusive:
                return bound.level
        elif (value > bound.limit) == higher:
            return bound.level
    return Level.LOW


# Rows ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Deploy:
    """A finished deployment to a production environment (times in Unix seconds)."""

    id: str
    service: str
    environment: str
    #: When it finished.
    at: float
    #: ``succeeded``, ``failed`` or ``rolled_back``.
    outcome: str = "succeeded"
    #: ``deploy`` or ``rollback``.
    kind: str = "deploy"
    #: When each of its commits was made.
    commits: tuple[float, ...] = ()
    version: str = ""


@dataclass(frozen=True, slots=True)
class IncidentRow:
    service: str
    environment: str | None
    started: float
    resolved: float | None = None
    id: str = ""


def rows_from_history(history: DeliveryHistory, production: Iterable[str] | None
                      ) -> tuple[list[Deploy], list[IncidentRow]]:
    """The finished deployments to the ``production`` environments and the incidents (of those
    environments, or of no named one) as rows (``production`` None: of every environment)."""
    prod: Any = set(production) if production is not None else _Everything()
    deploys: list[Deploy] = []
    append, make = deploys.append, _deploy
    for e in history.deliveries:  # (one pass, each time read once: a year is many records)
        finished, environment = e.finished, e.environment
        if finished is None or environment not in prod:
            continue
        at = finished.timestamp()
        commits = e.commits
        append(make(f"{e.source}:{e.id}" if e.id else f"{e.source}:{e.service}:"
                    f"{environment}:{at:.0f}", e.service, environment, at, e.outcome._value_,
                    e.kind._value_, tuple(map(_timestamp, map(_commit_at, commits)))
                    if commits else (), e.version))
    incidents = [IncidentRow(i.service, i.environment, i.started.timestamp(),
                             i.resolved.timestamp() if i.resolved else None, i.id)
                 for i in history.incidents if i.environment is None or i.environment in prod]
    return deploys, incidents


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


_timestamp = datetime.timestamp
_commit_at = attrgetter("at")
_ID, _SERVICE, _ENVIRONMENT, _AT, _OUTCOME, _KIND, _COMMITS, _VERSION = (
    Deploy.__dict__[name].__set__ for name in Deploy.__slots__)


def _deploy(id_: str, service: str, environment: str, at: float, outcome: str, kind: str,
            commits: tuple[float, ...], version: str, _new: Any = object.__new__) -> Deploy:
    """``Deploy(...)`` with its slots set directly, without the frozen dataclass's check of each
    field (a year of history is many rows)."""
    row = _new(Deploy)
    _ID(row, id_), _SERVICE(row, service), _ENVIRONMENT(row, environment), _AT(row, at)
    _OUTCOME(row, outcome), _KIND(row, kind), _COMMITS(row, commits), _VERSION(row, version)
    return row


# Facts --------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Fact:
    """What one deployment says for the four keys."""

    deploy: Deploy
    #: A deployment (not a rollback) that reached production.
    reached: bool
    #: When it finished (``deploy.at``).
    at: float
    #: Why it counts as a failed change (None: it does not).
    failure: str | None = None
    #: When it failed (its end, or the incident's start).
    failed_at: float | None = None
    #: Seconds from the failure to the next good deployment or rollback (None: not restored).
    restore: float | None = None
    restored_by: str | None = None
    #: Seconds from each commit to the deployment's end (none for one that failed).
    leads: tuple[float, ...] = ()


_REASONS = {"failed": "failed", "rolled_back": "rolled back"}


def analyse(deploys: Sequence[Deploy], incidents: Sequence[IncidentRow] = (), *,
            incident_window: float = INCIDENT_WINDOW) -> Facts:
    """Each deployment's facts, oldest first. One pass over the rows of each target (service and
    environment) in time order."""
    with _without_cyclic_gc():
        return _analyse(deploys, incidents, incident_window)


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Millions of records without cycles: the cyclic collector would walk them again and again
    while they are made (it runs as before afterwards)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class Facts(list[Fact]):
    """:func:`analyse`'s facts, oldest first, with each service's own (``by_service``, oldest
    first): a service's or a group's window is found without a pass over every fact."""

    __slots__ = ("by_service",)

    def __init__(self, facts: Iterable[Fact] = (),
                 by_service: dict[str, list[Fact]] | None = None) -> None:
        super().__init__(facts)
        self.by_service: dict[str, list[Fact]] = by_service if by_service is not None else {}


def _analyse(deploys: Sequence[Deploy], incidents: Sequence[IncidentRow],
             incident_window: float) -> Facts:
    by_target: dict[tuple[str, str], list[Deploy]] = defaultdict(list)
    for d in deploys:
        by_target[(d.service, d.environment)].append(d)
    facts = Facts()
    by_service = facts.by_service
    goods: dict[tuple[str, str], tuple[list[float], list[Deploy]]] = {}
    for target, rows in by_target.items():
        rows.sort(key=_at)
        mine: list[Fact] = []
        append = mine.append
        pending: list[Fact] = []  # failed, waiting for a good deployment or a rollback
        good_at: list[float] = []
        good: list[Deploy] = []
        for d in rows:
            outcome, at = d.outcome, d.at
            if outcome == "succeeded":
                for fact in pending:
                    fact.restore = at - fact.at
                    fact.restored_by = d.id
                pending = []
                if incidents:
                    good_at.append(at)
                    good.append(d)
            if d.kind != "deploy":
                continue
            commits = d.commits
            leads = tuple([at - c if at > c else 0.0 for c in commits]) if commits else ()
            if outcome == "succeeded":
                append(Fact(d, True, at, None, None, None, None, leads))
            else:
                reached = outcome != "failed"
                fact = Fact(d, reached, at, _REASONS.get(outcome, outcome), at, None, None,
                            leads if reached else ())
                append(fact)
                pending.append(fact)
        if incidents:
            goods[target] = (good_at, good)
        facts += mine
        service = target[0]
        if service in by_service:  # a second production environment: both, in time order
            mine = by_service[service] + mine
            mine.sort(key=_fact_at)
        by_service[service] = mine
    if incidents:
        for fact in _blame_incidents(by_service, incidents, incident_window):
            good_at, good = goods[(fact.deploy.service, fact.deploy.environment)]
            index = bisect.bisect_right(good_at, fact.failed_at)  # type: ignore[arg-type]
            if index < len(good_at):
                fact.restore = good_at[index] - fact.failed_at  # type: ignore[operator]
                fact.restored_by = good[index].id
    facts.sort(key=_fact_at)
    return facts


_at = attrgetter("at")


_fact_at = attrgetter("at")


def _blame_incidents(per_service: dict[str, list[Fact]], incidents: Sequence[IncidentRow],
                     window: float) -> list[Fact]:
    """Each incident on the newest deployment of its service (in its environment, if it names
    one) that reached production at most ``window`` before it started; returns the facts that
    failed so. ``per_service``: each service's facts, oldest first."""
    blamed: list[Fact] = []
    for incident in incidents:
        group = per_service.get(incident.service)
        if not group:
            continue
        index = bisect.bisect_right(group, incident.started, key=_fact_at) - 1
        while index >= 0:
            fact = group[index]
            if incident.started - fact.at > window:
                break
            if fact.reached and (incident.environment is None
                                 or incident.environment == fact.deploy.environment):
                if fact.failure is None:
                    fact.failure = f"incident {incident.id}" if incident.id else "incident"
                    fact.failed_at = incident.started
                    blamed.append(fact)
                break
            index -= 1
    return blamed


# The keys -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KeyValue:
    """One of the four keys for one scope and window."""

    key: str
    value: float | None
    level: Level | None
    #: The same key over the previous period of the same length.
    previous: float | None = None
    #: ``better``, ``worse`` or ``same`` than the previous period (None: one of them is empty).
    trend: str | None = None
    #: The deployments the number counted (their ids), oldest first.
    evidence: Sequence[str] = ()
    #: For the change failure rate: why each failed change failed (id → reason).
    reasons: dict[str, str] = field(default_factory=dict)


class Week(NamedTuple):
    """One week of a scope's series (a named tuple: the services' series hold many)."""

    start: float
    deployments: int
    lead_time: float | None
    change_failure_rate: float | None
    time_to_restore: float | None


@dataclass(frozen=True, slots=True)
class FourKeys:
    """The four keys of a service, a team or the organisation over a window."""

    #: ``service``, ``team`` or ``organisation``.
    scope: str
    name: str
    days: int
    start: float
    end: float
    keys: dict[str, KeyValue]
    #: The lowest level of the keys that have a value (None: none has).
    level: Level | None
    weekly: tuple[Week, ...]
    #: Failed changes not restored by the window's end (their ids).
    unrestored: tuple[str, ...] = ()


_leads = attrgetter("leads")
_deploy_id = attrgetter("deploy.id")
_failure = attrgetter("failure")  # (of a failed change: never None)


def _restored(fact: Fact) -> bool:
    return fact.restore is not None


class Evidence(Sequence[str]):
    """The ids of the deployments a number counted, oldest first: a tuple-like sequence made
    when it is first read (an organisation's counts a million; most are never shown)."""

    __slots__ = ("_facts", "_pick", "_sort", "_ids")

    def __init__(self, facts: Sequence[Fact], pick: Callable[[Fact], Any] | None = None, *,
                 sort: bool = False) -> None:
        self._facts, self._pick, self._sort = facts, pick, sort
        self._ids: tuple[str, ...] | None = None if (facts or pick) else ()

    @property
    def ids(self) -> tuple[str, ...]:
        if self._ids is None:
            facts: Iterable[Fact] = self._facts
            if self._sort:
                facts = sorted(facts, key=_fact_at)
            if self._pick is not None:
                facts = filter(self._pick, facts)
            self._ids = tuple(map(_deploy_id, facts))
        return self._ids

    def __len__(self) -> int:
        return len(self._facts) if self._pick is None else len(self.ids)

    def __getitem__(self, index: Any) -> Any:
        return self.ids[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Evidence, tuple, list)):
            return self.ids == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Evidence({self.ids!r})"


def _trend(key: str, value: float | None, previous: float | None) -> str | None:
    if value is None or previous is None:
        return None
    if value == previous:
        return "same"
    return "better" if (value > previous) == (key in HIGHER_IS_BETTER) else "worse"


def _between(facts: Sequence[Fact], start: float, end: float) -> Sequence[Fact]:
    """The facts (sorted by time) of deployments that finished in ``(start, end]``."""
    lo = bisect.bisect_right(facts, start, key=_fact_at)
    hi = bisect.bisect_right(facts, end, key=_fact_at)
    return facts[lo:hi]


def four_keys(facts: Sequence[Fact], *, end: float, days: int, scope: str = "organisation",
              name: str = "", services: Callable[[str], bool] | set[str] | None = None
              ) -> FourKeys:
    """The four keys over ``(end - days, end]`` (up to and with ``end``) of the deployments
    whose service ``services`` holds (None: every one); ``facts`` are :func:`analyse`'s (sorted
    by time)."""
    start, span = _span(end, days)
    window, before = _between(facts, start, end), _between(facts, start - span, start)
    if services is not None:
        pick = _picker(services)
        window = [f for f in window if pick(f.deploy.service)]
        before = [f for f in before if pick(f.deploy.service)]
    return _result(_window_tally(window, start, end), _tally(before), scope, name, days, start,
                   end)


def four_keys_by(facts: Sequence[Fact], group: Callable[[str], str | None], *, end: float,
                 days: int, scope: str) -> dict[str, FourKeys]:
    """The four keys of each group of services (``group(service)``: its name, or None for
    none) over the window: one pass over the facts for every group (the teams, the services)."""
    return {name: _result(now, then, scope, name, days, *_span_of(end, days))
            for name, (now, then) in sorted(_group_tallies(facts, group, end, days).items(),
                                            key=_named)
            if name is not None}


@dataclass(frozen=True, slots=True)
class Rollup:
    """The four keys of the organisation, of each team and of each service, over one window."""

    organisation: FourKeys
    teams: dict[str, FourKeys]
    services: dict[str, FourKeys]


def rollup(facts: Sequence[Fact], owner: Callable[[str], str | None], *, end: float, days: int,
           name: str = "organisation", services: bool = True) -> Rollup:
    """The organisation, its teams (``owner(service)``; None: in no team) and (``services``)
    its services, counted once: each service's facts are tallied, a team's tally merges its
    services' (sorted runs merged, not sorted anew) and the organisation's merges the teams'.
    Without ``services``, each team's facts are tallied at once (and ``services`` is empty)."""
    with _without_cyclic_gc():
        return _rollup(facts, owner, end, days, name, services)


def _rollup(facts: Sequence[Fact], owner: Callable[[str], str | None], end: float, days: int,
            name: str, services: bool) -> Rollup:
    start, _ = _span(end, days)
    by_service: dict[str | None, tuple[_Tally, _Tally]] = {}
    if services:
        by_service = _group_tallies(facts, str, end, days)
        members: dict[str | None, list[tuple[_Tally, _Tally]]] = defaultdict(list)
        for service, pair in by_service.items():
            members[owner(service)].append(pair)  # type: ignore[arg-type]
        by_team = {team: (_merge([p[0] for p in pairs], ordered=True, weeks=True),
                          _merge([p[1] for p in pairs], ordered=False))  # (only counted)
                   for team, pairs in members.items()}
    else:
        by_team = _group_tallies(facts, owner, end, days)
    pairs = list(by_team.values())
    org = (_merge([p[0] for p in pairs], ordered=True, weeks=True),
           _merge([p[1] for p in pairs], ordered=False)) if pairs else (
        _window_tally([], start, end), _tally([]))
    return Rollup(
        organisation=_result(*org, "organisation", name, days, start, end),
        teams={team: _result(*pair, "team", team, days, start, end)
               for team, pair in sorted(by_team.items(), key=_named) if team is not None},
        services={service: _result(*pair, "service", service, days, start, end)
                  for service, pair in sorted(by_service.items(), key=_named)
                  if service is not None})


def _named(item: tuple[str | None, Any]) -> str:
    return item[0] or ""


def _group_tallies(facts: Sequence[Fact], group: Callable[[str], str | None], end: float,
                   days: int) -> dict[str | None, tuple[_Tally, _Tally]]:
    """Each group's tallies of the window and of the period before it (the facts of services
    in no group under None)."""
    start, span = _span(end, days)
    by_service = getattr(facts, "by_service", None)
    if by_service is not None:
        return _service_group_tallies(by_service, group, start, span, end)
    window: dict[str | None, list[Fact]] = defaultdict(list)
    before: dict[str | None, list[Fact]] = defaultdict(list)
    names: dict[str, str | None] = {}
    for part, facts_in in ((window, _between(facts, start, end)),
                           (before, _between(facts, start - span, start))):
        for fact in facts_in:
            service = fact.deploy.service
            name = names[service] if service in names else names.setdefault(service,
                                                                             group(service))
            part[name].append(fact)
    return {name: (_window_tally(window.get(name, []), start, end), _tally(before.get(name, [])))
            for name in window.keys() | before.keys()}


def _service_group_tallies(by_service: dict[str, list[Fact]], group: Callable[[str], str | None],
                           start: float, span: float, end: float
                           ) -> dict[str | None, tuple[_Tally, _Tally]]:
    """:func:`_group_tallies` from each service's own facts: two bisections a service, and a
    group of several services tallies their runs as they are (its evidence is put in time
    order when read)."""
    window: dict[str | None, list[Sequence[Fact]]] = defaultdict(list)
    before: dict[str | None, list[Sequence[Fact]]] = defaultdict(list)
    for service, mine in by_service.items():
        name = group(service)
        now, then = _between(mine, start, end), _between(mine, start - span, start)
        if now:
            window[name].append(now)
        if then:
            before[name].append(then)

    def joined(runs: list[Sequence[Fact]]) -> Sequence[Fact]:
        return runs[0] if len(runs) == 1 else list(chain.from_iterable(runs))

    out: dict[str | None, tuple[_Tally, _Tally]] = {}
    for name in window.keys() | before.keys():
        now_runs, then_runs = window.get(name, []), before.get(name, [])
        out[name] = (_window_tally(joined(now_runs), start, end, len(now_runs) > 1),
                     _tally(joined(then_runs), len(then_runs) > 1))
    return out


def _span(end: float, days: int) -> tuple[float, float]:
    if days <= 0:
        raise ValueError("a window has at least one day")
    return end - days * DAY, days * DAY


def _span_of(end: float, days: int) -> tuple[float, float]:
    return end - days * DAY, end


def _result(now: _Tally, then: _Tally, scope: str, name: str, days: int, start: float,
            end: float) -> FourKeys:
    values, previous = dict(zip(KEYS, now.values(days))), dict(zip(KEYS, then.values(days)))
    sort = now.interleaved
    evidence = {
        DEPLOYMENT_FREQUENCY: Evidence(now.reached, sort=sort),
        LEAD_TIME: Evidence(now.reached, _leads, sort=sort),
        CHANGE_FAILURE_RATE: Evidence(now.changes, sort=sort),
        TIME_TO_RESTORE: Evidence(now.failures, _restored),
    }
    reasons = dict(zip(map(_deploy_id, now.failures), map(_failure, now.failures)))
    keys = {key: KeyValue(key, values[key], level_of(key, values[key]), previous[key],
                          _trend(key, values[key], previous[key]), evidence[key],
                          reasons if key == CHANGE_FAILURE_RATE else {})
            for key in KEYS}
    levels = [k.level for k in keys.values() if k.level is not None]
    level = max(levels, key=lambda lv: lv.rank) if levels else None
    weeks, median = now.weeks, sortedruns.median
    first = end - (len(weeks.changes) - 1 if weeks else 1) * WEEK
    weekly = tuple([Week(first + i * WEEK, reached, median(leads) if leads else None,
                         failed / changes if changes else None,
                         median(restores) if restores else None)
                    for i, (reached, changes, failed, leads, restores) in enumerate(zip(
                        weeks.reached[1:], weeks.changes[1:], weeks.failures[1:],
                        weeks.leads[1:], weeks.restores[1:]))] if weeks else ())
    return FourKeys(scope=scope, name=name, days=days, start=start, end=end, keys=keys,
                    level=level, weekly=weekly,
                    unrestored=tuple(f.deploy.id for f in now.failures if f.restore is None))


def _picker(services: Callable[[str], bool] | set[str] | None) -> Callable[[str], bool]:
    if services is None:
        return lambda name: True
    if callable(services):
        return services
    return services.__contains__


# For the CLI and JSON -----------------------------------------------------------------------------

def as_jsonable(result: FourKeys, *, evidence: bool = True) -> dict[str, Any]:
    """``result`` as plain JSON values (times as Unix seconds and ISO 8601 UTC)."""
    from datetime import UTC, datetime

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat()

    keys: dict[str, Any] = {}
    for key, value in result.keys.items():
        item: dict[str, Any] = {
            "value": value.value, "unit": UNITS[key],
            "level": value.level.value if value.level else None,
            "previous": value.previous, "trend": value.trend, "counted": len(value.evidence)}
        if evidence:
            item["evidence"] = list(value.evidence)
            if value.reasons:
                item["reasons"] = value.reasons
        keys[key] = item
    return {
        "scope": result.scope, "name": result.name, "window_days": result.days,
        "start": iso(result.start), "end": iso(result.end),
        "level": result.level.value if result.level else None,
        "keys": keys,
        "weekly": [{"start": iso(w.start), "deployments": w.deployments,
                    "lead_time": w.lead_time, "change_failure_rate": w.change_failure_rate,
                    "time_to_restore": w.time_to_restore} for w in result.weekly],
        "unrestored": list(result.unrestored),
    }
