"""Recovery as the dashboard shows it: two clusters (kmock behind gates, tests/test_recovery.py),
one down then back. While it is down the Environments pane's banner says "k8s unreachable" and its
cells are "?"; once it is back, one refresh of the hub (its timer advanced, the watches' own pause
is ten minutes here) clears the banner and shows what runs there again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_recovery import (  # noqa: F401 - fixtures
    TRANSIENT_RETRY,
    clusters,
    slow_own_retries,
    two_cluster_dashboard,
)

from idp_tui.hub import ManualTimer
from idp_tui.ui.app import IdpApp

from fakes import assert_alive, screen_lines, wait_until, widget_text


def cart_row(app: IdpApp) -> str:
    return next((line for line in screen_lines(app) if line.lstrip("│ ").startswith("cart ")), "")


def banner(app: IdpApp) -> str:
    """The Environments pane's banner of failing sources, "" when hidden."""
    widget = app.query_one("#envs-errors")
    return widget_text(app, widget) if widget.display else ""


def everything(app: IdpApp) -> str:
    return "\n".join(screen_lines(app))


async def advancing(pilot: Any, timer: ManualTimer, condition: Any, what: str, *,
                    most: float) -> None:
    """Until ``condition()``, moving the hub's timer on by at most ``most`` seconds in all."""
    moved = 0.0

    def step() -> bool:
        nonlocal moved
        if condition():
            return True
        if timer.waiting and moved < most:
            timer.advance(0.25)
            moved += 0.25
        return False

    await wait_until(pilot, step, what)


async def test_the_environments_pane_shows_a_cluster_back_within_one_refresh(
        tmp_path: Path, clusters: Any, slow_own_retries: None) -> None:  # noqa: F811
    us_gate = clusters[3]
    app, timer = two_cluster_dashboard(tmp_path, clusters)
    async with app.run_test(size=(160, 50)) as pilot:
        # (a first answer slower than the source's timeout on a busy machine is asked again)
        await advancing(pilot, timer, lambda: app.platform is not None
                        and len(app.platform.deployments) == 2, "both clusters' workloads",
                        most=60.0)
        await pilot.press("2")
        await wait_until(pilot, lambda: "1.3.2" in cart_row(app) and "1.4.0" in cart_row(app),
                         "both cells")
        await wait_until(pilot, lambda: banner(app) == "", "no banner")

        # us-1 goes down: production's cell is "?", the banner says the source is unreachable.
        us_gate.close()
        await advancing(pilot, timer, lambda: "k8s unreachable" in banner(app),
                        "the banner", most=2.0)
        await wait_until(pilot, lambda: "?" in cart_row(app), "production's cell unknown")
        assert "1.4.0" in cart_row(app)  # staging's cluster is fine

        # Back: one refresh shows it (and the change it brings, within the hub's gap).
        us_gate.open()
        await timer.until_waiting()
        timer.advance(TRANSIENT_RETRY)
        await advancing(pilot, timer, lambda: banner(app) == "" and "?" not in cart_row(app)
                        and "1.3.2" in cart_row(app), "the cluster shown back", most=1.0)
        assert "unreachable" not in everything(app)  # the sources line too
        assert app.hub.health["k8s"].parts["us-1"].state == "ok"
        assert_alive(app)
