"""A catalog and a metrics source, no source with environments (Backstage + Prometheus, say): the
declared environments make the dashboard whole — the environment is chosen, the Metrics pane asks the
metrics source under its own name for it, and `:env` takes that name too."""

from __future__ import annotations

from pathlib import Path

from conftest import T0
from fakes import app_config, make_app, spec, wait_until

from idp_tui import Capability, ManualClock, MetricSeries, MetricsQuery, Service, Signal, Source
from idp_tui.environments import EnvironmentDecl, EnvironmentMap

ASKED: list[str] = []


class Catalog(Source):
    capabilities = frozenset({Capability.CATALOG})

    async def services(self) -> list[Service]:
        return [Service(name="cart", owner="team-cart"), Service(name="ledger", owner="team-pay")]


class Prom(Source):
    capabilities = frozenset({Capability.METRICS})

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        ASKED.append(query.environment)
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s",
                             points=((T0.timestamp() - 60, 4.0), (T0.timestamp(), 5.0)))]


def _config(**ui: str):  # type: ignore[no-untyped-def]
    config = app_config(spec("catalog", Catalog), spec("prom", Prom), ui=dict(ui))
    config.environments = EnvironmentMap({
        "dev": EnvironmentDecl(), "staging": EnvironmentDecl(),
        "production": EnvironmentDecl(names={"prom": "prod-eu"})})
    return config


async def test_metrics_work_with_a_catalog_and_prometheus_alone(tmp_path: Path) -> None:
    ASKED.clear()
    app = make_app(_config(), tmp_path, ManualClock(T0))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.environment is not None, "an environment")
        assert app.environment_names() == ["dev", "staging", "production"]
        assert app.environment == "production"  # the last in promotion order
        assert not app.platform_snapshot.errors
        await pilot.press("5")
        await wait_until(pilot, lambda: "prod-eu" in ASKED, "metrics asked as prod-eu")
        pane = app.current_pane
        await wait_until(pilot, pane.is_settled, "the metrics pane")
        assert pane.last.errors == {}
        assert pane.topic.args[:2] == ("cart", "production")
        assert [series.signal for series in pane.last.data] == [Signal.REQUEST_RATE]


async def test_the_ui_environment_and_env_by_a_source_name(tmp_path: Path) -> None:
    app = make_app(_config(environment="staging"), tmp_path, ManualClock(T0))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.environment is not None, "an environment")
        assert app.environment == "staging"  # [ui] environment is honoured
        app.run_command("env prod-eu")  # the name Prometheus knows it by
        await pilot.pause()
        assert app.environment == "production"
        app.run_command("env moon")
        await pilot.pause()
        assert app.environment == "production"


async def test_the_ui_environment_may_be_a_source_name(tmp_path: Path) -> None:
    app = make_app(_config(environment="prod-eu"), tmp_path, ManualClock(T0))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.environment is not None, "an environment")
        assert app.environment == "production"
