"""The kubernetes source against a real cluster: skipped unless IDP_TUI_TEST_KUBECONFIG names a
kubeconfig whose current context may create and delete namespaces (kind, k3d, minikube…).

    IDP_TUI_TEST_KUBECONFIG=~/.kube/kind.yaml python -m pytest tests/test_kubernetes_real.py

Everything happens in a throwaway namespace ``idp-tui-test-XXXXXX`` (deleted at the end), with
the public ``busybox`` image, so real controllers run: rollouts, pods and their logs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionRequest,
    ActionState,
    Health,
    LogQuery,
    SourceContext,
    SystemClock,
)
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

KUBECONFIG = os.environ.get("IDP_TUI_TEST_KUBECONFIG", "")
pytestmark = pytest.mark.skipif(not KUBECONFIG, reason="IDP_TUI_TEST_KUBECONFIG is not set")

IMAGE = "busybox"
SCRIPT = 'i=0; while true; do echo "tick $i from $HOSTNAME"; i=$((i+1)); sleep 0.5; done'


@pytest.fixture
def namespace() -> Iterator[str]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=os.path.expanduser(KUBECONFIG))
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    name = f"idp-tui-test-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name}})
    labels = {"app": "ticker", "app.kubernetes.io/name": "ticker"}
    apps.create_namespaced_deployment(name, {
        "metadata": {"name": "ticker", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "ticker"}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                                  "name": "ticker", "image": f"{IMAGE}:1.36",
                                  "command": ["sh", "-c", SCRIPT]}]}}}})
    try:
        yield name
    finally:
        core.delete_namespace(name)
        api_client.close()


@pytest.fixture
async def source(tmp_path: Path, namespace: str) -> AsyncIterator[KubernetesSource]:
    config = KubernetesConfig.model_validate({
        "kubeconfig": os.path.expanduser(KUBECONFIG), "rollout_timeout": 240,
        "environments": {"test": {"namespace": namespace}},
        "previews": {"prefix": f"idptest-{namespace[-6:]}-"}})
    src = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path,
                                                 clock=SystemClock()))
    await src.start()
    yield src
    await src.close()


async def until(predicate: Any, what: str, timeout: float = 180.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(1)


async def run(src: KubernetesSource, request: ActionRequest) -> list[ActionEvent]:
    await src.plan_action(request)
    return [event async for event in src.run_action(request)]


async def test_a_real_rollout_logs_and_actions(source: KubernetesSource) -> None:
    async def healthy() -> bool:
        deps = await source.deployments()
        return any(d.service == "ticker" and d.health is Health.HEALTHY for d in deps)

    await until(healthy, "the ticker deployment to be ready")

    lines: list[Any] = []

    async def read() -> None:
        async for batch in source.logs(LogQuery(service="ticker", environment="test", tail=5)):
            lines.extend(batch)

    reader = asyncio.ensure_future(read())

    async def ticking() -> bool:
        return any("tick" in line.message for line in lines)

    await until(ticking, "log lines", timeout=60)
    reader.cancel()

    events = await run(source, ActionRequest(id=f"deploy-{secrets.token_hex(4)}",
                                             kind=ActionKind.DEPLOY, service="ticker",
                                             environment="test", version="1.36.1",
                                             actor="pytest", reason="real-cluster test"))
    assert events[-1].state is ActionState.SUCCEEDED, events
    assert {d.version for d in await source.deployments() if d.service == "ticker"} == {"1.36.1"}

    events = await run(source, ActionRequest(id=f"rollback-{secrets.token_hex(4)}",
                                             kind=ActionKind.ROLLBACK, service="ticker",
                                             environment="test", actor="pytest"))
    assert events[-1].state is ActionState.SUCCEEDED, events

    events = await run(source, ActionRequest(id=f"scale-{secrets.token_hex(4)}",
                                             kind=ActionKind.SCALE, service="ticker",
                                             environment="test", replicas=2, actor="pytest"))
    assert events[-1].state is ActionState.SUCCEEDED, events
    deps = [d for d in await source.deployments() if d.service == "ticker"]
    assert deps[0].replicas_ready == 2

    events = await run(source, ActionRequest(id=f"restart-{secrets.token_hex(4)}",
                                             kind=ActionKind.RESTART, service="ticker",
                                             environment="test", actor="pytest"))
    assert events[-1].state is ActionState.SUCCEEDED, events


async def test_a_real_preview_namespace_is_created_and_expires(
        source: KubernetesSource, namespace: str) -> None:
    from idp_tui import ManualClock

    request = ActionRequest(id=f"preview-{secrets.token_hex(4)}", kind=ActionKind.PROVISION,
                            template="preview-namespace", params={"name": "x", "ttl_hours": 1},
                            actor="pytest")
    events = await run(source, request)
    assert events[-1].state is ActionState.SUCCEEDED, events
    name = f"idptest-{namespace[-6:]}-x"
    assert name in [e.name for e in await source.environments()]
    # An hour later (the source's clock moved on), it is deleted.
    clock = ManualClock(SystemClock().now() + timedelta(hours=2))
    object.__setattr__(source.context, "clock", clock)
    source._last_expiry_check = None

    async def gone() -> bool:
        return name not in [e.name for e in await source.environments()] \
            and not any(r.name == name and r.status != "deleting"
                        for r in await source.resources())

    await until(gone, "the expired preview namespace to go")
