"""Four-eyes approvals in the dashboard (issue 18): the requester's dialog waiting live, and the
Approvals screen (``V``) with its count in the top line.

Two identities share one data dir (and so one audit trail), as two people share the
organisation's store: alice asks in her dashboard; bob (and carol) approve or deny from a second
runtime of their own (``ActionManager.vote``, what the Approvals screen calls) or from bob's
dashboard. The clock is a ``ManualClock``; the requester's wait looks at the trail again when the
test moves the action manager's ``ManualTimer`` on, the top line's count when it moves the app's.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.widgets import Input

from idp_tui.actions import APPROVAL_POLL
from idp_tui.api.actions import ActionKind, ActionRequest, ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.approvals import ApprovalRule
from idp_tui.hub import ManualTimer
from idp_tui.policy import PolicyConfig
from idp_tui.runtime import build_runtime
from idp_tui.ui.approvals import POLL, ApprovalsScreen, ReasonDialog, RequestScreen
from idp_tui.ui.dialogs import ActionModal, ActivityScreen

from conftest import T0
from dialog_host import DialogHost
from fakes import assert_alive
from fakes_actions import acting_config
from test_app_actions import (
    SIZE,
    audit,
    confirm_button,
    flat,
    notifications,
    open_modal,
    screen_text,
    source,
    wait_until,
)

SELF_APPROVAL = "a request is approved by someone else, never by the one who asked"


def config(identity: str, *, approvals: int = 1, approvers: tuple[str, ...] = ()) -> Any:
    """The ActingFake source with one rule: staging needs ``approvals`` (from ``approvers``)."""
    rule = ApprovalRule(environments=["staging"], approvals=approvals, approvers=list(approvers),
                        valid_for="24h")
    return acting_config(policy=PolicyConfig(identity=identity, approval=[rule]))


def app_of(identity: str, data_dir: Path, clock: ManualClock, **rule: Any) -> DialogHost:
    app = DialogHost(config(identity, **rule), data_dir=data_dir, clock=clock,
                     timer=ManualTimer())
    app.animation_level = "none"
    return app


async def vote(data_dir: Path, clock: ManualClock, identity: str, request_id: str, phase: str,
               reason: str, **rule: Any) -> Any:
    """``identity`` approves or denies from a session of their own (the same audit trail)."""
    runtime = build_runtime(config(identity, **rule), data_dir=data_dir, clock=clock)
    try:
        return await runtime.actions.vote(request_id, phase, reason)
    finally:
        await runtime.close()


def status(app: Any) -> str:
    return flat(app, "#action-status")


async def ask(pilot: Any, app: Any) -> Any:
    """Open alice's deploy dialog on alpha in staging and ask: the request waits."""
    modal = await open_modal(pilot, app)
    assert "⧗ needs approval: deploy in staging needs" in screen_text(app)
    await wait_until(pilot, lambda: not confirm_button(modal).disabled, "confirm enabled")
    await pilot.click("#action-confirm")
    await wait_until(pilot, lambda: "waiting for approval:" in status(app) and
                     "approvers" in status(app), "the dialog waiting for approval")
    return modal


async def look_again(pilot: Any, app: Any) -> None:
    """Let the requester's session read the audit trail again (its wait's next look)."""
    timer = app.runtime.actions.timer
    await timer.until_waiting()
    timer.advance(APPROVAL_POLL)
    await pilot.pause()


# The requester's dialog --------------------------------------------------------------------------

async def test_the_dialog_waits_for_approval_then_runs_the_action_from_this_session(
        data_dir: Path, clock: ManualClock) -> None:
    app = app_of("alice", data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        app.runtime.actions.timer = ManualTimer()
        modal = await ask(pilot, app)
        text = status(app)
        assert "⧗ waiting for approval: 0 of 1" in text
        assert "approvers anyone but alice" in text
        assert f"until {(T0 + timedelta(hours=24)):%Y-%m-%d %H:%M} UTC" in text
        assert f"request {modal.request_id}" in text
        assert not confirm_button(modal).display
        (requested,) = audit(data_dir)
        assert requested["phase"] == "requested" and requested["actor"] == "alice"
        assert requested["action_id"] == modal.request_id
        assert source(app).seen == []  # nothing ran
        assert any("waiting for approval" in m for m in notifications(app))

        after = await vote(data_dir, clock, "bob", modal.request_id, "approved", "reviewed")
        assert after.state(clock.now()) == "approved"
        await look_again(pilot, app)
        await wait_until(pilot, lambda: modal.run is not None
                         and modal.run.state is ActionState.SUCCEEDED, "the approved run's end")
        text = screen_text(app)
        assert "✔ succeeded" in text and "deploy alpha 1.3.0 in staging" in text
        assert "health checks passed" in text  # its events, as any run's
        (request,) = source(app).seen
        assert request.id == modal.request_id and request.version == "1.3.0"
        records = audit(data_dir)
        assert [(r["phase"], r["actor"]) for r in records] == [
            ("requested", "alice"), ("approved", "bob"), ("started", "alice"),
            ("finished", "alice")]
        assert records[2]["approved"]["approvals"][0]["actor"] == "bob"
        assert records[1]["reason"] == "reviewed"
        assert any("deploy alpha 1.3.0 in staging: succeeded" in m for m in notifications(app))
        assert_alive(app)


async def test_the_dialog_shows_each_approval_live_and_a_denial_with_its_reason(
        data_dir: Path, clock: ManualClock) -> None:
    rule = {"approvals": 2, "approvers": ("bob", "carol")}
    app = app_of("alice", data_dir, clock, **rule)
    async with app.run_test(size=SIZE) as pilot:
        app.runtime.actions.timer = ManualTimer()
        modal = await ask(pilot, app)
        assert "waiting for approval: 0 of 2" in status(app)
        assert "approvers bob, carol" in status(app)
        await vote(data_dir, clock, "bob", modal.request_id, "approved", "fine by me", **rule)
        await look_again(pilot, app)
        await wait_until(pilot, lambda: "waiting for approval: 1 of 2 (bob)" in status(app),
                         "bob's approval in the dialog")
        await vote(data_dir, clock, "carol", modal.request_id, "rejected",
                   "not during the sale", **rule)
        await look_again(pilot, app)
        await wait_until(pilot, lambda: "not run" in status(app), "the denial in the dialog")
        text = status(app)
        assert f"request {modal.request_id} (deploy alpha 1.3.0 in staging) was denied by " \
               "carol: not during the sale" in text
        assert modal.run is not None and modal.run.state is ActionState.DENIED
        assert not confirm_button(modal).display  # the form stays closed
        assert source(app).seen == []
        assert [r["phase"] for r in audit(data_dir)] == ["requested", "approved", "rejected"]
        assert_alive(app)


async def test_a_request_that_expires_while_the_dialog_waits_says_so(
        data_dir: Path, clock: ManualClock) -> None:
    app = app_of("alice", data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        app.runtime.actions.timer = ManualTimer()
        modal = await ask(pilot, app)
        clock.advance(timedelta(hours=24, minutes=1))
        await look_again(pilot, app)
        await wait_until(pilot, lambda: "not run" in status(app), "the expiry in the dialog")
        assert f"request {modal.request_id} (deploy alpha 1.3.0 in staging) expired on " \
               "2026-11-26 14:00 UTC; ask for the action again" in status(app)
        assert source(app).seen == []
        assert [r["phase"] for r in audit(data_dir)] == ["requested"]
        assert_alive(app)


async def test_closed_the_dialog_keeps_waiting_and_the_action_runs_once_approved(
        data_dir: Path, clock: ManualClock) -> None:
    app = app_of("alice", data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        app.runtime.actions.timer = ManualTimer()
        modal = await ask(pilot, app)
        request_id = modal.request_id
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ActionModal), "closed")
        # Reopened (as the Activity screen does), the dialog shows the wait, not a denial.
        app.push_screen(ActionModal.for_run(app.runtime.actions.runs[request_id]))
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and "waiting for approval: 0 of 1" in status(app), "the wait again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ActionModal), "closed again")
        # The Activity screen lists it as the audit trail says: requested, not denied.
        app.action_activity()
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen)
                         and "deploy alpha 1.3.0 in staging" in screen_text(app)
                         and "requested" in screen_text(app), "the request in the Activity")
        assert "denied" not in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ActivityScreen), "closed")
        await vote(data_dir, clock, "bob", request_id, "approved", "ok")
        await look_again(pilot, app)
        await wait_until(pilot, lambda: any("deploy alpha 1.3.0 in staging: succeeded" in m
                                            for m in notifications(app)), "the run's end")
        assert [r["phase"] for r in audit(data_dir)] == ["requested", "approved", "started",
                                                         "finished"]
        assert app.runtime.actions.runs[request_id].state is ActionState.SUCCEEDED
        assert_alive(app)


# The Approvals screen ----------------------------------------------------------------------------

async def request_as(data_dir: Path, clock: ManualClock, identity: str, rid: str) -> None:
    """``identity`` asks for a deploy of alpha in staging from a session of their own."""
    runtime = build_runtime(config(identity), data_dir=data_dir, clock=clock)
    try:
        run = await runtime.actions.submit(ActionRequest(
            id=rid, kind=ActionKind.DEPLOY, service="alpha", environment="staging",
            version="1.3.0", reason="CHG-42"))
        assert run.decision.needs_approval, run.decision.message
    finally:
        await runtime.close()


def top_line(app: Any) -> str:
    return flat(app, "#context-bar") if app.screen is app.screen_stack[0] else \
        " ".join(app.query_one("#context-bar").render().plain.split())


async def give_reason(pilot: Any, app: Any, reason: str) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, ReasonDialog), "the reason dialog")
    field = app.screen.query_one(Input)
    field.value = reason
    await pilot.press("enter")


async def test_the_approvals_screen_lists_counts_and_approves_with_a_reason(
        data_dir: Path, clock: ManualClock) -> None:
    await request_as(data_dir, clock, "alice", "req-1")
    clock.advance(timedelta(minutes=5))
    app = app_of("bob", data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "✋ 1 to approve" in top_line(app),
                         "the count in the top line")
        await pilot.press("V")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and app.screen.selected is not None, "the Approvals screen")
        text = screen_text(app)
        for shown in ("req-1", "pending", "deploy", "alpha", "staging", "alice", "5m00s",
                      "11-26 14:00", "0/1  ← you", "1 you may approve", "you are bob"):
            assert shown in text, shown
        assert "CHG-42" in text and "anyone but alice" in text  # the selected request's detail
        # Enter shows the request whole.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RequestScreen), "the request")
        assert "requested by alice" in " ".join(screen_text(app).split())
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen), "back")
        # A reason is needed.
        await pilot.press("a")
        await give_reason(pilot, app, "  ")
        assert isinstance(app.screen, ReasonDialog)
        assert "A reason is needed" in screen_text(app)
        assert "request req-1" in screen_text(app)  # on its own line, under the title
        await give_reason(pilot, app, "reviewed CHG-42")
        await wait_until(pilot, lambda: any("approved request req-1" in m
                                            for m in notifications(app)), "the approval")
        assert any("it has its 1 approval" in m for m in notifications(app))
        records = audit(data_dir)
        assert [(r["phase"], r["actor"], r.get("reason")) for r in records] == [
            ("requested", "alice", "CHG-42"), ("approved", "bob", "reviewed CHG-42")]
        await wait_until(pilot, lambda: "approved" in flat(app, "#approvals-table")
                         and "0 you may approve" in screen_text(app), "the list read again")
        # Bob may not approve twice: the command line's sentence, nothing recorded.
        await pilot.press("a")
        await wait_until(pilot, lambda: any("bob has approved request req-1 already" in m
                                            for m in notifications(app)), "refused")
        assert not isinstance(app.screen, ReasonDialog)
        await pilot.press("escape")
        await wait_until(pilot, lambda: "to approve" not in top_line(app), "no count")

        # A new request reaches the top line at the next read.
        await request_as(data_dir, clock, "alice", "req-2")
        timer = app.timer
        await timer.until(lambda t: any(d >= POLL for d in t.deadlines))
        timer.advance(POLL)
        await wait_until(pilot, lambda: "✋ 1 to approve" in top_line(app), "the new count")
        # ... and is denied from the screen, with a reason.
        await pilot.press("V")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and app.screen.selected is not None
                         and app.screen.selected.id == "req-2", "req-2 selected")
        await pilot.press("x")
        await give_reason(pilot, app, "not during the sale")
        await wait_until(pilot, lambda: any("denied request req-2" in m
                                            for m in notifications(app)), "the denial")
        assert audit(data_dir)[-1]["phase"] == "rejected"
        assert audit(data_dir)[-1]["actor"] == "bob"
        # `t` lists every request, the decided ones too.
        await pilot.press("t")
        await wait_until(pilot, lambda: "denied" in flat(app, "#approvals-table"), "every one")
        assert_alive(app)


async def test_the_requester_may_not_approve_their_own_request(
        data_dir: Path, clock: ManualClock) -> None:
    await request_as(data_dir, clock, "alice", "req-1")
    app = app_of("alice", data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        assert "approvals" in [c.name for c in app.commands]
        app.run_command("approvals")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and app.screen.selected is not None, "the Approvals screen")
        assert "0 you may approve" in screen_text(app)
        assert "to approve" not in top_line(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: any(SELF_APPROVAL in m for m in notifications(app)),
                         "the refusal")
        assert any("alice asked for deploy alpha 1.3.0 in staging (request req-1)" in m
                   for m in notifications(app))
        assert not isinstance(app.screen, ReasonDialog)
        assert [r["phase"] for r in audit(data_dir)] == ["requested"]
        # The help screen lists the key and the `:` command.
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ApprovalsScreen), "closed")
        assert ("everywhere", "V", "Approvals", "app.approvals") in app._binding_rows()
        assert any(usage.startswith(":approvals") for usage, _help in app._command_rows())
        assert_alive(app)
