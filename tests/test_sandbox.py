"""The bundled sandbox source: a simulated organisation driven by a seed and a clock."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import pytest
from pydantic import ValidationError

from idp_tui import (
    SIGNAL_UNITS,
    Capability,
    EnvironmentKind,
    Health,
    LogLevel,
    LogLine,
    LogQuery,
    ManualClock,
    MetricsQuery,
    PipelineQuery,
    RunStatus,
    Signal,
    SourceContext,
    SourceNotFound,
    Window,
)
from idp_tui_sandbox import SandboxConfig, SandboxSource
from idp_tui_sandbox.preview_state import SEEDED_SERVICES

from conftest import T0

REFERENCE = T0  # the sandbox sources' clock in `make` (conftest)
ENVIRONMENTS = ("dev", "staging", "production")
#: A fresh sandbox's preview environments (one about to expire, one idle) and their deployments.
PREVIEWS = ("pr-3756", "pr-9870")
PREVIEW_DEPLOYMENTS = len(PREVIEWS) * SEEDED_SERVICES


async def collect(source: SandboxSource, query: LogQuery) -> list:
    return [line async for batch in source.logs(query) for line in batch]


def semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# Plugin surface ------------------------------------------------------------------------------------
def test_registered_as_entry_point():
    (entry,) = [e for e in entry_points(group="idp_tui.sources") if e.name == "sandbox"]
    assert entry.load() is SandboxSource
    assert SandboxSource.Config is SandboxConfig
    assert SandboxSource.description
    assert SandboxSource.capabilities == {Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                                          Capability.LOGS, Capability.METRICS, Capability.ACTIONS,
                                          Capability.PROVISION, Capability.INSTANCES,
                                          Capability.DELIVERY}


@pytest.mark.parametrize("settings", [{"services": 0}, {"services": 20001}, {"log_interval": 0},
                                      {"unknown": 1}])
def test_config_rejects_bad_settings(settings):
    with pytest.raises(ValidationError):
        SandboxConfig(**settings)


async def test_default_database_lives_in_data_dir(tmp_path):
    source = SandboxSource(SandboxConfig(), SourceContext(name="sandbox", data_dir=tmp_path / "data",
                                                          clock=ManualClock(REFERENCE)))
    await source.start()
    try:
        assert (tmp_path / "data" / "sandbox.sqlite3").is_file()
        assert len(await source.deployments()) == 120 + PREVIEW_DEPLOYMENTS
    finally:
        await source.close()


@pytest.mark.parametrize("damage", ["garbage", "directory"])
async def test_a_database_that_cannot_be_used_is_named_and_left_alone(tmp_path, damage):
    from idp_tui import SourceError

    path = tmp_path / "sandbox.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"not a database at all" * 1000)
    else:
        path.mkdir()
    before = path.read_bytes() if path.is_file() else None
    source = SandboxSource(SandboxConfig(database=str(path)),
                           SourceContext(name="sandbox", data_dir=tmp_path,
                                         clock=ManualClock(REFERENCE)))
    with pytest.raises(SourceError) as info:
        await source.start()
    assert info.value.message.startswith(f"cannot use the sandbox's database {path}: ")
    assert "starts afresh" in (info.value.hint or "")
    if before is not None:
        assert path.read_bytes() == before  # nothing lost: the file is as it was


async def test_in_memory_database(make):
    source = await make(database=":memory:")
    assert len(await source.deployments()) == 120 + PREVIEW_DEPLOYMENTS


# Catalog -------------------------------------------------------------------------------------------
async def test_catalog_has_forty_services_in_six_teams(make):
    source = await make()
    services = await source.services()
    names = [s.name for s in services]
    assert len(services) == 40 and len(set(names)) == 40
    assert {s.owner for s in services} == {"team-payments", "team-checkout", "team-identity", "team-search",
                                          "team-platform", "team-data"}
    assert "payments-api" in names
    by_name = {s.name: s for s in services}
    for service in services:
        assert service.tier in (1, 2, 3)
        assert service.lifecycle in ("production", "experimental", "deprecated")
        assert service.language in ("go", "python", "java", "kotlin", "typescript", "rust")
        assert service.description.endswith(".")
        assert service.on_call and service.system and service.tags
        team = service.owner.removeprefix("team-")
        links = {link.kind: link.url for link in service.links}
        assert links["repo"] == f"https://git.example.com/{team}/{service.name}"
        assert set(links) == {"repo", "runbook", "dashboard"}
        assert service.annotations["backstage.io/kubernetes-id"] == service.name
        # Its repositories are not on GitHub: nothing for a github source beside it to ask.
        assert "github.com/project-slug" not in service.annotations
        assert all(dep in by_name and dep != service.name for dep in service.depends_on)
        provided = {api for dep in service.depends_on for api in by_name[dep].provides_apis}
        assert set(service.consumes_apis) <= provided
        assert all(re.fullmatch(r"[a-z-]+-v\d", api) for api in service.provides_apis)
    assert Counter(s.lifecycle for s in services)["production"] > 30
    assert sum(bool(s.depends_on) for s in services) > 25


async def test_dependencies_are_acyclic(make):
    services = {s.name: s.depends_on for s in await (await make(services=300)).services()}
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, f"cycle through {name}"
        if name in done:
            return
        visiting.add(name)
        for dep in services[name]:
            visit(dep)
        visiting.discard(name)
        done.add(name)

    for name in services:
        visit(name)


async def test_names_beyond_the_curated_list_are_generated_and_unique(make):
    services = await (await make(services=120)).services()
    names = [s.name for s in services]
    assert len(set(names)) == 120
    generated = [n for n in names if re.fullmatch(r"[a-z]+-[a-z]+-\d+", n)]
    assert len(generated) == 120 - 45


async def test_ten_thousand_services_are_distinct_and_deployed(make):
    # How fast this is measured by benchmarks/fuzzy_filter.py, not here.
    source = await make(services=10_000)
    services = await source.services()
    assert len({s.name for s in services}) == 10_000
    assert len(await source.deployments()) == 30_000 + PREVIEW_DEPLOYMENTS
    assert len(await source.pipeline_runs(PipelineQuery(limit=50))) == 50


# Determinism ---------------------------------------------------------------------------------------
async def snapshot(source: SandboxSource) -> dict:
    service = "payments-api"
    return {
        "services": await source.services(),
        "environments": await source.environments(),
        "deployments": await source.deployments(),
        "runs": await source.pipeline_runs(PipelineQuery(limit=60)),
        "run": await source.pipeline_run((await source.pipeline_runs(PipelineQuery(service=service)))[0].id),
        "logs": await collect(source, LogQuery(service=service, environment="production", tail=150,
                                               follow=False)),
        "metrics": await source.metrics(MetricsQuery(service=service, environment="production")),
    }


async def test_same_seed_and_time_give_identical_output(make):
    first, second = await make(), await make()
    assert await snapshot(first) == await snapshot(second)


async def test_another_seed_gives_another_organisation(make):
    first, other = await make(), await make(seed=8)
    a, b = await snapshot(first), await snapshot(other)
    static = [[e for e in envs if e.kind is EnvironmentKind.STATIC]
              for envs in (a.pop("environments"), b.pop("environments"))]
    assert static[0] == static[1] and len(static[0]) == 3
    for key in a:
        assert a[key] != b[key], key


# Environments and deployments ----------------------------------------------------------------------
async def test_environments(make):
    environments = await (await make()).environments()
    assert [(e.name, e.order, e.protected) for e in environments] == [
        ("dev", 0, False), ("staging", 1, False), ("production", 2, True),
        *((name, 3, False) for name in PREVIEWS)]
    assert all(e.kind is EnvironmentKind.STATIC and e.expires_at is None
               for e in environments[:3])
    # The previews a fresh sandbox starts with: one expires in 4 hours, one in 5 days.
    assert all(e.kind is EnvironmentKind.PREVIEW for e in environments[3:])
    assert {e.name: e.expires_at - REFERENCE for e in environments[3:]} == {
        "pr-9870": timedelta(hours=4), "pr-3756": timedelta(hours=116)}


async def test_a_fresh_sandbox_starts_with_an_expiring_and_an_idle_preview(make):
    source = await make()
    deployments = [d for d in await source.deployments() if d.environment in PREVIEWS]
    by_env: dict[str, list] = {}
    for d in deployments:
        by_env.setdefault(d.environment, []).append(d)
    assert {env: len(deps) for env, deps in by_env.items()} == {
        env: SEEDED_SERVICES for env in PREVIEWS}
    for d in deployments:  # as provisioning makes them: one instance of a healthy release
        assert (d.replicas_desired, d.replicas_ready, d.health) == (1, 1, Health.HEALTHY)
    # The idle one has had no deployment for two days; the other one was made 20 hours ago.
    assert max(d.updated_at for d in by_env["pr-3756"]) < REFERENCE - timedelta(hours=48)
    assert max(d.updated_at for d in by_env["pr-9870"]) > REFERENCE - timedelta(hours=20)
    resources = {(r.kind, r.name): r for r in await source.resources()}
    for name in PREVIEWS:
        resource = resources["environment", name]
        assert resource.environment == name and resource.details["namespace"] == f"preview-{name}"
        assert resource.details["services"] == ", ".join(sorted(d.service for d in by_env[name]))


async def test_preview_environment_expires(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    source._add_environment("pr-1234", expires_at=REFERENCE + timedelta(hours=1))
    preview = next(e for e in await source.environments() if e.name == "pr-1234")
    assert (preview.name, preview.kind) == ("pr-1234", EnvironmentKind.PREVIEW)
    source._set_deployment("cart-service", "pr-1234", "2.0.0-pr.1234", replicas=1)
    assert "pr-1234" in {d.environment for d in await source.deployments()}
    lines = await collect(source, LogQuery(service="cart-service", environment="pr-1234", tail=5, follow=False))
    assert lines and all(line.environment == "pr-1234" for line in lines)
    clock.advance(timedelta(hours=2))
    assert [e.name for e in await source.environments()] == [*ENVIRONMENTS, *PREVIEWS]
    assert "pr-1234" not in {d.environment for d in await source.deployments()}
    with pytest.raises(SourceNotFound):
        await collect(source, LogQuery(service="cart-service", environment="pr-1234", follow=False))


async def test_every_service_is_deployed_everywhere(make):
    source = await make()
    deployments = [d for d in await source.deployments() if d.environment in ENVIRONMENTS]
    assert {(d.service, d.environment) for d in deployments} == {
        (s.name, env) for s in await source.services() for env in ENVIRONMENTS}
    for d in deployments:
        assert re.fullmatch(r"\d+\.\d+\.\d+", d.version)
        assert d.updated_at is not None and d.updated_at <= REFERENCE
        expected = {"dev": range(1, 2), "staging": range(2, 3), "production": range(3, 7)}[d.environment]
        assert d.replicas_desired in expected
        assert 0 <= d.replicas_ready <= d.replicas_desired
        assert (d.health is Health.HEALTHY) == (d.message == "")


async def test_versions_drift_but_mostly_flow_dev_to_production(make):
    deployments = await (await make()).deployments()
    versions = {(d.service, d.environment): semver(d.version) for d in deployments}
    services = {d.service for d in deployments}
    prod_behind = [s for s in services if versions[s, "production"] < versions[s, "staging"]]
    staging_behind = [s for s in services if versions[s, "staging"] < versions[s, "production"]]
    monotone = [s for s in services
                if versions[s, "dev"] >= versions[s, "staging"] >= versions[s, "production"]]
    assert len(prod_behind) >= 5
    assert len(staging_behind) <= 4
    assert len(monotone) >= 32


async def test_some_deployments_are_unhealthy(make):
    source = await make()
    troubled = [d for d in await source.deployments() if d.health is not Health.HEALTHY]
    assert 2 <= len(troubled) <= 10
    assert any(d.health is Health.DOWN and d.replicas_ready == 0 for d in troubled)


async def test_a_production_incident_is_seeded(make):
    source = await make()
    service = source._incident_service()
    prod = next(d for d in await source.deployments() if (d.service, d.environment) == (service, "production"))
    assert prod.health is Health.DEGRADED
    assert prod.version in prod.message
    assert prod.updated_at == REFERENCE - timedelta(minutes=40)
    spec = next(s for s in await source.services() if s.name == service)
    assert spec.tier == 1


async def test_dev_runs_the_latest_succeeded_release(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    for _ in range(2):
        deployments = {d.service: d for d in await source.deployments() if d.environment == "dev"}
        for service in ("payments-api", "ledger-service", "cart-service", "auth-gateway"):
            runs = await source.pipeline_runs(PipelineQuery(service=service))
            release = next(r for r in runs if r.pipeline == "release" and r.status is RunStatus.SUCCEEDED)
            assert deployments[service].version == release.version
            assert deployments[service].updated_at == release.finished_at
        clock.advance(timedelta(hours=9))


async def test_deployments_persist_across_restarts(make):
    clock = ManualClock(REFERENCE)
    source = await make(db="state.db", clock=clock)
    source._set_deployment("payments-api", "production", "9.9.9", updated_at=REFERENCE)
    await source.close()
    clock.advance(timedelta(days=1))
    reopened = await make(db="state.db", clock=clock)
    prod = next(d for d in await reopened.deployments()
                if (d.service, d.environment) == ("payments-api", "production"))
    assert (prod.version, prod.updated_at, prod.health) == ("9.9.9", REFERENCE, Health.HEALTHY)
    await reopened.close()
    reseeded = await make(db="state.db", seed=8, clock=clock)
    assert "9.9.9" not in {d.version for d in await reseeded.deployments()}
    await reseeded.close()
    resized = await make(db="state.db", seed=8, services=30, clock=clock)
    assert len(await resized.deployments()) == 90 + PREVIEW_DEPLOYMENTS


async def test_set_deployment_rejects_unknown_targets(make):
    source = await make()
    with pytest.raises(SourceNotFound):
        source._set_deployment("nope", "production", "1.0.0")
    with pytest.raises(SourceNotFound):
        source._set_deployment("payments-api", "qa", "1.0.0")


# Pipelines -----------------------------------------------------------------------------------------
async def test_pipeline_listing(make):
    source = await make()
    runs = await source.pipeline_runs(PipelineQuery(limit=100))
    assert len(runs) == 100 and len({r.id for r in runs}) == 100
    assert [r.started_at for r in runs] == sorted((r.started_at for r in runs), reverse=True)
    assert all(r.jobs == () and r.started_at <= REFERENCE for r in runs)
    statuses = Counter(r.status for r in runs)
    assert statuses[RunStatus.RUNNING] >= 2
    assert statuses[RunStatus.FAILED] >= 2 and statuses[RunStatus.SUCCEEDED] >= 60
    assert {r.pipeline for r in runs} == {"ci", "release"}
    for run in runs:
        assert re.fullmatch(r"[0-9a-f]{7}", run.commit) and run.message and run.trigger
        assert (run.finished_at is not None) == run.status.finished
        if run.pipeline == "release":
            assert run.branch == "main"
            assert (run.version is not None) == (run.status is RunStatus.SUCCEEDED)
        else:
            assert run.branch.startswith(("feature/", "release/")) and run.version is None
    mine = await source.pipeline_runs(PipelineQuery(service="payments-api", limit=7))
    assert len(mine) == 7 and {r.service for r in mine} == {"payments-api"}
    with pytest.raises(SourceNotFound):
        await source.pipeline_runs(PipelineQuery(service="no-such-service"))


async def test_pipeline_runs_progress_with_the_clock(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    before = await source.pipeline_runs(PipelineQuery(limit=50))
    running = [r for r in before if r.status is RunStatus.RUNNING]
    assert running
    clock.advance(timedelta(hours=1))
    after = await source.pipeline_runs(PipelineQuery(limit=200))
    by_id = {r.id: r for r in after}
    assert all(by_id[r.id].status.finished for r in running)
    assert after[0].started_at > before[0].started_at
    new = [r for r in after if r.started_at > REFERENCE]
    assert len(new) >= 5
    # the past does not change
    finished = [r for r in before if r.status.finished]
    assert all(by_id[r.id] == r for r in finished)


async def test_pipeline_run_detail(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    runs = await source.pipeline_runs(PipelineQuery(limit=100))
    running = next(r for r in runs if r.status is RunStatus.RUNNING)
    detail = await source.pipeline_run(running.id)
    assert detail.model_copy(update={"jobs": ()}) == running
    names = [job.name for job in detail.jobs]
    assert names[:2] == ["build", "test"]
    steps = [step for job in detail.jobs for step in job.steps]
    assert [s.status for s in steps].count(RunStatus.RUNNING) == 1
    assert steps[0].name == "checkout"
    assert {s.name for s in steps} >= {"checkout", "setup", "compile", "unit tests", "lint"}

    release = await source.pipeline_run(next(r.id for r in runs if r.pipeline == "release"
                                              and r.status is RunStatus.SUCCEEDED))
    assert [job.name for job in release.jobs] == ["build", "test", "package", "deploy-dev"]
    assert all(job.status is RunStatus.SUCCEEDED for job in release.jobs)
    assert release.jobs[-1].steps[-1].finished_at == release.finished_at
    step_names = [s.name for job in release.jobs for s in job.steps]
    assert {"docker build", "push", "helm upgrade"} <= set(step_names)

    failed = await source.pipeline_run(next(r.id for r in runs if r.status is RunStatus.FAILED))
    statuses = [s.status for job in failed.jobs for s in job.steps]
    stop = statuses.index(RunStatus.FAILED)
    assert set(statuses[:stop]) == {RunStatus.SUCCEEDED}
    assert set(statuses[stop + 1:]) <= {RunStatus.SKIPPED}
    assert failed.finished_at is not None

    # while running, a run shows progress; once done its steps are all finished
    clock.advance(timedelta(hours=1))
    done = await source.pipeline_run(running.id)
    assert done.status.finished
    assert all(step.status.finished for job in done.jobs for step in job.steps)


async def test_unknown_pipeline_run(make):
    source = await make()
    for run_id in ("nope", "payments-api-release-x", "unknown-service-ci-3", "payments-api-ci-99999999"):
        with pytest.raises(SourceNotFound):
            await source.pipeline_run(run_id)


async def test_release_versions_match_deployed_versions(make):
    source = await make()
    deployments = await source.deployments()
    for service in ("payments-api", "search-api", "auth-gateway"):
        runs = await source.pipeline_runs(PipelineQuery(service=service, limit=500))
        produced = {r.version for r in runs if r.version}
        deployed = {d.version for d in deployments if d.service == service}
        assert deployed & produced
        assert all(v.split(".")[0] == next(iter(produced)).split(".")[0] for v in deployed)


# Logs ----------------------------------------------------------------------------------------------
async def test_log_tail(make):
    source = await make()
    lines = await collect(source, LogQuery(service="payments-api", environment="production", tail=300,
                                           follow=False))
    assert len(lines) == 300
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    assert lines[-1].ts <= REFERENCE and lines[-1].ts > REFERENCE - timedelta(minutes=5)
    assert {(line.service, line.environment) for line in lines} == {("payments-api", "production")}
    instances = {line.instance for line in lines}
    assert len(instances) >= 3
    assert all(re.fullmatch(r"payments-api-[0-9a-f]{6}-[a-z0-9]{4}", i) for i in instances)
    levels = Counter(line.level for line in lines)
    assert levels[LogLevel.INFO] > 150 and levels[LogLevel.INFO] > levels[LogLevel.WARN] > 0
    assert any(re.fullmatch(r"(GET|POST|PUT|DELETE) /v1/\S+ \d{3} \d+ms req_id=[0-9a-f]+", line.message)
               for line in lines)
    records = [(line, json.loads(line.message)) for line in lines if line.message.startswith("{")]
    assert len(records) >= 10
    for line, record in records:
        assert LogLevel.parse(record["level"]) is line.level
        assert {"msg", "trace_id", "latency_ms"} <= set(record)


async def test_log_tail_of_zero_and_since(make):
    source = await make()
    assert await collect(source, LogQuery(service="cart-service", environment="dev", tail=0,
                                          follow=False)) == []
    recent = await collect(source, LogQuery(service="cart-service", environment="production", tail=5000,
                                            since=timedelta(seconds=30), follow=False))
    assert recent and all(line.ts > REFERENCE - timedelta(seconds=30) for line in recent)
    assert len(recent) < 5000


async def test_logs_of_unknown_targets(make):
    source = await make()
    for query in (LogQuery(service="nope", environment="dev"), LogQuery(service="payments-api", environment="qa")):
        with pytest.raises(SourceNotFound):
            await collect(source, query)


class ReadClock(ManualClock):
    """A manual clock that counts how often it was read (each tick of a follow reads it)."""

    reads = 0

    def now(self) -> datetime:
        self.reads += 1
        return super().now()


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.005)


async def test_log_follow_moves_with_the_clock(make):
    clock = ReadClock(REFERENCE)
    source = await make(clock=clock, log_interval=0.001)
    query = LogQuery(service="payments-api", environment="production", tail=20)
    batches: list[list] = []

    async def consume() -> None:
        async for batch in source.logs(query):
            batches.append(batch)

    task = asyncio.create_task(consume())
    try:
        await until(lambda: batches, "the tail")
        assert len(batches[0]) == 20
        reads = clock.reads
        await until(lambda: clock.reads >= reads + 3, "the follow to look at the clock again")
        assert len(batches) == 1, "no new lines while the clock is frozen"
        clock.advance(timedelta(seconds=10))
        await until(lambda: len(batches) > 1, "the lines of the ten seconds")
        reads = clock.reads
        await until(lambda: clock.reads >= reads + 3, "the follow to look at the clock again")
        assert len(batches) == 2, "the ten seconds come in one batch, and nothing after them"
    finally:
        task.cancel()
    followed = [line for batch in batches[1:] for line in batch]
    assert len(followed) >= 10
    assert all(REFERENCE < line.ts <= REFERENCE + timedelta(seconds=10) for line in followed)
    # what was followed is exactly what a tail shows afterwards
    later = await collect(source, LogQuery(service="payments-api", environment="production",
                                           tail=len(followed), follow=False))
    assert later == followed


async def test_log_flood(make):
    source = await make(flood=True)
    count, batches, last = 0, 0, None
    async for batch in source.logs(LogQuery(service="payments-api", environment="production")):
        assert len(batch) == 1000
        assert last is None or batch[0].ts > last
        last = batch[-1].ts
        count += len(batch)
        batches += 1
        if count >= 20_000:
            break
    assert batches == 20


async def test_log_flood_without_follow_stops(make):
    source = await make(flood=True)
    lines = await collect(source, LogQuery(service="payments-api", environment="dev", tail=2500, follow=False))
    assert len(lines) == 2500


async def test_log_flood_lines_are_the_records_validation_gives(make):
    # The flood copies validated templates instead of validating every line: same records.
    source = await make(flood=True)
    lines = await collect(source, LogQuery(service="payments-api", environment="dev", tail=50, follow=False))
    for line in lines:
        assert type(line) is LogLine
        again = LogLine.model_validate(line.model_dump())
        assert again == line and hash(again) == hash(line)
        assert line.model_fields_set == again.model_fields_set
    assert len({line.ts for line in lines}) == len(lines)


# Bad releases --------------------------------------------------------------------------------------
async def test_bad_release_raises_errors_in_metrics_and_logs(make):
    bad, good = await make(), await make()
    since = REFERENCE - timedelta(minutes=30)
    current = next(d.version for d in await good.deployments() if (d.service, d.environment) == (
        "search-api", "staging"))
    bad._set_deployment("search-api", "staging", "9.0.0", updated_at=since)
    bad._mark_bad("search-api", "9.0.0")
    good._set_deployment("search-api", "staging", current, updated_at=since)

    async def error_ratio(source: SandboxSource) -> float:
        (series,) = await source.metrics(MetricsQuery(service="search-api", environment="staging",
                                                      window=Window.M15, step=30, signals=(Signal.ERROR_RATIO,)))
        return sum(v for _, v in series.points) / len(series.points)

    assert await error_ratio(bad) > 0.05 > 0.01 > await error_ratio(good)

    async def errors(source: SandboxSource) -> int:
        lines = await collect(source, LogQuery(service="search-api", environment="staging", tail=1000,
                                               follow=False))
        return sum(line.level is LogLevel.ERROR for line in lines)

    assert await errors(bad) > 5 * max(await errors(good), 1)
    deployment = next(d for d in await bad.deployments() if (d.service, d.environment) == ("search-api", "staging"))
    assert deployment.health is Health.DEGRADED


async def test_seeded_incident_shows_in_metrics_from_the_rollout(make):
    source = await make()
    service = source._incident_service()
    series = {s.signal: s.points for s in await source.metrics(
        MetricsQuery(service=service, environment="production", window=Window.H1, step=60))}
    rollout = (REFERENCE - timedelta(minutes=40)).timestamp()
    before = [v for t, v in series[Signal.ERROR_RATIO] if t < rollout]
    after = [v for t, v in series[Signal.ERROR_RATIO] if t > rollout + 300]
    assert max(before) < 0.02 and min(after) > 0.05
    p99_before = [v for t, v in series[Signal.LATENCY_P99] if t < rollout]
    p99_after = [v for t, v in series[Signal.LATENCY_P99] if t > rollout + 300]
    assert min(p99_after) > 2 * max(p99_before)
    lines = await collect(source, LogQuery(service=service, environment="production", tail=500, follow=False))
    assert sum(line.level is LogLevel.ERROR for line in lines) > 50


# Metrics -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("window", "step", "points"), [
    (Window.M15, 15, 60), (Window.H1, 60, 60), (Window.H6, 300, 72), (Window.H24, 60, 1440),
    (Window.H24, 1, 1440),  # clamped to at most 1,500 points
])
async def test_metric_point_counts(make, window, step, points):
    source = await make()
    result = await source.metrics(MetricsQuery(service="cart-service", environment="production",
                                               window=window, step=step))
    assert [s.signal for s in result] == list(Signal)
    for series in result:
        assert series.unit == SIGNAL_UNITS[series.signal]
        assert len(series.points) == points
        times = [t for t, _ in series.points]
        assert times[-1] <= REFERENCE.timestamp() and times[0] > (REFERENCE - window.delta).timestamp()
        gap = times[1] - times[0]
        assert all(t % gap == 0 for t in times)


async def test_metric_values_are_plausible(make):
    source = await make()
    result = await source.metrics(MetricsQuery(service="cart-service", environment="production",
                                               window=Window.H24, step=300))
    series = {s.signal: [v for _, v in s.points] for s in result}
    for p50, p95, p99 in zip(series[Signal.LATENCY_P50], series[Signal.LATENCY_P95], series[Signal.LATENCY_P99]):
        assert 0 < p50 < p95 < p99 < 30
    assert all(0 <= v < 0.02 for v in series[Signal.ERROR_RATIO])
    assert all(v > 0 for v in series[Signal.CPU])
    assert all(2**20 < v < 64 * 2**30 for v in series[Signal.MEMORY])
    rate = dict(result[0].points)
    night = rate[datetime(2026, 11, 25, 3, 0, tzinfo=UTC).timestamp()]
    afternoon = rate[datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()]
    assert afternoon > 2 * night
    (dev,) = await source.metrics(MetricsQuery(service="cart-service", environment="dev",
                                               window=Window.H24, step=300, signals=(Signal.REQUEST_RATE,)))
    assert sum(rate.values()) > 20 * sum(v for _, v in dev.points)


async def test_metrics_keep_the_past_as_the_window_moves(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    query = MetricsQuery(service="ledger-service", environment="staging", window=Window.H1, step=60)
    before = await source.metrics(query)
    clock.advance(timedelta(minutes=5))
    after = await source.metrics(query)
    for old, new in zip(before, after):
        assert old.points[5:] == new.points[:-5]
        assert new.points[-1][0] == (REFERENCE + timedelta(minutes=5)).timestamp()


async def test_metrics_of_unknown_targets(make):
    source = await make()
    for service, environment in (("nope", "production"), ("payments-api", "qa")):
        with pytest.raises(SourceNotFound):
            await source.metrics(MetricsQuery(service=service, environment=environment))
