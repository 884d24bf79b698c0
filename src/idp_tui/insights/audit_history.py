"""idp-tui's own audit log as a delivery history: the deploys and rollbacks made through it.

Read through the audit log's public API (:meth:`AuditLog.records`); a ``started`` record gives the
start, its ``finished`` record the end, the outcome and the version. Denied and cancelled actions
changed nothing and are left out. A source that answers delivery history itself reports the
deploys it ran (the sandbox does): :func:`without_sources` drops those, so none counts twice.

:func:`with_audit` is the one merge of the sources' rows and the audit log's, and
:func:`merge_trail` runs it with its error handling, for ``idp-tui dora``, ``idp-tui scorecards``,
the scorecards' count and the Insights pane alike. The trail is parsed once while it is unchanged
(:func:`read_mark`, :func:`.memo.trail_deliveries`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api.delivery import (
    DeliveryEvent,
    DeliveryHistory,
    DeliveryKind,
    DeliveryOutcome,
    HistoryQuery,
)
from . import cache
from .dora import Deploy, IncidentRow, rows_from_history

if TYPE_CHECKING:
    from ..hub.failures import Failure

#: The source name the audit log's records are stamped with.
AUDIT_SOURCE = "audit-log"
_KINDS = {"deploy": DeliveryKind.DEPLOY, "rollback": DeliveryKind.ROLLBACK}
_OUTCOMES = {"succeeded": DeliveryOutcome.SUCCEEDED, "failed": DeliveryOutcome.FAILED}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def audit_history(records: Iterable[dict[str, Any]], query: HistoryQuery
                  ) -> tuple[DeliveryHistory, dict[str, str]]:
    """The deliveries among the audit ``records`` (``AuditLog.records()``) that ``query`` asks
    for, and for each (by id) the source that ran it. Records that do not say what they need are
    skipped, never an error."""
    events, ran_by = parse_trail(records)
    return asked(events, query), ran_by


def parse_trail(records: Iterable[dict[str, Any]]
                ) -> tuple[tuple[DeliveryEvent, ...], dict[str, str]]:
    """Every delivery among the audit ``records`` (oldest first), and for each (by id) the
    source that ran it: what :func:`asked` picks a range of."""
    started: dict[str, datetime] = {}
    events: list[DeliveryEvent] = []
    ran_by: dict[str, str] = {}
    for record in records:
        kind = _KINDS.get(record.get("action"))  # type: ignore[arg-type]
        action_id, service, environment = (record.get("action_id"), record.get("service"),
                                           record.get("environment"))
        if kind is None or not all(isinstance(v, str) and v
                                   for v in (action_id, service, environment)):
            continue
        when = _time(record.get("time"))
        if when is None:
            continue
        if record.get("phase") == "started":
            started[action_id] = when
            continue
        outcome = _OUTCOMES.get(record.get("outcome"))  # type: ignore[arg-type]
        if record.get("phase") != "finished" or outcome is None:
            continue
        begun = min(started.get(action_id, when), when)
        version = record.get("target_version") or record.get("version") or ""
        actor = record.get("actor")
        events.append(DeliveryEvent(
            id=action_id, service=service, environment=environment, started=begun,
            finished=when, outcome=outcome, kind=kind, version=str(version)[:200],
            trigger="idp-tui", actor=actor if isinstance(actor, str) else "",
            source=AUDIT_SOURCE))
        source = record.get("source")
        if isinstance(source, str):
            ran_by[action_id] = source
    return tuple(events), ran_by


def asked(events: Iterable[DeliveryEvent], query: HistoryQuery) -> DeliveryHistory:
    """The ``events`` (:func:`parse_trail`'s) that finished in ``query``'s range, of its service
    and environment."""
    return DeliveryHistory(deliveries=tuple(
        e for e in events if query.start <= e.finished < query.end
        and query.service in (None, e.service) and query.environment in (None, e.environment)),
        source=AUDIT_SOURCE)


def without_sources(history: DeliveryHistory, ran_by: dict[str, str],
                    sources: Iterable[str]) -> DeliveryHistory:
    """``history`` (the audit log's) without the deliveries run by ``sources`` (those that
    answered delivery history themselves)."""
    skip = set(sources)
    return history.model_copy(update={"deliveries": tuple(
        event for event in history.deliveries if ran_by.get(event.id) not in skip)})


def answered_by(sources: Iterable[str], failures: Iterable[Any],
                kept: Iterable[str] = ()) -> frozenset[str]:
    """The ``sources`` of delivery history whose answer counts: those without a failure among
    ``failures`` (the hub's, each with its ``source``), and those that failed but whose answer
    is ``kept`` (a partial answer, the last good one, rows kept from an earlier run): what they
    ran is theirs to report, never counted a second time from the audit log."""
    failed = {f.source for f in failures} - set(kept)
    return frozenset(s for s in sources if s not in failed)


def with_audit(deploys: list[Deploy], incidents: list[IncidentRow], trail: Any,
               query: HistoryQuery, answered: Iterable[str],
               production: Iterable[str] | None = None, seen: set[str] | None = None
               ) -> tuple[list[Deploy], list[IncidentRow]]:
    """The sources' rows with the deploys and rollbacks of the audit ``trail`` (an
    ``AuditLog``, or the store's trail) that ``query`` asks for, as rows of the ``production``
    environments (None: of every one); those run by a source that ``answered`` delivery history
    are its own rows already and are left out. Nothing to add: the same lists. ``seen`` gets
    the services the trail has a deploy or rollback of in the range (any environment, whoever
    ran it): their history is known (:mod:`.coverage`).

    Reads the whole trail (a file, or the store's rows) unless it is unchanged since it was
    last parsed (:func:`.memo.trail_deliveries`): call it off the event loop. Raises
    ``AuditError`` (a ``StoreError`` too) when the trail cannot be read."""
    from .memo import trail_deliveries

    events, ran_by = trail_deliveries(trail)
    audited = asked(events, query)
    if seen is not None:
        seen.update(event.service for event in audited.deliveries)
    more, more_incidents = rows_from_history(without_sources(audited, ran_by, answered),
                                             production)
    if not more and not more_incidents:
        return deploys, incidents
    return cache.merge(deploys, more), [*incidents, *more_incidents]


def trail_mark(trail: Any) -> Any:
    """What changes when a record is appended to ``trail`` (a log file's size and time, the
    records a store's trail appended in this process), for
    telling whether a count made from it is still current; None for a trail that says nothing
    of it (a count is then made again only when the rest changes, or when asked afresh)."""
    path = getattr(trail, "path", None)
    if not isinstance(path, Path):  # a store's trail (its path is the DSN): what this process wrote
        appended = getattr(trail, "appended", None)
        return None if appended is None else (id(trail), appended)
    try:
        stat = path.stat()
    except OSError:
        return None
    return (id(trail), stat.st_size, stat.st_mtime_ns)


def read_mark(trail: Any) -> Any:
    """What tells whether ``trail`` is unchanged since it was parsed: :func:`trail_mark`, and
    for a store's trail (whose records other processes append) the head of its chain, asked of
    the store (call it off the event loop; ``StoreError`` when it cannot be asked). None: not
    known (read it again)."""
    head = getattr(getattr(trail, "store", None), "head", None)
    if isinstance(getattr(trail, "path", None), Path) or not callable(head):
        return trail_mark(trail)
    found = head()
    return (id(trail), found.seq, found.hash)


async def merge_trail(deploys: list[Deploy], incidents: list[IncidentRow], trail: Any,
                      query: HistoryQuery, answered: Iterable[str],
                      production: Iterable[str] | None = None, seen: set[str] | None = None
                      ) -> tuple[list[Deploy], list[IncidentRow], Failure | None]:
    """:func:`with_audit`, in a thread; a trail that cannot be read is the :class:`Failure`
    returned (the sources' rows still count, unchanged), else None."""
    import asyncio

    from ..audit import AuditError

    try:
        deploys, incidents = await asyncio.to_thread(
            with_audit, deploys, incidents, trail, query, answered, production, seen)
    except AuditError as exc:  # (StoreError too)
        from ..hub.failures import Failure

        return deploys, incidents, Failure(AUDIT_SOURCE, "audit trail",
                                           f"the audit trail could not be read: {exc}",
                                           exc.hint)
    return deploys, incidents, None
