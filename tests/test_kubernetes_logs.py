"""Pod logs from the kubernetes source, like stern: every pod of a service at once, pods coming and
going, streams that drop and reconnect without repeating a line. Against the kmock emulator, which
serves each pod's log as the test writes it (pod logs are not emulated)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, LogPipe, deployment, pod

from idp_tui import LogLevel, LogLine, LogQuery, ManualClock, SourceContext
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource
from idp_tui_kubernetes import logs as k8s_logs
from idp_tui_kubernetes.logs import guess_level, parse_stamp


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
async def source(tmp_path: Path, cluster: Cluster, clock: ManualClock
                 ) -> AsyncIterator[Any]:
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
    return f"2026-11-25T13:59:{second:02d}.{second * 1000:09d}Z {text}"


class Reader:
    """Drains a logs() generator in the background, keeping every line."""

    def __init__(self, gen: AsyncIterator[Any]) -> None:
        self.gen = gen
        self.lines: list[LogLine] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for batch in self.gen:
            self.lines.extend(batch if isinstance(batch, list) else [batch])

    def messages(self, instance: str | None = None) -> list[str]:
        return [line.message for line in self.lines if instance is None or line.instance == instance]

    async def until(self, predicate: Any, what: str, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the stream ended before {what}")
            if loop.time() > deadline:
                raise AssertionError(f"gave up waiting for {what}: {self.messages()}")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """As the hub does: cancel the task reading it (the generator's ``finally`` runs)."""
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        await self.gen.aclose()  # type: ignore[attr-defined]


def seed(cluster: Cluster, pods: int = 2, containers: tuple[str, ...] = ("cart",)) -> list[LogPipe]:
    cluster.put("deployments", "shop", "cart", deployment("cart", "shop", replicas=pods))
    pipes = []
    for i in range(pods):
        name = f"cart-7d9f-{i}"
        cluster.put("pods", "shop", name, pod(name, "shop", "cart", containers=containers))
        pipes.append(cluster.logs("shop", name, past=[stamp(i, f"past line of pod {i}")]))
    # Another service's pod: never followed.
    cluster.put("pods", "shop", "search-1", pod("search-1", "shop", "search"))
    return pipes


def test_levels_and_timestamps_are_read_from_the_line() -> None:
    assert guess_level('{"level":"warn","msg":"slow"}') is LogLevel.WARN
    assert guess_level('{"severity":"ERROR","message":"x"}') is LogLevel.ERROR
    assert guess_level("ts=1 level=debug msg=hi") is LogLevel.DEBUG
    assert guess_level("E1126 10:00:00.000 1 controller.go:1] boom") is LogLevel.ERROR
    assert guess_level("2026/11/26 INFO started") is LogLevel.INFO
    assert guess_level("nothing here") is LogLevel.UNKNOWN
    moment = parse_stamp("2026-11-26T10:00:01.123456789Z")
    assert moment is not None and moment.microsecond == 123456 and moment.utcoffset() == timedelta(0)
    assert parse_stamp("2026-11-26T10:00:01Z") is not None
    assert parse_stamp("2026-11-26T12:00:01.5+02:00").hour == 10  # type: ignore[union-attr]
    assert parse_stamp("garbage") is None


async def test_every_pod_of_the_service_is_followed_with_its_name(source: Any,
                                                                  cluster: Cluster) -> None:
    pipes = seed(cluster)
    src = await source()
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=50)))
    try:
        await reader.until(lambda: len(reader.lines) == 2, "the past lines of both pods")
        assert sorted(reader.messages()) == ["past line of pod 0", "past line of pod 1"]
        assert {line.instance for line in reader.lines} == {"cart-7d9f-0", "cart-7d9f-1"}
        await reader.until(lambda: all(p.readers == 1 for p in pipes), "both pods followed")
        pipes[0].push(stamp(10, '{"level":"error","msg":"payment declined"}'))
        pipes[1].push(stamp(11, "GET /cart 200"))
        await reader.until(lambda: len(reader.lines) == 4, "the new lines")
        line = next(x for x in reader.lines if "declined" in x.message)
        assert (line.instance, line.level, line.service, line.environment) == \
            ("cart-7d9f-0", LogLevel.ERROR, "cart", "staging")
        assert line.ts.second == 10
        # The query asked for timestamps, the tail, and the main container, of each pod: the
        # past lines first, then following from the last of them.
        reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-0/log")
        assert reads[0].params == {"container": "cart", "follow": "false", "tailLines": "50",
                                   "timestamps": "true"}
        assert reads[1].params["follow"] == "true" and "tailLines" not in reads[1].params
        assert not cluster.requests("get", "/api/v1/namespaces/shop/pods/search-1/log")
    finally:
        await reader.close()


async def test_new_pods_are_picked_up_and_deleted_ones_dropped(source: Any,
                                                               cluster: Cluster) -> None:
    pipes = seed(cluster)
    src = await source()
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=10)))
    try:
        await reader.until(lambda: all(p.readers == 1 for p in pipes), "both pods followed")
        new = cluster.logs("shop", "cart-7d9f-9", past=[stamp(20, "new pod starting")])
        cluster.create("pods", "shop", pod("cart-7d9f-9", "shop", "cart", containers=("cart",)))
        await reader.until(lambda: "new pod starting" in reader.messages("cart-7d9f-9"),
                           "the new pod's first line")
        # A new pod is read from its start, not from a tail.
        reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-9/log")
        assert "tailLines" not in reads[0].params
        await reader.until(lambda: new.readers == 1, "the new pod followed")
        cluster.delete("pods", "shop", "cart-7d9f-0")
        await reader.until(lambda: pipes[0].readers == 0, "the deleted pod dropped")
        new.push(stamp(21, "still here"))
        await reader.until(lambda: "still here" in reader.messages(), "the new pod's line")
    finally:
        await reader.close()
    await until_no_log_threads()


async def until_no_log_threads(timeout: float = 10.0) -> None:
    """Every thread reading a log has ended (the stream was closed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(t.name.startswith("idp-k8s-log-") for t in threading.enumerate()):
        assert loop.time() < deadline, [t.name for t in threading.enumerate()]
        await asyncio.sleep(0.02)


async def test_a_dropped_stream_reconnects_without_repeating_lines(
        source: Any, cluster: Cluster, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pause before opening a dropped stream again (a second) is not what is tested here.
    monkeypatch.setattr(k8s_logs, "RETRY_PAUSE", 0.01)
    pipes = seed(cluster, pods=1)
    src = await source()
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=10)))
    try:
        await reader.until(lambda: pipes[0].readers == 1, "the pod followed")
        pipes[0].push(stamp(30, "one"), stamp(31, "two"))
        await reader.until(lambda: reader.messages()[-1:] == ["two"], "two lines")
        clock.set(clock.now().replace(hour=14, minute=0, second=5))
        # The connection drops; the server then resends what is newer than `sinceSeconds` ago,
        # which overlaps what was already shown.
        pipes[0].end()
        await reader.until(lambda: pipes[0].readers == 1, "the stream opened again")
        pipes[0].push(stamp(31, "two"), stamp(32, "three"))
        await reader.until(lambda: reader.messages()[-1:] == ["three"], "the line after")
        assert reader.messages() == ["past line of pod 0", "one", "two", "three"]
        reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-0/log")
        assert reads[-1].params["sinceSeconds"] == str(int((clock.now() - parse_stamp(
            "2026-11-25T13:59:31Z")).total_seconds()) + 1)  # type: ignore[operator]
        assert "tailLines" not in reads[-1].params
    finally:
        await reader.close()


async def test_since_and_all_containers(source: Any, cluster: Cluster) -> None:
    seed(cluster, pods=1, containers=("cart", "envoy"))
    src = await source(log_containers="all")
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=5,
                                      since=timedelta(minutes=5))))
    try:
        await reader.until(lambda: len(reader.lines) >= 2, "lines of both containers")
        assert {line.instance for line in reader.lines} == {"cart-7d9f-0/cart",
                                                            "cart-7d9f-0/envoy"}
        reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-0/log")
        assert {r.params["container"] for r in reads} == {"cart", "envoy"}
        past = [r for r in reads if r.params["follow"] == "false"]  # each container's first read
        assert {r.params["container"] for r in past} == {"cart", "envoy"}
        assert all(r.params["sinceSeconds"] == "300" and r.params["tailLines"] == "5"
                   for r in past)
    finally:
        await reader.close()


async def test_a_named_container_only(source: Any, cluster: Cluster) -> None:
    seed(cluster, pods=1, containers=("cart", "envoy"))
    src = await source(log_containers="envoy")
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=5)))
    try:
        await reader.until(lambda: len(reader.lines) >= 1, "a line")
        assert {line.instance for line in reader.lines} == {"cart-7d9f-0"}
        reads = cluster.requests("get", "/api/v1/namespaces/shop/pods/cart-7d9f-0/log")
        assert {r.params["container"] for r in reads} == {"envoy"}
    finally:
        await reader.close()


async def test_without_follow_the_stream_ends(source: Any, cluster: Cluster) -> None:
    seed(cluster)
    src = await source()
    lines: list[LogLine] = []
    async for batch in src.logs(LogQuery(service="cart", environment="staging", tail=5,
                                         follow=False)):
        lines.extend(batch)
    assert sorted(line.message for line in lines) == ["past line of pod 0", "past line of pod 1"]


async def test_hostile_log_text_arrives_as_it_was_sent(source: Any, cluster: Cluster) -> None:
    pipes = seed(cluster, pods=1)
    src = await source()
    reader = Reader(src.logs(LogQuery(service="cart", environment="staging", tail=1)))
    hostile = "[/] [@click=app.quit]x \x1b[31mred\x1b[0m \x07 [TODO]"
    try:
        await reader.until(lambda: pipes[0].readers == 1, "the pod followed")
        pipes[0].push(stamp(40, hostile), stamp(41, "x" * 1_000_000))
        await reader.until(lambda: len(reader.lines) == 3, "both lines")
        assert reader.lines[1].message == hostile
        assert len(reader.lines[2].message) == 1_000_000
    finally:
        await reader.close()


def _reference_level(message: str) -> LogLevel:
    """guess_level as first written (every check in turn): the fast paths must agree with it."""
    import re

    words = {"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "ERR", "FATAL", "CRITICAL",
             "PANIC"}
    if message[:1] == "{":
        head = message[:200]
        for key in ('"level"', '"severity"', '"lvl"', '"log.level"'):
            at = head.find(key)
            if at >= 0:
                match = re.compile(r'\s*:\s*"([A-Za-z]+)"').match(head, at + len(key))
                if match:
                    return LogLevel.parse(match.group(1))
        return LogLevel.UNKNOWN
    head = message[:80]
    if len(head) > 5 and head[0] in "IWEF" and head[5] == " " and head[1:5].isdigit():
        return LogLevel.parse(head[0])
    if "=" in head:
        lowered = head.lower()
        for key in ("level=", "lvl=", "severity="):
            at = lowered.find(key)
            if at >= 0 and (at == 0 or not lowered[at - 1].isalnum()):
                match = re.compile(r'"?([A-Za-z]+)').match(head, at + len(key))
                if match:
                    return LogLevel.parse(match.group(1))
    for token in head.split(None, 8)[:8]:
        word = token.strip("[]():|<>,")
        if word in words:
            return LogLevel.parse(word)
    return LogLevel.UNKNOWN


def test_guess_level_agrees_with_the_check_by_check_reading() -> None:
    import random

    rnd = random.Random(26)
    pieces = ['{"level":"', '{"level": "', '{"severity":"', '"lvl":"', "level=", "LEVEL=", "Lvl=",
              "severity=", "x_level=", "info", "INFO", "WARN", "WARNING", "ERR", "error", "Error",
              "E1126", "I0101 ", "W", "[ERROR]", "(DEBUG)", "GET", "POST", "req_id=ab", " ", " ",
              "  ", '"', "}", ",", ":", "é", "İ", "ſ", "K", "ínfo", "trace", "FATAL:", "panic",
              "12", "x" * 70, "\t", "=", "y=", "L=", "{"]
    corpus = [
        "GET /v1/orders 200 7ms req_id=1", "scheduled job finished", '{"level":"ínfo","severity":"ERROR"}',
        '{"level":"info","msg":"x"}', '{"level":"warning"}', '{"msg":"x","level":"error"}',
        "ts=1 level=debug msg=hi", "ts=1 Level=WARN", "E1126 10:00:00.000 1 x.go:1] boom",
        "2026/11/26 INFO started", "nothing here", "", "{", '{"level":"' + "a" * 40 + '"}',
    ]
    for _ in range(5000):
        corpus.append("".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 9))))
    for message in corpus:
        assert guess_level(message) is _reference_level(message), repr(message)
