"""Pilot tests of the action modals, the provisioning form and the Activity screen.

The tests run the app on ``ActingFake`` (``tests/fakes_actions.py``) and check what is drawn
(``screen_lines``), what the action layer recorded (``runtime.actions.runs``), what the source was
asked (``source.seen``) and what the audit log holds. Those about the dashboard's keys and panes
run the whole dashboard (``make_app``); those about a dialog run it over ``DialogHost``
(``tests/dialog_host.py``: the same app with one blank pane), since every frame of a dialog draws
what is under it too. The size is the smallest with the wide and tall layout (140×40), but for the
tests that read the footer (200×50: room for every key). No test here looks at the frames a
headless app would send to a terminal, so none are made: the screen is drawn when a test reads it
(``fakes.paint_on_demand``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, Select, Switch

from idp_tui.api.actions import ActionKind, ActionRequest, ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.hub import ManualTimer
from idp_tui.policy import FreezeWindow, PolicyConfig
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.dialogs import (
    ActionModal,
    ActivityScreen,
    FormField,
    ProvisionModal,
    RunActionModal,
)

from conftest import T0
from fakes import (
    assert_alive,
    click_actions,
    data_settled,
    paint_on_demand,
    poll_until,
    screen_lines,
    widget_lines,
)
from fakes import make_app as make_any_app
from fakes_actions import MARKUP, ActingFake, RunActingFake, acting_config
from dialog_host import host_app, sandbox_dashboard, sandbox_host

#: The wide and tall layout (``IdpApp``'s breakpoints) at the fewest cells: every frame costs
#: its cells, and no test here is about the layout at another size.
SIZE = (140, 40)
#: Wide enough for every key of the footer (the tests that read it).
FOOTER_SIZE = (200, 50)
SECRET = "hunter2-Sup3rSecret"


@pytest.fixture(autouse=True)
def _no_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """No frame is made for a terminal that is not there; the screen is drawn when a test reads
    it (``fakes.paint_on_demand``)."""
    paint_on_demand(monkeypatch)


def make_app(config: Any, data_dir: Path, clock: ManualClock) -> Any:
    """The dashboard on ``config``, without animations (see ``still``)."""
    return still(make_any_app(config, data_dir, clock))


def dialog_app(config: Any, data_dir: Path, clock: ManualClock) -> Any:
    """The app on ``config`` with one blank pane (``DialogHost``), without animations."""
    return still(host_app(config, data_dir, clock))


def still(app: Any) -> Any:
    """``app`` without animations: a scroll or a progress bar ends where it would have ended, at
    once. Each frame on the way would cost the time of a frame (a pilot waits until the app is
    idle) and no test looks at them. Every notification it raises is kept (``notifications``)."""
    app.animation_level = "none"
    told: list[str] = []
    notify = app.notify

    def keep(message: Any, *args: Any, **kwargs: Any) -> None:
        told.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = keep
    app.told = told
    return app


async def wait_until(pilot: Any, predicate: Any, what: str, timeout: float = 15.0, *,
                     idle: bool = False) -> None:
    """Let the app run until ``predicate()`` is true; fail naming ``what`` if it never is.

    Like ``fakes.wait_until``, but between two looks the app runs on its own instead of making
    every widget of the screen handle a message (a pilot pause): that round trip, many times a
    test, cost more than the dialogs' own work. Once it is true, what the app was told by then is
    handled and drawn (``drawn``), or with ``idle`` it runs until it has nothing left to do (a
    pilot's pause: at least 20 ms, for what a change sets off in turn, like the footer's keys).
    The timeout only bounds a broken test.
    """
    await poll_until(predicate, what, timeout, lambda: asyncio.sleep(0.01))
    if idle:
        await pilot.pause()
    else:
        await drawn(pilot)


async def drawn(pilot: Any) -> None:
    """Let every widget of the screen handle what it was sent by now, and what that sent in turn,
    then draw the screen: without waiting for the app to be idle."""
    for _ in range(3):
        await pilot.pause(0)


def screen_text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def flat(app: Any, selector: str) -> str:
    """The words a widget of the active screen shows, as one line (wrapping undone)."""
    widget = app.screen.query_one(selector)
    return " ".join(" ".join(line.split()) for line in widget_lines(app, widget)).strip()


def notifications(app: Any) -> list[str]:
    """The notifications of ``app``: of an app made by ``still``, every one it raised, in order,
    expired or not (a notification expires on the wall clock: a slow machine would lose some);
    of another, the ones still shown."""
    told = getattr(app, "told", None)
    return list(told) if told is not None else [n.message for n in app._notifications]


def audit(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / AUDIT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def source(app: Any) -> ActingFake:
    return app.hub.runners[0].source


def runs(app: Any) -> list[Any]:
    return list(app.runtime.actions.runs.values())


async def settled(pilot: Any, app: Any) -> None:
    await wait_until(pilot, lambda: data_settled(app), "the dashboard's data", idle=True)


async def open_modal(pilot: Any, app: Any, key: str = "d", *, service: str = "alpha",
                     environment: str = "staging") -> ActionModal:
    await settled(pilot, app)
    app.service = service
    app.environment = environment
    await pilot.pause()
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                     and app.screen.plan_result is not None, "the modal's plan")
    return app.screen


def confirm_button(modal: Any) -> Button:
    return modal.query_one("#action-confirm", Button)


async def confirm_and_wait(pilot: Any, app: Any, modal: Any,
                           state: ActionState = ActionState.SUCCEEDED) -> Any:
    # A button ignores clicks while its pressed effect shows (Textual's own debounce).
    await wait_until(pilot, lambda: not confirm_button(modal).has_class("-active"),
                     "the confirm button to be clickable")
    await pilot.click("#action-confirm")
    await wait_until(pilot, lambda: modal.run is not None and modal.run.state is state,
                     f"the action to end {state.value}")
    await pilot.pause()
    return modal.run


async def type_into(pilot: Any, widget: Input, text: str) -> None:
    """Put ``text`` in ``widget`` as if typed: all but its last character at once, the last one
    as a key press (so the field sees a keystroke, at the cost of one key, not one per letter)."""
    widget.focus()
    await drawn(pilot)  # (the focus handled: it selects the text, which action_end undoes)
    widget.value = text[:-1]
    widget.action_end()  # (no selection left from the focus: the key adds to the text)
    if text:
        await pilot.press(text[-1])  # (which waits until the app is idle again)
    else:
        await pilot.pause()


# Deploy, rollback, scale, restart ----------------------------------------------------------------

async def test_deploy_to_staging_shows_the_plan_streams_progress_and_is_audited(
        data_dir: Path, clock: ManualClock) -> None:
    app = make_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        text = screen_text(app)
        # Service preselected, the current environment, versions newest first with the current one.
        assert "Deploy alpha" in text
        assert modal.query_one("#action-env", Select).value == "staging"
        versions = modal.query_one("#action-versions")
        assert versions.keys == ["1.3.0", "1.2.0", "1.1.0"]
        assert "1.2.0 ●" in text and "c0ffee0" in text and "2026-11-25 12:00" in text
        # What changes: current → target, the changes (markup shown as typed), the policy.
        assert "1.2.0  →  1.3.0" in text
        assert f"fix parsing of {MARKUP}" in text
        assert "✔ allowed" in text
        assert not click_actions(app)
        # Another version: the plan follows the cursor.
        versions.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: modal.plan_result is not None and modal.plan_result.plan
                         is not None and modal.plan_result.plan.target_version == "1.2.0",
                         "the plan for 1.2.0")
        assert "(already running)" in screen_text(app)
        assert "Target runs in  staging" in screen_text(app)
        await pilot.press("up")
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and modal.plan_result.plan is not None
                         and modal.plan_result.plan.target_version == "1.3.0", "back to 1.3.0")
        assert not confirm_button(modal).disabled
        run = await confirm_and_wait(pilot, app, modal)
        text = screen_text(app)
        assert "✔ succeeded" in text and "deploy alpha 1.3.0 in staging" in text
        assert "instance 3/3 updated" in text and "health checks passed" in text
        assert "100%" in text
        assert not confirm_button(modal).display
        (request,) = source(app).seen
        assert (request.kind, request.service, request.environment, request.version) == \
            (ActionKind.DEPLOY, "alpha", "staging", "1.3.0")
        assert request.id == run.id == modal.request_id
        records = audit(data_dir)
        assert [r["phase"] for r in records] == ["started", "finished"]
        assert records[1]["outcome"] == "succeeded"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ActionModal), "the modal closed")
        assert any("deploy alpha 1.3.0 in staging: succeeded" in m for m in notifications(app))
        assert_alive(app)


async def test_production_is_refused_until_its_name_is_typed_and_a_reason_given(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, environment="production")
        decision = modal.plan_result.decision
        assert decision is not None and decision.needs_confirmation and not decision.allowed
        assert "needs typed confirmation" in screen_text(app)
        name = modal.query_one("#confirm-name", Input)
        reason = modal.query_one("#confirm-reason", Input)
        assert name.display and confirm_button(modal).disabled
        assert "Type production in the box above to confirm." in screen_text(app)
        # A wrong name keeps confirm disabled, with or without a reason.
        await type_into(pilot, name, "prod")
        await type_into(pilot, reason, "INC-42 hotfix")
        assert confirm_button(modal).disabled
        modal.confirm()  # pressing anyway (e.g. a stale click) starts nothing
        await pilot.pause()
        assert runs(app) == [] and audit(data_dir) == []
        # The right name without a reason: still disabled.
        await type_into(pilot, name, "production")
        await type_into(pilot, reason, "")
        assert confirm_button(modal).disabled
        assert "Give a reason" in screen_text(app)
        await type_into(pilot, reason, "INC-42 hotfix")
        assert not confirm_button(modal).disabled
        run = await confirm_and_wait(pilot, app, modal)
        assert run.request.environment == "production"
        started = audit(data_dir)[0]
        assert started["phase"] == "started" and started["reason"] == "INC-42 hotfix"
        assert started["decision"]["rule"] == "protected" and started["decision"]["allowed"]
        assert source(app).seen[0].confirmation == "production"
        assert_alive(app)


async def test_switching_the_target_environment_in_the_modal_asks_for_confirmation(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        assert not modal.query_one("#confirm-name", Input).display
        modal.query_one("#action-env", Select).value = "production"
        await wait_until(pilot, lambda: modal.environment == "production"
                         and modal.plan_result is not None, "the plan for production")
        assert modal.query_one("#confirm-name", Input).display
        assert confirm_button(modal).disabled
        assert "1.1.0  →  1.3.0" in screen_text(app)
        assert_alive(app)


async def test_the_first_plan_is_asked_at_once_and_a_moving_cursor_waits_to_settle(
        data_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # However long a moving cursor must rest, the form's first plan does not wait for it.
    monkeypatch.setattr(ActionModal, "settle_delay", 3600.0)
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        assert modal.plan_result.plan.target_version == "1.3.0"
        modal.query_one("#action-versions").focus()
        await pilot.press("down")
        assert modal.version == "1.2.0" and modal.plan_result is None
        assert "Working out what changes…" in flat(app, "#action-status")
        assert confirm_button(modal).disabled
        assert_alive(app)


async def test_a_freeze_window_shows_the_policy_message_and_blocks_deploys(
        data_dir: Path, clock: ManualClock) -> None:
    window = FreezeWindow(environments=["staging"], start=T0 - timedelta(hours=1),
                          end=T0 + timedelta(hours=2), reason="release freeze")
    app = dialog_app(acting_config(policy=PolicyConfig(freeze=[window])), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        message = "staging is frozen for deploys until 2026-11-25 16:00 UTC (release freeze)."
        assert modal.plan_result.decision.message == message
        await pilot.pause()
        assert f"✖ denied (freeze): {message}" in flat(app, "#action-plan")
        assert f"✖ denied: {message}" in flat(app, "#action-status")
        assert confirm_button(modal).disabled
        modal.confirm()
        await pilot.pause()
        assert runs(app) == [] and source(app).seen == []
        await pilot.press("escape")
        # Rollbacks stay possible during a freeze.
        await wait_until(pilot, lambda: not isinstance(app.screen, ActionModal), "closed")
        rollback = await open_modal(pilot, app, "R")
        assert rollback.kind is ActionKind.ROLLBACK
        assert "✔ allowed" in screen_text(app)
        assert "1.2.0  →  1.1.0" in screen_text(app)
        run = await confirm_and_wait(pilot, app, rollback)
        assert run.request.kind is ActionKind.ROLLBACK and run.request.version is None
        assert_alive(app)


async def test_a_denial_at_submit_is_shown_and_a_retry_is_a_new_request(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        first_id = modal.request_id
        # A freeze that starts between the plan and the confirmation: the hub decides.
        window = FreezeWindow(environments=["staging"], start=T0 - timedelta(minutes=1),
                              end=T0 + timedelta(hours=1), reason="incident")
        manager = app.runtime.actions
        manager.policy = PolicyConfig(freeze=[window])
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: "denied" in flat(app, "#action-status"), "the denial")
        assert "staging is frozen for deploys until" in flat(app, "#action-status")
        (denied,) = runs(app)
        assert denied.state is ActionState.DENIED and denied.id == first_id
        assert modal.run is None and modal.request_id != first_id
        assert source(app).seen == []
        assert [r["phase"] for r in audit(data_dir)] == ["denied"]
        # The freeze is lifted: the same modal can try again, as a new request.
        manager.policy = PolicyConfig()
        assert not confirm_button(modal).disabled
        run = await confirm_and_wait(pilot, app, modal)
        assert run.id == modal.request_id != first_id
        assert len(source(app).seen) == 1
        assert_alive(app)


@pytest.mark.parametrize("where", ["policy", "source"])
async def test_read_only_disables_every_action_and_says_why(where: str, data_dir: Path,
                                                            clock: ManualClock) -> None:
    config = acting_config(policy=PolicyConfig(read_only=True)) if where == "policy" \
        else acting_config(read_only=True)
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app)
        for key in ("d", "R", "plus", "r", "p"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0], key
        messages = notifications(app)
        assert len(messages) == 5 and all(m.startswith("read-only: ") for m in messages)
        expected = "running read-only" if where == "policy" \
            else "source acts is configured read-only"
        assert expected in messages[0]
        # The footer shows them disabled; the Activity screen stays available.
        active = app.screen.active_bindings
        assert not active["d"].enabled and not active["p"].enabled
        assert active["A"].enabled
        # The `:` bar and the palette's entries are refused the same way.
        app.run_app_action("deploy")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert runs(app) == [] and audit(data_dir) == []
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        assert "No action yet in this session" in screen_text(app)
        assert_alive(app)


async def test_no_action_bindings_without_a_source_that_acts(data_dir: Path,
                                                             clock: ManualClock) -> None:
    from fakes import StaticSource, app_config, spec

    app = make_app(app_config(spec("static", StaticSource)), data_dir, clock)
    async with app.run_test(size=FOOTER_SIZE) as pilot:
        await settled(pilot, app)
        active = app.screen.active_bindings
        assert "d" not in active and "p" not in active and "A" not in active
        assert "Deploy" not in screen_lines(app)[-1]
        await pilot.press("d")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert_alive(app)


async def test_double_confirm_starts_exactly_one_action(data_dir: Path,
                                                        clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app)
        button = confirm_button(modal)
        button.press()
        button.press()
        modal.confirm()
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the action to end")
        await pilot.press("enter", "enter")
        await pilot.pause()
        assert len(runs(app)) == 1 and len(source(app).seen) == 1
        assert [r["phase"] for r in audit(data_dir)] == ["started", "finished"]
        assert_alive(app)


async def test_closing_keeps_the_run_and_reopening_shows_its_events(data_dir: Path,
                                                                    clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, service="slow")
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and len(modal.run.events) == 2,
                         "two events")
        run = modal.run
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the modal closed")
        assert run.state is ActionState.RUNNING
        # `d` again on the same service shows the running action, not a new form.
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal), "the modal again")
        again = app.screen
        assert again is not modal and again.run is run and again.request_id == run.id
        await wait_until(pilot, lambda: "instance 2/3 updated" in screen_text(app), "the events")
        text = screen_text(app)
        assert "instance 1/3 updated" in text and "▶ running" in text
        assert not again.query("#action-env")  # no form: the action is already on its way
        await pilot.press("escape")
        # The Activity screen lists it and opens it too.
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed again")
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        activity = app.screen
        await wait_until(pilot, lambda: "instance 2/3 updated" in screen_text(app),
                         "the events in the activity screen")
        assert "deploy slow 1.3.0 in staging" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal), "opened from activity")
        reopened = app.screen
        assert reopened.run is run
        source(app).gate.set()
        await wait_until(pilot, lambda: run.state is ActionState.SUCCEEDED, "the end")
        await wait_until(pilot, lambda: "✔ succeeded" in screen_text(app), "success drawn")
        assert "health checks passed" in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is activity, "back to activity")
        await wait_until(pilot, lambda: "✔ succeeded" in screen_text(app), "activity updated")
        assert len(runs(app)) == 1 and len(source(app).seen) == 1
        assert_alive(app)


async def test_cancel_a_running_action(data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, service="slow")
        assert "can be cancelled" in screen_text(app)
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and len(modal.run.events) == 2,
                         "two events")
        cancel = modal.query_one("#action-cancel", Button)
        assert cancel.display
        await pilot.click("#action-cancel")
        await wait_until(pilot, lambda: modal.run.state is ActionState.CANCELLED, "cancelled")
        await wait_until(pilot, lambda: "⊘ cancelled" in screen_text(app), "cancel drawn")
        assert "cancelled by the user" in screen_text(app)
        assert not cancel.display
        assert audit(data_dir)[-1]["outcome"] == "cancelled"
        assert_alive(app)


async def test_an_action_that_cannot_be_cancelled_offers_no_cancel(data_dir: Path,
                                                                   clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, service="held")
        assert "cannot be cancelled once started" in screen_text(app)
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and len(modal.run.events) == 2,
                         "the run, held after two events")
        assert not modal.query_one("#action-cancel", Button).display
        await pilot.press("c")  # the key does nothing either
        await pilot.pause()
        assert modal.run.state is ActionState.RUNNING
        source(app).gate.set()
        await wait_until(pilot, lambda: modal.run.state.finished, "the end")
        assert modal.run.state is ActionState.SUCCEEDED
        assert_alive(app)


async def test_a_hanging_action_fails_with_a_timeout_and_the_ui_stays_usable(
        data_dir: Path, clock: ManualClock) -> None:
    app = make_app(acting_config(policy=PolicyConfig(action_timeout=2.5)), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, service="hang")
        # The deadline's time moves when the test says so.
        timer = app.runtime.actions.timer = ManualTimer()
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None, "the run")
        run = modal.run
        # Meanwhile the dashboard answers keys.
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed")
        await pilot.press("2")
        await wait_until(pilot, lambda: app.query_one("#panes").active == "envs", "envs pane")
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await timer.until(lambda t: t.deadlines == [2.5])
        assert run.state is ActionState.RUNNING  # all this while the source hangs
        timer.advance(2.5)
        await wait_until(pilot, lambda: run.state is ActionState.FAILED, "the timeout")
        await wait_until(pilot, lambda: "✖ failed" in screen_text(app), "failure drawn")
        assert "timed out after 2.5 s" in flat(app, "#activity-progress .run-error")
        assert audit(data_dir)[-1]["outcome"] == "failed"
        # Still usable afterwards: `d` opens a new form (the failed run is not "running").
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "activity closed")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and app.screen.run is None, "a new deploy form")
        assert_alive(app)


async def test_a_raising_action_fails_with_its_message_shown_literally(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, service="boom")
        run = await confirm_and_wait(pilot, app, modal, ActionState.FAILED)
        assert "deployer exploded" in (run.error or "")
        assert "✖ failed" in screen_text(app)
        assert f"deployer exploded {MARKUP}" in flat(app, "#action-progress .run-error")
        assert not click_actions(app)
        assert audit(data_dir)[-1]["outcome"] == "failed"
        assert_alive(app)


async def test_scale_validates_the_replicas(data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, "plus")
        assert modal.kind is ActionKind.SCALE
        replicas = modal.query_one("#action-replicas", Input)
        assert replicas.value == "1"  # the current desired replicas
        for value, error in (("", "give a number of replicas"),
                             ("20000", "replicas must be between 0 and 10,000"),
                             ("-1", "replicas must be between 0 and 10,000")):
            await type_into(pilot, replicas, value)
            await wait_until(pilot, lambda: error in screen_text(app), f"the error for {value!r}")
            assert confirm_button(modal).disabled
        await type_into(pilot, replicas, "3")
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and not confirm_button(modal).disabled, "a plan for 3")
        run = await confirm_and_wait(pilot, app, modal)
        assert run.request.replicas == 3 and source(app).seen[0].replicas == 3
        assert "scale alpha to 3 in staging" in screen_text(app)
        assert_alive(app)


async def test_restart_runs_the_same_flow(data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_modal(pilot, app, "r")
        assert modal.kind is ActionKind.RESTART and "Restart alpha" in screen_text(app)
        run = await confirm_and_wait(pilot, app, modal)
        assert run.request.kind is ActionKind.RESTART
        assert_alive(app)


async def test_action_bindings_have_ids_and_are_listed(data_dir: Path, clock: ManualClock) -> None:
    app = make_app(acting_config(), data_dir, clock)
    async with app.run_test(size=FOOTER_SIZE) as pilot:
        await settled(pilot, app)
        ids = {b.id for b in app.BINDINGS}
        assert {"action.deploy", "action.rollback", "action.scale", "action.restart",
                "action.provision", "app.activity"} <= ids
        for screen_cls in (ActionModal, ProvisionModal, ActivityScreen):
            for binding in screen_cls.BINDINGS:
                assert binding.id, (screen_cls.__name__, binding)
        footer = screen_lines(app)[-1]
        assert "d Deploy" in footer and "p Provision" in footer and "A Activity" in footer
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "action.deploy" in screen_text(app), "the keys screen")
        assert "app.activity" in screen_text(app)
        await pilot.press("escape")
        # The command palette offers them too.
        from idp_tui.ui.app import IdpCommands

        titles = [title for title, _, _ in IdpCommands(app.screen)._commands()]
        assert {"Deploy…", "Roll back…", "Scale…", "Restart…", "Provision…",
                "Activity"} <= set(titles)
        app.run_command("activity")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), ":activity")
        assert_alive(app)


async def test_the_pipeline_keys_come_from_the_action_table_and_their_dialog_is_centred(
        data_dir: Path, clock: ManualClock) -> None:
    from idp_tui.actionspec import pane_specs
    from idp_tui.ui.panes import PipelinesPane

    # Each run-targeted row of the table is a key of the pane, with the row's key and binding id.
    bindings = {b.id: (b.key, b.action, b.description) for b in PipelinesPane.BINDINGS}
    rows = pane_specs("pipelines")
    assert {r.binding_id for r in rows} == {
        "pipelines.rerun", "pipelines.cancel", "pipelines.rerun_all", "pipelines.rerun_job",
        "pipelines.approve", "pipelines.reject", "pipelines.dispatch"}
    for row in rows:
        assert bindings[row.binding_id] == (row.key, f"act('{row.name}')", row.label)
    app = make_app(acting_config(cls=RunActingFake), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app)
        app.service = "alpha"
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        await wait_until(pilot, lambda: app.current_pane is pane and pane.detail is not None
                         and pane.detail.service == "alpha", "alpha's run in Pipelines")
        assert "F re-run failed · X cancel run" in flat(app, "#pipelines-status")
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the cancel dialog's plan")
        modal = app.screen
        assert modal.kind is ActionKind.CANCEL and "Cancel run alpha" in screen_text(app)
        # Centred like every other dialog.
        box, whole = modal.query_one("#action-dialog").region, modal.region
        assert abs((box.x - whole.x) - (whole.right - box.right)) <= 1
        assert abs((box.y - whole.y) - (whole.bottom - box.bottom)) <= 1
        run = await confirm_and_wait(pilot, app, modal)
        (request,) = source(app).seen
        assert (request.kind, request.run_id) == (ActionKind.CANCEL, pane.detail.id) == \
            (run.request.kind, run.request.run_id)
        assert [r["phase"] for r in audit(data_dir)] == ["started", "finished"]
        assert_alive(app)


# Provisioning ------------------------------------------------------------------------------------

async def open_template(pilot: Any, app: Any, title: str = "Everything") -> ProvisionModal:
    await settled(pilot, app)
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal)
                     and app.screen.is_settled() and "Everything" in screen_text(app),
                     "the templates")
    modal: ProvisionModal = app.screen
    text = screen_text(app)
    assert "Everything" in text and "a template with every field type" in text and "bucket" in text
    index = [e.template.title for e in modal.templates].index(title)
    table = modal.query_one("#provision-templates")
    table.focus()
    table.move_cursor(row=index)
    await pilot.press("enter")
    await wait_until(pilot, lambda: modal.entry is not None and modal.is_settled(), "the form")
    return modal


def field(modal: ProvisionModal, name: str) -> FormField:
    (found,) = [f for f in modal.fields if f.spec.name == name]
    return found


async def field_text(pilot: Any, modal: ProvisionModal, name: str, part: str = "") -> str:
    """What a field's row (or its ``part``) shows, scrolled into view, as one line."""
    app = pilot.app
    row = field(modal, name)
    modal.query_one("#provision-form").scroll_to_widget(row, animate=False, immediate=True)
    await pilot.pause()
    widget = row.query_one(part) if part else row
    return " ".join(" ".join(line.split()) for line in widget_lines(app, widget)).strip()


async def field_error(pilot: Any, modal: ProvisionModal, name: str) -> str:
    """The error drawn under a field's control (scrolled into view first), or ""."""
    app = pilot.app
    error = field(modal, name).query_one(".field-error")
    if not error.display:
        return ""
    modal.query_one("#provision-form").scroll_to_widget(field(modal, name), animate=False,
                                                         immediate=True)
    await pilot.pause()
    return " ".join(" ".join(line.split()) for line in widget_lines(app, error)).strip()


async def fill(pilot: Any, modal: ProvisionModal, name: str, text: str) -> None:
    control = field(modal, name).control
    assert isinstance(control, Input)
    await type_into(pilot, control, text)


async def test_the_form_renders_every_field_type(data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_template(pilot, app)
        kinds = {f.spec.name: (f.spec.kind, type(f.control).__name__) for f in modal.fields}
        assert kinds == {
            "name": ("string", "Input"), "replicas": ("integer", "Input"),
            "ratio": ("number", "Input"), "size": ("enum", "Select"),
            "tier": ("enum", "Select"), "public": ("boolean", "Switch"),
            "note": ("string", "Input"), "password": ("secret", "Input"),
        }
        assert field(modal, "replicas").control.type == "integer"
        assert field(modal, "ratio").control.type == "number"
        assert field(modal, "password").control.password
        assert field(modal, "size").control.value == "small"
        assert field(modal, "tier").control.value == "dev"
        assert field(modal, "public").control.value is False
        # Labels from titles, required marks, bounds and descriptions.
        assert await field_text(pilot, modal, "name", ".form-label-column") == \
            "Name * lower-case letters, digits and dashes"
        assert await field_text(pilot, modal, "replicas", ".form-label") == \
            "Replicas (whole number, 1–5)"
        assert await field_text(pilot, modal, "ratio", ".form-label-column") == \
            "Ratio (number, 0–1) share of traffic, 0 to 1"
        assert await field_text(pilot, modal, "password", ".form-label-column") == \
            "Password * (secret, hidden) the admin password"
        assert "small" in await field_text(pilot, modal, "size")
        # Nothing is flagged before the user has typed.
        assert not [f for f in modal.fields if await field_error(pilot, modal, f.spec.name)]
        assert_alive(app)


async def test_validation_errors_appear_next_to_each_field(data_dir: Path,
                                                           clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_template(pilot, app)
        await fill(pilot, modal, "name", "A!")
        await fill(pilot, modal, "replicas", "9")
        await fill(pilot, modal, "ratio", "2.5")
        await fill(pilot, modal, "password", "short")
        await pilot.pause()
        assert "String should match pattern" in await field_error(pilot, modal, "name") or \
            "at least 3 characters" in await field_error(pilot, modal, "name")
        assert "less than or equal to 5" in await field_error(pilot, modal, "replicas")
        assert "less than or equal to 1" in await field_error(pilot, modal, "ratio")
        assert "at least 8" in await field_error(pilot, modal, "password")
        assert await field_error(pilot, modal, "size") == ""
        assert confirm_button(modal).disabled
        # Each error is drawn inside its own field, right under its control.
        for name in ("name", "replicas", "ratio", "password"):
            form_field = field(modal, name)
            error = form_field.query_one(".field-error")
            assert error.region.y > form_field.control.region.y
            assert form_field.region.contains_region(error.region)
            assert form_field.has_class("-invalid")
        # The enum: back to blank is not offered (it has a default); a required one would be.
        field(modal, "size").control.value = "large"
        field(modal, "public").control.value = True
        await fill(pilot, modal, "name", "db-one")
        await fill(pilot, modal, "replicas", "2")
        await fill(pilot, modal, "ratio", "0.25")
        await fill(pilot, modal, "password", SECRET)
        await pilot.pause()
        assert not [f for f in modal.fields if await field_error(pilot, modal, f.spec.name)]
        assert not confirm_button(modal).disabled
        assert modal.validate_form() == {"name": "db-one", "replicas": 2, "ratio": 0.25,
                                         "size": "large", "tier": "dev", "public": True,
                                         "password": SECRET}
        # A required field left empty is flagged when the user tries to run.
        await fill(pilot, modal, "name", "")
        await pilot.click("#action-confirm")
        await pilot.pause()
        assert "Field required" in await field_error(pilot, modal, "name")
        assert runs(app) == []
        assert_alive(app)


async def test_dry_run_shows_what_will_be_created_then_run_creates_it(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_template(pilot, app)
        # A dry run with invalid values shows the errors and asks nothing.
        await pilot.click("#provision-dry-run")
        await pilot.pause()
        assert "Field required" in await field_error(pilot, modal, "name")
        assert "Fix the fields marked in red first." in screen_text(app)
        await fill(pilot, modal, "name", "db-one")
        await fill(pilot, modal, "password", SECRET)
        await pilot.click("#provision-dry-run")
        await wait_until(pilot, lambda: modal.plan_result is not None, "the dry run")
        text = screen_text(app)
        assert "create full db-one" in text
        assert "Will create (2)" in text and "db-one-db" in text and "db-one-credentials" in text
        assert "size: small" in text and "expires in 24h" in text
        assert "Dry run done: nothing was created." in text
        assert source(app).seen == [] and source(app).provisioned == []
        assert runs(app) == [] and audit(data_dir) == []
        run = await confirm_and_wait(pilot, app, modal)
        assert [r.name for r in source(app).provisioned] == ["db-one"]
        assert run.request.kind is ActionKind.PROVISION and run.request.template == "full"
        assert source(app).seen[0].params["password"] == SECRET
        assert "provision full" in screen_text(app) and "✔ succeeded" in screen_text(app)
        assert [r["phase"] for r in audit(data_dir)] == ["started", "finished"]
        assert_alive(app)


async def test_secrets_never_appear_on_screen_in_the_audit_log_or_notifications(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    shown: list[str] = []

    def look() -> None:
        shown.append(screen_text(app))
        shown.append(app.export_screenshot())

    async with app.run_test(size=SIZE) as pilot:
        modal = await open_template(pilot, app)
        await fill(pilot, modal, "name", "db-one")
        await fill(pilot, modal, "password", SECRET)
        look()
        await pilot.click("#provision-dry-run")
        await wait_until(pilot, lambda: modal.plan_result is not None, "the dry run")
        look()
        run = await confirm_and_wait(pilot, app, modal)
        look()
        # Once the source has it, the form does not keep it.
        assert field(modal, "password").control.value == ""
        assert SECRET not in repr(run.request)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed")
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: "password" in screen_text(app), "the parameters")
        text = screen_text(app)
        assert "***" in text and "db-one" in text
        look()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal), "reopened")
        await pilot.pause()
        look()
        assert source(app).seen[0].params["password"] == SECRET  # it did reach the source
        for picture in shown:
            assert SECRET not in picture
            assert "hunter2" not in picture
        assert SECRET not in (data_dir / AUDIT_FILE).read_text()
        assert all(SECRET not in m for m in notifications(app))
        assert_alive(app)


async def test_a_validator_echoing_the_secret_is_shown_without_it(
        data_dir: Path, clock: ManualClock) -> None:
    app = dialog_app(acting_config(), data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_template(pilot, app, "Echo")
        await fill(pilot, modal, "token", SECRET)
        await pilot.pause()
        error = await field_error(pilot, modal, "token")
        assert "token *** is revoked" in error
        assert SECRET not in screen_text(app) and SECRET not in app.export_screenshot()
        assert_alive(app)


# On the sandbox ----------------------------------------------------------------------------------

async def test_deploy_and_provision_on_the_sandbox(tmp_path: Path) -> None:
    app = still(sandbox_host(tmp_path / "demo", action_speed=100_000))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot, app)
        service = app.service
        modal = await open_modal(pilot, app, service=service, environment="staging")
        assert modal.versions and modal.version == modal.versions[0].version
        target = modal.version
        assert target is not None
        run = await confirm_and_wait(pilot, app, modal)
        assert run.events and run.progress is not None
        await wait_until(pilot, lambda: app.platform.deployments[(service, "staging")].version
                         == target, "the new version in the environments")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed")
        # Production asks for the name and a reason, as everywhere.
        prod = await open_modal(pilot, app, service=service, environment="production")
        assert prod.plan_result.decision.needs_confirmation
        assert confirm_button(prod).disabled
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed again")
        # Every sandbox template renders as a form without errors before anything is typed.
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal)
                         and app.screen.templates is not None, "the sandbox's templates")
        provision: ProvisionModal = app.screen
        assert len(provision.templates) >= 5
        for entry in provision.templates:
            provision.choose(entry)
            await wait_until(pilot, lambda e=entry: provision.entry is e and provision.fields,
                             f"the form of {entry.template.name}")
            assert not [f for f in provision.fields
                        if await field_error(pilot, provision, f.spec.name)]
        assert_alive(app)


async def test_provisioned_resources_show_in_the_catalog_detail(tmp_path: Path) -> None:
    from idp_tui.demo import wait_settled
    from idp_tui.ui.panes import CatalogPane

    app = still(sandbox_dashboard(tmp_path / "data", action_speed=100_000))
    async with app.run_test(size=SIZE) as pilot:
        await wait_settled(app)
        service = app.service
        assert service is not None
        request = ActionRequest(id="db-1", kind=ActionKind.PROVISION, template="postgres",
                                params={"service": service, "environment": "dev",
                                        "admin_password": "correct-horse-42"})
        run = await app.runtime.actions.submit(request)
        await app.runtime.actions.wait(run.id)
        assert run.state is ActionState.SUCCEEDED, run.error
        pane = app.query_one(CatalogPane)
        await wait_until(pilot, lambda: any(r.service == service for r in app.resources),
                         "the new database in the shared resources")
        detail = pane.detail_text(app.service_record(service)).plain
        assert "Resources" in detail
        assert f"database {service}-db in dev  ready" in detail
        assert "correct-horse-42" not in detail


async def test_the_dialogs_fit_an_80_by_24_terminal(tmp_path: Path) -> None:
    # The classic terminal size: the versions can be chosen, every field and button can be
    # reached (the form scrolls to what has focus), a form's controls keep a usable width.
    app = still(sandbox_host(tmp_path / "demo"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot, app)
        modal = await open_modal(pilot, app, service=app.service, environment="production")
        versions = modal.query_one("#action-versions").region
        assert versions.height >= 6 and versions.width >= 30
        form = modal.query_one("#action-form")
        for selector in ("#confirm-name", "#confirm-reason", "#action-close"):
            widget = modal.query_one(selector)
            widget.focus()
            await wait_until(pilot, lambda w=widget: w.region.height > 0
                             and form.region.contains_region(w.region), f"{selector} in view")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed")

        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal)
                         and app.screen.templates is not None, "the templates")
        provision: ProvisionModal = app.screen
        entry = next(e for e in provision.templates if e.template.name == "postgres")
        provision.choose(entry)
        await wait_until(pilot, lambda: provision.entry is entry and provision.fields, "the form")
        await pilot.pause()
        for field in provision.query(FormField):
            control = field.query_one(f"#form-control-{field.index}")
            control.focus()
            box = provision.query_one("#provision-form")
            await wait_until(pilot, lambda c=control: box.region.contains_region(c.region),
                             f"{field.spec.name} in view")
            assert control.region.width >= 8, field.spec.name  # a switch is 8 wide


async def test_the_events_view_draws_lines_follows_and_is_bounded() -> None:
    from rich.text import Text
    from textual.app import App, ComposeResult

    from idp_tui import render
    from idp_tui.ui.dialogs import EventLines

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield EventLines(max_lines=50)

    app = still(Host())
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(EventLines)
        view.write_lines([render.text(f"event {i} [/] [@click=app.quit]x") for i in range(30)])
        await pilot.pause()
        shown = [view.render_line(y).text for y in range(view.size.height)]
        assert shown[-1].startswith("event 29 [/] [@click=app.quit]x")  # the newest, as text
        # Scrolled up (keys), it stays there as lines arrive; at the end, it follows again.
        view.focus()
        await pilot.press("home")
        await pilot.pause()
        view.write(Text("event 30"))
        await pilot.pause()
        assert view.render_line(0).text.startswith("event 0 ")
        await pilot.press("end")
        await pilot.pause()
        view.write_lines([Text(f"event {i}") for i in range(31, 80)])
        await pilot.pause()
        assert len(view.lines) == 50 and view.lines[0].plain == "event 30"
        assert view.render_line(view.size.height - 1).text.startswith("event 79")
        # A long event wraps to the width (none of it is cut).
        view.write(Text("y" * 100))
        await pilot.pause()
        width = view.scrollable_content_region.width
        rows = [view.render_line(y).text.rstrip() for y in range(view.size.height)]
        tail = [row for row in rows if row.startswith("y")]
        assert "".join(tail) == "y" * 100 and all(len(row) <= width for row in tail)
        assert len(tail) == -(-100 // width)
        assert app.is_running
