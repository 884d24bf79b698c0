"""One scorecard count for the dashboard: the Catalog's Level column and the Insights pane's
scorecards read the same count on the seeded sandbox (counted once for both), and ctrl+r in the
Insights pane asks again: a deploy made since appears in the history it counts, and the
Catalog's levels follow the new count."""

from __future__ import annotations

from pathlib import Path

from idp_tui.api.kinds import ActionKind, ActionState
from idp_tui.api.actions import ActionRequest
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.insights.dora import KEYS
from idp_tui.insights.scoring import scorer_of
from idp_tui.ui.panes.catalog import CatalogPane
from idp_tui.ui.panes.catalog_levels import level_word
from idp_tui.ui.panes.insights import InsightsPane
from idp_tui.ui.tables import KeyedTable
from idp_tui.ui.vtable import VirtualTable

from fakes import wait_until

#: The sandbox's actions this many times faster than real ones.
FAST = 100_000.0


def _catalog_column(pane: CatalogPane) -> dict[str, str]:
    table = pane.query_one("#catalog-table", VirtualTable)
    index = list(table.columns).index("level")
    return {key: str(table.get_row(key)[index]) for key in table.keys}


def _insights_levels(pane: InsightsPane) -> dict[str, str]:
    assert pane.insights is not None
    return {c.service: c.level_name for c in pane.insights.cards}


async def test_the_catalog_and_insights_show_the_same_levels_counted_once(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        catalog = app.query_one(CatalogPane)
        await wait_until(pilot, lambda: catalog.levels is not None and catalog.is_settled(),
                         "the catalog's levels")
        await pilot.press("6")
        insights = app.query_one(InsightsPane)
        await wait_until(pilot, lambda: insights.insights is not None, "the insights")
        shown = _catalog_column(catalog)
        counted = _insights_levels(insights)
        assert len(counted) == 40 and len(set(counted.values())) >= 2
        assert shown == counted
        assert {n: level_word(catalog.levels, n) for n in counted} == counted
        # Counted once, for both panes.
        assert scorer_of(app.hub).counts == 1
        # The scorecards table says the same level for each service.
        await pilot.press("s")
        await pilot.pause()
        scores = insights.query_one("#insights-scores", KeyedTable)
        rows = {str(scores.get_row(k)[0]): str(scores.get_row(k)[2]) for k in scores.keys}
        assert rows and all(counted[name] == level for name, level in rows.items())


async def test_ctrl_r_in_insights_counts_a_new_deploy_and_the_catalog_follows(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data", action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("6")
        pane = app.query_one(InsightsPane)
        await wait_until(pilot, lambda: pane.insights is not None, "the insights")
        before = pane.insights
        assert before is not None
        (version, *_) = [v.version for v in await app.runtime.actions.versions(
            "cart-service", "production") if v.version]
        run = await app.runtime.actions.submit(ActionRequest(
            id="ship-1", kind=ActionKind.DEPLOY, service="cart-service",
            environment="production", version=version, confirmation="production",
            reason="ship the fix"))
        await app.runtime.actions.wait(run.id)
        assert run.state is ActionState.SUCCEEDED, run.error
        deploy_id = "sandbox:action:ship-1"
        # A deploy that succeeded has the sources asked again: switching windows counts it.
        await pilot.press("w")
        await wait_until(pilot, lambda: pane.insights is not None and pane.insights.days == 90
                         and deploy_id in pane.insights.deploys, "the 90 days with the deploy")
        # ctrl+r asks every source again and counts again: the deploy is still counted once.
        counted = pane.insights
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: pane.insights is not counted, "a new count")
        await wait_until(pilot, lambda: pane.insights is not None and pane.is_settled()
                         and deploy_id in pane.insights.deploys, "the new deploy")
        insights = pane.insights
        deploy = insights.deploys[deploy_id]
        assert (deploy.service, deploy.environment, deploy.version) == (
            "cart-service", "production", version)
        # Counted: the organisation's and the service's deployment frequency take it in.
        assert insights.organisation.keys[KEYS[0]].evidence[-1] == deploy_id
        service = next(s for s in insights.services if s.name == "cart-service")
        assert deploy_id in service.keys[KEYS[0]].evidence
        old = next(s for s in before.services if s.name == "cart-service")
        assert len(service.keys[KEYS[0]].evidence) > 0 and old.keys[KEYS[0]].evidence != \
            service.keys[KEYS[0]].evidence
        # The Catalog's Level column follows the new count.
        catalog = app.query_one(CatalogPane)
        await wait_until(pilot, lambda: catalog.is_settled() and
                         _catalog_column(catalog) == _insights_levels(pane), "the same levels")
        # One count shared by the pane, the Catalog and the advisor for each change, not one
        # each (that would be 9 or more): the start, the deploy (its audit records, started and
        # ended, and the sources' new answer may each come apart), ctrl+r.
        assert 3 <= scorer_of(app.hub).counts <= 5
