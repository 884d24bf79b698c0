"""The delivery history's rows and their analysis, made once per answer of the hub.

The scorecards' count, the Insights pane (at every window) and a second look at the same answer
read the same rows and facts: :func:`history_rows` and :func:`analysed` keep the last few, found
by the identity of what they were made from (an answer of the hub is never changed; a new answer
is a new object). :func:`trail_deliveries` keeps the audit trail's deliveries while the trail is
unchanged (:func:`~.audit_history.read_mark`), so a load that finds no new record reads nothing.
What they return is shared: read it, never change it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import dora

#: Answers (and row lists) whose results are kept.
KEPT = 4

_lock = threading.Lock()
_rows: dict[tuple[int, Any], tuple[Any, tuple[list[dora.Deploy], list[dora.IncidentRow]]]] = {}
_facts: dict[tuple[int, int], tuple[Any, Any, dora.Facts]] = {}
_trails: dict[int, tuple[Callable[[], Any], Any, tuple[tuple[Any, ...], dict[str, str]]]] = {}


def history_rows(history: Any, production: Iterable[str] | None
                 ) -> tuple[list[dora.Deploy], list[dora.IncidentRow]]:
    """:func:`~idp_tui.insights.dora.rows_from_history` of ``history``, made once per answer
    and set of production environments."""
    key = (id(history), None if production is None else frozenset(production))
    with _lock:
        found = _rows.get(key)
    if found is not None and found[0] is history:
        return found[1]
    rows = dora.rows_from_history(history, key[1])
    _keep(_rows, key, (history, rows))
    return rows


def analysed(deploys: Sequence[dora.Deploy],
             incidents: Sequence[dora.IncidentRow] = ()) -> dora.Facts:
    """:func:`~idp_tui.insights.dora.analyse` of these rows, made once per pair of lists."""
    key = (id(deploys), id(incidents))
    with _lock:
        found = _facts.get(key)
    if found is not None and found[0] is deploys and found[1] is incidents:
        return found[2]
    facts = dora.analyse(deploys, incidents)
    _keep(_facts, key, (deploys, incidents, facts))
    return facts


def trail_deliveries(trail: Any) -> tuple[tuple[Any, ...], dict[str, str]]:
    """:func:`~.audit_history.parse_trail` of ``trail``'s records: parsed again only when the
    trail changed (its mark is taken before it is read: a record appended meanwhile makes the
    next call read it again), every time when it cannot tell. Reads the trail: off the event
    loop; ``AuditError`` when it cannot be read."""
    from .audit_history import parse_trail, read_mark

    mark = read_mark(trail)
    if mark is not None:
        with _lock:
            found = _trails.get(id(trail))
        if found is not None and found[0]() is trail and found[1] == mark:
            return found[2]
    parsed = parse_trail(trail.records())
    if mark is not None:
        _keep(_trails, id(trail), (_ref(trail), mark, parsed))
    return parsed


def _ref(value: Any) -> Callable[[], Any]:
    """A weak reference to ``value`` (a trail kept here does not outlive its runtime), or a
    strong one for an object that has none."""
    try:
        return weakref.ref(value)
    except TypeError:
        return lambda: value


def _keep(table: dict[Any, Any], key: Any, value: Any) -> None:
    with _lock:
        table.pop(key, None)
        table[key] = value
        while len(table) > KEPT:
            del table[next(iter(table))]
