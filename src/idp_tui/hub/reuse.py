"""What the hub keeps from one refresh to the next, so that an unchanged answer costs little.

- :class:`Stamps`: records stamped with their source (a deployment's ``source``, a service's
  ``sources``), kept per source and topic: a record handed over again (the same object, or one
  equal to the record at its place in the source's last answer) gets the same stamped record
  back, without copying it again.
- :func:`kept`: a source's answer equal to its last one is kept as that same object;
  :func:`unchanged_data`: when every source's answer was, the topic's last joined data is
  handed over again (the same object: the hub's subscribers, the advisor among them, compare it
  by identity to know nothing changed), without joining the answers again.
- :class:`ByName`: the services of a catalog by name, indexed once per catalog answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..api.models import Service
    from .core import _TopicState

__all__ = ["ByName", "Stamps", "kept", "unchanged_data"]

_MISSING = object()


def _equal(new: Any, old: Any) -> bool:
    if new is old:
        return True
    try:
        return bool(new == old)
    except Exception:  # noqa: BLE001 - records that cannot be compared are different ones
        return False


class Stamps:
    """The stamped records of the last answer of each (source, key): at most ``limit`` keys,
    the least recently stamped forgotten first (a per-service topic asked once does not stay)."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        #: (source, key) → (the records the source handed over, the same records stamped).
        self._last: dict[tuple[str, Hashable], tuple[list[Any], list[Any]]] = {}

    def stamped(self, source: str, key: Hashable, records: Iterable[Any],
                stamp: Callable[[Any], Any]) -> list[Any]:
        """``[stamp(r) for r in records]``, where a record equal to the one at its place in the
        last answer (of ``source`` under ``key``) gets that one's stamped record again."""
        records = list(records)
        held = self._last.pop((source, key), None)
        before, stamped_before = held if held is not None else ((), ())
        known = len(before)
        out = [stamped_before[i] if i < known and _equal(record, before[i]) else stamp(record)
               for i, record in enumerate(records)]
        self._last[(source, key)] = (records, out)
        while len(self._last) > self.limit:
            del self._last[next(iter(self._last))]
        return out


def kept(old: Any, new: Any) -> Any:
    """``old`` when a source's ``new`` answer equals it (kept as the same object, so the next
    comparison, and the hub's others, are of identity), else ``new``."""
    return old if old is not None and _equal(new, old) else new


def unchanged_data(state: _TopicState, previous: dict[str, Any], names: Sequence[str]) -> Any:
    """The topic's last joined data when the same sources answered (``names``, in order) and
    each answer is the one before this refresh (``previous``, see :func:`kept`); else None
    (and the topic's data is to be joined again)."""
    snapshot = state.snapshot
    if snapshot is not None and snapshot.data is not None and state.merged_from == tuple(names) \
            and all(state.by_source[name] is previous.get(name, _MISSING) for name in names):
        return snapshot.data
    state.merged_from = None
    return None


class ByName:
    """A catalog's services by name (the first of a name), indexed once per catalog answer."""

    def __init__(self) -> None:
        self._of: Sequence[Service] | None = None
        self._by_name: dict[str, Service] = {}

    def get(self, services: Sequence[Service] | None, name: str) -> Service | None:
        if services is None:
            return None
        if services is not self._of:
            by_name: dict[str, Service] = {}
            for record in services:
                by_name.setdefault(record.name, record)
            self._of, self._by_name = services, by_name
        return self._by_name.get(name)
