"""What the services cost: resources times the ``[cost]`` prices, per service, team and environment.

A deployment is charged, per resource, the larger of what its instances request (``replicas ×
Deployment.cpu_request`` cores, ``× memory_request`` bytes) and what they use on average over the
metrics window (the CPU and memory signals, where a metrics source gives them): what is reserved
cannot be used by others, what is used beyond it is used all the same (OpenCost allocates the
same way). A deployment whose source tells neither requests nor use costs nothing known and is
left out. Prices are per core-hour and GiB-hour; a month is 730 hours. Textual-free, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..api.kinds import Signal, Window
from ..api.models import Deployment, MetricSeries, Service, metrics_step
from .settings import AdvisorConfig, CostConfig

__all__ = [
    "GIB", "HOURS_PER_MONTH", "USAGE_REFRESH", "USAGE_WINDOW", "CostLine", "Total", "Usage",
    "cost_lines", "hourly", "money", "requested", "totals", "usage_candidates", "usage_of",
    "usage_step",
]

GIB = float(2**30)
#: Hours in an average month (365 × 24 / 12).
HOURS_PER_MONTH = 730.0
#: The window of CPU and memory use the cost and capacity rules read (the longest a metrics
#: source is asked for).
USAGE_WINDOW = Window.H24
#: How often the advisor in the dashboard asks for that use again.
USAGE_REFRESH = timedelta(minutes=15)


def usage_step() -> float:
    return metrics_step(USAGE_WINDOW)


def hourly(cpu_cores: float, memory_bytes: float, prices: CostConfig) -> float:
    """The price of ``cpu_cores`` and ``memory_bytes`` for one hour."""
    return cpu_cores * prices.cpu_per_core_hour + memory_bytes / GIB * prices.memory_per_gib_hour


def money(amount: float, currency: str) -> str:
    """``12.34 USD`` (whole units from 1,000 up)."""
    return f"{amount:,.0f} {currency}" if abs(amount) >= 1000 else f"{amount:,.2f} {currency}"


@dataclass(frozen=True)
class Usage:
    """What one deployment's instances used over the window (all instances together)."""

    cpu_mean: float | None = None
    cpu_peak: float | None = None
    memory_mean: float | None = None
    memory_peak: float | None = None
    #: The request rate's points (the capacity rule's trend).
    rate: tuple[tuple[float, float], ...] = ()
    start: datetime | None = None
    end: datetime | None = None


def _finite(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    isfinite = math.isfinite
    return [p for p in points if isfinite(p[1])]


def usage_of(series: Iterable[MetricSeries]) -> Usage | None:
    """The means and peaks of a deployment's CPU and memory series (None without either)."""
    found: dict[Signal, list[tuple[float, float]]] = {}
    for s in series:
        points = _finite(s.points)
        if points:
            found[s.signal] = points
    cpu, memory = found.get(Signal.CPU), found.get(Signal.MEMORY)
    if not cpu and not memory:
        return None
    # Per series: its values' mean and peak, its first and last time.
    summary: dict[Signal, tuple[float, float]] = {}
    starts: list[float] = []
    ends: list[float] = []
    for signal, points in ((Signal.CPU, cpu), (Signal.MEMORY, memory)):
        if points:
            values = [p[1] for p in points]
            times = [p[0] for p in points]
            summary[signal] = (sum(values) / len(values), max(values))
            starts.append(min(times))
            ends.append(max(times))
    cpu_mean, cpu_peak = summary.get(Signal.CPU, (None, None))
    memory_mean, memory_peak = summary.get(Signal.MEMORY, (None, None))
    return Usage(cpu_mean=cpu_mean, cpu_peak=cpu_peak, memory_mean=memory_mean,
                 memory_peak=memory_peak, rate=tuple(found.get(Signal.REQUEST_RATE, ())),
                 start=datetime.fromtimestamp(min(starts), UTC),
                 end=datetime.fromtimestamp(max(ends), UTC))


@dataclass(frozen=True)
class CostLine:
    """The cost of one service in one environment."""

    service: str
    team: str
    environment: str
    replicas: int | None
    #: What is charged: cores and bytes (the larger of requested and used, each).
    cpu_cores: float
    memory_bytes: float
    #: "requests", "use" or "requests and use": what the charge came from.
    basis: str
    hourly: float

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH


def requested(dep: Deployment) -> tuple[float | None, float | None]:
    """The cores and bytes all of ``dep``'s instances request (None where not told)."""
    replicas = dep.replicas_desired
    if replicas is None:
        return None, None
    cpu = dep.cpu_request * replicas if dep.cpu_request is not None else None
    memory = dep.memory_request * replicas if dep.memory_request is not None else None
    return cpu, memory


def _charged(wanted: float | None, used: float | None) -> float:
    return max(v for v in (wanted, used, 0.0) if v is not None)


def cost_lines(deployments: Mapping[tuple[str, str], Deployment] | None,
               services: Mapping[str, Service] | None,
               usage: Mapping[tuple[str, str], Usage], prices: CostConfig) -> list[CostLine]:
    """One line per deployment whose requests or use are known, the most expensive first."""
    lines: list[CostLine] = []
    for (service, environment), dep in (deployments or {}).items():
        cpu_req, mem_req = requested(dep)
        used = usage.get((service, environment))
        cpu_use = used.cpu_mean if used else None
        mem_use = used.memory_mean if used else None
        if cpu_req is None and mem_req is None and cpu_use is None and mem_use is None:
            continue
        has_req = cpu_req is not None or mem_req is not None
        has_use = cpu_use is not None or mem_use is not None
        basis = "requests and use" if has_req and has_use else ("requests" if has_req else "use")
        cpu, memory = _charged(cpu_req, cpu_use), _charged(mem_req, mem_use)
        record = (services or {}).get(service)
        team = (record.owner if record else "") or "(no owner)"
        lines.append(CostLine(service=service, team=team, environment=environment,
                              replicas=dep.replicas_desired, cpu_cores=cpu,
                              memory_bytes=memory, basis=basis,
                              hourly=hourly(cpu, memory, prices)))
    lines.sort(key=lambda line: (-line.hourly, line.service, line.environment))
    return lines


@dataclass(frozen=True)
class Total:
    """The cost of a group of lines (a service, a team, an environment)."""

    name: str
    hourly: float
    cpu_cores: float
    memory_bytes: float
    deployments: int

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH


def totals(lines: Iterable[CostLine], by: str) -> list[Total]:
    """The lines summed by ``by`` ("service", "team" or "environment"), the largest first."""
    if by not in ("service", "team", "environment"):
        raise ValueError(f"cannot total by {by!r}")
    sums: dict[str, list[float]] = {}
    for line in lines:
        acc = sums.setdefault(getattr(line, by), [0.0, 0.0, 0.0, 0])
        acc[0] += line.hourly
        acc[1] += line.cpu_cores
        acc[2] += line.memory_bytes
        acc[3] += 1
    made = [Total(name, h, c, m, int(n)) for name, (h, c, m, n) in sums.items()]
    made.sort(key=lambda t: (-t.hourly, t.name))
    return made


def usage_candidates(deployments: Mapping[tuple[str, str], Deployment] | None,
                     settings: AdvisorConfig) -> list[tuple[str, str]]:
    """The deployments whose use is asked (running, with requests or limits known), those whose
    requests cost the most first, at most ``max_usage_queries``."""
    ranked: list[tuple[float, str, str]] = []
    for (service, environment), dep in (deployments or {}).items():
        if not dep.replicas_desired:
            continue
        cpu, memory = requested(dep)
        if cpu is None and memory is None and dep.cpu_limit is None and dep.memory_limit is None:
            continue
        ranked.append((-hourly(cpu or 0.0, memory or 0.0, settings.prices), service, environment))
    ranked.sort()
    return [(s, e) for _, s, e in ranked[: settings.max_usage_queries]]
