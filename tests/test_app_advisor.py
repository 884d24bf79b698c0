"""Pilot tests of the advisor in the dashboard, on the seeded sandbox (seed 7 at
2026-11-25T14:00Z, ``idp_tui.demo``): its production runs a bad release from the start, which the
advisor finds as a post-deploy regression with a rollback for remedy.

The count in the top line, ``!`` listing it with its evidence, Enter opening the rollback dialog
pre-filled, ``d`` remembered across a restart on the same data dir, the Catalog's mark.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from idp_tui.advisor import Dismissals
from idp_tui.advisor.model import Severity
from idp_tui.api.actions import ActionKind
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.ui.advisor import MARK, AdvisorScreen
from idp_tui.ui.app import ContextBar, IdpApp
from idp_tui.ui.dialogs import ActionModal
from idp_tui.ui.panes import CatalogPane
from idp_tui.ui.screens import HelpScreen

from fakes import screen_lines, wait_until, widget_text

RULE = "post-deploy-regression"


@asynccontextmanager
async def running(app: IdpApp) -> AsyncIterator[Pilot[Any]]:
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await wait_until(pilot, lambda: app.advice is not None and any(
            r.rule == RULE for r in app.advice.recommendations) or bool(
            app.advice and app.advice.hidden), "the advisor's first advice")
        yield pilot


def regression(app: IdpApp) -> Any:
    found = [r for r in app.advice.recommendations
             if r.rule == RULE and r.environment == "production"]
    assert len(found) == 1, app.advice.recommendations
    return found[0]


def context_text(app: IdpApp) -> str:
    return str(app.query_one(ContextBar).render())


async def test_the_bad_release_is_counted_listed_and_its_rollback_opens(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with running(app) as pilot:
        rec = regression(app)
        # The pressing ones are counted (a fresh sandbox also has low ones: savings, gaps).
        count = sum(r.severity.rank >= Severity.MEDIUM.rank for r in app.advice.recommendations)
        assert 0 < count < len(app.advice.recommendations)
        assert f"! {count} advice" in context_text(app)
        # The Catalog marks the service.
        catalog = app.query_one(CatalogPane)
        table_text = widget_text(app, catalog)
        assert any(rec.service in line and MARK.strip() in line.split(rec.service, 1)[1][:4]
                   for line in table_text.splitlines()), table_text
        # A service with only low advice is not marked.
        pressing = {r.service for r in app.advice.recommendations if r.pressing}
        quiet = {r.service for r in app.advice.recommendations} - pressing
        assert quiet
        for line in table_text.splitlines():
            words = line.split()
            if words and words[0] in quiet:
                assert not line.split(words[0], 1)[1].startswith(MARK.rstrip()), line

        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen), "the list")
        screen = app.screen
        assert isinstance(screen, AdvisorScreen)
        # The most urgent first: the regression in production is high.
        assert screen.advice.recommendations[0].severity.rank >= rec.severity.rank
        keys = screen.query_one("#advisor-table").keys
        assert rec.id in keys
        screen.query_one("#advisor-table").select_key(rec.id)
        await pilot.pause()
        lines = "\n".join(screen_lines(app))
        assert "error ratio after" in lines and "sandbox" in lines
        assert "enter: rollback" in lines

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal), "the dialog")
        modal = app.screen
        assert isinstance(modal, ActionModal)
        assert (modal.kind, modal.service, modal.environment) == (
            ActionKind.ROLLBACK, rec.service, "production")
        assert modal.request_id != rec.remedy.id  # each attempt its own id
        await wait_until(pilot, lambda: modal.plan_result is not None, "the rollback's plan")
        plan = "\n".join(screen_lines(app))
        dep = app.platform.deployments[(rec.service, "production")]
        found = modal.plan_result.plan
        assert found is not None, modal.plan_result
        # From the bad release back to the version before it, as the dialog shows.
        assert found.current_version == dep.version
        assert found.target_version and found.target_version != dep.version
        assert dep.version in plan and found.target_version in plan


async def test_dismissed_stays_dismissed_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = demo_app(data)
    async with running(app) as pilot:
        rec = regression(app)
        before = sum(r.pressing for r in app.advice.recommendations)
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen), "the list")
        app.screen.query_one("#advisor-table").select_key(rec.id)
        await pilot.pause()
        await pilot.press("d")
        await wait_until(pilot, lambda: rec.id not in {
            r.id for r in app.advice.recommendations}, "the dismissal")
        assert app.advice.hidden == 1
        assert f"! {before - 1} advice" in context_text(app) or before == 1
        assert rec.id not in app.screen.query_one("#advisor-table").keys
    assert Dismissals.in_folder(data).hidden(rec.id, app.clock.now())

    again = demo_app(data)
    async with running(again):
        assert rec.id not in {r.id for r in again.advice.recommendations}
        assert again.advice.hidden >= 1


async def test_snooze_and_the_keys_screen(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with running(app) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys")
        assert "app.advisor" in "\n".join(screen_lines(app)) or any(
            row[3] == "app.advisor" for row in app._binding_rows())
        await pilot.press("escape")
        rec = regression(app)
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen), "the list")
        app.screen.query_one("#advisor-table").select_key(rec.id)
        await pilot.pause()
        await pilot.press("s")
        await wait_until(pilot, lambda: rec.id not in {
            r.id for r in app.advice.recommendations}, "the snooze")
        until = Dismissals.in_folder(app.data_dir).entries()[rec.id]
        assert until is not None and until > app.clock.now()


async def test_the_advisor_can_be_turned_off(tmp_path: Path) -> None:
    """``[advisor] enabled = false``: no count in the top line, no marks, and `!` says why."""
    import dataclasses

    from idp_tui.advisor.settings import AdvisorConfig
    from idp_tui.demo import DEMO_TIME, demo_config
    from idp_tui.api.clock import ManualClock

    config = demo_config(tmp_path / "data")
    config = dataclasses.replace(config, advisor=AdvisorConfig(enabled=False))
    app = IdpApp(config, data_dir=tmp_path / "data", clock=ManualClock(DEMO_TIME))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        assert app.advisor is None and "advice" not in context_text(app)
        assert MARK.strip() + " " not in widget_text(app, app.query_one(CatalogPane))
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: any("The advisor is off" in str(n.message)
                                            for n in app._notifications), "the notice")
        assert not isinstance(app.screen, AdvisorScreen)
