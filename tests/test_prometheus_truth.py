"""Metrics that mean what they say, against a real Prometheus (tests/prom.py) whose data end 90 s
before the tests' clock (ingestion lag): "now" is the newest complete sample, dated when old; the
Metrics pane and ``idp-tui metrics`` give the same number for the same window; CPU and memory by
cAdvisor's labels with the default config; a signal that matched nothing says which selector; every
refused query is reported; a URL that is not Prometheus gets a hint about the URL; "updated" moves
only with metrics received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import prom
import pytest

from idp_tui import (
    Capability,
    ManualClock,
    MetricsQuery,
    PartialAnswer,
    Signal,
    SourceContext,
    SourceDataError,
    Window,
)
from idp_tui.api.models import metrics_step
from idp_tui.config import AppConfig, load_config
from idp_tui.hub import classify
from idp_tui.ui.app import IdpApp
from idp_tui.ui.charts import MetricsGrid, format_value
from idp_tui_prometheus import PrometheusConfig, PrometheusSource
from idp_tui_prometheus.source import PromQLError

from fakes import StaticSource, assert_alive, screen_lines, spec, wait_until

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
SIZE = (160, 50)
LAG = timedelta(seconds=90)
#: When the data end: 13:58:30 UTC, while the clock says 14:00:00.
LAST = prom.END - LAG
CART = prom.SHOP["cart", "staging"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Server]:
    srv = prom.Server(tmp_path_factory.mktemp("prometheus"), end=LAST)
    yield srv
    srv.stop()


@pytest.fixture
async def source(server: prom.Server, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[PrometheusSource] = []

    async def make(url: str | None = None, clock: ManualClock | None = None,
                   **settings: Any) -> PrometheusSource:
        config = PrometheusConfig.model_validate({"url": url or server.url, **settings})
        src = PrometheusSource(config, SourceContext(name="prom", data_dir=tmp_path,
                                                     clock=clock or ManualClock(prom.END)))
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


def query(service: str = "cart", window: Window = Window.H1, **more: Any) -> MetricsQuery:
    return MetricsQuery(service=service, environment="staging", window=window,
                        step=metrics_step(window), **more)


# The source --------------------------------------------------------------------------------------

async def test_now_is_the_newest_complete_sample_dated_when_old(server: prom.Server,
                                                                source: Any) -> None:
    # Prometheus itself, asked at the clock's now, reads low: rate() over a range the data do
    # not reach (what "now" was before).
    raw = httpx.get(f"{server.url}/api/v1/query", params={
        "query": 'sum(rate(http_requests_total{service="cart",namespace="staging"}[4m]))',
        "time": f"{prom.END.timestamp():.0f}"}).json()["data"]["result"]
    assert float(raw[0]["value"][1]) < 0.8 * CART.rate
    src = await source()
    got = {s.signal: s for s in await src.metrics(query())}
    assert set(got) == set(Signal)
    expected = {Signal.REQUEST_RATE: CART.rate, Signal.ERROR_RATIO: CART.errors / CART.rate,
                Signal.LATENCY_P95: prom.quantile(0.95), Signal.CPU: CART.cpu,
                Signal.MEMORY: CART.memory}
    for signal, value in expected.items():
        series = got[signal]
        assert series.points[-1][0] == LAST.timestamp(), signal  # nothing after the data
        assert series.now() == pytest.approx(value, rel=1e-6), signal
        assert series.as_of == LAST.timestamp(), signal  # 90 s old: more than two 15 s steps
    # Every point of the rate is complete: none reads low.
    assert min(v for _, v in got[Signal.REQUEST_RATE].points) == pytest.approx(CART.rate,
                                                                                rel=1e-6)
    # Ten minutes later (past Prometheus's five-minute lookback) "now" is still that sample.
    later = await source(clock=ManualClock(prom.END + timedelta(minutes=10)))
    rate = (await later.metrics(query(signals=(Signal.REQUEST_RATE,))))[0]
    assert rate.points[-1][0] == LAST.timestamp() and rate.as_of == LAST.timestamp()
    assert rate.now() == pytest.approx(CART.rate, rel=1e-6)
    # Current data: no date.
    current = await source(clock=ManualClock(LAST + timedelta(seconds=20)))
    rate = (await current.metrics(query(signals=(Signal.REQUEST_RATE,))))[0]
    assert rate.as_of is None and rate.now() == pytest.approx(CART.rate, rel=1e-6)


async def test_many_services_at_once_end_at_their_newest_samples(source: Any) -> None:
    from idp_tui import SignalsQuery

    src = await source()
    result = await src.service_signals(SignalsQuery(
        environment="production", services=("cart", "payments", "ghost"),
        signals=(Signal.REQUEST_RATE, Signal.ERROR_RATIO)))
    got = {(s.service, s.signal): s for s in result}
    for service in ("cart", "payments"):
        shape = prom.SHOP[service, "production"]
        series = got[service, Signal.REQUEST_RATE]
        assert series.points[-1] == (LAST.timestamp() - 30, pytest.approx(shape.rate, rel=1e-6))
        assert min(v for _, v in series.points) == pytest.approx(shape.rate, rel=1e-6)
    assert got["cart", Signal.ERROR_RATIO].points[-1][1] == pytest.approx(0.005, rel=1e-6)
    assert got["ghost", Signal.REQUEST_RATE].points == ()


async def test_one_rate_range_per_window_whatever_the_step(source: Any) -> None:
    src = await source()
    fine = await src.metrics(MetricsQuery(service="cart", environment="staging",
                                          window=Window.H1, step=15,
                                          signals=(Signal.REQUEST_RATE,)))
    coarse = await src.metrics(MetricsQuery(service="cart", environment="staging",
                                            window=Window.H1, step=60,
                                            signals=(Signal.REQUEST_RATE,)))
    assert src.window_rate(Window.H1) == "1m"
    assert fine[0].now() == pytest.approx(coarse[0].now(), rel=1e-9)
    # Points on whole steps: the same times whenever asked within a step.
    assert all(t % 60 == 0 for t, _ in coarse[0].points)


async def test_cadvisor_labelled_container_series_with_the_default_config(source: Any) -> None:
    src = await source()
    got = {s.signal: s for s in await src.metrics(query(signals=(Signal.CPU, Signal.MEMORY)))}
    # The pod's containers (the service's and its sidecar's), not the pod's own total
    # (container=""), its pause container or another workload's pod.
    assert got[Signal.CPU].now() == pytest.approx(CART.cpu, rel=1e-6)
    assert got[Signal.MEMORY].now() == pytest.approx(CART.memory, rel=1e-6)
    cpu = src.promql(Signal.CPU, "cart", "staging", 15)
    assert "service=" not in cpu and 'namespace="staging"' in cpu
    # {service} and {environment} inside [queries]: the service's own container only.
    own = await source(queries={"memory": 'max(container_memory_working_set_bytes'
                                          '{namespace="{environment}", container="{service}"})'})
    memory = (await own.metrics(query(signals=(Signal.MEMORY,))))[0]
    assert memory.now() == CART.memory - prom.SIDECAR_MEMORY
    # The container selector is a setting of its own.
    pod = await source(container_selector='namespace="{environment}", pod="{service}-7d9f8b6c4-x2x9k", '
                                          'container=""')
    total = (await pod.metrics(query(signals=(Signal.MEMORY,))))[0]
    assert total.now() == CART.memory
    # Per service, in the config or in the catalog's annotations.
    mine = 'namespace="{environment}", container="{service}"'
    per_service = await source(services={"cart": {"container_selector": mine}})
    memory = (await per_service.metrics(query(signals=(Signal.MEMORY,))))[0]
    assert memory.now() == CART.memory - prom.SIDECAR_MEMORY
    memory = (await src.metrics(query(signals=(Signal.MEMORY,), annotations={
        "prometheus.io/container-selector": mine})))[0]
    assert memory.now() == CART.memory - prom.SIDECAR_MEMORY


async def test_a_signal_that_matched_nothing_says_which_selector(source: Any) -> None:
    src = await source()
    got = {s.signal: s for s in await src.metrics(query("ghost"))}
    assert set(got) == set(Signal) and not any(s.points for s in got.values())
    assert got[Signal.REQUEST_RATE].note == \
        'no series matched `http_requests_total{service="ghost", namespace="staging"}`'
    assert got[Signal.CPU].note.startswith(
        'no series matched `container_cpu_usage_seconds_total{namespace="staging", '
        'pod=~"ghost-')


async def test_every_refused_query_is_reported(source: Any) -> None:
    src = await source(queries={"cpu": "sum(rate(nope{$selector}",
                                "memory": "max((container_memory_working_set_bytes)"})
    with pytest.raises(PartialAnswer) as partial:
        await src.metrics(query())
    error = partial.value.error
    assert isinstance(error, PromQLError)
    assert error.message.startswith("2 queries failed: ")
    assert "CPU: Prometheus refused the query (bad_data)" in error.message
    assert "memory: Prometheus refused the query (bad_data)" in error.message
    assert "Fix the cpu query" in (error.hint or "") and "Fix the memory query" in (error.hint or "")
    data = {s.signal: s for s in partial.value.data}  # type: ignore[attr-defined]
    assert set(data) == set(Signal)  # no signal silently vanishes
    assert data[Signal.MEMORY].note.startswith("Prometheus refused the query")
    assert data[Signal.REQUEST_RATE].now() == pytest.approx(CART.rate, rel=1e-6)


class _NotFound(BaseHTTPRequestHandler):
    """Any web server that is not Prometheus: 404 with a page."""

    def _answer(self) -> None:
        body = b"<html><body><h1>404 Not Found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_prometheus() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/grafana"
    httpd.shutdown()
    httpd.server_close()


async def test_a_url_that_is_not_prometheus_gets_a_hint_about_the_url(source: Any,
                                                                       not_prometheus: str) -> None:
    src = await source(url=not_prometheus)
    with pytest.raises(SourceDataError) as error:
        await src.metrics(query())
    failure = classify("prom", error.value)
    assert "answered 404" in failure.message and "is this Prometheus?" in failure.message
    assert failure.message.count("answered 404") == 1  # one cause, said once
    assert "Check url in [sources.prom]" in (failure.hint or "")
    assert "bug" not in (failure.hint or "")


# The Metrics pane and the command line ------------------------------------------------------------

class Shop(StaticSource):
    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS})


def config_file(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[sources.prom]\ntype = "prometheus"\nurl = "{url}"\n{extra}')
    return path


def app_for(tmp_path: Path, url: str, extra: str = "",
            clock: ManualClock | None = None) -> IdpApp:
    config: AppConfig = load_config(config_file(tmp_path, url, extra), required=True)
    config.sources.insert(0, spec("shop", Shop, names=["cart", "payments", "ghost"],
                                  environments=["staging", "production"]))
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return IdpApp(config, data_dir=data, clock=clock or ManualClock(prom.END))


def text(app: Any) -> str:
    return " ".join(" ".join(screen_lines(app)).split())


def cli(tmp_path: Path, url: str, service: str, *more: str) -> tuple[int, str]:
    """``idp-tui metrics SERVICE --env staging --window 1h`` at the tests' clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_CLOCK": prom.END.isoformat(), "IDP_TUI_DATA_DIR": str(tmp_path / "cli"),
                "IDP_TUI_CONFIG": str(config_file(tmp_path, url)), "NO_COLOR": "1"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", "metrics", service, "--env",
                             "staging", "--window", "1h", *more], capture_output=True, text=True,
                            env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result.returncode, result.stdout


async def test_the_pane_and_the_command_line_give_the_same_now(
        tmp_path: Path, server: prom.Server) -> None:
    code, out = cli(tmp_path, server.url, "cart", "--json")
    assert code == 0
    said = {s["signal"]: s for s in json.loads(out)["signals"]}
    assert said["request_rate"]["as_of"] == "2026-11-25T13:58:30Z"
    code, table = cli(tmp_path, server.url, "cart")
    assert "request_rate: now is as of 2026-11-25 13:58:30Z" in table
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "cart", "staging"
        await pilot.press("5")
        grid = app.query_one(MetricsGrid)
        await wait_until(pilot, lambda: grid.chart_for(Signal.REQUEST_RATE).series,
                         "the request rate")
        for signal in (Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.CPU, Signal.MEMORY):
            shown = next(s for s in grid.chart_for(signal).series if s.signal is signal)
            assert shown.now() == said[signal.value]["now"], signal  # the very same number
        assert said["request_rate"]["now"] == pytest.approx(CART.rate, rel=1e-6)
        await wait_until(pilot, lambda: f"now {format_value(CART.rate, 'req/s')} as of "
                         "13:58:30" in text(app), "the dated now")
        assert_alive(app)


async def test_no_series_and_refused_queries_are_said_in_the_pane_and_the_cli(
        tmp_path: Path, server: prom.Server) -> None:
    code, table = cli(tmp_path, server.url, "ghost")
    assert 'request_rate: no series matched `http_requests_total{service="ghost", ' \
           'namespace="staging"}`' in table
    assert "cpu: no series matched `container_cpu_usage_seconds_total{" in table
    app = app_for(tmp_path, server.url, '[sources.prom.queries]\n'
                  'cpu = "sum(rate(nope{$selector}"\nmemory = "max((x)"\n')
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "ghost", "staging"
        await pilot.press("5")
        grid = app.query_one(MetricsGrid)

        def chart(signal: Signal) -> str:
            return " ".join(" ".join(grid.chart_for(signal).lines_text()).split())

        await wait_until(pilot, lambda: 'no series matched `http_requests_total{service="ghost",'
                         ' namespace="staging"}`' in chart(Signal.REQUEST_RATE),
                         "no series matched")
        assert "no series matched `http_request_duration_seconds_bucket{" in \
            chart(Signal.LATENCY_P95)
        assert "Prometheus refused the query (bad_data)" in chart(Signal.CPU)
        app.service = "cart"
        # Both refused queries in the banner, and each chart says why it is empty.
        await wait_until(pilot, lambda: "2 queries failed" in text(app)
                         and format_value(CART.rate, "req/s") in text(app), "both errors")
        screen = text(app)
        assert "CPU: Prometheus refused the query (bad_data)" in screen
        assert "memory: Prometheus refused the query (bad_data)" in screen
        assert "showing the last metrics received" not in screen  # this fetch's answer
        assert format_value(CART.rate, "req/s") in screen
        assert_alive(app)


class _Switch(BaseHTTPRequestHandler):
    """In front of Prometheus: passes requests on, or answers 503 while ``down``."""

    target = ""
    down = True

    def _answer(self) -> None:
        if type(self).down:
            status, body, kind = 503, b"down for maintenance", "text/plain"
        else:
            length = int(self.headers.get("Content-Length") or 0)
            upstream = httpx.request(self.command, type(self).target + self.path,
                                     content=self.rfile.read(length) if length else None,
                                     headers={"Content-Type": self.headers.get(
                                         "Content-Type", "text/plain")}, timeout=30)
            status, body = upstream.status_code, upstream.content
            kind = upstream.headers.get("Content-Type", "application/json")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: object) -> None:
        pass


async def test_updated_moves_only_with_metrics_received(tmp_path: Path,
                                                        server: prom.Server) -> None:
    handler = type("Switch", (_Switch,), {"target": server.url, "down": True})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    clock = ManualClock(prom.END)
    app = app_for(tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}", clock=clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.platform is not None, "the environments")
            app.service, app.environment = "cart", "staging"
            await pilot.press("5")
            # The first fetch fails: nothing was received, nothing is "kept".
            await wait_until(pilot, lambda: "no metrics from it yet" in text(app),
                             "the first failure")
            assert "showing the last metrics received" not in text(app)
            assert "updated" not in text(app)
            handler.down = False
            app.hub.refresh()
            await wait_until(pilot, lambda: format_value(CART.rate, "req/s") in text(app)
                             and "updated 14:00:00" in text(app), "the metrics")
            # Five minutes on, a failed fetch: the metrics of 14:00 stay, and say so.
            handler.down = True
            clock.advance(timedelta(minutes=5))
            app.hub.refresh()
            await wait_until(pilot, lambda: "showing the last metrics received" in text(app),
                             "the failure")
            assert "updated 14:00:00" in text(app)
            assert "updated 14:05" not in text(app)
            assert_alive(app)
    finally:
        httpd.shutdown()
        httpd.server_close()
