"""Every key the `?` help lists does something on the sandbox: a walk through the help's rows,
pane by pane, at 80×24, pressing each key and looking for what changed (the screen's picture, a
dialog or screen opened, a notification). A key a source cannot serve says so in a notification
naming the source; none is silent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from idp_tui.demo import DEMO_TIME, PANE_KEYS, demo_config, wait_settled
from idp_tui.api.clock import ManualClock
from idp_tui.ui.app import IdpApp
from idp_tui.ui.screens import HelpScreen

from fakes import assert_alive, screen_lines, wait_until

SMALL = (80, 24)
#: Keys not pressed in the walk, and why.
NOT_PRESSED = {
    "app.quit": "ends the app (its own tests)",
    "app.env_previous": "pressed together with e (the next environment), which it undoes",
}
#: Keys whose effect needs a step before them (a row above the cursor, a table scrolled
#: sideways): the key pressed first.
NEEDS = {
    "table.up": "down",
    "table.left": "right",
    "table.first": "down",
    "logview.scroll_left": "right",
    "metrics.up": "down",
}


def notifications(app: IdpApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def bindings_in_help(app: IdpApp) -> dict[str, tuple[str, str]]:
    """Binding id → (the first key that presses it, what the help says it does), as the `?` help
    lists them for what has the focus now."""
    rows = app._binding_rows()  # what HelpScreen shows (its own test checks the screen)
    keys: dict[str, str] = {}
    for node in [app.focused, *app.focused.ancestors] if app.focused else []:
        for binding in getattr(node, "BINDINGS", []):
            if getattr(binding, "id", None) and binding.id not in keys:
                keys[binding.id] = binding.key.split(",")[0].strip()
    pane = app.current_pane
    for node in [pane, *pane.ancestors]:
        for binding in getattr(node, "BINDINGS", []):
            if getattr(binding, "id", None) and binding.id not in keys:
                keys[binding.id] = binding.key.split(",")[0].strip()
    return {bid: (keys[bid], what) for _scope, _keys, what, bid in rows if bid in keys}


async def back_to(app: IdpApp, pilot: Any, pane: str) -> None:
    """The pane shown, nothing over it, its main widget focused."""
    for _ in range(5):
        if len(app.screen_stack) == 1:
            break
        app.pop_screen()
        await pilot.pause()
    if isinstance(app.focused, Input):
        await pilot.press("escape")
    bar = app.query_one("#command-bar")
    bar.display = False
    if app.current_pane.pane_name != pane:
        app.show_pane(pane)
        await wait_until(pilot, lambda: app.current_pane.pane_name == pane, pane)
    app.current_pane.focus_main()
    await pilot.pause()


def picture(app: IdpApp) -> tuple[Any, ...]:
    # (the notifications by identity: one shown as an older one expires is a change too; and
    # every one posted, as one may expire before a busy machine looks: "Refreshing…" lasts 2 s)
    return (tuple(screen_lines(app)), len(app.screen_stack), type(app.screen).__name__,
            tuple(n.identity for n in app._notifications), len(getattr(app, "posted", ())))


def count_notifications(app: IdpApp) -> None:
    """Keep every notification posted in ``app.posted`` (``notify`` still shows it)."""
    posted: list[str] = []
    notify = app.notify

    def counted(message: Any, *args: Any, **kwargs: Any) -> None:
        posted.append(str(message))
        notify(message, *args, **kwargs)

    app.posted = posted  # type: ignore[attr-defined]
    app.notify = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("pane", list(PANE_KEYS))
async def test_every_key_in_the_help_does_something(pane: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(demo_config(data, action_speed=100_000.0), data_dir=data,
                 clock=ManualClock(DEMO_TIME))
    count_notifications(app)
    async with app.run_test(size=SMALL) as pilot:
        await wait_settled(app)
        await back_to(app, pilot, pane)
        await wait_settled(app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.press("escape")
        await back_to(app, pilot, pane)
        listed = bindings_in_help(app)
        assert "app.help" in listed and "app.quit" in listed
        silent: list[str] = []
        for bid, (key, what) in listed.items():
            if bid in NOT_PRESSED:
                continue
            await back_to(app, pilot, pane)
            first = NEEDS.get(bid)
            if bid == f"pane.{pane}":  # the key of the pane shown: pressed from another one
                first = next(k for name, k in PANE_KEYS.items() if name != pane)
            if first:
                await pilot.press(first)
                await pilot.pause()
            before = picture(app)
            await pilot.press(key)
            try:
                await wait_until(pilot, lambda: picture(app) != before, f"{bid}", timeout=2.0)
            except AssertionError:
                silent.append(f"{bid} ({key}: {what})")
            assert_alive(app)
            if bid == "app.env_next":
                await pilot.press("E")
        assert not silent, f"keys that did nothing in {pane}: {silent}"
        # A key the source cannot serve says so, naming it: W (run the workflow again with
        # inputs) applies to every run, and the sandbox has no workflows to run.
        if pane == "pipelines":
            await back_to(app, pilot, pane)
            await pilot.press("W")
            await wait_until(pilot, lambda: any("sandbox cannot" in n for n in notifications(app)),
                             "the sandbox saying it cannot run the workflow")
