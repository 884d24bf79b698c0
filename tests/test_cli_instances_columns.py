"""``idp-tui instances`` on Kubernetes says every column a kubectl user reads: ready, the phase
(Pending, Terminating) when no container names a reason, restarts, node (none yet for an
unscheduled pod), age at the command's clock and every container's image (a sidecar's too).
Against the kmock emulator, through the real command in a child process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod

from idp_tui.cli.output import EXIT_OK

from k8s_fixtures import STAGING_NS, command, staging_cluster, write_config  # noqa: F401 - the fixture

NS = STAGING_NS
CART = "registry.example/cart:1.4.0"
ENVOY = "envoyproxy/envoy:v1.30.2"


@pytest.fixture
def cluster(staging_cluster: Cluster) -> Cluster:  # noqa: F811
    return staging_cluster


def cart_pod(name: str, *, created: str, node: str = "", phase: str = "Running",
             started: bool = True, deleting: bool = False) -> dict[str, Any]:
    obj = pod(name, NS, "cart", containers=("cart", "envoy"), phase=phase)
    obj["metadata"]["creationTimestamp"] = created
    obj["spec"]["containers"] = [{"name": "cart", "image": CART}, {"name": "envoy", "image": ENVOY}]
    if node:
        obj["spec"]["nodeName"] = node
    if started:
        for status, image in zip(obj["status"]["containerStatuses"], (CART, ENVOY), strict=True):
            status["image"] = image
    else:
        del obj["status"]["containerStatuses"]  # not scheduled: nothing has run
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-11-25T13:59:50Z"
    return obj


def test_every_column_of_the_instances(tmp_path: Path, cluster: Cluster) -> None:
    cluster.put("deployments", NS, "cart", deployment("cart", NS, image=CART, replicas=3))
    cluster.put("pods", NS, "cart-7d9f-run", cart_pod(
        "cart-7d9f-run", created="2026-11-25T13:00:00Z", node="node-a"))
    cluster.put("pods", NS, "cart-7d9f-new", cart_pod(
        "cart-7d9f-new", created="2026-11-25T13:59:15Z", phase="Pending", started=False))
    cluster.put("pods", NS, "cart-7d9f-old", cart_pod(
        "cart-7d9f-old", created="2026-11-21T09:00:00Z", node="node-b", deleting=True))
    run = command(tmp_path, write_config(tmp_path, cluster, {"staging": NS}))  # clock 14:00:00
    shown = run("instances", "cart", "--env", "staging")
    assert shown.returncode == EXIT_OK, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1].split() == ["NAME", "READY", "STATUS", "RESTARTS", "NODE", "AGE", "IMAGES"]
    rows = {line.split()[0]: line.split(maxsplit=6) for line in lines[2:5]}
    assert rows["cart-7d9f-run"] == ["cart-7d9f-run", "2/2", "Running", "0", "node-a", "60m",
                                     f"{CART}, {ENVOY}"]
    assert rows["cart-7d9f-new"] == ["cart-7d9f-new", "0/2", "Pending", "0", "–", "45s",
                                     f"{CART}, {ENVOY}"]
    assert rows["cart-7d9f-old"][:6] == ["cart-7d9f-old", "2/2", "Terminating", "0", "node-b",
                                         "4d"]
    data = json.loads(run("instances", "cart", "--env", "staging", "--json").stdout)
    pods = {p["name"]: p for p in data["instances"]}
    assert pods["cart-7d9f-new"]["phase"] == "Pending" and pods["cart-7d9f-new"]["node"] == ""
    assert pods["cart-7d9f-run"]["images"] == [CART, ENVOY]
    assert pods["cart-7d9f-old"]["deleting"] is True
