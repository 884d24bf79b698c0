"""Declared environments in the hub: records joined under the platform's names, each source asked
under its own name, and a catalog + metrics world (no source with environments) that still has them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0
from fakes import StaticSource, context

from idp_tui import (
    Capability,
    EnvironmentType,
    LogLevel,
    LogLine,
    LogQuery,
    ManualClock,
    MetricSeries,
    MetricsQuery,
    Service,
    Signal,
    Source,
)
from idp_tui.environments import EnvironmentDecl, EnvironmentMap
from idp_tui.hub import Hub, SourceRunner, Topic

DECLARED = EnvironmentMap({
    "dev": EnvironmentDecl(),
    "staging": EnvironmentDecl(),
    "production": EnvironmentDecl(names={"prom": "prod-eu", "static": "prod"}),
})


class Catalog(Source):
    capabilities = frozenset({Capability.CATALOG})

    async def services(self) -> list[Service]:
        return [Service(name="cart", owner="team-cart")]


class Prom(Source):
    """A metrics and logs system that calls production ``prod-eu``."""

    capabilities = frozenset({Capability.METRICS, Capability.LOGS})

    def __init__(self, config: object, ctx: object) -> None:
        super().__init__(config, ctx)  # type: ignore[arg-type]
        self.asked: list[str] = []

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        self.asked.append(query.environment)
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s", points=((0.0, 1.0),))]

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:
        self.asked.append(query.environment)
        make = LogLine.maker(service=query.service, environment=query.environment, instance="a")
        yield [make(T0 + timedelta(seconds=1), LogLevel.INFO, "hello")]


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = ManualClock(T0)
    prom = Prom(Source.Config(), context("prom", tmp_path, clock))
    runners = [SourceRunner("catalog", "test", Catalog(Source.Config(),
                                                       context("catalog", tmp_path, clock)), 30.0),
               SourceRunner("prom", "test", prom, 30.0)]
    hub = Hub(runners, clock=clock, environments=DECLARED)
    yield hub, prom
    await hub.close()


async def test_a_catalog_and_metrics_world_has_the_declared_environments(world) -> None:  # type: ignore[no-untyped-def]
    hub, _prom = world
    snapshot = await hub.fetch(Topic.environments())
    assert snapshot.errors == {}  # no source offers environments, and that is no error
    assert snapshot.data.environment_names() == ["dev", "staging", "production"]
    production = snapshot.data.environments[-1]
    assert production.type is EnvironmentType.PRODUCTION and production.protected


async def test_metrics_and_logs_reach_a_source_under_its_own_name(world) -> None:  # type: ignore[no-untyped-def]
    hub, prom = world
    snapshot = await hub.fetch(Topic.metrics("cart", "production", "15m", 60.0))
    assert snapshot.errors == {} and snapshot.data
    assert prom.asked == ["prod-eu"]

    lines: list[LogLine] = []
    ended = asyncio.Event()
    hub.stream_logs(LogQuery(service="cart", environment="production", follow=False),
                    lambda batch, dropped: lines.extend(batch), lambda failure: None,
                    ended.set)
    await asyncio.wait_for(ended.wait(), 20)
    assert [line.message for line in lines] == ["hello"]
    assert prom.asked == ["prod-eu", "prod-eu"]


async def test_records_a_source_names_its_own_way_are_joined_under_the_platform_names(
        tmp_path: Path) -> None:
    clock = ManualClock(T0)
    static = StaticSource(StaticSource.Config(environments=["dev", "prod", "preview-7"]),
                          context("static", tmp_path, clock))
    hub = Hub([SourceRunner("static", "static", static, 30.0)], clock=clock,
              environments=DECLARED)
    try:
        snapshot = await hub.fetch(Topic.environments())
    finally:
        await hub.close()
    platform = snapshot.data
    assert platform.environment_names() == ["dev", "staging", "production", "preview-7"]
    assert ("alpha", "production") in platform.deployments
    assert ("alpha", "prod") not in platform.deployments
    assert platform.deployments[("alpha", "production")].environment == "production"
