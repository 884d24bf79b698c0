"""Per-service topics (metrics, alerts, detail, logs) go to the sources that own the service.

The sandbox plus a team's own plugin (``CartSource``, below) that alone knows ``cart``: metrics, alerts,
detail and logs of ``cart`` never mark the sandbox failing, and the command line prints ``cart``'s
lines and exits 0. A source without a catalog of its own (a metrics system) is still asked; one that
declares ``owns`` is asked only about those services.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0
from fakes import StaticSource, context

from idp_tui import (
    Capability,
    LogLevel,
    LogLine,
    LogQuery,
    ManualClock,
    MetricSeries,
    MetricsQuery,
    Service,
    Signal,
    Source,
    SourceConfig,
    SourceNotFound,
    SourceUnavailable,
    Window,
)
from idp_tui.hub import Hub, ManualTimer, SourceRunner, Topic

TESTS = Path(__file__).resolve().parent
#: A safety net for awaited events and subprocesses; no assertion is about time.
PATIENCE = 20.0


class CartSource(Source):
    """A team's own plugin: a catalog and logs, of one service (``cart``) only."""

    capabilities = frozenset({Capability.CATALOG, Capability.LOGS})
    description = "the cart team's services"

    async def services(self) -> list[Service]:
        return [Service(name="cart", owner="team-cart", tier=2)]

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:
        if query.service != "cart":
            raise SourceNotFound(f"no service named {query.service!r}")
        if query.environment == "broken":
            raise SourceUnavailable("the cart cluster is down", hint="Is the VPN up?")
        make = LogLine.maker(service="cart", environment=query.environment, instance="cart-0")
        yield [make(T0 + timedelta(seconds=i), LogLevel.INFO, f"cart line {i}") for i in range(3)]


class MetricsOnly(Source):
    """A metrics system (like Prometheus): no catalog of its own; knows what it was told."""

    class Config(SourceConfig):
        knows: list[str] = ["cart", "payments-api"]

    capabilities = frozenset({Capability.METRICS})

    def __init__(self, config: SourceConfig, ctx: object) -> None:
        super().__init__(config, ctx)  # type: ignore[arg-type]
        self.asked: list[str] = []

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        self.asked.append(query.service)
        if query.service not in self.config.knows:  # type: ignore[attr-defined]
            raise SourceNotFound(f"no series for {query.service!r}")
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s", points=((0.0, 1.0),))]


@pytest.fixture
async def hubs(tmp_path: Path, clock: ManualClock):
    """``make(*runners)``: a hub over the sandbox, ``CartSource`` and the runners given."""
    from idp_tui_sandbox import SandboxConfig, SandboxSource

    made: list[Hub] = []

    def make(*extra: SourceRunner, timer: ManualTimer | None = None) -> Hub:
        sandbox = SandboxSource(SandboxConfig(seed=7, database=str(tmp_path / "s.db")),
                                context("sandbox", tmp_path, clock))
        cart = CartSource(SourceConfig(), context("cart", tmp_path, clock))
        hub = Hub([SourceRunner("sandbox", "sandbox", sandbox, 30.0),
                   SourceRunner("cart", "test-cart", cart, 30.0), *extra], clock=clock,
                  timer=timer)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        await hub.close()


def metrics_runner(tmp: Path, clock: ManualClock, *, owns: tuple[str, ...] = (),
                   **settings: object) -> SourceRunner:
    source = MetricsOnly(MetricsOnly.Config(**settings), context("prom", tmp, clock))
    return SourceRunner("prom", "test-metrics", source, 30.0, owns=owns)


async def collect_logs(hub: Hub, query: LogQuery) -> tuple[list[LogLine], list]:
    """Every line and error of a stream that ends by itself."""
    lines: list[LogLine] = []
    errors: list = []
    ended = asyncio.Event()
    stream = hub.stream_logs(query, lambda batch, dropped: lines.extend(batch), errors.append,
                             on_end=ended.set)
    try:
        await asyncio.wait_for(ended.wait(), PATIENCE)
    finally:
        stream.cancel()
    return lines, errors


def names(runners: list[SourceRunner]) -> list[str]:
    return [r.name for r in runners]


async def test_a_service_one_source_lists_is_asked_only_of_it(
        hubs, tmp_path: Path, clock: ManualClock) -> None:
    prom = metrics_runner(tmp_path, clock)
    timer = ManualTimer()
    hub = hubs(prom, timer=timer)
    # Watched as the dashboard does, before anything else was asked: the hub first learns who
    # lists what (the catalog and the deployments), then asks only those.
    got: list = []
    arrived = asyncio.Event()
    hub.watch(Topic.metrics("cart", "staging", Window.H1, 60.0),
              lambda snap: (got.append(snap), arrived.set()))
    await asyncio.wait_for(arrived.wait(), PATIENCE)
    assert got[0].errors == {}
    assert [s.signal for s in got[0].data] == [Signal.REQUEST_RATE]  # from prom: no catalog
    assert prom.source.asked == ["cart"]
    assert names(hub.sources_for_service("cart", Capability.METRICS)) == ["prom"]
    assert names(hub.sources_for_service("cart", Capability.LOGS)) == ["cart"]
    assert names(hub.sources_for_service("payments-api", Capability.METRICS)) == ["sandbox", "prom"]
    assert names(hub.sources_for_service("payments-api", Capability.LOGS)) == ["sandbox"]
    alerts = await hub.fetch(Topic.alerts("cart", "staging"))
    detail = await hub.fetch(Topic.service_detail("cart"))
    assert (alerts.errors, detail.errors) == ({}, {})
    lines, errors = await collect_logs(hub, LogQuery(service="cart", environment="staging"))
    assert [line.message for line in lines] == ["cart line 0", "cart line 1", "cart line 2"]
    assert errors == []
    assert {name: h.state for name, h in hub.health.items()} == {
        "sandbox": "ok", "cart": "ok", "prom": "ok"}
    # The sandbox's own services still go to it.
    lines, errors = await collect_logs(hub, LogQuery(service="payments-api",
                                                     environment="staging", tail=5,
                                                     follow=False))
    assert lines and {line.service for line in lines} == {"payments-api"} and errors == []


async def test_a_log_stream_started_before_anything_was_asked_learns_who_lists_what(
        hubs) -> None:
    """The command line streams at once: the hub asks for the catalogs first."""
    hub = hubs()
    assert hub.cached(Topic.catalog()) is None
    lines, errors = await collect_logs(hub, LogQuery(service="cart", environment="staging"))
    assert len(lines) == 3 and errors == []
    assert hub.health["sandbox"].failure is None


async def test_a_service_nobody_lists_is_asked_of_every_source(hubs) -> None:
    hub = hubs()
    lines, errors = await collect_logs(hub, LogQuery(service="nope", environment="staging"))
    assert lines == []
    assert {(f.source, f.error_class) for f in errors} == {("sandbox", "not found"),
                                                          ("cart", "not found")}
    snap = await hub.fetch(Topic.metrics("nope", "staging", Window.H1, 60.0))
    assert snap.errors["sandbox"].error_class == "not found"
    assert hub.health["sandbox"].state == "error"


async def test_not_found_from_a_source_without_a_catalog_is_silent_when_another_lists_it(
        hubs, tmp_path: Path, clock: ManualClock) -> None:
    prom = metrics_runner(tmp_path, clock, knows=["payments-api"])
    hub = hubs(prom)
    await hub.fetch(Topic.catalog())
    snap = await hub.fetch(Topic.metrics("cart", "staging", Window.H1, 60.0))
    assert prom.source.asked == ["cart"]  # asked (it has no catalog), answered "not found"
    assert snap.errors == {} and snap.data == []
    assert hub.health["prom"].calls == 0 and hub.health["prom"].state == "waiting"
    # What nobody lists is a real "not found", from every source asked.
    snap = await hub.fetch(Topic.metrics("nope", "staging", Window.H1, 60.0))
    assert set(snap.errors) == {"sandbox", "prom"}
    assert hub.health["prom"].state == "error"


async def test_declared_ownership_limits_a_source(tmp_path: Path, clock: ManualClock) -> None:
    prom = metrics_runner(tmp_path, clock, owns=("payments-*",))
    static = SourceRunner("static", "static", StaticSource(StaticSource.Config(),
                          context("static", tmp_path, clock)), 30.0, owns=("alpha",))
    hub = Hub([static, prom], clock=clock)
    try:
        assert names(hub.sources_for_service("payments-api", Capability.METRICS)) == ["prom"]
        assert names(hub.sources_for_service("alpha", Capability.METRICS)) == ["static"]
        await hub.fetch(Topic.catalog())  # static lists beta, but declares only alpha
        assert names(hub.sources_for_service("beta", Capability.METRICS)) == []
        snap = await hub.fetch(Topic.metrics("beta", "dev", Window.H1, 60.0))
        assert snap.errors == {} and snap.data == [] and prom.source.asked == []
        assert hub.knows(static, "beta") is False and hub.knows(prom, "payments-api") is True
    finally:
        await hub.close()


def test_owns_in_the_config_reaches_the_runner(tmp_path: Path) -> None:
    from idp_tui.config import parse_config
    from idp_tui.configerror import ConfigError
    from idp_tui.runtime import build_runtime

    config = parse_config({"sources": {"sandbox": {
        "type": "sandbox", "database": str(tmp_path / "s.db"), "owns": ["payments-*", "cart"]}}},
        path=None, text="")
    assert config.sources[0].owns == ("payments-*", "cart")
    runtime = build_runtime(config, data_dir=tmp_path)
    hub = runtime.hub
    assert hub.runners[0].owns == ("payments-*", "cart")
    assert hub.runners[0].declares("payments-api") and not hub.runners[0].declares("ledger")
    asyncio.run(runtime.close())
    with pytest.raises(ConfigError, match=r"sources\.sandbox\.owns: expected a list"):
        parse_config({"sources": {"sandbox": {"type": "sandbox", "owns": "cart"}}}, path=None,
                     text="")


# The command line ---------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``run(*args)``: ``idp-tui`` in a subprocess, configured with the sandbox and CartSource."""
    plugins = tmp_path / "plugins"
    info = plugins / "idp_tui_cart-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: idp-tui-cart\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[idp_tui.sources]\ntest-cart = test_hub_ownership:CartSource\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n\n'
                      f'[sources.cart]\ntype = "test-cart"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDP_TUI_") and k not in ("NO_COLOR", "PYTHONPATH")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "PYTHONPATH": os.pathsep.join([str(TESTS), str(plugins)])})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=PATIENCE, stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def test_the_command_line_prints_the_logs_of_a_service_one_source_owns(cli) -> None:
    result = cli("logs", "cart", "--env", "staging")
    assert result.returncode == 0, result.stderr
    assert [line.split()[-1] for line in result.stdout.splitlines()] == ["0", "1", "2"]
    assert all(" cart-0 " in line for line in result.stdout.splitlines())
    assert result.stderr == ""
    # No source with metrics knows cart (the sandbox lists other services): said, not silent.
    metrics = cli("metrics", "cart", "--env", "staging")
    assert metrics.returncode == 0 and metrics.stdout == ""
    assert "no metrics of cart in staging: no source with metrics knows cart" in metrics.stderr
    unknown = cli("logs", "nope", "--env", "staging")
    assert unknown.returncode == 5 and "no service named 'nope'" in unknown.stderr
    # Only the source that knows cart was asked: its failure is said once, with its hint.
    failing = cli("logs", "cart", "--env", "broken")
    assert failing.returncode == 4
    assert failing.stderr.count("the cart cluster is down") == 1
    assert failing.stderr.count("Is the VPN up?") == 1
