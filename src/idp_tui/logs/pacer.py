"""The cyclic garbage collector's pace while log lines flow (Textual-free; imports nothing else).

The dashboard runs with a lazy collector (:mod:`idp_tui.gcpolicy`: the first generation is
collected every 1,000,000 net allocations), because the lines of a busy stream are freed by
reference counting and scanning them again and again cost up to half the time of a flood. But
every frame Textual draws leaves a little cyclic garbage (the compositor's layout closures, the
strips and the caches they hold): about 3,500 objects a second while the Logs pane redraws ten
times a second. Nothing else counted towards the threshold, so they piled up for minutes (RSS
from 107 to 177 MB over 11 minutes under the sandbox flood) until the first collection.

:class:`CollectionPacer` bounds that by time instead: while lines flow, the young generations
are collected every :data:`YOUNG_EVERY` seconds, and everything every :data:`FULL_EVERY` seconds
(cycles that lived long enough to be promoted: strips of lines kept on screen a while). A young
collection costs about what is alive and young, the buffer's lines above all (under the flood,
20,000 lines replaced several times a second: 100-250 ms on a loaded 2-core machine), not what
came in between; so the pace is a trade of that cost against the garbage left, which is what ten
seconds of drawing leave (a few MiB). Every 2 s cost 6 % of a flood's time; every 10 s, 1-2 %.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["CollectionPacer", "FULL_EVERY", "YOUNG_EVERY"]

#: Seconds between two collections of the young generations (0 and 1) while lines flow.
YOUNG_EVERY = 10.0
#: Seconds between two full collections while lines flow.
FULL_EVERY = 60.0


class CollectionPacer:
    """Collects the garbage at a pace set by the clock: call :meth:`tick` whenever lines were
    taken (with the loop's time). ``collect`` is :func:`gc.collect` (tests pass their own)."""

    def __init__(self, *, young_every: float = YOUNG_EVERY, full_every: float = FULL_EVERY,
                 collect: Callable[[int], object] = gc.collect) -> None:
        self.young_every = young_every
        self.full_every = full_every
        self._collect = collect
        self._young_at: float | None = None
        self._full_at: float | None = None
        #: Collections made: of the young generations, and full ones.
        self.young = 0
        self.full = 0

    def tick(self, now: float) -> int | None:
        """Collect if one is due at ``now``; returns the oldest generation collected, or None."""
        if self._young_at is None or self._full_at is None:
            self._young_at = self._full_at = now  # the first lines: the clock starts
            return None
        if now - self._full_at >= self.full_every:
            self._collect(2)
            self._young_at = self._full_at = now
            self.full += 1
            return 2
        if now - self._young_at >= self.young_every:
            self._collect(1)
            self._young_at = now
            self.young += 1
            return 1
        return None

    def reset(self) -> None:
        """Lines stopped flowing: the next :meth:`tick` starts the clock again."""
        self._young_at = self._full_at = None
