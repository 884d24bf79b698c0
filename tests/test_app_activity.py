"""The Activity screen on the sandbox: the audit history (actions of earlier sessions and of the
command line too), the newest first and bounded, with a filter; `A` opens it and never closes it,
escape and q do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idp_tui.api.actions import ActionRequest
from idp_tui.api.kinds import ActionKind, ActionState
from idp_tui.audit import AuditLog
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.dialogs import ActivityScreen
from idp_tui.ui.dialogs.activity import ActivityFilter
from idp_tui.ui.tables import KeyedTable

from fakes import screen_lines, type_text, wait_until


def record(aid: str, phase: str, minute: int, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action_id": aid, "phase": phase, "time": f"2026-11-24T09:{minute:02d}:00+00:00",
        "actor": "alice", "action": "deploy", "source": "sandbox", "service": "order-service",
        "environment": "staging", "version": "2.49.10", "replicas": None, "template": None,
        "run_id": None, "params": {}, "reason": "", "decision": {}}
    out.update(extra)
    if phase == "finished":
        out.setdefault("outcome", "succeeded")
        out.setdefault("error", None)
    return out


def earlier_sessions(data: Path, count: int = 3) -> AuditLog:
    """The audit log as earlier sessions and `idp-tui` commands left it: ``count`` deploys by
    alice, then a failed rollback by bob in production."""
    data.mkdir(parents=True, exist_ok=True)
    log = AuditLog(data / AUDIT_FILE)
    for n in range(count):
        log.append(record(f"old-{n}", "started", n % 60))
        log.append(record(f"old-{n}", "finished", n % 60))
    log.append(record("bob-1", "started", 59, actor="bob", action="rollback",
                      environment="production", version="2.49.11", reason="bad release"))
    log.append(record("bob-1", "finished", 59, actor="bob", action="rollback",
                      environment="production", version="2.49.11", reason="bad release",
                      outcome="failed", error="rollout stuck"))
    return log


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def table(app: Any) -> KeyedTable:
    return app.screen.query_one("#activity-table", KeyedTable)


async def test_activity_shows_the_audit_history_with_a_filter(tmp_path: Path) -> None:
    data = tmp_path / "data"
    earlier_sessions(data)
    app = demo_app(data, action_speed=100_000)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        # An action of this session, next to the earlier ones.
        run = await app.runtime.actions.submit(ActionRequest(
            id="now-1", kind=ActionKind.RESTART, service="order-service", environment="dev"))
        await app.runtime.actions.wait(run.id)
        assert run.state is ActionState.SUCCEEDED, run.error

        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        screen = app.screen
        await wait_until(pilot, lambda: table(app).keys == ["now-1", "bob-1", "old-2", "old-1",
                                                           "old-0"], "the history")
        shown = text(app)
        assert "Activity: the audit history, newest first" in shown
        assert "rollback order-service 2.49.11 in production" in shown
        assert "deploy order-service 2.49.10 in staging" in shown
        assert "5 actions" in shown
        # The footer has this screen's keys, not the pane's underneath.
        footer = screen_lines(app)[-1]
        assert "esc Close" in footer and "/ Filter" in footer and "c Cancel action" in footer
        assert "Unhealthy only" not in footer
        # The highlighted one is this session's (followed live); an earlier one shows its record.
        assert table(app).cursor_key == "now-1"
        await pilot.press("down")
        await wait_until(pilot, lambda: "rollout stuck" in text(app), "bob's record")
        shown = text(app)
        assert "bad release" in shown and "bob" in shown

        # `A` again keeps the view (it opens, never toggles).
        await pilot.press("A")
        await pilot.pause()
        assert app.screen is screen

        # The filter: by user, then by service and kind, then text.
        await pilot.press("slash")
        assert isinstance(app.focused, ActivityFilter)
        await type_text(pilot, "user:bob")
        await wait_until(pilot, lambda: table(app).keys == ["bob-1"], "bob's actions")
        assert "filter user:bob" in text(app) and "1 action" in text(app)
        app.screen.query_one(ActivityFilter).value = "kind:restart env:dev"
        await wait_until(pilot, lambda: table(app).keys == ["now-1"], "this session's restart")
        app.screen.query_one(ActivityFilter).value = "stuck"
        await wait_until(pilot, lambda: table(app).keys == ["bob-1"], "a word of the error")
        app.screen.query_one(ActivityFilter).value = "user:nobody"
        await wait_until(pilot, lambda: table(app).keys == [], "nothing")
        assert "No action matches the filter." in text(app)
        app.screen.query_one(ActivityFilter).focus()
        await pilot.press("q")  # typed into the filter, not taken as "close"
        assert app.screen is screen
        assert "q" in app.screen.query_one(ActivityFilter).value
        # Escape in the filter clears it and goes back to the list; q closes the screen.
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(table(app).keys) == 5, "everything again")
        assert app.focused is table(app)
        await pilot.press("q")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed by q")
        assert app.is_running  # q closed the screen, it did not quit
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed by escape")


async def test_activity_lists_a_bounded_newest_part_of_a_long_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = earlier_sessions(data, count=0)
    with log.path.open("a", encoding="utf-8") as out:  # (written as a long-lived log has them)
        import json

        for n in range(3000):
            for phase in ("started", "finished"):
                out.write(json.dumps(record(f"many-{n}", phase, n % 60)) + "\n")
    app = demo_app(data)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: len(table(app).keys) == app.screen.limit == 500,
                         "the newest 500")
        assert table(app).keys[0] == "many-2999"
        assert "the newest 500: `idp-tui audit` lists them all" in text(app)
        # Still found by the filter when older than the 500 listed.
        app.screen.query_one(ActivityFilter).value = "user:bob"
        await wait_until(pilot, lambda: table(app).keys == ["bob-1"], "bob's, further back")


async def test_activity_reads_the_log_again_when_another_process_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = earlier_sessions(data, count=1)
    app = demo_app(data)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: table(app).keys == ["bob-1", "old-0"], "the history")
        log.append(record("cli-1", "started", 30, actor="carol", action="scale", version=None,
                          replicas=4))
        app.screen._tick()  # (its once-a-second look at the log)
        await wait_until(pilot, lambda: table(app).keys[0] == "cli-1", "the new record")
        assert "scale order-service ×4 in staging" in text(app)
