"""The action layer: routing, policy, audit records, deadlines, cancellation, idempotency."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

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
    PlannedResource,
    Source,
    SourceConfig,
    Template,
)
from idp_tui.actions import WATCHDOG_GRACE, ActionManager, secret_fields
from idp_tui.audit import AuditLog
from idp_tui.config import AppConfig, SourceSpec
from idp_tui.hub import ManualTimer
from idp_tui.policy import FreezeWindow, PolicyConfig
from idp_tui.runtime import AUDIT_FILE, build_runtime

from conftest import T0


class DbParams(BaseModel):
    service: str
    size: str = "small"
    password: SecretStr


class ActorConfig(SourceConfig):
    #: "ok", "fail", "raise", "hang" (awaits forever) or "block" (blocks the source's thread).
    mode: str = "ok"
    steps: int = 3


class ActingSource(Source):
    """Deploys in ``steps`` events; other behaviour chosen by ``mode``."""

    Config = ActorConfig
    capabilities = frozenset({Capability.ENVIRONMENTS, Capability.ACTIONS, Capability.PROVISION})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE,
                         ActionKind.RESTART})
    config: ActorConfig
    release = threading.Event()

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[str] = []
        self.params_seen: list[dict[str, Any]] = []

    async def environments(self) -> list[Environment]:
        return [Environment(name="staging", order=0), Environment(name="production", order=1),
                Environment(name="vault", order=2, protected=True)]

    async def deployments(self) -> list[Deployment]:
        return [Deployment(service="api", environment=env, version="1.0.0",
                           replicas_ready=2, replicas_desired=2, health=Health.HEALTHY)
                for env in ("staging", "production", "vault")]

    async def templates(self) -> list[Template]:
        return [Template(name="postgres", title="Postgres", kind="database", params=DbParams)]

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        if request.kind is ActionKind.PROVISION:
            return ActionPlan(summary="create a database",
                              creates=(PlannedResource(kind="database", name="api-db"),))
        # A rollback without a version goes back to the one before 1.0.0: 0.9.0.
        target = request.version or ("0.9.0" if request.kind is ActionKind.ROLLBACK else None)
        return ActionPlan(summary=f"{request.kind.value} api", current_version="1.0.0",
                          target_version=target, cancellable=True)

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:  # type: ignore[override]
        self.seen.append(request.id)
        self.params_seen.append(dict(request.params))
        now = self.context.clock.now()
        mode = self.config.mode
        if mode == "raise":
            raise RuntimeError("deployer exploded")
        if mode == "block":
            self.release.wait(20)
        if mode in ("hang", "block"):
            await asyncio.sleep(3600)
        for i in range(1, self.config.steps + 1):
            await asyncio.sleep(0.01)
            yield ActionEvent(ts=now, message=f"instance {i}/{self.config.steps} updated",
                              done=i, total=self.config.steps)
        if mode == "slow":
            await asyncio.sleep(3600)
        if mode == "fail":
            yield ActionEvent(ts=now, message="health checks failed", state=ActionState.FAILED,
                              level="error")
        else:
            yield ActionEvent(ts=now, message="done", state=ActionState.SUCCEEDED)


def make_runtime(tmp_path: Path, clock: Any, *, policy: PolicyConfig | None = None,
             read_only: bool = False, source_read_only: bool = False, **settings: Any) -> Any:
    spec = SourceSpec(name="acts", type="acts", cls=ActingSource,
                      config=ActorConfig(**settings), timeout=5.0, read_only=source_read_only)
    config = AppConfig(path=None, sources=[spec], policy=policy or PolicyConfig())
    return build_runtime(config, data_dir=tmp_path, clock=clock, read_only=read_only)


def audit_records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / AUDIT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def deploy(env: str = "staging", **extra: Any) -> ActionRequest:
    return ActionRequest(id=extra.pop("id", f"req-{env}"), kind=ActionKind.DEPLOY, service="api",
                         environment=env, version="1.1.0", **extra)


@pytest.fixture
async def runtime_factory(tmp_path: Path, clock: Any):  # type: ignore[no-untyped-def]
    runtimes: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        runtime = make_runtime(tmp_path, clock, **kwargs)
        runtimes.append(runtime)
        return runtime

    yield factory
    ActingSource.release.set()
    for runtime in runtimes:
        await runtime.close()
    ActingSource.release.clear()


def source_of(runtime: Any) -> ActingSource:
    return runtime.hub.runners[0].source


async def test_deploy_runs_streams_events_and_is_audited_before_and_after(runtime_factory, tmp_path):
    rt = runtime_factory()
    manager: ActionManager = rt.actions
    changes: list[ActionState] = []
    manager.watch(lambda run: changes.append(run.state))
    run = await manager.submit(deploy())
    assert run.state is ActionState.RUNNING
    # The started record is on disk before any event arrives.
    (started,) = audit_records(tmp_path)
    assert (started["phase"], started["action"], started["environment"]) == \
        ("started", "deploy", "staging")
    await manager.wait(run.id)
    assert run.state is ActionState.SUCCEEDED
    assert [e.message for e in run.events] == ["instance 1/3 updated", "instance 2/3 updated",
                                               "instance 3/3 updated", "done"]
    assert run.progress == (3, 3)
    assert ActionState.RUNNING in changes and changes[-1] is ActionState.SUCCEEDED
    first, second = audit_records(tmp_path)
    assert second["phase"] == "finished" and second["outcome"] == "succeeded"
    assert second["prev"] == first["hash"]
    assert manager.audit.verify().ok


async def test_same_request_id_starts_one_action(runtime_factory, tmp_path):
    rt = runtime_factory()
    request = deploy()
    runs = await asyncio.gather(rt.actions.submit(request), rt.actions.submit(request))
    assert runs[0] is runs[1]
    await rt.actions.wait(request.id)
    again = await rt.actions.submit(request)
    assert again is runs[0]
    assert source_of(rt).seen == [request.id]
    assert [r["phase"] for r in audit_records(tmp_path)] == ["started", "finished"]


async def test_protected_environment_needs_typed_name_and_reason(runtime_factory, tmp_path):
    rt = runtime_factory()
    denied = await rt.actions.submit(deploy("production"))
    assert denied.state is ActionState.DENIED
    assert "type 'production' to confirm" in (denied.error or "")
    no_reason = await rt.actions.submit(deploy("production", id="r2", confirmation="production"))
    assert no_reason.state is ActionState.DENIED and "reason" in (no_reason.error or "")
    ok = await rt.actions.submit(deploy("production", id="r3", confirmation="production",
                                         reason="hotfix INC-42"))
    await rt.actions.wait(ok.id)
    assert ok.state is ActionState.SUCCEEDED
    assert source_of(rt).seen == ["r3"]
    records = audit_records(tmp_path)
    assert [r["phase"] for r in records] == ["denied", "denied", "started", "finished"]
    assert records[2]["reason"] == "hotfix INC-42"


async def test_an_environment_the_source_marks_protected_is_protected(runtime_factory):
    rt = runtime_factory()
    run = await rt.actions.submit(deploy("vault"))
    assert run.state is ActionState.DENIED and run.decision.rule == "protected"


async def test_freeze_window_blocks_deploys_but_not_rollbacks(runtime_factory, clock):
    window = FreezeWindow(environments=["staging"], start=T0 - timedelta(hours=1),
                          end=T0 + timedelta(hours=2), reason="black friday")
    rt = runtime_factory(policy=PolicyConfig(freeze=[window]))
    run = await rt.actions.submit(deploy())
    assert run.state is ActionState.DENIED
    assert "frozen for deploys until 2026-11-25 16:00 UTC (black friday)" in (run.error or "")
    rollback = await rt.actions.submit(ActionRequest(id="rb", kind=ActionKind.ROLLBACK,
                                                      service="api", environment="staging"))
    await rt.actions.wait(rollback.id)
    assert rollback.state is ActionState.SUCCEEDED


@pytest.mark.parametrize("flags", [{"read_only": True}, {"source_read_only": True},
                                   {"policy": PolicyConfig(read_only=True)}])
async def test_read_only_denies_everything(runtime_factory, tmp_path, flags):
    rt = runtime_factory(**flags)
    run = await rt.actions.submit(deploy())
    assert run.state is ActionState.DENIED and run.decision.rule == "read-only"
    assert source_of(rt).seen == []
    assert [r["outcome"] for r in audit_records(tmp_path)] == ["denied"]


async def test_plan_shows_decision_without_running(runtime_factory, tmp_path):
    rt = runtime_factory()
    result = await rt.actions.plan(deploy("production"))
    assert result.source == "acts"
    assert result.decision is not None and not result.decision.allowed
    assert result.decision.needs_confirmation
    assert result.plan is not None and result.plan.target_version == "1.1.0"
    assert source_of(rt).seen == []
    assert audit_records(tmp_path) == []


async def test_failed_and_raising_actions_end_failed_and_audited(runtime_factory, tmp_path):
    rt = runtime_factory(mode="fail")
    run = await rt.actions.submit(deploy())
    await rt.actions.wait(run.id)
    assert run.state is ActionState.FAILED and run.error == "health checks failed"
    source_of(rt).config = ActorConfig(mode="raise")
    boom = await rt.actions.submit(deploy(id="boom"))
    await rt.actions.wait(boom.id)
    assert boom.state is ActionState.FAILED
    assert "deployer exploded" in (boom.error or "")
    assert [r.get("outcome") for r in audit_records(tmp_path)] == [None, "failed", None, "failed"]


@pytest.mark.parametrize("mode", ["hang", "block"])
async def test_a_hanging_action_times_out_and_the_loop_stays_free(runtime_factory, tmp_path, mode):
    rt = runtime_factory(mode=mode, policy=PolicyConfig(action_timeout=30))
    timer = rt.actions.timer = ManualTimer()
    run = await rt.actions.submit(deploy())
    await timer.until(lambda t: t.deadlines == [30])
    # The app's loop is not blocked meanwhile (in "block" mode the source's thread is).
    for _ in range(5):
        await asyncio.sleep(0)
    assert run.state is ActionState.RUNNING
    timer.advance(30)
    if mode == "block":  # the source cannot even be cancelled: given up on after a grace
        await timer.until(lambda t: t.deadlines == [30 + WATCHDOG_GRACE])
        assert run.state is ActionState.RUNNING
        timer.advance(WATCHDOG_GRACE)
    await rt.actions.wait(run.id)
    assert run.state is ActionState.FAILED
    assert run.error == ("timed out: acts did not answer for 30 s" if mode == "block"
                         else "timed out after 30 s without finishing")
    assert audit_records(tmp_path)[-1]["outcome"] == "failed"


async def test_cancel_a_running_action(runtime_factory, tmp_path):
    rt = runtime_factory(mode="slow")
    run = await rt.actions.submit(deploy())
    while len(run.events) < 3:
        await asyncio.sleep(0.01)
    assert rt.actions.cancel(run.id) == "cancelling"
    await rt.actions.wait(run.id)
    assert run.state is ActionState.CANCELLED
    assert audit_records(tmp_path)[-1]["outcome"] == "cancelled"
    assert rt.actions.cancel(run.id) == "already cancelled"


async def test_provision_validates_params_and_keeps_secrets_out(runtime_factory, tmp_path):
    rt = runtime_factory()
    bad = await rt.actions.submit(ActionRequest(id="p0", kind=ActionKind.PROVISION,
                                                 template="postgres", params={"service": "api"}))
    assert bad.state is ActionState.FAILED and "password" in (bad.error or "")
    request = ActionRequest(id="p1", kind=ActionKind.PROVISION, template="postgres",
                            params={"service": "api", "password": "hunter2-s3cret"})
    run = await rt.actions.submit(request)
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED
    # The source got the secret; nothing kept or written afterwards has it.
    assert source_of(rt).params_seen[-1]["password"] == "hunter2-s3cret"
    assert run.public_params == {"service": "api", "password": "***"}
    assert "hunter2" not in repr(run.request)
    assert "hunter2" not in (tmp_path / AUDIT_FILE).read_text()


def test_secret_fields_of_a_template_model() -> None:
    class Params(BaseModel):
        name: str
        token: SecretStr
        maybe: SecretStr | None = None

    assert secret_fields(Params) == {"token", "maybe"}


async def test_audit_failure_means_the_action_does_not_start(runtime_factory, tmp_path):
    rt = runtime_factory()
    rt.actions.audit = AuditLog(tmp_path / "no-such-dir" / "file-not-dir")
    (tmp_path / "no-such-dir").write_text("a file where a folder should be")
    run = await rt.actions.submit(deploy())
    assert run.state is ActionState.FAILED and "not started" in (run.error or "")
    assert source_of(rt).seen == []


async def test_unknown_service_or_missing_fields_fail_clearly(runtime_factory):
    rt = runtime_factory()
    no_version = await rt.actions.submit(ActionRequest(id="x1", kind=ActionKind.DEPLOY,
                                                        service="api", environment="staging"))
    assert no_version.state is ActionState.FAILED and "needs a version" in (no_version.error or "")
    no_template = await rt.actions.submit(ActionRequest(id="x2", kind=ActionKind.PROVISION,
                                                         template="nope"))
    assert no_template.state is ActionState.FAILED
    assert "no template 'nope' (available: postgres)" in (no_template.error or "")
