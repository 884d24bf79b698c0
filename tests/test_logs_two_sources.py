"""Two sources with logs of one service: their past lines are merged by timestamp before the
live ones, and ``tail`` counts them all. Through the hub (two sources of this file, one slow to
send its past lines, one that never sends them), the ``idp-tui logs`` command and the Logs pane
(two Kubernetes sources, one context each, on the kmock emulator)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod

from idp_tui import (
    Capability,
    LogLevel,
    LogLine,
    LogQuery,
    ManualClock,
    Service,
    Source,
    SourceConfig,
    SourceUnavailable,
)
from idp_tui.cli.output import EXIT_OK
from idp_tui.config import load_config
from idp_tui.hub import Hub
from idp_tui.hub.logmerge import BACKFILL_WAIT, merge_backfills
from idp_tui.hub.runner import SourceRunner
from idp_tui.hub.timing import ManualTimer
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes import LogsPane

from conftest import T0
from fakes import assert_alive, context, wait_until

PATIENCE = 15.0

# Through the hub ---------------------------------------------------------------------------------

#: Set by a test to let the "slow" source send its past lines (it runs on a thread of its own).
GATES: dict[str, threading.Event] = {}


class TimedConfig(SourceConfig):
    #: Seconds after T0 of each past line.
    past: list[float] = []
    #: Seconds after T0 of the lines sent live, after the past ones.
    live: list[float] = []
    #: Wait for the gate of this name before the past lines ("": none); "never": never send.
    gate: str = ""
    #: Fail before sending anything.
    fail: bool = False


class TimedSource(Source):
    Config = TimedConfig
    capabilities = frozenset({Capability.CATALOG, Capability.LOGS})
    config: TimedConfig

    async def services(self) -> list[Service]:
        return [Service(name="cart")]

    def _line(self, query: LogQuery, second: float) -> LogLine:
        return LogLine(ts=T0 + timedelta(seconds=second), service=query.service,
                       environment=query.environment, instance=self.name,
                       level=LogLevel.INFO, message=f"{self.name} {second:g}")

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:  # type: ignore[override]
        if self.config.fail:
            raise SourceUnavailable(f"{self.name} is down")
        if self.config.gate:
            gate = GATES.get(self.config.gate)
            while gate is None or not gate.is_set():
                await asyncio.sleep(0.01)
        past = [self._line(query, s) for s in self.config.past]
        yield past[-query.tail:] if query.tail else []
        if self.config.live:
            yield [self._line(query, s) for s in self.config.live]
        while query.follow:
            await asyncio.sleep(3600)


@pytest.fixture
async def hub_of(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Any]:
    hubs: list[Hub] = []

    def make(*sources: tuple[str, dict[str, Any]], timer: Any = None) -> Hub:
        runners = [SourceRunner(name, "timed", TimedSource(TimedConfig(**settings),
                                                           context(name, tmp_path, clock)), 5.0)
                   for name, settings in sources]
        hub = Hub(runners, clock=clock, timer=timer)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()
    GATES.clear()


class Lines:
    """What a stream hands over, batch by batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.arrived = asyncio.Event()

    def __call__(self, batch: list[LogLine], dropped: int) -> None:
        self.batches.append([line.message for line in batch])
        self.arrived.set()

    @property
    def messages(self) -> list[str]:
        return [m for batch in self.batches for m in batch]

    async def until(self, count: int) -> None:
        async def enough() -> None:
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), PATIENCE)


def test_merge_backfills_keeps_each_sources_order_and_the_newest_tail() -> None:
    def line(source: str, second: float, n: int) -> LogLine:
        return LogLine(ts=T0 + timedelta(seconds=second), service="s", environment="e",
                       instance=source, message=f"{source}{n}")

    a = [line("a", 1, 1), line("a", 2, 2), line("a", 2, 3)]
    b = [line("b", 2, 1), line("b", 3, 2)]
    assert [x.message for x in merge_backfills([a, b], 4)] == ["a2", "a3", "b1", "b2"]
    assert merge_backfills([a, b], 0) == []


async def test_the_past_lines_of_two_sources_are_merged_and_tail_counts_them_all(
        hub_of: Any) -> None:
    GATES["b"] = threading.Event()
    hub = hub_of(("a", {"past": [1, 3, 5, 7], "live": [20]}),
                 ("b", {"past": [2, 4, 6, 8], "live": [21], "gate": "b"}))
    lines = Lines()
    errors: list[Any] = []
    stream = hub.stream_logs(LogQuery(service="cart", environment="dev", tail=5),
                             lines, errors.append)
    try:
        # a's past and live lines are held while b has not sent its past lines.
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert lines.batches == []
        GATES["b"].set()
        await lines.until(7)
        assert lines.batches[0] == ["b 4", "a 5", "b 6", "a 7", "b 8"]
        assert lines.messages[5:] == ["a 20", "b 21"]
        assert errors == []
    finally:
        stream.cancel()


async def test_a_source_that_never_sends_its_past_lines_holds_the_others_only_a_while(
        hub_of: Any) -> None:
    timer = ManualTimer()
    hub = hub_of(("a", {"past": [1, 2, 3]}), ("b", {"gate": "never"}), timer=timer)
    lines = Lines()
    stream = hub.stream_logs(LogQuery(service="cart", environment="dev", tail=2),
                             lines, lambda failure: None)
    try:
        await timer.until(lambda t: BACKFILL_WAIT in t.deadlines, PATIENCE)
        timer.advance(BACKFILL_WAIT)
        await lines.until(2)
        assert lines.batches == [["a 2", "a 3"]]
    finally:
        stream.cancel()


async def test_a_failing_source_does_not_hold_the_other(hub_of: Any) -> None:
    """b fails before its past lines: it says so, and a's past lines come at once."""
    hub = hub_of(("a", {"past": [1, 2, 3]}), ("b", {"past": [1.5], "fail": True}))
    lines = Lines()
    errors: list[Any] = []
    ended = asyncio.Event()
    stream = hub.stream_logs(LogQuery(service="cart", environment="dev", tail=10,
                                      follow=False), lines, errors.append, ended.set)
    try:
        await asyncio.wait_for(ended.wait(), PATIENCE)
        assert lines.batches == [["a 1", "a 2", "a 3"]]
        assert [(f.source, f.message) for f in errors] == [("b", "b is down")]
    finally:
        stream.cancel()


# Two Kubernetes contexts: the command line and the Logs pane --------------------------------------

EU, US = "shop-eu", "shop-us"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    for ns, region in ((EU, "eu"), (US, "us")):
        c.put("deployments", ns, "cart", deployment("cart", ns))
        name = f"cart-{region}-0"
        c.put("pods", ns, name, pod(name, ns, "cart", containers=["cart"]))
        first = 0 if region == "eu" else 1
        c.logs(ns, name, past=[f"2026-11-25T13:59:{s:02d}.000000000Z {region} line {s}"
                               for s in range(first, 10, 2)])
    yield c
    c.close()


def two_contexts(tmp_path: Path, cluster: Cluster) -> Path:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1", "us-1"])
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.k8s-eu]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
environments = {{ staging = {{ context = "eu-1", namespace = "{EU}" }} }}

[sources.k8s-us]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
environments = {{ staging = {{ context = "us-1", namespace = "{US}" }} }}
''')
    return path


def test_the_cli_merges_two_contexts_past_lines_and_tail_counts_them_all(
        tmp_path: Path, cluster: Cluster) -> None:
    env = {**os.environ, "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "IDP_TUI_CONFIG": str(two_contexts(tmp_path, cluster)),
           "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "idp_tui", "logs", "cart", "-e", "staging",
                             "--tail", "5"], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert result.returncode == EXIT_OK, result.stderr
    shown = [line.rsplit("  ", 1)[-1].strip() for line in result.stdout.splitlines()]
    assert shown == [f"{'eu' if s % 2 == 0 else 'us'} line {s}" for s in range(5, 10)]


async def test_the_logs_pane_merges_two_contexts_past_lines(tmp_path: Path,
                                                             cluster: Cluster) -> None:
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(two_contexts(tmp_path, cluster), required=True), data_dir=data,
                 clock=ManualClock(T0))
    app.animation_level = "none"
    async with app.run_test(size=(160, 45)) as pilot:
        app.service, app.environment = "cart", "staging"
        await pilot.pause()
        await pilot.press("4")
        pane = app.query_one(LogsPane)

        def messages() -> list[str]:
            return [entry.line.message for entry in pane.view.buffer.entries()]

        await wait_until(pilot, lambda: len(messages()) == 10, "both contexts' past lines")
        assert messages() == [f"{'eu' if s % 2 == 0 else 'us'} line {s}" for s in range(10)]
        assert_alive(app)
