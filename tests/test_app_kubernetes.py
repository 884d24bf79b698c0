"""The whole dashboard on a Kubernetes cluster (the kmock emulator through the official client),
configured from a config file as a user writes it: the Environments pane filled from watched
workloads and changing live, the Logs pane following every pod, and a deploy from the modal with
its typed confirmation and audit records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod
from textual.widgets import Input

from idp_tui.api.actions import ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.dialogs import ActionModal
from idp_tui.ui.app import IdpApp
from idp_tui.ui.logview import LogView
from idp_tui.ui.vtable import VirtualTable

from conftest import T0
from fakes import assert_alive, screen_lines, wait_until

SIZE = (160, 50)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


def write_config(tmp_path: Path, cluster: Cluster) -> Path:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1", "us-1"])
    path = tmp_path / "config.toml"
    path.write_text(f'''
[hub.refresh]
# Hours: whatever changes on screen came by watch.
environments = 3600

[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"

[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "shop-staging" }}
production = {{ context = "us-1", namespace = "shop-prod" }}
''')
    return path


def seed(cluster: Cluster) -> None:
    for ns, version, pods in (("shop-staging", "1.4.0", 2), ("shop-prod", "1.3.2", 3)):
        cluster.put("deployments", ns, "cart", deployment(
            "cart", ns, image=f"registry.example/shop/cart:{version}", replicas=pods))
        cluster.put("deployments", ns, "payments", deployment(
            "payments", ns, image="registry.example/payments:2.0.1"))
    for i in range(2):
        name = f"cart-5c6d-{i}"
        cluster.put("pods", "shop-staging", name, pod(name, "shop-staging", "cart",
                                                       containers=["cart"]))
        cluster.logs("shop-staging", name,
                     past=[f"2026-11-25T13:59:0{i}.000000000Z GET /cart/{i} 200 [/] "
                           "[@click=app.quit]x"])


def app_for(tmp_path: Path, cluster: Cluster) -> IdpApp:
    config = load_config(write_config(tmp_path, cluster), required=True)
    data = tmp_path / "data"
    data.mkdir()
    return IdpApp(config, data_dir=data, clock=ManualClock(T0))


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


async def test_environments_pane_shows_the_cluster_and_follows_its_changes(
        tmp_path: Path, cluster: Cluster) -> None:
    seed(cluster)
    app = app_for(tmp_path, cluster)
    async with app.run_test(size=SIZE) as pilot:
        # No catalog source: the catalog lists the services running in the environments.
        await wait_until(pilot, lambda: [s.name for s in app.services] == ["cart", "payments"],
                         "the services of the environments")
        assert app.query_one("#catalog-table", VirtualTable).keys == ["cart", "payments"]
        assert "2 of 2 services seen in the environments (no catalog source configured)" in \
            text(app)
        assert "no source" not in text(app)
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_pane.id == "envs-pane", "the envs pane")
        table = app.query_one("#envs-table", VirtualTable)
        await wait_until(pilot, lambda: table.keys == ["cart", "payments"], "the workloads")
        screen = text(app)
        assert "staging" in screen and "production" in screen
        assert "1.4.0" in screen and "1.3.2" in screen and "2/2" in screen
        # Production is protected by its name.
        assert [e.protected for e in app.platform.environments] == [False, True]
        # A rollout starts on the cluster: the pane shows it without a refresh (hourly here).
        cluster.patch("deployments", "shop-staging", "cart", {
            "spec": {"template": {"spec": {"containers": [
                {"name": "cart", "image": "registry.example/shop/cart:1.5.0"}]}}},
            "status": {"readyReplicas": 1}})
        await wait_until(pilot, lambda: "1.5.0" in text(app), "the new version, by watch")
        dep = app.platform.deployments["cart", "staging"]
        assert dep.replicas_ready == 1 and dep.health.value == "degraded"
        assert dep.source == "k8s"
        assert_alive(app)


async def test_logs_pane_follows_every_pod(tmp_path: Path, cluster: Cluster) -> None:
    seed(cluster)
    app = app_for(tmp_path, cluster)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "cart", "staging"
        await pilot.press("4")
        view = app.query_one(LogView)
        await wait_until(pilot, lambda: view.total >= 2, "both pods' lines")
        screen = text(app)
        assert "cart-5c6d-0" in screen and "cart-5c6d-1" in screen
        assert "[@click=app.quit]x" in screen and "[/]" in screen  # shown as text, never markup
        assert_alive(app)


async def test_deploy_to_production_from_the_modal(tmp_path: Path, cluster: Cluster) -> None:
    seed(cluster)
    app = app_for(tmp_path, cluster)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and ("cart", "production") in app.platform.deployments,
                         "the environments")
        app.service, app.environment = "cart", "production"
        await pilot.pause()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and app.screen.plan_result is not None, "the deploy modal's plan")
        modal = app.screen
        versions = modal.query_one("#action-versions")
        # Staging's version is offered for promotion (the emulator keeps no ReplicaSets here).
        assert "1.4.0" in versions.keys and "1.3.2" in versions.keys
        versions.focus()
        await pilot.pause()
        while modal.plan_result is None or modal.plan_result.plan is None \
                or modal.plan_result.plan.target_version != "1.4.0":
            await pilot.press("down" if versions.keys.index("1.4.0") > versions.cursor_row
                              else "up")
            await wait_until(pilot, lambda: modal.plan_result is not None, "a plan")
        screen = text(app)
        assert "registry.example/shop/cart:1.4.0" in screen
        assert "needs typed confirmation" in screen
        for selector, value in (("#confirm-name", "production"), ("#confirm-reason", "CHG-7")):
            field = modal.query_one(selector, Input)
            field.focus()
            await pilot.press(*value)
        await pilot.pause()
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: cluster.requests("patch"), "the patch")
        patch = cluster.requests("patch", "/apis/apps/v1/namespaces/shop-prod/deployments/cart")[0]
        assert patch.data["spec"]["template"]["spec"]["containers"][0]["image"] == \
            "registry.example/shop/cart:1.4.0"
        assert "CHG-7" in patch.data["metadata"]["annotations"]["kubernetes.io/change-cause"]
        # The controller's part: the new generation rolled out.
        cluster.patch("deployments", "shop-prod", "cart", {"status": {"observedGeneration": 2}})
        await wait_until(pilot, lambda: modal.run is not None
                         and modal.run.state is ActionState.SUCCEEDED, "the deploy to succeed")
        records = [json.loads(line) for line in
                   (app.data_dir / AUDIT_FILE).read_text().splitlines()]
        assert [r["phase"] for r in records] == ["started", "finished"]
        assert records[0]["source"] == "k8s" and records[0]["reason"] == "CHG-7"
        assert records[1]["outcome"] == "succeeded"
        assert_alive(app)
