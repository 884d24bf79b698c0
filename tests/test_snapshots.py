"""Snapshot tests: each pane on the seeded sandbox at the demo time, 160×50.

Update after an intended visual change with ``pytest tests/test_snapshots.py --snapshot-update`` and
look at the new pictures (``screenshots/make.py`` renders the same screens).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import screen_lines

from idp_tui.demo import DEMO_SIZE, PANE_KEYS, demo_app, steady_health, wait_settled

SCREENS = {**{pane: (key,) for pane, key in PANE_KEYS.items()}, "health": ("H",)}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(screen: str, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = demo_app(tmp_path / "data")

    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_settled(app)
        await pilot.press(*SCREENS[screen])
        await wait_settled(app)
        if screen == "health":
            steady_health(app)
            await pilot.pause()
        seen[:] = screen_lines(app)

    seen: list[str] = []
    assert snap_compare(app, terminal_size=DEMO_SIZE, run_before=settle), what_was_seen(seen)


def test_deploy_dialog_at_80x24(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The Deploy dialog to a protected environment in the classic terminal: the versions, the
    name and reason boxes, the status, the buttons and the dialog's own keys, all on screen."""
    app = demo_app(tmp_path / "data")

    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_settled(app)
        app.environment = "production"
        await pilot.pause()
        await pilot.press("d")
        await wait_settled(app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


#: The smallest terminal the README says the dashboard fits.
SMALL = (80, 24)


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_at_80x24(screen: str, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each pane and the health view at 80×24: the columns that matter most, the help and quit
    keys in the footer."""
    app = demo_app(tmp_path / "data")

    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_settled(app)
        await pilot.press(*SCREENS[screen])
        await wait_settled(app)
        if screen == "health":
            steady_health(app)
        await pilot.pause()
        seen[:] = screen_lines(app)

    seen: list[str] = []
    assert snap_compare(app, terminal_size=SMALL, run_before=settle), what_was_seen(seen)


def what_was_seen(lines: list[str]) -> str:
    """The screen as text when a picture differs (the report's HTML is not kept everywhere)."""
    return "the screen was:\n" + "\n".join(lines)
