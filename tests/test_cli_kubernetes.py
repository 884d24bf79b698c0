"""The ``idp-tui`` commands on a Kubernetes cluster (the kmock emulator, reached over HTTP from a
child process running the real command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube import Cluster, deployment, pod

from idp_tui.cli.output import EXIT_FAILED, EXIT_OK

TIMEOUT = 120


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
def run(tmp_path: Path, cluster: Cluster):  # type: ignore[no-untyped-def]
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    config = tmp_path / "config.toml"
    config.write_text(f'''[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "shop-staging" }}
production = {{ context = "eu-1", namespace = "shop-prod" }}
''')
    env = {**os.environ, "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "IDP_TUI_CONFIG": str(config), "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                              text=True, env=env, timeout=TIMEOUT, check=False)

    run.data = tmp_path / "data"  # type: ignore[attr-defined]
    return run


def seed(cluster: Cluster) -> None:
    for ns, version in (("shop-staging", "1.4.0"), ("shop-prod", "1.3.2")):
        cluster.put("deployments", ns, "cart", deployment(
            "cart", ns, image=f"registry.example/shop/cart:{version}"))
    for i in range(2):
        name = f"cart-5c6d-{i}"
        cluster.put("pods", "shop-staging", name, pod(name, "shop-staging", "cart",
                                                       containers=["cart"]))
        cluster.logs("shop-staging", name,
                     past=[f"2026-11-25T13:59:0{i}.000000000Z GET /cart/{i} 200"])


def test_envs_and_logs(run, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    seed(cluster)
    result = run("envs", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    data = json.loads(result.stdout)
    versions = {(d["service"], d["environment"]): d["version"] for d in data["deployments"]}
    assert versions == {("cart", "staging"): "1.4.0", ("cart", "production"): "1.3.2"}
    result = run("logs", "cart", "-e", "staging", "--tail", "5")
    assert result.returncode == EXIT_OK, result.stderr
    assert "cart-5c6d-0" in result.stdout and "GET /cart/0 200" in result.stdout
    assert "cart-5c6d-1" in result.stdout and "GET /cart/1 200" in result.stdout


def test_deploy_follows_the_rollout_and_is_audited(run, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    seed(cluster)

    def generation() -> int:
        return cluster.get("deployments", "shop-prod", "cart")["metadata"]["generation"]

    def controller() -> None:  # rolls the new generation out once the patch has come
        deadline = time.monotonic() + 60
        while generation() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        cluster.patch("deployments", "shop-prod", "cart", {"status": {"observedGeneration": 2}})

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    result = run("deploy", "cart", "-e", "production", "-V", "1.4.0", "--yes",
                 "--reason", "CHG-9")
    thread.join(5)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "registry.example/shop/cart:1.4.0" in result.stdout
    assert "rolled out" in result.stdout
    stored = cluster.get("deployments", "shop-prod", "cart")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example/shop/cart:1.4.0"
    records = [json.loads(line) for line in
               (run.data / "audit.jsonl").read_text().splitlines()]
    assert [(r["phase"], r.get("outcome")) for r in records] == [("started", None),
                                                                   ("finished", "succeeded")]


def test_a_forbidden_deploy_fails_naming_the_permission(run, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    seed(cluster)
    cluster.refuse("/apis/apps/v1/namespaces/shop-staging/deployments/cart", 403,
                   "forbidden", method="patch")
    result = run("deploy", "cart", "-e", "staging", "-V", "1.5.0")
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert "RBAC denied: cannot patch deployments.apps in namespace shop-staging" in \
        result.stderr
    assert "Traceback" not in result.stderr
