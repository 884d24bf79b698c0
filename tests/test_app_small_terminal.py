"""The dashboard in a small (80×24) and a large (160×50) terminal: the tables keep the columns that
matter most (the rest leave by priority, never cut mid-word), Home and End go to the first and the
last row, and the footer always shows the help and quit keys. On the seeded sandbox (a failing
source beside it for the health view)."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp_tui.api.clock import ManualClock
from idp_tui.demo import DEMO_TIME, PANE_KEYS, demo_config, wait_settled
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes.pipelines import COLUMNS
from idp_tui.ui.screens import HealthScreen
from idp_tui.ui.tables import KeyedTable

from fakes import FailingSource, screen_lines, spec, wait_until, widget_lines

SMALL, LARGE = (80, 24), (160, 50)


def sandbox_app(tmp_path: Path, *extra) -> IdpApp:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    config = demo_config(data)
    config.sources.extend(extra)
    return IdpApp(config, data_dir=data, clock=ManualClock(DEMO_TIME))


def header(app: IdpApp, table: KeyedTable) -> str:
    return widget_lines(app, table)[0]


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_pipelines_columns_leave_by_priority_and_home_end_go_to_the_ends(
        tmp_path: Path, size: tuple[int, int]) -> None:
    app = sandbox_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_settled(app)
        await pilot.press("3")
        await wait_settled(app)
        table = app.query_one("#pipelines-table", KeyedTable)
        shown = [str(c.key.value) for c in table.columns.values()]
        if size == SMALL:
            assert shown == ["service", "number", "status", "duration", "started"]
        else:
            assert shown == [key for key, _ in COLUMNS]
        assert table.size.width >= sum(c.get_render_width(table) for c in table.columns.values())
        text = "\n".join(widget_lines(app, table))
        assert "✔ succeeded" in text and "▶ running" in text  # never "✔ succe"
        for label in ("Service", "Status", "Duration", "Age"):
            assert label in header(app, table)
        # The hints of the status line fit it; L is among them when there is room.
        status = widget_lines(app, app.query_one("#pipelines-status"))[0]
        assert "…" not in status and "/ filter" in status
        if size == LARGE:
            assert "L job/step log" in status
        # Home and End: the first and the last run, never a column sideways.
        table.focus()
        await pilot.press("end")
        await wait_until(pilot, lambda: table.cursor_row == table.row_count - 1, "the last run")
        assert table.scroll_x == 0
        selected = app.query_one("#pipelines-detail-body").render()
        await pilot.press("home")
        await wait_until(pilot, lambda: table.cursor_row == 0, "the first run")
        assert table.scroll_x == 0
        body = app.query_one("#pipelines-detail-body")
        await wait_until(pilot, lambda: body.render() != selected, "the first run's detail")


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_the_footer_keeps_help_and_quit_in_every_pane(tmp_path: Path,
                                                            size: tuple[int, int]) -> None:
    app = sandbox_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_settled(app)
        for pane, key in PANE_KEYS.items():
            await pilot.press(key)
            await wait_until(pilot, lambda p=pane: app.current_pane.pane_name == p, pane)
            await pilot.pause()
            footer = screen_lines(app)[-1]
            assert footer.startswith(" ? Keys  q Quit "), (pane, footer)


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_health_view_shows_state_latency_and_error_first(tmp_path: Path,
                                                             size: tuple[int, int]) -> None:
    app = sandbox_app(tmp_path, spec("down", FailingSource))
    async with app.run_test(size=size) as pilot:
        await wait_settled(app)
        await wait_until(pilot, lambda: app.hub.health["down"].state == "error", "down to fail")
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        table = app.screen.query_one("#health-table", KeyedTable)
        await pilot.pause()
        lines = widget_lines(app, table)
        for label in ("Source", "State", "Latency", "Error"):
            assert label in lines[0], lines[0]
        down = next(line for line in lines if line.lstrip().startswith("down"))
        error = app.hub.health["down"].failure.error_class  # type: ignore[union-attr]
        assert f" {error}" in down, down  # whole, not cut to two letters
        assert "error" in down.split()
        if size == LARGE:  # room for everything; the long capabilities end in an ellipsis
            assert "Capabilities" in lines[0] and "…" in down
        else:
            assert "Capabilities" not in lines[0]
        detail = "\n".join(widget_lines(app, app.screen.query_one("#health-detail")))
        assert "Capabilities:" in detail


async def test_sandbox_failed_run_re_run_and_a_running_run_cancelled_from_the_keys(
        tmp_path: Path) -> None:
    """F and X on the sandbox: the dialog, its confirm key, the action's outcome, and the run in
    the list as a second attempt, or cancelled."""
    from idp_tui.api.models import RunStatus
    from idp_tui.ui.dialogs import RunActionModal

    data = tmp_path / "data"
    data.mkdir()
    clock = ManualClock(DEMO_TIME)
    app = IdpApp(demo_config(data, action_speed=100_000.0), data_dir=data, clock=clock)
    async with app.run_test(size=LARGE) as pilot:
        await wait_settled(app)
        await pilot.press("3")
        await wait_settled(app)
        pane = app.current_pane
        table = app.query_one("#pipelines-table", KeyedTable)
        for status, key, attempt in ((RunStatus.FAILED, "F", 2), (RunStatus.RUNNING, "X", 1)):
            run = next(r for r in pane.runs if r.status is status)
            table.select_key(f"{run.source}\x1f{run.id}")
            await wait_until(pilot, lambda r=run: pane.selected == (r.source, r.id), run.id)
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal), "the dialog")
            await wait_until(pilot, lambda: app.screen._confirm_offered() is True, "confirmable")
            await pilot.press("ctrl+s")
            runs = app.runtime.actions.runs  # the action layer's runs (policy, audit, source)
            await wait_until(pilot, lambda r=run: any(
                n.state.finished for n in runs.values() if n.request.run_id == r.id), "the outcome")
            done = next(n for n in runs.values() if n.request.run_id == run.id)
            assert done.state.value == "succeeded", done
            await pilot.press("escape")
            app.hub.retry_now()
            want = RunStatus.CANCELLED if key == "X" else None
            await wait_until(pilot, lambda r=run: any(
                x.id == r.id and x.attempt == attempt and (want is None or x.status is want)
                for x in pane.runs), f"{run.id} after {key}", timeout=20)
