"""Pilot tests of a preview environment's actions in the dashboard, on the seeded sandbox with a
preview environment about to expire: the advisor's remedy (Enter in its list) opens the extend
dialog pre-filled and runs it through the action manager; X in Environments opens the delete
dialog, which asks for the name typed and a reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from idp_tui import ActionKind, ActionState, ManualClock, SourceContext
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, demo_config, wait_settled
from idp_tui.ui.advisor import AdvisorScreen
from idp_tui.ui.dialogs import EnvironmentActionModal
from idp_tui.ui.panes.envs import EnvironmentsPane

from fakes import screen_lines, wait_until

FAST = 100_000.0


async def _seed_preview(data: Path, hours: float = 2.0) -> None:
    """The sandbox's database with the preview environment pr-7 (cart-service in it), expiring
    in ``hours``."""
    data.mkdir(parents=True, exist_ok=True)
    spec = demo_config(data, action_speed=FAST).sources[0]
    source = spec.cls(spec.config, SourceContext(name="sandbox", data_dir=data,
                                                  clock=ManualClock(DEMO_TIME)))
    await source.start()
    try:
        source._add_environment("pr-7", order=5, expires_at=DEMO_TIME + timedelta(hours=hours))
        source._set_deployment("cart-service", "pr-7", "1.0.0")
    finally:
        await source.close()


async def test_the_expiring_previews_remedy_opens_the_extend_dialog_and_runs(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _seed_preview(data)
    app = demo_app(data, action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await wait_until(pilot, lambda: app.advice is not None and any(
            r.rule == "preview-expiring" for r in app.advice.recommendations), "the advice")
        [rec] = [r for r in app.advice.recommendations if r.rule == "preview-expiring"
                 and r.environment == "pr-7"]  # (not the sandbox's own)
        assert rec.remedy is not None and rec.remedy.kind is ActionKind.EXTEND
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen), "the list")
        app.screen.query_one("#advisor-table").select_key(rec.id)
        await pilot.pause()
        assert "enter: extend" in "\n".join(screen_lines(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentActionModal),
                         "the extend dialog")
        modal = app.screen
        assert (modal.kind, modal.environment) == (ActionKind.EXTEND, "pr-7")
        assert modal.query_one("#action-by").value == "1d"
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and modal.plan_result.plan is not None, "the plan")
        shown = "\n".join(screen_lines(app))
        assert "Extend preview environment pr-7 by 24 h" in shown, shown
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the run")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert modal.run.request.params == {"seconds": 86400}
        assert modal.run.request.reason.startswith("advisor:")


async def test_x_in_environments_opens_the_delete_dialog_which_asks_for_the_name(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _seed_preview(data, hours=30)
    app = demo_app(data, action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        app.show_pane("envs")
        await wait_settled(app)
        pane = app.query_one(EnvironmentsPane)
        app.environment = "staging"
        pane.focus_main()
        await pilot.press("X")  # staging is no preview: said, no dialog
        await pilot.pause()
        assert not isinstance(app.screen, EnvironmentActionModal)
        assert pane.check_action("act", ("delete_env",)) is False
        assert "staging is not a preview environment" in pane.why_not("act", ("delete_env",))
        await wait_until(pilot, lambda: any("not a preview environment" in str(n.message)
                                            for n in app._notifications), "the reason said")
        app.environment = "pr-7"
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentActionModal),
                         "the delete dialog")
        modal = app.screen
        assert modal.kind is ActionKind.DELETE_ENVIRONMENT
        await wait_until(pilot, lambda: modal.plan_result is not None, "the plan")
        shown = "\n".join(screen_lines(app))
        assert "cannot be undone" in shown.lower() or "type" in shown.lower(), shown
        assert modal.query_one("#action-confirm").disabled
        await pilot.click("#confirm-name")
        await pilot.press(*"pr-7")
        modal.query_one("#confirm-reason").value = "merged"
        await pilot.pause()
        await wait_until(pilot, lambda: not modal.query_one("#action-confirm").disabled,
                         "the confirm button")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the run")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error


async def test_a_preview_older_than_production_is_not_marked_behind(tmp_path: Path) -> None:
    """pr-7 runs cart-service 1.0.0, far older than production's: its cell shows the version
    without the behind mark and is not among the drifted cells; production's own marks stay."""
    data = tmp_path / "data"
    await _seed_preview(data, hours=30)
    app = demo_app(data, action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        app.show_pane("envs")
        await wait_settled(app)
        pane = app.query_one(EnvironmentsPane)
        await wait_until(pilot, lambda: "pr-7" in app.environment_names(), "pr-7 shown")
        previews = {"pr-7", "pr-3756", "pr-9870"}
        assert previews <= set(app.environment_names())
        assert not {env for _service, env in pane.drifted} & previews
        assert ("order-service", "production") in pane.drifted  # (2.49.12 behind staging)
        [line] = [line for line in screen_lines(app) if line.lstrip().startswith("cart-service")]
        assert "1.0.0 " in line and "1.0.0↓" not in line, line
        assert line.count("↓") == len({e for s, e in pane.drifted if s == "cart-service"})
