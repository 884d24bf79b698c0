"""Preview environments' own actions (extend, delete) through the action manager, the policy
and the audit log, on the sandbox and on Kubernetes (kmock); the preview rules' remedies."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui import (
    ActionKind,
    ActionRequest,
    ActionState,
    ManualClock,
    SourceError,
    SourceNotFound,
)
from idp_tui.actionenv import duration_seconds, duration_text
from idp_tui.actionspec import Target, spec
from idp_tui.audit import AuditLog
from idp_tui.config import AppConfig
from idp_tui.demo import demo_config
from idp_tui.policy import PolicyConfig
from idp_tui.runtime import AUDIT_FILE, build_runtime

from conftest import T0

FAST = 100_000.0


def _sandbox_config(tmp_path: Path, policy: PolicyConfig | None = None) -> AppConfig:
    config = demo_config(tmp_path, action_speed=FAST)
    if policy is not None:
        config = dataclasses.replace(config, policy=policy)
    return config


async def _runtime_with_preview(tmp_path: Path, clock: ManualClock, *, hours: float = 3,
                                policy: PolicyConfig | None = None) -> Any:
    """A demo runtime whose sandbox has the preview environment ``pr-7`` expiring in ``hours``
    with cart-service deployed in it."""
    runtime = build_runtime(_sandbox_config(tmp_path, policy), data_dir=tmp_path, clock=clock)
    source = runtime.hub.runners[0].source
    await runtime.hub.runners[0]._ensure_started()
    source._add_environment("pr-7", order=5, expires_at=clock.now() + timedelta(hours=hours))
    source._set_deployment("cart-service", "pr-7", "1.0.0")
    return runtime


def _env(runtime: Any, name: str) -> Any:
    rows = runtime.hub.runners[0].source._state()[2].environments()
    return next((row for row in rows if row.name == name), None)


def test_the_two_kinds_are_rows_of_the_action_table() -> None:
    extend, delete = spec(ActionKind.EXTEND), spec(ActionKind.DELETE_ENVIRONMENT)
    assert extend.target is delete.target is Target.ENVIRONMENT
    assert extend.duration and not extend.confirms and extend.pane == "envs"
    assert delete.confirms and not delete.frozen and delete.binding_id == "envs.delete"
    assert duration_seconds("2d") == 172800 and duration_text(172800) == "2d"
    assert duration_text(5400) == "90m"
    for bad in ("0h", "-1d", "forever", "31d", ""):
        with pytest.raises(ValueError):
            duration_seconds(bad)


async def test_extend_through_the_manager_moves_the_expiry_and_is_audited(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    runtime = await _runtime_with_preview(tmp_path, clock)
    try:
        manager = runtime.actions
        assert manager.can(ActionKind.EXTEND) and manager.can(ActionKind.DELETE_ENVIRONMENT)
        before = _env(runtime, "pr-7").expires_at
        run = await manager.submit(ActionRequest(id="ext-1", kind=ActionKind.EXTEND,
                                                 environment="pr-7",
                                                 params={"seconds": 2 * 86400}))
        done = await manager.wait(run.id)
        assert done.state is ActionState.SUCCEEDED, done.error
        assert done.title == "extend pr-7 by 2d"
        assert done.plan is not None and "by 2 days" in done.plan.summary
        assert _env(runtime, "pr-7").expires_at == pytest.approx(before + 2 * 86400)
        # a static environment is not extended: the source says why
        bad = await manager.submit(ActionRequest(id="ext-2", kind=ActionKind.EXTEND,
                                                 environment="staging", params={"seconds": 60}))
        bad = await manager.wait(bad.id)
        assert bad.state is ActionState.FAILED and "not a preview environment" in bad.error
        # no duration: refused before any source is asked
        none = await manager.wait((await manager.submit(ActionRequest(
            id="ext-3", kind=ActionKind.EXTEND, environment="pr-7"))).id)
        assert none.state is ActionState.FAILED and "seconds" in none.error
    finally:
        await runtime.close()
    records = list(AuditLog(tmp_path / AUDIT_FILE).records())
    ext = [r for r in records if r["action_id"] == "ext-1"]
    assert [r["phase"] for r in ext] == ["started", "finished"]
    assert ext[1]["outcome"] == "succeeded" and ext[1]["action"] == "extend"
    assert ext[0]["environment"] == "pr-7" and ext[0]["params"] == {"seconds": 172800}
    assert AuditLog(tmp_path / AUDIT_FILE).verify().ok


async def test_delete_needs_the_name_typed_and_a_reason_then_removes_everything(
        tmp_path: Path) -> None:
    clock = ManualClock(T0)
    runtime = await _runtime_with_preview(tmp_path, clock)
    try:
        manager = runtime.actions
        plan = await manager.plan(ActionRequest(id="del-0", kind=ActionKind.DELETE_ENVIRONMENT,
                                                environment="pr-7"))
        assert plan.decision is not None and plan.decision.needs_confirmation
        assert not plan.decision.allowed and "cannot be undone" in plan.decision.message
        assert plan.plan is not None and "cart-service" in " ".join(plan.plan.notes)
        denied = await manager.wait((await manager.submit(ActionRequest(
            id="del-1", kind=ActionKind.DELETE_ENVIRONMENT, environment="pr-7"))).id)
        assert denied.state is ActionState.DENIED and _env(runtime, "pr-7") is not None
        done = await manager.wait((await manager.submit(ActionRequest(
            id="del-2", kind=ActionKind.DELETE_ENVIRONMENT, environment="pr-7",
            confirmation="pr-7", reason="review merged"))).id)
        assert done.state is ActionState.SUCCEEDED, done.error
        assert _env(runtime, "pr-7") is None
        store = runtime.hub.runners[0].source._state()[2]
        assert store.deployment("cart-service", "pr-7") is None
        envs = await runtime.hub.runners[0].source.environments()
        assert "pr-7" not in {e.name for e in envs}
    finally:
        await runtime.close()
    records = {(r["action_id"], r["phase"]): r for r in AuditLog(tmp_path / AUDIT_FILE).records()}
    assert "cannot be undone" in records[("del-1", "denied")]["error"]
    assert records[("del-2", "finished")]["outcome"] == "succeeded"
    assert records[("del-2", "started")]["reason"] == "review merged"


async def test_read_only_and_approval_rules_cover_the_new_kinds(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    runtime = await _runtime_with_preview(tmp_path, clock,
                                          policy=PolicyConfig(read_only=True))
    try:
        run = await runtime.actions.wait((await runtime.actions.submit(ActionRequest(
            id="ro-1", kind=ActionKind.EXTEND, environment="pr-7",
            params={"seconds": 3600}))).id)
        assert run.state is ActionState.DENIED and "read-only" in run.decision.message
    finally:
        await runtime.close()
    assert _expires_unchanged(tmp_path)


def _expires_unchanged(tmp_path: Path) -> bool:
    import sqlite3

    db = sqlite3.connect(tmp_path / "sandbox.sqlite3")
    try:
        (expires,) = db.execute("SELECT expires_at FROM environments WHERE name = 'pr-7'"
                                ).fetchone()
    finally:
        db.close()
    return expires == pytest.approx((T0 + timedelta(hours=3)).timestamp())


# Kubernetes: a preview is a namespace (kmock) ----------------------------------------------------

MANAGED = {"app.kubernetes.io/managed-by": "idp-tui", "idp-tui.dev/preview": "x"}


@pytest.fixture
def cluster() -> Any:
    from kube import Cluster

    c = Cluster()
    yield c
    c.close()


@pytest.fixture
async def kube_source(tmp_path: Path, cluster: Any, clock: ManualClock) -> Any:
    from idp_tui import SourceContext
    from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

    from kube import namespace

    cluster.namespaces("shop-staging")
    cluster.put("namespaces", None, "preview-pr-7", namespace(
        "preview-pr-7", labels=MANAGED,
        annotations={"idp-tui.dev/expires-at": "2026-11-25T16:00:00Z"}))
    # Not made by idp-tui: never extended nor deleted by it.
    cluster.put("namespaces", None, "preview-foreign", namespace(
        "preview-foreign", labels={"idp-tui.dev/preview": "x"},
        annotations={"idp-tui.dev/expires-at": "2026-11-26T00:00:00Z"}))
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    config = KubernetesConfig.model_validate({
        "kubeconfig": str(kubeconfig), "previews": {"context": "eu-1", "max_ttl_hours": 72},
        "environments": {"staging": {"context": "eu-1", "namespace": "shop-staging"}}})
    src = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path, clock=clock))
    await src.start()
    yield src
    await src.close()


async def _events(gen: Any) -> list[Any]:
    return [event async for event in gen]


async def test_kubernetes_extends_a_preview_by_its_expiry_annotation(
        kube_source: Any, cluster: Any) -> None:
    src = kube_source
    assert {ActionKind.EXTEND, ActionKind.DELETE_ENVIRONMENT} <= src.actions
    await src.environments()  # the namespaces' watch has listed them
    ask = ActionRequest(id="k-ext", kind=ActionKind.EXTEND, environment="preview-pr-7",
                        params={"seconds": 86400}, actor="alice")
    plan = await src.plan_action(ask)
    assert "2026-11-26T16:00:00Z" in plan.summary and "was 2026-11-25T16:00:00Z" in plan.summary
    events = await _events(src.run_action(ask))
    assert events[-1].state is ActionState.SUCCEEDED, events[-1].message
    stored = cluster.get("namespaces", None, "preview-pr-7")
    assert stored["metadata"]["annotations"]["idp-tui.dev/expires-at"] == "2026-11-26T16:00:00Z"
    # The source reads the new expiry back as the environment's (once its watch has it).
    loop_end = asyncio.get_running_loop().time() + 10
    while True:
        env = next(e for e in await src.environments() if e.name == "preview-pr-7")
        if env.expires_at == datetime(2026, 11, 26, 16, tzinfo=UTC) or \
                asyncio.get_running_loop().time() > loop_end:
            break
        await asyncio.sleep(0.05)
    assert env.expires_at == datetime(2026, 11, 26, 16, tzinfo=UTC)
    # Past previews.max_ttl_hours from now: refused, nothing patched.
    too_far = ask.model_copy(update={"id": "k-ext-2", "params": {"seconds": 3 * 86400}})
    with pytest.raises(SourceError, match="max_ttl_hours"):
        await src.plan_action(too_far)
    # A namespace it did not make, or a static environment: not a preview of its own.
    for env_name in ("preview-foreign", "staging"):
        with pytest.raises(SourceNotFound, match="not a preview namespace"):
            await src.plan_action(ask.model_copy(update={"environment": env_name}))
    patches = [r for r in cluster.requests("patch")]
    assert [r.url.path for r in patches] == ["/api/v1/namespaces/preview-pr-7"]


async def test_kubernetes_deletes_a_preview_namespace(kube_source: Any, cluster: Any) -> None:
    src = kube_source
    await src.environments()
    ask = ActionRequest(id="k-del", kind=ActionKind.DELETE_ENVIRONMENT,
                        environment="preview-pr-7", actor="alice")
    plan = await src.plan_action(ask)
    assert "Delete namespace preview-pr-7" in plan.summary
    assert any("cannot be undone" in note for note in plan.notes)
    events = await _events(src.run_action(ask))
    assert events[-1].state is ActionState.SUCCEEDED, events[-1].message
    assert not cluster.exists("namespaces", None, "preview-pr-7")
    assert cluster.exists("namespaces", None, "preview-foreign")
    assert [r.url.path for r in cluster.requests("delete")] == ["/api/v1/namespaces/preview-pr-7"]
