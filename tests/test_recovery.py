"""Recovery is shown within one refresh: two Kubernetes clusters (kmock, each behind a gate that
cuts its connections and refuses new ones, like a cluster going down), one stopped then started
again; and the real Backstage backend stopped, started again with a catalog still being filled,
and filled. The hub's timer is advanced; nothing waits on the wall clock for a refresh."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import backstage_server as bs
import pytest
from kube import Cluster, deployment

from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.hub import TRANSIENT_RETRY, Hub, ManualTimer, Snapshot, Topic
from idp_tui.runtime import build_runtime

from conftest import T0


class Gate:
    """A TCP proxy to ``target`` on a port of its own: :meth:`close` cuts every connection and
    refuses new ones (the cluster is down), :meth:`open` listens on the same port again."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="gate")
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.open()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def open(self) -> None:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._pipe, "127.0.0.1", self.port,
                                              reuse_address=True)

        self._server = self._run(start())

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._run(stop())

    def shut(self) -> None:
        self.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}


# Kubernetes: two clusters, one down then back -----------------------------------------------------

@pytest.fixture
def clusters() -> Iterator[tuple[Cluster, Cluster, Gate, Gate]]:
    eu, us = Cluster(), Cluster()
    eu_gate, us_gate = Gate(eu.url), Gate(us.url)
    yield eu, us, eu_gate, us_gate
    for gate in (eu_gate, us_gate):
        gate.shut()
    eu.close()
    us.close()


def two_contexts(path: Path, eu: Gate, us: Gate) -> Path:
    """A kubeconfig with two clusters, each reached through its gate."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "eu", "cluster": {"server": eu.url}},
                     {"name": "us", "cluster": {"server": us.url}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [{"name": "eu-1", "context": {"cluster": "eu", "user": "tester"}},
                     {"name": "us-1", "context": {"cluster": "us", "user": "tester"}}],
        "current-context": "eu-1"}))
    return path


def seed_two(eu: Cluster, us: Cluster) -> None:
    eu.put("deployments", "shop-staging", "cart", deployment(
        "cart", "shop-staging", image="registry.example/shop/cart:1.4.0"))
    us.put("deployments", "shop-prod", "cart", deployment(
        "cart", "shop-prod", image="registry.example/shop/cart:1.3.2", replicas=3))


def k8s_config(tmp_path: Path, eu: Gate, us: Gate) -> Path:
    kubeconfig = two_contexts(tmp_path / "kubeconfig", eu, us)
    path = tmp_path / "config.toml"
    path.write_text(f'''
[hub.refresh]
environments = 30

[sources.k8s]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
request_timeout = 5

[sources.k8s.environments]
staging = {{ context = "eu-1", namespace = "shop-staging" }}
production = {{ context = "us-1", namespace = "shop-prod" }}
''')
    return path


@pytest.fixture
def slow_own_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watches' own pause after an error is longer than any test: what brings a cluster
    back into view is the hub's refresh."""
    from idp_tui_kubernetes import informer

    monkeypatch.setattr(informer, "BACKOFF_FIRST", 600.0)
    monkeypatch.setattr(informer, "BACKOFF_MAX", 600.0)


class Watching:
    """A topic watched on a hub driven by a ManualTimer."""

    def __init__(self, hub: Hub, timer: ManualTimer, topic: Topic) -> None:
        self.hub, self.timer = hub, timer
        self.snapshots: list[Snapshot[Any]] = []
        hub.watch(topic, self.snapshots.append)

    @property
    def last(self) -> Snapshot[Any] | None:
        return self.snapshots[-1] if self.snapshots else None

    async def until(self, condition: Any, what: str, *, step: float = 0.25,
                    most: float = 2.0) -> None:
        """Until ``condition()`` holds, advancing the hub's timer by ``step`` at a time, and at
        most by ``most`` in all (the changes a source reports are refreshed after MIN_CHANGE_GAP
        on that timer); the loop's turns let the sockets' answers in (a safety net of 20 s)."""
        moved = 0.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"never: {what} (timer moved {moved} s); last: "
                                     f"{self.last and self.last.errors}")
            await asyncio.sleep(0.02)
            if self.timer.waiting and moved < most:
                self.timer.advance(step)
                moved += step
        return None


def by_env(snapshot: Snapshot[Any] | None) -> dict[str, Any]:
    deployments = snapshot.data.deployments.values() if snapshot and snapshot.data else ()
    return {d.environment: d for d in deployments}


def parts(hub: Hub) -> dict[str, tuple[str, str | None]]:
    return {name: (p.state, p.error_class) for name, p in hub.health["k8s"].parts.items()}


@pytest.fixture
async def k8s_hub(tmp_path: Path, clusters: Any,
                  slow_own_retries: None) -> AsyncIterator[tuple[Hub, ManualTimer]]:
    eu, us, eu_gate, us_gate = clusters
    seed_two(eu, us)
    config = load_config(k8s_config(tmp_path, eu_gate, us_gate), required=True)
    timer = ManualTimer()
    runtime = build_runtime(config, data_dir=tmp_path / "data", clock=ManualClock(T0), timer=timer)
    yield runtime.hub, timer
    await runtime.hub.close()


async def test_a_cluster_back_is_shown_back_within_one_refresh(
        clusters: Any, k8s_hub: tuple[Hub, ManualTimer]) -> None:
    _eu, _us, _eu_gate, us_gate = clusters
    hub, timer = k8s_hub
    envs = Watching(hub, timer, Topic.environments())
    await envs.until(lambda: envs.last is not None and not envs.last.errors
                     and len(by_env(envs.last)) == 2, "both clusters listed")
    assert parts(hub) == {"eu-1": ("ok", None), "shop-staging (staging)": ("ok", None),
                          "us-1": ("ok", None), "shop-prod (production)": ("ok", None)}
    assert hub.health["k8s"].parts["us-1"].latency is not None
    assert hub.health["k8s"].state == "ok"

    # us-1 goes down: its watches are cut. Production is "?" (not current), staging is not.
    us_gate.close()
    await envs.until(lambda: "k8s" in envs.last.errors, "the cut watches reported")
    assert envs.last.errors["k8s"].error_class == "unreachable"
    assert by_env(envs.last)["production"].health.value == "unknown"
    assert by_env(envs.last)["staging"].health.value == "healthy"
    assert parts(hub)["us-1"] == ("error", "unreachable")
    assert parts(hub)["shop-prod (production)"] == ("error", "unreachable")
    assert parts(hub)["eu-1"] == ("ok", None)
    assert parts(hub)["shop-staging (staging)"] == ("ok", None)
    assert hub.health["k8s"].state == "error"
    # Asked again at the next refresh (a transient failure: TRANSIENT_RETRY), still down.
    refreshes = len(envs.snapshots)
    await timer.until_waiting()
    timer.advance(TRANSIENT_RETRY)
    await envs.until(lambda: len(envs.snapshots) > refreshes, "a refresh while down", most=0)
    assert envs.last.errors["k8s"].error_class == "unreachable"

    # us-1 is back. The watches' own pause (10 min here) is not waited for: the next refresh
    # asks them again, and what it shows is true at once: no banner, no "?", health ok.
    us_gate.open()
    refreshes = len(envs.snapshots)
    await timer.until_waiting()
    timer.advance(TRANSIENT_RETRY)
    await envs.until(lambda: len(envs.snapshots) > refreshes, "one refresh", most=0)
    # (on a busy machine the re-list may answer just after that refresh: then its change is
    # shown within the hub's gap between changes, still long before the watches' own pause)
    await envs.until(lambda: envs.last.errors == {}, "the cluster shown back", most=1.0)
    assert by_env(envs.last)["production"].health.value == "healthy"
    assert by_env(envs.last)["production"].version == "1.3.2"
    assert hub.health["k8s"].failure is None and hub.health["k8s"].state == "ok"
    assert parts(hub)["us-1"] == ("ok", None)
    assert parts(hub)["shop-prod (production)"] == ("ok", None)


# Backstage: stopped, started again, its catalog filled again ------------------------------------

WHY = bs.available()

ENTITIES = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: service, lifecycle: production, owner: team-payments}
"""
CART = """---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: cart, description: The basket}
spec: {type: service, lifecycle: production, owner: team-payments}
"""


def restart(backend: bs.Backend, monkeypatch: pytest.MonkeyPatch, entities: str) -> bs.Backend:
    """The same backend (port, folder) started again, with ``entities`` in its file."""
    monkeypatch.setattr(bs, "free_port", lambda: backend.port)
    return bs.Backend(backend.folder, entities)


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
async def test_backstage_back_is_shown_back_within_one_refresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = bs.Backend(tmp_path / "backstage", ENTITIES + CART)
    try:
        backend.wait_for(2)
        config_path = tmp_path / "config.toml"
        config_path.write_text(f'''
[hub.refresh]
catalog = 60

[sources.bs]
type = "backstage"
url = "{backend.url}"
token = "{bs.TOKEN}"
''')
        config = load_config(config_path, required=True)
        timer = ManualTimer()
        runtime = build_runtime(config, data_dir=tmp_path / "data", clock=ManualClock(T0),
                                timer=timer)
        hub = runtime.hub
        try:
            catalog = Watching(hub, timer, Topic.catalog())
            detail = Watching(hub, timer, Topic.service_detail("cart"))

            def names() -> set[str]:
                return {s.name for s in (catalog.last.data or ())} if catalog.last else set()

            await catalog.until(lambda: names() == {"cart", "ledger"}, "the catalog", most=0)
            await detail.until(lambda: detail.last is not None and detail.last.data is not None,
                               "the detail", most=0)

            # Stopped: unreachable, asked again soon.
            backend.stop()
            refreshes = len(catalog.snapshots)
            await timer.until_waiting(2)
            timer.advance(60)
            await catalog.until(lambda: len(catalog.snapshots) > refreshes, "a refresh", most=0)
            assert catalog.last.errors["bs"].error_class == "unreachable"
            assert hub.health["bs"].state == "error"

            # Started again, its catalog still being filled (cart comes later). Nothing is backed
            # off meanwhile: cart's "not found" is not for good while a listing names it, and
            # asked of nobody when none does.
            backend = restart(backend, monkeypatch, ENTITIES)
            backend.wait_for(1)
            refreshes = len(catalog.snapshots)
            await timer.until_waiting(2)
            timer.advance(TRANSIENT_RETRY)
            await catalog.until(lambda: len(catalog.snapshots) > refreshes
                                and names() == {"ledger"} and not catalog.last.errors,
                                "the catalog back, without cart", most=0.25)
            await timer.until_waiting(2)
            assert hub.health["bs"].next_try is None
            assert detail.last.data is None or detail.last.errors

            # cart is in the catalog again: the catalog's next refresh lists it, and cart's
            # detail is asked at once (not at its own next interval, a minute later).
            backend.entities.write_text(ENTITIES + CART)
            backend.wait_for(2)
            timer.advance(60)
            await catalog.until(lambda: names() == {"cart", "ledger"}, "cart listed", most=0)
            await detail.until(lambda: detail.last is not None and not detail.last.errors
                               and detail.last.data is not None, "cart's detail", most=0.25)
            assert detail.last.data.service.description == "The basket"
            assert hub.health["bs"].next_try is None
            assert hub.health["bs"].failure is None and hub.health["bs"].state == "ok"
        finally:
            await hub.close()
    finally:
        backend.stop()


# The hub: a "not found" disproved by a listing -----------------------------------------------------

async def test_a_not_found_ends_its_back_off_once_the_source_lists_the_service(
        tmp_path: Path) -> None:
    from idp_tui import Capability, Instances, Service, Source, SourceContext, SourceNotFound
    from idp_tui.hub import SourceRunner

    class Catalog(Source):
        capabilities = frozenset({Capability.CATALOG, Capability.INSTANCES})
        listed = ["ledger"]

        async def services(self) -> list[Service]:
            return [Service(name=name) for name in self.listed]

        async def instances(self, service: str, environment: str) -> Instances:
            if service not in self.listed:
                raise SourceNotFound(f"no {service}")
            return Instances(service=service, environment=environment, workload="deploy/cart")

    source = Catalog(Source.Config(), SourceContext(name="cat", data_dir=tmp_path))
    timer = ManualTimer()
    hub = Hub([SourceRunner("cat", "cat", source, 5.0)], clock=ManualClock(T0), timer=timer,
              intervals={"catalog": 10, "instances": 600})
    try:
        catalog = Watching(hub, timer, Topic.catalog())
        await catalog.until(lambda: catalog.last is not None, "the catalog", most=0)
        instances = Watching(hub, timer, Topic.instances("cart", "prod"))
        await instances.until(lambda: instances.last is not None, "cart's instances", most=0)
        assert instances.last.errors["cat"].error_class == "not found"
        assert hub.health["cat"].next_try is not None  # backed off: 30 s, then longer
        # cart is listed now: the catalog's next refresh (in 10 s) ends that back-off (due in
        # 30 s) and asks again at once (not in 10 minutes, the topic's interval).
        source.listed = ["ledger", "cart"]
        await timer.until_waiting(2)
        timer.advance(10)
        await instances.until(lambda: not instances.last.errors, "cart's instances", most=0.25)
        assert instances.last.data.workload == "deploy/cart"
        assert hub.health["cat"].next_try is None and hub.health["cat"].state == "ok"
    finally:
        await hub.close()


def two_cluster_dashboard(tmp_path: Path, clusters: Any) -> tuple[Any, ManualTimer]:
    """The dashboard over the two seeded clusters of ``clusters`` (through their gates), on the
    hub's manual timer: the app (without animations) and that timer."""
    from idp_tui.ui.app import IdpApp

    eu, us, eu_gate, us_gate = clusters
    seed_two(eu, us)
    config = load_config(k8s_config(tmp_path, eu_gate, us_gate), required=True)
    timer = ManualTimer()
    data = tmp_path / "data"
    data.mkdir()
    runtime = build_runtime(config, data_dir=data, clock=ManualClock(T0), timer=timer)
    app = IdpApp(config, data, ManualClock(T0), runtime)
    app.animation_level = "none"
    return app, timer
