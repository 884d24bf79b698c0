"""What the Insights pane shows, without Textual: the four keys of the organisation, each team and
each service (rows of texts), the scorecards (services × rules, failing first, filtered by team and
level) and the detail of a number (the deployments it counted) or of a rule (its facts and fix).

:func:`gather` asks the hub (the same answers as ``idp-tui dora`` and ``idp-tui scorecards``) and
adds the deploys of the audit trail as ``idp-tui dora`` does; :func:`compute` does the counting and
is meant to run off the UI thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import dora
from . import scorecards as sc
from .coverage import Coverage, delivery_coverage, judged, partly, services_in, unread_sources
from .coverage import jsonable as coverage_jsonable
from .dora import (
    CHANGE_FAILURE_RATE,
    DEPLOYMENT_FREQUENCY,
    KEYS,
    LEAD_TIME,
    TIME_TO_RESTORE,
    FourKeys,
)
from .facts import World
from .rules import Rule
from .texts import FORMAT

if TYPE_CHECKING:
    from ..hub import Hub
    from ..hub.failures import Failure

#: The windows offered, in days (``w`` cycles them).
WINDOWS = dora.WINDOWS
DEFAULT_WINDOW = 30
#: The keys' column titles.
KEY_TITLES = {DEPLOYMENT_FREQUENCY: "Deploys", LEAD_TIME: "Lead time",
              CHANGE_FAILURE_RATE: "Failure rate", TIME_TO_RESTORE: "Restore"}
KEY_NAMES = {DEPLOYMENT_FREQUENCY: "deployment frequency", LEAD_TIME: "lead time for changes",
             CHANGE_FAILURE_RATE: "change failure rate", TIME_TO_RESTORE: "time to restore"}
#: A style per DORA level and per scorecard level or status (rich style names).
LEVEL_STYLE = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red",
               "gold": "bold yellow", "silver": "bold", "bronze": "dark_orange3", "none": "red",
               "fail": "red", "error": "magenta", "pass": "green"}
TREND_MARK = {"better": "↑", "worse": "↓", "same": "=", None: ""}
NO_OWNER = "(no owner)"
#: Evidence listed in a detail at most.
MAX_EVIDENCE = 40


@dataclass(frozen=True)
class Inputs:
    """What the hub answered: the scorecards' world and the production deployments."""

    world: World
    deploys: list[dora.Deploy]
    incidents: list[dora.IncidentRow]
    owners: dict[str, str]
    failures: list[Failure] = field(default_factory=list)
    #: The scorecards counted already (``insights.scoring``: the Catalog's levels are the
    #: same); None: :func:`compute` checks the rules.
    cards: list[sc.Card] | None = None
    #: The count they come from (``insights.scoring.Scored``), if any.
    scored: Any = None
    #: The services whose delivery history nobody keeps (:mod:`.coverage`).
    coverage: Coverage = field(default_factory=Coverage)


@dataclass(frozen=True)
class Insights:
    """Everything the pane shows for one window."""

    days: int
    organisation: FourKeys
    teams: list[FourKeys]
    services: list[FourKeys]
    cards: list[sc.Card]
    #: Deployment id → the deployment (for the evidence).
    deploys: dict[str, dora.Deploy]
    failures: list[Failure] = field(default_factory=list)
    #: Service → its team (``(no owner)`` for none).
    owners: dict[str, str] = field(default_factory=dict)
    coverage: Coverage = field(default_factory=Coverage)

    def services_of(self, row: str) -> list[str]:
        """The services a key row counts (``organisation``, ``team:NAME``, ``service:NAME``)."""
        scope, _, name = row.partition(":")
        return services_in(scope, name, self.owners)

    def unknown(self, row: str) -> str | None:
        """Why a key row's four keys are not known (no history of its services), or None."""
        scope, _, name = row.partition(":")
        return self.coverage.why_unknown(scope, name, self.services_of(row))

    def coverage_jsonable(self, row: str) -> dict[str, Any]:
        """A key row's ``coverage`` as ``idp-tui dora --json`` writes it."""
        scope, _, name = row.partition(":")
        return coverage_jsonable(self.coverage, scope, name, self.services_of(row))

    def keys_of(self, row: str) -> FourKeys | None:
        """A key row's four keys (``organisation``, ``team:NAME``, ``service:NAME``)."""
        scope, _, name = row.partition(":")
        if scope == "organisation":
            return self.organisation
        pool = self.teams if scope == "team" else self.services
        return next((k for k in pool if k.name == name), None)

    def card_of(self, service: str) -> sc.Card | None:
        return next((c for c in self.cards if c.service == service), None)


async def gather(hub: Hub, now: datetime, *, days: int = max(WINDOWS),
                 rules: Sequence[Rule] | None = None, fresh: bool = False,
                 trail: Any = None) -> Inputs:
    """Ask the hub for the catalog, the environments, the runs and the delivery history of two
    of the longest window (the trend compares with the period before); with ``rules``, the
    scorecards too, from the dashboard's one count (:func:`.scoring.scored`). The hub's last
    answers are used where it has them (``fresh``: asked again).

    The history is asked once a day: the scorecards' days (:func:`history_topics`, the newest)
    as the count asked them, the older days on their own. With the audit ``trail`` (the
    runtime's), the deploys made through idp-tui count too, as ``idp-tui dora`` counts them
    (:func:`.audit_history.merge_trail`). A service whose every source of delivery history
    failed is not covered (:func:`.coverage.delivery_coverage`): "–", never a count of zero."""
    from ..api.kinds import Capability
    from .audit_history import answered_by
    from .scoring import scored

    cards: list[sc.Card] | None = None
    counted = None
    if rules is not None:  # (the count reads the runtime's trail: ``Scorer.trail``)
        counted = await scored(hub, now, rules, fresh=fresh)
        world, failures, cards = counted.world, list(counted.failures), counted.cards
    else:
        world, failures = await sc.collect(hub, now, fresh=fresh, trail=trail)
    recent, *older = history_topics(now, 2 * days)
    answers = [hub.cached(recent) or await hub.fetch(recent)]  # (the count's: just asked)
    for topic in older:
        answers.insert(0, (None if fresh else hub.cached(topic)) or await hub.fetch(topic))
    problems = [f for a in answers for f in a.errors.values() if f.error_class != "no source"]
    failures += [f for f in problems if f not in failures]
    # (many records: made off the loop)
    deploys, incidents = await asyncio.to_thread(
        _rows, [a.data for a in answers if a.data is not None], world.production)
    sources = [r.name for r in hub.runners_for(Capability.DELIVERY)]
    answered = answered_by(sources, problems, {s for a in answers for s in a.kept})
    seen: set[str] = set()
    if trail is not None:
        from ..api.delivery import HistoryQuery
        from .audit_history import merge_trail

        start, end = min(t.args[2] for t in (recent, *older)), recent.args[3]  # (all asked)
        deploys, incidents, failure = await merge_trail(
            deploys, incidents, trail, HistoryQuery(start=start, end=end), answered,
            world.production, seen)
        if failure is not None and failure not in failures:  # (the count may have said it)
            failures.append(failure)
    owners = {s.name: s.owner or NO_OWNER for s in world.services}
    # (those the scorecards' count found covered are: their window is within this one)
    pool = world.coverage.missing if world.coverage is not None else owners
    coverage = delivery_coverage(hub, pool, seen | {d.service for d in deploys},
                                 unread_sources(problems, answered))
    return Inputs(world, deploys, incidents, owners, failures, cards, counted, coverage)


def history_topics(now: datetime, days: int) -> list[Any]:
    """The delivery history of ``days`` days up to ``now``'s day, as topics that do not
    overlap: the scorecards' (:data:`~.facts.DELIVERY_DAYS`, the one the count asks), then the
    days before it, if any."""
    from ..hub import Topic
    from .facts import DELIVERY_DAYS

    start, end = sc.day_range(now, days)
    recent_start, _ = sc.day_range(now, DELIVERY_DAYS)
    topics = [Topic.delivery(recent_start, end)]
    if start < recent_start:
        topics.append(Topic.delivery(start, recent_start))
    return topics


def _rows(histories: Sequence[Any], production: Any
          ) -> tuple[list[dora.Deploy], list[dora.IncidentRow]]:
    """The rows of several answers (oldest first) of days that do not overlap: each answer's
    made once (:func:`.memo.history_rows`), the scorecards' shared with their count."""
    from .memo import history_rows

    made = [history_rows(h, production) for h in histories]
    if len(made) == 1:
        return made[0]
    return [d for m in made for d in m[0]], [i for m in made for i in m[1]]


def compute(inputs: Inputs, rules: Sequence[Rule], *, days: int = DEFAULT_WINDOW) -> Insights:
    """The four keys and the scorecards (plain CPU work: run it off the UI thread)."""
    from .memo import analysed

    end = inputs.world.now
    facts = analysed(inputs.deploys, inputs.incidents)
    owners = inputs.owners
    counted = dora.rollup(facts, owners.get, end=end, days=days)
    org, by_team, by_service = counted.organisation, counted.teams, counted.services
    teams = [by_team.get(t) or dora.four_keys([], end=end, days=days, scope="team", name=t)
             for t in sorted(set(owners.values()))]
    services = [by_service.get(s) or dora.four_keys([], end=end, days=days, scope="service",
                                                    name=s) for s in sorted(owners)]
    # Whose history nobody keeps: no value and no level ("–"), never "low".
    coverage = inputs.coverage
    if coverage.missing or coverage.unreadable:
        members: dict[str, list[str]] = {}
        for service, team in owners.items():
            members.setdefault(team, []).append(service)
        org = judged(org, coverage, owners)
        teams = [judged(t, coverage, members.get(t.name, [])) for t in teams]
        services = [judged(s, coverage, [s.name]) for s in services]
    cards = inputs.cards if inputs.cards is not None else \
        sc.score(rules, inputs.world) if rules else []
    return Insights(days, org, teams, services, cards, {d.id: d for d in inputs.deploys},
                    list(inputs.failures), dict(owners), coverage)


# Texts ----------------------------------------------------------------------------------------------


#: A cell: its text and a style (rich style name, or "").
Cell = tuple[str, str]


@dataclass(frozen=True)
class KeyRow:
    key: str
    scope: str
    name: str
    #: One cell per key (value, trend mark; styled by its level).
    cells: tuple[Cell, ...]
    level: Cell
    #: Deployments per week, oldest first (the pane draws it as a sparkline).
    weekly: tuple[float, ...]


def key_cell(result: FourKeys, key: str) -> Cell:
    value = result.keys[key]
    text = f"{FORMAT[key](value.value)} {TREND_MARK[value.trend]}".rstrip()
    return text, LEVEL_STYLE.get(value.level.value, "") if value.level else "dim"


def key_rows(insights: Insights, *, team: str | None = None) -> list[KeyRow]:
    """The organisation, then each team, then each service (only ``team``'s, when given)."""
    results: list[FourKeys] = [insights.organisation]
    results += [t for t in insights.teams if team is None or t.name == team]
    results += [s for s in insights.services
                if team is None or insights.owners.get(s.name, NO_OWNER) == team]
    rows = []
    for r in results:
        level = r.level.value if r.level else "–"
        rows.append(KeyRow(
            key="organisation" if r.scope == "organisation" else f"{r.scope}:{r.name}",
            scope=r.scope, name=r.name, cells=tuple(key_cell(r, k) for k in KEYS),
            level=(level, LEVEL_STYLE.get(level, "dim")),
            weekly=tuple(float(w.deployments) for w in r.weekly)))
    return rows


@dataclass(frozen=True)
class ScoreRow:
    key: str
    service: str
    owner: str
    level: Cell
    rule: str
    rule_level: str
    status: Cell
    title: str


def score_rows(cards: Sequence[sc.Card], *, team: str | None = None,
               level: str | None = None) -> list[ScoreRow]:
    """One row per service and rule, failing ones first (then by rule level, service, rule);
    only ``team``'s services, only the services at ``level`` (a word of
    :func:`~idp_tui.insights.scorecards.level_names`) when given."""
    rows = []
    for c in cards:
        if team is not None and (c.owner or NO_OWNER) != team:
            continue
        if level is not None and c.level_name != level:
            continue
        for r in c.results:
            rows.append(ScoreRow(
                key=f"{c.service}\x00{r.rule.id}", service=c.service,
                owner=c.owner or NO_OWNER,
                level=(c.level_name, LEVEL_STYLE.get(c.level_name, "")),
                rule=r.rule.id, rule_level=r.rule.level.value,
                status=(r.status, LEVEL_STYLE.get(r.status, "")), title=r.rule.title))
    rows.sort(key=lambda row: (sc.STATUSES.index(row.status[0]), _rank(row.rule_level),
                               row.service, row.rule))
    return rows


def _rank(word: str) -> int:
    try:
        return sc.rank(sc.parse_level(word))
    except ValueError:
        return 99


def teams_of(insights: Insights) -> list[str]:
    return [t.name for t in insights.teams]


def _scope(result: FourKeys) -> str:
    return "the organisation" if result.scope == "organisation" else \
        f"{result.scope} {result.name}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def key_detail(insights: Insights, row: str, key: str) -> list[Cell]:
    """Lines explaining one number: its value, level, the previous period and the deployments
    it counted (newest first, at most :data:`MAX_EVIDENCE`)."""
    result = insights.keys_of(row)
    if result is None or key not in result.keys:
        return [("Nothing selected.", "dim")]
    value = result.keys[key]
    why = insights.unknown(row)
    if why is not None:
        return [(f"{KEY_NAMES[key]} of {_scope(result)}, last {result.days} days: – "
                 "(not known, no level)", "bold"), (why, "yellow")]
    level = value.level.value if value.level else "no level"
    lines: list[Cell] = [
        (f"{KEY_NAMES[key]} of {_scope(result)}, last {result.days} days: "
         f"{FORMAT[key](value.value)} ({level})", "bold"),
        (f"previous {result.days} days: {FORMAT[key](value.previous)}"
         f"{'  ' + value.trend if value.trend else ''}", ""),
        (f"counted {len(value.evidence)} deployment{'s' if len(value.evidence) != 1 else ''}:",
         ""),
    ]
    for deploy_id in reversed(value.evidence[-MAX_EVIDENCE:]):
        d = insights.deploys.get(deploy_id)
        reason = value.reasons.get(deploy_id, "")
        if d is None:
            lines.append((f"  {deploy_id}", ""))
            continue
        text = (f"  {_when(d.at)}  {d.service}  {d.environment}  {d.version or '-'}  "
                f"{d.outcome}{'  ' + reason if reason else ''}")
        lines.append((text, "red" if reason else ""))
    if len(value.evidence) > MAX_EVIDENCE:
        lines.append((f"  … and {len(value.evidence) - MAX_EVIDENCE} older", "dim"))
    left_out = partly(insights.coverage, result.scope, insights.services_of(row))
    if left_out is not None:  # (above the deployments: seen at once)
        lines.insert(2, (left_out, "yellow"))
    return lines


def rule_detail(insights: Insights, service: str, rule_id: str) -> list[Cell]:
    """Lines explaining one rule for one service: its status, check, facts and how to fix."""
    card = insights.card_of(service)
    result = next((r for r in card.results if r.rule.id == rule_id), None) if card else None
    if card is None or result is None:
        return [("Nothing selected.", "dim")]
    rule, outcome = result.rule, result.outcome
    lines: list[Cell] = [
        (f"{service} · {rule.id} ({rule.level.value}): {rule.title}", "bold"),
        (f"status: {outcome.status}{'  ' + outcome.message if outcome.message else ''}",
         LEVEL_STYLE.get(outcome.status, "")),
        (f"check: {rule.check_text}", ""),
    ]
    for name, fact in outcome.facts.items():
        lines.append((f"  {name} = {fact!r}", "dim"))
    if not result.passed:
        lines.append((f"fix: {rule.fix}", "yellow"))
    return lines


def summary(insights: Insights, *, team: str | None, level: str | None) -> str:
    org = insights.organisation
    parts = [f"last {insights.days} days", f"organisation: {org.level.value if org.level else '–'}",
             f"team: {team or 'all'}", f"level: {level or 'all'}"]
    failing = sum(1 for c in insights.cards if c.failing)
    parts.append(f"{failing}/{len(insights.cards)} services fail a rule")
    unknown = sum(1 for s in insights.owners if not insights.coverage.covers(s))
    if unknown:
        parts.append(f"– {unknown} service{'s' if unknown != 1 else ''} without delivery "
                     "history")
    return " · ".join(parts)
