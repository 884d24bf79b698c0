"""A StatefulSet's rollout can be stuck, as a Deployment's is (the kmock emulator through the
official client): a pod of its update revision that waits on an image it cannot pull or crash-
loops, or a rollout with no progress for longer than a Deployment's progress deadline. The cell
shows the version the ready pods serve with the stuck mark; an update held by a partition, or
a rollout this source saw begin a moment ago, is not stuck."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, controller_revision, deployment

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
from idp_tui.ui.vtable import VirtualTable
from idp_tui_kubernetes import KubernetesSource

from fakes import assert_alive, screen_lines, wait_until
from k8s_fixtures import (  # noqa: F401 - staging_cluster: the fixture
    STAGING_NS,
    Sources,
    command,
    dashboard,
    staging_cluster,
    write_config,
)

NS = STAGING_NS
WORKLOADS = ["deployments", "statefulsets"]


@pytest.fixture
def cluster(staging_cluster: Cluster) -> Cluster:  # noqa: F811
    return staging_cluster


@pytest.fixture
async def source(tmp_path: Path, cluster: Cluster, clock: ManualClock) -> AsyncIterator[Sources]:
    async with Sources(tmp_path, cluster, clock, workloads=WORKLOADS,
                       environments={"staging": {"context": "eu-1", "namespace": NS}}) as make:
        yield make


async def orders(src: KubernetesSource) -> Deployment:
    return next(d for d in await src.deployments()
                if (d.service, d.environment) == ("orders", "staging"))


def sts_pod(name: str, revision: str, *, created: str = "2026-11-25T13:00:00Z",
            waiting: tuple[str, str] | None = None, ready_at: str | None = None) -> dict[str, Any]:
    """A pod of orders-db at ``revision``: running and ready (since ``ready_at``), or with its
    container waiting for ``waiting`` (reason, message)."""
    state: dict[str, Any] = {"running": {"startedAt": created}}
    if waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    ready = waiting is None
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                     "labels": {"app": "orders-db", "controller-revision-hash": revision},
                     "creationTimestamp": created},
        "spec": {"containers": [{"name": "orders-db", "image": "registry.example/postgres"}]},
        "status": {"phase": "Running" if ready else "Pending",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "lastTransitionTime": ready_at or created}],
                   "containerStatuses": [{"name": "orders-db", "ready": ready,
                                          "restartCount": 0, "image": "x", "imageID": "",
                                          "state": state}]},
    }


def rolling(cluster: Cluster, *, updated: int = 1, new_created: str = "2026-11-25T13:40:00Z",
            partition: int = 0) -> tuple[str, str]:
    """orders-db (2 replicas) part-way from 16.3 to 16.4: pod 0 at the old revision, ready;
    ``updated`` pods at the new one. The names of the old and the new revision."""
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders", replicas=2,
                    image="registry.example/postgres:16.4", generation=2)
    if partition:
        db["spec"]["updateStrategy"] = {"type": "RollingUpdate",
                                        "rollingUpdate": {"partition": partition}}
    old = controller_revision(db, 1, "registry.example/postgres:16.3",
                              created="2026-11-18T09:00:00Z")
    new = controller_revision(db, 2, "registry.example/postgres:16.4", created=new_created)
    old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
    db["status"].update(currentRevision=old_name, updateRevision=new_name,
                        currentReplicas=2 - updated, updatedReplicas=updated, readyReplicas=1)
    cluster.put("statefulsets", NS, "orders-db", db)
    for cr in (old, new):
        cluster.put("controllerrevisions", NS, cr["metadata"]["name"], cr)
    cluster.put("pods", NS, "orders-db-0", sts_pod("orders-db-0", old_name))
    return old_name, new_name


async def test_a_pod_of_the_update_revision_that_cannot_pull_its_image_is_stuck(
        source: Any, cluster: Cluster) -> None:
    _old, new = rolling(cluster)
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", new, created="2026-11-25T13:58:00Z",
        waiting=("ImagePullBackOff", 'Back-off pulling image "registry.example/postgres:16.4"')))
    src = await source()
    dep = await orders(src)
    assert (dep.version, dep.target_version, dep.rollout) == ("16.3", "16.4", "stuck")
    assert dep.health is Health.DEGRADED
    assert dep.message == (
        "statefulset/orders-db: 1 ready run 16.3, 16.4 is stuck; rollout stuck: pod orders-db-1 "
        'ImagePullBackOff: Back-off pulling image "registry.example/postgres:16.4"')
    # The pods were asked for with the StatefulSet's own selector.
    listed = cluster.requests("get", f"/api/v1/namespaces/{NS}/pods")
    assert listed and all(r.params.get("labelSelector") == "app=orders-db" for r in listed)


async def test_a_crash_looping_pod_is_stuck_until_the_rollout_ends(source: Any,
                                                                    cluster: Cluster) -> None:
    _old, new = rolling(cluster)
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", new, created="2026-11-25T13:59:00Z",
        waiting=("CrashLoopBackOff", "back-off 5m0s restarting failed container")))
    src = await source()
    dep = await orders(src)
    assert dep.rollout == "stuck" and "pod orders-db-1 CrashLoopBackOff" in dep.message
    # Fixed and rolled out: every pod at the update revision, ready.
    cluster.patch("pods", NS, "orders-db-1", {"status": {
        "phase": "Running", "containerStatuses": [{
            "name": "orders-db", "ready": True, "restartCount": 3, "image": "x", "imageID": "",
            "state": {"running": {"startedAt": "2026-11-25T14:00:00Z"}}}]}})
    cluster.patch("statefulsets", NS, "orders-db", {"status": {
        "currentRevision": new, "currentReplicas": 2, "updatedReplicas": 2, "readyReplicas": 2}})
    dep = await _until(src, lambda d: d.rollout == "")
    assert (dep.version, dep.target_version, dep.health) == ("16.4", None, Health.HEALTHY)


async def _until(src: KubernetesSource, predicate: Any) -> Deployment:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not predicate(dep := await orders(src)):
        assert loop.time() < deadline, f"still {dep}"
        await asyncio.sleep(0.02)
    return dep


async def test_no_progress_for_longer_than_the_deadline_is_stuck(source: Any, cluster: Cluster,
                                                                 clock: ManualClock) -> None:
    """Pod 1 at the new revision was created at 13:55 and is still starting (no reason to wait
    on): progressing at 14:00, stuck once ten minutes have passed without progress."""
    _old, new = rolling(cluster)
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", new, created="2026-11-25T13:55:00Z",
        waiting=("ContainerCreating", "")))
    src = await source()
    dep = await orders(src)
    assert (dep.version, dep.rollout) == ("16.3", "progressing")
    clock.advance(timedelta(minutes=6))  # 14:06: eleven minutes since pod 1 was created
    dep = await orders(src)
    assert (dep.version, dep.target_version, dep.rollout) == ("16.3", "16.4", "stuck")
    assert f"rollout stuck: no progress for 11 min: 1/2 pods at revision {new}" in dep.message


async def test_a_revision_no_pod_was_made_of_dates_the_rollout(source: Any,
                                                                cluster: Cluster) -> None:
    """No pod of the update revision made since its ControllerRevision was, 20 minutes ago."""
    _old, new = rolling(cluster, updated=0, new_created="2026-11-25T13:40:00Z")
    src = await source()
    dep = await orders(src)
    assert dep.rollout == "stuck"
    assert f"no progress for 20 min: 0/2 pods at revision {new}" in dep.message


async def test_an_update_held_by_a_partition_is_not_stuck(source: Any, cluster: Cluster,
                                                          clock: ManualClock) -> None:
    _old, new = rolling(cluster, partition=1, new_created="2026-11-20T10:00:00Z")
    cluster.put("pods", NS, "orders-db-1", sts_pod("orders-db-1", new,
                                                   created="2026-11-20T10:00:00Z"))
    src = await source()
    dep = await orders(src)
    assert dep.rollout == "progressing"  # a canary, on purpose: days old, not stuck


async def test_a_rollout_seen_to_begin_has_its_full_deadline(source: Any, cluster: Cluster,
                                                             clock: ManualClock) -> None:
    """Rolled out at 16.3; then sent back to an old revision (its ControllerRevision made days
    ago) while the source watches: progressing, not stuck, until ten minutes pass."""
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders", replicas=2,
                    image="registry.example/postgres:16.3")
    old = controller_revision(db, 1, "registry.example/postgres:16.2",
                              created="2026-11-01T09:00:00Z")
    now = controller_revision(db, 2, "registry.example/postgres:16.3",
                              created="2026-11-18T09:00:00Z")
    db["status"].update(currentRevision=now["metadata"]["name"],
                        updateRevision=now["metadata"]["name"], currentReplicas=2)
    cluster.put("statefulsets", NS, "orders-db", db)
    for cr in (old, now):
        cluster.put("controllerrevisions", NS, cr["metadata"]["name"], cr)
    src = await source()
    assert (await orders(src)).rollout == ""
    cluster.patch("statefulsets", NS, "orders-db", {
        "metadata": {"labels": {"app.kubernetes.io/version": "16.2"}},
        "status": {"updateRevision": old["metadata"]["name"], "updatedReplicas": 0}})
    dep = await _until(src, lambda d: d.rollout != "")
    assert dep.rollout == "progressing"
    clock.advance(timedelta(minutes=11))
    dep = await orders(src)
    assert dep.rollout == "stuck" and "no progress for 11 min" in dep.message


def config_file(tmp_path: Path, cluster: Cluster) -> Path:
    return write_config(tmp_path, cluster, {"staging": NS}, workloads=WORKLOADS)


def test_the_cli_shows_the_version_that_serves_and_the_stuck_rollout(tmp_path: Path,
                                                                     cluster: Cluster) -> None:
    _old, new = rolling(cluster)
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", new, waiting=("ImagePullBackOff", "manifest unknown")))
    run = command(tmp_path, config_file(tmp_path, cluster))
    matrix = run("envs")
    assert matrix.returncode == EXIT_OK, matrix.stderr
    row = next(line for line in matrix.stdout.splitlines() if line.startswith("orders"))
    assert "16.3 (stuck rolling out 16.4)" in row
    data = json.loads(run("envs", "--json").stdout)
    dep = next(d for d in data["deployments"] if d["service"] == "orders")
    assert (dep["version"], dep["target_version"], dep["rollout"]) == ("16.3", "16.4", "stuck")
    assert "pod orders-db-1 ImagePullBackOff: manifest unknown" in dep["message"]


async def test_the_environments_pane_marks_the_stuck_statefulset(tmp_path: Path,
                                                                 cluster: Cluster) -> None:
    _old, new = rolling(cluster)
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", new, waiting=("CrashLoopBackOff", "back-off 5m0s")))
    app = dashboard(tmp_path, config_file(tmp_path, cluster))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_pane.id == "envs-pane", "the envs pane")
        table = app.query_one("#envs-table", VirtualTable)
        await wait_until(pilot, lambda: table.keys == ["orders"], "the workloads")
        row = next(line for line in screen_lines(app) if line.lstrip("│ ").startswith("orders"))
        assert "16.3 ⧗ 1/2" in row  # what serves, and the stuck rollout's own mark
        assert "16.4" not in row and "◐" not in row
        app.service, app.environment = "orders", "staging"
        await wait_until(pilot, lambda: "16.4 is stuck" in "\n".join(screen_lines(app)),
                         "the detail of the selected cell")
        assert_alive(app)


async def test_a_deploy_whose_new_pod_cannot_pull_fails_as_stuck(source: Any,
                                                                 cluster: Cluster) -> None:
    """A deploy to a StatefulSet ends, failed, as soon as its first new pod waits on an image
    that cannot be pulled (a StatefulSet has no progress deadline to wait for)."""
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders", replicas=2,
                    image="registry.example/postgres:16.3")
    old = controller_revision(db, 1, "registry.example/postgres:16.3")
    db["status"].update(currentRevision=old["metadata"]["name"],
                        updateRevision=old["metadata"]["name"], currentReplicas=2)
    cluster.put("statefulsets", NS, "orders-db", db)
    cluster.put("controllerrevisions", NS, old["metadata"]["name"], old)
    src = await source()
    events: list[ActionEvent] = []

    async def run() -> None:
        async for event in src.run_action(ActionRequest(
                id="act-1", kind=ActionKind.DEPLOY, service="orders", environment="staging",
                version="16.9", actor="alice")):
            events.append(event)

    task = asyncio.ensure_future(run())
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets/orders-db"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not cluster.requests("patch", path):
        assert loop.time() < deadline, "no patch"
        await asyncio.sleep(0.02)
    # The controller: pod 1 replaced at the new revision, its image not found.
    cluster.put("pods", NS, "orders-db-1", sts_pod(
        "orders-db-1", "orders-db-new", created="2026-11-25T14:00:00Z",
        waiting=("ErrImagePull", "manifest for registry.example/postgres:16.9 not found")))
    cluster.patch("statefulsets", NS, "orders-db", {"status": {
        "observedGeneration": 2, "updateRevision": "orders-db-new", "currentReplicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1}})
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.FAILED
    assert events[-1].message == ("rollout stuck: pod orders-db-1 ErrImagePull: manifest for "
                                  "registry.example/postgres:16.9 not found")
