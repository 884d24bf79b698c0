"""The store on PostgreSQL: one audit hash chain for a whole organisation.

Appends from any number of machines are serialised on the chain's head row (``SELECT … FOR UPDATE``
in the append's transaction): each append reads the head, chains its record onto it (the same record
format and hash as the JSON-lines log, :func:`idp_tui.audit.chained`), inserts it and moves the head,
and commits — or nothing of it is kept. A client killed mid-append leaves no trace; two clients never
chain onto the same record (``prev`` is unique as well).

A ``finished`` record that cannot be written because the server is away is kept in a local spool file
(fsynced) and written before anything else once the server answers again, once only; a ``started``
record that cannot be written refuses the action up front. psycopg is imported here only (and in
:mod:`idp_tui.store.listen`, which this module loads).

Each append also sends a ``NOTIFY`` in its transaction (delivered on commit only): a dashboard
hears approvals as they are recorded (:meth:`PostgresAudit.listener`).

Connections come from psycopg's ``AsyncConnectionPool`` (``[store] pool_min``/``pool_max``), opened
on first use after the schema was checked on a connection of its own (its errors say what is
wrong), and closed by :meth:`PostgresStore.close` or when the process exits. Every query is a
coroutine on the store's own event loop (:mod:`idp_tui.store.pgloop`), which owns the pool for the
whole process: the audit writer's thread, threads reading the trail and the command line wait for
it with :meth:`StoreLoop.call`, an event loop awaits it with :meth:`StoreLoop.submit` — the
dashboard's loop never waits on the database. A connection the pool cannot hand over in time (the
server away, or every connection busy) is tried once directly, so that the error names the cause
and a server that is back is used at once, before the pool's own reconnection comes round.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

import uuid
from datetime import UTC, datetime

from ..audit import AuditBroken, AuditError
from ..auditchain import Head, Ledger, RepairResult, VerifyResult, canonical, chained, record_hash
from ..auditindex import fold, judge
from . import StoreConfig, StoreError, first_line
from .anchor import REPAIR, FileLock, StoreAnchor
from .anchor import problem as anchor_problem
from .listen import CHANNEL, AuditListener, Change, notice
from .migrations import LOCK_KEY, MIGRATIONS, Migration, apply, too_new
from .pgloop import STORE_LOOP

_SCHEMA_TABLE = """CREATE TABLE idp_schema (one INTEGER PRIMARY KEY CHECK (one = 1),
                                            version INTEGER NOT NULL)"""


class StoreUnavailable(StoreError):
    """The server cannot be reached or dropped the connection: nothing was written."""


#: The pool's own reconnection warnings are not shown to a person (the store's errors say it);
#: they still reach a log the application configured.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
log = logging.getLogger("idp_tui.store")

#: Connections kept open, and the most open at once, unless ``[store]`` says otherwise.
POOL_MIN, POOL_MAX = 1, 4
#: Seconds to wait for a connection of the pool before one is tried directly.
POOL_WAIT = 2.0

Conn = psycopg.AsyncConnection[Any]


def _where(dsn: str) -> str:
    """The DSN as shown to a person (it never carries a password: the config refuses one)."""
    return re.sub(r"\s+", " ", dsn).strip()


class Rows:
    """A statement's rows, fetched on the store's loop (``fetchone``/``fetchall`` as a cursor's)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows


class PostgresStore:
    """A connection to the organisation's database, opened on first use, migrated on connect.

    The coroutines (``*_async`` and the private ones) run on the store's loop; the other methods
    are for threads and the command line (they wait for the loop)."""

    def __init__(self, dsn: str, config: StoreConfig | None = None, *,
                 migrations: Sequence[Migration] = MIGRATIONS, connect_timeout: int = 5,
                 pool_min: int | None = None, pool_max: int | None = None) -> None:
        self.dsn = dsn
        self.config = config
        self.migrations = tuple(migrations)
        self.connect_timeout = connect_timeout
        self.where = _where(dsn)
        self.pool_min = pool_min if pool_min is not None else getattr(config, "pool_min", POOL_MIN)
        self.pool_max = max(self.pool_min, 1, pool_max if pool_max is not None
                            else getattr(config, "pool_max", POOL_MAX))
        self._pool: AsyncConnectionPool[Any] | None = None
        #: The pool being opened (one opening for every caller meanwhile).
        self._opening: asyncio.Task[AsyncConnectionPool[Any]] | None = None
        self.version: int | None = None

    # Connecting and migrating --------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        password = self.config.password() if self.config is not None else None
        kwargs: dict[str, Any] = {"connect_timeout": self.connect_timeout,
                                  "application_name": "idp-tui"}
        if password is not None:
            kwargs["password"] = password
        return kwargs

    async def _connect(self, **extra: Any) -> Conn:
        """A connection of its own (not the pool's), its errors in words."""
        try:
            return await psycopg.AsyncConnection.connect(self.dsn, **(self._kwargs() | extra))
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach the store {self.where}: {first_line(exc)}",
                                   hint="check [store] dsn and that the server is up") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot use the store {self.where}: {first_line(exc)}") from None

    def connection(self) -> AsyncConnectionPool[Any]:
        """The pool, opened on first use once the schema is checked (and migrated)."""
        return STORE_LOOP.call(self._pool_on_loop())

    async def _pool_on_loop(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and not self._pool.closed and self._opening is not None \
                and self._opening.get_loop() is loop:
            return self._pool
        task = self._opening
        if task is None or task.get_loop() is not loop or (task.done() and (
                task.cancelled() or task.exception() is not None or self._pool is None)):
            task = self._opening = loop.create_task(self._open())
        return await asyncio.shield(task)

    async def _open(self) -> AsyncConnectionPool[Any]:
        conn = await self._connect()
        try:
            self.version = await self._migrate(conn)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.dsn, kwargs=self._kwargs(), min_size=self.pool_min, max_size=self.pool_max,
            open=False, name=f"idp-tui store {self.where}",
            # A connection the server dropped (it restarted) is replaced before it is used,
            # not handed out to fail one read or append.
            check=AsyncConnectionPool.check_connection)
        await pool.open(wait=False)
        self._pool = pool
        STORE_LOOP.at_exit(self._close_async)
        return pool

    async def listen_connection(self) -> Conn:
        """A connection of its own for ``LISTEN`` (asynchronous, in autocommit; TCP keepalives
        so that a server gone without a word is noticed), once the schema was checked. Made on
        the caller's event loop (it is read there)."""
        if self.version is None:
            await STORE_LOOP.submit(self._pool_on_loop())
        return await self._connect(application_name="idp-tui listen", autocommit=True,
                                   keepalives=1, keepalives_idle=30, keepalives_interval=10,
                                   keepalives_count=3)

    @property
    def pool(self) -> AsyncConnectionPool[Any] | None:
        """The pool, once open (None before the first use and after ``close``)."""
        return self._pool

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        """A connection for one operation: the pool's, or when it has none to give in time, one
        made now (its error says why the server cannot be reached)."""
        conn, pooled = await self._take()
        try:
            yield conn
        finally:
            await self._give(conn, pooled)

    async def _take(self) -> tuple[Conn, AsyncConnectionPool[Any] | None]:
        pool = await self._pool_on_loop()
        try:
            return await pool.getconn(timeout=min(POOL_WAIT, float(self.connect_timeout))), pool
        except PoolTimeout:
            return await self._connect(), None

    @staticmethod
    async def _give(conn: Conn, pool: AsyncConnectionPool[Any] | None) -> None:
        if pool is None:
            await conn.close()
            return
        lost = conn.closed
        await pool.putconn(conn)
        if lost:
            await pool.check()  # the others of a server that went away are dropped too

    async def _migrate(self, conn: Conn) -> int:
        known = self.migrations[-1].version if self.migrations else 0
        try:
            async with conn.transaction():
                row = await (await conn.execute(
                    "SELECT to_regclass('idp_schema') IS NOT NULL")).fetchone()
                current = 0
                if row and row[0]:
                    found = await (await conn.execute("SELECT version FROM idp_schema")).fetchone()
                    current = int(found[0]) if found else 0
                if current > known:
                    raise too_new(current, known)
                if current == known:
                    return current
                # Another client may be migrating: wait for it, then read again.
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                missing = await (await conn.execute(
                    "SELECT to_regclass('idp_schema') IS NULL")).fetchone()
                if missing and missing[0]:
                    await conn.execute(_SCHEMA_TABLE)
                    await conn.execute("INSERT INTO idp_schema VALUES (1, 0)")
                found = await (await conn.execute("SELECT version FROM idp_schema")).fetchone()
                current = int(found[0]) if found else 0
                statements: list[str] = []
                version = apply(statements.append, current, "postgres", self.migrations)
                for statement in statements:
                    await conn.execute(statement)  # type: ignore[arg-type]
                await conn.execute("UPDATE idp_schema SET version = %s", (version,))
                return version
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(f"the store {self.where} needs its schema created or migrated and "
                             f"this database user may not: {first_line(exc)}",
                             hint="run idp-tui once as the schema's owner (see the README's "
                                  "team set-up)") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the store {self.where} went away while its schema was "
                                   f"checked: {first_line(exc)}") from None

    def close(self) -> None:
        """Close the pool (and every connection in it); the next use opens it again."""
        if self._pool is not None:
            STORE_LOOP.call(self._close_async())

    async def _close_async(self) -> None:
        pool, self._pool, self._opening = self._pool, None, None
        STORE_LOOP.forget(self._close_async)
        if pool is not None:
            await pool.close()

    # Work of another module (the usage tables) --------------------------------------------------

    def transact(self, work: Callable[[Callable[..., Rows]], Any]) -> Any:
        """``work(execute)`` in one transaction on a connection of the pool, committed at the end
        (rolled back on an error); what it returns. ``execute(sql, params)`` runs one statement
        on the store's loop and returns its :class:`Rows`. For a thread or the command line."""
        conn, pool = STORE_LOOP.call(self._take())
        done = False
        try:
            result = work(lambda sql, params=(): STORE_LOOP.call(_rows(conn, sql, params)))
            STORE_LOOP.call(conn.commit())
            done = True
            return result
        finally:
            if not done:
                STORE_LOOP.call(_rollback(conn))
            STORE_LOOP.call(self._give(conn, pool))

    # The chain -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any], *, once: bool = False,
               anchored: Head | None = None) -> dict[str, Any]:
        """Chain ``record`` onto the head and commit it. ``once``: a ``finished`` record for the
        same action id already there is returned instead (a spooled record written twice).
        ``anchored``: a record the chain must still hold (:mod:`idp_tui.store.anchor`), else
        ``AuditBroken``. For a thread or the command line (:meth:`append_async` on a loop)."""
        return STORE_LOOP.call(self._append(record, once, anchored))

    async def append_async(self, record: dict[str, Any], *, once: bool = False,
                           anchored: Head | None = None) -> dict[str, Any]:
        """:meth:`append` awaited from an event loop (which goes on meanwhile; cancelling the
        wait does not cut the append)."""
        return await STORE_LOOP.submit(self._append(record, once, anchored))

    async def _append(self, record: dict[str, Any], once: bool,
                      anchored: Head | None) -> dict[str, Any]:
        for attempt in (1, 2):
            async with self._conn() as conn:
                done, full = await self._append_on(conn, record, once, anchored,
                                                   last=attempt == 2)
            if done:
                return full
        raise AssertionError("not reached")

    async def _append_on(self, conn: Conn, record: dict[str, Any], once: bool,
                         anchored: Head | None, *, last: bool) -> tuple[bool, dict[str, Any]]:
        """One try of ``append`` on ``conn``: (True, the record kept), or (False, …) to try once
        more on another connection (this one was left over from before a restart)."""
        committing = False
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT seq, hash, (SELECT hash FROM idp_audit WHERE seq = %s) "
                                  "FROM idp_audit_head WHERE one = 1 FOR UPDATE",
                                  (anchored.seq if anchored is not None else -1,))
                row = await cur.fetchone()
                if row is None:
                    raise StoreError(f"the store {self.where} has no audit head row: its "
                                     "schema was changed by hand")
                head = Head(int(row[0]), str(row[1]), 0)
                if anchored is not None:
                    wrong = anchor_problem(self.where, anchored, head.seq,
                                           None if row[2] is None else str(row[2]))
                    if wrong is not None:
                        raise AuditBroken(f"{wrong}; actions are refused", hint=REPAIR)
                rid = record.get("action_id")
                earlier = None
                if rid and (once or record.get("phase") in ("started", "denied")):
                    await cur.execute("SELECT record FROM idp_audit WHERE action_id = %s "
                                      "ORDER BY seq", (str(rid),))
                    earlier = [json.loads(r[0]) for r in await cur.fetchall()]
                if once and earlier:
                    done = [r for r in earlier if r.get("phase") == record.get("phase")]
                    if done:
                        await conn.rollback()
                        return True, done[-1]
                if earlier and record.get("phase") in ("started", "denied"):
                    entries: dict[str, Any] = {}
                    for item in earlier:
                        fold(entries, item)
                    judge(entries.get(str(rid)), record)
                full = chained(record, head)
                await cur.execute(
                    "INSERT INTO idp_audit (seq, prev, hash, action_id, phase, actor, time, "
                    "record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (full["seq"], full["prev"], full["hash"], _text(rid),
                     _text(full.get("phase")), _text(full.get("actor")),
                     _text(full.get("time")), canonical(full).decode()))
                await cur.execute("UPDATE idp_audit_head SET seq = %s, hash = %s WHERE one = 1",
                                  (full["seq"], full["hash"]))
                # Delivered to the listeners only once the transaction commits (listen.py).
                await cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notice(full)))
            committing = True
            await conn.commit()
            return True, full
        except AuditError:
            await _rollback(conn)
            raise
        except psycopg.OperationalError as exc:
            if committing:
                raise StoreUnavailable(
                    f"the store {self.where} went away while a record was committed: whether "
                    f"it was kept is not known ({first_line(exc)})",
                    hint="`idp-tui audit verify` shows the chain") from None
            if not last:
                return False, record  # a connection left over from before a restart
            raise StoreUnavailable(f"cannot write to the store {self.where}: "
                                   f"{first_line(exc)}; nothing was recorded") from None
        except psycopg.Error as exc:
            await _rollback(conn)
            raise StoreError(f"cannot write to the store {self.where}: "
                             f"{first_line(exc)}; nothing was recorded") from None

    # Reading -------------------------------------------------------------------------------------

    async def query_async(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read-only query (its transaction rolled back), awaited from an event
        loop."""
        return await STORE_LOOP.submit(self._read(sql, params))

    async def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            async with self._conn() as conn:
                rows = await (await conn.execute(sql, params)).fetchall()  # type: ignore[arg-type]
                await conn.rollback()
                return rows
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot read the store {self.where}: "
                                   f"{first_line(exc)}") from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return STORE_LOOP.call(self._read(sql, params))

    def rows(self, after: int = 0, batch: int = 5000) -> Iterator[tuple[int, str, str, str]]:
        """(seq, prev, hash, record text) from ``after`` on, oldest first, in batches (bounded
        memory, no long transaction)."""
        while True:
            found = self._query("SELECT seq, prev, hash, record FROM idp_audit WHERE seq > %s "
                                "ORDER BY seq LIMIT %s", (after, batch))
            yield from found  # type: ignore[misc]
            if len(found) < batch:
                return
            after = int(found[-1][0])

    def texts_newest_first(self, batch: int = 2000) -> Iterator[str]:
        """The records (as stored), the newest first, in batches by the primary key (each batch
        a query of its own: reading stops when the reader does)."""
        before: int | None = None
        while True:
            found = self._query(
                "SELECT seq, record FROM idp_audit ORDER BY seq DESC LIMIT %s", (batch,)
            ) if before is None else self._query(
                "SELECT seq, record FROM idp_audit WHERE seq < %s ORDER BY seq DESC LIMIT %s",
                (before, batch))
            for _seq, text in found:
                yield str(text)
            if len(found) < batch:
                return
            before = int(found[-1][0])

    def records_of(self, action_id: str) -> list[str]:
        """The records (as stored) of one action id, oldest first (by the action-id index)."""
        return [str(row[0]) for row in self._query(
            "SELECT record FROM idp_audit WHERE action_id = %s ORDER BY seq", (action_id,))]

    def request_rows(self) -> list[str]:
        """The records (as stored) of every action id that was requested for approval, oldest
        first (by the index of the ``requested`` records)."""
        return [str(row[0]) for row in self._query(
            "SELECT record FROM idp_audit WHERE action_id IN (SELECT action_id FROM "
            "idp_audit WHERE phase = 'requested') ORDER BY seq")]

    def head(self) -> Head:
        found = self._query("SELECT seq, hash FROM idp_audit_head WHERE one = 1")
        return Head(int(found[0][0]), str(found[0][1]), 0) if found else Head(-1, "", 0)

    def hash_of(self, seq: int) -> str | None:
        """Record ``seq``'s hash (None: there is no such record)."""
        found = self._query("SELECT hash FROM idp_audit WHERE seq = %s", (seq,))
        return str(found[0][0]) if found else None


async def _rows(conn: Conn, sql: str, params: Sequence[Any]) -> Rows:
    cur = await conn.execute(sql, params)  # type: ignore[arg-type]
    return Rows(await cur.fetchall() if cur.description is not None else [])


class PostgresAudit:
    """The audit trail on PostgreSQL, with the same methods as :class:`idp_tui.audit.AuditLog`."""

    def __init__(self, store: PostgresStore, *, spool: Path | None = None,
                 anchor: StoreAnchor | None = None) -> None:
        self.store = store
        self.spool = spool
        #: The record of the chain this machine last wrote or verified (None: not kept).
        self.anchor = anchor
        self.path = f"postgres {store.where}"
        self.notes: list[str] = []
        #: Records this process appended (what counted from the trail may be out of date).
        self.appended = 0

    def close(self) -> None:
        """Close the store's connections (the next use opens them again)."""
        self.store.close()

    def listener(self, on_change: Callable[[Change], None], **options: Any) -> AuditListener:
        """Hear every append to the store as it is committed (``LISTEN``/``NOTIFY``, see
        :mod:`idp_tui.store.listen`); not started yet (``start()`` on the event loop it runs
        on; ``options``: ``on_state``, ``timer``, the backoff's ``first`` and ``longest``)."""
        return AuditListener(self.store.listen_connection, on_change, **options)

    # Appending -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        self.flush()
        try:
            written = self.store.append(record, anchored=self._anchored())
            self.appended += 1
            self._advance(written)
            return written
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
                self._advance(self.store.append(record, once=True, anchored=self._anchored()))
                written += 1
            self.spool.unlink(missing_ok=True)
            return written

    def _anchored(self) -> Head | None:
        return self.anchor.get() if self.anchor is not None else None

    def _advance(self, record: dict[str, Any]) -> None:
        """Anchor ``record`` (written or verified). Not anchoring it loses no record: it is said
        in the log, and the next append or verify anchors again."""
        if self.anchor is not None:
            try:
                self.anchor.advance(int(record["seq"]), str(record["hash"]))
            except AuditError as exc:
                log.warning("%s", exc)

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
        return FileLock(self.spool.with_name(self.spool.name + ".lock"))

    # Reading -------------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        for _seq, _prev, _hash, text in self.store.rows():
            yield json.loads(text)

    def lines_newest_first(self) -> Iterator[bytes]:
        """The records' lines (their canonical JSON, as the log has them), the newest first:
        what :func:`idp_tui.auditview.read_history` reads the Activity screen's history from."""
        for text in self.store.texts_newest_first():
            yield text.encode()

    def records_of(self, action_id: str) -> list[dict[str, Any]]:
        """One action id's records, oldest first."""
        return [json.loads(text) for text in self.store.records_of(action_id)]

    def request_records(self) -> list[dict[str, Any]]:
        """The records of the action ids requested for approval, oldest first."""
        return [json.loads(text) for text in self.store.request_rows()]

    def mirror(self, log: Any) -> tuple[int, Head]:
        """Copy the records the JSON-lines :class:`idp_tui.audit.AuditLog` ``log`` does not have
        yet into it, as stored (the same chain: ``log.verify()`` checks it alone); how many, and
        the head it ends at. Raises ``AuditBroken`` when the log holds another chain."""
        return log.copy_in(lambda after: (json.loads(text) for _s, _p, _h, text
                                          in self.store.rows(after)))

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
        anchored = self._anchored()  # (read once: another process may move it meanwhile)
        anchor_seq = anchored.seq if anchored is not None else -1
        anchored_hash: str | None = None
        for seq, prev, digest, text in self.store.rows():
            seq = int(seq)
            if seq == anchor_seq:
                anchored_hash = str(digest)
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
        if anchored is not None:
            wrong = anchor_problem(self.store.where, anchored, head.seq, anchored_hash)
            if wrong is not None:
                return VerifyResult(False, count, anchored.seq, None, wrong, hint=REPAIR)
        if count:
            self._advance({"seq": head.seq, "hash": head.hash})
        return VerifyResult(True, count, note="; ".join(self.notes),
                            unfinished=ledger.unfinished, repairs=ledger.repairs)

    def repair(self, reason: str, actor: str, *, now: datetime | None = None) -> RepairResult:
        """Record in the chain that this machine takes it as it is now, when it no longer holds
        the record this machine anchored (reset, emptied, rewritten): who, why, the anchor
        before and the head kept; the anchor moves to the repair record. Nothing to do when the
        chain holds it (an edited record in it is named by ``verify``, not repaired)."""
        anchored = self._anchored()
        head = self.store.head()
        wrong = None if anchored is None else anchor_problem(
            self.store.where, anchored, head.seq, self.store.hash_of(anchored.seq))
        if anchored is None or wrong is None:
            return RepairResult(None, "the store's chain holds the record this machine wrote or "
                                      "checked last: nothing to repair")
        now = now or datetime.now(UTC)
        entry = {"action_id": f"repair-{uuid.uuid4()}", "time": now.isoformat(),
                 "phase": "repair", "actor": actor, "action": "audit-repair", "reason": reason,
                 "repair": {"problem": wrong, "moved_to": None, "moved_bytes": None,
                            "moved_sha256": None, "anchor_before": anchored.as_dict(),
                            "head_kept": head.as_dict()}}
        stored = self.store.append(entry)
        self.appended += 1
        assert self.anchor is not None
        self.anchor.reset(int(stored["seq"]), str(stored["hash"]))
        return RepairResult(stored, wrong)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def _rollback(conn: Conn) -> None:
    try:
        await conn.rollback()
    except psycopg.Error:
        pass

