"""Approvals heard live on the organisation's store (issue 18): every append to the PostgreSQL
store sends a ``NOTIFY`` in its transaction, and ``store.listen.AuditListener`` (``LISTEN`` on a
connection of its own) hears it at once; the dashboard's count, Approvals screen and waiting
dialog are read again then, not at their next poll.

Against a real, throw-away PostgreSQL (``tests/pg.py``; skipped with a sentence where it cannot
run). Nothing here waits for a poll: every timer is a ``ManualTimer`` that the tests move only to
let a reconnection's backoff pass, so what is seen was heard, not polled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

SRC = Path(__file__).resolve().parent.parent / "src"


def listeners(dsn: str) -> int:
    """How many listening connections of idp-tui the server has."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'idp-tui listen'").fetchone()
    return int(row[0]) if row else 0


def record(action_id: str, phase: str, actor: str = "alice") -> dict[str, Any]:
    return {"action_id": action_id, "phase": phase, "actor": actor, "action": "deploy",
            "service": "alpha", "environment": "production", "time": "2026-11-25T14:00:00Z",
            "reason": "a secret reason stays in the record"}


def append_from_another_process(dsn: str, item: dict[str, Any]) -> None:
    """``item`` appended by a process of its own (its own connection, as another person's)."""
    code = ("import json, sys\n"
            "from idp_tui.store.postgres import PostgresAudit, PostgresStore\n"
            "audit = PostgresAudit(PostgresStore(sys.argv[1]))\n"
            "audit.append(json.loads(sys.argv[2]))\n"
            "audit.close()\n")
    done = subprocess.run([sys.executable, "-c", code, dsn, json.dumps(item)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


class Heard:
    """What a listener said: its changes and its states, with a wait for the next one."""

    def __init__(self) -> None:
        self.changes: list[Any] = []
        self.states: list[bool] = []
        self._event = asyncio.Event()

    def change(self, change: Any) -> None:
        self.changes.append(change)
        self._event.set()

    def state(self, on: bool) -> None:
        self.states.append(on)
        self._event.set()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Until ``condition()`` holds (the timeout is a safety net, not the test's clock)."""
        async def watch() -> None:
            while not condition():
                self._event.clear()
                await self._event.wait()

        try:
            await asyncio.wait_for(watch(), 60)
        except TimeoutError:
            raise AssertionError(f"never heard: {what} (changes {self.changes}, states "
                                 f"{self.states})") from None


@pytest.fixture
async def store(server: pg.Server) -> AsyncIterator[Any]:  # noqa: F811
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    audit = PostgresAudit(PostgresStore(server.create_database()))
    try:
        yield audit
    finally:
        audit.close()


async def test_each_append_is_heard_once_committed_with_a_small_payload(store: Any) -> None:
    from idp_tui.audit import AuditError
    from idp_tui.hub import ManualTimer
    from idp_tui.store.listen import Change

    heard, timer = Heard(), ManualTimer()
    listener = store.listener(heard.change, on_state=heard.state, timer=timer).start()
    try:
        await heard.until(lambda: heard.states == [True], "listening")
        assert listeners(store.store.dsn) == 1
        await asyncio.to_thread(store.append, record("r-1", "requested"))
        await asyncio.to_thread(store.append, record("r-1", "approved", "bob"))
        # A record the store refuses (the action ran already) is rolled back: nothing is heard.
        await asyncio.to_thread(store.append, record("r-2", "started"))
        with pytest.raises(AuditError):
            await asyncio.to_thread(store.append, record("r-2", "started"))
        await asyncio.to_thread(store.append, record("r-2", "finished"))
        await heard.until(lambda: len(heard.changes) >= 4, "four appends")
        assert heard.changes == [Change(1, "r-1", "requested"), Change(2, "r-1", "approved"),
                                 Change(3, "r-2", "started"), Change(4, "r-2", "finished")]
        assert timer.now() == 0 and not timer.waiting  # heard, nothing waited for
    finally:
        await listener.close()
    assert not listener.running and not listener.listening
    assert listeners(store.store.dsn) == 0


async def test_a_request_from_another_process_is_heard_before_any_poll(store: Any) -> None:
    from idp_tui.hub import ManualTimer

    heard, timer = Heard(), ManualTimer()
    listener = store.listener(heard.change, on_state=heard.state, timer=timer).start()
    try:
        await heard.until(lambda: heard.states == [True], "listening")
        await asyncio.to_thread(append_from_another_process, store.store.dsn,
                                record("req-7", "requested"))
        await heard.until(lambda: bool(heard.changes), "the other process's request")
        (change,) = heard.changes
        assert (change.action_id, change.phase) == ("req-7", "requested")
        assert change.concerns(frozenset(), ("requested",))
        assert timer.now() == 0
    finally:
        await listener.close()


def test_the_notification_carries_the_seq_id_and_phase_only() -> None:
    from idp_tui.store.listen import Change, notice, parse

    full = record("r-9", "approved") | {"seq": 12, "params": {"password": "hunter2"}}
    payload = notice(full)
    assert json.loads(payload) == {"seq": 12, "id": "r-9", "phase": "approved"}
    assert "secret" not in payload and "hunter2" not in payload
    assert parse(payload) == Change(12, "r-9", "approved")
    # An id too long for a notification is left out: the change concerns every request.
    vague = parse(notice(record("x" * 500, "started") | {"seq": 3}))
    assert vague == Change(3, None, "started") and vague.concerns(frozenset(), ())
    assert parse("not json") == Change(None, None, None)
    assert not Change(4, "other", "started").concerns(frozenset({"r-9"}), ("requested",))
    assert Change(4, "r-9", "started").concerns(frozenset({"r-9"}), ("requested",))


async def test_the_listener_connects_again_after_a_server_restart_and_hears_again(
        server: pg.Server, store: Any) -> None:  # noqa: F811
    from idp_tui.hub import ManualTimer
    from idp_tui.store.listen import LONGEST_WAIT

    heard, timer = Heard(), ManualTimer()
    listener = store.listener(heard.change, on_state=heard.state, timer=timer).start()
    try:
        await heard.until(lambda: heard.states == [True], "listening")
        await asyncio.to_thread(server.stop)
        await heard.until(lambda: heard.states == [True, False], "the server gone")
        assert not listener.listening and listener.error
        await timer.until_waiting()  # the backoff: nothing is tried before it has passed
        await asyncio.to_thread(server.begin)
        timer.advance(LONGEST_WAIT)
        await heard.until(lambda: heard.states == [True, False, True], "listening again")
        assert listener.connections == 2
        await asyncio.to_thread(append_from_another_process, store.store.dsn,
                                record("after", "requested"))
        await heard.until(lambda: bool(heard.changes), "a request after the restart")
        assert heard.changes[-1].action_id == "after"
    finally:
        await listener.close()
    assert listeners(store.store.dsn) == 0


async def test_a_listener_that_cannot_connect_backs_off_and_close_ends_it(
        server: pg.Server) -> None:  # noqa: F811
    from idp_tui.hub import ManualTimer
    from idp_tui.store.listen import FIRST_WAIT
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    nowhere = PostgresAudit(PostgresStore(server.dsn("no_such_database"), connect_timeout=2))
    heard, timer = Heard(), ManualTimer()
    listener = nowhere.listener(heard.change, on_state=heard.state, timer=timer).start()
    try:
        await timer.until(lambda t: t.deadlines == [FIRST_WAIT])
        assert "no_such_database" in (listener.error or "")
        timer.advance(FIRST_WAIT)
        await timer.until(lambda t: t.deadlines == [FIRST_WAIT + 2 * FIRST_WAIT])  # doubled
        assert heard.states == [] and listener.connections == 0
    finally:
        await listener.close()
        nowhere.close()
    assert not listener.running


# The dashboard -----------------------------------------------------------------------------------

def pg_config(identity: str, dsn: str, **rule: Any) -> Any:
    from idp_tui.store import StoreConfig

    from test_app_approvals import config

    return dataclasses.replace(config(identity, **rule),
                               store=StoreConfig(kind="postgres", dsn=dsn))


async def as_other(identity: str, dsn: str, data_dir: Path, clock: Any,
                   act: Callable[[Any], Any], **rule: Any) -> Any:
    """``identity``, in a session of their own (its own store connections), does ``act``."""
    from idp_tui.runtime import build_runtime

    runtime = build_runtime(pg_config(identity, dsn, **rule), data_dir=data_dir / identity,
                            clock=clock)
    try:
        return await act(runtime.actions)
    finally:
        await runtime.close()


async def test_the_top_lines_count_changes_when_another_person_asks(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:  # noqa: F811
    from idp_tui.api.actions import ActionKind, ActionRequest
    from idp_tui.hub import ManualTimer
    from idp_tui.ui.approvals import ApprovalsScreen

    from dialog_host import DialogHost
    from fakes import assert_alive
    from test_app_actions import SIZE, screen_text, wait_until
    from test_app_approvals import top_line

    dsn = server.create_database()

    async def ask(actions: Any, rid: str) -> None:
        run = await actions.submit(ActionRequest(
            id=rid, kind=ActionKind.DEPLOY, service="alpha", environment="staging",
            version="1.3.0", reason="CHG-42"))
        assert run.decision.needs_approval, run.decision.message

    app = DialogHost(pg_config("bob", dsn), data_dir=tmp_path / "bob", clock=clock,
                     timer=ManualTimer())
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.approvals_listener is not None
                         and app.approvals_listener.live
                         and app.approval_list is not None, "bob's dashboard listening")
        assert "to approve" not in top_line(app)
        await as_other("alice", dsn, tmp_path, clock, lambda a: ask(a, "req-1"))
        await wait_until(pilot, lambda: "✋ 1 to approve" in top_line(app), "the count")
        await pilot.press("V")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and app.screen.selected is not None, "the Approvals screen")
        assert "· live" in screen_text(app)
        await as_other("carol", dsn, tmp_path, clock, lambda a: ask(a, "req-2"))
        await wait_until(pilot, lambda: "2 you may approve" in screen_text(app),
                         "carol's request on the open screen")
        assert "req-2" in screen_text(app) and "carol" in screen_text(app)
        assert app.timer.now() == 0  # no poll came round: both were heard
        assert listeners(dsn) == 1
        assert_alive(app)
    assert listeners(dsn) == 0  # closed with the app


async def test_the_waiting_dialog_runs_once_another_person_approves(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:  # noqa: F811
    from idp_tui.api.actions import ActionState
    from idp_tui.hub import ManualTimer

    from dialog_host import DialogHost
    from fakes import assert_alive
    from test_app_actions import SIZE, source, wait_until
    from test_app_approvals import ask, status

    dsn = server.create_database()
    app = DialogHost(pg_config("alice", dsn), data_dir=tmp_path / "alice", clock=clock,
                     timer=ManualTimer())
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        timer = app.runtime.actions.timer = ManualTimer()
        await wait_until(pilot, lambda: app.approvals_listener is not None
                         and app.approvals_listener.live, "alice's dashboard listening")
        modal = await ask(pilot, app)
        assert "waiting for approval: 0 of 1" in status(app)
        await timer.until_waiting()
        assert app.runtime.actions.heard and timer.deadlines == [60.0]  # a safety net only
        await as_other("bob", dsn, tmp_path, clock,
                       lambda a: a.vote(modal.request_id, "approved", "reviewed"))
        await wait_until(pilot, lambda: modal.run is not None
                         and modal.run.state is ActionState.SUCCEEDED, "the approved run's end")
        (request,) = source(app).seen
        assert request.id == modal.request_id
        assert timer.now() == 0 and app.timer.now() == 0  # heard, not polled
        assert_alive(app)


async def test_while_the_server_is_away_the_dashboard_polls_and_reads_again_once_it_listens(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:  # noqa: F811
    from idp_tui.api.actions import ActionKind, ActionRequest
    from idp_tui.hub import ManualTimer
    from idp_tui.store.listen import FIRST_WAIT
    from idp_tui.ui.approvals import HEARD_POLL, POLL, ApprovalsScreen

    from dialog_host import DialogHost
    from fakes import assert_alive
    from test_app_actions import SIZE, screen_text, wait_until
    from test_app_approvals import top_line

    dsn = server.create_database()
    app = DialogHost(pg_config("bob", dsn), data_dir=tmp_path / "bob", clock=clock,
                     timer=ManualTimer())
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        timer = app.timer
        await wait_until(pilot, lambda: app.approvals_listener is not None
                         and app.approvals_listener.live
                         and app.approval_list is not None, "bob's dashboard listening")
        listener = app.approvals_listener
        # The poll is a safety net only (beside the dashboard's own one-shot timers).
        await timer.until(lambda t: HEARD_POLL in t.deadlines and POLL not in t.deadlines)
        await pilot.press("V")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and "· live" in screen_text(app), "the screen, live")

        ones = timer.deadlines.count(FIRST_WAIT)  # (the dashboard's own one-shot timers)
        await asyncio.to_thread(server.stop)
        await wait_until(pilot, lambda: not listener.live, "the server gone")
        # Polling again (every POLL), and the listener's backoff before it tries again.
        await timer.until(lambda t: POLL in t.deadlines and HEARD_POLL not in t.deadlines
                          and t.deadlines.count(FIRST_WAIT) == ones + 1)
        await wait_until(pilot, lambda: "read every 30 s" in screen_text(app), "said")
        assert not app.runtime.actions.heard

        await asyncio.to_thread(server.begin)

        async def ask(actions: Any) -> None:
            await actions.submit(ActionRequest(
                id="while-away", kind=ActionKind.DEPLOY, service="alpha",
                environment="staging", version="1.3.0", reason="CHG-7"))

        await as_other("alice", dsn, tmp_path, clock, ask)  # not heard: nobody listens yet
        assert "to approve" not in top_line(app)
        timer.advance(FIRST_WAIT)  # the backoff (not the poll): the listener is back ...
        await wait_until(pilot, lambda: listener.live, "listening again")
        # ... and what it may have missed is read again at once.
        await wait_until(pilot, lambda: "1 you may approve" in screen_text(app)
                         and "while-away" in screen_text(app), "the request made meanwhile")
        assert "· live" in screen_text(app)
        assert timer.now() == FIRST_WAIT < POLL
        assert_alive(app)
    assert listeners(dsn) == 0
