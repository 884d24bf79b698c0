"""Scorecards: every rule (:mod:`.rules`) checked against every service's facts (:mod:`.facts`),
each service's level, and the teams' roll-up.

A service's level is the highest level whose rules, and the rules of every lower level, all pass
for it (rules that do not apply to it are left out; a rule that errors does not pass). A service
that fails a bronze rule has no level (``None``). A team's roll-up is the share of its services at
each level.

Textual-free: the CLI calls :func:`collect` (the hub's answers as a :class:`World`), then
:func:`score`; a pane does the same off the UI thread (the facts of many services take time),
and a catalog's score column and ``level:`` filter read :func:`levels_by_service` and
:func:`parse_level`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..limits import PIPELINES_LIMIT
from .facts import World
from .rules import Level, Outcome, Rule

if TYPE_CHECKING:
    from ..api.models import Service
    from ..hub import Hub
    from ..hub.failures import Failure

#: The word for "no level" (a bronze rule fails).
NO_LEVEL = "none"
#: Result statuses, in the order shown (failing first).
STATUSES = ("fail", "error", "pass")


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: Rule
    outcome: Outcome

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def passed(self) -> bool:
        return self.outcome.status == "pass"


@dataclass(frozen=True, slots=True)
class Card:
    """One service's scorecard: its level and each rule that applies to it."""

    service: str
    owner: str
    level: Level | None
    results: tuple[RuleResult, ...]

    @property
    def failing(self) -> tuple[RuleResult, ...]:
        """The rules that did not pass (failed or errored), lowest level first."""
        return tuple(r for r in self.results if not r.passed)

    @property
    def next_level(self) -> Level | None:
        """The level above this one (None at gold)."""
        rank = -1 if self.level is None else self.level.rank
        return next((lv for lv in Level if lv.rank == rank + 1), None)

    @property
    def level_name(self) -> str:
        return self.level.value if self.level is not None else NO_LEVEL


@dataclass(frozen=True, slots=True)
class TeamRollup:
    team: str
    services: int
    #: Services at each level (``none`` included), and their share.
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def shares(self) -> dict[str, float]:
        return {name: (n / self.services if self.services else 0.0)
                for name, n in self.counts.items()}


def level_names() -> tuple[str, ...]:
    """``none`` and the levels, lowest first (the words a filter accepts)."""
    return (NO_LEVEL, *(lv.value for lv in Level))


def parse_level(text: str) -> Level | None:
    """A level's word (``none`` gives None); ValueError names the known words."""
    word = text.strip().lower()
    if word == NO_LEVEL:
        return None
    try:
        return Level(word)
    except ValueError:
        raise ValueError(f"unknown level {text!r} (known: {', '.join(level_names())})") from None


def rank(level: Level | None) -> int:
    """-1 for no level, then 0 (bronze) … 2 (gold): for sorting and comparing."""
    return -1 if level is None else level.rank


def level_from(results: Iterable[RuleResult]) -> Level | None:
    """The highest level whose rules and all lower levels' rules passed."""
    failed = [r.rule.level.rank for r in results if not r.passed]
    lowest_failed = min(failed) if failed else len(Level)
    if lowest_failed == 0:
        return None
    return list(Level)[lowest_failed - 1]


def card(service: Service, rules: Sequence[Rule], world: World) -> Card:
    results = tuple(RuleResult(rule, rule.evaluate(service, world))
                    for rule in rules if rule.applies(service))
    return Card(service=service.name, owner=service.owner, level=level_from(results),
                results=tuple(sorted(results, key=lambda r: (STATUSES.index(r.status),
                                                            r.rule.level.rank, r.rule.id))))


def score(rules: Sequence[Rule], world: World) -> list[Card]:
    """Every service's scorecard, by name."""
    return sorted((card(s, rules, world) for s in world.services), key=lambda c: c.service)


def levels_by_service(cards: Iterable[Card]) -> dict[str, Level | None]:
    """Service name → level (for a catalog's score column and its ``level:`` filter)."""
    return {c.service: c.level for c in cards}


def rollup(cards: Iterable[Card]) -> list[TeamRollup]:
    """Each team's (owner's) services per level; services without an owner under ``""``."""
    per_team: dict[str, Counter[str]] = defaultdict(Counter)
    for c in cards:
        per_team[c.owner][c.level_name] += 1
    out = []
    for team in sorted(per_team):
        counts = per_team[team]
        out.append(TeamRollup(team=team, services=sum(counts.values()),
                              counts={name: counts.get(name, 0) for name in level_names()}))
    return out


def below(cards: Iterable[Card], level: Level) -> list[Card]:
    """The cards under ``level`` (what ``--fail-under`` counts)."""
    return [c for c in cards if rank(c.level) < level.rank]


# Gathering --------------------------------------------------------------------------------------

def day_range(now: datetime, days: int) -> tuple[datetime, datetime]:
    """``days`` days (and one) up to the end of ``now``'s day, UTC: the range of delivery
    history asked for, the same topic all day long (a deployment made today is in it)."""
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        + timedelta(days=1)
    return end - timedelta(days=days + 1), end


#: Seconds a count of the scorecards holds while nothing it was counted from changed: then it is
#: made again, and the hub's answers older than that (the pipeline runs and the error ratios,
#: which no pane may be watching) are asked again for it.
RECOUNT = 300.0


def recount_period(now: datetime) -> int:
    """Which :data:`RECOUNT` period ``now`` is in (a count's key holds it)."""
    return int(now.timestamp() // RECOUNT)


async def collect(hub: Hub, now: datetime, *, pipelines: int = PIPELINES_LIMIT.size,
                  fresh: bool = False, answers: dict[Any, Any] | None = None,
                  trail: Any = None) -> tuple[World, list[Failure]]:
    """The world the facts are computed from, asked of the hub (the catalog, the environments,
    the newest ``pipelines`` runs, the delivery history of the facts' window and the error
    ratios of the production environments), and the
    failures of the sources asked. A topic that no source offers is no failure: its facts are
    unknown. A topic a source failed on is unknown too (the rules that need it error, saying
    why), and its failure is returned. The hub's last answers are used where it has one
    (``fresh``: every topic asked again); ``answers`` gets each topic's snapshot.

    With the audit ``trail`` (the runtime's), the deploys made through idp-tui count in the
    delivery facts as in the four keys (:func:`.audit_history.merge_trail`);
    a service whose delivery history nobody keeps has unknown delivery facts
    (:mod:`.coverage`)."""
    from ..api.kinds import Capability, EnvironmentType
    from ..environments import guess_type
    from ..api.kinds import Window
    from ..hub import Topic
    from .facts import DELIVERY_DAYS, ERROR_RATIO_STEP, ERROR_RATIO_WINDOW, error_ratios

    failures: list[Failure] = []
    got: dict[Any, Any] = answers if answers is not None else {}

    async def fetch(topic: Topic) -> tuple[Any, bool]:
        cached = None if fresh else hub.cached(topic)
        if cached is not None and (cached.fetched_at is None
                                   or (now - cached.fetched_at).total_seconds() > RECOUNT):
            cached = None  # (an answer nobody watches, older than a count's period: asked again)
        snapshot = cached or await hub.fetch(topic)
        got[topic] = snapshot
        problems = [f for f in snapshot.errors.values() if f.error_class != "no source"]
        failures.extend(problems)
        return snapshot.data, snapshot.data is not None and not problems

    catalog, _ = await fetch(Topic.catalog())
    platform, platform_known = await fetch(Topic.environments())
    runs, runs_known = await fetch(Topic.pipelines(None, pipelines))
    history_topic = Topic.delivery(*day_range(now, DELIVERY_DAYS))
    before = len(failures)
    history, history_known = await fetch(history_topic)
    history_problems = failures[before:]
    environments = list(platform.environments) if platform is not None else []
    production = [e.name for e in environments
                  if (e.type or guess_type(e.name)) is EnvironmentType.PRODUCTION]
    names = [s.name for s in catalog or []]
    ratios: dict[str, float] | None = None
    for env in production if names else ():
        series, known = await fetch(Topic.signals(env, names, Window(ERROR_RATIO_WINDOW),
                                                  ERROR_RATIO_STEP))
        if known and series:  # an empty answer: no source has these series
            ratios = ratios if ratios is not None else {}
            for name, value in error_ratios(series).items():
                ratios[name] = max(value, ratios.get(name, value))
    delivery = coverage = None
    sources = [r.name for r in hub.runners_for(Capability.DELIVERY)]
    if history_known or (trail is not None and not sources):
        import asyncio

        from .coverage import delivery_coverage
        from .memo import analysed, history_rows

        # (many records: made off the event loop)
        deploys, incidents = await asyncio.to_thread(history_rows, history, production) \
            if history_known else ([], [])
        seen: set[str] = set()
        if trail is not None:
            from ..api.delivery import HistoryQuery
            from .audit_history import answered_by, merge_trail

            snapshot = got.get(history_topic)
            answered = answered_by(sources, history_problems,
                                   snapshot.kept if snapshot is not None else ())
            deploys, incidents, failure = await merge_trail(
                deploys, incidents, trail,
                HistoryQuery(start=history_topic.args[2], end=history_topic.args[3]),
                answered, production, seen)
            if failure is not None:  # the sources' rows still count
                failures.append(failure)
        delivery = await asyncio.to_thread(analysed, deploys, incidents)
        coverage = delivery_coverage(hub, names, seen | {d.service for d in deploys})
    world = World(catalog or [], now=now.timestamp(), environments=environments,
                  deployments=list(platform.deployments.values()) if platform_known else None,
                  runs=list(runs) if runs_known else None, delivery=delivery,
                  production=production, error_ratios=ratios, coverage=coverage)
    return world, failures


# JSON ---------------------------------------------------------------------------------------------

def _jsonable_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    return value


def result_jsonable(result: RuleResult) -> dict[str, Any]:
    rule, outcome = result.rule, result.outcome
    value: dict[str, Any] = {"rule": rule.id, "title": rule.title, "level": rule.level.value,
                             "status": outcome.status,
                             "facts": {k: _jsonable_value(v) for k, v in outcome.facts.items()},
                             "check": rule.check_text}
    if outcome.message:
        value["message"] = outcome.message
    if not result.passed:
        value["fix"] = rule.fix
    return value


def card_jsonable(c: Card, *, only_failing: bool = False) -> dict[str, Any]:
    results = c.failing if only_failing else c.results
    return {"service": c.service, "owner": c.owner, "level": c.level_name,
            "passed": sum(1 for r in c.results if r.passed), "rules": len(c.results),
            "results": [result_jsonable(r) for r in results]}


def rollup_jsonable(team: TeamRollup) -> dict[str, Any]:
    return {"team": team.team, "services": team.services, "levels": team.counts,
            "shares": {k: round(v, 4) for k, v in team.shares.items()}}


def rule_jsonable(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "title": rule.title, "level": rule.level.value,
            "applies_to": {k: sorted(v) for k, v in rule.applies_to.items()},
            "check": rule.check_text, "fix": rule.fix, "origin": rule.origin}
