"""SQLite state of the sandbox: what is deployed where, environments, known-bad releases, and what
actions did (services, environments and resources they created, and each action's outcome).

Everything else is computed from the seed and the clock; this file holds only what actions change.
Times are stored as Unix seconds. Nothing secret is ever stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .reruns import RunChange

SCHEMA_VERSION = 2

_TABLES = ("meta", "environments", "deployments", "deployment_history", "bad_versions", "services",
           "resources", "actions", "run_changes")

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
    expires_at REAL,
    action_id TEXT
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
    deployed_at REAL NOT NULL,
    revision TEXT NOT NULL DEFAULT '',
    replicas INTEGER,
    complete INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS deployment_history_by_target
    ON deployment_history (service, environment, deployed_at);
CREATE TABLE IF NOT EXISTS bad_versions (
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    severity REAL NOT NULL,
    PRIMARY KEY (service, version)
);
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    tier INTEGER NOT NULL,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at REAL NOT NULL,
    action_id TEXT
);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    service TEXT,
    environment TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    details TEXT NOT NULL,
    action_id TEXT,
    PRIMARY KEY (kind, name, environment)
);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    service TEXT,
    environment TEXT,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    done INTEGER,
    total INTEGER,
    owner INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    undo TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS run_changes (
    run_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    first_job INTEGER NOT NULL DEFAULT 0,
    action_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS run_changes_by_run ON run_changes (run_id, at);
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
    #: Changes whenever the instances are replaced without a new version (a restart).
    revision: str = ""
    #: Set when the deployment was scaled at that moment to or from zero.
    replicas: int | None = None
    #: False for a rollout that was stopped part-way and undone.
    complete: bool = True
    id: int = 0


@dataclass(slots=True, frozen=True)
class ServiceRow:
    """A service created by an action (the seeded ones come from the world)."""

    name: str
    team: str
    tier: int
    kind: str
    language: str
    description: str
    created_at: float
    action_id: str | None = None


@dataclass(slots=True, frozen=True)
class ResourceRow:
    kind: str
    name: str
    service: str | None
    environment: str | None
    status: str
    created_at: float
    details: dict[str, str]
    action_id: str | None = None


@dataclass(slots=True, frozen=True)
class ActionRow:
    """One action run by the sandbox: its idempotency record."""

    id: str
    kind: str
    title: str
    service: str | None
    environment: str | None
    fingerprint: str
    state: str
    message: str
    done: int | None
    total: int | None
    owner: int
    started_at: float
    finished_at: float | None
    undo: dict


_HISTORY_COLUMNS = "version, health, message, deployed_at, revision, replicas, complete, id"
_ACTION_COLUMNS = ("id, kind, title, service, environment, fingerprint, state, message, done, total, owner,"
                   " started_at, finished_at, undo")


def _history(row: tuple) -> HistoryRow:
    version, health, message, deployed_at, revision, replicas, complete, id_ = row
    return HistoryRow(version, health, message, deployed_at, revision, replicas, bool(complete), id_)


def _action(row: tuple) -> ActionRow:
    return ActionRow(*row[:-1], json.loads(row[-1]))


class Busy(Exception):
    """Another action runs on the same target."""

    def __init__(self, other: ActionRow) -> None:
        super().__init__(other.id)
        self.other = other


class Store:
    """A thin wrapper around one SQLite connection."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The source runs on one event loop in one thread; the flag only allows a start in another.
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._migrate()
        self._db.executescript(_SCHEMA)

    def _migrate(self) -> None:
        """A database of another schema version is emptied; the source then seeds it again."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            return
        if row is not None and row[0] != str(SCHEMA_VERSION):
            with self._db:
                for table in _TABLES:
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")

    def close(self) -> None:
        self._db.close()

    # Meta ---------------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def reset(self, meta: dict[str, str], environments: Iterable[EnvironmentRow],
              deployments: Iterable[DeploymentRow], bad_versions: Iterable[tuple[str, str, float]]) -> None:
        """Replace the whole state in one transaction."""
        with self._db:
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            self._db.executemany("INSERT INTO environments VALUES (?, ?, ?, ?, ?, NULL)",
                                 [(e.name, e.order, e.kind, int(e.protected), e.expires_at) for e in environments])
            rows = [(d.service, d.environment, d.version, d.replicas_ready, d.replicas_desired, d.health,
                     d.message, d.updated_at) for d in deployments]
            self._db.executemany("INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "INSERT INTO deployment_history (service, environment, version, health, message, deployed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", [(r[0], r[1], r[2], r[5], r[6], r[7]) for r in rows])
            self._db.executemany("INSERT INTO bad_versions VALUES (?, ?, ?)", bad_versions)

    def claim_meta(self, key: str, old: str | None, new: str) -> bool:
        """Set ``key`` to ``new`` if it still holds ``old`` (None: it is not set); whether it did
        (another process may have set it meanwhile)."""
        with self._db:
            if old is None:
                cursor = self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, new))
            else:
                cursor = self._db.execute("UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                                          (new, key, old))
            return cursor.rowcount == 1

    # Environments -------------------------------------------------------------------------------
    def environments(self) -> list[EnvironmentRow]:
        rows = self._db.execute("SELECT name, ord, kind, protected, expires_at FROM environments ORDER BY ord, name")
        return [EnvironmentRow(name, order, kind, bool(protected), expires) for name, order, kind, protected, expires
                in rows]

    def environment(self, name: str) -> EnvironmentRow | None:
        row = self._db.execute("SELECT name, ord, kind, protected, expires_at FROM environments WHERE name = ?",
                               (name,)).fetchone()
        return EnvironmentRow(row[0], row[1], row[2], bool(row[3]), row[4]) if row else None

    def environment_owner(self, name: str) -> str | None:
        """The id of the action that made the environment ``name`` (None: none, or no such)."""
        row = self._db.execute("SELECT action_id FROM environments WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def put_environment(self, row: EnvironmentRow, action_id: str | None = None) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO environments VALUES (?, ?, ?, ?, ?, ?)",
                             (row.name, row.order, row.kind, int(row.protected), row.expires_at, action_id))

    def set_expiry(self, name: str, expires_at: float | None) -> bool:
        """Move the expiry of the environment ``name`` (the rest of its row, its owner included,
        stays); whether there was one to move."""
        with self._db:
            cursor = self._db.execute("UPDATE environments SET expires_at = ? WHERE name = ?",
                                      (expires_at, name))
            return cursor.rowcount == 1

    def delete_environment(self, name: str) -> None:
        """An environment and everything in it: deployments, their history, resources."""
        with self._db:
            self._delete_environment(name)

    def _delete_environment(self, name: str) -> None:
        for table, column in (("environments", "name"), ("deployments", "environment"),
                              ("deployment_history", "environment"), ("resources", "environment")):
            self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))

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

    def deployments_of(self, service: str) -> list[DeploymentRow]:
        return [DeploymentRow(*row) for row in self._db.execute(
            "SELECT service, environment, version, replicas_ready, replicas_desired, health, message, updated_at"
            " FROM deployments WHERE service = ?", (service,))]

    def put_deployment(self, row: DeploymentRow, *, revision: str = "", replicas: int | None = None,
                       at: float | None = None, health: str | None = None, message: str | None = None) -> int:
        """Record a deployment: the current state and a history entry; returns the entry's id.

        The entry starts at ``at`` (default ``row.updated_at``) and carries ``health`` and ``message``
        (default the row's): what the instances do from then on, for logs and metrics.
        """
        with self._db:
            self._update_deployment(row)
            cursor = self._db.execute(
                "INSERT INTO deployment_history (service, environment, version, health, message, deployed_at,"
                " revision, replicas) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.service, row.environment, row.version, health if health is not None else row.health,
                 message if message is not None else row.message, row.updated_at if at is None else at,
                 revision, replicas))
            return int(cursor.lastrowid or 0)

    def update_deployment(self, row: DeploymentRow) -> None:
        """Change the current state only (progress of a rollout, replicas): no history entry."""
        with self._db:
            self._update_deployment(row)

    def _update_deployment(self, row: DeploymentRow) -> None:
        self._db.execute("INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (row.service, row.environment, row.version, row.replicas_ready,
                          row.replicas_desired, row.health, row.message, row.updated_at))

    def delete_deployment(self, service: str, environment: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM deployments WHERE service = ? AND environment = ?", (service, environment))

    def mark_incomplete(self, history_id: int) -> None:
        """A rollout was stopped part-way: a rollback does not return to it."""
        with self._db:
            self._db.execute("UPDATE deployment_history SET complete = 0 WHERE id = ?", (history_id,))

    def history(self, service: str, environment: str, start: float, end: float) -> list[HistoryRow]:
        """Deployments in (start, end], preceded by the one active at ``start`` if any."""
        query = (f"SELECT {_HISTORY_COLUMNS} FROM deployment_history"
                 " WHERE service = ? AND environment = ? AND deployed_at {} ORDER BY deployed_at {}, id {} {}")
        before = self._db.execute(query.format("<= ?", "DESC", "DESC", "LIMIT 1"),
                                  (service, environment, start)).fetchall()
        during = self._db.execute(query.format("> ? AND deployed_at <= ?", "", "", ""),
                                  (service, environment, start, end)).fetchall()
        return [_history(row) for row in before + during]

    def recent_history(self, service: str, environment: str, limit: int = 50) -> list[HistoryRow]:
        """The latest history entries of one deployment, newest first."""
        return [_history(row) for row in self._db.execute(
            f"SELECT {_HISTORY_COLUMNS} FROM deployment_history WHERE service = ? AND environment = ?"
            " ORDER BY deployed_at DESC, id DESC LIMIT ?", (service, environment, limit))]

    def deployed_versions(self, service: str) -> set[str]:
        """Every version of ``service`` the sandbox has recorded running somewhere."""
        return {row[0] for row in self._db.execute(
            "SELECT DISTINCT version FROM deployment_history WHERE service = ?", (service,))}

    # Bad releases -------------------------------------------------------------------------------
    def bad_versions(self) -> dict[tuple[str, str], float]:
        return {(s, v): sev for s, v, sev in self._db.execute("SELECT service, version, severity FROM bad_versions")}

    def mark_bad(self, service: str, version: str, severity: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO bad_versions VALUES (?, ?, ?)", (service, version, severity))

    # Services created by actions ------------------------------------------------------------------
    def services(self) -> list[ServiceRow]:
        return [ServiceRow(*row) for row in self._db.execute(
            "SELECT name, team, tier, kind, language, description, created_at, action_id FROM services"
            " ORDER BY created_at, name")]

    def put_service(self, row: ServiceRow) -> None:
        with self._db:
            self._db.execute("INSERT INTO services VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (row.name, row.team, row.tier, row.kind, row.language, row.description,
                              row.created_at, row.action_id))

    # Resources ----------------------------------------------------------------------------------
    def resources(self) -> list[ResourceRow]:
        return [ResourceRow(kind, name, service, env, status, created, json.loads(details), action_id)
                for kind, name, service, env, status, created, details, action_id in self._db.execute(
                    "SELECT kind, name, service, environment, status, created_at, details, action_id"
                    " FROM resources ORDER BY created_at, kind, name")]

    def put_resource(self, row: ResourceRow) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (row.kind, row.name, row.service, row.environment, row.status, row.created_at,
                              json.dumps(row.details), row.action_id))

    # Undoing what an action created ---------------------------------------------------------------
    def delete_created_by(self, action_id: str) -> None:
        """Remove every service, environment and resource an action created, with their deployments."""
        with self._db:
            for (name,) in self._db.execute("SELECT name FROM environments WHERE action_id = ?",
                                            (action_id,)).fetchall():
                self._delete_environment(name)
            for (name,) in self._db.execute("SELECT name FROM services WHERE action_id = ?",
                                            (action_id,)).fetchall():
                for table, column in (("services", "name"), ("deployments", "service"),
                                      ("deployment_history", "service"), ("resources", "service")):
                    self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            self._db.execute("DELETE FROM resources WHERE action_id = ?", (action_id,))

    # Actions (idempotency records) ----------------------------------------------------------------
    def action(self, action_id: str) -> ActionRow | None:
        row = self._db.execute(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE id = ?", (action_id,)).fetchone()
        return _action(row) if row else None

    def finished_actions(self, kind: str, service: str, environment: str) -> list[ActionRow]:
        """The succeeded actions of ``kind`` on ``service`` in ``environment``, oldest first."""
        return [_action(row) for row in self._db.execute(
            f"SELECT {_ACTION_COLUMNS} FROM actions WHERE kind = ? AND service = ? AND environment = ? "
            "AND state = 'succeeded' ORDER BY finished_at", (kind, service, environment))]

    def running_actions(self) -> list[ActionRow]:
        return [_action(row) for row in self._db.execute(
            f"SELECT {_ACTION_COLUMNS} FROM actions WHERE state = 'running' ORDER BY started_at")]

    def claim_action(self, row: ActionRow, alive: Callable[[ActionRow], bool]) -> ActionRow | None:
        """Insert ``row`` unless its id is known (then return the known one).

        Raises :class:`Busy` when a live action runs on the same service and environment (or, for a
        provisioning action without a service, the same title).
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            known = self._db.execute(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE id = ?", (row.id,)).fetchone()
            if known is not None:
                self._db.rollback()
                return _action(known)
            for other in map(_action, self._db.execute(
                    f"SELECT {_ACTION_COLUMNS} FROM actions WHERE state = 'running'").fetchall()):
                same = ((other.service, other.environment) == (row.service, row.environment)
                        if row.service is not None else other.title == row.title)
                if same and alive(other):
                    raise Busy(other)
            self._db.execute(f"INSERT INTO actions ({_ACTION_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                             (row.id, row.kind, row.title, row.service, row.environment, row.fingerprint, row.state,
                              row.message, row.done, row.total, row.owner, row.started_at, row.finished_at,
                              json.dumps(row.undo, sort_keys=True)))
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise
        return None

    def set_undo(self, action_id: str, undo: dict) -> None:
        with self._db:
            self._db.execute("UPDATE actions SET undo = ? WHERE id = ?", (json.dumps(undo, sort_keys=True), action_id))

    def finish_action(self, action_id: str, state: str, message: str, done: int | None, total: int | None,
                      at: float) -> None:
        with self._db:
            self._db.execute("UPDATE actions SET state = ?, message = ?, done = ?, total = ?, finished_at = ?"
                             " WHERE id = ?", (state, message, done, total, at, action_id))

    # Delivery history ------------------------------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The database (the delivery history keeps its own tables in it: ``history.py``)."""
        return self._db

    def delivery_actions(self) -> list[tuple]:
        """The finished deploy and rollback actions: id, kind, service, environment, state,
        started, finished, and the version the target ran when it finished."""
        return self._db.execute(
            "SELECT a.id, a.kind, a.service, a.environment, a.state, a.started_at, a.finished_at,"
            " (SELECT h.version FROM deployment_history h WHERE h.service = a.service"
            "  AND h.environment = a.environment AND h.deployed_at <= a.finished_at"
            "  ORDER BY h.deployed_at DESC, h.id DESC LIMIT 1)"
            " FROM actions a WHERE a.kind IN ('deploy', 'rollback') AND a.finished_at IS NOT NULL"
            " ORDER BY a.finished_at").fetchall()

    # Pipeline runs re-run or cancelled by actions --------------------------------------------------
    def run_changes(self, run_id: str) -> list[RunChange]:
        from .reruns import RunChange  # noqa: PLC0415

        return [RunChange(kind, at, first_job, action_id) for at, kind, first_job, action_id in self._db.execute(
            "SELECT at, kind, first_job, action_id FROM run_changes WHERE run_id = ? ORDER BY at, rowid",
            (run_id,))]

    def all_run_changes(self) -> dict[str, list[RunChange]]:
        from .reruns import RunChange  # noqa: PLC0415

        out: dict[str, list[RunChange]] = {}
        for run_id, at, kind, first_job, action_id in self._db.execute(
                "SELECT run_id, at, kind, first_job, action_id FROM run_changes ORDER BY at, rowid"):
            out.setdefault(run_id, []).append(RunChange(kind, at, first_job, action_id))
        return out

    def add_run_change(self, run_id: str, change: RunChange) -> None:
        with self._db:
            self._db.execute("INSERT INTO run_changes (run_id, at, kind, first_job, action_id) VALUES (?, ?, ?, ?, ?)",
                             (run_id, change.at, change.kind, change.first_job, change.action_id))
