"""The extend dialog of a preview environment, over the dashboard on the seeded sandbox: a
duration typed asks the source for a new plan (a bad one is said beside the field and offers no
plan nor the confirm button), Enter goes on to the next field, and the run extends by what was
typed last."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from idp_tui import ActionKind, ActionState
from idp_tui.demo import DEMO_SIZE
from idp_tui.ui.dialogs import EnvironmentActionModal

from dialog_host import sandbox_host
from fakes import assert_alive, screen_lines, wait_until, widget_text
from test_app_preview import FAST, _seed_preview


async def test_a_duration_typed_is_planned_again_and_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _seed_preview(data)  # pr-7, expiring at 16:00
    app = sandbox_host(data, action_speed=FAST)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        modal = EnvironmentActionModal(ActionKind.EXTEND, "pr-7")
        app.push_screen(modal)

        def planned(words: str) -> bool:
            return modal.plan_result is not None and modal.plan_result.plan is not None \
                and words in widget_text(app, modal.query_one("#action-plan"))

        await wait_until(pilot, lambda: planned("pr-7 by 24 h"), "the plan of the default 1d")
        by = modal.query_one("#action-by", Input)
        by.focus()
        await pilot.pause()
        await pilot.press("backspace", *"forever")  # (the value is selected on focus)
        await wait_until(pilot, lambda: "got 'forever'" in widget_text(
            app, modal.query_one("#action-by-error")), "the error beside the field")
        assert modal.plan_result is None
        assert "Say by how much to see what changes." in "\n".join(screen_lines(app))
        assert modal.query_one("#action-confirm").disabled
        await pilot.press(*["backspace"] * len("forever"), *"2d")
        await wait_until(pilot, lambda: planned("pr-7 by 2 days"), "the plan of 2d")
        assert not modal.query_one("#action-confirm").disabled
        assert "extend by 2d" in "\n".join(screen_lines(app))
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is modal.query_one("#confirm-reason", Input)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the run")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert modal.run.request.params == {"seconds": 2 * 86400}
        assert_alive(app)
