"""The store in the data dir (the default, for one person).

The audit trail stays the JSON-lines log of :mod:`idp_tui.audit`. ``SqliteStore`` is the data dir's
database for what later needs a store (its schema migrated like PostgreSQL's, by
:mod:`idp_tui.store.migrations`); it is opened only when something uses it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from . import StoreError
from .migrations import MIGRATIONS, Migration, apply, too_new

STORE_FILE = "store.db"


class SqliteStore:
    def __init__(self, path: Path, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        self.migrations = tuple(migrations)
        self._conn: sqlite3.Connection | None = None
        self.version: int | None = None

    def connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        try:
            self.version = self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> int:
        known = self.migrations[-1].version if self.migrations else 0
        conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS idp_schema (one INTEGER PRIMARY KEY "
                         "CHECK (one = 1), version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM idp_schema").fetchone()
            current = int(row[0]) if row else 0
            if current > known:
                raise too_new(current, known)
            version = apply(conn.execute, current, "sqlite", self.migrations)
            conn.execute("INSERT OR REPLACE INTO idp_schema VALUES (1, ?)", (version,))
            conn.execute("COMMIT")
            return version
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
