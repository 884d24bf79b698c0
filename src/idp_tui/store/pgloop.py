"""The event loop the PostgreSQL store runs on: one thread of its own per process.

The store's connections come from psycopg's ``AsyncConnectionPool``, which belongs to the event
loop it was opened on. idp-tui uses the store from the dashboard's event loop, from the audit
writer's thread (:mod:`idp_tui.auditwriter`), from threads reading the trail, and from the command
line (where each ``asyncio.run`` is a loop of its own, gone when it returns): none of them can own
the pool. The store's loop does, for the whole process: every query is a coroutine run there.

- :meth:`StoreLoop.call` runs a coroutine there and waits for it, from a thread that is not the
  store's (a thread of the audit writer, ``asyncio.to_thread``, the command line);
- :meth:`StoreLoop.submit` awaits it from another event loop without blocking that loop; a caller
  cancelled stops waiting but does not cancel the query (an append half-done is never cut).

A process made by ``fork`` starts a loop of its own (the parent's thread is not in the child).
:func:`shutdown` (at exit) closes what the store registered with :meth:`StoreLoop.at_exit`, then
stops the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds the exit waits for the store to close its connections.
CLOSE_WAIT = 2.0


class StoreLoop:
    """An event loop on a daemon thread, started on first use (again in a forked child)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        #: Coroutine functions run on the loop at exit (a pool's close), before it stops.
        self._closers: list[Callable[[], Coroutine[Any, Any, Any]]] = []

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, running (started now if it is not)."""
        with self._lock:
            if self._loop is not None and self._pid == os.getpid() and self._thread is not None \
                    and self._thread.is_alive():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=_run, args=(loop, ready), name="idp-tui-store",
                                      daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread, self._pid = loop, thread, os.getpid()
            self._closers = []
            return loop

    def on_loop(self) -> bool:
        """Whether the caller runs on the store's loop."""
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the store's loop and wait for its result (from another thread)."""
        if self.on_loop():
            coro.close()
            raise RuntimeError("StoreLoop.call on the store's own loop would wait for itself")
        return asyncio.run_coroutine_threadsafe(coro, self.loop()).result(timeout)

    async def submit(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the store's loop, from another event loop."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop())
        waited = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waited)
        except asyncio.CancelledError:  # the query goes on; its error, if any, is nobody's now
            waited.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    def at_exit(self, closer: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``closer()`` on the loop when the process exits (before the loop stops)."""
        self._closers.append(closer)

    def forget(self, closer: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """No longer run ``closer`` at exit (what it closes was closed)."""
        if closer in self._closers:
            self._closers.remove(closer)

    def shutdown(self) -> None:
        """Run the exit closers, then stop the loop and its thread (the next use starts them
        again)."""
        with self._lock:
            loop, thread, closers = self._loop, self._thread, list(self._closers)
            if loop is None or thread is None or self._pid != os.getpid():
                return
            self._loop, self._thread, self._closers = None, None, []
        for closer in closers:
            try:
                asyncio.run_coroutine_threadsafe(closer(), loop).result(CLOSE_WAIT)
            except (Exception, concurrent.futures.TimeoutError):  # noqa: BLE001 - exiting
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_WAIT)
        if not thread.is_alive():
            loop.close()


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


#: The process's store loop.
STORE_LOOP = StoreLoop()
atexit.register(STORE_LOOP.shutdown)

__all__ = ["STORE_LOOP", "StoreLoop"]
