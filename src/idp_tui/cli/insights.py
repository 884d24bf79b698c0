"""``idp-tui dora [--team T] [--service S] [--window 30d] [--fail-under LEVEL]``: DORA's four
keys of the organisation and each team, of one team and its services, or of one service, from the
delivery history of the sources and of idp-tui's own audit log.

The history fetched is kept in the data dir (``insights/cache.py``): a second run asks the sources
only for what happened since. ``--fail-under LEVEL`` makes a CI job fail (exit code
:data:`EXIT_BELOW`) when the level of what was asked for (the service, the team, or the
organisation) is below LEVEL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..api.delivery import DeliveryHistory, HistoryQuery
from ..api.kinds import Capability, EnvironmentType
from ..hub import Hub, Topic
from ..insights import cache
from ..insights import coverage as cov
from ..insights.audit_history import answered_by, merge_trail
from ..insights.dora import (
    CHANGE_FAILURE_RATE,
    DAY,
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME,
    TIME_TO_RESTORE,
    FourKeys,
    Level,
    analyse,
    as_jsonable,
    four_keys,
    four_keys_by,
    rollup,
    rows_from_history,
)
from ..insights.texts import FORMAT
from .context import Context
from .output import EXIT_NOT_FOUND, CliError, Styled, cell
from .read import _errors_json, finish, snapshot_failures

#: The exit code when the level asked for is below ``--fail-under``.
EXIT_BELOW = 6
#: The history asked for: two of the longest window (its trend needs the period before it).
SPAN_DAYS = 360
_LEVEL_STYLE = {Level.ELITE: "green", Level.HIGH: "green", Level.MEDIUM: "yellow",
                Level.LOW: "red"}
_TREND = {"better": "↑", "worse": "↓", "same": "=", None: ""}


def dora(ctx: Context) -> int:
    return ctx.run(_dora)


def window_days(text: str) -> int:
    """``30d`` → 30 (the windows offered: 7d, 30d, 90d, 180d)."""
    return int(text.removesuffix("d"))


async def _dora(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    days = window_days(args.window)
    now = ctx.clock.now()
    end = now.timestamp()
    catalog = await hub.fetch(Topic.catalog())
    platform = await hub.fetch(Topic.environments())
    failures = _without_catalog(ctx, catalog) + snapshot_failures(platform)
    owners = {s.name: s.owner or "(no owner)" for s in catalog.data or []}
    environments = list(platform.data.environments) if platform.data else []
    production = [e.name for e in environments if e.type is EnvironmentType.PRODUCTION]
    team = _team(args.team, owners) if args.team else None
    if args.service and owners and args.service not in owners:
        raise CliError(EXIT_NOT_FOUND, f"no service {args.service!r} in the catalog",
                       hint="`idp-tui services` lists the catalog")
    seen: set[str] = set()
    deploys, incidents, history_failures, answered = await _history(ctx, hub, end, seen)
    failures += history_failures
    members = sorted(owners) if owners else [args.service] if args.service else []
    # A service only a failed source may know is "–" (not known), never a count of zero.
    coverage = cov.delivery_coverage(hub, members, seen | {d.service for d in deploys},
                                     cov.unread_sources(history_failures, answered))
    if not production:
        out.warn("no environment is of type production: nothing counts as deployed "
                 "(set `type = \"production\"` under [environments.NAME] in the config)")
    prod = set(production)
    facts = analyse([d for d in deploys if d.environment in prod],
                    [i for i in incidents if i.environment is None or i.environment in prod])
    results: list[FourKeys] = []
    if args.service:
        results.append(four_keys(facts, end=end, days=days, scope="service", name=args.service,
                                 services={args.service}))
    elif team is not None:
        mine = {s for s, o in owners.items() if o == team}
        results.append(four_keys(facts, end=end, days=days, scope="team", name=team,
                                 services=mine))
        by_service = four_keys_by(facts, lambda s: s if s in mine else None, end=end,
                                  days=days, scope="service")
        results += [by_service.get(s) or four_keys([], end=end, days=days, scope="service",
                                                   name=s) for s in sorted(mine)]
    else:
        counted = rollup(facts, owners.get, end=end, days=days, services=False)
        results.append(counted.organisation)
        by_team = counted.teams
        results += [by_team.get(t) or four_keys([], end=end, days=days, scope="team", name=t)
                    for t in sorted(set(owners.values()))]
    # Whose history nobody keeps: no value and no level ("–"), never "low".
    services_of = {r.name: cov.services_in(r.scope, r.name, owners) for r in results}
    results = [cov.judged(r, coverage, services_of[r.name]) for r in results]
    if out.json:
        out.emit({"window_days": days, "as_of": now.astimezone(UTC).isoformat(),
                  "production": production,
                  "results": [{**as_jsonable(r, evidence=args.evidence or r.scope == "service"),
                               "coverage": cov.jsonable(coverage, r.scope, r.name,
                                                        services_of[r.name])}
                              for r in results],
                  "errors": _errors_json(failures)})
    else:
        _print(ctx, results, days, now)
        _say_coverage(ctx, results, coverage, services_of)
    code = finish(ctx, failures, "delivery history", answered=bool(deploys))
    gate = args.fail_under
    if gate is not None:
        first = results[0]
        why = coverage.why_unknown(first.scope, first.name, services_of[first.name])
        if why is not None:  # not judged: no history to judge by
            out.warn(f"{_named(first)} was not judged against --fail-under {gate}: "
                     f"{why}")
            return code
        level = results[0].level
        if level is None or level.rank > Level.parse(gate).rank:
            raise CliError(EXIT_BELOW, f"{results[0].scope} {results[0].name}: "
                                       f"{level.value if level else 'no level'}, below {gate}",
                           type="below level")
    return code


def _without_catalog(ctx: Context, catalog: Any) -> list[Any]:
    """The catalog's failures; no source offering a catalog is not one here (the history names
    its services; only the teams, their owners, are unknown), and that is said."""
    failures = snapshot_failures(catalog)
    missing = [f for f in failures if f.source == "hub" and f.error_class == "no source"]
    if missing:
        ctx.out.warn("no source offers a catalog: the services' owners, and so the teams, are "
                     "unknown (add a catalog source, e.g. catalog-files, to count by team)")
    return [f for f in failures if f not in missing]


def _team(wanted: str, owners: dict[str, str]) -> str:
    teams = set(owners.values())
    for name in (wanted, f"team-{wanted}"):
        if name in teams:
            return name
    raise CliError(EXIT_NOT_FOUND, f"no team {wanted!r} owns a service",
                   hint=f"teams: {', '.join(sorted(teams)) or 'none'}")


async def _history(ctx: Context, hub: Hub, end: float, seen: set[str] | None = None
                   ) -> tuple[list[Any], list[Any], list[Any], frozenset[str]]:
    """The deliveries and incidents of the last :data:`SPAN_DAYS` days: the kept ones, and what
    the sources and the audit log add since (all of it when nothing is kept); the sources'
    failures, and the sources whose rows count (:func:`answered_by`). ``seen`` gets the
    services the audit trail has a deploy of."""
    sources = [r.name for r in hub.runners_for(Capability.DELIVERY)]
    start = end - SPAN_DAYS * DAY
    kept = cache.load(ctx.folder, sources)
    if kept is not None and (kept.since > start or kept.until > end):
        kept = None  # not enough of it, or from a clock ahead of this one
    since = kept.until - cache.OVERLAP if kept is not None else start
    failures: list[Any] = []
    history = DeliveryHistory()
    # The sources whose rows count though they failed now: those kept from an earlier run.
    counted: set[str] = set(sources) if kept is not None else set()
    if sources:  # what finished at ``end`` too: the windows end with it
        snapshot = await hub.fetch(Topic.delivery(_time(since), _time(end + 1)))
        failures = snapshot_failures(snapshot)
        history = snapshot.data or history
        counted |= snapshot.kept
    deploys, incidents = rows_from_history(history, None)
    if kept is not None:
        deploys = cache.merge(kept.deploys, deploys)
        incidents = cache.merge_incidents(kept.incidents, incidents)
    if not failures:  # a source that failed would leave a gap in what is kept
        saved = cache.save(ctx.folder, sources, cache.Cached(
            kept.since if kept is not None else start, end, deploys, incidents))
        deploys, incidents = saved.deploys, saved.incidents
    # The configured store's trail (the organisation's, on PostgreSQL): every deploy made
    # through idp-tui, by anybody; all of the span (it is not kept with the sources' rows).
    query = HistoryQuery(start=_time(start), end=_time(end + 1))
    answered = answered_by(sources, failures, counted)
    deploys, incidents, failure = await merge_trail(deploys, incidents, ctx.trail, query,
                                                    answered, None, seen)
    if failure is not None:  # the sources' history still counts
        ctx.out.warn(failure.message, hint=failure.hint)
    return deploys, incidents, failures, answered


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# Text ---------------------------------------------------------------------------------------------



def _cell(result: FourKeys, key: str) -> Styled:
    value = result.keys[key]
    text = f"{FORMAT[key](value.value)} {_TREND[value.trend]}".rstrip()
    return Styled(text, _LEVEL_STYLE.get(value.level, "") if value.level else "")


def _say_coverage(ctx: Context, results: list[FourKeys], coverage: cov.Coverage,
                  services_of: dict[str, list[str]]) -> None:
    """Below the table: why a "–" row has no value, and what a team's counting left out."""
    said: list[str] = []
    for r in results:
        why = coverage.why_unknown(r.scope, r.name, services_of[r.name])
        if why is not None:
            said.append(f"– {_named(r)}: not known: {why}")
            continue
        left_out = cov.partly(coverage, r.scope, services_of[r.name])
        if left_out is not None:
            said.append(f"{_named(r)} {left_out}")
    if not said:
        return
    ctx.out.line()
    for text in said[:cov.MAX_NAMED]:
        ctx.out.line(cell(text, 600))
    if len(said) > cov.MAX_NAMED:
        ctx.out.line(f"… and {len(said) - cov.MAX_NAMED} more without delivery history")


def _named(result: FourKeys) -> str:
    return "the organisation" if result.scope == "organisation" else \
        f"{result.scope} {result.name}"


def _print(ctx: Context, results: list[FourKeys], days: int, now: datetime) -> None:
    out = ctx.out
    rows = []
    for r in results:
        level = r.level.value if r.level else "–"
        rows.append([r.scope, r.name, _cell(r, DEPLOYMENT_FREQUENCY), _cell(r, LEAD_TIME),
                     _cell(r, CHANGE_FAILURE_RATE), _cell(r, TIME_TO_RESTORE),
                     Styled(level, _LEVEL_STYLE.get(r.level, "") if r.level else ""),
                     # (a row not known counted nothing: "–", not 0)
                     "–" if r.keys[DEPLOYMENT_FREQUENCY].value is None
                     else len(r.keys[CHANGE_FAILURE_RATE].evidence)])
    out.table(["SCOPE", "NAME", "DEPLOYS", "LEAD TIME", "CHANGE FAIL", "RESTORE", "LEVEL",
               "COUNTED"], rows)
    out.line()
    out.line(f"last {days} days to {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC; ↑ better, ↓ worse "
             "than the period before; --json --evidence lists the deployments counted")
    if ctx.args.evidence:
        for r in results:
            value = r.keys[CHANGE_FAILURE_RATE]
            out.line()
            out.line(f"{r.scope} {r.name}: {len(value.evidence)} deployments to production")
            for deploy_id in value.evidence:
                reason = value.reasons.get(deploy_id)
                out.line(f"  {deploy_id}{f'  ({reason})' if reason else ''}")
