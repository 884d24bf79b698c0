"""The kubernetes source's delivery history (``Capability.DELIVERY``) against the kmock emulator:
revisions of Deployments (ReplicaSets) and StatefulSets (ControllerRevisions) as deployments with
their outcomes, rollbacks and the deploys they undid, per environment and time range; and
``idp-tui dora`` on a cluster, run as the real command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, controller_revision, deployment, replicaset

from idp_tui import (
    Capability,
    DeliveryKind,
    DeliveryOutcome,
    HistoryQuery,
    ManualClock,
    PartialAnswer,
    SourceContext,
)
from idp_tui.cli.output import EXIT_OK
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource, history
from idp_tui_kubernetes.objects import project_workload

PROD, STAGING = "shop-prod", "shop-staging"
SUCCEEDED, FAILED, ROLLED_BACK = (DeliveryOutcome.SUCCEEDED, DeliveryOutcome.FAILED,
                                  DeliveryOutcome.ROLLED_BACK)
DEPLOY, ROLLBACK = DeliveryKind.DEPLOY, DeliveryKind.ROLLBACK


def t(text: str) -> datetime:
    """``11-05T10:00`` → that time of November 2026, UTC (``10-10T…``: of October)."""
    return datetime.fromisoformat(f"2026-{text}:00+00:00")


def stamp(text: str) -> str:
    return f"2026-{text}:00Z"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
async def started(tmp_path: Path, cluster: Cluster) -> AsyncIterator[Any]:
    """Starts the source (once the test has seeded the cluster: seeding sends no watch event)."""
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1", "us-1"])
    cluster.namespaces(STAGING, PROD)
    config = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig), "environments": {
        "staging": {"context": "eu-1", "namespace": STAGING},
        "production": {"context": "us-1", "namespace": PROD}}})
    made: list[KubernetesSource] = []

    async def start() -> KubernetesSource:
        source = KubernetesSource(config, SourceContext(
            name="k8s", data_dir=tmp_path, clock=ManualClock(t("11-25T14:00")),
            notify=lambda topic: None))
        made.append(source)
        await source.start()
        return source

    yield start
    for source in made:
        await source.close()


def workload(name: str, ns: str, image: str, *, done_at: str | None = None,
             names: str | None = None, stuck_at: str | None = None,
             kind: str = "Deployment") -> dict[str, Any]:
    """A Deployment (rolled out, its Progressing condition naming ReplicaSet ``names`` at
    ``done_at``; or stuck past its progress deadline at ``stuck_at``) or a StatefulSet."""
    obj = deployment(name, ns, image=image, kind=kind)
    if kind != "Deployment":
        return obj
    message = f'ReplicaSet "{names}" has successfully progressed.' if names else ""
    progressing: dict[str, Any] = {"type": "Progressing", "status": "True",
                                   "reason": "NewReplicaSetAvailable", "message": message,
                                   "lastUpdateTime": stamp(done_at or "11-20T10:00")}
    if stuck_at is not None:
        progressing = {"type": "Progressing", "status": "False",
                       "reason": "ProgressDeadlineExceeded",
                       "message": f'ReplicaSet "{names}" has timed out progressing.',
                       "lastUpdateTime": stamp(stuck_at)}
        obj["status"].update(updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    obj["status"]["conditions"][1] = progressing
    obj["spec"]["progressDeadlineSeconds"] = 600
    return obj


def rs(deploy: dict[str, Any], revision: int, version: str, created: str, *,
       suffix: str = "", before: tuple[int, ...] = (), cause: str = "", replicas: int = 0,
       ready: int = 0) -> dict[str, Any]:
    """A ReplicaSet of ``deploy`` at ``revision`` (``before``: the numbers it had before, when it
    was re-used by rollbacks) running ``version``, created at ``created``."""
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[0]
    obj = replicaset(deploy, revision, f"{image}:{version}", stamp(created))
    obj["metadata"]["name"] = f"{deploy['metadata']['name']}-{suffix or version}"
    annotations = obj["metadata"]["annotations"]
    if before:
        annotations["deployment.kubernetes.io/revision-history"] = ",".join(map(str, before))
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    obj["spec"]["replicas"] = replicas
    obj["status"] = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
    return obj


def put(cluster: Cluster, ns: str, deploy: dict[str, Any], *sets: dict[str, Any]) -> None:
    cluster.put("deployments", ns, deploy["metadata"]["name"], deploy)
    for obj in sets:
        cluster.put("replicasets", ns, obj["metadata"]["name"], obj)


def query(start: str = "01-01T00:00", end: str = "12-31T00:00", **kw: Any) -> HistoryQuery:
    return HistoryQuery(start=t(start), end=t(end), **kw)


def rows(events: Any) -> list[tuple[Any, ...]]:
    """(environment, service, version, kind, outcome, started, finished), by time."""
    return sorted(((e.environment, e.service, e.version, e.kind, e.outcome, e.started, e.finished)
                   for e in events), key=lambda r: (r[0], r[1], r[6], r[5]))


async def test_revisions_are_deployments_with_their_version_time_and_change_cause(
        started: Any, cluster: Cluster) -> None:
    cart = workload("cart", PROD, "registry.example/shop/cart:1.1.0", names="cart-1.1.0",
                    done_at="11-10T10:04")
    put(cluster, PROD, cart,
        rs(cart, 1, "1.0.0", "11-01T10:00", cause="first release"),
        rs(cart, 2, "1.1.0", "11-10T10:00", cause="idp-tui deploy 1.1.0 by ana: CHG-7",
           replicas=2, ready=2))
    # Another Deployment's ReplicaSet in the namespace is not cart's (owners tell them apart).
    other = workload("search", PROD, "registry.example/search:3.0.0")
    put(cluster, PROD, other, rs(other, 1, "3.0.0", "11-02T09:00", replicas=2, ready=2))
    source = await started()
    assert Capability.DELIVERY in source.capabilities
    history = await source.delivery_history(query(service="cart"))
    assert rows(history.deliveries) == [
        ("production", "cart", "1.0.0", DEPLOY, SUCCEEDED, t("11-01T10:00"), t("11-01T10:00")),
        # The newest: finished when the workload's Progressing condition says it was rolled out.
        ("production", "cart", "1.1.0", DEPLOY, SUCCEEDED, t("11-10T10:00"), t("11-10T10:04"))]
    newest = max(history.deliveries, key=lambda e: e.started)
    assert newest.trigger == "idp-tui deploy 1.1.0 by ana: CHG-7"
    assert newest.id == "production/deployment/cart@uid-shop-prod-cart/2"
    assert newest.commits == ()  # Kubernetes does not know them
    # Asked with the workload's label selector (the only one asked for).
    lists = cluster.requests("get", f"/apis/apps/v1/namespaces/{PROD}/replicasets")
    assert any(r.params.get("labelSelector") == "app=cart" for r in lists)


async def test_a_revision_replaced_before_it_was_ready_and_one_stuck_past_its_deadline_failed(
        started: Any, cluster: Cluster) -> None:
    cart = workload("cart", PROD, "registry.example/shop/cart:1.3.0", names="cart-1.3.0",
                    stuck_at="11-12T10:11")
    put(cluster, PROD, cart,
        rs(cart, 1, "1.1.0", "11-01T10:00", replicas=2, ready=2),
        # Replaced while its pods were not ready (they are still being removed).
        rs(cart, 2, "1.2.0", "11-11T10:00", replicas=1, ready=0),
        rs(cart, 3, "1.3.0", "11-12T10:00", replicas=1, ready=0))
    source = await started()
    assert rows((await source.delivery_history(query())).deliveries) == [
        ("production", "cart", "1.1.0", DEPLOY, SUCCEEDED, t("11-01T10:00"), t("11-01T10:00")),
        ("production", "cart", "1.2.0", DEPLOY, FAILED, t("11-11T10:00"), t("11-12T10:00")),
        ("production", "cart", "1.3.0", DEPLOY, FAILED, t("11-12T10:00"), t("11-12T10:11"))]


async def test_a_rollout_under_way_is_not_reported_until_it_ends(
        started: Any, cluster: Cluster) -> None:
    cart = workload("cart", PROD, "registry.example/shop/cart:1.2.0", names="cart-1.1.0")
    cart["status"].update(updatedReplicas=1)  # 1 of 2 updated
    put(cluster, PROD, cart, rs(cart, 1, "1.1.0", "11-01T10:00", replicas=1, ready=1),
        rs(cart, 2, "1.2.0", "11-24T10:00", replicas=1, ready=1))
    source = await started()
    assert [e.version for e in (await source.delivery_history(query())).deliveries] == ["1.1.0"]


async def test_a_rollback_undoes_the_deploy_before_it(
        started: Any, cluster: Cluster) -> None:
    # cart: 1.0.0 (1), 1.1.0 (2), back to 1.0.0: its ReplicaSet re-used as revision 3, the
    # newest (its time from the Progressing condition).
    cart = workload("cart", PROD, "registry.example/shop/cart:1.0.0", names="cart-1.0.0",
                    done_at="11-05T12:00")
    put(cluster, PROD, cart,
        rs(cart, 3, "1.0.0", "11-01T10:00", before=(1,), cause="kubectl rollout undo",
           replicas=2, ready=2),
        rs(cart, 2, "1.1.0", "11-05T10:00", cause="release 1.1.0"))
    # search: 2.0.0 (1), 2.1.0 (2), back to 2.0.0 (3), then 2.2.0 (4): the rollback happened
    # before revision 4 began (the latest it can have been).
    search = workload("search", PROD, "registry.example/search:2.2.0", names="search-2.2.0",
                      done_at="11-09T10:05")
    put(cluster, PROD, search,
        rs(search, 3, "2.0.0", "11-01T09:00", before=(1,)),
        rs(search, 2, "2.1.0", "11-03T09:00"),
        rs(search, 4, "2.2.0", "11-09T10:00", replicas=2, ready=2))
    # A new ReplicaSet whose version ran before is a rollback too.
    cart2 = workload("cart", STAGING, "registry.example/shop/cart:1.0.0", names="cart-again",
                     done_at="11-06T08:00")
    put(cluster, STAGING, cart2, rs(cart2, 1, "1.0.0", "11-01T08:00"),
        rs(cart2, 2, "1.1.0", "11-04T08:00"),
        rs(cart2, 3, "1.0.0", "11-06T07:58", suffix="again", replicas=2, ready=2))
    source = await started()
    history = await source.delivery_history(query(environment="production"))
    assert rows(history.deliveries) == [
        ("production", "cart", "1.0.0", DEPLOY, SUCCEEDED, t("11-01T10:00"), t("11-01T10:00")),
        ("production", "cart", "1.1.0", DEPLOY, ROLLED_BACK, t("11-05T10:00"), t("11-05T10:00")),
        ("production", "cart", "1.0.0", ROLLBACK, SUCCEEDED, t("11-05T12:00"), t("11-05T12:00")),
        ("production", "search", "2.0.0", DEPLOY, SUCCEEDED, t("11-01T09:00"), t("11-01T09:00")),
        ("production", "search", "2.1.0", DEPLOY, ROLLED_BACK, t("11-03T09:00"),
         t("11-03T09:00")),
        ("production", "search", "2.0.0", ROLLBACK, SUCCEEDED, t("11-09T10:00"),
         t("11-09T10:00")),
        ("production", "search", "2.2.0", DEPLOY, SUCCEEDED, t("11-09T10:00"), t("11-09T10:05"))]
    by_id = {e.id: e for e in history.deliveries}
    # The change-cause is the re-used ReplicaSet's newest revision's; its first one had its own.
    assert by_id["production/deployment/cart@uid-shop-prod-cart/3"].trigger == \
        "kubectl rollout undo"
    assert by_id["production/deployment/cart@uid-shop-prod-cart/1"].trigger == ""
    staged = await source.delivery_history(query(environment="staging"))
    assert [(e.version, e.kind, e.outcome) for e in sorted(staged.deliveries,
                                                           key=lambda e: e.started)] == [
        ("1.0.0", DEPLOY, SUCCEEDED), ("1.1.0", DEPLOY, ROLLED_BACK),
        ("1.0.0", ROLLBACK, SUCCEEDED)]


async def test_only_what_finished_in_the_time_range(
        started: Any, cluster: Cluster) -> None:
    cart = workload("cart", PROD, "registry.example/shop/cart:1.2.0", names="cart-1.2.0",
                    done_at="11-20T10:05")
    put(cluster, PROD, cart, rs(cart, 1, "1.0.0", "10-01T10:00"),
        rs(cart, 2, "1.1.0", "11-10T10:00"),
        rs(cart, 3, "1.2.0", "11-20T10:00", replicas=2, ready=2))
    # [start, end): 11-10T10:00 is in, the newest finished at 11-20T10:05, after the end.
    source = await started()
    found = await source.delivery_history(query("11-10T10:00", "11-20T10:05"))
    assert [e.version for e in found.deliveries] == ["1.1.0"]
    found = await source.delivery_history(query("11-10T10:01", "11-20T10:06"))
    assert [e.version for e in found.deliveries] == ["1.2.0"]
    assert (await source.delivery_history(query("11-21T00:00", "11-25T00:00"))).deliveries == ()


async def test_a_statefulsets_controller_revisions(
        started: Any, cluster: Cluster) -> None:
    db = workload("orders-db", PROD, "registry.example/postgres:16.4", kind="StatefulSet")
    db["status"].update(currentRevision="orders-db-00000002",
                        updateRevision="orders-db-00000002")
    cluster.put("statefulsets", PROD, "orders-db", db)
    for number, version, created, cause in ((1, "16.3", "11-01T10:00", "initial"),
                                            (2, "16.4", "11-12T10:00", "upgrade to 16.4")):
        obj = controller_revision(db, number, f"registry.example/postgres:{version}",
                                  cause=cause, created=stamp(created))
        cluster.put("controllerrevisions", PROD, obj["metadata"]["name"], obj)
    source = await started()
    history = await source.delivery_history(query(service="orders-db"))
    assert rows(history.deliveries) == [
        ("production", "orders-db", "16.3", DEPLOY, SUCCEEDED, t("11-01T10:00"),
         t("11-01T10:00")),
        ("production", "orders-db", "16.4", DEPLOY, SUCCEEDED, t("11-12T10:00"),
         t("11-12T10:00"))]
    assert {e.trigger for e in history.deliveries} == {"initial", "upgrade to 16.4"}
    # Rolled back to 16.3: its ControllerRevision is re-used as revision 3 (it is older than
    # revision 2): a rollback, dated no earlier than the revision it undid.
    old = cluster.get("controllerrevisions", PROD, "orders-db-00000001")
    old["revision"] = 3
    cluster.put("controllerrevisions", PROD, "orders-db-00000001", old)
    history = await source.delivery_history(query(service="orders-db"))
    assert rows(history.deliveries) == [
        ("production", "orders-db", "16.4", DEPLOY, ROLLED_BACK, t("11-12T10:00"),
         t("11-12T10:00")),
        ("production", "orders-db", "16.3", ROLLBACK, SUCCEEDED, t("11-12T10:00"),
         t("11-12T10:00"))]


async def test_two_environments_each_from_its_own_namespace(
        started: Any, cluster: Cluster) -> None:
    for ns, versions in ((STAGING, ("1.1.0", "1.2.0")), (PROD, ("1.1.0",))):
        cart = workload("cart", ns, f"registry.example/shop/cart:{versions[-1]}",
                        names=f"cart-{versions[-1]}", done_at="11-20T10:05")
        put(cluster, ns, cart, *(rs(cart, i + 1, v, f"11-{10 + i}T10:00",
                                    replicas=2 if i + 1 == len(versions) else 0,
                                    ready=2 if i + 1 == len(versions) else 0)
                                 for i, v in enumerate(versions)))
    source = await started()
    every = await source.delivery_history(query())
    assert sorted((e.environment, e.version) for e in every.deliveries) == [
        ("production", "1.1.0"), ("staging", "1.1.0"), ("staging", "1.2.0")]
    assert len({e.id for e in every.deliveries}) == 3
    staging = await source.delivery_history(query(environment="staging"))
    assert {e.environment for e in staging.deliveries} == {"staging"}
    assert (await source.delivery_history(query(service="search"))).deliveries == ()
    # One environment whose ReplicaSets may not be read: said, and the other one answers.
    cluster.refuse(f"/apis/apps/v1/namespaces/{STAGING}/replicasets", 403, "forbidden")
    with pytest.raises(PartialAnswer) as caught:
        await source.delivery_history(query())
    answer = caught.value.data
    assert [(e.environment, e.version) for e in answer.deliveries] == [("production", "1.1.0")]
    assert "replicasets" in str(caught.value.error.message)


async def test_a_namespaces_revisions_are_listed_once_for_all_its_workloads(
        started: Any, cluster: Cluster) -> None:
    names = [f"svc-{i}" for i in range(6)]
    for i, name in enumerate(names):
        obj = workload(name, PROD, f"registry.example/{name}:1.1.0", names=f"{name}-1.1.0",
                       done_at="11-20T10:05")
        put(cluster, PROD, obj, rs(obj, 1, "1.0.0", f"11-0{i + 1}T10:00"),
            rs(obj, 2, "1.1.0", f"11-1{i}T10:00", replicas=2, ready=2))
    db = workload("orders-db", PROD, "registry.example/postgres:16.4", kind="StatefulSet")
    cluster.put("statefulsets", PROD, "orders-db", db)
    cluster.put("controllerrevisions", PROD, "orders-db-00000001", controller_revision(
        db, 1, "registry.example/postgres:16.4", created=stamp("11-03T10:00")))
    source = await started()
    rs_path = f"/apis/apps/v1/namespaces/{PROD}/replicasets"
    cr_path = f"/apis/apps/v1/namespaces/{PROD}/controllerrevisions"

    def listed(path: str) -> list[Any]:
        return [r for r in cluster.requests("get", path) if not r.params.get("watch")]

    # The source's own watch of the ReplicaSets (which revision serves) lists them first.
    for _ in range(500):
        if any(r.params.get("watch") for r in cluster.requests("get", rs_path)):
            break
        await asyncio.sleep(0.01)
    before = len(listed(rs_path)), len(listed(cr_path))
    answer = await source.delivery_history(query(environment="production"))
    # One list of each for the seven workloads (not one a workload), without a selector.
    lists, revisions = listed(rs_path)[before[0]:], listed(cr_path)[before[1]:]
    assert len(lists) == 1 and len(revisions) == 1
    assert not lists[0].params.get("labelSelector")
    # Each workload's revisions are its own (grouped by owner), in its own order.
    by_service: dict[str, list[str]] = {}
    for e in sorted(answer.deliveries, key=lambda e: e.started):
        by_service.setdefault(e.service, []).append(e.version)
    assert by_service == {**{name: ["1.0.0", "1.1.0"] for name in names},
                          "orders-db": ["16.4"]}
    # No StatefulSet asked for: no ControllerRevision listed.
    await source.delivery_history(query(service="svc-1"))
    assert len(listed(cr_path)) == before[1] + 1 and len(listed(rs_path)) == before[0] + 2


# idp-tui dora on a cluster ------------------------------------------------------------------------

def test_dora_counts_the_clusters_rollouts_to_production(tmp_path: Path,
                                                         cluster: Cluster) -> None:
    # Production, in the last 30 days (to 11-25T14:00):
    #   cart   1.0.0 succeeded (11-01), 1.1.0 rolled back (11-05) by a rollback dated 11-08T10:00
    #          (the next revision's start), 1.2.0 succeeded (11-08T10:05);
    #   search 2.0.0 before the window (10-10), 2.1.0 succeeded (11-15), 2.2.0 stuck: failed.
    # Deployments that reached production: 4 in 30 days; change failure rate 2 of 5; time to
    # restore: cart 1.1.0 in 3 days, search 2.2.0 not restored.
    cart = workload("cart", PROD, "registry.example/shop/cart:1.2.0", names="cart-1.2.0",
                    done_at="11-08T10:05")
    put(cluster, PROD, cart, rs(cart, 3, "1.0.0", "11-01T10:00", before=(1,)),
        rs(cart, 2, "1.1.0", "11-05T10:00"),
        rs(cart, 4, "1.2.0", "11-08T10:00", replicas=2, ready=2))
    search = workload("search", PROD, "registry.example/search:2.2.0", names="search-2.2.0",
                      stuck_at="11-20T10:10")
    put(cluster, PROD, search, rs(search, 1, "2.0.0", "10-10T10:00"),
        rs(search, 2, "2.1.0", "11-15T10:00", replicas=2, ready=2),
        rs(search, 3, "2.2.0", "11-20T10:00", replicas=1, ready=0))
    staged = workload("cart", STAGING, "registry.example/shop/cart:1.2.0", names="cart-1.2.0")
    put(cluster, STAGING, staged, rs(staged, 1, "1.2.0", "11-07T10:00", replicas=2, ready=2))
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    config = tmp_path / "config.toml"
    folder = tmp_path / "catalog"
    for name, owner in (("cart", "team-shop"), ("search", "team-search")):
        (folder / name).mkdir(parents=True)
        (folder / name / "catalog-info.yaml").write_text(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"
            f"  name: {name}\nspec: {{type: service, lifecycle: production, owner: {owner}}}\n")
    config.write_text(f'''[sources.files]
type = "catalog-files"
paths = ["{folder.as_posix()}"]

[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig.as_posix()}"
[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "{STAGING}" }}
production = {{ context = "eu-1", namespace = "{PROD}" }}
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", "dora", "--json", "--evidence",
                             "--window", "30d"], capture_output=True, text=True, env=env,
                            timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == EXIT_OK, result.stderr
    value = json.loads(result.stdout)
    assert value["production"] == ["production"] and value["errors"] == []
    org = value["results"][0]
    assert org["scope"] == "organisation"
    keys = org["keys"]
    assert keys["deployment_frequency"]["value"] == pytest.approx(4 / 30)
    assert keys["change_failure_rate"]["value"] == pytest.approx(2 / 5)
    assert keys["time_to_restore"]["value"] == pytest.approx(3 * 86400)
    assert keys["lead_time"]["value"] is None  # no commits: unknown
    cfr = keys["change_failure_rate"]
    prefix = "k8s:production/deployment/"
    assert sorted(cfr["reasons"].items()) == [
        (f"{prefix}cart@uid-shop-prod-cart/2", "rolled back"),
        (f"{prefix}search@uid-shop-prod-search/3", "failed")]
    assert org["unrestored"] == [f"{prefix}search@uid-shop-prod-search/3"]
    teams = {r["name"]: r["keys"] for r in value["results"][1:]}
    assert teams["team-shop"]["deployment_frequency"]["value"] == pytest.approx(3 / 30)
    assert teams["team-shop"]["change_failure_rate"]["value"] == pytest.approx(1 / 3)
    assert teams["team-search"]["deployment_frequency"]["value"] == pytest.approx(1 / 30)
    assert teams["team-search"]["change_failure_rate"]["value"] == pytest.approx(1 / 2)



# The rules on plain objects --------------------------------------------------------------------

def test_the_numbers_a_replicaset_had_before_are_read_bounded_and_junk_is_left_out() -> None:
    def numbers(text: Any) -> tuple[int, ...]:
        return history.revision_numbers({"metadata": {"annotations": {
            history.REVISION_HISTORY: text}}})

    assert numbers("1,3") == (1, 3)
    assert numbers(" 2 , x, -4,5") == (2, 5)
    assert numbers(None) == () and history.revision_numbers({}) == ()
    assert len(numbers(",".join(str(i) for i in range(500)))) == history.MAX_NUMBERS


def test_a_revision_with_no_time_at_all_is_left_out_and_another_owners_is_not_counted() -> None:
    cart = deployment("cart", PROD, image="registry.example/cart:1.1.0")
    timeless = rs(cart, 1, "1.0.0", "11-01T10:00")
    del timeless["metadata"]["creationTimestamp"]
    other = rs(deployment("search", PROD), 7, "9.9.9", "11-02T10:00")
    newest = rs(cart, 2, "1.1.0", "11-03T10:00", replicas=2, ready=2)
    found = history.entries_of(project_workload("Deployment", cart), [timeless, other, newest])
    assert [(e.number, e.first) for e in found] == [(1, True), (2, True)]
    events = history.workload_history(
        project_workload("Deployment", cart), found, service="cart", environment="production",
        version=lambda r: r.containers[0].image.rsplit(":", 1)[-1])
    assert [(e.version, e.outcome, e.started) for e in events] == [
        ("1.1.0", SUCCEEDED, t("11-03T10:00"))]
