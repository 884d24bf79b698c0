"""Hearing the PostgreSQL store's audit trail change: ``LISTEN``/``NOTIFY``.

Every append to the store (:meth:`idp_tui.store.postgres.PostgresStore.append`) sends a
``NOTIFY`` on :data:`CHANNEL` in its own transaction, so it is delivered only once the record is
committed, to every session listening. Its payload is small and carries nothing a record keeps
secret: the record's sequence number, its action id and its phase (:func:`notice`)::

    {"seq": 42, "id": "6f1c…", "phase": "approved"}

:class:`AuditListener` is the listening side: one task on the caller's event loop, with a
connection of its own (``psycopg.AsyncConnection`` in autocommit, not one of the pool's) that
says ``LISTEN`` and then waits for notifications (``conn.notifies()``); each one is handed to
``on_change`` as a :class:`Change`. When the server goes away the connection is closed, the
listener says so (``on_state(False)``) and connects again after a backoff (1 s, doubling, at
most a minute, on the ``timer`` it was given: a test's ``ManualTimer`` moves it); once it listens
again it says so (``on_state(True)``), and since notifications sent meanwhile were lost, whoever
watches reads what it shows again then. While it does not listen, its users poll as they would
without it. :meth:`AuditListener.close` ends the task and closes the connection.

Textual-free; the JSON-lines log has no such mechanism (its users poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ..api.backoff import backoff_wait
from ..hub.timing import LoopTimer, PollTimer
from . import first_line

__all__ = ["CHANNEL", "FIRST_WAIT", "LONGEST_WAIT", "AuditListener", "Change", "notice", "parse"]

log = logging.getLogger(__name__)

#: The channel every append notifies.
CHANNEL = "idp_tui_audit"
#: The longest action id a notification carries (longer ones are left out: "some action").
MAX_ID = 200
#: Seconds before connecting again after the server went away (doubling), and the longest wait.
FIRST_WAIT, LONGEST_WAIT = 1.0, 60.0


@dataclass(frozen=True)
class Change:
    """One record appended to the store, as its notification tells it."""

    seq: int | None
    #: The record's action id (None: the notification did not say).
    action_id: str | None
    phase: str | None

    def concerns(self, ids: set[str] | frozenset[str], phases: tuple[str, ...]) -> bool:
        """The record may change something about the requests ``ids`` or is of a phase in
        ``phases`` (a notification that does not say is taken to concern everything)."""
        if self.action_id is None or self.phase is None:
            return True
        return self.phase in phases or self.action_id in ids


def notice(record: dict[str, Any]) -> str:
    """The payload of the notification of ``record`` (its sequence number, id and phase)."""
    rid = record.get("action_id")
    phase = record.get("phase")
    body: dict[str, Any] = {"seq": record.get("seq")}
    if isinstance(rid, str) and len(rid) <= MAX_ID:
        body["id"] = rid
    if isinstance(phase, str) and len(phase) <= 40:
        body["phase"] = phase
    return json.dumps(body, separators=(",", ":"))


def parse(payload: str) -> Change:
    """The :class:`Change` a notification's payload tells (what it does not say stays None)."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Change(None, None, None)
    seq, rid, phase = body.get("seq"), body.get("id"), body.get("phase")
    return Change(seq if isinstance(seq, int) else None, rid if isinstance(rid, str) else None,
                  phase if isinstance(phase, str) else None)


Connect = Callable[[], Awaitable["psycopg.AsyncConnection[Any]"]]


class AuditListener:
    """``LISTEN`` on :data:`CHANNEL` on a connection of its own, connecting again after a backoff
    when the server goes away (see the module docstring).

    ``connect`` makes the connection (autocommit); ``on_change`` is called for each
    notification, ``on_state`` when listening starts (True) or stops (False). Both are called on
    the listener's event loop; what they raise is logged, never the listener's end.
    """

    def __init__(self, connect: Connect, on_change: Callable[[Change], None], *,
                 on_state: Callable[[bool], None] | None = None, timer: PollTimer | None = None,
                 first: float = FIRST_WAIT, longest: float = LONGEST_WAIT) -> None:
        self._connect = connect
        self._on_change = on_change
        self._on_state = on_state
        self.timer: PollTimer = timer or LoopTimer()
        self.first = first
        self.longest = longest
        #: LISTEN was said on the connection open now.
        self.listening = False
        #: Why the last connection failed or ended (None: it did not).
        self.error: str | None = None
        #: How many times LISTEN was said (the first connection, then each reconnection).
        self.connections = 0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> AuditListener:
        """Start listening, on the running event loop (once)."""
        if self._task is None and not self._closing:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                 name="idp-tui audit listener")
        return self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        """Stop listening and close the connection (idempotent)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    async def _run(self) -> None:
        strikes = 0
        try:
            while not self._closing:
                try:
                    conn = self._conn = await self._connect()
                    await conn.execute(f"LISTEN {CHANNEL}")
                except Exception as exc:  # noqa: BLE001 - unreachable: try again later
                    await self._drop()
                    self.error = first_line(exc)
                    strikes += 1
                    await self.timer.sleep(backoff_wait(strikes, self.first, self.longest))
                    continue
                strikes = 0
                self.error = None
                self.connections += 1
                self._state(True)
                try:
                    async for note in conn.notifies():
                        self._call(self._on_change, parse(note.payload))
                except psycopg.Error as exc:
                    self.error = first_line(exc)
                await self._drop()
                self._state(False)
                strikes = 1
                if not self._closing:
                    await self.timer.sleep(backoff_wait(strikes, self.first, self.longest))
        finally:
            await self._drop()
            if self.listening:
                self.listening = False

    def _state(self, listening: bool) -> None:
        self.listening = listening
        if self._on_state is not None:
            self._call(self._on_state, listening)

    def _call(self, callback: Callable[[Any], None], value: Any) -> None:
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - a watcher's mistake does not end the listening
            log.warning("an audit trail watcher failed", exc_info=True)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

