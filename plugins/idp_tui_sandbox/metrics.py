"""Golden-signal time series computed point by point from the seed, the time and what was deployed."""

from __future__ import annotations

import math

from idp_tui import SIGNAL_UNITS, Health, MetricSeries, MetricsQuery, Signal

from .fleet import Segment, segment_at
from .rand import units
from .world import ServiceSpec

#: Upper bound of points per series; the step is raised to stay below it.
MAX_POINTS = 1500
#: Traffic of each environment relative to production.
TRAFFIC = {"production": 1.0, "staging": 0.04, "dev": 0.01}
_KNOT = 600.0  # seconds between the knots of the slow noise
_RAMP = 180.0  # seconds for a bad release to reach full effect (rolling update)
_NICE_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)


def load(t: float) -> float:
    """Share of peak traffic at ``t``: lowest at 03:00 UTC, highest at 15:00 UTC, quieter at weekends."""
    days, seconds = divmod(t, 86400.0)
    daily = 0.55 - 0.45 * math.cos(2 * math.pi * (seconds / 3600.0 - 3.0) / 24.0)
    return daily * (0.75 if (int(days) + 3) % 7 >= 5 else 1.0)


def rollout(segment: Segment, t: float) -> float:
    """How far the rollout of a bad release has got at ``t`` (0–1); 0 while a good release runs."""
    if not segment.severity:
        return 0.0
    return min(max((t - segment.rollout_start) / _RAMP, 0.0), 1.0)


class _Noise:
    """Slow smooth noise (interpolated knots) plus per-point jitter, each in [-1, 1]."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._knots: dict[int, tuple[float, ...]] = {}

    def _knot(self, k: int) -> tuple[float, ...]:
        values = self._knots.get(k)
        if values is None:
            values = self._knots[k] = tuple(2 * u - 1 for u in units(f"{self.key}:knot:{k}", 4))
        return values

    def slow(self, t: float) -> tuple[float, ...]:
        k, frac = divmod(t / _KNOT, 1.0)
        a, b = self._knot(int(k)), self._knot(int(k) + 1)
        w = (1 - math.cos(math.pi * frac)) / 2
        return tuple(x + (y - x) * w for x, y in zip(a, b))

    def jitter(self, t: float) -> tuple[float, ...]:
        return tuple(2 * u - 1 for u in units(f"{self.key}:jitter:{t!r}", 7))


def series(seed: int, spec: ServiceSpec, environment: str, replicas: int, segments: list[Segment],
           query: MetricsQuery, now: float) -> list[MetricSeries]:
    window = query.window.delta.total_seconds()
    step = max(query.step, 1.0)
    if window / step > MAX_POINTS:
        step = next((s for s in _NICE_STEPS if window / s <= MAX_POINTS), window / MAX_POINTS)
    count = int(window // step)
    last = math.floor(now / step)
    times = [(last - i) * step for i in range(count - 1, -1, -1)]
    starts = [s.start for s in segments]
    noise = _Noise(f"{seed}:metrics:{spec.name}:{environment}")
    traffic = spec.rps * TRAFFIC.get(environment, 0.005)
    memory_phase = units(f"{seed}:memory-phase:{spec.name}:{environment}")[0] * spec.memory_period
    columns: dict[Signal, list[tuple[float, float]]] = {signal: [] for signal in query.signals}
    for t in times:
        segment = segment_at(segments, starts, t)
        if segment.stopped:  # scaled to zero: nothing runs
            values = dict.fromkeys(columns, 0.0)
            for signal, points in columns.items():
                points.append((t, values[signal]))
            continue
        ramp = rollout(segment, t)
        level = ramp * segment.severity
        n_rate, n_err, n_lat, n_cpu = noise.slow(t)
        j_rate, j_err, j_lat, j95, j99, j_cpu, j_mem = noise.jitter(t)
        current_load = load(t)
        rate = traffic * current_load * (1 + 0.08 * n_rate + 0.03 * j_rate) * (1 + 0.1 * level)
        errors = spec.error_base * (1 + 0.4 * n_err + 0.25 * j_err) + ramp * (0.02 + 0.28 * segment.severity) * (
            1 + 0.1 * j_err)
        p50 = spec.latency_p50 * (0.85 + 0.3 * current_load) * (1 + 0.08 * n_lat + 0.04 * j_lat) * (
            1 + level * 2.0)
        if segment.health is Health.DEGRADED:
            p50 *= 1.5
            errors += 0.01
        elif segment.health is Health.DOWN:
            rate *= 0.02
            errors = 0.9 + 0.05 * j_err
        p95 = p50 * spec.ratio_p95 * (1 + 0.06 * j95) * (1 + 1.2 * level)
        p99 = p95 * spec.ratio_p99 * (1 + 0.08 * j99) * (1 + 1.5 * level)
        cpu = (replicas * spec.cpu_idle + rate * spec.cpu_per_request * (1 + 0.3 * level)) * (
            1 + 0.05 * n_cpu + 0.02 * j_cpu)
        age = (t + memory_phase) % spec.memory_period
        if t - segment.start < age:  # pods restarted by the last rollout
            age = t - segment.start
        memory = replicas * (spec.memory_base + spec.memory_growth * age / spec.memory_period) * (1 + 0.01 * j_mem)
        values = {
            Signal.REQUEST_RATE: rate, Signal.ERROR_RATIO: min(max(errors, 0.0), 1.0),
            Signal.LATENCY_P50: p50, Signal.LATENCY_P95: p95, Signal.LATENCY_P99: p99,
            Signal.CPU: cpu, Signal.MEMORY: memory,
        }
        for signal, points in columns.items():
            points.append((t, values[signal]))
    return [MetricSeries(signal=signal, unit=SIGNAL_UNITS[signal], points=tuple(points))
            for signal, points in columns.items()]
