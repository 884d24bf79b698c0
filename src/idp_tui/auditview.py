"""The audit history as a view reads it: one entry per action, the newest first, filtered, bounded.

The audit log (:mod:`idp_tui.audit`) keeps every record, oldest first, and may hold hundreds of
thousands of them. A view wants the latest few hundred actions that match what the user typed, so
the log is read here from its end backwards, a block at a time, and reading stops once enough
actions have matched (or after ``scan_limit`` records: a filter that matches little never reads a
huge log whole). The records of one action (``started`` then ``finished``, or one ``denied``, or a
``repair``) become one :class:`AuditEntry`.

The filter (:class:`AuditFilter`) is the words typed: ``service:NAME``, ``env:NAME``,
``kind:deploy``, ``user:NAME`` (the claimed actor or a name a source confirmed), ``team:NAME``
(the service's owner in the catalog) and ``outcome:failed`` (how it ended, or where it stands:
``started``, ``requested``…) for exact fields (any case; ``environment:``, ``action:``,
``actor:``, ``by:``, ``owner:`` and ``state:`` say the same), the rest is text that must appear
in the entry (its action, target, version, who, reason, outcome, error, source or id).

The history is read from the data dir's log (a path) or from the organisation's store (its
records' lines, the newest first: :meth:`idp_tui.store.postgres.PostgresAudit.lines_newest_first`).

Textual-free: the Activity screen shows what :func:`read_history` returns.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

#: The actions a view shows at most.
DEFAULT_LIMIT = 500
#: The records read at most for one view (the newest ones).
DEFAULT_SCAN_LIMIT = 100_000
#: Bytes read from the end at a time.
BLOCK = 256 * 1024
#: A line longer than this is damage, not a record (as the audit log judges it).
MAX_LINE = 16 * 1024 * 1024

#: Filter words and the field each names.
FIELD_WORDS = {"service": "service", "svc": "service", "env": "environment",
               "environment": "environment", "kind": "kind", "action": "kind", "user": "actor",
               "actor": "actor", "by": "actor", "team": "team", "owner": "team",
               "outcome": "outcome", "state": "outcome"}
#: The phases that begin an action's records (``requested``: one that needs approval first).
FIRST_PHASES = ("started", "denied", "repair", "requested")
#: The records of a request for approval before its action starts (:mod:`idp_tui.approvals`).
APPROVAL_PHASES = ("requested", "approved", "rejected")


#: An action id in a record's line (records are written with sort_keys and no spaces).
_ACTION_ID = re.compile(rb'"action_id":\s*"([^"\\]*)"')
#: Words of an entry's text that are not in its records (``target``'s own).
_DERIVED = " for run in "


def _plain(value: str) -> bytes | None:
    """``value`` as the bytes it is in a JSON line, when JSON writes it as it is (ASCII, no
    quote, backslash or control character); else None."""
    if not value.isascii() or any(c in value for c in '"\\') or not value.isprintable():
        return None
    return value.encode()


@dataclass(frozen=True)
class AuditFilter:
    """What the user asked to see; empty: everything."""

    service: frozenset[str] = frozenset()
    environment: frozenset[str] = frozenset()
    kind: frozenset[str] = frozenset()
    actor: frozenset[str] = frozenset()
    #: The owning teams (the catalog's owner of the entry's service).
    team: frozenset[str] = frozenset()
    #: How it ended or where it stands (``AuditEntry.state``).
    outcome: frozenset[str] = frozenset()
    #: Words that must each appear (any case) in the entry's text.
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AuditFilter:
        """``service:orders env:production kind:deploy user:alice failed`` → a filter."""
        fields: dict[str, set[str]] = {}
        words: list[str] = []
        for word in text.split():
            name, sep, value = word.partition(":")
            target = FIELD_WORDS.get(name.lower())
            if sep and value and target is not None:
                fields.setdefault(target, set()).add(value.lower())
            else:
                words.append(word.lower())
        return cls(**{k: frozenset(v) for k, v in fields.items()}, words=tuple(words))

    def __bool__(self) -> bool:
        return bool(self.service or self.environment or self.kind or self.actor or self.team
                    or self.outcome or self.words)

    def describe(self) -> str:
        """The filter in the words it was typed (for the status line)."""
        parts = [f"{name}:{value}" for name, values in (
            ("service", self.service), ("env", self.environment), ("kind", self.kind),
            ("user", self.actor), ("team", self.team), ("outcome", self.outcome))
            for value in sorted(values)]
        return " ".join([*parts, *self.words])

    def may_match(self, raw: bytes) -> bool:
        """False only when a record's line (JSON) cannot belong to a matching action: a value
        asked for is not in it at all. (Values that JSON may escape or that are not ASCII are
        not looked for here; ``matches`` decides.)"""
        if not self:
            return True
        line = raw.lower()
        # (team and outcome are not in every record's line: the service's owner is the
        # catalog's, an action's outcome only in its last record)
        for values in (self.service, self.environment, self.kind, self.actor):
            if values and not any(v in line for v in map(_plain, values) if v is not None) \
                    and all(_plain(v) is not None for v in values):
                return False
        for word in self.words:
            plain = _plain(word)
            if plain is not None and plain not in line and word not in _DERIVED:
                return False
        return True

    def matches(self, entry: AuditEntry) -> bool:
        for wanted, value in ((self.service, entry.service), (self.environment,
                                                             entry.environment),
                              (self.kind, entry.kind), (self.team, entry.team),
                              (self.outcome, entry.state)):
            if wanted and (value or "").lower() not in wanted:
                return False
        if self.actor and not any(name.lower() in self.actor
                                  for name in (entry.actor, *entry.confirmed.values())):
            return False
        if self.words:
            haystack = entry.search_text()
            return all(word in haystack for word in self.words)
        return True


@dataclass
class AuditEntry:
    """One action of the audit log, from its records."""

    action_id: str
    #: The action's kind ("deploy"…, "audit-repair").
    kind: str = ""
    service: str = ""
    environment: str = ""
    version: str = ""
    replicas: int | None = None
    template: str = ""
    run_id: str = ""
    actor: str = ""
    #: Who the sources confirmed the actor is, by source (``{"github": "octocat"}``).
    confirmed: dict[str, str] = field(default_factory=dict)
    #: The owning team of its service (the catalog's owner; "" when not known).
    team: str = ""
    source: str = ""
    reason: str = ""
    #: When it started (or was denied, or the repair was made).
    started: datetime | None = None
    finished: datetime | None = None
    #: "succeeded", "failed", "cancelled", "denied"…; None while it runs (or never ended).
    outcome: str | None = None
    error: str = ""
    #: Its records, oldest first.
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The outcome, "repair" for a repair, or "started" (running, or it never ended)."""
        if self.kind == "audit-repair" or any(r.get("phase") == "repair" for r in self.records):
            return "repair"
        if self.outcome is None and not any(r.get("phase") == "started" for r in self.records):
            # A request for approval that has not run: where it stands.
            for record in reversed(self.records):
                if record.get("phase") in APPROVAL_PHASES:
                    return str(record["phase"])
        return self.outcome or "started"

    @property
    def complete(self) -> bool:
        """Its first record has been read (reading goes backwards)."""
        return any(r.get("phase") in FIRST_PHASES for r in self.records)

    @property
    def target(self) -> str:
        """``orders 1.4.0 in production``, ``postgres for orders``, ``×3``…"""
        if self.kind == "audit-repair":
            repair = next((r.get("repair") for r in self.records if r.get("repair")), None)
            return str((repair or {}).get("problem") or "the audit log")
        if self.template:
            text = self.template + (f" for {self.service}" if self.service else "")
        else:
            text = self.service or self.run_id or "?"
            if self.run_id and self.service:
                text += f" run {self.run_id}"
            if self.version:
                text += f" {self.version}"
            if self.replicas is not None:
                text += f" ×{self.replicas}"
        if self.environment:
            text += f" in {self.environment}"
        return text

    def search_text(self) -> str:
        """What the filter's words look in (lower case)."""
        return " ".join(str(x) for x in (
            self.kind, self.target, self.actor, *self.confirmed.values(), self.team,
            self.reason, self.state, self.error, self.source, self.action_id) if x).lower()

    def add(self, record: dict[str, Any]) -> None:
        """Take one more (older) record of this action."""
        self.records.insert(0, record)
        phase = record.get("phase")
        when = _time(record.get("time"))
        for name in ("service", "environment", "version", "template", "run_id", "actor",
                     "source", "reason"):
            value = record.get(name)
            if value and not getattr(self, name):
                setattr(self, name, str(value))
        confirmed = record.get("confirmed")
        if isinstance(confirmed, dict) and not self.confirmed:
            self.confirmed = {str(k): str(v) for k, v in confirmed.items()}
        if not self.kind and record.get("action"):
            self.kind = str(record["action"])
        if self.replicas is None and isinstance(record.get("replicas"), int):
            self.replicas = record["replicas"]
        if phase in FIRST_PHASES and (phase != "requested" or self.started is None):
            self.started = when
        if phase in ("finished", "denied") and self.outcome is None:
            self.outcome = str(record.get("outcome") or phase)
            self.error = str(record.get("error") or "")
            self.finished = when


@dataclass
class AuditHistory:
    """What :func:`read_history` found."""

    #: The matching actions, the newest first.
    entries: list[AuditEntry]
    #: Records read (from the end).
    scanned: int = 0
    #: The limit was reached: older actions that match may not be among the entries.
    more: bool = False
    #: The log was not read to its beginning (``scan_limit``): older actions were not looked at.
    cut: bool = False
    #: Why the log could not be read (None: it was, or there is none yet).
    error: str | None = None


def read_history(path: Path | Iterable[bytes], query: AuditFilter | None = None, *,
                 limit: int = DEFAULT_LIMIT, scan_limit: int = DEFAULT_SCAN_LIMIT,
                 owners: Mapping[str, str] | None = None) -> AuditHistory:
    """The newest ``limit`` actions of the audit log at ``path`` (or of the records' lines
    given, the newest first: the store's) that ``query`` lets through.

    Reads from the end backwards and stops once ``limit`` actions have matched and their first
    records have been read (or after ``scan_limit`` records). Unreadable lines are skipped (the
    log's own ``verify`` names them); a log that is missing is an empty history. ``owners``:
    each service's owning team (the catalog's), for the entries' ``team`` and ``team:``.
    """
    query = query or AuditFilter()
    entries: dict[str, AuditEntry] = {}
    rejected: set[str] = set()
    #: Matched actions whose first record is still to be read.
    incomplete: set[str] = set()
    history = AuditHistory([])
    owners = owners or {}
    lines = lines_newest_first(path) if isinstance(path, Path) else path
    try:
        for raw in lines:
            if not raw.strip():
                continue
            history.scanned += 1
            # (most lines are decided by their id and a look at their bytes, never parsed)
            found = _ACTION_ID.search(raw)
            rid = found.group(1).decode("utf-8", "replace") if found else None
            if rid is not None and rid not in entries and (
                    rid in rejected or len(entries) >= limit):
                record = None
            elif rid is not None and rid not in entries and not query.may_match(raw):
                rejected.add(rid)
                record = None
            else:
                record = _parse(raw)
            if record is None:
                pass
            elif (rid := str(record.get("action_id") or rid
                             or f"line-{history.scanned}")) in entries:
                entries[rid].add(record)
            elif rid in rejected or len(entries) >= limit:
                pass
            elif _matches(query, rid, record, owners):
                entry = entries[rid] = AuditEntry(rid)
                entry.add(record)
                entry.team = owners.get(entry.service, "")
                incomplete.add(rid)
            else:
                rejected.add(rid)
            if record is not None and record.get("phase") in FIRST_PHASES:
                incomplete.discard(rid)
            if len(entries) >= limit and not incomplete:
                history.more = True
                break
            if history.scanned >= scan_limit:
                history.cut = True
                break
    except OSError as exc:
        history.error = f"cannot read the audit log {path}: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - the store's: said in the view, never raised
        history.error = f"cannot read the audit trail: {exc}"
    history.entries = list(entries.values())
    return history


def _matches(query: AuditFilter, rid: str, record: dict[str, Any],
             owners: Mapping[str, str] | None = None) -> bool:
    """Whether an action whose newest record is ``record`` is wanted (every record of an action
    names its target, actor and reason; the newest also says how it ended)."""
    if not query:
        return True
    probe = AuditEntry(rid)
    probe.add(record)
    probe.team = (owners or {}).get(probe.service, "")
    return query.matches(probe)


def records_newest_first(path: Path) -> Iterator[dict[str, Any]]:
    """Every readable record of the log at ``path``, the newest first (nothing if there is no
    log). Raises ``OSError`` when it cannot be read (a folder, a symbolic link…)."""
    for raw in lines_newest_first(path):
        record = _parse(raw)
        if record is not None:
            yield record


def lines_newest_first(path: Path) -> Iterator[bytes]:
    """The lines of the log at ``path`` (without their newline), the last first; a line longer
    than ``MAX_LINE`` is skipped. Raises ``OSError`` when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        end = os.fstat(fd).st_size
        pending = b""  # the start of a line whose end was read already
        while end > 0:
            start = max(0, end - BLOCK)
            data = os.pread(fd, end - start, start) + pending
            end = start
            lines = data.split(b"\n")
            pending = lines.pop(0) if start > 0 else b""
            if len(pending) > MAX_LINE:  # damage: skip to the line before it
                pending = b""
            yield from reversed(lines)
        if pending:
            yield pending
    finally:
        os.close(fd)


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
