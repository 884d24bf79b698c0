"""One source on an event loop of its own, in a daemon thread of its own.

A source that blocks its thread, hangs or raises cannot freeze the dashboard: every call is handed to
the source's loop and waited for with the source's timeout on the hub's loop, and calls the hub gave
up on are counted, so a source stuck on them is refused further calls (``not responding``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from ..api.source import Source
from .failures import NotRespondingError

log = logging.getLogger("idp_tui.hub")

T = TypeVar("T")

#: Calls a source has not finished after the hub gave up on them (timed out, cancelled) before the
#: hub stops queueing more: a source that blocks its thread keeps them all. A source that answers
#: is never refused, however many calls it has at once (a refresh of every topic).
MAX_ABANDONED_CALLS = 4


class SourceRunner:
    """One source, its own event loop and its own daemon thread.

    ``owns``: the services this source is about (glob patterns, from the ``owns`` key of its
    ``[sources.NAME]`` table); when given, per-service topics (metrics, alerts, detail, logs) of
    other services never go to it. Empty: it owns what its own catalog and deployments list.
    """

    def __init__(self, name: str, type_name: str, source: Source, timeout: float, *,
                 owns: Iterable[str] = ()) -> None:
        self.name = name
        self.type_name = type_name
        self.source = source
        self.timeout = timeout
        self.owns: tuple[str, ...] = tuple(owns)
        self.loop = asyncio.new_event_loop()
        # Calls handed to the source's loop, and calls that have finished running there. Each is
        # written by one thread only (the hub's loop, the source's thread), so no lock is needed.
        self._calls_submitted = 0
        self._calls_finished = 0
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        #: Calls made ahead of time (``prefetch``), handed to the first ``call`` of that method.
        self._prefetched: dict[str, concurrent.futures.Future[Any]] = {}
        #: Calls not finished on the source's loop (added by the hub, removed by the source's
        #: thread), and those among them the hub stopped waiting for (see MAX_ABANDONED_CALLS).
        self._unfinished: set[int] = set()
        self._abandoned: set[int] = set()
        #: Closed (or closing): its loop takes no call any more.
        self._closed = False
        self._next_call = 0
        self._thread = threading.Thread(target=self._run, name=f"idp-source-{name}", daemon=True)
        self._thread.start()

    def declares(self, service: str) -> bool | None:
        """Whether ``owns`` names ``service`` (None: the source declares no ownership)."""
        if not self.owns:
            return None
        return any(fnmatchcase(service, pattern) for pattern in self.owns)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _ensure_started(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.source.start()
                self._started = True

    @property
    def pending(self) -> int:
        """Calls submitted to the source that have not finished running on its loop.

        A call the hub gave up on (timed out) stays pending until the source's loop has actually
        dropped it: a source blocking its thread keeps them all, and the hub stops queueing more.
        """
        return self._calls_submitted - self._calls_finished

    async def _invoke(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...],
                      call_id: int = -1) -> T:
        # Runs on the source's loop. run_coroutine_threadsafe starts the task before any
        # cancellation reaches it, so this finally always runs, however the call ends.
        try:
            await self._ensure_started()
            return await fn(*args)
        finally:
            self._calls_finished += 1
            self._unfinished.discard(call_id)

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        if self._closed:  # its loop is stopping: the call would never run (nor end)
            coro.close()  # type: ignore[attr-defined]
            raise NotRespondingError(f"{self.name} was closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def prefetch(self, method: str) -> None:
        """Start ``source.<method>()`` (and the source) now, on the source's thread.

        The dashboard asks for the catalog as it starts, so the source starts and answers while the
        UI is being built; the first ``call`` of ``method`` (without arguments) takes that answer —
        or its error — as if it had made the call itself. Called from any thread.
        """
        if method in self._prefetched:
            return
        fn = getattr(self.source, method)
        self._calls_submitted += 1
        self._prefetched[method] = self.submit(self._invoke(fn, ()))

    @property
    def abandoned(self) -> int:
        """Calls the hub gave up on (timed out, cancelled) that the source has not finished."""
        self._abandoned &= self._unfinished
        return len(self._abandoned)

    async def call(self, method: str, *args: Any) -> Any:
        """Call ``source.<method>(*args)`` on the source's loop, with the source's timeout."""
        future = self._prefetched.pop(method, None) if not args and self._prefetched else None
        call_id = -1
        if future is None:
            if self._abandoned and self.abandoned >= MAX_ABANDONED_CALLS:
                raise NotRespondingError(f"{self.abandoned} earlier calls timed out and have "
                                         "still not returned")
            fn = getattr(self.source, method)
            self._calls_submitted += 1
            call_id = self._next_call = self._next_call + 1
            self._unfinished.add(call_id)
            future = self.submit(self._invoke(fn, args, call_id))
        elif future.done():
            return future.result()  # answered already: no need to wait a turn of the loop
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except BaseException:
            if call_id in self._unfinished:
                self._abandoned.add(call_id)
            raise

    async def close(self, timeout: float = 2.0) -> None:
        prefetched, self._prefetched = list(self._prefetched.values()), {}
        if prefetched:  # not taken (the app stopped early): let it finish, so a started source closes
            done, _ = await asyncio.wait([asyncio.wrap_future(f) for f in prefetched], timeout=timeout)
            for future in done:
                if not future.cancelled():
                    future.exception()  # retrieved: nobody asked for that answer
        if self._started:
            try:
                future = asyncio.run_coroutine_threadsafe(self.source.close(), self.loop)
                await asyncio.wait_for(asyncio.wrap_future(future), timeout)
            except BaseException as exc:  # noqa: BLE001 - closing must never fail the app
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning("closing source %s failed: %s", self.name, exc)
        self._closed = True
        self.loop.call_soon_threadsafe(self._stop_loop)
        await asyncio.to_thread(self._thread.join, 1.0)

    def _stop_loop(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.stop()

