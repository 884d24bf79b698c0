"""What the kubernetes source says a service runs, as a kubectl user would check it (the kmock
emulator through the official client): the container that is the service when sidecars run beside
it, the version the ready pods serve while a rollout is stuck, a version deployed by digest, what
the times of the version picker are, and the rollout history a rollback goes back through (a
StatefulSet's ControllerRevisions too). Through the source, the ``idp-tui`` command and the
dashboard's Environments pane."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, controller_revision, deployment, replicaset

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionRequest,
    ActionState,
    Deployment,
    Health,
    ManualClock,
)
from idp_tui.cli.output import EXIT_OK
from idp_tui.ui.dialogs import ActionModal
from idp_tui.ui.vtable import VirtualTable
from idp_tui_kubernetes import KubernetesSource

from fakes import assert_alive, screen_lines, wait_until
from k8s_fixtures import Sources, command, dashboard, orders_db, write_config

NS = "shop-staging"
PROD = "shop-prod"
DIGEST = "sha256:" + "ab" * 32
ENVOY = {"name": "envoy", "image": "envoyproxy/envoy:v1.30.2"}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.namespaces(NS, PROD)
    yield c
    c.close()


@pytest.fixture
async def source(tmp_path: Path, cluster: Cluster, clock: ManualClock) -> AsyncIterator[Sources]:
    async with Sources(tmp_path, cluster, clock, environments={
            "staging": {"context": "eu-1", "namespace": NS},
            "production": {"context": "eu-1", "namespace": PROD}}) as make:
        yield make


def request(kind: ActionKind, **fields: Any) -> ActionRequest:
    fields.setdefault("service", "cart")
    fields.setdefault("environment", "staging")
    return ActionRequest(id=fields.pop("id", f"act-{kind.value}"), kind=kind, actor="alice",
                         reason="ticket SHOP-12", **fields)


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


async def deployments(src: KubernetesSource) -> dict[tuple[str, str], Deployment]:
    return {(d.service, d.environment): d for d in await src.deployments()}


# The cluster's state -----------------------------------------------------------------------------

def with_sidecars(cluster: Cluster) -> None:
    """cart: an envoy sidecar listed first; payments: the default-container annotation names
    its api container, listed after a sidecar and a container named like the service."""
    cart = deployment("cart", NS, image="registry.example/shop/cart:4.1.0", container="app")
    cart["spec"]["template"]["spec"]["containers"].insert(0, dict(ENVOY))
    cluster.put("deployments", NS, "cart", cart)
    payments = deployment("payments", NS, image="registry.example/payments:2.3.0",
                          container="api")
    template = payments["spec"]["template"]
    template["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "api"}
    template["spec"]["containers"][:0] = [
        dict(ENVOY), {"name": "payments", "image": "registry.example/payments-migrate:9"}]
    cluster.put("deployments", NS, "payments", payments)


def stuck_rollout(cluster: Cluster, namespace: str = NS) -> dict[str, Any]:
    """cart asked to run 4.2.0, whose image cannot be pulled: the two ready pods still run 4.1.0
    (the Deployment's status as the controller leaves it, with its two ReplicaSets)."""
    cart = deployment("cart", namespace, image="registry.example/shop/cart:4.2.0", replicas=2,
                      generation=2)
    cart["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    cart["status"].update(replicas=3, updatedReplicas=1, readyReplicas=2, availableReplicas=2,
                          unavailableReplicas=1)
    cart["status"]["conditions"][1] = {
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "cart-rev2" has timed out progressing.',
        "lastUpdateTime": "2026-11-25T13:10:00Z"}
    cluster.put("deployments", namespace, "cart", cart)
    old = replicaset(cart, 1, "registry.example/shop/cart:4.1.0", created="2026-11-18T09:00:00Z")
    old["status"] = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    new = replicaset(cart, 2, "registry.example/shop/cart:4.2.0", created="2026-11-25T13:00:00Z")
    new["status"] = {"replicas": 1}
    cluster.put("replicasets", namespace, old["metadata"]["name"], old)
    cluster.put("replicasets", namespace, new["metadata"]["name"], new)
    return cart


# Which container is the service ------------------------------------------------------------------

async def test_a_sidecar_listed_first_is_not_the_service(source: Any, cluster: Cluster) -> None:
    with_sidecars(cluster)
    src = await source()
    deps = await deployments(src)
    cart, payments = deps["cart", "staging"], deps["payments", "staging"]
    assert cart.version == "4.1.0"  # not envoy's v1.30.2
    assert cart.message == ("deployment/cart: version from container app "
                            "(the first that is not a known sidecar)")
    # The annotation comes before the name of the service and before skipping sidecars.
    assert payments.version == "2.3.0"
    assert "version from container api (the kubectl.kubernetes.io/default-container " \
           "annotation)" in payments.message
    # A deploy changes that container, and says so.
    plan = await src.plan_action(request(ActionKind.DEPLOY, version="4.2.0"))
    assert plan.current_version == "4.1.0"
    assert "set the image of container app of deployment/cart" in plan.summary
    assert "registry.example/shop/cart:4.2.0" in plan.summary
    # The config naming a container wins over all of it.
    named = await source(container="envoy")
    assert (await deployments(named))["cart", "staging"].version == "v1.30.2"


# What is serving ---------------------------------------------------------------------------------

async def test_a_stuck_rollout_shows_the_version_the_ready_pods_serve(source: Any,
                                                                      cluster: Cluster) -> None:
    stuck_rollout(cluster)
    src = await source()
    dep = (await deployments(src))["cart", "staging"]
    assert (dep.version, dep.target_version, dep.rollout) == ("4.1.0", "4.2.0", "stuck")
    assert (dep.replicas_ready, dep.replicas_desired) == (2, 2)
    assert dep.health is Health.DEGRADED
    assert dep.message == ("deployment/cart: 2 ready run 4.1.0, 4.2.0 is stuck; rollout stuck: "
                           'ReplicaSet "cart-rev2" has timed out progressing.')
    # What the plan calls current is what serves; a rollback goes back to it.
    rollback = await src.plan_action(request(ActionKind.ROLLBACK))
    assert (rollback.current_version, rollback.target_version) == ("4.1.0", "4.1.0")

    # The image is fixed: the new pods become ready, the old ReplicaSet goes (the watches see it).
    cluster.patch("replicasets", NS, "cart-rev2", {"status": {"replicas": 2, "readyReplicas": 2}})
    cluster.patch("replicasets", NS, "cart-rev1", {"status": {"replicas": 0, "readyReplicas": 0}})
    done = deployment("cart", NS, replicas=2, generation=2)["status"]
    cluster.patch("deployments", NS, "cart", {"status": done})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        dep = (await deployments(src))["cart", "staging"]
        if dep.version == "4.2.0" and not dep.rollout:
            break
        assert loop.time() < deadline, f"still {dep}"
        await asyncio.sleep(0.02)
    assert dep.target_version is None and dep.health is Health.HEALTHY


async def test_a_rollout_under_way_is_progressing_with_the_old_pods_serving(
        source: Any, cluster: Cluster) -> None:
    stuck_rollout(cluster)
    cluster.patch("deployments", NS, "cart", {"status": {"conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "lastUpdateTime": "2026-11-25T13:01:00Z"}]}})
    src = await source()
    dep = (await deployments(src))["cart", "staging"]
    assert (dep.version, dep.target_version, dep.rollout) == ("4.1.0", "4.2.0", "progressing")
    assert "2 ready run 4.1.0, 4.2.0 is rolling out" in dep.message
    # Versions offered: what serves is current, and the times say what they are.
    options = await src.deploy_versions("cart", "staging")
    assert [(o.version, o.current, o.time_label) for o in options] == [
        ("4.2.0", False, "first deployed"), ("4.1.0", True, "first deployed")]
    assert options[1].built_at is not None and options[1].built_at.day == 18


# A version by digest -----------------------------------------------------------------------------

async def test_a_version_deployed_by_digest_shows_as_a_short_digest(source: Any,
                                                                    cluster: Cluster) -> None:
    cluster.put("deployments", NS, "cart", deployment(
        "cart", NS, image=f"registry.example/shop/cart@{DIGEST}"))
    cluster.put("deployments", PROD, "cart", deployment(
        "cart", PROD, image="registry.example/shop/cart:1.3.1"))
    src = await source()
    deps = await deployments(src)
    assert deps["cart", "staging"].version == "@sha256:abababababab…"
    options = await src.deploy_versions("cart", "production")
    assert [(o.version, o.environments) for o in options] == [
        ("1.3.1", ("production",)), ("@sha256:abababababab…", ("staging",))]
    # Promoting it deploys the whole digest it stands for.
    plan = await src.plan_action(request(ActionKind.DEPLOY, environment="production",
                                         version="@sha256:abababababab…"))
    assert f"registry.example/shop/cart@{DIGEST}" in plan.summary
    assert plan.target_version == "@sha256:abababababab…"
    assert plan.running_elsewhere == ("staging",)


# Rollout history ---------------------------------------------------------------------------------

async def test_a_rollback_shows_the_revisions_with_their_change_causes(
        source: Any, cluster: Cluster) -> None:
    cart = deployment("cart", NS, image="registry.example/shop/cart:1.4.0")
    cluster.put("deployments", NS, "cart", cart)
    causes = {1: "", 2: "kubectl set image deployment/cart cart=…:1.3.1", 3:
              "idp-tui deploy 1.4.0 by bob: SHOP-9"}
    for number, version in ((1, "1.2.0"), (2, "1.3.1"), (3, "1.4.0")):
        rs = replicaset(cart, number, f"registry.example/shop/cart:{version}")
        if causes[number]:
            rs["metadata"]["annotations"]["kubernetes.io/change-cause"] = causes[number]
        cluster.put("replicasets", NS, rs["metadata"]["name"], rs)
    src = await source()
    plan = await src.plan_action(request(ActionKind.ROLLBACK))
    assert plan.target_version == "1.3.1"
    history = [n for n in plan.notes if n.startswith(("Rollout history", "revision"))]
    assert history == [
        "Rollout history of deployment/cart (newest first; the change-cause of each):",
        "revision 3: 1.4.0 (newest): idp-tui deploy 1.4.0 by bob: SHOP-9",
        "revision 2: 1.3.1 (rolling back to it): kubectl set image deployment/cart "
        "cart=…:1.3.1",
        "revision 1: 1.2.0: no change-cause recorded"]


async def test_a_statefulset_rolls_back_to_its_previous_revision(source: Any,
                                                                 cluster: Cluster) -> None:
    orders_db(cluster, NS)
    other = deployment("search-db", NS, kind="StatefulSet")
    cr = controller_revision(other, 7, "registry.example/postgres:9.6")
    cluster.put("controllerrevisions", NS, cr["metadata"]["name"], cr)
    src = await source()
    options = await src.deploy_versions("orders", "staging")
    assert [(o.version, o.current, o.time_label) for o in options] == [
        ("16.4", True, "first deployed"), ("16.3", False, "first deployed")]
    plan = await src.plan_action(request(ActionKind.ROLLBACK, service="orders"))
    assert (plan.current_version, plan.target_version) == ("16.4", "16.3")
    assert "revision 1: 16.3 (rolling back to it): initial" in plan.notes
    assert "revision 2: 16.4 (newest): minor upgrade" in plan.notes
    events: list[ActionEvent] = []

    async def run() -> None:
        async for event in src.run_action(request(ActionKind.ROLLBACK, service="orders")):
            events.append(event)

    task = asyncio.ensure_future(run())
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets/orders-db"
    await until(lambda: cluster.requests("patch", path), "the patch")
    body = cluster.requests("patch", path)[-1].data
    assert body["spec"]["template"]["spec"]["containers"] == [
        {"name": "orders-db", "image": "registry.example/postgres:16.3"}]
    cluster.patch("statefulsets", NS, "orders-db", {"status": {"observedGeneration": 2}})
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED


async def test_a_statefulset_part_way_shows_the_version_its_old_pods_serve(
        source: Any, cluster: Cluster) -> None:
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders", replicas=3,
                    image="registry.example/postgres:16.4", generation=2)
    old = controller_revision(db, 1, "registry.example/postgres:16.3")
    new = controller_revision(db, 2, "registry.example/postgres:16.4")
    db["status"].update(currentRevision=old["metadata"]["name"],
                        updateRevision=new["metadata"]["name"], currentReplicas=2,
                        updatedReplicas=1, readyReplicas=2)
    cluster.put("statefulsets", NS, "orders-db", db)
    for cr in (old, new):
        cluster.put("controllerrevisions", NS, cr["metadata"]["name"], cr)
    src = await source()
    dep = (await deployments(src))["orders", "staging"]
    assert (dep.version, dep.target_version, dep.rollout) == ("16.3", "16.4", "progressing")
    assert dep.message.startswith("statefulset/orders-db: 2 ready run 16.3, 16.4 is rolling out")
    # Read once: a ControllerRevision never changes.
    path = f"/apis/apps/v1/namespaces/{NS}/controllerrevisions/{old['metadata']['name']}"
    await deployments(src)
    assert len(cluster.requests("get", path)) == 1
    # Rolled out: the update revision is the current one.
    cluster.patch("statefulsets", NS, "orders-db", {"status": {
        "currentRevision": new["metadata"]["name"], "currentReplicas": 3, "updatedReplicas": 3,
        "readyReplicas": 3}})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (dep := (await deployments(src))["orders", "staging"]).rollout:
        assert loop.time() < deadline, f"still {dep}"
        await asyncio.sleep(0.02)
    assert (dep.version, dep.target_version) == ("16.4", None)


async def test_scale_keeps_the_change_cause(source: Any, cluster: Cluster) -> None:
    cart = deployment("cart", NS, image="registry.example/shop/cart:1.4.0", replicas=3)
    cart["metadata"]["annotations"] = {"kubernetes.io/change-cause": "idp-tui deploy 1.4.0 by bob"}
    cluster.put("deployments", NS, "cart", cart)
    src = await source()
    events: list[ActionEvent] = []

    async def run() -> None:
        async for event in src.run_action(request(ActionKind.SCALE, replicas=5)):
            events.append(event)

    task = asyncio.ensure_future(run())
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/cart"
    await until(lambda: cluster.requests("patch", path), "the patch")
    stored = cluster.get("deployments", NS, "cart")
    assert stored["spec"]["replicas"] == 5
    assert stored["metadata"]["annotations"]["kubernetes.io/change-cause"] == \
        "idp-tui deploy 1.4.0 by bob"
    assert stored["metadata"]["annotations"]["idp-tui.dev/action-id"] == "act-scale"
    cluster.patch("deployments", NS, "cart", {"status": {
        "observedGeneration": 2, "replicas": 5, "updatedReplicas": 5, "readyReplicas": 5,
        "availableReplicas": 5}})
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED


# Where the user sees it --------------------------------------------------------------------------

def config_file(tmp_path: Path, cluster: Cluster) -> Path:
    return write_config(tmp_path, cluster, {"staging": NS, "production": PROD})


def test_the_cli_shows_what_serves(tmp_path: Path, cluster: Cluster) -> None:
    stuck_rollout(cluster)
    cluster.put("deployments", PROD, "cart", deployment(
        "cart", PROD, image=f"registry.example/shop/cart@{DIGEST}"))
    payments = deployment("payments", NS, image="registry.example/payments:2.3.0",
                          container="api")
    payments["spec"]["template"]["spec"]["containers"].insert(0, dict(ENVOY))
    cluster.put("deployments", NS, "payments", payments)
    run = command(tmp_path, config_file(tmp_path, cluster))
    matrix = run("envs")
    assert matrix.returncode == EXIT_OK, matrix.stderr
    cart_row = next(line for line in matrix.stdout.splitlines() if line.startswith("cart"))
    assert "4.1.0 (stuck rolling out 4.2.0)" in cart_row
    assert "@sha256:abababababab…" in cart_row
    assert "v1.30.2" not in matrix.stdout
    payments_row = next(line for line in matrix.stdout.splitlines()
                        if line.startswith("payments"))
    assert "2.3.0" in payments_row
    staging = run("envs", "--env", "staging")
    assert staging.returncode == EXIT_OK, staging.stderr
    assert "2 ready run 4.1.0, 4.2.0 is stuck" in staging.stdout
    assert "version from container api (the first that is not a known sidecar)" in \
        staging.stdout
    data = json.loads(run("envs", "--json").stdout)
    cart = next(d for d in data["deployments"] if (d["service"], d["environment"]) ==
                ("cart", "staging"))
    assert (cart["version"], cart["target_version"], cart["rollout"]) == \
        ("4.1.0", "4.2.0", "stuck")
    versions = run("versions", "cart", "--env", "staging")
    assert versions.returncode == EXIT_OK, versions.stderr
    lines = versions.stdout.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "CURRENT", "WHEN"]
    row = next(line for line in lines if line.startswith("4.1.0"))
    assert "*" in row and "first deployed" in row


async def test_the_environments_pane_marks_a_stuck_rollout(tmp_path: Path,
                                                           cluster: Cluster) -> None:
    stuck_rollout(cluster)
    cluster.put("deployments", PROD, "cart", deployment(
        "cart", PROD, image=f"registry.example/shop/cart@{DIGEST}"))
    app = dashboard(tmp_path, config_file(tmp_path, cluster))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_pane.id == "envs-pane", "the envs pane")
        table = app.query_one("#envs-table", VirtualTable)
        await wait_until(pilot, lambda: table.keys == ["cart"], "the workloads")
        row = next(line for line in screen_lines(app) if line.lstrip("│ ").startswith("cart"))
        assert "4.1.0 ⧗ 2/2" in row  # what serves, and the stuck rollout's own mark
        assert "4.2.0" not in row and "◐" not in row
        assert "@sha256:abababababab…" in row
        # The status line says what the mark means for the selected cell.
        app.service, app.environment = "cart", "staging"
        await wait_until(pilot, lambda: "4.2.0 is stuck" in "\n".join(screen_lines(app)),
                         "the detail of the selected cell")
        assert_alive(app)


async def test_the_dialogs_say_what_a_time_is_and_show_the_history(tmp_path: Path,
                                                                    cluster: Cluster) -> None:
    stuck_rollout(cluster)
    for number, cause in ((1, "idp-tui deploy 4.1.0 by bob"), (2, "idp-tui deploy 4.2.0 by eve")):
        cluster.patch("replicasets", NS, f"cart-rev{number}", {"metadata": {"annotations": {
            "kubernetes.io/change-cause": cause}}})
    app = dashboard(tmp_path, config_file(tmp_path, cluster))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and ("cart", "staging") in app.platform.deployments, "the environments")
        app.service, app.environment = "cart", "staging"
        await pilot.pause()
        # The deploy dialog's versions: their times are when each was first deployed.
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and app.screen.plan_result is not None, "the deploy dialog's plan")

        def version_row() -> str:
            return next((line for line in screen_lines(app) if " 4.1.0 ●" in line), "")

        # (the table widens its columns when idle)
        await wait_until(pilot, lambda: "2026-11-18" in version_row(), "the times shown")
        assert "first deployed 2026-11-18 09:00" in version_row()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ActionModal), "closed")
        # The rollback dialog's plan: the revisions with their change-causes.
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and app.screen.plan_result is not None
                         and app.screen.plan_result.plan is not None, "the rollback's plan")
        screen = "\n".join(screen_lines(app))
        assert "Rollout history of deployment/cart" in screen
        assert "revision 2: 4.2.0 (newest): idp-tui deploy 4.2.0 by eve" in screen
        assert "revision 1: 4.1.0 (rolling back to it): idp-tui deploy 4.1.0 by bob" in screen
        assert_alive(app)
