"""The Metrics pane on a real Prometheus (tests/prom.py), configured from a config file: the charts
show the values the backfilled series imply; a broken query shows in the pane, naming the signal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prom
import pytest

from idp_tui import Capability, Signal
from idp_tui.api.clock import ManualClock
from idp_tui.config import AppConfig, load_config
from idp_tui.ui.app import IdpApp
from idp_tui.ui.charts import format_value

from fakes import StaticSource, assert_alive, screen_lines, spec, wait_until

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
SIZE = (160, 50)


class Shop(StaticSource):
    """Catalog and environments of the shop in tests/prom.py; metrics come from Prometheus."""

    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Server]:
    srv = prom.Server(tmp_path_factory.mktemp("prometheus"))
    yield srv
    srv.stop()


def app_for(tmp_path: Path, server: prom.Server, extra: str = "") -> IdpApp:
    path = tmp_path / "config.toml"
    path.write_text(f'[sources.prom]\ntype = "prometheus"\nurl = "{server.url}"\n{extra}')
    config: AppConfig = load_config(path, required=True)
    config.sources.insert(0, spec("shop", Shop, names=["cart", "payments"],
                                  environments=["staging", "production"]))
    data = tmp_path / "data"
    data.mkdir()
    return IdpApp(config, data_dir=data, clock=ManualClock(prom.END))


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


async def test_metrics_pane_shows_the_series(tmp_path: Path, server: prom.Server) -> None:
    app = app_for(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "cart", "staging"
        await pilot.press("5")
        shape = prom.SHOP["cart", "staging"]
        expected = [format_value(shape.rate, "req/s"),
                    format_value(shape.errors / shape.rate, "ratio"),
                    format_value(prom.quantile(0.95), "s"),
                    format_value(shape.cpu, "cores"), format_value(shape.memory, "bytes")]
        await wait_until(pilot, lambda: all(value in text(app) for value in expected),
                         f"the values {expected}")
        assert "no data" not in text(app).lower()
        assert_alive(app)


async def test_a_broken_query_shows_in_the_pane_naming_the_signal(
        tmp_path: Path, server: prom.Server) -> None:
    app = app_for(tmp_path, server, '[sources.prom.queries]\ncpu = "sum(rate(nope{$selector}"\n')
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "cart", "production"
        await pilot.press("5")
        await wait_until(pilot, lambda: "CPU: Prometheus refused the query (bad_data)" in
                         " ".join(text(app).split()), "the error")
        # The other signals still show.
        await wait_until(pilot, lambda: format_value(40.0, "req/s") in text(app),
                         "the request rate")
        assert "query error" in text(app)
        assert_alive(app)


async def test_firing_alerts_show_above_the_charts(tmp_path: Path,
                                                   server: prom.Server) -> None:
    server.wait_for_alert("CartErrorsHigh")
    app = app_for(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None, "the environments")
        app.service, app.environment = "cart", "staging"
        await pilot.press("5")
        await wait_until(pilot, lambda: "CartErrorsHigh" in text(app), "the firing alert")
        line = next(line for line in screen_lines(app) if "CartErrorsHigh" in line)
        assert "critical" in line and "firing" in line
        # The summary as the rule's author typed it: markup-like text stays text.
        assert "Error ratio above 5% [/] [@click=app.quit]x" in line
        # Another environment: no alert.
        app.environment = "production"
        await wait_until(pilot, lambda: "CartErrorsHigh" not in text(app), "the alert gone")
        assert_alive(app)


async def test_catalog_rows_show_traffic_and_errors_from_one_query_per_signal(
        tmp_path: Path, server: prom.Server) -> None:
    from idp_tui.ui.vtable import VirtualTable

    app = app_for(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        await wait_until(pilot, lambda: {"traffic", "errors"} <= set(table.columns),
                         "the signal columns")
        app.environment = "production"
        pane = app.query_one("#catalog-pane")
        await wait_until(pilot, lambda: pane.signals.get(("payments", Signal.REQUEST_RATE)),
                         "production's signals", timeout=30)
        await wait_until(pilot, lambda: format_value(40.0, "req/s") in text(app)
                         and format_value(4.0, "req/s") in text(app), "production's traffic",
                         timeout=30)
        rows = {line.split()[0]: line for line in screen_lines(app)
                if line.split() and line.split()[0] in ("cart", "payments")}
        assert format_value(40.0, "req/s") in rows["cart"]
        assert format_value(0.005, "ratio") in rows["cart"]
        assert format_value(0.0, "ratio") in rows["payments"]
        prom_source = next(r.source for r in app.hub.runners if r.name == "prom")
        # One signals topic per environment (the Environments pane's; the Catalog shares the
        # selected environment's), and per refresh one query per signal for both services.
        watched = [t for t, state in app.hub._topics.items()
                   if t.kind == "signals" and state.subscribers]
        assert sorted(t.args[0] for t in watched) == ["production", "staging"]
        sent = prom_source.requests_sent
        before = {t: app.hub.cached(t) for t in watched}
        app.hub.refresh()
        # Both topics refreshed (a snapshot is replaced once all its queries have answered).
        await wait_until(pilot, lambda: all(app.hub.cached(t) is not before[t] for t in watched),
                         "a refresh of both environments' signals")
        # (beside each query, one asking when its series last had a sample)
        assert prom_source.requests_sent - sent == 2 * 3 * len(watched)
        assert_alive(app)


async def test_environment_cells_show_high_error_ratios(tmp_path: Path,
                                                        server: prom.Server) -> None:
    app = app_for(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        # (A first answer lost to a loaded machine is asked again at the next refresh: 30 s.)
        await wait_until(pilot, lambda: "5%✖" in text(app), "cart's error ratio in staging",
                         timeout=45)
        row = next(line for line in screen_lines(app) if line.split()[:1] == ["cart"])
        assert row.count("✖") == 1  # production's 0.5% stays unmarked
        payments = next(line for line in screen_lines(app) if line.split()[:1] == ["payments"])
        assert "✖" not in payments
        assert_alive(app)
