"""The app's one-shot timers (``idp_tui.ui.timers``): Textual's by default, a test's
``ManualTimer`` when the app is given one (then they fire when the test moves its time on)."""

from __future__ import annotations

from textual.app import App
from textual.timer import Timer

from idp_tui.hub import ManualTimer
from idp_tui.ui.timers import start_timer


async def test_without_a_timer_it_is_textuals_own() -> None:
    app: App[None] = App()
    async with app.run_test():
        handle = start_timer(None, app, 3600.0, lambda: None)
        assert isinstance(handle, Timer)
        handle.stop()


async def test_on_a_manual_timer_they_fire_when_it_is_advanced_unless_stopped() -> None:
    timer = ManualTimer()
    fired: list[str] = []
    app: App[None] = App()
    async with app.run_test() as pilot:
        first = start_timer(timer, app, 0.4, lambda: fired.append("first"))
        stopped = start_timer(timer, app, 0.4, lambda: fired.append("stopped"))
        again = start_timer(timer, app, 0.4, lambda: fired.append("again"))
        await timer.until(lambda t: t.deadlines == [0.4, 0.4, 0.4])
        timer.advance(0.3)
        await pilot.pause()
        assert fired == []  # not yet
        stopped.stop()
        again.reset()  # its time starts again from now (0.3)
        await timer.until(lambda t: t.deadlines == [0.4, 0.7])
        timer.advance(0.1)
        await timer.until(lambda t: t.deadlines == [0.7])
        await pilot.pause()
        assert fired == ["first"]
        timer.advance(0.3)
        await timer.until(lambda t: t.waiting == 0)
        await pilot.pause()
        assert fired == ["first", "again"]
        # Run or stopped, a timer does not start again.
        first.reset()
        stopped.reset()
        await pilot.pause()
        assert timer.waiting == 0
        timer.advance(10.0)
        await pilot.pause()
        assert fired == ["first", "again"]
