"""Feedback in the dashboard: ctrl+f opens the feedback dialog (a rating and a comment, stored);
with ``[telemetry] enabled`` the satisfaction question shows at most once a month (a month after
the first run at the earliest) and K dismisses it; the panes shown and the `:` commands run are
recorded, and nothing is with telemetry off."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from idp_tui.api.clock import ManualClock
from idp_tui.demo import DEMO_TIME, demo_config
from idp_tui.ui.feedback import FeedbackScreen, PromptLine
from idp_tui.usage import TelemetryConfig

from dialog_host import DialogHost
from fakes import screen_lines, type_text, wait_until


def rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    if not (data / "store.db").exists():
        return []
    with sqlite3.connect(data / "store.db") as conn:
        return conn.execute(sql).fetchall()


def host(data: Path, when: Any, *, enabled: bool = True) -> DialogHost:
    data.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(demo_config(data),
                                 telemetry=TelemetryConfig(enabled=enabled))
    return DialogHost(config, data_dir=data, clock=ManualClock(when))


async def prompt_checked(pilot: Any, app: DialogHost) -> None:
    """Until the store has answered whether the question is due (and the answer is drawn)."""
    await wait_until(pilot, lambda: app.runtime.usage.flush(0) and app.prompt_checked,
                     "the prompt's check")


async def test_the_monthly_question_shows_a_month_after_the_first_run_and_k_dismisses_it(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = host(data, DEMO_TIME)
    async with first.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, first)
        assert not first.query(PromptLine)  # the first run: nobody is asked on day one
    later = host(data, DEMO_TIME + timedelta(days=31))
    async with later.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, later)
        await wait_until(pilot, lambda: later.query(PromptLine), "the question")
        assert any("How satisfied are you with idp-tui?" in line and "K: not now" in line
                   and "^f: rate it" in line for line in screen_lines(later))
        await pilot.press("K")
        await wait_until(pilot, lambda: not later.query(PromptLine), "the question dismissed")
        assert not any("How satisfied" in line for line in screen_lines(later))
        await pilot.press("K")  # nothing to dismiss: said, not silent
        await wait_until(pilot, lambda: any("No satisfaction question is showing" in
                                            str(n.message) for n in later._notifications),
                         "the notice")
    again = host(data, DEMO_TIME + timedelta(days=45))  # within the month: not again
    async with again.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, again)
        assert not again.query(PromptLine)
    month = host(data, DEMO_TIME + timedelta(days=62))
    async with month.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, month)
        await wait_until(pilot, lambda: month.query(PromptLine), "the next month's question")
    assert len(rows(data, "SELECT * FROM idp_usage_prompt")) == 1


async def test_ctrl_f_stores_a_rating_and_a_comment_even_with_telemetry_off(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = host(data, DEMO_TIME + timedelta(days=40), enabled=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, app)
        assert not app.query(PromptLine)  # (the question is part of telemetry)
        rows_help = {bid: (keys, what) for _scope, keys, what, bid in app._binding_rows()}
        assert rows_help["app.feedback"] == ("^f", "Feedback")
        assert rows_help["app.dismiss_prompt"] == ("K", "Not now")
        assert any(usage.startswith(":feedback") for usage, _help in app._command_rows())
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, FeedbackScreen), "the dialog")
        await pilot.press("enter", "enter")  # no rating yet: said, not sent
        await wait_until(pilot, lambda: any("Choose a rating from 1" in line
                                            for line in screen_lines(app)), "the rating asked")
        await pilot.press("9", "4")  # (only 1 to 5 is taken)
        await pilot.press("enter")
        await type_text(pilot, "more [b]logs[/b]")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, FeedbackScreen),
                         "the dialog closed once stored")
        assert rows(data, "SELECT rating, comment FROM idp_feedback") == [(4, "more [b]logs[/b]")]
        await pilot.press("ctrl+f", "escape")  # escape closes without storing
        assert not isinstance(app.screen, FeedbackScreen)
        assert len(rows(data, "SELECT * FROM idp_feedback")) == 1
    assert rows(data, "SELECT COUNT(*) FROM idp_usage_event") == [(0,)]


async def test_panes_and_commands_are_recorded_only_with_telemetry_on(tmp_path: Path) -> None:
    for enabled in (True, False):
        data = tmp_path / str(enabled)
        app = host(data, DEMO_TIME, enabled=enabled)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: app.runtime is not None, "the runtime")
            app.run_command(":help")
            await wait_until(pilot, lambda: app.screen is not app.screen_stack[0], "help")
            await pilot.press("escape")
            app.runtime.usage.flush(30)
        found = rows(data, "SELECT kind, name FROM idp_usage_event ORDER BY id")
        if enabled:
            assert ("run", "session") in found and ("pane", "blank") in found
            assert ("command", "help") in found
        else:
            assert found == [] and not (data / "store.db").exists()


async def test_the_question_waits_for_the_sources_when_the_last_catalog_is_drawn_first(
        tmp_path: Path) -> None:
    """A start that draws the last run's catalog first has no runtime yet: the question is asked
    for once the sources answer, with no timer of its own on the app's timer."""
    from datetime import UTC, datetime

    from idp_tui.hub import ManualTimer
    from idp_tui.runtime import build_runtime
    from idp_tui.ui import boot
    from idp_tui.ui.app import IdpApp

    data = tmp_path / "data"
    first = host(data, DEMO_TIME)  # the first run, a month before
    async with first.run_test(size=(120, 30)) as pilot:
        await prompt_checked(pilot, first)
    clock = ManualClock(DEMO_TIME + timedelta(days=31))
    config = dataclasses.replace(demo_config(data), telemetry=TelemetryConfig(enabled=True))
    view = boot.BootView(key="k", saved_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
                         environment="production", theme="textual-dark",
                         rows=(boot.BootRow("svc-a", "team-x", 2, "production", "go", "healthy"),))
    timer = ManualTimer()
    app = IdpApp(None, data, clock, boot_key="k", boot_view=view, timer=timer,
                 start=lambda: build_runtime(config, data_dir=data, clock=clock))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: app.runtime is not None, "the runtime")
        assert timer.deadlines == [1.0]  # the panes' mount only
        await prompt_checked(pilot, app)
        await wait_until(pilot, lambda: app.query(PromptLine), "the question")
