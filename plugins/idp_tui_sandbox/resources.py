"""What each sandbox instance requests and may use (CPU cores, memory bytes), from the seed.

Most services request their peak use with some headroom; about one in ten requests several
times what it uses (the advisor's waste), and one service's memory limit sits just above its
peak (the advisor's capacity), so a fresh sandbox shows both.
"""

from __future__ import annotations

import math

from .rand import unit, units
from .world import ServiceSpec, World

#: Share of services that request far more than they use.
OVERSIZED = 0.1
_CPU_STEP = 0.05  # cores: requests are whole multiples of 50m
_MEMORY_STEP = 16 * 2**20  # bytes: of 16 MiB


def _up(value: float, step: float) -> float:
    return max(math.ceil(value / step), 1) * step


class Sizing:
    """The requests and limits of one world's instances."""

    def __init__(self, world: World) -> None:
        self.seed = world.seed
        self.world = world
        self._tight: str | None | bool = False

    def oversized(self, service: str) -> bool:
        return unit(f"{self.seed}:sizing:{service}") < OVERSIZED

    def tight(self) -> str | None:
        """The one service whose memory limit is just above its peak (a busy, not oversized one)."""
        if self._tight is False:
            candidates = [s for s in self.world.specs if s.tier <= 2 and s.created is None
                          and not self.oversized(s.name)]
            self._tight = min(candidates, key=lambda s: unit(f"{self.seed}:tight:{s.name}"),
                              default=None).name if candidates else None
        return self._tight  # type: ignore[return-value]

    def of(self, spec: ServiceSpec, environment: str, replicas: int) -> dict[str, float]:
        """``cpu_request``, ``memory_request``, ``cpu_limit``, ``memory_limit`` of one instance."""
        from .metrics import TRAFFIC  # noqa: PLC0415 - metrics imports the fleet, which sizes

        share = max(replicas, 1)
        peak_rate = spec.rps * TRAFFIC.get(environment, 0.005) * 1.12
        cpu_peak = (spec.cpu_idle + peak_rate * spec.cpu_per_request / share) * 1.08
        memory_peak = (spec.memory_base + spec.memory_growth) * 1.01
        f_cpu, f_memory = units(f"{self.seed}:requests:{spec.name}:{environment}", 2)
        if self.oversized(spec.name):
            cpu_factor, memory_factor = 3.0 + 3.0 * f_cpu, 2.5 + 1.5 * f_memory
        else:
            cpu_factor, memory_factor = 1.2 + 0.3 * f_cpu, 1.2 + 0.3 * f_memory
        cpu = _up(cpu_peak * cpu_factor, _CPU_STEP)
        memory = _up(memory_peak * memory_factor, _MEMORY_STEP)
        memory_limit = _up(memory * 1.5, _MEMORY_STEP)
        if spec.name == self.tight() and environment == "production":
            memory = memory_limit = _up(memory_peak / 0.94, 2**20)
        return {"cpu_request": cpu, "memory_request": memory, "cpu_limit": cpu * 2,
                "memory_limit": memory_limit}
