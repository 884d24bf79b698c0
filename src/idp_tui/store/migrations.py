"""Versioned migrations of the store's schema, applied by idp-tui itself.

Each migration is one version: its statements for each store kind. ``migrate`` applies the missing
ones in one transaction, under a lock (two clients starting together migrate once), and records the
version; a store whose version is newer than this idp-tui knows is refused with a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import SchemaTooNew


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    postgres: tuple[str, ...]
    sqlite: tuple[str, ...]


def _usage_tables(serial: str) -> tuple[str, ...]:
    """Migration 4's statements (the same for both engines but the row id's type): people are
    keyed hashes (:mod:`idp_tui.usage`), times UTC ISO text."""
    return (
        "CREATE TABLE idp_usage_key (one INTEGER PRIMARY KEY CHECK (one = 1), key TEXT NOT NULL)",
        f"""CREATE TABLE idp_usage_event (id {serial}, time TEXT NOT NULL, person TEXT NOT NULL,
               kind TEXT NOT NULL, name TEXT NOT NULL, environment TEXT, outcome TEXT)""",
        "CREATE INDEX idp_usage_event_time ON idp_usage_event (time)",
        """CREATE TABLE idp_usage_person (person TEXT PRIMARY KEY, first_run TEXT NOT NULL,
               first_deploy TEXT)""",
        """CREATE TABLE idp_usage_prompt (person TEXT PRIMARY KEY, last TEXT NOT NULL)""",
        f"""CREATE TABLE idp_feedback (id {serial}, time TEXT NOT NULL, person TEXT NOT NULL,
               rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
               comment TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX idp_feedback_time ON idp_feedback (time)",
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the shared audit chain: its records and its head", postgres=(
        """CREATE TABLE idp_audit_head (one INTEGER PRIMARY KEY CHECK (one = 1),
               seq BIGINT NOT NULL, hash TEXT NOT NULL)""",
        "INSERT INTO idp_audit_head VALUES (1, 0, '" + "0" * 64 + "')",
        """CREATE TABLE idp_audit (seq BIGINT PRIMARY KEY, prev TEXT NOT NULL UNIQUE,
               hash TEXT NOT NULL UNIQUE, action_id TEXT, phase TEXT, actor TEXT,
               time TEXT, record TEXT NOT NULL)""",
    ), sqlite=(
        """CREATE TABLE idp_audit_head (one INTEGER PRIMARY KEY CHECK (one = 1),
               seq INTEGER NOT NULL, hash TEXT NOT NULL)""",
        "INSERT INTO idp_audit_head VALUES (1, 0, '" + "0" * 64 + "')",
        """CREATE TABLE idp_audit (seq INTEGER PRIMARY KEY, prev TEXT NOT NULL UNIQUE,
               hash TEXT NOT NULL UNIQUE, action_id TEXT, phase TEXT, actor TEXT,
               time TEXT, record TEXT NOT NULL)""",
    )),
    Migration(2, "find an action id's records without reading the chain", postgres=(
        "CREATE INDEX idp_audit_action_id ON idp_audit (action_id)",
    ), sqlite=(
        "CREATE INDEX idp_audit_action_id ON idp_audit (action_id)",
    )),
    Migration(3, "find the requests for approval without reading the chain", postgres=(
        "CREATE INDEX idp_audit_requested ON idp_audit (action_id) WHERE phase = 'requested'",
    ), sqlite=(
        "CREATE INDEX idp_audit_requested ON idp_audit (action_id) WHERE phase = 'requested'",
    )),
    Migration(4, "usage analytics (opt-in) and feedback: the events, each person's first run and "
                 "deploy, the feedback, the satisfaction prompt's last time and the hashing key",
              postgres=_usage_tables("BIGSERIAL PRIMARY KEY"),
              sqlite=_usage_tables("INTEGER PRIMARY KEY")),
)

#: The schema version this idp-tui writes.
LATEST = MIGRATIONS[-1].version

#: Serialises migrations between clients (``pg_advisory_xact_lock``).
LOCK_KEY = 0x1D9_7E1


def too_new(found: int, known: int) -> SchemaTooNew:
    return SchemaTooNew(f"the store's schema is version {found}, written by a newer idp-tui; this "
                        f"one knows versions up to {known} and does not change it",
                        hint="upgrade idp-tui on this machine")


def plan(current: int, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations to apply to a schema at ``current`` (raises :class:`SchemaTooNew`)."""
    known = migrations[-1].version if migrations else 0
    if current > known:
        raise too_new(current, known)
    return [m for m in migrations if m.version > current]


def apply(execute: Callable[[str], None], current: int, kind: str,
          migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Run the statements of every missing migration through ``execute``; the new version."""
    version = current
    for migration in plan(current, migrations):
        for statement in getattr(migration, kind):
            execute(statement)
        version = migration.version
    return version
