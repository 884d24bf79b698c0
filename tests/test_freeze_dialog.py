"""The Roll back dialog refuses what the command refuses (issue 14, item 1): a rollback that brings
code new to the environment, or newer than what runs, is a deploy, and a freeze window stops it.

The dialog's rollback goes to the source's previous version. After a rollback, that previous
version is the newer one just taken out: pressing R again would bring it back during a freeze.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.widgets import Button

from idp_tui.api.actions import ActionKind, ActionPlan, ActionRequest, ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.policy import FreezeWindow, PolicyConfig
from idp_tui.ui.dialogs import ActionModal

from conftest import T0
from fakes import app_config, data_settled, spec, widget_lines
from fakes import make_app as make_any_app
from fakes_actions import ActingFake

SIZE = (160, 50)
WINDOW = FreezeWindow(environments=["staging"], start=T0 - timedelta(hours=1),
                      end=T0 + timedelta(hours=2), reason="release freeze")
FROZEN = "staging is frozen for deploys until 2026-11-25 16:00 UTC (release freeze)."
EFFECT = "rolling back to 1.3.0, newer than 1.2.0 running in staging now, is a deploy"


class RolledBackFake(ActingFake):
    """``ActingFake`` just after a rollback in staging from 1.3.0 to 1.2.0: its previous version
    there (what a rollback without a version goes to) is 1.3.0."""

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        plan = await super().plan_action(request)
        if request.kind is ActionKind.ROLLBACK and request.version is None and \
                request.environment == "staging":
            return plan.model_copy(update={"target_version": "1.3.0"})
        return plan


def make_app(data_dir: Path, clock: ManualClock, policy: PolicyConfig) -> Any:
    config = app_config(spec("acts", RolledBackFake))
    config.policy = policy
    app = make_any_app(config, data_dir, clock)
    app.animation_level = "none"
    return app


async def wait_until(pilot: Any, predicate: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if predicate():
                break
        except Exception:  # noqa: BLE001 - e.g. a widget not mounted yet
            pass
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)
    await pilot.pause()


def flat(app: Any, selector: str) -> str:
    widget = app.screen.query_one(selector)
    return " ".join(" ".join(line.split()) for line in widget_lines(app, widget)).strip()


async def open_rollback(pilot: Any, app: Any) -> ActionModal:
    await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")
    app.service = "alpha"
    app.environment = "staging"
    await pilot.pause()
    await pilot.press("R")
    await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                     and app.screen.plan_result is not None, "the dialog's plan")
    modal = app.screen
    assert modal.kind is ActionKind.ROLLBACK
    return modal


def source(app: Any) -> RolledBackFake:
    return app.hub.runners[0].source


async def test_the_roll_back_dialog_refuses_a_rollback_to_newer_code_in_a_freeze(
        data_dir: Path, clock: ManualClock) -> None:
    app = make_app(data_dir, clock, PolicyConfig(freeze=[WINDOW]))
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_rollback(pilot, app)
        decision = modal.plan_result.decision
        assert decision.message == f"{EFFECT}: {FROZEN}"
        assert (decision.allowed, decision.rule, decision.acts_as) == (False, "freeze", "deploy")
        await pilot.pause()
        plan = flat(app, "#action-plan")
        assert "1.2.0 → 1.3.0" in plan
        assert f"What it does {EFFECT}" in plan
        assert f"✖ denied (freeze): {EFFECT}: {FROZEN}" in plan
        assert f"✖ denied: {EFFECT}" in flat(app, "#action-status")
        assert modal.query_one("#action-confirm", Button).disabled
        modal.confirm()
        await pilot.pause()
        assert list(app.runtime.actions.runs.values()) == []
        assert source(app).seen == []


async def test_the_hub_refuses_it_when_the_freeze_starts_after_the_plan(
        data_dir: Path, clock: ManualClock) -> None:
    app = make_app(data_dir, clock, PolicyConfig())
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_rollback(pilot, app)
        decision = modal.plan_result.decision
        # Outside a freeze it may run, and the dialog says what it is.
        assert decision.allowed and decision.effect == EFFECT
        await pilot.pause()
        assert f"What it does {EFFECT}" in flat(app, "#action-plan")
        button = modal.query_one("#action-confirm", Button)
        assert not button.disabled
        app.runtime.actions.policy = PolicyConfig(freeze=[WINDOW])
        await wait_until(pilot, lambda: not button.has_class("-active"), "a clickable button")
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: "denied" in flat(app, "#action-status"), "the denial")
        assert f"{EFFECT}: {FROZEN}" in flat(app, "#action-status")
        (run,) = app.runtime.actions.runs.values()
        assert run.state is ActionState.DENIED and run.decision.acts_as == "deploy"
        assert source(app).seen == []
