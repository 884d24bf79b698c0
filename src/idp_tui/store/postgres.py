"""The store on PostgreSQL: one audit hash chain for a whole organisation.

Appends from any number of machines are serialised on the chain's head row (``SELECT … FOR UPDATE``
in the append's transaction): each append reads the head, chains its record onto it (the same record
format and hash as the JSON-lines log, :func:`idp_tui.audit.chained`), inserts it and moves the head,
and commits — or nothing of it is kept. A client killed mid-append leaves no trace; two clients never
chain onto the same record (``prev`` is unique as well).

A ``finished`` record that cannot be written because the server is away is kept in a local spool file
(fsynced) and written before anything else once the server answers again, once only; a ``started``
record that cannot be written refuses the action up front. psycopg is imported here only.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

from ..audit import AuditError
from ..auditchain import Head, Ledger, VerifyResult, canonical, chained, record_hash
from ..auditindex import fold, judge
from . import StoreConfig, StoreError
from .migrations import LOCK_KEY, MIGRATIONS, Migration, apply, too_new

_SCHEMA_TABLE = """CREATE TABLE idp_schema (one INTEGER PRIMARY KEY CHECK (one = 1),
                                            version INTEGER NOT NULL)"""


class StoreUnavailable(StoreError):
    """The server cannot be reached or dropped the connection: nothing was written."""


def _where(dsn: str) -> str:
    """The DSN as shown to a person (it never carries a password: the config refuses one)."""
    return re.sub(r"\s+", " ", dsn).strip()


class PostgresStore:
    """A connection to the organisation's database, opened on first use, migrated on connect."""

    def __init__(self, dsn: str, config: StoreConfig | None = None, *,
                 migrations: Sequence[Migration] = MIGRATIONS, connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.config = config
        self.migrations = tuple(migrations)
        self.connect_timeout = connect_timeout
        self.where = _where(dsn)
        self._conn: psycopg.Connection[Any] | None = None
        self.version: int | None = None

    # Connecting and migrating --------------------------------------------------------------------

    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        password = self.config.password() if self.config is not None else None
        kwargs: dict[str, Any] = {"connect_timeout": self.connect_timeout,
                                  "application_name": "idp-tui"}
        if password is not None:
            kwargs["password"] = password
        try:
            conn = psycopg.connect(self.dsn, **kwargs)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach the store {self.where}: {_first_line(exc)}",
                                   hint="check [store] dsn and that the server is up") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot use the store {self.where}: {_first_line(exc)}") from None
        try:
            self.version = self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> int:
        known = self.migrations[-1].version if self.migrations else 0
        try:
            with conn.transaction():
                row = conn.execute("SELECT to_regclass('idp_schema') IS NOT NULL").fetchone()
                current = 0
                if row and row[0]:
                    found = conn.execute("SELECT version FROM idp_schema").fetchone()
                    current = int(found[0]) if found else 0
                if current > known:
                    raise too_new(current, known)
                if current == known:
                    return current
                # Another client may be migrating: wait for it, then read again.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                if conn.execute("SELECT to_regclass('idp_schema') IS NULL").fetchone()[0]:
                    conn.execute(_SCHEMA_TABLE)
                    conn.execute("INSERT INTO idp_schema VALUES (1, 0)")
                current = int(conn.execute("SELECT version FROM idp_schema").fetchone()[0])
                version = apply(lambda sql: conn.execute(sql).close(), current, "postgres",  # type: ignore[arg-type]
                                self.migrations)
                conn.execute("UPDATE idp_schema SET version = %s", (version,))
                return version
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(f"the store {self.where} needs its schema created or migrated and "
                             f"this database user may not: {_first_line(exc)}",
                             hint="run idp-tui once as the schema's owner (see the README's "
                                  "team set-up)") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the store {self.where} went away while its schema was "
                                   f"checked: {_first_line(exc)}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    # The chain -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any], *, once: bool = False) -> dict[str, Any]:
        """Chain ``record`` onto the head and commit it. ``once``: a ``finished`` record for the
        same action id already there is returned instead (a spooled record written twice)."""
        for attempt in (1, 2):
            fresh = self._conn is None or self._conn.closed
            conn = self.connection()
            committing = False
            try:
                with conn.cursor() as cur:
                    row = cur.execute("SELECT seq, hash FROM idp_audit_head WHERE one = 1 "
                                      "FOR UPDATE").fetchone()
                    if row is None:
                        raise StoreError(f"the store {self.where} has no audit head row: its "
                                         "schema was changed by hand")
                    head = Head(int(row[0]), str(row[1]), 0)
                    rid = record.get("action_id")
                    earlier = None
                    if rid and (once or record.get("phase") in ("started", "denied")):
                        earlier = [json.loads(r[0]) for r in cur.execute(
                            "SELECT record FROM idp_audit WHERE action_id = %s ORDER BY seq",
                            (str(rid),))]
                    if once and earlier:
                        done = [r for r in earlier if r.get("phase") == record.get("phase")]
                        if done:
                            conn.rollback()
                            return done[-1]
                    if earlier and record.get("phase") in ("started", "denied"):
                        entries: dict[str, Any] = {}
                        for item in earlier:
                            fold(entries, item)
                        judge(entries.get(str(rid)), record)
                    full = chained(record, head)
                    cur.execute(
                        "INSERT INTO idp_audit (seq, prev, hash, action_id, phase, actor, time, "
                        "record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (full["seq"], full["prev"], full["hash"], _text(rid),
                         _text(full.get("phase")), _text(full.get("actor")),
                         _text(full.get("time")), canonical(full).decode()))
                    cur.execute("UPDATE idp_audit_head SET seq = %s, hash = %s WHERE one = 1",
                                (full["seq"], full["hash"]))
                committing = True
                conn.commit()
                return full
            except AuditError:
                _rollback(conn)
                raise
            except psycopg.OperationalError as exc:
                self._drop()
                if committing:
                    raise StoreUnavailable(
                        f"the store {self.where} went away while a record was committed: whether "
                        f"it was kept is not known ({_first_line(exc)})",
                        hint="`idp-tui audit verify` shows the chain") from None
                if attempt == 1 and not fresh:
                    continue  # a connection left over from before a restart: once more, anew
                raise StoreUnavailable(f"cannot write to the store {self.where}: "
                                       f"{_first_line(exc)}; nothing was recorded") from None
            except psycopg.Error as exc:
                _rollback(conn)
                raise StoreError(f"cannot write to the store {self.where}: "
                                 f"{_first_line(exc)}; nothing was recorded") from None
        raise AssertionError("not reached")

    def rows(self, after: int = 0, batch: int = 5000) -> Iterator[tuple[int, str, str, str]]:
        """(seq, prev, hash, record text) from ``after`` on, oldest first, in batches (bounded
        memory, no long transaction)."""
        while True:
            try:
                conn = self.connection()
                with conn.cursor() as cur:
                    found = cur.execute(
                        "SELECT seq, prev, hash, record FROM idp_audit WHERE seq > %s "
                        "ORDER BY seq LIMIT %s", (after, batch)).fetchall()
                conn.rollback()
            except psycopg.OperationalError as exc:
                self._drop()
                raise StoreUnavailable(f"cannot read the store {self.where}: "
                                       f"{_first_line(exc)}") from None
            yield from found
            if len(found) < batch:
                return
            after = int(found[-1][0])

    def records_of(self, action_id: str) -> list[str]:
        """The records (as stored) of one action id, oldest first (by the action-id index)."""
        try:
            conn = self.connection()
            found = conn.execute("SELECT record FROM idp_audit WHERE action_id = %s ORDER BY seq",
                                 (action_id,)).fetchall()
            conn.rollback()
        except psycopg.OperationalError as exc:
            self._drop()
            raise StoreUnavailable(f"cannot read the store {self.where}: "
                                   f"{_first_line(exc)}") from None
        return [str(row[0]) for row in found]

    def request_rows(self) -> list[str]:
        """The records (as stored) of every action id that was requested for approval, oldest
        first (by the index of the ``requested`` records)."""
        try:
            conn = self.connection()
            found = conn.execute(
                "SELECT record FROM idp_audit WHERE action_id IN (SELECT action_id FROM "
                "idp_audit WHERE phase = 'requested') ORDER BY seq").fetchall()
            conn.rollback()
        except psycopg.OperationalError as exc:
            self._drop()
            raise StoreUnavailable(f"cannot read the store {self.where}: "
                                   f"{_first_line(exc)}") from None
        return [str(row[0]) for row in found]

    def head(self) -> Head:
        try:
            conn = self.connection()
            row = conn.execute("SELECT seq, hash FROM idp_audit_head WHERE one = 1").fetchone()
            conn.rollback()
        except psycopg.OperationalError as exc:
            self._drop()
            raise StoreUnavailable(f"cannot read the store {self.where}: "
                                   f"{_first_line(exc)}") from None
        return Head(int(row[0]), str(row[1]), 0) if row else Head(-1, "", 0)


class PostgresAudit:
    """The audit trail on PostgreSQL, with the same methods as :class:`idp_tui.audit.AuditLog`."""

    def __init__(self, store: PostgresStore, *, spool: Path | None = None) -> None:
        self.store = store
        self.spool = spool
        self.path = f"postgres {store.where}"
        self.notes: list[str] = []

    # Appending -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        try:
            return self.store.append(record)
        except StoreUnavailable as exc:
            if record.get("phase") == "finished" and self.spool is not None:
                self._keep(record)
                raise StoreUnavailable(f"{exc}; the record is kept in {self.spool} and written "
                                       "to the store once it answers again") from None
            raise

    def flush(self) -> int:
        """Write the spooled records (oldest first, each once); how many were written."""
        if self.spool is None or not self.spool.exists():
            return 0
        with self._spool_lock():
            try:
                lines = self.spool.read_bytes().splitlines()
            except FileNotFoundError:
                return 0
            written = 0
            for raw in lines:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a torn line of a write that never returned: not acknowledged
                self.store.append(record, once=True)
                written += 1
            self.spool.unlink(missing_ok=True)
            return written

    def _keep(self, record: dict[str, Any]) -> None:
        assert self.spool is not None
        with self._spool_lock():
            fd = os.open(self.spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, canonical(record) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)

    def _spool_lock(self) -> Any:
        assert self.spool is not None
        return _FileLock(self.spool.with_name(self.spool.name + ".lock"))

    # Reading -------------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        for _seq, _prev, _hash, text in self.store.rows():
            yield json.loads(text)

    def records_of(self, action_id: str) -> list[dict[str, Any]]:
        """One action id's records, oldest first."""
        return [json.loads(text) for text in self.store.records_of(action_id)]

    def request_records(self) -> list[dict[str, Any]]:
        """The records of the action ids requested for approval, oldest first."""
        return [json.loads(text) for text in self.store.request_rows()]

    def follow_batches(self, poll: float = 0.25, stop: Callable[[], bool] | None = None
                       ) -> Iterator[list[dict[str, Any]]]:
        after, first = 0, True
        while True:
            batch = [json.loads(text) for _s, _p, _h, text in self.store.rows(after)]
            if batch:
                after = int(batch[-1]["seq"])
            if first or batch:
                yield batch
            first = False
            if stop is not None and stop():
                return
            time.sleep(poll)

    # Verifying -----------------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Every record's hash and link, the sequence without gaps, and the head row."""
        try:
            self.flush()
        except StoreError as exc:
            self.notes.append(f"spooled records not written yet: {exc}")
        head = Head(0, "0" * 64, 0)
        ledger = Ledger()
        count = 0
        for seq, prev, digest, text in self.store.rows():
            seq = int(seq)
            problem = None
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                problem = "not a JSON object"
            elif seq != head.seq + 1:
                problem = (f"record {head.seq + 1} is missing (deleted)" if seq > head.seq + 1
                           else "its sequence number does not follow the record before it")
            elif prev != head.hash or record.get("prev") != head.hash:
                problem = "does not follow the record before it (removed, reordered or inserted)"
            elif record.get("hash") != digest or record_hash(record) != digest:
                problem = "its content does not match its hash (edited)"
            elif record.get("seq") != seq or canonical(record).decode() != text:
                problem = "its stored form does not match the record (edited)"
            if problem is not None:
                rid = str(record.get("action_id", "")) if isinstance(record, dict) else None
                return VerifyResult(False, count, seq, rid or None, problem,
                                    hint=f"records before {seq} are intact; the store's table "
                                         "idp_audit was changed outside idp-tui")
            count += 1
            head = Head(seq, digest, 0)
            ledger.add(seq, record)
        top = self.store.head()
        if (top.seq, top.hash) != (head.seq, head.hash):
            return VerifyResult(False, count, None, None,
                                f"the chain ends at record {head.seq} but its head names record "
                                f"{top.seq}: records were deleted or the head was changed",
                                hint="the store's tables were changed outside idp-tui")
        return VerifyResult(True, count, note="; ".join(self.notes),
                            unfinished=ledger.unfinished, repairs=ledger.repairs)


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _rollback(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.rollback()
    except psycopg.Error:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
