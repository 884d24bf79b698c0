"""The past lines of several log sources, merged by time before the live ones.

A source's first item is its backfill (its last ``tail`` past lines; an empty list when it has
none). When a stream reads more than one source, :class:`BackfillMerge` holds each source's
backfill, and the live lines that come meanwhile, until every source has sent its backfill, ended
or failed (or :data:`BACKFILL_WAIT` seconds on the hub's timer have passed: a source that never
sends its past lines does not hold the others' back). It then hands over one batch: every
backfill merged by timestamp (a source's own order kept for equal times), the last ``tail`` of
them in all, and then the live lines held, in the order they came.

It runs on the stream's consuming loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..api.models import LogLine

if TYPE_CHECKING:
    from .timing import PollTimer

#: Seconds the merged backfill waits, at most, for a source's past lines.
BACKFILL_WAIT = 5.0


def merge_backfills(backfills: Iterable[list[LogLine]], tail: int) -> list[LogLine]:
    """The lines of every backfill by timestamp (stable), the last ``tail`` of them (0: none)."""
    lines = sorted((line for lines in backfills for line in lines), key=lambda line: line.ts)
    return lines[-tail:] if tail > 0 else []


class BackfillMerge:
    """Holds the lines of the sources ``names`` until each has sent its backfill; then
    ``deliver(batch, dropped)`` gets the merged backfill, then what was held."""

    def __init__(self, names: Iterable[str], tail: int,
                 deliver: Callable[[list[LogLine], int], None]) -> None:
        self._waiting = set(names)
        self._tail = tail
        self._deliver = deliver
        self._backfills: dict[str, list[LogLine]] = {}
        self._held: list[tuple[list[LogLine], int]] = []
        self._task: asyncio.Task[None] | None = None
        self.done = False

    def start_wait(self, timer: PollTimer, wait: float = BACKFILL_WAIT) -> None:
        """Hand over what there is after ``wait`` seconds on ``timer`` (on the running loop)."""
        async def give_up() -> None:
            await timer.sleep(wait)
            self._release()

        self._task = asyncio.get_running_loop().create_task(give_up())

    def backfill(self, name: str, lines: list[LogLine]) -> None:
        """Source ``name``'s past lines (an empty list: none, it ended, or it failed)."""
        if self.done:  # came after the wait: a late source's past lines follow the others'
            if lines:
                self._deliver(merge_backfills([lines], self._tail), 0)
            return
        if name in self._waiting:
            self._waiting.discard(name)
            self._backfills[name] = lines
        if not self._waiting:
            self._release()

    def live(self, batch: list[LogLine], dropped: int) -> bool:
        """A batch of live lines: held (True) while backfills are awaited; False once handed
        over (the caller delivers it)."""
        if self.done:
            return False
        self._held.append((batch, dropped))
        return True

    def cancel(self) -> None:
        self.done = True
        if self._task is not None:
            self._task.cancel()

    def _release(self) -> None:
        if self.done:
            return
        self.done = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        merged = merge_backfills(self._backfills.values(), self._tail)
        self._backfills.clear()
        held, self._held = self._held, []
        if merged:
            self._deliver(merged, 0)
        for batch, dropped in held:
            self._deliver(batch, dropped)
