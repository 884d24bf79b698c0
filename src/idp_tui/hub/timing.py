"""The time the hub's poll loops wait on: the event loop's (``LoopTimer``, the default), or time
that moves only when a test says so (``ManualTimer``).

A poll loop waits for its interval or for a wake-up (``Hub.refresh``, a source saying its data
changed), and spaces refreshes a source asks for too often. Tests hand the hub a
:class:`ManualTimer` and move it with :meth:`ManualTimer.advance`: nothing waits on the wall clock
for a refresh to come round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class PollTimer(Protocol):
    def now(self) -> float:
        """Seconds on this timer (only differences mean something)."""
        ...

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until ``event`` is set (True) or ``seconds`` have passed (False)."""
        ...

    async def sleep(self, seconds: float) -> None:
        ...


class LoopTimer:
    """The running event loop's time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualTimer:
    """Time that moves only by :meth:`advance` (for tests), like ``ManualClock`` for dates.

    Waits end when their time has come by an ``advance`` (or their event is set); a test awaits
    :meth:`until_waiting` (or :meth:`until`) to know that a poll loop has finished its refresh and
    is waiting, before it moves the time on.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._waits: list[tuple[float, asyncio.Future[None]]] = []
        self._changed: asyncio.Event | None = None

    def now(self) -> float:
        return self._now

    @property
    def waiting(self) -> int:
        """How many waits are under way."""
        return len(self._waits)

    @property
    def deadlines(self) -> list[float]:
        """When the waits under way end (unless woken before), soonest first."""
        return sorted(due for due, _future in self._waits)

    def advance(self, seconds: float) -> None:
        """Move the time on; every wait whose time has come ends (on the next turn of the loop)."""
        self._now += seconds
        for due, future in list(self._waits):
            if due <= self._now and not future.done():
                future.set_result(None)

    async def until_waiting(self, count: int = 1, timeout: float = 30.0) -> None:
        """Return once at least ``count`` waits are under way (``timeout``: a safety net only)."""
        await self.until(lambda timer: timer.waiting >= count, timeout)

    async def until(self, condition: Callable[[ManualTimer], bool], timeout: float = 30.0) -> None:
        """Return once ``condition(self)`` holds, looked at each time a wait starts or ends
        (``timeout``: a safety net only, in the loop's time)."""
        async def watch() -> None:
            changed = self._changed = self._changed or asyncio.Event()
            while not condition(self):
                changed.clear()
                await changed.wait()

        await asyncio.wait_for(watch(), timeout)

    def _tell(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _until(self, seconds: float, event: asyncio.Event | None) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (self._now + seconds, future)
        if seconds <= 0:
            future.set_result(None)
        self._waits.append(entry)
        self._tell()
        waiter = loop.create_task(event.wait()) if event is not None else None
        try:
            await asyncio.wait([future] if waiter is None else [future, waiter],
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            if waiter is not None:
                waiter.cancel()
            future.cancel()
            self._waits.remove(entry)
            self._tell()

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        await self._until(seconds, event)
        return event.is_set()

    async def sleep(self, seconds: float) -> None:
        await self._until(seconds, None)
