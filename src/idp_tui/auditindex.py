"""The action-id index of the audit log: ``audit.index``, an SQLite file derived from the log.

It maps each action id to its target, when it was first used, and how its run ended, and notes the
head of the chain it covers. Under the log's lock, a lookup first brings it up to the log's head
(reading only the records added since); an index that does not match the log (deleted, damaged,
written for another log) is rebuilt from the log. If SQLite cannot be used (a full disk), the log is
read instead: slower, never wrong.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .audit import (
    EMPTY,
    ActionAlreadyRan,
    ActionIdReused,
    ActionOutcomeUnknown,
    Head,
    Walk,
    ends_with,
    target_of,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (id TEXT PRIMARY KEY, target TEXT NOT NULL, time TEXT,
                                started TEXT, outcome TEXT, error TEXT, finished TEXT);
CREATE TABLE IF NOT EXISTS head (one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL,
                                 hash TEXT NOT NULL, length INTEGER NOT NULL);
"""
_COLUMNS = ("target", "time", "started", "outcome", "error", "finished")

Entry = dict[str, Any]


def fold(entries: MutableMapping[str, Entry], record: dict[str, Any]) -> None:
    """Add one record to the entries (an action id's first record gives its target)."""
    rid = record.get("action_id")
    phase = record.get("phase")
    if not rid or phase not in ("started", "denied", "finished"):
        return
    rid = str(rid)
    entry = entries.get(rid)
    if entry is None:
        entry = {"target": target_of(record), "time": record.get("time"), "started": None,
                 "outcome": None, "error": None, "finished": None}
    else:
        entry = dict(entry)
    if phase == "started" and entry["started"] is None:
        entry["started"] = record.get("time") or "?"
    elif phase == "finished":
        entry.update(outcome=record.get("outcome"), error=record.get("error"),
                     finished=record.get("time"))
    entries[rid] = entry


def check(path: Path, fd: int, head: Head, record: dict[str, Any]) -> None:
    """Raise when ``record`` (a ``started`` or ``denied`` one) reuses an action id: for another
    target (:class:`ActionIdReused`), or to start again an action whose outcome is unknown
    (:class:`ActionOutcomeUnknown`) or known (:class:`ActionAlreadyRan`)."""
    judge(lookup(path, fd, head, str(record["action_id"])), record)


def judge(entry: Entry | None, record: dict[str, Any]) -> None:
    """Raise as :func:`check` does, from the action id's ``entry`` (None: never used)."""
    action_id = str(record["action_id"])
    if entry is None:
        return
    target = target_of(record)
    when = _when(entry["time"])
    earlier = describe_target(json.loads(entry["target"]))
    if entry["target"] != target:
        raise ActionIdReused(
            f"action id {action_id} was used on {when} for {earlier}; an id names one "
            "action: use a new id", hint="leave --id out and a new id is made")
    if record.get("phase") != "started" or not entry["started"]:
        return
    if entry["outcome"] is None:
        raise ActionOutcomeUnknown(
            f"action id {action_id} ({earlier}) started on {_when(entry['started'])} and never "
            "finished: its outcome is unknown (was the process killed?); it is not started "
            "again", hint="check what runs there now, then retry with a new id")
    raise ActionAlreadyRan(
        f"action id {action_id} already ran: {earlier} {entry['outcome']} on "
        f"{_when(entry['finished'])}; not run again (a new id runs it again)",
        str(entry["outcome"]), entry["error"])


def describe_target(target: dict[str, Any]) -> str:
    """``deploy payments-api 1.2.3 in staging``: a target in words."""
    words = [str(target.get("action") or "?")]
    for key in ("template", "service", "version", "run_id"):
        if target.get(key):
            words.append(str(target[key]))
    if target.get("replicas") is not None:
        words.append(f"to {target['replicas']} replicas")
    if target.get("environment"):
        words.append(f"in {target['environment']}")
    return " ".join(words)


def _when(text: object) -> str:
    """A record's ISO time as ``2026-11-25 14:00:00 UTC`` (as stored when it is not one)."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text or "?")
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo is not None else "")


def lookup(path: Path, fd: int, head: Head, action_id: str) -> Entry | None:
    """The entry of ``action_id`` in the log open at ``fd`` (verified up to ``head``), or None."""
    try:
        return _lookup(path, fd, head, action_id)
    except (sqlite3.Error, OSError) as exc:
        log.warning("audit index %s not usable (%s): reading the log", path, exc)
    entries: dict[str, Entry] = {}
    for _n, record, _end in Walk(fd, end=head.length):
        fold(entries, record)
    return entries.get(action_id)


class _Table(MutableMapping[str, Entry]):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __getitem__(self, key: str) -> Entry:
        row = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM ids WHERE id = ?",
                              (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return dict(zip(_COLUMNS, row, strict=True))

    def __setitem__(self, key: str, value: Entry) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO ids (id, {', '.join(_COLUMNS)}) "
                        f"VALUES (?{', ?' * len(_COLUMNS)})",
                        (key, *(value[c] for c in _COLUMNS)))

    def __delitem__(self, key: str) -> None:
        self.db.execute("DELETE FROM ids WHERE id = ?", (key,))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (row[0] for row in self.db.execute("SELECT id FROM ids"))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM ids").fetchone()[0])


#: Entries kept in memory while the index catches up, before they are written.
_BATCH = 5000


class _Batch(_Table):
    """The table, with the entries being changed kept in memory and written together."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db)
        self.pending: dict[str, Entry] = {}
        self.empty = db.execute("SELECT 1 FROM ids LIMIT 1").fetchone() is None

    def get(self, key: str, default: Entry | None = None) -> Entry | None:  # type: ignore[override]
        if key in self.pending:
            return self.pending[key]
        return default if self.empty else super().get(key, default)

    def __setitem__(self, key: str, value: Entry) -> None:
        self.pending[key] = value

    def flush(self) -> None:
        if self.pending:
            self.db.executemany(f"INSERT OR REPLACE INTO ids (id, {', '.join(_COLUMNS)}) "
                                f"VALUES (?{', ?' * len(_COLUMNS)})",
                                [(k, *(v[c] for c in _COLUMNS)) for k, v in self.pending.items()])
            self.pending.clear()
            self.empty = False


def _lookup(path: Path, fd: int, head: Head, action_id: str) -> Entry | None:
    if path.is_symlink():
        path.unlink()  # derived data: never followed, rebuilt
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")  # derived from the log: checked, rebuilt if wrong
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT seq, hash, length FROM head").fetchone()
        start = Head(*row) if row else EMPTY
        if start.length > head.length or not ends_with(fd, start):
            db.execute("DELETE FROM ids")
            start = EMPTY
        if start.length < head.length:
            table = _Batch(db)
            walk = Walk(fd, start.length, start, start.seq + 1, end=head.length)
            for _n, record, _end in walk:
                fold(table, record)
                if len(table.pending) >= _BATCH:
                    table.flush()
            table.flush()
            if walk.broken is not None:
                raise sqlite3.DatabaseError(f"the log does not verify from byte {start.length}")
            db.execute("INSERT OR REPLACE INTO head VALUES (1, ?, ?, ?)",
                       (head.seq, head.hash, head.length))
        entry = _Table(db).get(action_id)
        db.execute("COMMIT")
        return entry
    finally:
        db.close()
