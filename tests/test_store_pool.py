"""The PostgreSQL store's connection pool: sized by ``[store]``, shared by every operation, closed
by ``close`` (and when the process exits)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.store import StoreConfig

WHY = pg.missing()
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _clients(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'idp-tui' AND datname = current_database()").fetchone()
    return int(row[0]) if row else -1


def _until(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _record(rid: str) -> dict[str, Any]:
    return {"action_id": rid, "phase": "denied", "actor": "ann", "action": "deploy",
            "service": "cart", "environment": "production", "outcome": "denied",
            "error": "test", "time": "2026-12-01T00:00:00+00:00"}


def test_the_pool_is_sized_in_the_store_section() -> None:
    config = StoreConfig(kind="postgres", dsn="host=db", pool_min=2, pool_max=8)
    assert (config.pool_min, config.pool_max) == (2, 8)
    assert (StoreConfig().pool_min, StoreConfig().pool_max) == (1, 4)
    with pytest.raises(ValueError, match=r"pool_min \(5\) is more than pool_max \(2\)"):
        StoreConfig(kind="postgres", dsn="host=db", pool_min=5, pool_max=2)


def test_operations_share_the_pool_and_close_closes_it(server: pg.Server) -> None:
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    store = PostgresStore(dsn, StoreConfig(kind="postgres", dsn=dsn, pool_min=2, pool_max=3))
    audit = PostgresAudit(store)
    for i in range(20):
        audit.append(_record(f"p-{i}"))
    assert [r["action_id"] for r in audit.records()] == [f"p-{i}" for i in range(20)]
    pool = store.pool
    assert pool is not None and (pool.min_size, pool.max_size) == (2, 3)
    stats = pool.get_stats()
    assert stats["requests_num"] >= 21  # every operation took a connection of the pool
    assert 2 <= pool.get_stats().get("pool_size", 0) <= 3
    assert 2 <= _clients(dsn) <= 3  # no connection of its own per operation
    store.close()
    assert pool.closed and store.pool is None
    _until(lambda: _clients(dsn) == 0, "every connection closed")
    assert audit.verify().ok  # used again: a new pool
    assert store.pool is not None and store.pool is not pool
    store.close()


def test_a_process_that_exits_closes_its_pool(server: pg.Server) -> None:
    dsn = server.create_database()
    script = ("import sys\nfrom idp_tui.store.postgres import PostgresAudit, PostgresStore\n"
              "audit = PostgresAudit(PostgresStore(sys.argv[1]))\n"
              "audit.append({'action_id': 'x', 'phase': 'denied', 'actor': 'ann', "
              "'time': '2026-12-01T00:00:00+00:00'})\nprint('done', flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script, dsn], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": SRC})
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert done.stderr == ""  # no warning of a pool left open, no traceback
    _until(lambda: _clients(dsn) == 0, "the exited process's connections gone")
