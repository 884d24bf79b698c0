"""``idp-tui deploy … --wait`` on the data dir's log: it cannot be heard, so the request is read
again every ``WAIT_POLL`` seconds (on the action layer's timer: a ``ManualTimer`` here), and each
approval is said as it comes. (On PostgreSQL it is heard: ``test_approvals_wait_pg.py``.)"""

from __future__ import annotations

import asyncio
import io
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from idp_tui.api.clock import ManualClock
from idp_tui.cli import approvals_cmd
from idp_tui.cli.context import Context
from idp_tui.cli.output import Output

CLOCK = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def requested(rid: str, needed: int = 1) -> dict[str, Any]:
    return {"action_id": rid, "phase": "requested", "actor": "alice", "action": "deploy",
            "service": "alpha", "environment": "production", "time": CLOCK.isoformat(),
            "expires": (CLOCK + timedelta(hours=24)).isoformat(),
            "approval": {"approvals": needed}}


def approved(rid: str, by: str) -> dict[str, Any]:
    return {"action_id": rid, "phase": "approved", "actor": by, "reason": "looked at it",
            "time": CLOCK.isoformat()}


def waiting_for(trail: Any, tmp_path: Path, rid: str) -> tuple[Any, Any, io.StringIO]:
    """``wait_for_approval`` of request ``rid`` on ``trail``, on a ManualTimer; its output."""
    from idp_tui.actions import ActionManager
    from idp_tui.config import PolicyConfig
    from idp_tui.hub import Hub, ManualTimer

    timer = ManualTimer()
    manager = ActionManager(Hub([], timer=timer), PolicyConfig(), trail, actor="alice",
                            timer=timer)
    stdout = io.StringIO()
    ctx = Context(args=Namespace(), out=Output(stdout=stdout, stderr=io.StringIO()),
                  folder=tmp_path, _clock=ManualClock(CLOCK))
    run = SimpleNamespace(id=rid, decision=SimpleNamespace(message="needs 1 approval"))
    task = asyncio.create_task(approvals_cmd.wait_for_approval(ctx, manager, run))  # type: ignore[arg-type]
    return task, timer, stdout


async def test_the_data_dirs_log_is_polled_every_half_second(tmp_path: Path) -> None:
    from idp_tui.audit import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(requested("req-2"))
    task, timer, stdout = waiting_for(log, tmp_path, "req-2")
    await timer.until(lambda t: [approvals_cmd.WAIT_POLL] == t.deadlines)
    log.append(approved("req-2", "bob"))
    for _ in range(20):  # (turns of the loop: nothing wakes the wait)
        await asyncio.sleep(0)
    assert not task.done() and timer.deadlines == [approvals_cmd.WAIT_POLL]  # read at the poll
    timer.advance(approvals_cmd.WAIT_POLL)
    assert await asyncio.wait_for(task, 30) == "approved"
    assert "✔ approved by bob (1 of 1)" in stdout.getvalue()


async def test_a_trail_whose_listener_cannot_start_is_polled_as_the_log_is(
        tmp_path: Path, caplog: Any) -> None:
    """``ApprovalWatch``: listening that fails to start is logged, and the short polls do its
    work (the action manager is not told it hears)."""
    from idp_tui.audit import AuditLog

    class Refusing(AuditLog):
        def listener(self, on_change: Any, **options: Any) -> Any:
            raise OSError("no connection for listening")

    log = Refusing(tmp_path / "audit.jsonl")
    log.append(requested("req-3"))
    task, timer, stdout = waiting_for(log, tmp_path, "req-3")
    await timer.until(lambda t: [approvals_cmd.WAIT_POLL] == t.deadlines)
    assert "cannot listen to the store's changes; polling" in caplog.text
    log.append(approved("req-3", "bob"))
    timer.advance(approvals_cmd.WAIT_POLL)
    assert await asyncio.wait_for(task, 30) == "approved"
    assert "✔ approved by bob (1 of 1)" in stdout.getvalue()
