"""The action manager judges what a rollback does from the evidence it has (issue 14, item 1):
the platform's deployments, the source's plan, version list and default rollback, and idp-tui's
own audit log. A rollback to a version new to the environment is denied in a freeze, the same as a
deploy; a true rollback is not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    Deployment,
    Environment,
    Health,
    Source,
    SourceConfig,
    SourceError,
    VersionOption,
)
from idp_tui.config import AppConfig, SourceSpec
from idp_tui.policy import FreezeWindow, PolicyConfig
from idp_tui.runtime import AUDIT_FILE, build_runtime

from conftest import T0

FREEZE = FreezeWindow(environments=["production"], start=T0 + timedelta(hours=1),
                      end=T0 + timedelta(days=10), reason="end-of-year freeze")


class HistoryConfig(SourceConfig):
    #: The version running in production now.
    current: str = "1.5.0"
    #: What a rollback without a version goes back to ("" : the source knows no previous one).
    previous: str = "1.4.0"
    #: Versions the source lists as running in production now (besides ``current``).
    listed: list[str] = []


class HistorySource(Source):
    """One service, ``billing``, in production; it records what it ran and what it was asked."""

    Config = HistoryConfig
    capabilities = frozenset({Capability.ENVIRONMENTS, Capability.ACTIONS})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK})
    config: HistoryConfig

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.running = self.config.current
        self.ran: list[str] = []
        self.plans: list[str | None] = []

    async def environments(self) -> list[Environment]:
        return [Environment(name="staging", order=0), Environment(name="production", order=1)]

    async def deployments(self) -> list[Deployment]:
        return [Deployment(service="billing", environment="production", version=self.running,
                           replicas_ready=2, replicas_desired=2, health=Health.HEALTHY)]

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        out = [VersionOption(version=self.running, current=True, environments=("production",))]
        out += [VersionOption(version=v, environments=("production",)) for v in self.config.listed]
        return out

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        self.plans.append(request.version)
        target = request.version
        if target is None and request.kind is ActionKind.ROLLBACK:
            if not self.config.previous:
                raise SourceError("no earlier version to roll back to")
            target = self.config.previous
        return ActionPlan(summary=f"{request.kind.value} billing", current_version=self.running,
                          target_version=target)

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:  # type: ignore[override]
        plan = await self.plan_action(request)
        self.running = plan.target_version or self.running
        self.ran.append(self.running)
        yield ActionEvent(ts=self.context.clock.now(), message="done", state=ActionState.SUCCEEDED)


@pytest.fixture
async def runtimes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Any] = []

    def factory(clock: Any, **settings: Any) -> Any:
        spec = SourceSpec(name="history", type="history", cls=HistorySource,
                          config=HistoryConfig(**settings), timeout=5.0)
        config = AppConfig(path=None, sources=[spec], policy=PolicyConfig(freeze=[FREEZE]))
        runtime = build_runtime(config, data_dir=tmp_path, clock=clock)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        await runtime.close()


def rollback(version: str | None = None, *, id: str = "rb") -> ActionRequest:
    return ActionRequest(id=id, kind=ActionKind.ROLLBACK, service="billing",
                         environment="production", version=version, confirmation="production",
                         reason="INC-7")


def source_of(runtime: Any) -> HistorySource:
    return runtime.hub.runners[0].source


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / AUDIT_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def frozen(clock: Any) -> None:
    clock.set(T0 + timedelta(days=1))


async def test_a_rollback_to_a_newer_version_is_denied_in_a_freeze_like_a_deploy(
        runtimes, clock, tmp_path):
    rt = runtimes(clock)
    frozen(clock)
    run = await rt.actions.submit(rollback("1.6.0"))
    assert run.state is ActionState.DENIED and run.decision.rule == "freeze"
    assert run.error == ("rolling back to 1.6.0, which has never run in production, is a deploy: "
                         "production is frozen for deploys until 2026-12-05 14:00 UTC "
                         "(end-of-year freeze).")
    assert source_of(rt).ran == []
    (denied,) = audit(tmp_path)
    assert denied["phase"] == "denied"
    assert denied["decision"]["acts_as"] == "deploy" and denied["decision"]["rule"] == "freeze"


async def test_a_true_rollback_is_allowed_in_a_freeze_and_audited_as_a_rollback(
        runtimes, clock, tmp_path):
    rt = runtimes(clock)
    frozen(clock)
    # Without a version: the source's previous one.
    run = await rt.actions.submit(rollback())
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error
    assert source_of(rt).ran == ["1.4.0"]
    started, finished = audit(tmp_path)
    assert started["decision"]["acts_as"] is None
    assert started["decision"]["effect"] == ("rolling back to 1.4.0, which ran in production "
                                             "before, is a rollback")
    assert (finished["previous_version"], finished["target_version"]) == ("1.5.0", "1.4.0")


async def test_the_previous_version_named_explicitly_is_a_true_rollback(runtimes, clock):
    rt = runtimes(clock)
    frozen(clock)
    run = await rt.actions.submit(rollback("1.4.0"))
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error
    # The source was asked what its own rollback would go back to.
    assert None in source_of(rt).plans


async def test_going_back_to_a_newer_version_after_a_rollback_is_a_deploy(runtimes, clock):
    """Rolled back from 1.5.0 to 1.4.0; "rolling back" again to 1.5.0 brings the newer code back."""
    rt = runtimes(clock, current="1.4.0", previous="1.5.0")
    frozen(clock)
    run = await rt.actions.submit(rollback())
    assert run.state is ActionState.DENIED
    assert run.error is not None and run.error.startswith(
        "rolling back to 1.5.0, newer than 1.4.0 running in production now, is a deploy: "
        "production is frozen")


async def test_the_audit_log_shows_what_ran_before(runtimes, clock, tmp_path):
    rt = runtimes(clock, previous="")
    # Before the freeze: 1.5.0 → 1.2.0 → 1.5.0, all through idp-tui.
    for i, version in enumerate(("1.2.0", "1.5.0")):
        run = await rt.actions.submit(ActionRequest(
            id=f"d{i}", kind=ActionKind.DEPLOY, service="billing", environment="production",
            version=version, confirmation="production", reason="release"))
        await rt.actions.wait(run.id)
        assert run.state is ActionState.SUCCEEDED, run.error
    frozen(clock)
    ok = await rt.actions.submit(rollback("1.2.0", id="rb-ok"))
    await rt.actions.wait(ok.id)
    assert ok.state is ActionState.SUCCEEDED, ok.error
    never = await rt.actions.submit(rollback("1.3.0", id="rb-never"))
    assert never.state is ActionState.DENIED
    assert "1.3.0, which has never run in production" in (never.error or "")
    assert source_of(rt).ran == ["1.2.0", "1.5.0", "1.2.0"]


async def test_the_source_version_list_shows_what_runs_there(runtimes, clock):
    rt = runtimes(clock, previous="", listed=["1.1.0"])
    frozen(clock)
    run = await rt.actions.submit(rollback("1.1.0"))
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error


async def test_a_rollback_whose_target_is_unknown_is_a_deploy(runtimes, clock):
    rt = runtimes(clock, previous="")
    frozen(clock)
    result = await rt.actions.plan(rollback())
    assert result.failure is not None and "no earlier version" in result.failure.message
    assert result.decision is not None and not result.decision.allowed
    assert result.decision.acts_as == "deploy"


@pytest.mark.parametrize(("current", "target", "allowed"), [
    ("1.9.0", "1.10.0", False),   # 1.10.0 is newer, semantically
    ("1.10.0", "1.9.0", True),    # ...and 1.9.0 older (it ran: the source's previous)
    ("v1.10.0", "1.9.0", True),   # a "v" prefix ignored
])
async def test_versions_compare_semantically(runtimes, clock, current, target, allowed):
    rt = runtimes(clock, current=current, previous="1.9.0" if allowed else "1.10.0")
    frozen(clock)
    result = await rt.actions.plan(rollback(target))
    assert result.decision is not None and result.decision.allowed is allowed, result.decision


async def test_the_plan_says_what_the_action_does_outside_a_freeze_too(runtimes, clock):
    rt = runtimes(clock)
    result = await rt.actions.plan(rollback("1.6.0"))
    assert result.decision is not None and result.decision.allowed
    assert result.decision.acts_as == "deploy"
    assert result.decision.effect == ("rolling back to 1.6.0, which has never run in production, "
                                      "is a deploy")
    # A deploy is a deploy: nothing to judge.
    deploy = await rt.actions.plan(ActionRequest(
        id="d", kind=ActionKind.DEPLOY, service="billing", environment="production",
        version="1.6.0", confirmation="production", reason="release"))
    assert deploy.decision is not None and deploy.decision.effect == ""
