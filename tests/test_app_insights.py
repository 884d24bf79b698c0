"""Pilot tests of the Insights pane (6) on the seeded sandbox: the four keys of the organisation,
each team and each service with their levels, the scorecards filtered by team and level, the
detail of a number (the deployments it counted) and of a rule (the fix), and the status line
while the counting runs in its thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.insights import view
from idp_tui.insights.dora import KEYS
from idp_tui.ui.panes.insights import InsightsPane
from idp_tui.ui.tables import KeyedTable

from fakes import wait_until, widget_text

LEVELS = {"elite", "high", "medium", "low"}


def _cells(table: KeyedTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def test_insights_pane_keys_scorecards_and_detail(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("6")
        await wait_settled(app)
        pane = app.query_one(InsightsPane)
        await wait_until(pilot, lambda: pane.insights is not None, "the insights")
        insights = pane.insights
        assert insights is not None
        keys = pane.query_one("#insights-keys", KeyedTable)
        # The organisation, each team and each service, each with a DORA level.
        assert keys.keys[0] == "organisation"
        teams = [k for k in keys.keys if k.startswith("team:")]
        services = [k for k in keys.keys if k.startswith("service:")]
        assert len(teams) >= 2 and len(services) >= 10
        org = _cells(keys, "organisation")
        assert org[len(KEYS) + 1] in LEVELS, org
        team_levels = {_cells(keys, t)[len(KEYS) + 1] for t in teams}
        assert len(team_levels & LEVELS) >= 2, team_levels  # the teams differ visibly
        assert any(ch in _cells(keys, "organisation")[-1] for ch in "▁▂▃▄▅▆▇█")
        # The number under the cursor is explained by the deployments it counted.
        frequency = insights.organisation.keys[KEYS[0]]
        assert frequency.evidence
        await pilot.press("right")  # the deployment frequency column
        await pilot.pause()
        detail = widget_text(app, pane.query_one("#insights-detail"))
        assert "deployment frequency of the organisation" in detail
        assert f"counted {len(frequency.evidence)} deployments" in detail
        newest = insights.deploys[frequency.evidence[-1]]
        assert newest.service in detail and newest.environment in detail
        # The team filter keeps the organisation, one team and its services.
        await pilot.press("t")
        await pilot.pause()
        team = pane.team
        assert team is not None and f"team: {team}" in widget_text(
            app, pane.query_one("#insights-status"))
        owners = {c.service: c.owner for c in insights.cards}
        shown = [k for k in keys.keys if k.startswith("service:")]
        assert shown and all(owners[k.removeprefix("service:")] == team for k in shown)
        assert [k for k in keys.keys if k.startswith("team:")] == [f"team:{team}"]
        # The scorecards: services × rules, failing first, filtered by team and level.
        await pilot.press("s")
        await pilot.pause()
        scores = pane.query_one("#insights-scores", KeyedTable)
        assert scores.display and not keys.display
        statuses = [_cells(scores, k)[3] for k in scores.keys]
        assert statuses and statuses == sorted(statuses, key=("fail", "error", "pass").index)
        assert {_cells(scores, k)[1] for k in scores.keys} == {team}
        assert "fail" in statuses
        detail = widget_text(app, pane.query_one("#insights-detail"))
        assert "status: fail" in detail and "fix: " in detail
        await pilot.press("t")  # the next team
        await pilot.pause()
        while pane.team is not None:
            await pilot.press("t")
            await pilot.pause()
        await pilot.press("l")  # level: none
        await pilot.pause()
        assert pane.level == "none"
        names = {_cells(scores, k)[2] for k in scores.keys}
        below = [c for c in insights.cards if c.level is None]
        assert names == ({"none"} if below else set())
        assert {_cells(scores, k)[0] for k in scores.keys} == {c.service for c in below
                                                               if c.results}


async def test_insights_pane_says_it_is_computing(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    release = threading.Event()
    entered = threading.Event()

    def held(*args: Any, **kwargs: Any) -> view.Insights:
        entered.set()
        release.wait(10)
        return view.compute(*args, **kwargs)

    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(InsightsPane)
        pane.compute = held
        await pilot.press("6")
        await wait_until(pilot, entered.is_set, "the counting")
        await pilot.pause()
        # The counting runs in a thread: the UI answers (a key is handled) and says so.
        status = widget_text(app, pane.query_one("#insights-status"))
        assert "Computing the four keys and scorecards (last 30 days)" in status
        assert pane.insights is None and not pane.is_settled()
        await pilot.press("s")
        await pilot.pause()
        assert pane.mode == "scores"
        release.set()
        await wait_until(pilot, lambda: pane.insights is not None, "the insights")
        assert "organisation:" in widget_text(app, pane.query_one("#insights-status"))
        # A new window is recounted from what the hub answered.
        await pilot.press("w")
        await wait_until(pilot, lambda: pane.insights is not None and pane.insights.days == 90,
                         "the 90 days")
        assert "last 90 days" in widget_text(app, pane.query_one("#insights-status"))
