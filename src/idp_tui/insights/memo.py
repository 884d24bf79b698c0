"""The delivery history's rows and their analysis, made once per answer of the hub.

The scorecards' count, the Insights pane (at every window) and a second look at the same answer
read the same rows and facts: :func:`history_rows` and :func:`analysed` keep the last few, found
by the identity of what they were made from (an answer of the hub is never changed; a new answer
is a new object). What they return is shared: read it, never change it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from . import dora

#: Answers (and row lists) whose results are kept.
KEPT = 4

_lock = threading.Lock()
_rows: dict[tuple[int, Any], tuple[Any, tuple[list[dora.Deploy], list[dora.IncidentRow]]]] = {}
_facts: dict[tuple[int, int], tuple[Any, Any, dora.Facts]] = {}


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


def _keep(table: dict[Any, Any], key: Any, value: Any) -> None:
    with _lock:
        table.pop(key, None)
        table[key] = value
        while len(table) > KEPT:
            del table[next(iter(table))]
