"""The kubernetes source against the kmock emulator, through the official client over real HTTP.

Environments and workloads from watches, versions and health, reconnecting from the last
resourceVersion and listing again after 410 Gone, and the errors a user can meet.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, namespace

from idp_tui import (
    Capability,
    Deployment,
    EnvironmentKind,
    Health,
    ManualClock,
    PartialAnswer,
    SourceAuthError,
    SourceContext,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource
from idp_tui_kubernetes.cluster import Cluster as KubeCluster
from idp_tui_kubernetes.cluster import KubeconfigError
from idp_tui_kubernetes import informer as k8s_informer
from idp_tui_kubernetes.informer import Informer, _shutdown

T0_TEXT = "2026-11-25T14:00:00Z"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


class Changes:
    """What a source told the hub through ``SourceContext.changed`` (from its watch threads)."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.event = threading.Event()

    def __call__(self, topic: str) -> None:
        self.topics.append(topic)
        self.event.set()


def make_source(tmp_path: Path, cluster: Cluster, clock: ManualClock, *,
                changes: Changes | None = None, **settings: Any) -> KubernetesSource:
    kubeconfig = settings.pop("kubeconfig", None) or str(
        cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1", "us-1"]))
    settings.setdefault("environments", {
        "staging": {"context": "eu-1", "namespace": "shop-staging"},
        "production": {"context": "us-1", "namespace": "shop-prod"}})
    config = KubernetesConfig.model_validate({"kubeconfig": kubeconfig, **settings})
    context = SourceContext(name="k8s", data_dir=tmp_path, clock=clock,
                            notify=changes or (lambda topic: None))
    return KubernetesSource(config, context)


@pytest.fixture
async def started(tmp_path: Path, cluster: Cluster, clock: ManualClock
                  ) -> AsyncIterator[Any]:
    sources: list[KubernetesSource] = []

    async def start(**settings: Any) -> KubernetesSource:
        source = make_source(tmp_path, cluster, clock, **settings)
        sources.append(source)
        await source.start()
        return source

    yield start
    for source in sources:
        await source.close()


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Watches that failed or ended at once are opened again after 0.01 s, not half a second
    (doubled each time): for the tests of what happens then, not of how long it waits."""
    monkeypatch.setattr(k8s_informer, "BACKOFF_FIRST", 0.01)


def seed_shop(cluster: Cluster) -> None:
    cluster.put("deployments", "shop-staging", "cart", deployment(
        "cart", "shop-staging", image="registry.example/shop/cart:1.4.0"))
    cluster.put("deployments", "shop-staging", "payments", deployment(
        "payments", "shop-staging", version="2.1.0", image="registry.example/payments:sha-9f1"))
    cluster.put("deployments", "shop-prod", "cart", deployment(
        "cart", "shop-prod", image="registry.example/shop/cart:1.3.2", replicas=3, ready=1))
    # Not a service: no matching label.
    other = deployment("sidecar-injector", "shop-prod")
    other["metadata"]["labels"] = {}
    other["spec"]["template"]["metadata"]["labels"] = {"app": "sidecar-injector"}
    cluster.put("deployments", "shop-prod", "sidecar-injector", other)
    # Matched by the label Backstage uses.
    db = deployment("orders-db", "shop-prod", kind="StatefulSet",
                    label="backstage.io/kubernetes-id", service="orders",
                    image="registry.example/postgres:16.4")
    cluster.put("statefulsets", "shop-prod", "orders-db", db)


def by_key(deps: list[Deployment]) -> dict[tuple[str, str], Deployment]:
    return {(d.service, d.environment): d for d in deps}


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


# Importing ---------------------------------------------------------------------------------------

def test_the_client_is_imported_only_when_the_source_starts() -> None:
    import subprocess
    import sys

    code = ("import sys, idp_tui_kubernetes, idp_tui.registry as r; r.load('kubernetes'); "
            "print(any(m == 'kubernetes' or m.startswith('kubernetes.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.strip() == "False", result.stderr


# Environments and deployments -------------------------------------------------------------------

async def test_environments_come_from_the_config_in_promotion_order(started: Any) -> None:
    source = await started(environments={
        "dev": {"context": "eu-1", "namespace": "shop-dev"},
        "staging": {"context": "eu-1", "namespace": "shop-staging"},
        "production": {"context": "us-1", "namespace": "shop-prod"},
        "perf": {"context": "eu-1", "namespace": "shop-perf", "protected": True}})
    envs = await source.environments()
    assert [(e.name, e.order, e.protected, e.kind) for e in envs] == [
        ("dev", 0, False, EnvironmentKind.STATIC), ("staging", 1, False, EnvironmentKind.STATIC),
        ("production", 2, True, EnvironmentKind.STATIC), ("perf", 3, True, EnvironmentKind.STATIC)]
    assert Capability.PROVISION not in source.capabilities


async def test_workloads_are_services_with_versions_health_and_replicas(
        started: Any, cluster: Cluster) -> None:
    seed_shop(cluster)
    source = await started()
    deps = by_key(await source.deployments())
    assert set(deps) == {("cart", "staging"), ("payments", "staging"), ("cart", "production"),
                         ("orders", "production")}
    cart = deps["cart", "staging"]
    assert (cart.version, cart.health, cart.replicas_ready, cart.replicas_desired) == \
        ("1.4.0", Health.HEALTHY, 2, 2)
    assert cart.message == "deployment/cart"
    # The version label wins over the image tag.
    assert deps["payments", "staging"].version == "2.1.0"
    prod = deps["cart", "production"]
    assert (prod.version, prod.health, prod.replicas_ready, prod.replicas_desired) == \
        ("1.3.2", Health.DEGRADED, 1, 3)
    assert "1/3 ready" in prod.message
    orders = deps["orders", "production"]
    assert (orders.version, orders.health) == ("16.4", Health.HEALTHY)
    assert orders.message.startswith("statefulset/orders-db")
    # Every namespace and kind was listed, then watched (the watch opens on the source's own
    # thread once the list is in, so it may come a moment after the answer).
    def watched() -> bool:
        lists = cluster.requests("get", "/apis/apps/v1/namespaces/shop-prod/statefulsets")
        return any(r.params.get("watch") == "true" for r in lists)

    await until(watched, "the statefulsets of shop-prod to be watched")


async def test_only_the_configured_label_matches(started: Any, cluster: Cluster) -> None:
    seed_shop(cluster)
    source = await started(service_labels=["backstage.io/kubernetes-id"])
    assert set(by_key(await source.deployments())) == {("orders", "production")}


async def test_health_from_conditions_and_rollouts(started: Any, cluster: Cluster) -> None:
    stuck = deployment("search", "shop-staging", replicas=3, ready=3)
    stuck["status"]["conditions"][1] = {
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "search-7d9" has timed out progressing.',
        "lastUpdateTime": "2026-11-25T13:30:00Z"}
    cluster.put("deployments", "shop-staging", "search", stuck)
    down = deployment("mailer", "shop-staging", replicas=2, ready=0)
    down["status"]["conditions"][0]["message"] = "Deployment does not have minimum availability."
    cluster.put("deployments", "shop-staging", "mailer", down)
    rolling = deployment("cart", "shop-staging", replicas=4, generation=7)
    rolling["status"].update(observedGeneration=7, updatedReplicas=2, replicas=5)
    cluster.put("deployments", "shop-staging", "cart", rolling)
    zero = deployment("batch", "shop-staging", replicas=0, ready=0)
    cluster.put("deployments", "shop-staging", "batch", zero)
    cluster.namespaces("shop-prod")
    source = await started()
    deps = by_key(await source.deployments())
    assert deps["search", "staging"].health is Health.DEGRADED
    assert "rollout stuck" in deps["search", "staging"].message
    assert "timed out progressing" in deps["search", "staging"].message
    assert deps["mailer", "staging"].health is Health.DOWN
    assert "minimum availability" in deps["mailer", "staging"].message
    assert deps["cart", "staging"].health is Health.DEGRADED
    assert "2/4 updated" in deps["cart", "staging"].message
    assert deps["batch", "staging"].health is Health.UNKNOWN
    assert "scaled to 0" in deps["batch", "staging"].message
    assert deps["cart", "staging"].updated_at is not None


async def test_changes_arrive_by_watch_and_tell_the_hub(
        tmp_path: Path, cluster: Cluster, clock: ManualClock) -> None:
    seed_shop(cluster)
    changes = Changes()
    source = make_source(tmp_path, cluster, clock, changes=changes)
    await source.start()
    try:
        assert by_key(await source.deployments())["cart", "staging"].version == "1.4.0"
        changes.topics.clear()
        changes.event.clear()
        cluster.patch("deployments", "shop-staging", "cart", {"spec": {"template": {"spec": {
            "containers": [{"name": "cart", "image": "registry.example/shop/cart:1.5.0"}]}}}})
        await asyncio.to_thread(changes.event.wait, 10)
        assert "environments" in changes.topics
        await until(lambda: by_key_now(source)["cart", "staging"].version == "1.5.0",
                    "the new version")
        # A new workload, and one deleted.
        cluster.create("deployments", "shop-staging", deployment("search", "shop-staging"))
        cluster.delete("deployments", "shop-staging", "payments")
        await until(lambda: ("search", "staging") in by_key_now(source)
                    and ("payments", "staging") not in by_key_now(source), "add and delete")
        # No poll: one list per informer, then watches only.
        lists = [r for r in cluster.requests("get", "/apis/apps/v1/namespaces/shop-staging/deployments")
                 if r.params.get("watch") != "true"]
        assert len(lists) == 1
    finally:
        await source.close()


def by_key_now(source: KubernetesSource) -> dict[tuple[str, str], Deployment]:
    """The deployments as the source's watches have them now (without waiting for a sync)."""
    out = []
    for where in source._static.values():
        for informer in where.workloads:
            for workload in informer.items():
                dep = source._deployment(where, workload, None)
                if dep is not None:
                    out.append(dep)
    return by_key(out)


async def test_a_watch_reconnects_from_the_last_resource_version(
        started: Any, cluster: Cluster, quick_retries: None) -> None:
    seeded = deployment("cart", "shop-staging")
    seeded["metadata"]["resourceVersion"] = "41"
    cluster.put("deployments", "shop-staging", "cart", seeded)
    source = await started(watch_timeout=1, environments={
        "staging": {"context": "eu-1", "namespace": "shop-staging"}})
    await source.deployments()
    cluster.patch("deployments", "shop-staging", "cart", {"metadata": {"resourceVersion": "57"},
                                                          "spec": {"replicas": 3}})
    path = "/apis/apps/v1/namespaces/shop-staging/deployments"
    # The connection drops (from our side here: the emulator never ends a watch by itself), and
    # the informer opens the watch again from the last version it saw, without listing again.
    informer = source._static["staging"].workloads[0]
    await until(lambda: informer.resource_version == "57", "the patched version")
    before = informer.watches
    _shutdown(informer._response)
    await until(lambda: informer.watches > before, "a new watch")
    watches = [r for r in cluster.requests("get", path) if r.params.get("watch") == "true"]
    assert watches[-1].params.get("resourceVersion") == "57"
    assert informer.lists == 1
    await until(lambda: informer.error is None, "the watch working again")


async def test_an_expired_resource_version_lists_again(started: Any, cluster: Cluster,
                                                       quick_retries: None) -> None:
    seeded = deployment("cart", "shop-staging")
    seeded["metadata"]["resourceVersion"] = "41"
    cluster.put("deployments", "shop-staging", "cart", seeded)
    path = "/apis/apps/v1/namespaces/shop-staging/deployments"
    # The emulator keeps no history to expire: a watch from version 41 is answered as a real
    # server answers one from a version it compacted away.
    import kmock

    gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "code": 410, "reason": "Expired",
                                        "message": "too old resource version: 41 (97)"}}
    cluster.handler[f"get {path}", kmock.params(watch="true", resourceVersion="...")] << (
        json.dumps(gone).encode() + b"\n")
    source = await started(environments={
        "staging": {"context": "eu-1", "namespace": "shop-staging"}})
    informer = source._static["staging"].workloads[0]
    await until(lambda: informer.lists >= 3, "lists again after 410")
    assert informer.error is None
    assert by_key(await source.deployments())["cart", "staging"].version == "1.0.0"


# Closing -----------------------------------------------------------------------------------------

def watches_open(cluster: Cluster) -> list[str]:
    """The watch requests the emulator is still serving on an open connection."""
    return [c for c in cluster.open_connections() if "watch=true" in c]


class HeldCluster(KubeCluster):
    """A context whose watch requests, once answered, are held until the test lets them go: the
    moment between sending a watch and reading it, when a source may be closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered = threading.Event()
        self.go = threading.Event()

    def request(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        response = super().request(verb, *args, **kwargs)
        if verb == "watch":
            self.answered.set()
            self.go.wait(10)
        return response


def deployments_informer(context: KubeCluster) -> Informer[Any]:
    return Informer(context, group="apps", noun="deployment", resource="deployments",
                    namespace="shop-staging", project=lambda obj: obj)


async def test_closing_the_source_ends_its_watches_on_the_server_at_once(
        tmp_path: Path, cluster: Cluster, clock: ManualClock) -> None:
    seed_shop(cluster)
    source = make_source(tmp_path, cluster, clock)
    await source.start()
    await source.deployments()
    # Deployments, their ReplicaSets and StatefulSets in two namespaces.
    await until(lambda: len(watches_open(cluster)) == 6, "the six watches")
    await source.close()
    # Not when the server's watch timeout (300 s) comes: a quitting dashboard leaves nothing open.
    await until(lambda: not cluster.open_connections(), "every connection closed")


async def test_a_stopped_watch_ends_on_the_server_while_its_client_stays_open(
        tmp_path: Path, cluster: Cluster) -> None:
    seed_shop(cluster)
    context = KubeCluster("eu-1", kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")))
    informer = deployments_informer(context).start()
    try:
        await until(lambda: informer.watches == 1 and watches_open(cluster), "the watch")
        informer.stop()
        await asyncio.to_thread(informer.join, 5)
        # The client itself is still open (its pool too): the watch ended all the same.
        await until(lambda: not watches_open(cluster), "the watch closed")
    finally:
        context.close()


async def test_a_watch_stopped_while_its_request_is_on_the_way_is_closed(
        tmp_path: Path, cluster: Cluster) -> None:
    seed_shop(cluster)
    context = HeldCluster("eu-1", kubeconfig=str(cluster.kubeconfig(tmp_path / "kubeconfig")))
    informer = deployments_informer(context).start()
    try:
        assert await asyncio.to_thread(context.answered.wait, 10)
        assert len(watches_open(cluster)) == 1
        informer.stop()  # finds no answer to close yet
        context.go.set()
        await asyncio.to_thread(informer.join, 5)
        assert informer.watches == 1
        await until(lambda: not watches_open(cluster), "the watch closed")
    finally:
        context.go.set()
        context.close()


async def test_closing_waits_for_stuck_watches_once_not_once_each(
        tmp_path: Path, cluster: Cluster, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    from idp_tui_kubernetes import source as k8s_source

    monkeypatch.setattr(k8s_source, "CLOSE_WAIT", 0.5)
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        kubeconfig = cluster.kubeconfig(tmp_path / "silent", contexts=["eu-1"],
                                        server=f"http://127.0.0.1:{listener.getsockname()[1]}")
        source = make_source(tmp_path, cluster, clock, kubeconfig=str(kubeconfig),
                             request_timeout=60, environments={
                                 "staging": {"context": "eu-1", "namespace": "shop-staging"},
                                 "production": {"context": "eu-1", "namespace": "shop-prod"}})
        before = set(threading.enumerate())
        await source.start()
        stuck = [t for t in set(threading.enumerate()) - before if t.name.startswith("idp-k8s-")]
        assert len(stuck) == 6  # deployments, replicasets, statefulsets of two namespaces, waiting
        started_at = time.monotonic()
        await source.close()
        # Six stuck watches: 0.5 s in all (six times that if each were waited for in turn).
        assert time.monotonic() - started_at < 1.5


# Errors ------------------------------------------------------------------------------------------

async def test_an_unreachable_cluster_is_named_with_a_hint(
        tmp_path: Path, started: Any, cluster: Cluster) -> None:
    kubeconfig = cluster.kubeconfig(tmp_path / "dead", contexts=["eu-1"],
                                    server="http://127.0.0.1:9")
    source = await started(kubeconfig=str(kubeconfig), request_timeout=2, environments={
        "staging": {"context": "eu-1", "namespace": "shop-staging"}})
    with pytest.raises(SourceUnavailable) as error:
        await source.deployments()
    assert "cannot reach http://127.0.0.1:9" in error.value.message
    assert "context eu-1" in error.value.message
    assert "connection refused" in error.value.message
    assert error.value.hint and "VPN" in error.value.hint


async def test_a_missing_context_lists_the_ones_there_are(started: Any) -> None:
    source = await started(environments={"staging": {"context": "nope", "namespace": "x"}})
    with pytest.raises(KubeconfigError) as error:
        await source.deployments()
    assert "no context 'nope'" in error.value.message
    assert "eu-1, us-1" in error.value.message
    assert error.value.error_class == "config"


async def test_a_missing_kubeconfig_says_where_it_looked(tmp_path: Path, started: Any) -> None:
    source = await started(kubeconfig=str(tmp_path / "none"))
    with pytest.raises(KubeconfigError, match="no kubeconfig at .*none"):
        await source.deployments()


async def test_forbidden_names_the_verb_and_resource(started: Any, cluster: Cluster) -> None:
    seed_shop(cluster)
    cluster.refuse("/apis/apps/v1/namespaces/shop-prod/deployments", 403,
                   'deployments.apps is forbidden: User "dev@example.com" cannot list resource '
                   '"deployments" in API group "apps" in the namespace "shop-prod"')
    source = await started(workloads=["deployments"])
    # Staging still shows, current; production's error comes with it.
    with pytest.raises(PartialAnswer) as partial:
        await source.deployments()
    deps = by_key(partial.value.data)  # type: ignore[arg-type]
    assert set(deps) == {("cart", "staging"), ("payments", "staging")}
    assert isinstance(partial.value.error, SourceAuthError)
    assert partial.value.error_class == "auth"
    assert "cannot list deployments.apps in namespace shop-prod" in partial.value.message
    informer = source._static["production"].workloads[0]
    assert isinstance(informer.error, SourceAuthError)
    assert "RBAC denied: cannot list deployments.apps in namespace shop-prod" in \
        informer.error.message
    assert 'User "dev@example.com"' in informer.error.message
    assert "'list' on deployments.apps" in (informer.error.hint or "")


async def test_every_environment_failing_raises_the_error(started: Any, cluster: Cluster) -> None:
    cluster.namespaces("shop-staging", "shop-prod")
    for ns in ("shop-staging", "shop-prod"):
        cluster.refuse(f"/apis/apps/v1/namespaces/{ns}/deployments", 401, "Unauthorized")
    source = await started(workloads=["deployments"])
    with pytest.raises(SourceAuthError) as error:
        await source.deployments()
    assert "refused the credentials" in error.value.message
    assert "401" in error.value.message


async def test_a_watch_that_fails_later_marks_rows_not_current(
        started: Any, cluster: Cluster) -> None:
    seed_shop(cluster)
    source = await started(workloads=["deployments"])
    assert by_key(await source.deployments())["cart", "staging"].health is Health.HEALTHY
    informer = source._static["staging"].workloads[0]
    # The watch is open (opening it clears an error: the server answers again), then it fails.
    await until(lambda: informer.watches >= 1 and informer._response is not None, "the watch")
    informer.error = SourceUnavailable("cannot reach the cluster (context eu-1): timed out")
    with pytest.raises(PartialAnswer) as partial:
        await source.deployments()
    assert partial.value.error_class == "unreachable"
    deps = by_key(partial.value.data)  # type: ignore[arg-type]
    assert deps["cart", "production"].health is Health.DEGRADED  # production is current
    dep = deps["cart", "staging"]
    assert dep.health is Health.UNKNOWN
    assert "not current: cannot reach the cluster" in dep.message
    assert dep.version == "1.4.0"


async def test_no_workload_of_a_service_is_not_found(started: Any, cluster: Cluster) -> None:
    seed_shop(cluster)
    source = await started()
    with pytest.raises(SourceNotFound, match="no Deployment or StatefulSet of ghost"):
        await source.deploy_versions("ghost", "staging")
    with pytest.raises(SourceNotFound, match="no environment 'qa'"):
        await source.deploy_versions("cart", "qa")


def test_config_errors_are_caught_at_start_up() -> None:
    with pytest.raises(ValueError, match="environments"):
        KubernetesConfig.model_validate({"environments": {}})
    with pytest.raises(ValueError, match="namespace"):
        KubernetesConfig.model_validate({"environments": {"dev": {"namespace": "Not_OK"}}})
    with pytest.raises(ValueError, match="default_ttl_hours"):
        KubernetesConfig.model_validate({"environments": {"dev": {"namespace": "d"}},
                                         "previews": {"default_ttl_hours": 9,
                                                      "max_ttl_hours": 5}})
    with pytest.raises(ValueError, match="extra"):
        KubernetesConfig.model_validate({"environments": {"dev": {"namespace": "d",
                                                                  "cluster": "x"}}})


def test_source_error_types() -> None:
    assert issubclass(KubeconfigError, SourceError)


async def test_a_missing_namespace_is_named_and_picked_up_once_created(
        started: Any, cluster: Cluster, quick_retries: None) -> None:
    cluster.put("deployments", "shop-staging", "cart", deployment("cart", "shop-staging"))
    source = await started(workloads=["deployments"])
    with pytest.raises(PartialAnswer) as partial:
        await source.deployments()
    error = partial.value.error
    assert isinstance(error, SourceNotFound)
    assert error.message == "namespace shop-prod of environment production not found (context us-1)"
    assert "[sources.k8s.environments]" in (error.hint or "")
    assert set(by_key(partial.value.data)) == {("cart", "staging")}  # type: ignore[arg-type]
    # Created later (with a workload in it): the informer, retrying, lists it.
    cluster.create("namespaces", None, namespace("shop-prod"))
    cluster.create("deployments", "shop-prod", deployment("cart", "shop-prod"))
    informer = source._static["production"].workloads[0]
    # The retry may list the namespace between the two creations: the watch then brings the cart.
    await until(lambda: informer.synced.is_set() and informer.error is None
                and informer.get("cart") is not None, "the namespace and its workload", timeout=20)
    assert set(by_key(await source.deployments())) == {("cart", "staging"), ("cart", "production")}


async def test_in_cluster_config_outside_a_cluster_says_so(started: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    source = await started(in_cluster=True, environments={"staging": {"namespace": "shop"}})
    with pytest.raises(KubeconfigError) as error:
        await source.deployments()
    assert error.value.message.startswith("cannot load the credentials of in-cluster")
    assert "service host/port is not set" in error.value.message.lower()
