"""``idp-tui cost [--team T] [--window 30d] [--json]``: what the services cost over a window, per
service, team and environment, with the total.

A deployment costs, per resource, the larger of what its instances request and what they used on
average over the last day (where a metrics source gives CPU and memory), at the ``[cost]`` prices
(:mod:`idp_tui.advisor.cost`). The window multiplies today's hourly cost: it is what the window
costs at the current requests and use, not a bill of the past.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

from ..advisor.cost import (
    GIB,
    USAGE_WINDOW,
    CostLine,
    Total,
    cost_lines,
    money,
    totals,
    usage_candidates,
    usage_of,
    usage_step,
)
from ..advisor.costview import prices_of
from ..hub import Hub, Topic
from .context import Context
from .output import EXIT_NOT_FOUND, CliError
from .read import _errors_json, finish, snapshot_failures


def cost(ctx: Context) -> int:
    return ctx.run(_cost)


def window_text(window: timedelta) -> str:
    """``30d``, ``12h``, ``90m`` (the largest whole unit)."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _team(wanted: str, teams: set[str]) -> str:
    for name in (wanted, f"team-{wanted}"):
        if name in teams:
            return name
    raise CliError(EXIT_NOT_FOUND, f"no team {wanted!r} owns a service",
                   hint=f"teams: {', '.join(sorted(teams)) or 'none'}")


async def _cost(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    prices, settings = ctx.config.cost, ctx.config.advisor
    hours = args.window.total_seconds() / 3600
    catalog, platform, node_prices = await asyncio.gather(
        hub.fetch(Topic.catalog()), hub.fetch(Topic.environments()),
        hub.fetch(Topic.cost_prices()))
    prices = prices_of(prices, node_prices.data)  # OpenCost's, where Prometheus has them
    failures = snapshot_failures(catalog) + snapshot_failures(platform)
    services = {s.name: s for s in catalog.data or []}
    deployments = dict(platform.data.deployments) if platform.data else {}
    team = None
    if args.team:
        team = _team(args.team, {s.owner or "(no owner)" for s in services.values()})
        deployments = {k: d for k, d in deployments.items()
                       if k[0] in services and (services[k[0]].owner or "(no owner)") == team}
    topics = [Topic.metrics(s, e, USAGE_WINDOW, usage_step())
              for s, e in usage_candidates(deployments, settings)]
    answers = await asyncio.gather(*(hub.fetch(t) for t in topics))
    usage = {}
    for snapshot in answers:
        failures += snapshot_failures(snapshot)
        used = usage_of(snapshot.data or [])
        if used is not None:
            usage[(snapshot.topic.args[0], snapshot.topic.args[1])] = used
    lines = cost_lines(deployments, services, usage, prices)
    by = {what: totals(lines, what) for what in ("service", "team", "environment")}
    total = sum(line.hourly for line in lines) * hours
    if out.json:
        out.emit({"window": window_text(args.window), "hours": round(hours, 3),
                  "currency": prices.currency,
                  "prices": {"cpu_per_core_hour": prices.cpu_per_core_hour,
                             "memory_per_gib_hour": prices.memory_per_gib_hour,
                             "source": prices.source},
                  "team": team, "as_of": ctx.clock.now().astimezone(UTC).isoformat(),
                  "deployments": [_line_json(line, hours) for line in lines],
                  "services": [_total_json(t, hours) for t in by["service"]],
                  "teams": [_total_json(t, hours) for t in by["team"]],
                  "environments": [_total_json(t, hours) for t in by["environment"]],
                  "total": round(total, 2), "errors": _errors_json(failures)})
    else:
        _print(ctx, lines, by, hours, total, prices)
    return finish(ctx, failures, "cost data", answered=bool(deployments))


def _line_json(line: CostLine, hours: float) -> dict[str, Any]:
    return {"service": line.service, "team": line.team, "environment": line.environment,
            "replicas": line.replicas, "cpu_cores": round(line.cpu_cores, 4),
            "memory_gib": round(line.memory_bytes / GIB, 4), "basis": line.basis,
            "hourly": round(line.hourly, 6), "cost": round(line.hourly * hours, 2)}


def _total_json(total: Total, hours: float) -> dict[str, Any]:
    return {"name": total.name, "cpu_cores": round(total.cpu_cores, 4),
            "memory_gib": round(total.memory_bytes / GIB, 4), "deployments": total.deployments,
            "hourly": round(total.hourly, 6), "cost": round(total.hourly * hours, 2)}


def _print(ctx: Context, lines: list[CostLine], by: dict[str, list[Total]], hours: float,
           total: float, prices: Any) -> None:
    out, currency = ctx.out, ctx.config.cost.currency
    window = window_text(ctx.args.window)
    if not lines:
        out.line("no deployment tells its requests or use: nothing to cost")
        return
    for what, title in (("service", "SERVICE"), ("team", "TEAM"), ("environment", "ENV")):
        rows = [[t.name, f"{t.cpu_cores:.2f}", f"{t.memory_bytes / GIB:.2f}", t.deployments,
                 money(t.hourly * hours, currency)] for t in by[what]]
        rows.append(["total", f"{sum(t.cpu_cores for t in by[what]):.2f}",
                     f"{sum(t.memory_bytes for t in by[what]) / GIB:.2f}",
                     sum(t.deployments for t in by[what]), money(total, currency)])
        out.table([title, "CPU (cores)", "MEMORY (GiB)", "DEPLOYMENTS", f"COST ({window})"],
                  rows)
        out.line()
    basis = sorted({line.basis for line in lines})
    out.line(f"{money(total, currency)} over {window} at the current requests and use "
             f"({', '.join(basis)}; {prices.cpu_per_core_hour:g} {currency} a "
             f"core-hour, {prices.memory_per_gib_hour:g} {currency} a GiB-hour: "
             f"{prices.source})")
