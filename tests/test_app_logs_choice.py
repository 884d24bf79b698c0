"""Pilot tests of the Logs pane's choices: the previous run's log of a crash-looping container
(``P``), the containers (``C``) and the instances (``O``, a regular expression) read, a bad
expression refused with nothing lost; on a Kubernetes cluster (the kmock emulator) and on the
sandbox (which says when no container of the service has a previous run)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod
from test_kubernetes_logs_more import crash_looping, previous_log, stamp

from idp_tui import Instance, InstanceContainer, Instances, LogQuery
from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes import LogsPane

from conftest import T0
from fakes import assert_alive, data_settled, type_text, wait_until, widget_text
from idp_tui_sandbox.logs import previous_logs

SIZE = (160, 45)
NS = "shop"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


def kube_app(tmp_path: Path, cluster: Cluster) -> IdpApp:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"

[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "{NS}" }}
''')
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(path, required=True), data_dir=data, clock=ManualClock(T0))
    app.animation_level = "none"
    return app


def seed(cluster: Cluster) -> None:
    cluster.put("deployments", NS, "cart", deployment("cart", NS, replicas=3))
    for i in range(2):
        name = f"cart-7d9f-{i}"
        cluster.put("pods", NS, name, pod(name, NS, "cart", containers=("cart", "envoy")))
        cluster.logs(NS, name, past=[stamp(s, f"line {s:02d} of pod {i}")
                                     for s in range(i, 20, 2)])
    cluster.put("pods", NS, "cart-7d9f-9", crash_looping("cart-7d9f-9", NS, "cart"))
    previous_log(cluster, NS, "cart-7d9f-9", [
        "2026-11-25T13:58:01.000000000Z starting cart",
        "2026-11-25T13:58:02.000000000Z panic: secret cart-db not found"])
    cluster.logs(NS, "cart-7d9f-9", past=[])


def messages(pane: LogsPane) -> list[str]:
    return [entry.line.message for entry in pane.view.buffer.entries()]


def instances(pane: LogsPane) -> set[str]:
    return {entry.line.instance for entry in pane.view.buffer.entries()}


async def open_logs(pilot: Any, app: IdpApp, service: str = "cart",
                    environment: str = "staging") -> LogsPane:
    app.service, app.environment = service, environment
    await pilot.pause()
    await pilot.press("4")
    pane = app.query_one(LogsPane)
    await wait_until(pilot, lambda: app.current_pane is pane and pane.view.total > 0, "log lines")
    return pane


async def prompt(pilot: Any, key: str, text: str) -> None:
    await pilot.press(key)
    await pilot.press("ctrl+u")
    await type_text(pilot, text)
    await pilot.press("enter")


async def test_kubernetes_previous_run_containers_and_instances(tmp_path: Path,
                                                                cluster: Cluster) -> None:
    seed(cluster)
    app = kube_app(tmp_path, cluster)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_logs(pilot, app)
        # The past lines of both pods, merged by time.
        await wait_until(pilot, lambda: len(messages(pane)) == 20, "both pods' past lines")
        assert messages(pane) == [f"line {s:02d} of pod {s % 2}" for s in range(20)]

        # The previous run of the crash-looping container.
        await pilot.press("P")
        await wait_until(pilot, lambda: pane.ended and "panic: secret cart-db not found"
                         in messages(pane), "the previous run's log")
        assert messages(pane) == ["starting cart", "panic: secret cart-db not found"]
        assert instances(pane) == {"cart-7d9f-9"}
        status = widget_text(app, pane.query_one("#logs-status"))
        assert "previous run" in status and "ended" in status
        await pilot.press("P")  # back to the live log
        await wait_until(pilot, lambda: len(messages(pane)) == 20 and not pane.previous,
                         "the live log again")

        # One instance, every container.
        await prompt(pilot, "O", "-1$")
        await wait_until(pilot, lambda: instances(pane) == {"cart-7d9f-1"}, "one instance")
        await prompt(pilot, "C", "all")
        await wait_until(pilot, lambda: instances(pane) == {"cart-7d9f-1/cart",
                                                            "cart-7d9f-1/envoy"},
                         "both containers of the instance")
        status = widget_text(app, pane.query_one("#logs-status"))
        assert "container all" in status and "instances -1$" in status

        # A bad expression: said, and nothing is lost (the same lines, the same choice).
        before = messages(pane)
        stream = pane.stream
        await prompt(pilot, "O", "cart-(")
        await wait_until(pilot, lambda: any("Invalid regular expression" in str(n.message)
                                            for n in app._notifications), "the error")
        assert pane.choice["instance"] == "-1$" and pane.stream is stream
        assert messages(pane) == before
        await pilot.press("escape")
        assert_alive(app)


async def test_sandbox_previous_run_says_when_none_and_instances_are_chosen(
        tmp_path: Path) -> None:
    from idp_tui.demo import demo_app

    app = demo_app(tmp_path / "data")
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")
        pane = await open_logs(pilot, app, app.service, app.environment)
        chosen = sorted(instances(pane))[0]
        await prompt(pilot, "O", f"^{re.escape(chosen)}$")
        # The tail counts the lines of the instance chosen.
        await wait_until(pilot, lambda: pane.view.total >= 200 and instances(pane) == {chosen},
                         "200 lines of the one instance")
        # No sandbox container of this service restarted: said, and the stream ends.
        await pilot.press("P")
        await wait_until(pilot, lambda: pane.ended and any(
            "No previous run to show" in str(n.message) for n in app._notifications),
            "the answer")
        assert pane.view.total == 0
        await pilot.press("P")
        await wait_until(pilot, lambda: pane.view.total > 0 and instances(pane) == {chosen},
                         "the live log of the instance again")
        assert_alive(app)


def test_sandbox_previous_logs_of_a_crash_looping_instance() -> None:
    now = T0
    crashed = InstanceContainer(name="cart", restarts=4, state="waiting",
                                reason="CrashLoopBackOff", message='secret "cart-db" not found',
                                last_reason="Error", last_exit_code=1)
    found = Instances(service="cart", environment="dev", instances=(
        Instance(name="cart-1", containers=(crashed,)),
        Instance(name="cart-2", containers=(InstanceContainer(name="cart"),))))
    query = LogQuery(service="cart", environment="dev", previous=True, follow=False)
    lines = previous_logs(found, query, now)
    assert [line.message for line in lines][-2:] == [
        'FATAL startup failed: secret "cart-db" not found', "exit code 1"]
    assert {line.instance for line in lines} == {"cart-1"}
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    assert previous_logs(found, query.model_copy(update={"instance": "-2$"}), now) == []
    assert previous_logs(found, query.model_copy(update={"container": "envoy"}), now) == []
