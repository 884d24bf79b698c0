"""The cost and capacity rules: **waste** (requested but unused, as money a month → scale in or
lower the requests) and **capacity** (use near the limits, or traffic growing into them within a
horizon → scale out).

Both read a deployment's requests and limits (``Deployment.cpu_request`` … per instance) and its
CPU, memory and request-rate series over :data:`~.cost.USAGE_WINDOW` (``AdvisorView.usage``),
and price them at OpenCost's node prices where a metrics source gives them
(``AdvisorView.cost_prices``), else at ``[cost]``'s: the evidence says which ("priced by").
The peak is the highest point of the window. The traffic trend is the slope of a line fitted with
a daily cycle to the request rate (the cycle is not growth), judged only on windows within the
working week: over one day of points, Monday's return after a quiet Sunday would read as growth.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any

from ..api.actions import ActionRequest
from ..api.kinds import ActionKind
from ..api.models import Deployment
from .cost import GIB, HOURS_PER_MONTH, Usage, hourly, money, requested, usage_of
from .costview import Prices, prices_of
from .model import Evidence, Figure, Recommendation, Severity, stable_id
from .rules import AdvisorView
from .settings import AdvisorConfig

__all__ = ["CapacityRule", "WasteRule", "growth_per_day", "rule_prices"]

#: The request rate's trend needs points over at least this many hours.
MIN_TREND_HOURS = 12.0
#: ... and rises in each of this many stretches of them (not in one step).
STRETCHES = 6
#: A production deployment whose peak is this share of its limit or more is urgent (high):
#: throttled or killed for memory at the next peak; nearer the threshold it is medium.
AT_LIMIT = 0.98


def rule_prices(view: AdvisorView, settings: AdvisorConfig) -> Prices:
    """The prices the cost and capacity rules price with: OpenCost's node prices where a metrics
    source gave them (``view.cost_prices``), else ``[cost]``'s (in ``[cost]``'s currency)."""
    return prices_of(settings.prices, view.cost_prices)


def _priced(prices: Prices) -> list[Figure]:
    """The evidence's figures of which prices were used."""
    return [Figure(name="priced by", value=prices.by),
            Figure(name="price a core-hour", value=round(prices.cpu_per_core_hour, 6),
                   unit=prices.currency),
            Figure(name="price a GiB-hour", value=round(prices.memory_per_gib_hour, 6),
                   unit=prices.currency)]


def _priced_text(prices: Prices) -> str:
    """``priced by OpenCost node prices of 3 nodes … from prometheus`` or ``priced by [cost] in
    the config``."""
    return f"priced by {prices.source}"


def _scale(rec_id: str, dep: Deployment, replicas: int, reason: str) -> ActionRequest:
    return ActionRequest(id=f"advice-{rec_id.replace(':', '-')}"[:128], kind=ActionKind.SCALE,
                         service=dep.service, environment=dep.environment, replicas=replicas,
                         reason=reason)


def _min_replicas(view: AdvisorView, environment: str) -> int:
    """Production keeps two instances (one may go), other environments one."""
    return 2 if environment in view.production() else 1


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _usages(view: AdvisorView) -> Iterable[tuple[Deployment, Usage]]:
    for key, series in sorted(view.usage.items()):
        dep = (view.deployments or {}).get(key)
        if dep is None or not dep.replicas_desired:
            continue
        usage = _derived(view, "usage", key, series, usage_of)
        if usage is not None:
            yield dep, usage


def _derived(view: AdvisorView, what: str, key: object, part: Any, make: Any) -> Any:
    """``make(part)``, kept in ``view.derived`` while ``part`` is the same object (a day's
    use is asked again every few minutes; the rules run after every refresh)."""
    held = view.derived.get((what, key))
    if held is None or held[0] is not part:
        held = (part, make(part))
        view.derived[(what, key)] = held
    return held[1]


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    """``matrix · x = vector`` by Gaussian elimination with pivoting (None when singular)."""
    n = len(vector)
    rows = [list(matrix[i]) + [vector[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [x - factor * y for x, y in zip(rows[r], rows[col])]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def growth_per_day(rate: tuple[tuple[float, float], ...]) -> tuple[float, float] | None:
    """The request rate's level now and its growth per day: a least-squares fit of a line plus
    a daily cycle (``a + b·days + c·cos + d·sin``), so the cycle is not read as growth. None
    with less than :data:`MIN_TREND_HOURS` of points, with points on a Saturday or Sunday (UTC:
    a day's points cannot tell the week's cycle from growth), or without traffic; no growth
    (0) where the points' scatter does not show it (under three standard errors) or it is one
    step rather than a trend."""
    isfinite = math.isfinite
    points = [p for p in rate if isfinite(p[1])]
    if len(points) < 8 or points[-1][0] - points[0][0] < MIN_TREND_HOURS * 3600:
        return None
    if _on_weekend(points):  # Monday's return after Sunday is no trend
        return None
    # The rows (1, x, cos, sin) as columns, and X'X and X'y as sums of their products (each
    # sum over a column pair at once: this runs for each of the costliest deployments).
    t0, tau = points[0][0], 2 * math.pi
    xs = [(p[0] - t0) / 86400.0 for p in points]
    cs = [math.cos(tau * x) for x in xs]
    ss = [math.sin(tau * x) for x in xs]
    values = [p[1] for p in points]
    ones = [1.0] * len(points)
    columns = (ones, xs, cs, ss)
    xtx = [[sum(map(operator.mul, columns[i], columns[j])) for j in range(4)] for i in range(4)]
    xty = [sum(map(operator.mul, column, values)) for column in columns]
    fit = _solve(xtx, xty)
    if fit is None:
        return None
    a, b = fit[0], fit[1]
    level = a + b * xs[-1]
    if level <= 0:
        return None
    f0, f1, f2, f3 = fit
    residual = sum((v - (f0 + f1 * x + f2 * c + f3 * s)) ** 2
                   for v, x, c, s in zip(values, xs, cs, ss))
    inverse = _solve(xtx, [0.0, 1.0, 0.0, 0.0])
    spread = residual / max(len(points) - 4, 1) * (inverse[1] if inverse else math.inf)
    if b <= 0 or (spread > 0 and b < 3 * math.sqrt(spread)) \
            or _one_step(list(zip(ones, xs, cs, ss)), values, fit):
        return level, 0.0
    return level, b


def _on_weekend(points: list[tuple[float, float]]) -> bool:
    """Whether a point falls on a Saturday or Sunday (UTC): the days from the first point's to
    the last one's are looked at, and the points one by one only when one of those is."""
    first, last = min(p[0] for p in points), max(p[0] for p in points)
    days = range(int(first // 86400), int(last // 86400) + 1)
    if not any(_weekend(day * 86400.0) for day in days):
        return False
    return any(_weekend(p[0]) for p in points)


def _weekend(t: float) -> bool:
    return (int(t // 86400) + 3) % 7 >= 5  # 1 January 1970 was a Thursday


def _one_step(rows: list[tuple[float, ...]], values: list[float], fit: list[float]) -> bool:
    """Whether the rise is one step rather than a trend: the values without the daily cycle, in
    six stretches, rise by more than half of it between two neighbouring stretches."""
    flat = [v - fit[2] * r[2] - fit[3] * r[3] for r, v in zip(rows, values)]
    size = len(flat) / STRETCHES
    means = [sum(part) / len(part) for k in range(STRETCHES)
             if (part := flat[round(k * size):round((k + 1) * size)])]
    rise = means[-1] - means[0]
    steps = [b - a for a, b in zip(means, means[1:])]
    return rise <= 0 or max(steps) > rise / 2


class WasteRule:
    """Resources requested but unused even at the peak, worth money every month → scale in
    (where fewer instances hold the peak) or lower the requests."""

    id = "waste"
    title = "Requested but unused"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        prices = rule_prices(view, settings)
        for dep, usage in _usages(view):
            replicas = dep.replicas_desired or 0
            cpu_req, mem_req = requested(dep)
            cpu_one, mem_one = dep.cpu_request or 0.0, dep.memory_request or 0.0
            cpu_peak, mem_peak = usage.cpu_peak, usage.memory_peak
            unused_cpu = max((cpu_req or 0.0) - cpu_peak, 0.0) if cpu_req and cpu_peak is not None \
                else 0.0
            unused_mem = max((mem_req or 0.0) - mem_peak, 0.0) if mem_req and mem_peak is not None \
                else 0.0
            asked = hourly(cpu_req or 0.0, mem_req or 0.0, prices) * HOURS_PER_MONTH
            wasted = hourly(unused_cpu, unused_mem, prices) * HOURS_PER_MONTH
            if asked <= 0 or wasted < settings.waste_min_monthly \
                    or wasted / asked < settings.waste_min_share:
                continue
            target = settings.target_utilisation
            need = _min_replicas(view, dep.environment)
            if cpu_req and cpu_peak is not None:
                need = max(need, math.ceil(cpu_peak / (cpu_one * target)))
            if mem_req and mem_peak is not None:
                need = max(need, math.ceil(mem_peak / (mem_one * target)))
            rec_id = stable_id(self.id, dep.service, dep.environment)
            remedy = None
            if need < replicas:
                saves = (replicas - need) * hourly(cpu_one, mem_one, prices) * HOURS_PER_MONTH
                if saves < settings.waste_min_monthly:
                    continue
                fix = f"scale in from {replicas} to {need} replicas"
                remedy = _scale(rec_id, dep, need, f"advisor: {fix} (saves "
                                f"{money(saves, prices.currency)} a month)")
            else:  # the instances are too big, not too many
                cpu_to = (cpu_peak or 0.0) / replicas / target
                mem_to = (mem_peak or 0.0) / replicas / target
                less_cpu = cpu_one - cpu_to if cpu_req and cpu_peak is not None else 0.0
                less_mem = mem_one - mem_to if mem_req and mem_peak is not None else 0.0
                saves = hourly(max(less_cpu, 0.0) * replicas, max(less_mem, 0.0) * replicas,
                               prices) * HOURS_PER_MONTH
                parts = ([f"CPU to {cpu_to:.2f} cores"] if less_cpu > 0 else []) + (
                    [f"memory to {_mib(mem_to)}"] if less_mem > 0 else [])
                if not parts or saves < settings.waste_min_monthly:
                    continue
                fix = "lower the requests per instance: " + ", ".join(parts)
            figures = [Figure(name="replicas", value=replicas)]
            if cpu_req:
                figures += [Figure(name="CPU requested", value=round(cpu_req, 3), unit="cores"),
                            Figure(name="CPU peak use", value=round(cpu_peak or 0.0, 3),
                                   unit="cores")]
            if mem_req:
                figures += [Figure(name="memory requested", value=round(mem_req / GIB, 3),
                                   unit="GiB"),
                            Figure(name="memory peak use",
                                   value=round((mem_peak or 0.0) / GIB, 3), unit="GiB")]
            figures += [Figure(name="requests a month", value=round(asked, 2),
                               unit=prices.currency),
                        Figure(name="unused a month", value=round(wasted, 2),
                               unit=prices.currency),
                        Figure(name="saved a month", value=round(saves, 2),
                               unit=prices.currency), *_priced(prices)]
            yield Recommendation(
                id=rec_id, rule=self.id,
                severity=Severity.MEDIUM if saves >= 10 * max(settings.waste_min_monthly, 1.0)
                else Severity.LOW,
                service=dep.service, environment=dep.environment,
                title=f"{dep.service} in {dep.environment}: {_pct(wasted / asked)} of what it "
                      f"requests is unused: {fix} (saves {money(saves, prices.currency)} a month)",
                detail=f"{money(wasted, prices.currency)} a month requested but not used even "
                       f"at the peak of the last {_span(usage)}; {_priced_text(prices)}",
                evidence=Evidence(figures=tuple(figures), start=usage.start, end=usage.end,
                                  source=_source(view, dep)),
                remedy=remedy, monthly_cost=round(saves, 2), currency=prices.currency)


class CapacityRule:
    """CPU or memory use near the limits (else the requests) at the peak, or traffic growing
    into them within ``capacity_horizon_days`` at its current trend → scale out."""

    id = "capacity"
    title = "Capacity"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        prices = rule_prices(view, settings)
        for dep, usage in _usages(view):
            replicas = dep.replicas_desired or 0
            loads: list[tuple[str, float, float, str]] = []  # resource, use share, cap, of what
            cpu_cap = dep.cpu_limit or dep.cpu_request
            mem_cap = dep.memory_limit or dep.memory_request
            if cpu_cap and usage.cpu_peak is not None:
                loads.append(("CPU", usage.cpu_peak / replicas / cpu_cap, cpu_cap,
                              "limit" if dep.cpu_limit else "request"))
            if mem_cap and usage.memory_peak is not None:
                loads.append(("memory", usage.memory_peak / replicas / mem_cap, mem_cap,
                              "limit" if dep.memory_limit else "request"))
            if not loads:
                continue
            resource, share, cap, of = max(loads, key=lambda x: x[1])
            trend = _derived(view, "growth", (dep.service, dep.environment), usage.rate,
                             growth_per_day)
            horizon = settings.capacity_horizon_days
            figures = [Figure(name="replicas", value=replicas),
                       Figure(name=f"{resource} peak use of the {of}", value=round(share, 3),
                              unit="ratio")]
            if share >= settings.capacity_high:
                projected, days = share, 0.0
                why = f"{resource} peaks at {_pct(share)} of its {of}"
            else:
                cpu = next((load for load in loads if load[0] == "CPU"), None)
                if cpu is None or trend is None or trend[1] <= 0:
                    continue
                resource, share, cap, of = cpu  # traffic drives CPU (memory it does not)
                rate_now, per_day = trend
                projected = share * (rate_now + per_day * horizon) / rate_now
                if projected < settings.capacity_high:
                    continue
                days = (settings.capacity_high / share - 1) * rate_now / per_day
                why = (f"traffic grows {per_day / rate_now * 100:.1f}% a day: CPU reaches "
                       f"{_pct(settings.capacity_high)} of its {of} in {days:.0f} days")
                figures = [figures[0], Figure(name=f"CPU peak use of the {of}",
                                              value=round(share, 3), unit="ratio"),
                           Figure(name="request rate now", value=round(rate_now, 3),
                                  unit="req/s"),
                           Figure(name="request rate growth a day", value=round(per_day, 3),
                                  unit="req/s"),
                           Figure(name=f"CPU use of the {of} in {horizon:g} days",
                                  value=round(projected, 3), unit="ratio"),
                           Figure(name="days until the threshold", value=round(days, 1),
                                  unit="days")]
            need = max(replicas + 1, math.ceil(replicas * projected / settings.target_utilisation))
            per_instance = hourly(dep.cpu_request or 0.0, dep.memory_request or 0.0, prices)
            costs = (need - replicas) * per_instance * HOURS_PER_MONTH
            figures += [Figure(name="more a month", value=round(costs, 2),
                               unit=prices.currency), *_priced(prices)]
            rec_id = stable_id(self.id, dep.service, dep.environment)
            production = dep.environment in view.production()
            fix = f"scale out from {replicas} to {need} replicas"
            yield Recommendation(
                id=rec_id, rule=self.id,
                severity=(Severity.HIGH if days == 0 and share >= AT_LIMIT else Severity.MEDIUM)
                if production else Severity.LOW,
                service=dep.service, environment=dep.environment,
                title=f"{dep.service} in {dep.environment}: {why}: {fix}",
                detail=f"{of} per instance: "
                       + (f"{cap:.2f} cores" if resource == "CPU" else _mib(cap))
                       + f"; the peak of the last {_span(usage)}; {_priced_text(prices)}",
                evidence=Evidence(figures=tuple(figures), start=usage.start, end=usage.end,
                                  source=_source(view, dep)),
                remedy=_scale(rec_id, dep, need, f"advisor: {why}"),
                monthly_cost=round(costs, 2), currency=prices.currency)


def _span(usage: Usage) -> str:
    if usage.start is None or usage.end is None:
        return "window"
    hours = (usage.end - usage.start).total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _source(view: AdvisorView, dep: Deployment) -> str:
    """The deployment's source, the metrics sources and the prices' source, each once."""
    prices = view.cost_prices.source if view.cost_prices is not None else ""
    names = [dep.source, *view.sources.get("metrics", "").split(","), prices]
    return ", ".join(dict.fromkeys(n.strip() for n in names if n.strip()))

