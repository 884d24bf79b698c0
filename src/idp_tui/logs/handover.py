"""Lines a log stream has handed over that the view has not taken yet (Textual-free).

The Logs pane gathers the stream's batches here and hands them to its buffer together, at most a
few times a second. What waits is bounded by the buffer's size: lines that could not survive the
buffer anyway (older than its last ``limit``) are dropped at once and counted, so that every line
is accounted for: each one given to :meth:`Handover.add` leaves :meth:`Handover.take` either as a
line or in the dropped count, and the buffer's ``received == kept + dropped`` holds for the whole
way, whatever was dropped before the buffer (by the producer, or here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..api.models import LogLine

__all__ = ["Handover"]


class Handover:
    """At most ``limit`` lines waiting for the view, and the count of those dropped on the way."""

    __slots__ = ("limit", "_lines", "_dropped")

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._lines: list[LogLine] = []
        self._dropped = 0

    @property
    def waiting(self) -> int:
        """Lines waiting (at most ``limit``)."""
        return len(self._lines)

    @property
    def dropped(self) -> int:
        """Lines dropped since the last :meth:`take`: by the producer, or here past the limit."""
        return self._dropped

    def __bool__(self) -> bool:
        return bool(self._lines) or self._dropped > 0

    def add(self, lines: Sequence[LogLine], dropped: int = 0) -> bool:
        """Add a batch (and what the producer dropped before it); True when half the limit or
        more is waiting (the producer should be held until the view has taken them)."""
        waiting = self._lines
        waiting.extend(lines)
        self._dropped += max(0, int(dropped))
        excess = len(waiting) - self.limit
        if excess > 0:
            del waiting[:excess]
            self._dropped += excess
        return len(waiting) >= max(1, self.limit // 2)

    def take(self) -> tuple[list[LogLine], int]:
        """The waiting lines and the dropped count, oldest first; both start again from none."""
        lines, dropped = self._lines, self._dropped
        self._lines, self._dropped = [], 0
        return lines, dropped

    def clear(self) -> None:
        """Forget what waits (the stream it came from is gone)."""
        self._lines, self._dropped = [], 0
