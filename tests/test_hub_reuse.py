"""What the hub keeps from one refresh to the next (``hub/reuse.py``), and whom it asks for one
service's runs.

- A topic whose sources answer as before (the same records, or equal new ones) is handed over
  with the same data object (subscribers, the advisor among them, know by identity that nothing
  changed); a changed answer is joined again, its unchanged records stamped once.
- A record the source stamped with its own name is not copied.
- The catalog record a metrics query's annotations come from follows a changed catalog.
- ``Topic.pipelines(service)`` goes to the sources that may know the service, and to every
  source without a catalog (a CI system) that does not declare it owns others.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import T0
from fakes import context

from idp_tui import (
    Capability,
    Deployment,
    Environment,
    ManualClock,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    Service,
    Signal,
    Source,
    SourceConfig,
    Window,
)
from idp_tui.api.kinds import RunStatus
from idp_tui.hub import Hub, SourceRunner, Topic


class HeldConfig(SourceConfig):
    names: list[str] = []
    #: Hand over new (equal) records each time, as a source reading an API does.
    fresh: bool = False
    #: Stamp the deployments with this name itself.
    stamp: str = ""


class Held(Source):
    """A catalog, a platform and runs of its services, kept and handed over again."""

    Config = HeldConfig
    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                              Capability.METRICS})
    config: HeldConfig

    def __init__(self, config: HeldConfig, ctx: object) -> None:
        super().__init__(config, ctx)  # type: ignore[arg-type]
        self.catalog = [Service(name=n, owner="team-a", annotations={"repo": f"org/{n}"})
                        for n in config.names]
        self.deps = [Deployment(service=n, environment=e, version="1.0.0", source=config.stamp)
                     for n in config.names for e in ("staging", "production")]
        self.asked_runs: list[str | None] = []
        self.asked_metrics: list[dict[str, str]] = []

    def _out(self, records: list) -> list:
        return [r.model_copy() for r in records] if self.config.fresh else list(records)

    async def services(self) -> list[Service]:
        return self._out(self.catalog)

    async def environments(self) -> list[Environment]:
        return [Environment(name="staging", order=0), Environment(name="production", order=1)]

    async def deployments(self) -> list[Deployment]:
        return self._out(self.deps)

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        self.asked_runs.append(query.service)
        return [PipelineRun(id=f"{n}-1", service=n, status=RunStatus.SUCCEEDED, started_at=T0)
                for n in self.config.names if query.service in (None, n)]

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        self.asked_metrics.append(dict(query.annotations))
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s", points=((0.0, 1.0),))]


class CiConfig(SourceConfig):
    deployed: list[str] = []


class Ci(Source):
    """A CI system with deployments of its own (like GitHub's): they list only what it deploys,
    not every service it builds."""

    Config = CiConfig
    capabilities = frozenset({Capability.PIPELINES, Capability.ENVIRONMENTS})
    config: CiConfig

    def __init__(self, config: CiConfig, ctx: object) -> None:
        super().__init__(config, ctx)  # type: ignore[arg-type]
        self.asked_runs: list[str | None] = []

    async def environments(self) -> list[Environment]:
        return [Environment(name="production", order=0)]

    async def deployments(self) -> list[Deployment]:
        return [Deployment(service=n, environment="production", version="2.0.0")
                for n in self.config.deployed]

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        self.asked_runs.append(query.service)
        return []


@pytest.fixture
async def hubs(tmp_path: Path, clock: ManualClock):
    made: list[Hub] = []

    def make(*runners: SourceRunner) -> Hub:
        hub = Hub(list(runners), clock=clock)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        await hub.close()


def held(name: str, tmp: Path, clock: ManualClock, **settings: object) -> SourceRunner:
    source = Held(HeldConfig(**settings), context(name, tmp, clock))
    return SourceRunner(name, "test-held", source, 30.0)


@pytest.mark.parametrize("fresh", [False, True], ids=["same records", "equal new records"])
async def test_an_unchanged_platform_is_the_same_data_and_a_change_is_joined_again(
        hubs, tmp_path: Path, clock: ManualClock, fresh: bool) -> None:
    a = held("a", tmp_path, clock, names=["a1", "a2"], fresh=fresh)
    b = held("b", tmp_path, clock, names=["b1"], fresh=fresh)
    hub = hubs(a, b)
    first = await hub.fetch(Topic.environments())
    assert sorted(first.data.deployments) == [("a1", "production"), ("a1", "staging"),
                                              ("a2", "production"), ("a2", "staging"),
                                              ("b1", "production"), ("b1", "staging")]
    assert {k: d.source for k, d in first.data.deployments.items()} == {
        k: k[0][0] for k in first.data.deployments}

    again = await hub.fetch(Topic.environments())
    assert again is not first and again.data is first.data

    # One deployment changes: joined again, the others the records stamped before.
    source = a.source
    source.deps[0] = source.deps[0].model_copy(update={"version": "1.1.0"})  # a1 staging
    changed = await hub.fetch(Topic.environments())
    assert changed.data is not first.data
    new = changed.data.deployments[("a1", "staging")]
    assert (new.version, new.source) == ("1.1.0", "a")
    for key, dep in changed.data.deployments.items():
        if key != ("a1", "staging"):
            assert dep is first.data.deployments[key]

    # The catalog too (stamped with its source in ``sources``).
    catalog = await hub.fetch(Topic.catalog())
    assert [(s.name, s.sources) for s in catalog.data] == [
        ("a1", ("a",)), ("a2", ("a",)), ("b1", ("b",))]
    assert (await hub.fetch(Topic.catalog())).data is catalog.data


async def test_a_deployment_the_source_stamped_itself_is_not_copied(
        hubs, tmp_path: Path, clock: ManualClock) -> None:
    a = held("a", tmp_path, clock, names=["a1"], stamp="a")
    b = held("b", tmp_path, clock, names=["b1"], stamp="someone-else")
    hub = hubs(a, b)
    platform = (await hub.fetch(Topic.environments())).data
    assert platform.deployments[("a1", "staging")] is a.source.deps[0]
    restamped = platform.deployments[("b1", "staging")]
    assert restamped is not b.source.deps[0] and restamped.source == "b"


async def test_a_metrics_query_carries_the_annotations_of_the_catalog_as_it_is_now(
        hubs, tmp_path: Path, clock: ManualClock) -> None:
    a = held("a", tmp_path, clock, names=["a1", "a2"])
    hub = hubs(a)
    await hub.fetch(Topic.catalog())
    topic = Topic.metrics("a2", "production", Window.H1, 60.0)
    await hub.fetch(topic)
    a.source.catalog[1] = a.source.catalog[1].model_copy(update={"annotations": {"repo": "x/y"}})
    await hub.fetch(Topic.catalog())
    await hub.fetch(topic)
    assert a.source.asked_metrics == [{"repo": "org/a2"}, {"repo": "x/y"}]


async def test_a_services_runs_go_to_the_sources_that_may_know_it_and_to_ci_systems(
        hubs, tmp_path: Path, clock: ManualClock) -> None:
    a = held("a", tmp_path, clock, names=["a1"])
    b = held("b", tmp_path, clock, names=["b1"])
    ci = SourceRunner("ci", "test-ci", Ci(CiConfig(deployed=["b1"]), context("ci", tmp_path,
                                                                             clock)), 30.0)
    team = SourceRunner("team-ci", "test-ci", Ci(CiConfig(), context("team-ci", tmp_path, clock)),
                        30.0, owns=("b*",))
    hub = hubs(a, b, ci, team)
    await hub.fetch(Topic.catalog())
    await hub.fetch(Topic.environments())

    def asked() -> dict[str, list[str | None]]:
        out = {r.name: list(r.source.asked_runs) for r in (a, b, ci, team)}
        for r in (a, b, ci, team):
            r.source.asked_runs.clear()
        return out

    # a1: the source listing it, and the CI system (its deployments do not list a1); not b, not
    # the CI system that owns only b*.
    runs = await hub.fetch(Topic.pipelines("a1", 10))
    assert [r.id for r in runs.data] == ["a1-1"] and not runs.errors
    assert asked() == {"a": ["a1"], "b": [], "ci": ["a1"], "team-ci": []}
    await hub.fetch(Topic.pipelines("b1", 10))
    assert asked() == {"a": [], "b": ["b1"], "ci": ["b1"], "team-ci": ["b1"]}
    # A service nobody lists (new, or misspelt): every source says for itself.
    await hub.fetch(Topic.pipelines("nobody", 10))
    assert asked() == {"a": ["nobody"], "b": ["nobody"], "ci": ["nobody"], "team-ci": []}
    # Every service's runs: every source.
    await hub.fetch(Topic.pipelines())
    assert asked() == {"a": [None], "b": [None], "ci": [None], "team-ci": [None]}
