"""The prometheus source against a real Prometheus (tests/prom.py): the values it returns match
what the backfilled series imply; errors from the same server come out in words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import prom

from idp_tui import (
    ManualClock,
    MetricsQuery,
    PartialAnswer,
    Signal,
    SourceAuthError,
    SourceContext,
    SourceUnavailable,
    Window,
)
from idp_tui_prometheus import PrometheusConfig, PrometheusSource
from idp_tui_prometheus.source import PromQLError, duration, label_value

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Server]:
    srv = prom.Server(tmp_path_factory.mktemp("prometheus"))
    yield srv
    srv.stop()


@pytest.fixture
async def source(server: prom.Server, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[PrometheusSource] = []

    async def make(**settings: Any) -> PrometheusSource:
        config = PrometheusConfig.model_validate({"url": server.url, **settings})
        src = PrometheusSource(config, SourceContext(name="prom", data_dir=tmp_path,
                                                     clock=ManualClock(prom.END)))
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


async def one_signal(url: str, tmp_path: Path, signal: Signal, **settings: Any) -> Any:
    """cart@staging's ``signal`` from a source made for the call with ``settings``."""
    src = PrometheusSource(PrometheusConfig(url=url, **settings),
                           SourceContext(name="prom", data_dir=tmp_path,
                                         clock=ManualClock(prom.END)))
    await src.start()
    try:
        return await src.metrics(MetricsQuery(service="cart", environment="staging",
                                              signals=(signal,)))
    finally:
        await src.close()


def last(series: Any) -> float:
    assert series.points, f"no points for {series.signal}"
    return series.points[-1][1]


async def test_golden_signals_match_the_series(source: Any) -> None:
    src = await source()
    result = await src.metrics(MetricsQuery(service="cart", environment="staging",
                                            window=Window.H1, step=60))
    got = {s.signal: s for s in result}
    assert set(got) == set(Signal)
    shape = prom.SHOP["cart", "staging"]
    assert last(got[Signal.REQUEST_RATE]) == pytest.approx(shape.rate, rel=1e-3)
    assert last(got[Signal.ERROR_RATIO]) == pytest.approx(shape.errors / shape.rate, rel=1e-3)
    for signal, q in ((Signal.LATENCY_P50, 0.5), (Signal.LATENCY_P95, 0.95),
                      (Signal.LATENCY_P99, 0.99)):
        assert last(got[signal]) == pytest.approx(prom.quantile(q), rel=1e-3), signal
    assert last(got[Signal.CPU]) == pytest.approx(shape.cpu, rel=1e-3)
    assert last(got[Signal.MEMORY]) == pytest.approx(shape.memory)
    assert got[Signal.MEMORY].unit == "bytes" and got[Signal.LATENCY_P95].unit == "s"
    # One point a minute over the hour, ending at the clock's now.
    points = got[Signal.REQUEST_RATE].points
    assert len(points) == 61
    assert points[-1][0] == prom.END.timestamp()
    assert points[0][0] == prom.END.timestamp() - 3600


async def test_another_service_and_environment_and_an_unknown_one(source: Any) -> None:
    src = await source()
    result = await src.metrics(MetricsQuery(service="cart", environment="production",
                                            window=Window.M15, step=15,
                                            signals=(Signal.REQUEST_RATE, Signal.MEMORY)))
    got = {s.signal: s for s in result}
    assert last(got[Signal.REQUEST_RATE]) == pytest.approx(40.0, rel=1e-3)
    assert last(got[Signal.MEMORY]) == 1024 * 2**20
    # payments has no errors: 0 / rate is a ratio of 0, not a gap.
    payments = await src.metrics(MetricsQuery(service="payments", environment="production",
                                              signals=(Signal.ERROR_RATIO,)))
    assert last(payments[0]) == 0.0
    # A service Prometheus knows nothing of: series without points, no error.
    ghost = await src.metrics(MetricsQuery(service="ghost", environment="production"))
    assert ghost and all(s.points == () for s in ghost)


async def test_label_conventions_and_query_overrides(source: Any) -> None:
    src = await source(selector='service="{service}"',
                       queries={"memory": "max(container_memory_working_set_bytes{$selector})"},
                       services={"payments": {"selector": 'service="cart", '
                                                          'namespace="{environment}"'}})
    # Without the namespace matcher both environments of cart are summed.
    got = {s.signal: s for s in await src.metrics(MetricsQuery(
        service="cart", environment="any", signals=(Signal.REQUEST_RATE, Signal.MEMORY)))}
    assert last(got[Signal.REQUEST_RATE]) == pytest.approx(50.0, rel=1e-3)
    assert last(got[Signal.MEMORY]) == 1024 * 2**20  # max, not sum
    # The per-service selector: "payments" read as cart's series here.
    rate = await src.metrics(MetricsQuery(service="payments", environment="staging",
                                          signals=(Signal.REQUEST_RATE,)))
    assert last(rate[0]) == pytest.approx(10.0, rel=1e-3)
    assert src.promql(Signal.REQUEST_RATE, 'we"ird\\name', "prod", 60) == \
        'sum(rate(http_requests_total{service="we\\"ird\\\\name"}[4m]))'
    # The container signals have their own selector: cAdvisor's labels.
    assert src.promql(Signal.MEMORY, 'we"ird\\name', "prod", 60).startswith(
        'max(container_memory_working_set_bytes{service="we\\"ird\\\\name"})')
    assert 'pod=~"we\\"ird\\\\name-(' in \
        src.promql(Signal.CPU, 'we"ird\\name', "prod", 60)
    assert src.promql(Signal.LATENCY_P95, "cart", "prod", 60) == (
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
        '{service="cart"}[4m])))')


def test_durations_and_label_values() -> None:
    assert [duration(s) for s in (15, 60, 90, 3600, 5400, 0.2)] == \
        ["15s", "1m", "90s", "1h", "90m", "1s"]
    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


async def test_bad_promql_names_the_signal_and_the_query(source: Any) -> None:
    src = await source(queries={"cpu": "sum(rate(container_cpu_usage_seconds_total{$selector}"})
    with pytest.raises(PartialAnswer) as partial:
        await src.metrics(MetricsQuery(service="cart", environment="staging"))
    error = partial.value.error
    assert isinstance(error, PromQLError)
    assert error.message.startswith("CPU: Prometheus refused the query (bad_data): ")
    assert "query: sum(rate(container_cpu_usage_seconds_total{" in error.message
    assert "[sources.prom.queries]" in (error.hint or "")
    # The other signals are there; CPU is there without points, saying why.
    data = {s.signal: s for s in partial.value.data}  # type: ignore[attr-defined]
    assert set(data) == set(Signal)
    assert all(data[s].points for s in set(Signal) - {Signal.CPU})
    assert not data[Signal.CPU].points
    assert data[Signal.CPU].note.startswith("Prometheus refused the query (bad_data)")
    # Only that signal asked for: the error itself.
    with pytest.raises(PromQLError):
        await src.metrics(MetricsQuery(service="cart", environment="staging",
                                       signals=(Signal.CPU,)))


async def test_a_query_prometheus_times_out(source: Any) -> None:
    # A query heavy enough to hit the server's --query.timeout=5s.
    heavy = ("count(count_over_time({__name__=~\".+\"}[6h]) * on() group_left "
             "count_over_time({__name__=~\".+\"}[6h]))")
    src = await source(queries={"request_rate": heavy}, request_timeout=30)
    with pytest.raises((PromQLError, SourceUnavailable)) as error:
        await src.metrics(MetricsQuery(service="cart", environment="staging", window=Window.H6,
                                       signals=(Signal.REQUEST_RATE,)))
    assert "request rate" in error.value.message


async def test_a_server_that_never_answers_is_a_timeout_in_words(tmp_path: Path) -> None:
    """A port that takes connections and never answers (a hung proxy): the source gives up after
    request_timeout, saying which signal it was waiting for."""
    import socket

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        config = PrometheusConfig(url=f"http://127.0.0.1:{hung.getsockname()[1]}",
                                  request_timeout=0.3)
        src = PrometheusSource(config, SourceContext(name="prom", data_dir=tmp_path,
                                                     clock=ManualClock(prom.END)))
        await src.start()
        try:
            with pytest.raises(SourceUnavailable) as error:
                await src.metrics(MetricsQuery(service="cart", environment="staging",
                                               signals=(Signal.REQUEST_RATE,)))
        finally:
            await src.close()
    assert "did not answer within 0.3 s" in error.value.message
    assert error.value.message.startswith("request rate: ")
    assert "request_timeout" in (error.value.hint or "")


async def test_an_unknown_metric_is_a_series_without_points(source: Any) -> None:
    src = await source(queries={"cpu": "sum(rate(no_such_metric_total{$selector}[$rate]))"})
    [cpu] = await src.metrics(MetricsQuery(service="cart", environment="staging",
                                           signals=(Signal.CPU,)))
    assert cpu.points == ()


async def test_an_unreachable_server(tmp_path: Path) -> None:
    config = PrometheusConfig(url=f"http://127.0.0.1:{prom.free_port()}")
    src = PrometheusSource(config, SourceContext(name="prom", data_dir=tmp_path,
                                                 clock=ManualClock(prom.END)))
    await src.start()
    try:
        with pytest.raises(SourceUnavailable) as error:
            await src.metrics(MetricsQuery(service="cart", environment="staging"))
        assert "connection refused" in error.value.message
        assert "[sources.prom]" in (error.value.hint or "")
    finally:
        await src.close()


async def test_basic_auth_and_refused_credentials(tmp_path: Path) -> None:
    """A Prometheus that asks for basic auth (its web config): the right password reads, a
    wrong one or a bearer token is refused in words."""
    server = prom.Server(tmp_path / "auth", auth=True)
    try:
        def ask(**settings: Any) -> Any:
            return one_signal(server.url, tmp_path, Signal.CPU, **settings)

        [cpu] = await ask(username=prom.USER, password=prom.PASSWORD,
                          headers={"X-Scope-OrgID": "team-a"})
        assert last(cpu) == pytest.approx(prom.SHOP["cart", "staging"].cpu, rel=1e-3)
        for settings in ({"username": prom.USER, "password": "wrong"}, {"token": "s3cret"}, {}):
            with pytest.raises(SourceAuthError) as error:
                await ask(**settings)
            assert "refused the request (401)" in error.value.message
            assert "[sources.prom]" in (error.value.hint or "")
    finally:
        server.stop()


async def test_the_live_target_is_scraped(server: prom.Server) -> None:
    """The server scrapes a target of the test process: instant queries see fresh data."""
    import asyncio

    async with httpx.AsyncClient(base_url=server.url) as client:
        for _ in range(100):
            body = (await client.get("/api/v1/query",
                                     params={"query": 'idp_test_live{service="live"}'})).json()
            if body["data"]["result"]:
                break
            await asyncio.sleep(0.1)
        assert float(body["data"]["result"][0]["value"][1]) >= 1
    assert prom._Live.scrapes >= 1


async def test_firing_alerts_of_the_service(source: Any) -> None:
    import asyncio

    src = await source()
    alerts: list[Any] = []
    for _ in range(100):  # the rule fires once the live target has been scraped
        alerts = await src.alerts("cart", "staging")
        if alerts and alerts[0].state == "firing":
            break
        await asyncio.sleep(0.1)
    [alert] = alerts
    assert (alert.name, alert.state, alert.severity) == ("CartErrorsHigh", "firing", "critical")
    assert alert.summary == "Error ratio above 5% [/] [@click=app.quit]x"
    assert alert.since is not None and alert.labels["namespace"] == "staging"
    # Not another environment's, not another service's.
    assert await src.alerts("cart", "production") == []
    assert await src.alerts("payments", "production") == []
    # A selector that names no service label: no alert can be told apart.
    other = await source(selector='job="{service}"')
    assert other.alert_labels("cart") == ("job", None)
    none = await source(selector="up")
    assert await none.alerts("cart", "staging") == []



async def test_many_services_at_once_one_query_per_signal(source: Any) -> None:
    from idp_tui import SignalsQuery

    src = await source()
    before = src.requests_sent
    result = await src.service_signals(SignalsQuery(
        environment="production", services=("cart", "payments", "ghost", "cart")))
    # Request rate, error ratio, latency p95; beside each, when its series last had a sample.
    assert src.requests_sent - before == 2 * 3
    got = {(s.service, s.signal): s for s in result}
    assert len(got) == 9
    assert last(got["cart", Signal.REQUEST_RATE]) == pytest.approx(40.0, rel=1e-3)
    assert last(got["payments", Signal.REQUEST_RATE]) == pytest.approx(4.0, rel=1e-3)
    assert last(got["cart", Signal.ERROR_RATIO]) == pytest.approx(0.005, rel=1e-3)
    assert last(got["payments", Signal.LATENCY_P95]) == pytest.approx(prom.quantile(0.95),
                                                                     rel=1e-3)
    assert got["ghost", Signal.REQUEST_RATE].points == ()
    assert len(got["cart", Signal.REQUEST_RATE].points) == 16  # 15 minutes, a point a minute


async def test_services_with_their_own_queries_are_asked_one_by_one(source: Any) -> None:
    from idp_tui import SignalsQuery

    src = await source(services={"payments": {"selector": 'service="cart", '
                                                          'namespace="{environment}"'}},
                       queries={"error_ratio": 'sum(rate(http_requests_total{$selector,'
                                               'code=~"5.."}[$rate])) / sum(rate('
                                               'http_requests_total{$selector}[$rate]))'})
    before = src.requests_sent
    result = await src.service_signals(SignalsQuery(
        environment="production", services=("cart", "payments"),
        signals=(Signal.REQUEST_RATE, Signal.ERROR_RATIO)))
    # Request rate: cart batched (1) + payments alone (1); error ratio (no $by): one each (2);
    # beside each, when its series last had a sample.
    assert src.requests_sent - before == 2 * 4
    got = {(s.service, s.signal): s for s in result}
    assert last(got["payments", Signal.REQUEST_RATE]) == pytest.approx(40.0, rel=1e-3)
    assert last(got["cart", Signal.ERROR_RATIO]) == pytest.approx(0.005, rel=1e-3)


async def test_a_service_name_is_escaped_in_the_batched_matcher(source: Any) -> None:
    from idp_tui import SignalsQuery

    src = await source()
    selector, label = src.batch_selector(["a.b", 'q"x', "c|d"], "prod")
    assert label == "service"
    assert selector == 'service=~"a\\\\.b|q\\"x|c\\\\|d", namespace="prod"'
    result = await src.service_signals(SignalsQuery(environment="production",
                                                    services=("a.b", "cart|payments")))
    assert all(s.points == () for s in result)  # no service is called that: no data


async def test_a_service_sets_its_own_queries_by_catalog_annotations(source: Any) -> None:
    src = await source()
    annotations = {"prometheus.io/selector": 'service="cart", namespace="production"',
                   "prometheus.io/query.memory": "max(container_memory_working_set_bytes"
                                                 "{$selector}) / 2"}
    got = {s.signal: s for s in await src.metrics(MetricsQuery(
        service="cart-api", environment="prod", annotations=annotations,
        signals=(Signal.REQUEST_RATE, Signal.MEMORY)))}
    assert last(got[Signal.REQUEST_RATE]) == pytest.approx(40.0, rel=1e-3)
    assert last(got[Signal.MEMORY]) == 512 * 2**20
    # The config's services table wins over the annotations.
    src = await source(services={"cart-api": {"selector": 'service="payments", '
                                                          'namespace="production"'}})
    [rate] = await src.metrics(MetricsQuery(service="cart-api", environment="prod",
                                            annotations=annotations,
                                            signals=(Signal.REQUEST_RATE,)))
    assert last(rate) == pytest.approx(4.0, rel=1e-3)


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="openssl is missing")
async def test_tls_verification(tmp_path: Path) -> None:
    """A Prometheus serving HTTPS with a certificate of its own: refused as untrusted by
    default, read with its CA as ca_file, or with verify_tls = false."""
    server = prom.Server(tmp_path / "tls", tls=True)
    try:
        def ask(**settings: Any) -> Any:
            return one_signal(server.url, tmp_path, Signal.MEMORY, **settings)

        with pytest.raises(SourceUnavailable) as error:
            await ask()
        assert "TLS error" in error.value.message and "certificate" in error.value.message
        [memory] = await ask(ca_file=str(server.cert))
        assert last(memory) == prom.SHOP["cart", "staging"].memory
        [memory] = await ask(verify_tls=False)
        assert last(memory) == prom.SHOP["cart", "staging"].memory
    finally:
        server.stop()


async def test_an_unreadable_ca_file_is_said(tmp_path: Path) -> None:
    from idp_tui import SourceError

    src = PrometheusSource(PrometheusConfig(url="https://127.0.0.1:1",
                                            ca_file=str(tmp_path / "missing.pem")),
                           SourceContext(name="prom", data_dir=tmp_path))
    with pytest.raises(SourceError, match="cannot read ca_file .*missing.pem"):
        await src.start()


async def test_a_proxy_in_front_answering_5xx(tmp_path: Path) -> None:
    """Prometheus itself answers 5xx only in trouble it cannot be put in here; a proxy in front of
    it (502, 503) is what users meet. The request carries the configured extra headers."""
    seen: list[httpx.Request] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "query_range" in request.url.path:
            return httpx.Response(502, text="<html>Bad Gateway</html>")
        return httpx.Response(503, json={"status": "error", "errorType": "unavailable",
                                         "error": "TSDB not ready"})

    src = PrometheusSource(PrometheusConfig(url="http://prom.example",
                                            headers={"X-Scope-OrgID": "team-a"}),
                           SourceContext(name="prom", data_dir=tmp_path,
                                         clock=ManualClock(prom.END)))
    await src.start()
    src.http.use_transport(httpx.MockTransport(proxy))
    try:
        with pytest.raises(SourceUnavailable, match="answered 502"):
            await src.metrics(MetricsQuery(service="cart", environment="staging",
                                           signals=(Signal.CPU,)))
        with pytest.raises(SourceUnavailable, match=r"answered 503 \(unavailable\): TSDB"):
            await src.alerts("cart", "staging")
    finally:
        await src.close()
    assert all(r.headers["X-Scope-OrgID"] == "team-a" for r in seen)
