"""Actions of the kubernetes source against the kmock emulator: deploy (the container image, by a
strategic-merge patch, with a change-cause), rollback (the previous image from ReplicaSet history),
scale, restart, and preview namespaces that are deleted when their time is up.

No controller runs in the emulator: the tests play the Deployment controller, writing the status
over HTTP as a rollout goes, and check what was sent and what is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, namespace, replicaset

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionRequest,
    ActionState,
    Capability,
    EnvironmentKind,
    ManualClock,
    SourceAuthError,
    SourceContext,
    SourceError,
)
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

NS = "shop-staging"
PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/cart"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
async def source(tmp_path: Path, cluster: Cluster, clock: ManualClock) -> AsyncIterator[Any]:
    made: list[KubernetesSource] = []

    async def make(**settings: Any) -> KubernetesSource:
        kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
        settings.setdefault("environments", {
            "staging": {"context": "eu-1", "namespace": NS},
            "production": {"context": "eu-1", "namespace": "shop-prod"}})
        config = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig), **settings})
        src = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path, clock=clock))
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


def seed(cluster: Cluster, *, version_label: bool = False) -> dict[str, Any]:
    cart = deployment("cart", NS, image="registry.example/shop/cart:1.4.0", replicas=3,
                      version="1.4.0" if version_label else None)
    cluster.put("deployments", NS, "cart", cart)
    cluster.put("replicasets", NS, "cart-rev1", replicaset(
        cart, 1, "registry.example/shop/cart:1.2.0", created="2026-11-18T09:00:00Z"))
    cluster.put("replicasets", NS, "cart-rev2", replicaset(
        cart, 2, "registry.example/shop/cart:1.3.1", created="2026-11-19T09:00:00Z"))
    cluster.put("replicasets", NS, "cart-rev3", replicaset(
        cart, 3, "registry.example/shop/cart:1.4.0", created="2026-11-20T09:00:00Z"))
    # Another Deployment's ReplicaSet (label selectors are not emulated: owners tell them apart).
    other = deployment("search", NS)
    cluster.put("replicasets", NS, "search-rev9", replicaset(
        other, 9, "registry.example/search:9.9.9"))
    cluster.put("deployments", "shop-prod", "cart", deployment(
        "cart", "shop-prod", image="registry.example/shop/cart:1.3.1", replicas=3))
    return cart


def request(kind: ActionKind, **fields: Any) -> ActionRequest:
    fields.setdefault("service", "cart")
    fields.setdefault("environment", "staging")
    return ActionRequest(id=fields.pop("id", f"act-{kind.value}"), kind=kind, actor="alice",
                         reason=fields.pop("reason", "ticket SHOP-12"), **fields)


class Controller:
    """Plays the Deployment controller: rolls the stored Deployment out step by step."""

    def __init__(self, cluster: Cluster, name: str = "cart", namespace: str = NS) -> None:
        self.cluster, self.name, self.namespace = cluster, name, namespace

    def status(self, **status: Any) -> None:
        self.cluster.patch("deployments", self.namespace, self.name, {"status": status})



async def collect(gen: AsyncIterator[ActionEvent], events: list[ActionEvent]) -> None:
    async for event in gen:
        events.append(event)


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


# Versions and plans -----------------------------------------------------------------------------

async def test_versions_come_from_revision_history_and_other_environments(
        source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    options = await src.deploy_versions("cart", "staging")
    assert [(o.version, o.current, o.environments) for o in options] == [
        ("1.4.0", True, ("staging",)), ("1.3.1", False, ("production",)), ("1.2.0", False, ())]
    assert options[0].built_at is not None and options[0].built_at.day == 20
    lists = cluster.requests("get", f"/apis/apps/v1/namespaces/{NS}/replicasets")
    assert lists[-1].params.get("labelSelector") == "app=cart"


async def test_deploy_plan_says_what_changes(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    plan = await src.plan_action(request(ActionKind.DEPLOY, version="1.5.0"))
    assert plan.current_version == "1.4.0" and plan.target_version == "1.5.0"
    assert "registry.example/shop/cart:1.5.0" in plan.summary
    assert "deployment/cart in shop-staging (context eu-1)" in plan.summary
    promote = await src.plan_action(request(ActionKind.DEPLOY, environment="production",
                                            version="1.4.0"))
    assert promote.running_elsewhere == ("staging",)
    same = await src.plan_action(request(ActionKind.DEPLOY, version="1.4.0"))
    assert any("already runs" in note for note in same.notes)
    with pytest.raises(SourceError, match="not a valid image tag"):
        await src.plan_action(request(ActionKind.DEPLOY, version="1.5.0 ; rm -rf"))
    # Nothing was changed by planning.
    assert not cluster.requests("patch")


# Deploy ------------------------------------------------------------------------------------------

async def test_deploy_patches_the_image_and_follows_the_rollout(source: Any,
                                                                cluster: Cluster) -> None:
    seed(cluster, version_label=True)
    src = await source()
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.DEPLOY,
                                                                version="1.5.0")), events))
    await until(lambda: cluster.requests("patch"), "the patch")
    sent = cluster.requests("patch", PATH)[-1]
    assert sent.headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert sent.params.get("fieldManager") == "idp-tui"
    body = sent.data
    assert body["spec"]["template"]["spec"]["containers"] == [
        {"name": "cart", "image": "registry.example/shop/cart:1.5.0"}]
    # The version label moves with the image (it is not part of the selector).
    assert body["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/version": "1.5.0"}
    assert body["metadata"]["labels"] == {"app.kubernetes.io/version": "1.5.0"}
    annotations = body["metadata"]["annotations"]
    assert annotations["kubernetes.io/change-cause"] == \
        "idp-tui deploy 1.5.0 by alice: ticket SHOP-12"
    assert annotations["idp-tui.dev/action-id"] == "act-deploy"
    stored = cluster.get("deployments", NS, "cart")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example/shop/cart:1.5.0"

    # The API server raised the generation; the controller has not seen it yet.
    assert cluster.get("deployments", NS, "cart")["metadata"]["generation"] == 2
    await until(lambda: any("waiting for the controller" in e.message for e in events),
                "the rollout followed")
    assert not task.done()
    controller = Controller(cluster)
    controller.status(observedGeneration=2, updatedReplicas=1, replicas=4, readyReplicas=3,
                      availableReplicas=3)
    await until(lambda: any("1/3 updated" in e.message for e in events), "1/3 updated")
    controller.status(updatedReplicas=3, replicas=3, readyReplicas=2, availableReplicas=2)
    await until(lambda: any("2/3 ready" in e.message for e in events), "2/3 ready")
    assert not task.done()
    controller.status(readyReplicas=3, availableReplicas=3)
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED
    assert "3/3 ready" in events[-1].message
    progress = [e for e in events if e.total == 3 and e.done is not None]
    assert progress and progress[0].done == 1


async def test_stopping_a_deploy_sets_the_image_back(source: Any, cluster: Cluster) -> None:
    seed(cluster, version_label=True)
    src = await source()
    plan = await src.plan_action(request(ActionKind.DEPLOY, version="1.5.0"))
    assert plan.cancellable
    assert any("sets the image back to registry.example/shop/cart:1.4.0" in n for n in plan.notes)
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.DEPLOY,
                                                                version="1.5.0")), events))
    await until(lambda: any("waiting for the rollout" in e.message for e in events), "the patch")
    Controller(cluster).status(observedGeneration=2, updatedReplicas=1, replicas=4,
                               readyReplicas=3, availableReplicas=3)
    await until(lambda: any("1/3 updated" in e.message for e in events), "1/3 updated")
    task.cancel()  # what the hub does when the user stops the action
    with pytest.raises(asyncio.CancelledError):
        await task
    patches = [r for r in cluster.requests("patch", PATH) if "spec" in (r.data or {})]
    assert len(patches) == 2  # the deploy, then setting it back (the rest is the controller's)
    back = patches[-1].data
    assert back["spec"]["template"]["spec"]["containers"] == [
        {"name": "cart", "image": "registry.example/shop/cart:1.4.0"}]
    assert back["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/version": "1.4.0"}
    assert back["metadata"]["labels"] == {"app.kubernetes.io/version": "1.4.0"}
    annotations = back["metadata"]["annotations"]
    assert annotations["kubernetes.io/change-cause"] == (
        "idp-tui deploy 1.5.0 stopped by alice: set back to registry.example/shop/cart:1.4.0")
    assert annotations["idp-tui.dev/action-id"] == "act-deploy (stopped)"
    stored = cluster.get("deployments", NS, "cart")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example/shop/cart:1.4.0"
    # Scaling and restarting are not stopped part-way.
    for kind, fields in ((ActionKind.SCALE, {"replicas": 5}), (ActionKind.RESTART, {})):
        assert not (await src.plan_action(request(kind, **fields))).cancellable


async def test_the_same_action_id_is_applied_once(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    cluster.patch("deployments", NS, "cart", {"metadata": {"annotations": {
        "idp-tui.dev/action-id": "act-deploy"}}})
    src = await source()
    events: list[ActionEvent] = []
    await collect(src.run_action(request(ActionKind.DEPLOY, version="1.5.0")), events)
    assert [e.state for e in events] == [ActionState.SUCCEEDED]
    assert "already applied" in events[0].message
    assert not [r for r in cluster.requests("patch") if r.url.path == PATH
                and "spec" in (r.data or {})]


async def test_a_stuck_rollout_fails_with_the_reason(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.DEPLOY,
                                                                version="9.9.9")), events))
    await until(lambda: cluster.requests("patch"), "the patch")
    Controller(cluster).status(observedGeneration=2, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "cart-9f" has timed out progressing.'}])
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.FAILED
    assert "rollout stuck" in events[-1].message and "timed out" in events[-1].message


async def test_a_rollout_that_takes_too_long_fails(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source(rollout_timeout=0.05)
    events: list[ActionEvent] = []
    await asyncio.wait_for(collect(src.run_action(request(ActionKind.DEPLOY, version="2.0.0")),
                                   events), 10)
    assert events[-1].state is ActionState.FAILED
    assert "not rolled out after" in events[-1].message


async def test_forbidden_patch_names_the_verb(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    cluster.refuse(PATH, 403, 'deployments.apps "cart" is forbidden: User "alice" cannot patch '
                              'resource "deployments" in API group "apps"', method="patch")
    src = await source()
    with pytest.raises(SourceAuthError) as error:
        async for _event in src.run_action(request(ActionKind.DEPLOY, version="1.5.0")):
            pass
    assert "RBAC denied: cannot patch deployments.apps in namespace shop-staging" in \
        error.value.message


# Rollback, scale, restart ------------------------------------------------------------------------

async def test_rollback_takes_the_previous_image_from_history(source: Any,
                                                              cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    plan = await src.plan_action(request(ActionKind.ROLLBACK))
    assert (plan.current_version, plan.target_version) == ("1.4.0", "1.3.1")
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.ROLLBACK)), events))
    await until(lambda: cluster.requests("patch"), "the patch")
    body = cluster.requests("patch", PATH)[-1].data
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example/shop/cart:1.3.1"
    assert "rollback 1.3.1 by alice" in body["metadata"]["annotations"]["kubernetes.io/change-cause"]
    Controller(cluster).status(observedGeneration=2)  # rolled out at once
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED


async def test_rollback_without_history_is_refused_in_words(source: Any,
                                                            cluster: Cluster) -> None:
    cluster.put("deployments", NS, "cart", deployment("cart", NS))
    src = await source()
    with pytest.raises(SourceError, match="no earlier revision of deployment/cart"):
        await src.plan_action(request(ActionKind.ROLLBACK))


async def test_scale_patches_replicas_and_waits_for_them(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    plan = await src.plan_action(request(ActionKind.SCALE, replicas=5))
    assert "from 3 to 5 replicas" in plan.summary
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.SCALE, replicas=5)),
                                         events))
    await until(lambda: cluster.requests("patch"), "the patch")
    sent = cluster.requests("patch", PATH)[-1].data
    assert sent["spec"] == {"replicas": 5}
    # Scaling makes no revision: the running revision's change-cause is left as it is.
    assert sent["metadata"]["annotations"] == {"idp-tui.dev/action-id": "act-scale"}
    await until(lambda: any("waiting for the controller" in e.message for e in events),
                "the rollout followed")
    assert not task.done()  # 3 of 5 ready
    Controller(cluster).status(observedGeneration=2, replicas=5, updatedReplicas=5,
                               readyReplicas=5, availableReplicas=5)
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED and "5/5 ready" in events[-1].message


async def test_restart_sets_the_restarted_at_annotation(source: Any, cluster: Cluster,
                                                        clock: ManualClock) -> None:
    seed(cluster)
    src = await source()
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(ActionKind.RESTART)), events))
    await until(lambda: cluster.requests("patch"), "the patch")
    Controller(cluster).status(observedGeneration=2)
    await asyncio.wait_for(task, 10)
    body = cluster.requests("patch", PATH)[0].data
    assert body["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2026-11-25T14:00:00Z"}
    assert events[-1].state is ActionState.SUCCEEDED


async def test_statefulsets_deploy_too(source: Any, cluster: Cluster) -> None:
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders",
                    image="registry.example/postgres:16.3")
    cluster.put("statefulsets", NS, "orders-db", db)
    src = await source()
    events: list[ActionEvent] = []
    task = asyncio.ensure_future(collect(src.run_action(request(
        ActionKind.DEPLOY, service="orders", version="16.4")), events))
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets/orders-db"
    await until(lambda: cluster.requests("patch"), "the patch")
    assert cluster.requests("patch", path)[-1].data["spec"]["template"]["spec"]["containers"] == [
        {"name": "orders-db", "image": "registry.example/postgres:16.4"}]
    cluster.patch("statefulsets", NS, "orders-db", {"status": {"observedGeneration": 2}})
    await asyncio.wait_for(task, 10)
    assert events[-1].state is ActionState.SUCCEEDED
    # No ControllerRevision to go back to: said in words (one that is there: test_kubernetes_truth).
    with pytest.raises(SourceError, match="no earlier revision of statefulset/orders-db"):
        await src.plan_action(request(ActionKind.ROLLBACK, service="orders"))


# Preview namespaces ------------------------------------------------------------------------------

async def test_a_preview_namespace_is_created_labelled_and_shown_as_an_environment(
        source: Any, cluster: Cluster, clock: ManualClock) -> None:
    src = await source(previews={"context": "eu-1", "default_ttl_hours": 8})
    assert Capability.PROVISION in src.capabilities
    [template] = await src.templates()
    assert template.name == "preview-namespace"
    schema = template.json_schema()
    assert schema["properties"]["ttl_hours"]["default"] == 8
    assert schema["properties"]["ttl_hours"]["maximum"] == 168
    ask = request(ActionKind.PROVISION, template="preview-namespace", service=None,
                  environment=None, params={"name": "pr-42", "ttl_hours": 2})
    plan = await src.plan_action(ask)
    assert plan.creates[0].name == "preview-pr-42"
    assert "2026-11-25T16:00:00Z" in plan.summary
    events: list[ActionEvent] = []
    await asyncio.wait_for(collect(src.run_action(ask), events), 10)
    assert events[-1].state is ActionState.SUCCEEDED
    stored = cluster.get("namespaces", None, "preview-pr-42")
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "idp-tui",
                                            "idp-tui.dev/preview": "preview-pr-42"}
    assert stored["metadata"]["annotations"]["idp-tui.dev/expires-at"] == "2026-11-25T16:00:00Z"
    assert stored["metadata"]["annotations"]["idp-tui.dev/created-by"] == "alice"
    envs = await src.environments()
    preview = next(e for e in envs if e.name == "preview-pr-42")
    assert preview.kind is EnvironmentKind.PREVIEW and preview.expires_at is not None
    [resource] = await src.resources()
    assert (resource.kind, resource.name, resource.status) == ("namespace", "preview-pr-42",
                                                               "active")
    # The same action again: done once.
    again: list[ActionEvent] = []
    await collect(src.run_action(ask), again)
    assert again[-1].state is ActionState.SUCCEEDED and "already created" in again[-1].message
    # Another action for a name that exists: refused.
    other: list[ActionEvent] = []
    await collect(src.run_action(ask.model_copy(update={"id": "another"})), other)
    assert other[-1].state is ActionState.FAILED and "exists already" in other[-1].message


async def test_bad_preview_parameters_are_refused(source: Any) -> None:
    src = await source(previews={"max_ttl_hours": 48})
    for params in ({"name": "Bad_Name"}, {"name": "ok", "ttl_hours": 49}, {}):
        with pytest.raises(ValueError):
            await src.plan_action(request(ActionKind.PROVISION, template="preview-namespace",
                                          params=params))


async def test_expired_preview_namespaces_are_deleted_and_their_workloads_shown_until_then(
        source: Any, cluster: Cluster, clock: ManualClock) -> None:
    managed = {"app.kubernetes.io/managed-by": "idp-tui", "idp-tui.dev/preview": "x"}
    cluster.put("namespaces", None, "preview-old", namespace(
        "preview-old", labels=managed,
        annotations={"idp-tui.dev/expires-at": "2026-11-25T14:30:00Z"}))
    cluster.put("namespaces", None, "preview-new", namespace(
        "preview-new", labels=managed,
        annotations={"idp-tui.dev/expires-at": "2026-11-26T14:00:00Z"}))
    # Not ours: never deleted, never shown.
    cluster.put("namespaces", None, "preview-foreign", namespace(
        "preview-foreign", labels={"idp-tui.dev/preview": "x"},
        annotations={"idp-tui.dev/expires-at": "2026-11-20T00:00:00Z"}))
    cluster.put("deployments", "preview-old", "cart", deployment("cart", "preview-old",
                                                                 image="r/cart:pr-7"))
    cluster.namespaces(NS, "shop-prod")
    src = await source(previews={})
    names = [e.name for e in await src.environments()]
    assert names == ["staging", "production", "preview-new", "preview-old"]
    deps = {(d.service, d.environment): d for d in await src.deployments()}
    assert deps["cart", "preview-old"].version == "pr-7"
    clock.advance(timedelta(hours=1))
    names = [e.name for e in await src.environments()]
    assert names == ["staging", "production", "preview-new"]
    await until(lambda: not cluster.exists("namespaces", None, "preview-old"), "the deletion")
    assert cluster.exists("namespaces", None, "preview-foreign")
    assert cluster.exists("namespaces", None, "preview-new")
    deleted = cluster.requests("delete")
    assert [r.url.path for r in deleted] == ["/api/v1/namespaces/preview-old"]
