"""When to ask again after a failure that will not fix itself: 30 s, then doubling, at most 10 min.

The hub backs off every source's calls that fail with a *permanent* error (``SourceError.permanent``:
refused credentials, a missing permission, a 404) by source and topic. A source that reads several
parts in one call (repositories, clusters) and answers with the others when one fails
(``PartialAnswer``) backs that part off itself with a :class:`Backoff`, so a missing repository
among good ones is asked rarely while the good ones are asked at every refresh::

    self.backoff = Backoff()                       # in __init__
    now = self.context.clock.now().timestamp()
    if (waiting := self.backoff.waiting(repo, now)) is not None:
        raise waiting.error                         # nothing sent until waiting.due
    try:
        ...
    except SourceError as exc:
        if exc.permanent:
            self.backoff.failed(repo, now, exc)
        raise
    self.backoff.succeeded(repo)

Times are plain seconds on any clock that only moves forward (a timestamp, the hub's timer).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: The first wait after a permanent failure, and the longest (each strike doubles it).
FIRST_WAIT = 30.0
LONGEST_WAIT = 600.0


def backoff_wait(strikes: int, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT) -> float:
    """Seconds to wait after ``strikes`` failures in a row (1: ``first``)."""
    return min(first * 2 ** max(strikes - 1, 0), longest)


@dataclass
class Waiting:
    """One key backed off: how many failures in a row, until when, and the last error."""

    strikes: int
    due: float
    error: Any
    #: How long this wait is (seconds).
    wait: float


class Backoff(Generic[K]):
    """Keys (a repository, a source and topic) that failed permanently, and when each may be
    tried again. Failures while a key is already waiting (answers to requests sent together)
    count as one strike."""

    def __init__(self, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT) -> None:
        self.first = first
        self.longest = longest
        self._keys: dict[K, Waiting] = {}

    def failed(self, key: K, now: float, error: Any) -> Waiting:
        """``key`` failed at ``now``: one more strike, unless it was already waiting."""
        current = self._keys.get(key)
        if current is not None and now < current.due:
            current.error = error  # the same strike (requests sent before the first answer)
            return current
        strikes = current.strikes + 1 if current is not None else 1
        wait = backoff_wait(strikes, self.first, self.longest)
        entry = self._keys[key] = Waiting(strikes, now + wait, error, wait)
        return entry

    def waiting(self, key: K, now: float) -> Waiting | None:
        """``key``'s wait if it is not over at ``now`` (then do not ask), else None."""
        entry = self._keys.get(key)
        return entry if entry is not None and now < entry.due else None

    def succeeded(self, key: K) -> None:
        """``key`` answered: its strikes are forgotten."""
        self._keys.pop(key, None)

    def forget(self, match: Callable[[K], bool] | None = None) -> list[K]:
        """Forget the waits of the keys ``match`` accepts (all without it), so they are asked at
        once (a user's "retry now"); the keys forgotten."""
        keys = [k for k in self._keys if match is None or match(k)]
        for key in keys:
            del self._keys[key]
        return keys

    def items(self) -> list[tuple[K, Waiting]]:
        return list(self._keys.items())

    def __len__(self) -> int:
        return len(self._keys)
