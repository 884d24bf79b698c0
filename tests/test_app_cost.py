"""Pilot tests of cost in the dashboard on the seeded sandbox: the Catalog detail's monthly cost
of the selected service per environment (with the prices used), and each team's beside the DORA
figures in Insights, the same figures as ``idp-tui cost`` counts (``advisor.cost``)."""

from __future__ import annotations

from pathlib import Path

from idp_tui.advisor.cost import HOURS_PER_MONTH, cost_lines, money, totals
from idp_tui.advisor.costview import Prices, cost_inputs, scope_costs, service_cost
from idp_tui.api.models import Deployment, Service
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.ui.costtext import cost_inputs_of
from idp_tui.ui.panes import CatalogPane
from idp_tui.ui.panes.insights import InsightsPane
from idp_tui.ui.tables import KeyedTable

from fakes import wait_until, widget_text


def test_service_cost_lines_per_environment_with_waste_and_prices() -> None:
    deps = {("pay", env): Deployment(service="pay", environment=env, version="1.0.0",
                                     replicas_desired=n, cpu_request=0.5, memory_request=2**30)
            for env, n in (("staging", 1), ("production", 4))}
    deps[("cart", "production")] = Deployment(service="cart", environment="production",
                                              version="2.0.0", replicas_desired=2,
                                              cpu_request=1.0)

    class Waste:
        rule, service, environment, monthly_cost = "waste", "pay", "production", 12.5

    inputs = cost_inputs(deps, [Service(name="pay", owner="team-a"),
                                Service(name="cart", owner="team-b")],
                         Prices(0.04, 0.005, "EUR", "test prices"), recommendations=[Waste()])
    lines = dict(service_cost(inputs, "pay"))
    # 4 × (0.5 core × 0.04 + 1 GiB × 0.005) = 0.1 an hour: 73.00 a month
    assert lines["production"].startswith("73.00 EUR/month (requests: 2.00 cores, 4.00 GiB)")
    assert lines["staging"].startswith("18.25 EUR/month")
    assert lines["total"] == "91.25 EUR/month"
    assert lines["waste"].startswith("12.50 EUR/month requested but unused (production")
    assert lines["prices"] == "0.04 EUR/core-hour, 0.005 EUR/GiB-hour (test prices)"
    assert service_cost(inputs, "nothing") == []
    # In the environments' promotion order (else by name).
    labels = [label for label, _ in service_cost(inputs, "pay")]
    assert labels[:2] == ["production", "staging"]
    assert [label for label, _ in service_cost(inputs, "pay", ["staging", "production"])][:2] \
        == ["staging", "production"]
    scopes = scope_costs(inputs)
    assert scopes["team:team-a"] == "91.25 EUR" and scopes["service:cart"] == "58.40 EUR"
    assert scopes["organisation"] == money(91.25 + 58.40, "EUR")


async def test_the_catalog_detail_and_insights_show_what_the_services_cost(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        catalog = app.query_one(CatalogPane)
        service = app.service
        assert service
        detail = widget_text(app, catalog.query_one("#catalog-detail-body"))
        assert "Cost" in detail and "USD/month" in detail, detail
        catalog.query_one("#catalog-detail").scroll_end(animate=False)  # (the prices: last)
        await pilot.pause()
        detail = widget_text(app, catalog.query_one("#catalog-detail-body"))
        assert "[cost] in the config" in detail
        inputs = cost_inputs_of(app)
        lines = [line for line in cost_lines(inputs.deployments, inputs.services, inputs.usage,
                                             inputs.prices) if line.service == service]
        total = sum(line.hourly for line in lines) * HOURS_PER_MONTH
        assert f"{money(total, 'USD')}/month" in detail
        # The use the detail costs is the advisor's (its public reading of it).
        assert app.advisor is not None and inputs.usage
        assert set(inputs.usage) <= set(app.advisor.usage())
        await pilot.press("6")
        await wait_settled(app)
        pane = app.query_one(InsightsPane)
        await wait_until(pilot, lambda: pane.insights is not None, "the insights")
        keys = pane.query_one("#insights-keys", KeyedTable)
        teams = [k for k in keys.keys if k.startswith("team:")]
        assert teams
        by_team = {t.name: t for t in totals(cost_lines(
            inputs.deployments, inputs.services, inputs.usage, inputs.prices), "team")}
        for key in teams:
            shown = str(keys.get_row(key)[-2])  # beside the level, before the sparkline
            assert shown == money(by_team[key.removeprefix("team:")].monthly, "USD"), key
        assert "USD" in str(keys.get_row("organisation")[-2])
