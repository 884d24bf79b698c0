"""Pilot test of the preview environments a fresh sandbox starts with, in the dashboard: T in
Environments extends the one about to expire and X deletes the idle one, through their dialogs
and the action manager, as on a preview environment a user provisioned."""

from __future__ import annotations

from pathlib import Path

from idp_tui import ActionKind, ActionState
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.ui.dialogs import EnvironmentActionModal
from idp_tui.ui.panes.envs import EnvironmentsPane

from fakes import screen_lines, wait_until

FAST = 100_000.0
#: The fresh sandbox's previews (seed 7): about to expire, and idle.
EXPIRING, IDLE = "pr-9870", "pr-3756"


async def test_t_extends_and_x_deletes_the_seeded_previews(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data", action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        app.show_pane("envs")
        await wait_settled(app)
        pane = app.query_one(EnvironmentsPane)
        assert {EXPIRING, IDLE} <= set(app.environment_names())
        app.environment = EXPIRING
        pane.focus_main()
        await pilot.press("T")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentActionModal),
                         "the extend dialog")
        modal = app.screen
        assert (modal.kind, modal.environment) == (ActionKind.EXTEND, EXPIRING)
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and modal.plan_result.plan is not None, "the plan")
        shown = "\n".join(screen_lines(app))
        assert f"Extend preview environment {EXPIRING}" in shown, shown
        assert "instead of 2026-11-25 18:00 UTC" in shown, shown
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the extension")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, EnvironmentActionModal),
                         "the dialog closed")

        app.environment = IDLE
        pane.focus_main()
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentActionModal),
                         "the delete dialog")
        modal = app.screen
        assert (modal.kind, modal.environment) == (ActionKind.DELETE_ENVIRONMENT, IDLE)
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and modal.plan_result.plan is not None, "the plan")
        shown = "\n".join(screen_lines(app))
        assert "2 deployment(s)" in shown and "It cannot be undone" in shown, shown
        await pilot.click("#confirm-name")
        await pilot.press(*IDLE)
        modal.query_one("#confirm-reason").value = "merged"
        await pilot.pause()
        await wait_until(pilot, lambda: not modal.query_one("#action-confirm").disabled,
                         "the confirm button")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the deletion")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error


async def test_coming_back_the_next_day_shows_the_previews_opened_meanwhile(
        tmp_path: Path) -> None:
    """The sandbox first started at the demo time; the dashboard opened a day later shows the
    previews pull requests opened since (pr-10006, pr-10008, pr-10014) beside the idle one, not
    the one that expired, and none of their cells is marked behind."""
    from datetime import timedelta

    from idp_tui import ManualClock, SourceContext
    from idp_tui.demo import DEMO_TIME, demo_config

    data = tmp_path / "data"
    data.mkdir()
    spec = demo_config(data).sources[0]
    source = spec.cls(spec.config, SourceContext(name="sandbox", data_dir=data,
                                                  clock=ManualClock(DEMO_TIME)))
    await source.start()
    await source.close()

    app = demo_app(data, clock=ManualClock(DEMO_TIME + timedelta(days=1)))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        app.show_pane("envs")
        await wait_settled(app)
        pane = app.query_one(EnvironmentsPane)
        opened = {"pr-10006", "pr-10008", "pr-10014"}
        await wait_until(pilot, lambda: opened <= set(app.environment_names()), "the new previews")
        previews = [n for n in app.environment_names() if n.startswith("pr-")]
        assert sorted(previews) == sorted(opened | {IDLE}), previews
        assert not {env for _service, env in pane.drifted} & set(previews)
        shown = "\n".join(screen_lines(app))
        for name in opened:
            assert name in shown, shown
