"""The audit trail written off the event loop: one thread writes a session's records, in the order
they were handed over.

Appending may block: the JSON-lines log fsyncs; the PostgreSQL store's append is a coroutine on
its own event loop (:mod:`idp_tui.store.pgloop`), waited for here, which waits for a connection of
its pool (up to the pool's timeout when the server is away) or for the chain's head row another
writer holds. The
action manager therefore never appends on its event loop: a record an action waits for (its
start, its request for approval, a vote) is awaited (:meth:`AuditWriter.write`: written, or its
error raised, before the caller goes on); the record of an end or of a refusal, made where nothing
can wait, is queued (:meth:`AuditWriter.later`). Both go to the same single thread, so a queued
record is written after every record handed over before it (an action's ``started`` before its
``finished``). :meth:`AuditWriter.drain` waits until everything handed over is written; readers
of the trail (and the session's end) drain first. A queued record that cannot be written is
logged (the PostgreSQL store keeps an action's end in its spool until the server answers again);
none is dropped unwritten: the thread is not a daemon, and the interpreter waits for it at exit.

Textual-free.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("idp_tui.actions")

Record = dict[str, Any]


class AuditWriter:
    """Appends records with ``append`` (the trail's) on one thread of its own, in order."""

    def __init__(self, append: Callable[[Record], Record]) -> None:
        self._append = append
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: Handed over and not written yet (queued and awaited alike).
        self._pending = 0

    def _submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="idp-tui-audit")
            self._pending += 1
            future = self._executor.submit(fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def pending(self) -> int:
        """Records handed over and not written yet."""
        return self._pending

    def start(self, record: Record) -> concurrent.futures.Future[Record]:
        """Hand ``record`` over; the future of its stored form (or of the trail's error)."""
        return self._submit(self._append, record)

    @staticmethod
    async def result(future: concurrent.futures.Future[Record]) -> Record:
        """Wait for a record handed over by :meth:`start`. Cancelling the wait does not cancel
        the write: it happens (or fails) all the same."""
        waited = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waited)
        except asyncio.CancelledError:  # (its error, if any, is the caller's to say)
            waited.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    async def write(self, record: Record) -> Record:
        """Append ``record`` on the writer's thread, after everything handed over before it; its
        stored form. Raises what the trail raises (``AuditError``)."""
        return await self.result(self.start(record))

    def later(self, record: Record, failed: str, *,
              after: concurrent.futures.Future[Record] | None = None) -> None:
        """Queue ``record``; written after everything handed over before it, its failure logged
        as ``failed``, then the error. ``after``: only if that record (handed over earlier) was
        written."""
        self._submit(self._logged, record, failed, after)

    def _logged(self, record: Record, failed: str,
                after: concurrent.futures.Future[Record] | None) -> None:
        if after is not None and (after.cancelled() or after.exception() is not None):
            return  # (done: it was handed over first) its start was not written: no end either
        try:
            self._append(record)
        except Exception as exc:  # noqa: BLE001 - said in the log; the action has ended
            log.error("%s: %s", failed, exc)

    async def drain(self) -> None:
        """Wait until every record handed over so far is written (or has failed)."""
        if self._pending:
            await asyncio.wrap_future(self._submit(lambda: None))

    async def close(self) -> None:
        """Drain (again, while draining handed over more), and stop the thread (a record
        handed over later starts another)."""
        while self._pending:
            await self.drain()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


__all__ = ["AuditWriter"]
