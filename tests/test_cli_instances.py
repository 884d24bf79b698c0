"""``idp-tui instances`` and ``idp-tui restart --instance``, run as the real command in a child
process: on the sandbox (its pods follow each deployment's health) and on a Kubernetes cluster
(the kmock emulator: a crash-looping pod, an OOMKilled one, the workload's events)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster

from idp_tui.cli.output import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE

from test_app_instances import NS, seed

TIMEOUT = 120
Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(tmp_path: Path, config: str) -> Run:
    path = tmp_path / "config.toml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(path),
                "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=TIMEOUT, check=False,
                                stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "data" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# On the sandbox ----------------------------------------------------------------------------------

@pytest.fixture
def sandbox(tmp_path: Path) -> Run:
    return runner(tmp_path, f'[sources.sandbox]\ntype = "sandbox"\n'
                            f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n'
                            'action_speed = 100000\n')


def test_sandbox_instances_text_json_and_restart(sandbox: Run, tmp_path: Path) -> None:
    envs = json.loads(sandbox("envs", "--json").stdout)
    broken = next(d for d in envs["deployments"] if d["message"].startswith("ImagePullBackOff"))
    service, env = broken["service"], broken["environment"]
    shown = sandbox("instances", service, "--env", env)
    assert shown.returncode == EXIT_OK, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1].split()[:4] == ["NAME", "READY", "STATUS", "RESTARTS"]
    assert "ImagePullBackOff" in lines[2] and "0/1" in lines[2]
    assert "Failed to pull image" in shown.stdout  # the events, under the table
    data = json.loads(sandbox("instances", service, "--env", env, "--json").stdout)
    assert data["source"] == "sandbox" and data["errors"] == []
    pods = data["instances"]
    assert len(pods) == broken["replicas_desired"]
    assert pods[0]["reason"] == "ImagePullBackOff"
    assert pods[0]["containers"][0]["state"] == "waiting"
    assert data["events"][0]["type"] == "Warning"

    healthy = next(d for d in envs["deployments"] if d["health"] == "healthy"
                   and d["environment"] == "staging" and d["replicas_desired"] >= 2)
    service, env = healthy["service"], healthy["environment"]
    before = [p["name"] for p in json.loads(
        sandbox("instances", service, "--env", env, "--json").stdout)["instances"]]
    described = sandbox("instances", service, "--env", env, "--describe", before[0])
    assert described.returncode == EXIT_OK and "Containers:" in described.stdout
    assert described.stdout.splitlines()[0].split() == ["Name", before[0]]
    manifest = sandbox("instances", service, "--env", env, "--yaml", before[0]).stdout
    assert "kind: Pod" in manifest and f"name: {before[0]}" in manifest

    done = sandbox("restart", service, "--env", env, "--instance", before[0], "--json")
    assert done.returncode == EXIT_OK, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["type"] == "result" and result["state"] == "succeeded"
    after = [p["name"] for p in json.loads(
        sandbox("instances", service, "--env", env, "--json").stdout)["instances"]]
    assert before[0] not in after and len(after) == len(before)
    assert set(before[1:]) <= set(after)
    records = [r for r in audit(tmp_path) if r["action"] == "restart_instance"]
    assert [r["phase"] for r in records] == ["started", "finished"]
    assert records[-1]["params"] == {"instance": before[0]} and records[-1]["outcome"] == "succeeded"


def test_sandbox_bad_input_is_a_clear_error(sandbox: Run) -> None:
    envs = json.loads(sandbox("envs", "--json").stdout)
    dep = envs["deployments"][0]
    service, env = dep["service"], dep["environment"]
    both = sandbox("instances", service, "--env", env, "--describe", "a", "--yaml", "b")
    assert both.returncode == EXIT_USAGE and "not allowed with" in both.stderr
    missing = sandbox("instances", service, "--env", env, "--describe", "no-such-pod")
    assert missing.returncode == EXIT_NOT_FOUND and "no instance 'no-such-pod'" in missing.stderr
    unknown = sandbox("instances", "no-such-service", "--env", env)
    assert unknown.returncode == EXIT_NOT_FOUND and "no-such-service" in unknown.stderr
    restart = sandbox("restart", service, "--env", env, "--instance", "no-such-pod")
    assert restart.returncode == EXIT_NOT_FOUND, restart.stderr
    assert "no instance 'no-such-pod'" in restart.stderr


# On Kubernetes -----------------------------------------------------------------------------------

@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
def kube(tmp_path: Path, cluster: Cluster) -> Run:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    return runner(tmp_path, f'[sources.k8s]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
                            f'[sources.k8s.environments]\n'
                            f'staging = {{ context = "eu-1", namespace = "{NS}" }}\n')


def test_kubernetes_instances_and_restart_instance(kube: Run, cluster: Cluster,
                                                   tmp_path: Path) -> None:
    seed(cluster)
    shown = kube("instances", "cart", "--env", "staging")
    assert shown.returncode == EXIT_OK, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()[2:5]}
    assert set(rows) == {"cart-5c6d-crash", "cart-5c6d-oom", "cart-5c6d-fine"}
    assert rows["cart-5c6d-crash"].split()[1:4] == ["0/1", "CrashLoopBackOff", "7"]
    assert rows["cart-5c6d-oom"].split()[1:4] == ["1/1", "OOMKilled", "2"]
    assert rows["cart-5c6d-fine"].split()[1:4] == ["1/1", "Running", "0"]
    assert "search-1" not in shown.stdout and "not about cart" not in shown.stdout
    assert "Back-off restarting failed container cart" in shown.stdout
    data = json.loads(kube("instances", "cart", "--env", "staging", "--json").stdout)
    assert data["workload"] == f"deployment/cart in {NS} (context eu-1)"
    crash = data["instances"][0]
    assert crash["name"] == "cart-5c6d-crash" and crash["node"] == "node-a"
    assert crash["containers"][0]["last_reason"] == "Error"
    assert [e["reason"] for e in data["events"]] == ["BackOff", "ScalingReplicaSet"]
    described = kube("instances", "cart", "--env", "staging", "-d", "cart-5c6d-oom").stdout
    assert "terminated (OOMKilled, exit code 137)" in described

    done = kube("restart", "cart", "--env", "staging", "--instance", "cart-5c6d-crash")
    assert done.returncode == EXIT_OK, done.stderr
    assert "Delete pod cart-5c6d-crash of deployment/cart" in done.stdout
    assert not cluster.exists("pods", NS, "cart-5c6d-crash")
    assert cluster.exists("pods", NS, "cart-5c6d-fine")
    records = [r for r in audit(tmp_path) if r["action"] == "restart_instance"]
    assert records[-1]["params"] == {"instance": "cart-5c6d-crash"}
    assert records[-1]["outcome"] == "succeeded" and records[-1]["source"] == "k8s"
    # Another workload's pod is not one of cart's instances: nothing is deleted.
    other = kube("restart", "cart", "--env", "staging", "--instance", "search-1")
    assert other.returncode == EXIT_NOT_FOUND and "no pod 'search-1'" in other.stderr
    assert cluster.exists("pods", NS, "search-1")


def test_restart_instance_in_production_asks_as_every_action(sandbox: Run, tmp_path: Path) -> None:
    envs = json.loads(sandbox("envs", "--json").stdout)
    dep = next(d for d in envs["deployments"] if d["environment"] == "production"
               and d["health"] == "healthy")
    pods = json.loads(sandbox("instances", dep["service"], "--env", "production",
                              "--json").stdout)["instances"]
    refused = sandbox("restart", dep["service"], "--env", "production", "--instance",
                      pods[0]["name"])
    assert refused.returncode == EXIT_DENIED, refused.stderr
    assert "production" in refused.stderr
    denied = [r for r in audit(tmp_path) if r["action"] == "restart_instance"]
    assert denied and denied[-1]["outcome"] == "denied"
    done = sandbox("restart", dep["service"], "--env", "production", "--instance",
                   pods[0]["name"], "--yes", "--reason", "stuck connection pool")
    assert done.returncode == EXIT_OK, done.stderr
    assert audit(tmp_path)[-1]["reason"] == "stuck connection pool"


def test_kubernetes_events_rbac_denies_leave_the_pods(kube: Run, cluster: Cluster) -> None:
    seed(cluster)
    cluster.refuse(f"/api/v1/namespaces/{NS}/events", 403, "events is forbidden")
    result = kube("instances", "cart", "--env", "staging", "--json")
    data = json.loads(result.stdout)
    assert len(data["instances"]) == 3 and data["events"] == [] and data["errors"] == []
    assert result.returncode == EXIT_OK
    warning = json.loads(result.stderr)["warning"]
    assert "events not shown: RBAC denied" in warning["message"] and warning["source"] == "k8s"
