"""Pilot tests of the instance view (``ui/instances.py``): on the seeded sandbox (its pods follow
each deployment's health; restarting one replaces it, through the policy and the audit log) and on
a Kubernetes cluster (the kmock emulator: a crash-looping pod with its reason, an OOMKilled one,
the workload's events, a pod's YAML, deleting a pod)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod
from textual.widgets import Button

from idp_tui.api.actions import ActionKind, ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.app import IdpApp
from idp_tui.ui.dialogs import ActionModal
from idp_tui.ui.instances import InstancesScreen

from conftest import T0
from fakes import assert_alive, data_settled, screen_lines, wait_until, widget_text

SIZE = (160, 45)
NS = "shop-staging"


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def audit(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / AUDIT_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def open_instances(pilot: Any, app: Any, service: str, environment: str) -> InstancesScreen:
    await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")
    app.service = service
    app.environment = environment
    await pilot.pause()
    await pilot.press("I")
    await wait_until(pilot, lambda: isinstance(app.screen, InstancesScreen)
                     and app.screen.loaded and app.screen.data is not None, "the instances")
    return app.screen


async def restart_selected(pilot: Any, app: Any, screen: InstancesScreen) -> Any:
    await pilot.press("x")
    await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                     and app.screen.plan_result is not None, "the restart-instance plan")
    modal: ActionModal = app.screen
    assert modal.kind is ActionKind.RESTART_INSTANCE
    button = modal.query_one("#action-confirm", Button)
    await wait_until(pilot, lambda: not button.disabled and not button.has_class("-active"),
                     "the confirm button")
    await pilot.click("#action-confirm")
    await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                     "the restart to end")
    return modal.run


# On the sandbox ----------------------------------------------------------------------------------

async def test_sandbox_instances_describe_yaml_and_restart_audited(tmp_path: Path) -> None:
    from idp_tui.demo import demo_app

    data = tmp_path / "data"
    app = demo_app(data, action_speed=100_000)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")
        deps = app.platform.deployments
        # A deployment whose new pods cannot pull their image, and a healthy one.
        broken = next(d for d in deps.values() if d.message.startswith("ImagePullBackOff"))
        screen = await open_instances(pilot, app, broken.service, broken.environment)
        shown = text(app)
        assert "ImagePullBackOff" in shown and f"Instances of {broken.service}" in shown
        assert "Failed to pull image" in widget_text(app, screen.query_one("#instances-events"))
        detail = widget_text(app, screen.query_one("#instances-detail"))
        assert "Containers:" in detail and "waiting (ImagePullBackOff)" in detail
        await pilot.press("y")
        await wait_until(pilot, lambda: "kind: Pod" in widget_text(
            app, screen.query_one("#instances-detail")), "the pod's YAML")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, InstancesScreen), "closed")

        healthy = next(d for d in deps.values() if d.health.value == "healthy"
                       and d.environment == "staging" and (d.replicas_desired or 0) >= 2)
        screen = await open_instances(pilot, app, healthy.service, healthy.environment)
        before = [i.name for i in screen.data.instances]
        assert len(before) == healthy.replicas_desired
        assert all(i.reason == "" and i.ready == i.total for i in screen.data.instances)
        chosen = screen.selected
        assert chosen is not None
        run = await restart_selected(pilot, app, screen)
        assert run.state is ActionState.SUCCEEDED, run.error
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, InstancesScreen), "back")
        app.screen._sub.refresh()
        await wait_until(pilot, lambda: chosen.name not in
                         [i.name for i in app.screen.data.instances], "the pod replaced")
        after = [i.name for i in app.screen.data.instances]
        assert len(after) == len(before) and set(before) - set(after) == {chosen.name}
        assert_alive(app)
    records = [r for r in audit(data) if r.get("action") == "restart_instance"]
    assert [r["phase"] for r in records] == ["started", "finished"]
    assert {r["params"]["instance"] for r in records} == {chosen.name}
    assert records[-1]["outcome"] == "succeeded" and records[-1]["decision"]["allowed"]


async def test_instances_key_needs_a_service_and_says_so(tmp_path: Path) -> None:
    from idp_tui.demo import demo_app

    app = demo_app(tmp_path / "data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")
        app.environment = None
        await pilot.pause()
        await pilot.press("I")
        await pilot.pause()
        assert not isinstance(app.screen, InstancesScreen)
        assert any("environment" in str(n.message) for n in app._notifications)


# On Kubernetes -----------------------------------------------------------------------------------

@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


def crashing_pod(name: str, app: str) -> dict[str, Any]:
    obj = pod(name, NS, app, containers=["cart"])
    obj["spec"]["nodeName"] = "node-a"
    obj["status"]["containerStatuses"] = [{
        "name": "cart", "ready": False, "restartCount": 7, "image": "registry.example/cart:1.4.0",
        "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                             "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]
    return obj


def oom_pod(name: str, app: str) -> dict[str, Any]:
    obj = pod(name, NS, app, containers=["cart"])
    obj["spec"]["nodeName"] = "node-b"
    obj["status"]["containerStatuses"][0].update(
        restartCount=2, lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}})
    return obj


def event(name: str, involved: str, kind: str, reason: str, message: str, *,
          type_: str = "Warning", count: int = 1, at: str = "2026-11-25T13:58:00Z") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": NS, "creationTimestamp": at},
            "involvedObject": {"kind": kind, "name": involved, "namespace": NS},
            "type": type_, "reason": reason, "message": message, "count": count,
            "lastTimestamp": at}


def seed(cluster: Cluster) -> None:
    cluster.put("deployments", NS, "cart", deployment(
        "cart", NS, image="registry.example/cart:1.4.0", replicas=3, ready=2))
    cluster.put("pods", NS, "cart-5c6d-crash", crashing_pod("cart-5c6d-crash", "cart"))
    cluster.put("pods", NS, "cart-5c6d-oom", oom_pod("cart-5c6d-oom", "cart"))
    cluster.put("pods", NS, "cart-5c6d-fine", pod("cart-5c6d-fine", NS, "cart", containers=["cart"]))
    # Another workload's pod in the same namespace is not one of cart's.
    cluster.put("pods", NS, "search-1", pod("search-1", NS, "search", containers=["search"]))
    for obj in (event("e1", "cart-5c6d-crash", "Pod", "BackOff",
                      "Back-off restarting failed container cart", count=40),
                event("e2", "cart", "Deployment", "ScalingReplicaSet",
                      "Scaled up replica set cart-5c6d to 3", type_="Normal",
                      at="2026-11-25T13:00:00Z"),
                event("e3", "search-1", "Pod", "Pulled", "not about cart", type_="Normal")):
        cluster.handler.objects["v1/events", NS, obj["metadata"]["name"]] = obj


def kube_app(tmp_path: Path, cluster: Cluster) -> IdpApp:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"

[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "{NS}" }}
''')
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(path, required=True), data_dir=data, clock=ManualClock(T0))
    app.animation_level = "none"
    return app


async def test_kubernetes_pods_with_their_reasons_events_and_delete(tmp_path: Path,
                                                                    cluster: Cluster) -> None:
    seed(cluster)
    app = kube_app(tmp_path, cluster)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and ("cart", "staging") in app.platform.deployments, "cart")
        screen = await open_instances(pilot, app, "cart", "staging")
        names = [i.name for i in screen.data.instances]
        assert sorted(names) == ["cart-5c6d-crash", "cart-5c6d-fine", "cart-5c6d-oom"]
        # Asked with the workload's label selector, not namespace-wide.
        asked = [r for r in cluster.requests("get", f"/api/v1/namespaces/{NS}/pods")
                 if "watch" not in r.params]
        assert asked and all(r.params.get("labelSelector") == "app=cart" for r in asked)
        shown = text(app)
        assert "CrashLoopBackOff" in shown and "OOMKilled" in shown
        # The crash-looping pod comes first, with its restarts; the one that was killed for its
        # memory next.
        table = screen.query_one("#instances-table")
        assert table.keys[:2] == ["cart-5c6d-crash", "cart-5c6d-oom"]
        events = widget_text(app, screen.query_one("#instances-events"))
        assert "BackOff" in events and "×40" in events and "ScalingReplicaSet" in events
        assert "not about cart" not in events
        detail = widget_text(app, screen.query_one("#instances-detail"))
        assert "waiting (CrashLoopBackOff)" in detail and "terminated (Error, exit code 1)" in detail
        await pilot.press("down")
        await wait_until(pilot, lambda: "OOMKilled, exit code 137" in widget_text(
            app, screen.query_one("#instances-detail")), "the OOMKilled pod's detail")
        await pilot.press("y")
        await wait_until(pilot, lambda: "name: cart-5c6d-oom" in widget_text(
            app, screen.query_one("#instances-detail")), "the pod's YAML")
        await pilot.press("up")
        await pilot.press("y")
        run = await restart_selected(pilot, app, screen)
        assert run.state is ActionState.SUCCEEDED, run.error
        assert not cluster.exists("pods", NS, "cart-5c6d-crash")
        assert cluster.exists("pods", NS, "cart-5c6d-oom")
        assert_alive(app)
    records = [r for r in audit(tmp_path / "data") if r.get("action") == "restart_instance"]
    assert {r["params"]["instance"] for r in records} == {"cart-5c6d-crash"}
    assert records[-1]["outcome"] == "succeeded"


def test_sandbox_pods_follow_their_deployments_trouble() -> None:
    # What the sandbox's pods say for each kind of trouble a deployment's message names.
    from datetime import UTC, datetime

    from idp_tui import Deployment, Health
    from idp_tui_sandbox.fleet import Segment, current_pods, instances_of
    from idp_tui_sandbox.world import World

    spec = World(7, 40).specs[0]
    now = datetime(2026, 11, 25, 14, tzinfo=UTC).timestamp()
    segment = Segment(now - 3600, "1.2.3", Health.HEALTHY, "", 0.0)
    pods = current_pods(("p-a", "p-b"), [("p-b", "p-c", now - 60), ("p-z", "p-y", now - 30),
                                          ("p-a", "p-old", now - 7200)], segment.start)
    assert pods == [("p-a", None), ("p-c", now - 60)]

    def shown(health: Health, message: str, ready: int = 2) -> list[Any]:
        dep = Deployment(service=spec.name, environment="staging", version="1.2.3",
                         replicas_ready=ready, replicas_desired=2, health=health, message=message)
        return list(instances_of(7, spec, dep, segment, pods, now).instances)

    crash = shown(Health.DOWN, f'CrashLoopBackOff: secret "{spec.name}-db" not found', 0)
    assert {(i.reason, i.ready, i.phase) for i in crash} == {("CrashLoopBackOff", 0, "Running")}
    assert crash[0].restarts == 1 + 3600 // 300 and crash[0].containers[0].last_exit_code == 1
    assert crash[1].restarts == 1 and crash[1].created_at.timestamp() == now - 60
    oom = shown(Health.DEGRADED, "OOMKilled 3 times in the last hour")
    assert (oom[0].reason, oom[0].restarts, oom[0].containers[0].last_exit_code) == \
        ("OOMKilled", 3, 137)
    assert (oom[1].reason, oom[1].restarts) == ("", 0)
    pending = shown(Health.DEGRADED, "1 pod pending: insufficient memory in node pool", 1)
    assert [(i.phase, i.reason, i.node) for i in pending][1] == ("Pending", "Unschedulable", "")
    probe = shown(Health.DEGRADED, "Readiness probe failing on 1 pod", 1)
    assert [(i.ready, i.reason) for i in probe] == [(1, ""), (0, "Unhealthy")]
    assert all(i.reason == "" and i.ready == 1 for i in shown(Health.HEALTHY, ""))
