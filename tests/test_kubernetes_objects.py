"""What the kubernetes source reads from objects: images, versions, health, rollout state —
pure functions on the JSON the API server sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kube import deployment

from idp_tui import Health
from idp_tui_kubernetes import objects as o


def test_images_split_into_repository_tag_and_digest() -> None:
    assert o.split_image("registry.example:5000/shop/cart:1.4.0") == \
        ("registry.example:5000/shop/cart", "1.4.0", None)
    assert o.split_image("registry.example:5000/shop/cart") == \
        ("registry.example:5000/shop/cart", None, None)
    assert o.split_image("cart@sha256:abcdef0123456789") == ("cart", None, "sha256:abcdef0123456789")
    assert o.image_version("cart:1.4.0@sha256:abc") == "1.4.0"
    assert o.image_version("cart@sha256:abcdef0123456789ff") == "abcdef012345"
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
