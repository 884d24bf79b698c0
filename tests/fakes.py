"""Small sources for tests: one with fixed data, and ones that fail in each way a plugin can."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from idp_tui import (
    Capability,
    Deployment,
    Environment,
    Health,
    LogLevel,
    LogLine,
    LogQuery,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    RunStatus,
    Service,
    Signal,
    Source,
    SourceConfig,
    SourceContext,
    SourceUnavailable,
)
from idp_tui.config import AppConfig, HubConfig, SourceSpec

ALL = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                 Capability.LOGS, Capability.METRICS})


class StaticConfig(SourceConfig):
    names: list[str] = ["alpha", "beta", "gamma"]
    description: str = "a service"
    log_message: str = "hello"


class StaticSource(Source):
    """Fixed data built from its settings, so tests can inject any text anywhere."""

    Config = StaticConfig
    capabilities = ALL
    config: StaticConfig

    async def services(self) -> list[Service]:
        return [Service(name=n, owner="team-a", tier=1 + i % 3, lifecycle="production",
                        language="python", description=self.config.description)
                for i, n in enumerate(self.config.names)]

    async def environments(self) -> list[Environment]:
        return [Environment(name="dev", order=0), Environment(name="prod", order=1,
                                                                protected=True)]

    async def deployments(self) -> list[Deployment]:
        out = []
        for n in self.config.names:
            out.append(Deployment(service=n, environment="dev", version="1.2.0", replicas_ready=1,
                                  replicas_desired=1, health=Health.HEALTHY))
            out.append(Deployment(service=n, environment="prod", version="1.1.0", replicas_ready=2,
                                  replicas_desired=3, health=Health.DEGRADED))
        return out

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        now = self.context.clock.now()
        runs = [PipelineRun(id=f"{n}-1", service=n, branch="main", commit="abcdef1",
                            status=RunStatus.SUCCEEDED, trigger="push",
                            started_at=now - timedelta(minutes=10),
                            finished_at=now - timedelta(minutes=5), message=self.config.description)
                for n in self.config.names]
        return [r for r in runs if query.service in (None, r.service)][: query.limit]

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        for run in await self.pipeline_runs(PipelineQuery()):
            if run.id == run_id:
                return run
        raise SourceUnavailable(f"no run {run_id}")

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        now = self.context.clock.now()
        for i in range(3):
            yield LogLine(ts=now, service=query.service, environment=query.environment,
                          instance=f"pod-{i}", level=LogLevel.INFO, message=self.config.log_message)
        while query.follow:
            await asyncio.sleep(3600)

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        t0 = self.context.clock.now().timestamp()
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s",
                             points=tuple((t0 - 60 * i, 10.0 + i) for i in range(10, -1, -1)))]


class FailingSource(Source):
    """Raises on every call."""

    capabilities = ALL

    async def services(self) -> list[Service]:
        raise RuntimeError("boom")

    async def environments(self) -> list[Environment]:
        raise SourceUnavailable("connection refused", hint="is it running?")

    async def deployments(self) -> list[Deployment]:
        raise RuntimeError("boom")

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        raise RuntimeError("boom")

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        raise RuntimeError("log boom")
        yield  # pragma: no cover

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        raise RuntimeError("boom")


class HangingSource(Source):
    """Never answers: awaits forever, or blocks its whole thread when ``block`` is set."""

    capabilities = ALL
    release = threading.Event()

    class Config(SourceConfig):
        block: bool = False

    async def _hang(self) -> Any:
        if self.config.block:  # type: ignore[attr-defined]
            self.release.wait(30)  # blocks the source's own loop and thread
        await asyncio.sleep(3600)

    async def services(self) -> list[Service]:
        return await self._hang()

    async def environments(self) -> list[Environment]:
        return await self._hang()

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        return await self._hang()

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        return await self._hang()

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        await self._hang()
        yield  # pragma: no cover


class GarbageSource(Source):
    """Answers with things that are not records."""

    capabilities = ALL

    async def services(self) -> list[Service]:
        return [{"name": 42, "tier": "high"}]  # type: ignore[list-item]

    async def environments(self) -> list[Environment]:
        return "not a list"  # type: ignore[return-value]

    async def deployments(self) -> list[Deployment]:
        return []

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        return [object()]  # type: ignore[list-item]

    async def logs(self, query: LogQuery) -> AsyncIterator[Any]:  # type: ignore[override]
        yield {"not": "a line"}
        yield LogLine(ts=self.context.clock.now(), service=query.service,
                      environment=query.environment, instance="pod-x", message="still here")

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        return [None]  # type: ignore[list-item]


def spec(name: str, cls: type[Source], timeout: float = 5.0, **settings: Any) -> SourceSpec:
    return SourceSpec(name=name, type=name, cls=cls, config=cls.Config(**settings), timeout=timeout)


def app_config(*specs: SourceSpec, **hub: Any) -> AppConfig:
    return AppConfig(path=None, sources=list(specs), hub=HubConfig(**hub))


def context(name: str, tmp: Any, clock: Any) -> SourceContext:
    return SourceContext(name=name, data_dir=tmp, clock=clock)
