"""Usage analytics and feedback in the store (the data dir's SQLite, or the organisation's
PostgreSQL; tables of migration 4, :mod:`idp_tui.store.migrations`).

People are pseudonymous: a person is the HMAC-SHA256 of their identity under a key kept in the
store (created once, by the first client that needs it), so the same person is the same hash on
every machine of the organisation and nobody can tell who from the hash without the key. Events
hold names the dashboard itself defines (panes, commands, action kinds, the configured environments
and sources, error classes, outcomes) and no free text; feedback holds a rating and the comment its
author typed.

Nothing here imports Textual; psycopg only when the store is PostgreSQL. One :class:`UsageStore`
is used by one thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .store import StoreConfig, StoreError, first_line

#: The event kinds (``idp_usage_event.kind``).
RUN, PANE, COMMAND, ACTION_STARTED, ACTION, ERROR = (
    "run", "pane", "command", "action_started", "action", "error")
KINDS = (RUN, PANE, COMMAND, ACTION_STARTED, ACTION, ERROR)
#: The action kinds whose success is a person's deploy (time to first deploy).
DEPLOY_KINDS = frozenset({"deploy"})
#: A name or value of an event is cut to this many characters.
MAX_NAME = 200
#: Comments listed by a report at most (the newest).
MAX_COMMENTS = 1000


@dataclass(frozen=True)
class Event:
    """One usage event, before the store turns its identity into a person's hash."""

    time: datetime
    kind: str
    name: str
    environment: str | None = None
    outcome: str | None = None


def stamp(when: datetime) -> str:
    """A time as stored: UTC ISO text, which sorts as time does."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def person_hash(key: bytes, identity: str) -> str:
    """The pseudonym of ``identity`` under ``key`` (HMAC-SHA256, hex)."""
    return hmac.new(key, identity.encode("utf-8"), hashlib.sha256).hexdigest()


def _cut(value: str | None) -> str | None:
    return None if value is None else str(value)[:MAX_NAME]


class UsageStore:
    """The usage and feedback tables of the configured store (connects on first use)."""

    def __init__(self, config: StoreConfig | None, data_dir: Path) -> None:
        self.config = config or StoreConfig()
        self.data_dir = data_dir
        self.postgres = self.config.kind == "postgres"
        self._store: Any = None
        self._key: bytes | None = None

    @property
    def where(self) -> str:
        if self.postgres:
            return f"postgres {self._backend().where}"
        from .store.sqlite import STORE_FILE

        return str(self.data_dir / STORE_FILE)

    # The connection ------------------------------------------------------------------------------

    def _backend(self) -> Any:
        if self._store is None:
            if self.postgres:
                from .store.postgres import PostgresStore

                self._store = PostgresStore(self.config.dsn or "", self.config)
            else:
                from .store.sqlite import STORE_FILE, SqliteStore

                self._store = SqliteStore(self.data_dir / STORE_FILE)
        return self._store

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _transaction(self, work: Any) -> Any:
        """``work(execute)`` in one transaction (committed, or rolled back on an error); what it
        returns. A failure of the database is a :class:`StoreError`."""
        backend = self._backend()
        try:
            if self.postgres:
                return self._on_postgres(backend, work)
            conn = backend.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(lambda sql, params=(): conn.execute(sql, params))
                conn.execute("COMMIT")
                return result
            except BaseException:
                self._abort(conn)
                raise
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - the drivers' errors, said in one sentence
            self.close()  # (a connection that went away: a new one next time)
            raise StoreError(f"cannot use the usage tables of the store {self.where}: "
                             f"{first_line(exc)}") from None

    def _on_postgres(self, backend: Any, work: Any) -> Any:
        """``work`` in one transaction on a connection of the store's pool (committed at the end,
        rolled back on an error), each statement run on the store's event loop."""
        return backend.transact(lambda execute: work(
            lambda sql, params=(): execute(self._sql(sql), params)))

    def _abort(self, conn: Any) -> None:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - nothing open, or the connection is gone
            pass

    def close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._store = None

    # People --------------------------------------------------------------------------------------

    def key(self) -> bytes:
        """The hashing key, created once for the whole store."""
        if self._key is None:
            def work(execute: Any) -> str:
                execute("INSERT INTO idp_usage_key (one, key) VALUES (1, ?) "
                        "ON CONFLICT (one) DO NOTHING", (secrets.token_hex(32),))
                return str(execute("SELECT key FROM idp_usage_key WHERE one = 1").fetchone()[0])

            self._key = bytes.fromhex(self._transaction(work))
        return self._key

    def person(self, identity: str) -> str:
        return person_hash(self.key(), identity)

    # Writing -------------------------------------------------------------------------------------

    def record(self, identity: str, events: Sequence[Event]) -> None:
        """Write ``events`` of ``identity``, and the person's first run and first deploy."""
        if not events:
            return
        person = self.person(identity)

        def work(execute: Any) -> None:
            for event in events:
                when = stamp(event.time)
                execute("INSERT INTO idp_usage_event (time, person, kind, name, environment, "
                        "outcome) VALUES (?, ?, ?, ?, ?, ?)",
                        (when, person, event.kind, _cut(event.name) or "",
                         _cut(event.environment), _cut(event.outcome)))
                if event.kind == RUN or is_deploy(event):
                    execute("INSERT INTO idp_usage_person (person, first_run) VALUES (?, ?) "
                            "ON CONFLICT (person) DO NOTHING", (person, when))
                if is_deploy(event):
                    execute("UPDATE idp_usage_person SET first_deploy = ? WHERE person = ? AND "
                            "first_deploy IS NULL", (when, person))

        self._transaction(work)

    def add_feedback(self, identity: str, when: datetime, rating: int, comment: str) -> None:
        if not 1 <= rating <= 5:
            raise ValueError(f"expected a rating from 1 to 5, got {rating}")
        person = self.person(identity)
        self._transaction(lambda execute: execute(
            "INSERT INTO idp_feedback (time, person, rating, comment) VALUES (?, ?, ?, ?)",
            (stamp(when), person, rating, comment)))

    def prompt_due(self, identity: str, now: datetime, days: float) -> bool:
        """Whether the satisfaction prompt is due for ``identity``: ``days`` after it was last
        shown, or after the person's first run when it never was. When due, ``now`` is kept as
        its last time (the caller shows it)."""
        person = self.person(identity)

        def work(execute: Any) -> bool:
            row = execute("SELECT last FROM idp_usage_prompt WHERE person = ?",
                          (person,)).fetchone()
            if row is None:
                row = execute("SELECT first_run FROM idp_usage_person WHERE person = ?",
                              (person,)).fetchone()
            if row is None or (now - parse_stamp(str(row[0]))).total_seconds() < days * 86400:
                return False
            execute("INSERT INTO idp_usage_prompt (person, last) VALUES (?, ?) ON CONFLICT "
                    "(person) DO UPDATE SET last = excluded.last", (person, stamp(now)))
            return True

        return bool(self._transaction(work))

    # Reading -------------------------------------------------------------------------------------

    def report(self, since: datetime, until: datetime) -> dict[str, Any]:
        """The platform team's figures from ``since`` on (see ``idp-tui usage report``)."""
        s = stamp(since)

        def work(execute: Any) -> dict[str, Any]:
            def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in execute(sql, params).fetchall()]

            active = rows("SELECT COUNT(DISTINCT person) FROM idp_usage_event WHERE time >= ?",
                          s)[0][0]
            new = rows("SELECT COUNT(*) FROM idp_usage_person WHERE first_run >= ?", s)[0][0]
            used = {kind: rows("SELECT name, COUNT(*), COUNT(DISTINCT person) FROM "
                               "idp_usage_event WHERE kind = ? AND time >= ? GROUP BY name",
                               kind, s) for kind in (PANE, COMMAND)}
            started = rows("SELECT name, environment, COUNT(*) FROM idp_usage_event WHERE "
                           "kind = ? AND time >= ? GROUP BY name, environment", ACTION_STARTED, s)
            ended = rows("SELECT name, environment, outcome, COUNT(*) FROM idp_usage_event "
                         "WHERE kind = ? AND time >= ? GROUP BY name, environment, outcome",
                         ACTION, s)
            errors = rows("SELECT name, outcome, COUNT(*), COUNT(DISTINCT person) FROM "
                          "idp_usage_event WHERE kind = ? AND time >= ? GROUP BY name, outcome",
                          ERROR, s)
            firsts = rows("SELECT first_run, first_deploy FROM idp_usage_person WHERE "
                          "first_deploy IS NOT NULL AND first_deploy >= ?", s)
            ratings = rows("SELECT rating, COUNT(*) FROM idp_feedback WHERE time >= ? "
                           "GROUP BY rating", s)
            comments = rows("SELECT time, rating, comment FROM idp_feedback WHERE time >= ? "
                            "AND comment <> '' ORDER BY time DESC, id DESC LIMIT ?", s,
                            MAX_COMMENTS)
            return build_report(since, until, int(active), int(new), used, started, ended,
                                errors, firsts, ratings, comments)

        return self._transaction(work)  # type: ignore[no-any-return]


def is_deploy(event: Event) -> bool:
    return event.kind == ACTION and event.name in DEPLOY_KINDS and event.outcome == "succeeded"


def build_report(since: datetime, until: datetime, active: int, new: int,
                 used: dict[str, list[tuple[Any, ...]]], started: Iterable[tuple[Any, ...]],
                 ended: Iterable[tuple[Any, ...]], errors: Iterable[tuple[Any, ...]],
                 firsts: Iterable[tuple[Any, ...]], ratings: Iterable[tuple[Any, ...]],
                 comments: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """The report's figures from the grouped rows (the same on both engines)."""

    def adoption(found: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        out = [{"name": str(name), "uses": int(uses), "people": int(people),
                "adoption": round(int(people) / active, 4) if active else 0.0}
               for name, uses, people in found]
        return sorted(out, key=lambda r: (-r["people"], -r["uses"], r["name"]))

    actions: dict[tuple[str, str | None], dict[str, Any]] = {}

    def action(name: Any, environment: Any) -> dict[str, Any]:
        env = None if environment is None else str(environment)
        return actions.setdefault((str(name), env), {"action": str(name), "environment": env,
                                                     "started": 0, "outcomes": {}, "total": 0})

    for name, environment, count in started:
        action(name, environment)["started"] += int(count)
    for name, environment, outcome, count in ended:
        entry = action(name, environment)
        entry["outcomes"][str(outcome)] = entry["outcomes"].get(str(outcome), 0) + int(count)
        entry["total"] += int(count)
    hours = sorted((parse_stamp(str(deploy)) - parse_stamp(str(run))).total_seconds() / 3600
                   for run, deploy in firsts)
    counts = {int(rating): int(count) for rating, count in ratings}
    total = sum(counts.values())
    return {
        "since": stamp(since), "until": stamp(until),
        "active_people": active, "new_people": new,
        "panes": adoption(used.get(PANE, [])),
        "commands": adoption(used.get(COMMAND, [])),
        "actions": sorted(actions.values(), key=lambda a: (a["action"], a["environment"] or "")),
        "errors": sorted(({"source": str(name), "error_class": str(cls), "count": int(count),
                           "people": int(people)} for name, cls, count, people in errors),
                         key=lambda e: (-e["count"], e["source"], e["error_class"])),
        "time_to_first_deploy": {
            "people": len(hours),
            "median_hours": round(statistics.median(hours), 2) if hours else None},
        "satisfaction": {
            "count": total,
            "mean": round(sum(r * c for r, c in counts.items()) / total, 2) if total else None,
            "ratings": {str(r): counts.get(r, 0) for r in range(1, 6)}},
        "comments": [{"time": str(when), "rating": int(rating), "comment": str(comment)}
                     for when, rating, comment in comments],
    }

