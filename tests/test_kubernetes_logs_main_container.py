"""The logs of the container that is the service when a sidecar is listed first: the Logs pane's
"main" (the source's default, or chosen with ``C main`` / ``--container main`` over a source set to
"all") follows the container chosen by the same rule as the version (the default-container
annotation, the container named like the service, the first that is not a known sidecar), never
the sidecar because it comes first. Against the kmock emulator, through the source."""

from __future__ import annotations

from typing import Any

from kube import Cluster, deployment, pod
from test_kubernetes_logs_more import cluster, read_all, source, stamp  # noqa: F401 - fixtures

ENVOY = {"name": "envoy", "image": "envoyproxy/envoy:v1.30.2"}


def seed_sidecar_first(kube: Cluster, annotation: str | None = None,
                       more: tuple[str, ...] = ()) -> None:
    """cart's pods run an envoy sidecar listed before the service's container ``app`` (and the
    containers ``more`` between them)."""
    cart = deployment("cart", "shop", image="registry.example/shop/cart:4.1.0", container="app")
    template = cart["spec"]["template"]
    template["spec"]["containers"][:0] = [dict(ENVOY)] + [
        {"name": name, "image": f"registry.example/shop/{name}:1"} for name in more]
    if annotation is not None:
        template["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container":
                                               annotation}
    kube.put("deployments", "shop", "cart", cart)
    for i in range(2):
        name = f"cart-7d9f-{i}"
        kube.put("pods", "shop", name, pod(name, "shop", "cart",
                                           containers=("envoy", *more, "app")))
        kube.logs("shop", name, past=[stamp(i, f"line of pod {i}")])


def asked(kube: Cluster) -> set[tuple[str, str]]:
    """(pod, container) of every log read."""
    return {(f"cart-7d9f-{i}", r.params["container"]) for i in range(2)
            for r in kube.requests("get", f"/api/v1/namespaces/shop/pods/cart-7d9f-{i}/log")}


async def test_main_is_the_service_container_not_the_sidecar_listed_first(
        source: Any, cluster: Cluster) -> None:  # noqa: F811
    seed_sidecar_first(cluster)
    src = await source()  # log_containers = "main", the default
    lines = await read_all(src, tail=10)
    assert {line.instance for line in lines} == {"cart-7d9f-0", "cart-7d9f-1"}
    assert asked(cluster) == {("cart-7d9f-0", "app"), ("cart-7d9f-1", "app")}


async def test_main_chosen_in_the_query_over_a_source_set_to_all(source: Any,
                                                                  cluster: Cluster) -> None:  # noqa: F811
    seed_sidecar_first(cluster)
    src = await source(log_containers="all")
    lines = await read_all(src, tail=10)
    assert {line.instance for line in lines} == {
        "cart-7d9f-0/envoy", "cart-7d9f-0/app", "cart-7d9f-1/envoy", "cart-7d9f-1/app"}
    before = len(cluster.requests("get"))
    lines = await read_all(src, tail=10, container="main")
    assert {line.instance for line in lines} == {"cart-7d9f-0", "cart-7d9f-1"}
    new = cluster.requests("get")[before:]
    containers = {r.params.get("container") for r in new if r.params.get("container")}
    assert containers == {"app"}


async def test_main_follows_the_default_container_annotation(source: Any,
                                                             cluster: Cluster) -> None:  # noqa: F811
    # The annotation comes before the container named like the service and the first one.
    seed_sidecar_first(cluster, annotation="app", more=("cart",))
    src = await source()
    await read_all(src, tail=10)
    assert asked(cluster) == {("cart-7d9f-0", "app"), ("cart-7d9f-1", "app")}
