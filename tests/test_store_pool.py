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


def test_the_async_pool_serves_event_loops_threads_and_the_command_line(
        server: pg.Server) -> None:
    """One ``AsyncConnectionPool`` on the store's loop: the command line's successive
    ``asyncio.run`` (each a loop of its own, gone after), threads and another loop all use it."""
    import asyncio
    import threading

    from psycopg_pool import AsyncConnectionPool

    from idp_tui.store.pgloop import STORE_LOOP
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    store = PostgresStore(dsn, StoreConfig(kind="postgres", dsn=dsn, pool_min=1, pool_max=3))
    audit = PostgresAudit(store)
    asyncio.run(store.append_async(_record("run-1")))
    pool = store.pool
    assert isinstance(pool, AsyncConnectionPool)
    asyncio.run(store.append_async(_record("run-2")))  # a new loop: the same pool
    assert store.pool is pool

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                audit.append(_record(f"t{n}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - said by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    seqs = [r["seq"] for r in audit.records()]
    assert seqs == list(range(1, 23)) and audit.verify().ok
    assert store.pool is pool and 1 <= _clients(dsn) <= 3  # no connection per caller

    # An event loop awaiting a query goes on running meanwhile: its ticks keep coming.
    async def meanwhile() -> tuple[int, dict[str, Any]]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        rows = await store.query_async("SELECT pg_sleep(0.3), 1")
        ticker.cancel()
        assert rows[0][1] == 1
        return ticks, await store.append_async(_record("loop-1"))

    ticks, written = asyncio.run(meanwhile())
    assert ticks > 10 and written["seq"] == 23
    with pytest.raises(RuntimeError, match="wait for itself"):
        async def on_the_store_loop() -> None:
            store.head()
        STORE_LOOP.call(on_the_store_loop())
    store.close()
    assert pool.closed


def test_a_caller_cancelled_does_not_cut_an_append(server: pg.Server) -> None:
    """Cancelling the wait (a dialog closed, a command interrupted) leaves the append to
    finish: the record is written once, the chain whole."""
    import asyncio

    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    store = PostgresStore(dsn)
    audit = PostgresAudit(store)
    audit.append(_record("first"))
    import psycopg

    async def cancelled_while_the_head_is_locked() -> None:
        with psycopg.connect(dsn) as holder:  # another writer holds the chain's head
            holder.execute("SELECT 1 FROM idp_audit_head FOR UPDATE")
            waiting = asyncio.create_task(store.append_async(_record("second")))
            await asyncio.sleep(0.3)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            holder.rollback()

    asyncio.run(cancelled_while_the_head_is_locked())
    _until(lambda: len(list(audit.records())) == 2, "the cancelled append written")
    assert [r["action_id"] for r in audit.records()] == ["first", "second"]
    assert audit.verify().ok
    store.close()


def test_a_forked_child_uses_a_pool_of_its_own(server: pg.Server) -> None:
    """A process forked after the parent used the store (a writer made by ``fork``) starts a
    store loop and a pool of its own: its appends chain onto the parent's."""
    import multiprocessing

    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    store = PostgresStore(dsn)
    audit = PostgresAudit(store)
    audit.append(_record("parent"))
    child = multiprocessing.get_context("fork").Process(target=_child_appends, args=(audit,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    audit.append(_record("parent-again"))
    assert [r["action_id"] for r in audit.records()] == ["parent", "child", "parent-again"]
    assert audit.verify().ok
    store.close()


def _child_appends(audit: Any) -> None:
    audit.append(_record("child"))
    audit.store.close()
