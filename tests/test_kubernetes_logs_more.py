"""Kubernetes logs as stern and kubectl read them: every pod's past lines merged by time, ``--tail N``
lines in all, pods asked by the workload's label selector, a crash-looping container's previous log,
containers and instances chosen per query. Against the kmock emulator, through the source and
through ``idp-tui logs`` (a child process running the real command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from kube import Cluster, deployment, pod
from pydantic import ValidationError

from idp_tui import LogLine, LogQuery, ManualClock, SourceContext
from idp_tui.cli.output import EXIT_OK, EXIT_SOURCE, EXIT_USAGE
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

TIMEOUT = 120


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
async def source(tmp_path: Path, cluster: Cluster, clock: ManualClock) -> AsyncIterator[Any]:
    made: list[KubernetesSource] = []

    async def make(**settings: Any) -> KubernetesSource:
        kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
        config = KubernetesConfig.model_validate({
            "kubeconfig": str(kubeconfig),
            "environments": {"staging": {"context": "eu-1", "namespace": "shop"}}, **settings})
        src = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path, clock=clock))
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


def stamp(second: int, text: str) -> str:
    return f"2026-11-25T13:59:{second:02d}.000000000Z {text}"


def crash_looping(name: str, namespace: str, app: str) -> dict[str, Any]:
    """A pod whose ``cart`` container crashed and waits to be started again; ``envoy`` runs."""
    obj = pod(name, namespace, app, containers=("cart", "envoy"))
    obj["status"]["containerStatuses"][0].update(
        ready=False, restartCount=4,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}},
        lastState={"terminated": {"reason": "Error", "exitCode": 1,
                                  "startedAt": "2026-11-25T13:58:00Z",
                                  "finishedAt": "2026-11-25T13:58:03Z"}})
    return obj


def previous_log(cluster: Cluster, namespace: str, name: str, lines: list[str]) -> None:
    """Serve the previous run's log of ``name`` (kubelet's ``previous=true``)."""
    path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
    cluster.handler[f"get {path}", kmock.params(previous="true")] << kmock.Response(
        headers={"Content-Type": "text/plain"},
        payload="".join(line + "\n" for line in lines).encode())


def seed(cluster: Cluster, namespace: str = "shop") -> None:
    """Three pods of ``cart`` whose past lines interleave in time; a pod of another service."""
    cluster.put("deployments", namespace, "cart", deployment("cart", namespace, replicas=3))
    for i in range(3):
        name = f"cart-7d9f-{i}"
        cluster.put("pods", namespace, name, pod(name, namespace, "cart", containers=("cart",)))
        # pod 0 wrote at seconds 0, 3, 6…; pod 1 at 1, 4, 7…; pod 2 at 2, 5, 8…
        cluster.logs(namespace, name, past=[stamp(s, f"line {s:02d} of pod {i}")
                                            for s in range(i, 30, 3)])
    cluster.put("pods", namespace, "search-1", pod("search-1", namespace, "search"))
    cluster.logs(namespace, "search-1", past=[stamp(0, "a line of search")])


async def read_all(src: KubernetesSource, **query: Any) -> list[LogLine]:
    lines: list[LogLine] = []
    async for batch in src.logs(LogQuery(service="cart", environment="staging", follow=False,
                                         **query)):
        lines.extend(batch)
    return lines


# The source ------------------------------------------------------------------------------------

async def test_past_lines_are_merged_by_time_across_pods_and_the_tail_is_in_all(
        source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    lines = await read_all(src, tail=7)
    # The last 7 lines of the three pods together, in time order, not 7 per pod, pod by pod.
    assert [line.message for line in lines] == [f"line {s:02d} of pod {s % 3}"
                                                for s in range(23, 30)]
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    # Each pod was asked for at most 7 (the last 7 in all are among them).
    for i in range(3):
        reads = cluster.requests("get", f"/api/v1/namespaces/shop/pods/cart-7d9f-{i}/log")
        assert reads and all(r.params["tailLines"] == "7" for r in reads)


async def test_a_followed_stream_sends_the_merged_past_first_then_live_lines(
        source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    gen = src.logs(LogQuery(service="cart", environment="staging", tail=4))
    try:
        first = await anext(gen)
        assert [line.message for line in first] == [f"line {s:02d} of pod {s % 3}"
                                                    for s in range(26, 30)]
    finally:
        await gen.aclose()


async def test_pods_are_asked_with_the_workload_label_selector(source: Any,
                                                               cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    await read_all(src, tail=5)
    lists = [r for r in cluster.requests("get", "/api/v1/namespaces/shop/pods")]
    assert lists and all(r.params.get("labelSelector") == "app=cart" for r in lists)
    # (the emulator ignores selectors: another service's pod is still never read)
    assert not cluster.requests("get", "/api/v1/namespaces/shop/pods/search-1/log")


async def test_the_previous_log_of_a_crash_looping_container(source: Any,
                                                             cluster: Cluster) -> None:
    cluster.put("deployments", "shop", "cart", deployment("cart", "shop", replicas=1))
    cluster.put("pods", "shop", "cart-7d9f-0", crash_looping("cart-7d9f-0", "shop", "cart"))
    previous_log(cluster, "shop", "cart-7d9f-0", [
        "2026-11-25T13:58:01.000000000Z starting cart",
        '2026-11-25T13:58:02.000000000Z {"level":"error","msg":"secret cart-db not found"}'])
    cluster.logs("shop", "cart-7d9f-0", past=[])
    src = await source()
    lines = await read_all(src, tail=50, previous=True, container="cart")
    assert [line.message for line in lines] == [
        "starting cart", '{"level":"error","msg":"secret cart-db not found"}']
    assert lines[1].level.value == "error"
    reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-0/log")
    assert len(reads) == 1 and reads[0].params["previous"] == "true"
    assert reads[0].params["follow"] == "false"


async def test_containers_and_instances_chosen_in_the_query(source: Any,
                                                            cluster: Cluster) -> None:
    cluster.put("deployments", "shop", "cart", deployment("cart", "shop", replicas=2))
    for i in range(2):
        name = f"cart-7d9f-{i}"
        cluster.put("pods", "shop", name, pod(name, "shop", "cart", containers=("cart", "envoy")))
        cluster.logs("shop", name, past=[stamp(i, f"line of pod {i}")])
    src = await source()  # the source's setting: the main container

    def asked() -> set[tuple[str, str]]:
        return {(f"cart-7d9f-{i}", r.params["container"])
                for i in range(2)
                for r in cluster.requests("get", f"/api/v1/namespaces/shop/pods/cart-7d9f-{i}/log")}

    lines = await read_all(src, tail=10, container="all")
    assert {line.instance for line in lines} == {
        "cart-7d9f-0/cart", "cart-7d9f-0/envoy", "cart-7d9f-1/cart", "cart-7d9f-1/envoy"}
    assert asked() == {(f"cart-7d9f-{i}", c) for i in range(2) for c in ("cart", "envoy")}
    lines = await read_all(src, tail=10, container="envoy", instance=r"-1$")
    assert {line.instance for line in lines} == {"cart-7d9f-1"}
    lines = await read_all(src, tail=10, instance="7d9f-0")
    assert {line.instance for line in lines} == {"cart-7d9f-0"}
    assert await read_all(src, tail=10, container="nginx") == []


def test_a_bad_instance_expression_is_refused_by_the_query() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        LogQuery(service="cart", environment="staging", instance="cart-(")


# idp-tui logs ----------------------------------------------------------------------------------

@pytest.fixture
def run(tmp_path: Path, cluster: Cluster):  # type: ignore[no-untyped-def]
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    config = tmp_path / "config.toml"
    config.write_text(f'''[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "shop-staging" }}
''')
    env = {**os.environ, "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "IDP_TUI_CONFIG": str(config), "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                              text=True, env=env, timeout=TIMEOUT, check=False)

    return run


def test_cli_tail_in_all_merged_previous_and_choices(run, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    seed(cluster, "shop-staging")
    result = run("logs", "cart", "-e", "staging", "--tail", "5", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    lines = [json.loads(text) for text in result.stdout.splitlines()]
    assert [line["message"] for line in lines] == [f"line {s:02d} of pod {s % 3}"
                                                   for s in range(25, 30)]
    result = run("logs", "cart", "-e", "staging", "--tail", "50", "--instance=-[02]$",
                 "--json")
    assert result.returncode == EXIT_OK, result.stderr
    assert {json.loads(text)["instance"] for text in result.stdout.splitlines()} == {
        "cart-7d9f-0", "cart-7d9f-2"}
    # No container restarted: the previous runs are none, and that is said.
    result = run("logs", "cart", "-e", "staging", "--previous")
    assert result.returncode == EXIT_OK and result.stdout == ""
    assert "no container of cart in staging has a previous run" in result.stderr
    assert not [r for i in range(3) for r in cluster.requests(
        "get", f"/api/v1/namespaces/shop-staging/pods/cart-7d9f-{i}/log")
        if r.params.get("previous") == "true"]
    # A crash-looping pod's previous run.
    cluster.put("pods", "shop-staging", "cart-7d9f-9",
                crash_looping("cart-7d9f-9", "shop-staging", "cart"))
    previous_log(cluster, "shop-staging", "cart-7d9f-9",
                 ["2026-11-25T13:58:02.000000000Z panic: secret cart-db not found"])
    cluster.logs("shop-staging", "cart-7d9f-9", past=[stamp(1, "the current run")])
    result = run("logs", "cart", "-e", "staging", "--previous", "--container", "cart",
                 "--instance", "7d9f-9")
    assert result.returncode == EXIT_OK, result.stderr
    assert "panic: secret cart-db not found" in result.stdout
    assert "cart-7d9f-9" in result.stdout and "the current run" not in result.stdout


def test_cli_bad_choices_exit_2(run) -> None:  # type: ignore[no-untyped-def]
    result = run("logs", "cart", "-e", "staging", "--instance", "cart-(")
    assert result.returncode == EXIT_USAGE
    assert "--instance: not a valid regular expression" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("logs", "cart", "-e", "staging", "--previous", "--follow")
    assert result.returncode == EXIT_USAGE and "cannot be followed" in result.stderr


def test_cli_a_previous_log_that_cannot_be_read_is_a_failure_not_an_empty_log(  # type: ignore[no-untyped-def]
        run, cluster: Cluster) -> None:
    """The kubelet refuses the crashed container's previous log: the command says so and exits
    with the source's code, instead of saying no container restarted."""
    seed(cluster, "shop-staging")
    cluster.put("pods", "shop-staging", "cart-7d9f-9",
                crash_looping("cart-7d9f-9", "shop-staging", "cart"))
    path = "/api/v1/namespaces/shop-staging/pods/cart-7d9f-9/log"
    cluster.handler[f"get {path}", kmock.params(previous="true")] << kmock.Response(
        status=500, headers={"Content-Type": "application/json"},
        payload={"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                 "message": "the kubelet is unreachable"})
    result = run("logs", "cart", "-e", "staging", "--previous", "--container", "cart",
                 "--instance", "7d9f-9")
    assert result.returncode == EXIT_SOURCE, (result.stdout, result.stderr)
    assert "none restarted" not in result.stderr
    assert "the kubelet is unreachable" in result.stderr
