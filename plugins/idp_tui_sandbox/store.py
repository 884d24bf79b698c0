"""SQLite state of the sandbox: what is deployed where, environments, known-bad releases.

Everything else is computed from the seed and the clock; this file holds only what actions change.
Times are stored as Unix seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS environments (
    name TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'static',
    protected INTEGER NOT NULL DEFAULT 0,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS deployments (
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    version TEXT NOT NULL,
    replicas_ready INTEGER NOT NULL,
    replicas_desired INTEGER NOT NULL,
    health TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (service, environment)
);
CREATE TABLE IF NOT EXISTS deployment_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    version TEXT NOT NULL,
    health TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    deployed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deployment_history_by_target
    ON deployment_history (service, environment, deployed_at);
CREATE TABLE IF NOT EXISTS bad_versions (
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    severity REAL NOT NULL,
    PRIMARY KEY (service, version)
);
"""


@dataclass(slots=True, frozen=True)
class DeploymentRow:
    service: str
    environment: str
    version: str
    replicas_ready: int
    replicas_desired: int
    health: str
    message: str
    updated_at: float


@dataclass(slots=True, frozen=True)
class EnvironmentRow:
    name: str
    order: int
    kind: str
    protected: bool
    expires_at: float | None


@dataclass(slots=True, frozen=True)
class HistoryRow:
    version: str
    health: str
    message: str
    deployed_at: float


class Store:
    """A thin wrapper around one SQLite connection."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The source runs on one event loop in one thread; the flag only allows a start in another.
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # Meta ---------------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def reset(self, meta: dict[str, str], environments: Iterable[EnvironmentRow],
              deployments: Iterable[DeploymentRow], bad_versions: Iterable[tuple[str, str, float]]) -> None:
        """Replace the whole state in one transaction."""
        with self._db:
            for table in ("meta", "environments", "deployments", "deployment_history", "bad_versions"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            self._db.executemany("INSERT INTO environments VALUES (?, ?, ?, ?, ?)",
                                 [(e.name, e.order, e.kind, int(e.protected), e.expires_at) for e in environments])
            rows = [(d.service, d.environment, d.version, d.replicas_ready, d.replicas_desired, d.health,
                     d.message, d.updated_at) for d in deployments]
            self._db.executemany("INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "INSERT INTO deployment_history (service, environment, version, health, message, deployed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", [(r[0], r[1], r[2], r[5], r[6], r[7]) for r in rows])
            self._db.executemany("INSERT INTO bad_versions VALUES (?, ?, ?)", bad_versions)

    # Environments -------------------------------------------------------------------------------
    def environments(self) -> list[EnvironmentRow]:
        rows = self._db.execute("SELECT name, ord, kind, protected, expires_at FROM environments ORDER BY ord, name")
        return [EnvironmentRow(name, order, kind, bool(protected), expires) for name, order, kind, protected, expires
                in rows]

    def put_environment(self, row: EnvironmentRow) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO environments VALUES (?, ?, ?, ?, ?)",
                             (row.name, row.order, row.kind, int(row.protected), row.expires_at))

    # Deployments --------------------------------------------------------------------------------
    def deployments(self) -> list[DeploymentRow]:
        return [DeploymentRow(*row) for row in self._db.execute(
            "SELECT service, environment, version, replicas_ready, replicas_desired, health, message, updated_at"
            " FROM deployments ORDER BY service, environment")]

    def deployment(self, service: str, environment: str) -> DeploymentRow | None:
        row = self._db.execute(
            "SELECT service, environment, version, replicas_ready, replicas_desired, health, message, updated_at"
            " FROM deployments WHERE service = ? AND environment = ?", (service, environment)).fetchone()
        return DeploymentRow(*row) if row else None

    def put_deployment(self, row: DeploymentRow) -> None:
        """Record a deployment: the current state and a history entry."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (row.service, row.environment, row.version, row.replicas_ready,
                              row.replicas_desired, row.health, row.message, row.updated_at))
            self._db.execute(
                "INSERT INTO deployment_history (service, environment, version, health, message, deployed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row.service, row.environment, row.version, row.health, row.message, row.updated_at))

    def history(self, service: str, environment: str, start: float, end: float) -> list[HistoryRow]:
        """Deployments in (start, end], preceded by the one active at ``start`` if any."""
        query = ("SELECT version, health, message, deployed_at FROM deployment_history"
                 " WHERE service = ? AND environment = ? AND deployed_at {} ORDER BY deployed_at {}, id {} {}")
        before = self._db.execute(query.format("<= ?", "DESC", "DESC", "LIMIT 1"),
                                  (service, environment, start)).fetchall()
        during = self._db.execute(query.format("> ? AND deployed_at <= ?", "", "", ""),
                                  (service, environment, start, end)).fetchall()
        return [HistoryRow(*row) for row in before + during]

    # Bad releases -------------------------------------------------------------------------------
    def bad_versions(self) -> dict[tuple[str, str], float]:
        return {(s, v): sev for s, v, sev in self._db.execute("SELECT service, version, severity FROM bad_versions")}

    def mark_bad(self, service: str, version: str, severity: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO bad_versions VALUES (?, ?, ?)", (service, version, severity))
