"""Actions and provisioning in the bundled sandbox source: deploy, rollback, scale, restart, templates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from pydantic import ValidationError

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionRequest,
    ActionState,
    Capability,
    EnvironmentKind,
    Health,
    LogLevel,
    LogQuery,
    ManualClock,
    MetricsQuery,
    PipelineQuery,
    RunStatus,
    Signal,
    SourceContext,
    SourceError,
    SourceNotFound,
    Window,
)
from idp_tui.audit import AuditLog
from idp_tui.demo import demo_config
from idp_tui.runtime import AUDIT_FILE, build_runtime
from idp_tui_sandbox import SandboxConfig, SandboxSource

from conftest import T0

REFERENCE = T0  # the sandbox sources' clock in `make` (conftest)
PASSWORD = "Corr3ct-Horse-Battery-42"
#: Fast enough for tests: a rollout of minutes takes milliseconds.
FAST = 100_000.0


@pytest.fixture
def make(make):
    """conftest's ``make``, with actions paced ``FAST``."""

    async def factory(**settings):
        settings.setdefault("action_speed", FAST)
        return await make(**settings)

    return factory


def request(id: str, kind: ActionKind = ActionKind.DEPLOY, **fields) -> ActionRequest:
    return ActionRequest(id=id, kind=kind, **fields)


def provision(id: str, template: str, **params) -> ActionRequest:
    return ActionRequest(id=id, kind=ActionKind.PROVISION, template=template, params=params)


async def run(source: SandboxSource, req: ActionRequest) -> list[ActionEvent]:
    return [event async for event in source.run_action(req)]


async def run_until(source: SandboxSource, req: ActionRequest, text: str) -> tuple[list[ActionEvent], object]:
    """Events up to the first whose message contains ``text``; the generator is left open."""
    stream = source.run_action(req)
    events = []
    async for event in stream:
        events.append(event)
        if text in event.message:
            return events, stream
        assert not event.state.finished, event.message
    raise AssertionError(f"no event with {text!r}")


async def deployment(source: SandboxSource, service: str, environment: str):
    return next(d for d in await source.deployments() if (d.service, d.environment) == (service, environment))


async def collect(source: SandboxSource, service: str, environment: str, tail: int = 600) -> list:
    query = LogQuery(service=service, environment=environment, tail=tail, follow=False)
    return [line async for batch in source.logs(query) for line in batch]


async def error_ratio(source: SandboxSource, service: str, environment: str) -> float:
    (series,) = await source.metrics(MetricsQuery(service=service, environment=environment, window=Window.M15,
                                                  step=30, signals=(Signal.ERROR_RATIO,)))
    return sum(v for _, v in series.points) / len(series.points)


def good_older(source: SandboxSource, service: str, versions: list) -> str:
    """A good version older than the current one."""
    fleet = source._state()[3]
    current = next(i for i, v in enumerate(versions) if v.current)
    return next(v.version for v in versions[current + 1:] if not fleet.severity(service, v.version))


def history(source: SandboxSource, service: str, environment: str) -> list:
    return source._state()[2].recent_history(service, environment)


def assert_progress(events: list[ActionEvent], state: ActionState = ActionState.SUCCEEDED) -> None:
    """Running events, then one final event; ``done`` never goes back and stays within ``total``."""
    assert events[-1].state is state
    assert all(e.state is ActionState.RUNNING for e in events[:-1])
    done = [e.done for e in events if e.done is not None]
    assert done == sorted(done)
    assert all(e.total is not None and e.done <= e.total for e in events if e.done is not None)
    assert all(e.ts == REFERENCE for e in events), "event times come from the injected clock"
    assert all(e.level in ("info", "warning", "error") for e in events)


# Declaration -----------------------------------------------------------------------------------------
def test_declares_actions_and_provisioning():
    assert {Capability.ACTIONS, Capability.PROVISION} <= SandboxSource.capabilities
    assert SandboxSource.actions == {ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE, ActionKind.RESTART,
                                     ActionKind.RERUN, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB,
                                     ActionKind.CANCEL, ActionKind.RESTART_INSTANCE, ActionKind.EXTEND,
                                     ActionKind.DELETE_ENVIRONMENT}
    assert SandboxConfig().action_speed == 1.0
    with pytest.raises(ValidationError):
        SandboxConfig(action_speed=0)


# Versions and plans ----------------------------------------------------------------------------------
async def test_deploy_versions_come_from_succeeded_release_runs(make):
    source = await make()
    versions = await source.deploy_versions("cart-service", "staging")
    assert len(versions) >= 10
    keys = [tuple(int(p) for p in v.version.split(".")) for v in versions]
    assert keys == sorted(keys, reverse=True), "newest first"
    staging = await deployment(source, "cart-service", "staging")
    assert [v.version for v in versions if v.current] == [staging.version]
    runs = {r.id: r for r in await source.pipeline_runs(PipelineQuery(service="cart-service", limit=500))}
    for option in versions:
        if option.run_id in runs:
            run = runs[option.run_id]
            assert run.pipeline == "release" and run.status is RunStatus.SUCCEEDED
            assert (run.version, run.commit, run.finished_at) == (option.version, option.commit, option.built_at)
    deployed = {d.environment: d.version for d in await source.deployments() if d.service == "cart-service"}
    for option in versions:
        assert set(option.environments) == {env for env, v in deployed.items() if v == option.version}
    assert {v for v in deployed.values()} <= {o.version for o in versions}


async def test_unknown_targets_are_refused_with_clear_messages(make):
    source = await make()
    with pytest.raises(SourceNotFound, match="no service named"):
        await source.deploy_versions("nope", "staging")
    with pytest.raises(SourceNotFound, match="no environment named"):
        await source.deploy_versions("cart-service", "qa")
    with pytest.raises(SourceNotFound, match=r"cart-service has no version '9\.9\.9'"):
        await source.plan_action(request("x", service="cart-service", environment="staging", version="9.9.9"))
    with pytest.raises(SourceNotFound, match="no environment named"):
        await source.plan_action(request("x", service="cart-service", environment="qa", version="1.0.0"))
    with pytest.raises(SourceNotFound, match="no service named"):
        await source.plan_action(request("x", ActionKind.RESTART, service="nope", environment="dev"))
    failed = next(r for r in await source.pipeline_runs(PipelineQuery(service="cart-service", limit=500))
                  if r.pipeline == "release" and r.status is RunStatus.FAILED)
    version = source._state()[1].version(source._state()[1].summary(
        source._state()[0].get("cart-service"), "release", int(failed.id.rsplit("-", 1)[1])))
    with pytest.raises(SourceNotFound, match="was never built"):
        await source.plan_action(request("x", service="cart-service", environment="staging", version=version))
    with pytest.raises(SourceError, match="at most 50 replicas"):
        await source.plan_action(request("x", ActionKind.SCALE, service="cart-service", environment="dev",
                                         replicas=500))
    with pytest.raises(SourceNotFound, match="no template"):
        await source.plan_action(provision("x", "mainframe"))
    # refused actions leave no record: the same id can be used once the request is right
    versions = await source.deploy_versions("cart-service", "dev")
    assert (await run(source, request("x", service="cart-service", environment="dev",
                                      version=versions[1].version)))[-1].state is ActionState.SUCCEEDED


async def test_deploy_plan_shows_changes_and_where_versions_run(make):
    source = await make()
    before = await source.deployments()
    prod = await deployment(source, "cart-service", "production")
    versions = await source.deploy_versions("cart-service", "production")
    target = good_older(source, "cart-service", versions)
    plan = await source.plan_action(request("p", service="cart-service", environment="production", version=target))
    assert (plan.current_version, plan.target_version) == (prod.version, target)
    assert plan.cancellable and plan.estimated_duration > timedelta(0)
    assert target in plan.summary and prod.version in plan.summary
    assert plan.changes, "the commits between the two versions"
    runs = await source.pipeline_runs(PipelineQuery(service="cart-service", limit=500))
    commits = {r.commit: r for r in runs if r.pipeline == "release"}
    for change in plan.changes:
        assert change.id in commits and change.message == commits[change.id].message
        assert change.author and change.url.endswith(change.id)
    assert any("older than" in note for note in plan.notes)
    assert any("behind staging" in note for note in plan.notes)
    assert any("Rolling update of" in note for note in plan.notes)
    assert plan.running_elsewhere == tuple(o.environments for o in versions if o.version == target)[0]
    newest = versions[0].version
    ahead = await source.plan_action(request("p", service="cart-service", environment="staging", version=newest))
    assert "production" not in ahead.running_elsewhere or prod.version == newest
    assert await source.deployments() == before, "a plan changes nothing"


async def test_plans_of_scale_restart_and_rollback(make):
    source = await make()
    prod = await deployment(source, "cart-service", "production")
    scale = await source.plan_action(request("s", ActionKind.SCALE, service="cart-service",
                                             environment="production", replicas=0))
    assert scale.cancellable and f"from {prod.replicas_desired} to 0" in scale.summary
    assert any("no traffic" in note for note in scale.notes)
    restart = await source.plan_action(request("r", ActionKind.RESTART, service="cart-service",
                                               environment="production"))
    assert not restart.cancellable and restart.current_version == prod.version
    incident = source._incident_service()
    rollback = await source.plan_action(request("b", ActionKind.ROLLBACK, service=incident,
                                                environment="production"))
    bad = (await deployment(source, incident, "production")).version
    assert rollback.cancellable and rollback.current_version == bad
    assert rollback.target_version and rollback.target_version != bad
    assert not any("bad" in note.lower() for note in rollback.notes), "the sandbox does not reveal bad versions"


# Deploy ------------------------------------------------------------------------------------------------
async def test_deploy_changes_the_version_and_persists(make):
    clock = ManualClock(REFERENCE)
    source = await make(db="state.db", clock=clock)
    versions = await source.deploy_versions("cart-service", "staging")
    target = good_older(source, "cart-service", versions)
    before = await deployment(source, "cart-service", "staging")
    old_instances = {line.instance for line in await collect(source, "cart-service", "staging")}
    events = await run(source, request("d1", service="cart-service", environment="staging", version=target))
    assert_progress(events)
    n = before.replicas_desired
    assert events[0].done == 0 and events[0].total == n
    assert [e.done for e in events if e.message.startswith("Instances updated")] == list(range(1, n + 1))
    assert any(f"Instances updated {n}/{n}" in e.message for e in events)
    assert any(f"readiness {n}/{n}" in e.message for e in events)
    assert events[-1].done == events[-1].total == n
    assert target in events[-1].message and before.version in events[-1].message
    after = await deployment(source, "cart-service", "staging")
    assert (after.version, after.updated_at, after.health, after.message) == (target, REFERENCE, Health.HEALTHY, "")
    assert after.replicas_ready == after.replicas_desired == n
    # new instances, named in the events, write the logs from now on
    clock.advance(timedelta(minutes=10))
    new_instances = {line.instance for line in await collect(source, "cart-service", "staging", tail=100)}
    assert new_instances.isdisjoint(old_instances)
    assert all(any(f"Started {name}" in e.message for e in events) for name in new_instances)
    # a new source on the same database sees the deploy
    await source.close()
    reopened = await make(db="state.db", clock=clock)
    assert (await deployment(reopened, "cart-service", "staging")).version == target
    options = await reopened.deploy_versions("cart-service", "staging")
    assert [o.version for o in options if o.current] == [target]


async def test_bad_version_raises_errors_and_a_good_one_clears_them(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    service = source._incident_service()
    bad = (await deployment(source, service, "production")).version
    good = (await deployment(source, service, "staging")).version
    assert await error_ratio(source, service, "staging") < 0.02
    events = await run(source, request("bad", service=service, environment="staging", version=bad))
    assert_progress(events)
    assert any(e.level == "warning" and "Error ratio" in e.message for e in events)
    clock.advance(timedelta(minutes=15))
    assert await error_ratio(source, service, "staging") > 0.05
    errors = [line for line in await collect(source, service, "staging") if line.level is LogLevel.ERROR]
    assert len(errors) > 20
    staging = await deployment(source, service, "staging")
    assert staging.health is Health.DEGRADED and bad in staging.message

    events = await run(source, request("fix", service=service, environment="staging", version=good))
    assert_progress([e.model_copy(update={"ts": REFERENCE}) for e in events])
    assert not any(e.level == "warning" for e in events)
    clock.advance(timedelta(minutes=15))
    assert await error_ratio(source, service, "staging") < 0.02
    lines = await collect(source, service, "staging", tail=300)
    assert sum(line.level is LogLevel.ERROR for line in lines) < 0.05 * len(lines)
    assert (await deployment(source, service, "staging")).health is Health.HEALTHY


async def test_rollback_returns_to_the_previous_version(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    # the seeded incident: production rolls back to the release before the bad one
    service = source._incident_service()
    bad = (await deployment(source, service, "production")).version
    plan = await source.plan_action(request("p", ActionKind.ROLLBACK, service=service, environment="production"))
    events = await run(source, request("rb", ActionKind.ROLLBACK, service=service, environment="production"))
    assert_progress(events)
    assert "Rolled back" in events[-1].message
    prod = await deployment(source, service, "production")
    assert prod.version == plan.target_version != bad
    assert prod.health is Health.HEALTHY
    clock.advance(timedelta(minutes=15))
    assert await error_ratio(source, service, "production") < 0.02

    # after a deploy, a rollback returns to what ran before it
    original = (await deployment(source, "cart-service", "staging")).version
    target = good_older(source, "cart-service", await source.deploy_versions("cart-service", "staging"))
    await run(source, request("d", service="cart-service", environment="staging", version=target))
    clock.advance(timedelta(minutes=5))
    back = await run(source, request("b", ActionKind.ROLLBACK, service="cart-service", environment="staging"))
    assert back[-1].state is ActionState.SUCCEEDED
    assert (await deployment(source, "cart-service", "staging")).version == original
    # an explicit version works too
    explicit = await run(source, request("e", ActionKind.ROLLBACK, service="cart-service", environment="staging",
                                         version=target))
    assert explicit[-1].state is ActionState.SUCCEEDED
    assert (await deployment(source, "cart-service", "staging")).version == target


async def test_deploy_of_a_service_whose_secret_is_missing_fails_until_a_database_exists(make):
    source = await make()
    source._set_deployment("cart-service", "staging", (await deployment(source, "cart-service", "staging")).version,
                           health=Health.DOWN, message='CrashLoopBackOff: secret "cart-service-db-credentials" '
                                                       "not found")
    before = await deployment(source, "cart-service", "staging")
    target = good_older(source, "cart-service", await source.deploy_versions("cart-service", "staging"))
    events = await run(source, request("d", service="cart-service", environment="staging", version=target))
    assert_progress(events, ActionState.FAILED)
    assert "rolled back" in events[-1].message and "secret" in events[-1].message
    assert any(e.level == "error" and "Readiness probe failed" in e.message for e in events)
    assert await deployment(source, "cart-service", "staging") == before
    restart = await run(source, request("r", ActionKind.RESTART, service="cart-service", environment="staging"))
    assert restart[-1].state is ActionState.FAILED
    assert (await deployment(source, "cart-service", "staging")).health is Health.DOWN

    plan = await source.plan_action(provision("p", "postgres", service="cart-service", environment="staging",
                                              admin_password=PASSWORD))
    assert any("waits for the secret" in note for note in plan.notes)
    db = await run(source, provision("db", "postgres", service="cart-service", environment="staging",
                                     admin_password=PASSWORD))
    assert db[-1].state is ActionState.SUCCEEDED and "started" in db[-1].message
    assert (await deployment(source, "cart-service", "staging")).health is Health.HEALTHY
    again = await run(source, request("r2", ActionKind.RESTART, service="cart-service", environment="staging"))
    assert again[-1].state is ActionState.SUCCEEDED


# Scale and restart -------------------------------------------------------------------------------------
async def test_scale_up_down_and_to_zero(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    prod = await deployment(source, "cart-service", "production")
    n = prod.replicas_desired
    events = await run(source, request("up", ActionKind.SCALE, service="cart-service", environment="production",
                                       replicas=n + 3))
    assert_progress(events)
    assert events[0].total == 3 and events[-1].done == 3
    assert [e.message.split(": ")[-1] for e in events if "ready:" in e.message] == [
        f"{i}/{n + 3} replicas ready" for i in range(n + 1, n + 4)]
    scaled = await deployment(source, "cart-service", "production")
    assert (scaled.replicas_desired, scaled.replicas_ready, scaled.version) == (n + 3, n + 3, prod.version)
    clock.advance(timedelta(minutes=2))
    assert len({line.instance for line in await collect(source, "cart-service", "production", tail=1500)}) == n + 3

    down = await run(source, request("down", ActionKind.SCALE, service="cart-service", environment="production",
                                     replicas=1))
    assert_progress([e.model_copy(update={"ts": REFERENCE}) for e in down])
    assert down[0].total == n + 2
    assert (await deployment(source, "cart-service", "production")).replicas_desired == 1

    await run(source, request("zero", ActionKind.SCALE, service="cart-service", environment="dev", replicas=0))
    dev = await deployment(source, "cart-service", "dev")
    assert (dev.replicas_ready, dev.replicas_desired) == (0, 0)
    stopped_at = clock.now()
    clock.advance(timedelta(minutes=10))
    lines = await collect(source, "cart-service", "dev", tail=200)
    assert lines and all(line.ts <= stopped_at for line in lines), "nothing runs: no new log lines"
    (rate,) = await source.metrics(MetricsQuery(service="cart-service", environment="dev", window=Window.M15,
                                                step=30, signals=(Signal.REQUEST_RATE,)))
    assert all(v == 0 for t, v in rate.points if t > stopped_at.timestamp())
    assert any(v > 0 for t, v in rate.points if t < stopped_at.timestamp())
    restart_plan_error = None
    try:
        await source.plan_action(request("r", ActionKind.RESTART, service="cart-service", environment="dev"))
    except SourceError as exc:
        restart_plan_error = exc
    assert restart_plan_error is not None and "scaled to 0" in str(restart_plan_error)
    await run(source, request("again", ActionKind.SCALE, service="cart-service", environment="dev", replicas=2))
    resumed = clock.now()
    clock.advance(timedelta(minutes=5))
    lines = await collect(source, "cart-service", "dev", tail=200)
    assert any(line.ts > resumed for line in lines)
    same = await run(source, request("same", ActionKind.SCALE, service="cart-service", environment="dev", replicas=2))
    assert len(same) == 2 and "nothing to do" in same[-1].message


async def test_restart_replaces_every_instance(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    before = await deployment(source, "cart-service", "production")
    old = {line.instance for line in await collect(source, "cart-service", "production", tail=300)}
    events = await run(source, request("r", ActionKind.RESTART, service="cart-service", environment="production"))
    assert_progress(events)
    n = before.replicas_desired
    assert events[-1].done == events[-1].total == n
    assert [e.done for e in events if "instances restarted" in e.message] == list(range(1, n + 1))
    after = await deployment(source, "cart-service", "production")
    assert (after.version, after.health, after.replicas_ready) == (before.version, Health.HEALTHY, n)
    clock.advance(timedelta(minutes=5))
    new = {line.instance for line in await collect(source, "cart-service", "production", tail=300)}
    assert len(new) == n and new.isdisjoint(old)
    assert all(any(f"started {name}" in e.message for e in events) for name in new)


# Idempotency, one action at a time, cancellation -------------------------------------------------------
async def test_the_same_request_id_is_not_run_twice(make):
    clock = ManualClock(REFERENCE)
    source = await make(db="state.db", clock=clock)
    target = good_older(source, "cart-service", await source.deploy_versions("cart-service", "staging"))
    req = request("once", service="cart-service", environment="staging", version=target)
    first = await run(source, req)
    entries = len(history(source, "cart-service", "staging"))
    clock.advance(timedelta(hours=1))
    second = await run(source, req)
    assert len(second) == 1 and second[0].state is ActionState.SUCCEEDED
    assert second[0].message.startswith("Not repeated") and first[-1].message in second[0].message
    assert (second[0].done, second[0].total) == (first[-1].done, first[-1].total)
    assert len(history(source, "cart-service", "staging")) == entries
    assert (await deployment(source, "cart-service", "staging")).updated_at == REFERENCE
    # another source on the same database knows it too
    other = await make(db="state.db", clock=clock)
    assert [e.state for e in await run(other, req)] == [ActionState.SUCCEEDED]
    # the same id for another action is refused
    with pytest.raises(SourceError, match="already used"):
        await run(source, request("once", service="cart-service", environment="dev", version=target))
    # a failed action is not repeated either
    with pytest.raises(SourceError):
        await run(source, request("once", ActionKind.SCALE, service="cart-service", environment="staging",
                                  replicas=3))


async def test_one_action_at_a_time_on_a_target(make):
    source = await make()
    versions = await source.deploy_versions("cart-service", "production")
    _, stream = await run_until(source, request("a", service="cart-service", environment="production",
                                                version=versions[1].version), "Started")
    with pytest.raises(SourceError, match="already running"):
        await run(source, request("b", ActionKind.RESTART, service="cart-service", environment="production"))
    other = await run(source, request("c", ActionKind.RESTART, service="cart-service", environment="staging"))
    assert other[-1].state is ActionState.SUCCEEDED
    await stream.aclose()
    assert (await run(source, request("b", ActionKind.RESTART, service="cart-service",
                                      environment="production")))[-1].state is ActionState.SUCCEEDED


async def test_a_repeated_id_waits_for_the_running_action(make):
    source = await make(db="state.db")
    versions = await source.deploy_versions("cart-service", "staging")
    req = request("w", service="cart-service", environment="staging", version=good_older(source, "cart-service",
                                                                                         versions))
    events, stream = await run_until(source, req, "Started")
    waiter = asyncio.create_task(run(source, req))
    await asyncio.sleep(0)
    rest = [event async for event in stream]
    repeated = await waiter
    assert rest[-1].state is ActionState.SUCCEEDED
    assert "already running" in repeated[0].message
    assert repeated[-1].state is ActionState.SUCCEEDED and "Not repeated" in repeated[-1].message


async def test_cancelling_a_deploy_part_way_rolls_it_back(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    before = await deployment(source, "cart-service", "production")
    target = good_older(source, "cart-service", await source.deploy_versions("cart-service", "production"))
    rollback = request("b", ActionKind.ROLLBACK, service="cart-service", environment="production")
    rollback_before = (await source.plan_action(rollback)).target_version
    req = request("c", service="cart-service", environment="production", version=target)
    events, stream = await run_until(source, req, "Instances updated 2/")
    assert (await deployment(source, "cart-service", "production")).version == target, "half-way through"
    await stream.aclose()
    after = await deployment(source, "cart-service", "production")
    assert (after.version, after.health, after.message) == (before.version, Health.HEALTHY, "")
    assert after.replicas_ready == after.replicas_desired == before.replicas_desired
    replay = await run(source, req)
    assert replay[-1].state is ActionState.CANCELLED and f"rolled back to {before.version}" in replay[-1].message
    # the stopped rollout is not a version to roll back to
    assert (await source.plan_action(rollback)).target_version == rollback_before

    # the same when the task running the action is cancelled while the source works (what the hub does)
    slow = await make(action_speed=100.0)
    started = asyncio.Event()

    async def consume() -> None:
        req = request("t", service="cart-service", environment="production", version=target)
        async with contextlib.aclosing(slow.run_action(req)) as stream:
            async for event in stream:
                if event.message.startswith("Instances updated 1/"):
                    started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await deployment(slow, "cart-service", "production")).version == before.version
    assert (await run(slow, request("t", service="cart-service", environment="production",
                                    version=target)))[-1].state is ActionState.CANCELLED


async def test_cancelling_a_scale_keeps_the_replicas_reached(make):
    source = await make()
    n = (await deployment(source, "cart-service", "production")).replicas_desired
    _, stream = await run_until(source, request("s", ActionKind.SCALE, service="cart-service",
                                                environment="production", replicas=n + 4), "ready: ")
    await stream.aclose()
    after = await deployment(source, "cart-service", "production")
    assert after.replicas_ready == after.replicas_desired == n + 1
    assert after.message == ""


async def test_cancelling_a_provisioning_removes_what_it_created(make):
    source = await make()
    req = provision("n", "service", name="loyalty-api", team="checkout", description="Loyalty points for shoppers.")
    _, stream = await run_until(source, req, "Deploying")
    assert "loyalty-api" in {s.name for s in await source.services()}
    await stream.aclose()
    assert "loyalty-api" not in {s.name for s in await source.services()}
    assert "loyalty-api" not in {d.service for d in await source.deployments()}
    with pytest.raises(SourceNotFound):
        await source.pipeline_runs(PipelineQuery(service="loyalty-api"))
    # the name is free again
    events = await run(source, provision("n2", "service", name="loyalty-api", team="checkout",
                                         description="Loyalty points for shoppers."))
    assert events[-1].state is ActionState.SUCCEEDED


CRASHING_CHILD = textwrap.dedent("""
    import asyncio, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from idp_tui import ActionKind, ActionRequest, ManualClock, SourceContext
    from idp_tui_sandbox import SandboxConfig, SandboxSource

    async def main():
        source = SandboxSource(SandboxConfig(seed=7, database=sys.argv[1], action_speed=10.0),
                               SourceContext(name="sandbox", data_dir=Path(sys.argv[1]).parent,
                                             clock=ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))))
        await source.start()
        req = ActionRequest(id="crash", kind=ActionKind.DEPLOY, service="cart-service",
                            environment="production", version=sys.argv[2])
        async for event in source.run_action(req):
            if event.message.startswith("Instances updated 1/"):
                print("HALF-WAY", flush=True)

    asyncio.run(main())
""")


async def test_an_action_interrupted_by_a_crash_is_undone_at_the_next_start(make, tmp_path):
    source = await make(db="crash.db")
    before = await deployment(source, "cart-service", "production")
    target = good_older(source, "cart-service", await source.deploy_versions("cart-service", "production"))
    await source.close()
    child = subprocess.Popen([sys.executable, "-c", CRASHING_CHILD, str(tmp_path / "crash.db"), target],
                             stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(child.stdout.readline)
        assert line.strip() == "HALF-WAY"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    reopened = await make(db="crash.db")
    after = await deployment(reopened, "cart-service", "production")
    assert (after.version, after.health, after.message) == (before.version, Health.HEALTHY, "")
    replay = await run(reopened, request("crash", service="cart-service", environment="production", version=target))
    assert replay[-1].state is ActionState.FAILED and "interrupted" in replay[-1].message


# Provisioning -----------------------------------------------------------------------------------------
EXAMPLES = {
    "preview-environment": {"name": "pr-1234", "services": "cart-service, pricing-engine", "ttl_hours": 6},
    "service": {"name": "loyalty-api", "team": "checkout", "language": "kotlin", "tier": 2,
                "description": "Loyalty points for returning shoppers."},
    "postgres": {"service": "cart-service", "environment": "staging", "size": "medium", "storage_gb": 100,
                 "high_availability": True, "admin_password": PASSWORD},
    "queue": {"service": "order-service", "environment": "production", "kind": "kafka", "retention_hours": 48},
    "bucket": {"service": "data-exporter", "environment": "staging", "versioning": True},
}


async def test_templates_describe_their_parameters(make):
    source = await make()
    templates = {t.name: t for t in await source.templates()}
    assert set(templates) == set(EXAMPLES)
    assert {t.kind for t in templates.values()} == {"environment", "service", "database", "queue", "bucket"}
    for template in templates.values():
        assert template.title and template.description
        schema = template.json_schema()
        for name, prop in schema["properties"].items():
            assert prop.get("title"), (template.name, name)
        template.params.model_validate(EXAMPLES[template.name])
    service = templates["service"].json_schema()["properties"]
    assert service["team"]["enum"] == ["payments", "checkout", "identity", "search", "platform", "data"]
    assert service["tier"]["minimum"] == 1 and service["tier"]["maximum"] == 3
    postgres = templates["postgres"].json_schema()["properties"]
    assert postgres["admin_password"]["format"] == "password" and postgres["admin_password"]["writeOnly"]
    assert postgres["size"]["enum"] and postgres["version"]["enum"]
    assert postgres["storage_gb"]["type"] == "integer" and postgres["storage_gb"]["maximum"] == 2000
    assert postgres["high_availability"]["type"] == "boolean"
    assert templates["preview-environment"].json_schema()["properties"]["ttl_hours"]["maximum"] == 168


@pytest.mark.parametrize(("template", "params", "error"), [
    ("postgres", {"admin_password": "short1"}, "at least 12 characters"),
    ("postgres", {"admin_password": "onlyletterslong"}, "mix letters and digits"),
    ("postgres", {"environment": "production", "high_availability": False}, "highly available"),
    ("postgres", {"storage_gb": 5}, "greater than or equal to 10"),
    ("postgres", {"size": "huge"}, "Input should be"),
    ("bucket", {"environment": "production", "public": True}, "cannot be public"),
    ("preview-environment", {"name": "PR 1"}, "pattern"),
    ("preview-environment", {"services": "a, a"}, "named twice"),
    ("preview-environment", {"ttl_hours": 0}, "greater than or equal to 1"),
    ("service", {"team": "marketing"}, "Input should be"),
    ("service", {"tier": 4}, "less than or equal to 3"),
    ("queue", {"retention_hours": 1000}, "less than or equal to 336"),
    ("queue", {"colour": "blue"}, "Extra inputs"),
])
async def test_template_parameters_are_validated(make, template, params, error):
    source = await make()
    (model,) = [t.params for t in await source.templates() if t.name == template]
    with pytest.raises(ValidationError, match=error):
        model.model_validate({**EXAMPLES[template], **params})
    with pytest.raises(SourceError, match=error):
        await source.plan_action(provision("x", template, **{**EXAMPLES[template], **params}))


async def test_the_sandbox_refuses_what_the_form_accepts_but_the_platform_does_not(make):
    source = await make()
    checks = [
        ("bucket", {"service": "payments-api", "public": True}, "tier-1"),
        ("preview-environment", {"name": "staging"}, "already exists"),
        ("preview-environment", {"services": "cart-service, nope"}, "no service named 'nope'"),
        ("service", {"name": "cart-service"}, "already exists"),
        ("postgres", {"service": "nope"}, "no service named"),
        ("queue", {"environment": "qa"}, "no environment named"),
    ]
    for template, params, error in checks:
        with pytest.raises(SourceError, match=error):
            await source.plan_action(provision("x", template, **{**EXAMPLES[template], **params}))
    await run(source, provision("b1", "bucket", **EXAMPLES["bucket"]))
    with pytest.raises(SourceError, match="already exists"):
        await source.plan_action(provision("b2", "bucket", **EXAMPLES["bucket"]))


@pytest.mark.parametrize("template", list(EXAMPLES))
async def test_dry_run_lists_what_will_be_created_and_creates_nothing(make, template):
    source = await make()
    before = (await source.services(), await source.environments(), await source.deployments(),
              await source.resources())
    plan = await source.plan_action(provision("dry", template, **EXAMPLES[template]))
    assert plan.summary and plan.creates and plan.estimated_duration > timedelta(0)
    assert not plan.cancellable
    assert all(r.kind and r.name for r in plan.creates)
    kinds = {r.kind for r in plan.creates}
    assert {"preview-environment": "environment", "service": "service", "postgres": "database",
            "queue": "queue", "bucket": "bucket"}[template] in kinds
    after = (await source.services(), await source.environments(), await source.deployments(),
             await source.resources())
    assert after == before
    # the dry run's id is not used up
    events = await run(source, provision("dry", template, **EXAMPLES[template]))
    assert_progress(events)


async def test_preview_environment_is_created_and_expires_at_its_ttl(make):
    clock = ManualClock(REFERENCE)
    source = await make(clock=clock)
    events = await run(source, provision("pv", "preview-environment", **EXAMPLES["preview-environment"]))
    assert_progress(events)
    assert events[-1].total == 3 and "pr-1234" in events[-1].message
    preview = next(e for e in await source.environments() if e.name == "pr-1234")
    assert preview.kind is EnvironmentKind.PREVIEW and not preview.protected
    assert preview.expires_at == REFERENCE + timedelta(hours=6)
    deployed = {d.service: d for d in await source.deployments() if d.environment == "pr-1234"}
    assert set(deployed) == {"cart-service", "pricing-engine"}
    for service, dep in deployed.items():
        assert dep.version == (await deployment(source, service, "dev")).version
        assert dep.replicas_desired == 1 and dep.health is Health.HEALTHY
    await run(source, provision("db", "postgres", service="cart-service", environment="pr-1234",
                                admin_password=PASSWORD))
    resources = {(r.kind, r.name): r for r in await source.resources() if r.environment == "pr-1234"}
    assert {("environment", "pr-1234"), ("database", "cart-service-db")} <= set(resources)
    assert all(r.expires_at == preview.expires_at for r in resources.values())
    clock.advance(timedelta(hours=1))
    assert await collect(source, "cart-service", "pr-1234", tail=10)
    deploy = await run(source, request("d", service="pricing-engine", environment="pr-1234",
                                       version=(await source.deploy_versions("pricing-engine", "pr-1234"))[1].version))
    assert deploy[-1].state is ActionState.SUCCEEDED

    clock.set(REFERENCE + timedelta(hours=6))
    assert "pr-1234" not in {e.name for e in await source.environments()}
    assert "pr-1234" not in {d.environment for d in await source.deployments()}
    assert "pr-1234" not in {r.environment for r in await source.resources()}
    with pytest.raises(SourceNotFound):
        await collect(source, "cart-service", "pr-1234")
    with pytest.raises(SourceNotFound):
        await source.plan_action(request("x", ActionKind.RESTART, service="cart-service", environment="pr-1234"))
    # the name can be used again
    again = await run(source, provision("pv2", "preview-environment", name="pr-1234", services="search-api"))
    assert again[-1].state is ActionState.SUCCEEDED
    assert {d.service for d in await source.deployments() if d.environment == "pr-1234"} == {"search-api"}
    assert not [r for r in await source.resources() if r.kind == "database" and r.environment == "pr-1234"]


async def test_new_service_appears_with_a_dev_deployment_and_pipelines(make):
    clock = ManualClock(REFERENCE)
    source = await make(db="state.db", clock=clock)
    events = await run(source, provision("ns", "service", **EXAMPLES["service"]))
    assert_progress(events)
    service = next(s for s in await source.services() if s.name == "loyalty-api")
    assert (service.owner, service.tier, service.language, service.lifecycle) == (
        "team-checkout", 2, "kotlin", "experimental")
    assert service.description == "Loyalty points for returning shoppers."
    dev = await deployment(source, "loyalty-api", "dev")
    assert (dev.version, dev.replicas_desired, dev.health) == ("0.0.1", 1, Health.HEALTHY)
    assert {d.environment for d in await source.deployments() if d.service == "loyalty-api"} == {"dev"}
    assert await source.pipeline_runs(PipelineQuery(service="loyalty-api")) == []
    assert await collect(source, "loyalty-api", "dev") == [], "no log line from before it existed"
    # it lives on: logs, builds, continuous delivery to dev, deployable to staging
    clock.advance(timedelta(days=1))
    lines = await collect(source, "loyalty-api", "dev", tail=500)
    assert lines and all(line.ts > REFERENCE for line in lines)
    (rate,) = await source.metrics(MetricsQuery(service="loyalty-api", environment="dev", window=Window.H24,
                                                step=300, signals=(Signal.REQUEST_RATE,)))
    assert any(v > 0 for _, v in rate.points)
    runs = await source.pipeline_runs(PipelineQuery(service="loyalty-api"))
    assert runs and all(r.started_at >= REFERENCE for r in runs)
    release = next(r for r in runs if r.pipeline == "release" and r.status is RunStatus.SUCCEEDED)
    assert release.version.startswith("0.")
    assert (await deployment(source, "loyalty-api", "dev")).version == release.version
    versions = await source.deploy_versions("loyalty-api", "staging")
    assert versions[0].version == release.version and not any(v.current for v in versions)
    first = await run(source, request("st", service="loyalty-api", environment="staging", version=release.version))
    assert first[-1].state is ActionState.SUCCEEDED
    assert (await deployment(source, "loyalty-api", "staging")).replicas_desired == 2
    await source.close()
    reopened = await make(db="state.db", clock=clock)
    assert "loyalty-api" in {s.name for s in await reopened.services()}
    assert (await deployment(reopened, "loyalty-api", "staging")).version == release.version


async def test_database_queue_and_bucket_appear_as_resources(make):
    source = await make(db="state.db")
    for template in ("postgres", "queue", "bucket"):
        events = await run(source, provision(template, template, **EXAMPLES[template]))
        assert_progress(events)
    resources = {(r.kind, r.name): r for r in await source.resources()}
    db = resources["database", "cart-service-db"]
    assert (db.service, db.environment, db.status, db.created_at) == ("cart-service", "staging", "ready", REFERENCE)
    assert db.details["engine"] == "PostgreSQL 16" and db.details["storage"] == "100 GB gp3"
    assert db.details["high availability"].startswith("yes")
    assert resources["secret", "cart-service-db-credentials"].details["path"]
    queue = resources["queue", "order-service.events"]
    assert (queue.environment, queue.details["kind"], queue.details["retention"]) == ("production", "kafka", "48 h")
    assert ("queue", "order-service.events.dlq") in resources
    bucket = resources["bucket", "example-staging-data-exporter"]
    assert bucket.details["access"] == "private" and bucket.details["versioning"] == "on"
    assert all(r.expires_at is None for r in resources.values() if r.kind != "environment")
    reopened = await make(db="state.db")
    assert await reopened.resources() == await source.resources()
    with pytest.raises(SourceError, match="already has a database"):
        await reopened.plan_action(provision("again", "postgres", **EXAMPLES["postgres"]))


async def test_secrets_never_appear_in_events_resources_or_the_database(make, tmp_path):
    source = await make(db="secret.db")
    req = provision("db", "postgres", **EXAMPLES["postgres"])
    plan = await source.plan_action(req)
    events = await run(source, req)
    replay = await run(source, req)
    assert events[-1].state is ActionState.SUCCEEDED and replay[-1].state is ActionState.SUCCEEDED
    texts = [plan.model_dump_json(), *(e.model_dump_json() for e in events + replay),
             *(r.model_dump_json() for r in await source.resources()),
             *(json.dumps(v.model_dump(mode="json")) for v in await source.deploy_versions("cart-service", "staging"))]
    assert not any(PASSWORD in text for text in texts)
    await source.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("secret.db")]
    assert files
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and PASSWORD.encode("utf-16-le") not in data


# Through the hub ---------------------------------------------------------------------------------------
async def test_end_to_end_through_the_action_manager(tmp_path):
    clock = ManualClock(REFERENCE)
    runtime = build_runtime(demo_config(tmp_path, action_speed=FAST), data_dir=tmp_path, clock=clock)
    try:
        manager = runtime.actions
        assert manager.available and manager.can(ActionKind.DEPLOY) and manager.can(ActionKind.PROVISION)
        versions = await manager.versions("cart-service", "staging")
        target = versions[2].version
        run_ = await manager.submit(ActionRequest(id="e2e-deploy", kind=ActionKind.DEPLOY, service="cart-service",
                                                  environment="staging", version=target, reason="test"))
        done = await manager.wait(run_.id)
        assert done.state is ActionState.SUCCEEDED, done.error
        assert done.plan is not None and done.plan.target_version == target
        assert done.events[-1].state is ActionState.SUCCEEDED and done.progress is not None
        templates = {entry.template.name for entry in await manager.templates()}
        assert templates == set(EXAMPLES)
        db = await manager.submit(ActionRequest(id="e2e-db", kind=ActionKind.PROVISION, template="postgres",
                                                params=EXAMPLES["postgres"]))
        assert (await manager.wait(db.id)).state is ActionState.SUCCEEDED
        assert any(r.name == "cart-service-db" and r.source == "sandbox" for r in await manager.resources())
    finally:
        await runtime.close()
    audit = AuditLog(tmp_path / AUDIT_FILE)
    records = list(audit.records())
    phases = [(r["action_id"], r["phase"]) for r in records]
    assert phases == [("e2e-deploy", "started"), ("e2e-deploy", "finished"), ("e2e-db", "started"),
                      ("e2e-db", "finished")]
    assert records[1]["outcome"] == "succeeded" and records[1]["version"] == target
    assert records[3]["params"]["admin_password"] == "***"
    assert audit.verify().ok
    assert PASSWORD not in (tmp_path / AUDIT_FILE).read_text()
    assert PASSWORD.encode() not in (tmp_path / "sandbox.sqlite3").read_bytes()
    # the sandbox kept the deploy
    source = SandboxSource(SandboxConfig(seed=7, database=str(tmp_path / "sandbox.sqlite3")),
                           SourceContext(name="sandbox", data_dir=tmp_path, clock=clock))
    await source.start()
    try:
        assert (await deployment(source, "cart-service", "staging")).version == target
    finally:
        await source.close()


async def test_cancelling_through_the_action_manager_rolls_the_deploy_back(tmp_path):
    clock = ManualClock(REFERENCE)
    # Ten times faster than life: after the first instance starts, the rollout still has its ten
    # simulated seconds of health checks (one real second) to be cancelled in.
    runtime = build_runtime(demo_config(tmp_path, action_speed=10.0), data_dir=tmp_path, clock=clock)
    try:
        manager = runtime.actions
        versions = await manager.versions("cart-service", "production")
        current = next(v.version for v in versions if v.current)
        target = next(v.version for v in versions if not v.current)
        started = asyncio.Event()
        manager.watch(lambda r: started.set() if any(e.message.startswith("Started") for e in r.events) else None)
        run_ = await manager.submit(ActionRequest(
            id="e2e-cancel", kind=ActionKind.DEPLOY, service="cart-service", environment="production",
            version=target, reason="test", confirmation="production"))
        assert run_.cancellable
        await started.wait()
        assert manager.cancel(run_.id) == "cancelling"
        done = await manager.wait(run_.id)
        assert done.state is ActionState.CANCELLED
        snapshot = None
        for _ in range(200):  # the source settles its undo on its own loop
            source_store = runtime.hub.runners[0].source._state()[2]
            row = source_store.action("e2e-cancel")
            if row is not None and row.state != "running":
                snapshot = row
                break
            await asyncio.sleep(0.01)
        assert snapshot is not None and snapshot.state == "cancelled"
        assert source_store.deployment("cart-service", "production").version == current
    finally:
        await runtime.close()
    records = list(AuditLog(tmp_path / AUDIT_FILE).records())
    assert [(r["phase"], r.get("outcome")) for r in records] == [("started", None), ("finished", "cancelled")]
