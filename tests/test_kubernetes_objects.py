"""What the kubernetes source reads from objects: images, versions, health, rollout state —
pure functions on the JSON the API server sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kube import deployment, replicaset

from idp_tui import Health
from idp_tui_kubernetes import objects as o


def test_images_split_into_repository_tag_and_digest() -> None:
    assert o.split_image("registry.example:5000/shop/cart:1.4.0") == \
        ("registry.example:5000/shop/cart", "1.4.0", None)
    assert o.split_image("registry.example:5000/shop/cart") == \
        ("registry.example:5000/shop/cart", None, None)
    assert o.split_image("cart@sha256:abcdef0123456789") == ("cart", None, "sha256:abcdef0123456789")
    assert o.image_version("cart:1.4.0@sha256:abc") == "1.4.0"
    # By digest only: the digest cut short, with its marker (not a bare string of hex).
    assert o.image_version("cart@sha256:abcdef0123456789ff") == "@sha256:abcdef012345…"
    assert o.image_version("cart@sha256:abcdef") == "@sha256:abcdef"
    assert o.image_version("nginx") == "latest"


def test_the_image_for_a_version_keeps_the_repository() -> None:
    assert o.image_for("registry.example:5000/shop/cart:1.4.0", "1.5.0") == \
        "registry.example:5000/shop/cart:1.5.0"
    assert o.image_for("cart@sha256:abc", "2.0") == "cart:2.0"
    # A whole reference is taken as it is.
    assert o.image_for("cart:1", "mirror.example/cart:2") == "mirror.example/cart:2"
    for bad in ("1.5.0 ; rm -rf /", "-rf", "", "x" * 200, "a/b:c d", "a/B:1"):
        with pytest.raises(ValueError, match="is not a valid image"):
            o.image_for("cart:1", bad)


def test_a_digest_version_is_deployed_as_the_whole_digest_it_stands_for() -> None:
    digest = "sha256:" + "ab" * 32
    known = ["registry.example/cart:1.0", f"registry.example/cart@{digest}"]
    short = o.image_version(known[1])
    assert short == "@sha256:abababababab…"
    assert o.image_for("registry.example/cart:2.0", short, known) == \
        f"registry.example/cart@{digest}"
    assert o.image_for("registry.example/cart:2.0", f"@{digest}") == \
        f"registry.example/cart@{digest}"
    with pytest.raises(ValueError, match="no image known here has that digest"):
        o.image_for("registry.example/cart:2.0", "@sha256:cdcdcdcdcdcd…", known)


def test_versions_newest_first() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert o.newest_first([("1.9.2", None), ("1.10.0", t1), ("1.9.2-rc1", None),
                           ("sha-old", t1), ("sha-new", t2), ("v2.0", None)]) == \
        ["v2.0", "1.10.0", "1.9.2", "1.9.2-rc1", "sha-new", "sha-old"]


def test_service_version_and_container_of_a_workload() -> None:
    w = o.project_workload("Deployment", deployment("cart-api", "shop", service="cart",
                                                    image="r/cart:1.2.3", version="1.2.3-build7",
                                                    container="app"))
    assert o.service_of(w, ["backstage.io/kubernetes-id", "app.kubernetes.io/name"]) == "cart"
    assert o.service_of(w, ["team"]) is None
    main = o.main_container(w, None, "cart")
    assert main is not None and main.name == "app"  # the only one
    assert o.main_container(w, "sidecar", "cart") is None
    assert o.version_of(w.labels, w.template_labels, main, "app.kubernetes.io/version") == \
        "1.2.3-build7"
    assert o.version_of({}, {}, main, "app.kubernetes.io/version") == "1.2.3"


def workload_with(containers: list[dict[str, str]], *, annotations: dict[str, str] | None = None,
                  name: str = "cart-api") -> o.Workload:
    obj = deployment(name, "shop", service="cart")
    template = obj["spec"]["template"]
    template["spec"]["containers"] = containers
    if annotations:
        template["metadata"]["annotations"] = annotations
    return o.project_workload("Deployment", obj)


ENVOY = {"name": "envoy", "image": "envoyproxy/envoy:v1.30.2"}
ISTIO = {"name": "proxy", "image": "docker.io/istio/proxyv2:1.22.0"}
APP = {"name": "app", "image": "r/cart:4.1.0"}
AGENT = {"name": "vault-agent", "image": "hashicorp/vault:1.17"}


def test_which_container_is_the_service() -> None:
    # A sidecar listed first is passed over (by its name, or its image's repository).
    assert o.choose_container(workload_with([ENVOY, APP]), None, "cart") == \
        (o.Container("app", "r/cart:4.1.0"), o.BY_NOT_SIDECAR)
    assert o.choose_container(workload_with([ISTIO, AGENT, APP]), None, "cart")[0].name == "app"
    # The container named like the service (or the workload) comes before that.
    named = workload_with([ENVOY, APP, {"name": "cart", "image": "r/cart:4.1.1"}])
    assert o.choose_container(named, None, "cart") == \
        (o.Container("cart", "r/cart:4.1.1"), o.BY_NAME)
    assert o.choose_container(workload_with([APP, {"name": "cart-api", "image": "r/x:2"}]),
                              None, "cart")[0].name == "cart-api"
    # The default-container annotation comes first of all (unless the config names one).
    annotated = workload_with([ENVOY, APP, {"name": "cart", "image": "r/cart:4.1.1"}],
                              annotations={o.DEFAULT_CONTAINER: "app"})
    assert o.choose_container(annotated, None, "cart") == \
        (o.Container("app", "r/cart:4.1.0"), o.BY_ANNOTATION)
    assert o.choose_container(annotated, "envoy", "cart")[1] == o.BY_CONFIG
    # An annotation naming no container of the pod is passed over.
    wrong = workload_with([ENVOY, APP], annotations={o.DEFAULT_CONTAINER: "gone"})
    assert o.choose_container(wrong, None, "cart")[1] == o.BY_NOT_SIDECAR
    # Only sidecars: the first; one container: that one.
    assert o.choose_container(workload_with([ENVOY, AGENT]), None, "cart") == \
        (o.Container("envoy", "envoyproxy/envoy:v1.30.2"), o.BY_FIRST)
    assert o.choose_container(workload_with([ENVOY]), None, "cart")[1] == o.BY_ONLY
    assert o.main_container(workload_with([ENVOY, APP]), None, "cart") == \
        o.Container("app", "r/cart:4.1.0")


def test_what_serves_is_the_revision_with_the_ready_pods() -> None:
    obj = deployment("cart", "shop", replicas=2, generation=2)
    obj["status"].update(replicas=3, updatedReplicas=1, readyReplicas=2, availableReplicas=2,
                         observedGeneration=2)
    obj["status"]["conditions"][1].update(status="False", reason="ProgressDeadlineExceeded",
                                          message='ReplicaSet "cart-rev2" has timed out')
    w = o.project_workload("Deployment", obj)
    assert o.rollout_state(w) == "stuck"
    old = replicaset(obj, 1, "r/cart:4.1.0")
    old["status"] = {"replicas": 2, "readyReplicas": 2}
    new = replicaset(obj, 2, "r/cart:4.2.0")
    new["status"] = {"replicas": 1}
    other = replicaset(deployment("search", "shop"), 7, "r/search:1")
    other["status"] = {"replicas": 5, "readyReplicas": 5}
    revisions = [r for r in map(o.project_replicaset, (old, new, other)) if r is not None]
    assert [(r.name, r.ready) for r in o.serving(w, revisions)] == [("cart-rev1", 2)]
    rolling = o.project_workload("Deployment", deployment("cart", "shop", replicas=2))
    assert o.rollout_state(rolling) == ""
    assert o.rollout_state(o.project_workload("Deployment", {
        **obj, "status": {**obj["status"], "conditions": []}})) == "progressing"


def test_health_and_rollout_state() -> None:
    def workload(**status: object) -> o.Workload:
        obj = deployment("cart", "shop", replicas=3, generation=2)
        obj["status"].update(status)
        return o.project_workload("Deployment", obj)

    done = workload(observedGeneration=2)
    assert o.health_of(done) == (Health.HEALTHY, "")
    assert o.rollout_done(done, 2) and not o.rollout_done(done, 3)
    assert o.rollout_message(done, 3) == "waiting for the controller to see the change"
    rolling = workload(observedGeneration=2, updatedReplicas=1, replicas=4)
    assert not o.rollout_done(rolling, 2)
    assert o.rollout_message(rolling) == "rolling out: 1/3 updated"
    old_left = workload(observedGeneration=2, replicas=4)
    assert o.rollout_message(old_left) == "rolling out: 1 old replica(s) left"
    assert o.health_of(workload(readyReplicas=0, availableReplicas=0))[0] is Health.DOWN
    assert o.health_of(workload(readyReplicas=2, availableReplicas=2)) == \
        (Health.DEGRADED, "2/3 ready")


def test_garbage_objects_do_not_raise() -> None:
    for obj in ({}, {"metadata": None, "spec": "x", "status": []},
                {"spec": {"replicas": "3", "template": {"spec": {"containers": ["x", None]}}}}):
        w = o.project_workload("Deployment", obj)  # type: ignore[arg-type]
        assert w.replicas in (1, 3) or isinstance(w.replicas, int)
        o.health_of(w)
        o.project_pod(obj)  # type: ignore[arg-type]
        o.project_namespace(obj)  # type: ignore[arg-type]
    assert o.parse_time("2026-11-26T10:00:00.123456789Z") == \
        datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)
    assert o.parse_time("yesterday") is None
