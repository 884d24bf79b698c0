"""The audit trail never blocks the event loop (issue 18): every append runs on the action
manager's writer thread while the loop goes on. An action's start is written before it starts (or
it is refused with a sentence); its end is written after its start, and is in the store once
``drain`` returns. Shown on a real, throw-away PostgreSQL (``tests/pg.py``): a chain another
connection holds locked (``LOCK TABLE``), and the server stopped.

A vote (the dashboard's, ``idp-tui approve`` and ``deny``) carries who the sources confirm the
user is beside the claimed actor, as action records do (the GitHub stand-in confirms the token's
login, ``octocat``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import poll_until
from github_server import TOKEN, GithubServer

import pg
from idp_tui.api import ActionState
from idp_tui.api.actions import ActionKind, ActionRequest
from idp_tui.approvals import ApprovalRule
from idp_tui.config import AppConfig, SourceSpec
from idp_tui.policy import PolicyConfig
from idp_tui.runtime import Runtime, build_runtime
from idp_tui.store import StoreConfig
from pg_fixtures import server  # noqa: F401 - the fixture
from test_action_manager import ActingSource, ActorConfig, deploy
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture
from test_cli_github_actions import OCTO, checkout_source

WHY = pg.missing()
needs_pg = pytest.mark.skipif(WHY is not None, reason=WHY or "")

#: Bounds a broken test only; nothing asserts how long anything took.
PATIENCE = 60.0


class LoopWatch:
    """A task on the event loop that counts its turns, and says each one to other threads."""

    def __init__(self) -> None:
        self.turns = 0
        self.turned = threading.Event()
        self.thread = threading.get_ident()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.thread = threading.get_ident()
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.turns += 1
            self.turned.set()
            await asyncio.sleep(0.005)  # (pacing only)

    async def turns_on(self, count: int = 20) -> None:
        """Wait until the task has turned ``count`` more times."""
        target = self.turns + count
        await poll_until(lambda: self.turns >= target, f"{count} more turns of the loop",
                         PATIENCE, lambda: asyncio.sleep(0.01))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Watched:
    """The audit trail, each append watched: the thread it ran on, and whether the loop turned
    while it was in progress (the append waits, on its thread, for a turn of the loop before it
    writes: on the loop's own thread no turn could come, and it would say so)."""

    def __init__(self, trail: Any, watch: LoopWatch) -> None:
        self.trail = trail
        self.watch = watch
        self.appends: list[tuple[str, int, bool]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        self.watch.turned.clear()
        turned = self.watch.turned.wait(PATIENCE)
        self.appends.append((str(record.get("phase")), threading.get_ident(), turned))
        return self.trail.append(record)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trail, name)

    def off_the_loop(self) -> bool:
        return bool(self.appends) and all(thread != self.watch.thread and turned
                                          for _phase, thread, turned in self.appends)


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description is not None else []


def _lock(dsn: str) -> Any:
    """A connection of its own holding the chain's head locked (until it rolls back): every
    append waits for it."""
    import psycopg

    conn = psycopg.connect(dsn)
    conn.execute("LOCK TABLE idp_audit_head IN ACCESS EXCLUSIVE MODE")
    return conn


def _lock_waiters(dsn: str) -> int:
    found = _rows(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
    return int(found[0][0])


async def _until(check: Callable[[], Any], what: str) -> None:
    """Wait until ``check()`` (run off the loop) is true."""
    seen = [False]

    async def between() -> None:
        seen[0] = bool(await asyncio.to_thread(check))

    await poll_until(lambda: seen[0], what, PATIENCE, between)


def _runtime(dsn: str, tmp_path: Path, clock: Any, **settings: Any) -> Runtime:
    spec = SourceSpec(name="acts", type="acts", cls=ActingSource,
                      config=ActorConfig(**settings), timeout=5.0)
    config = AppConfig(path=None, sources=[spec], store=StoreConfig(kind="postgres", dsn=dsn))
    return build_runtime(config, data_dir=tmp_path, clock=clock)


async def _watched(runtime: Runtime, body: Callable[[Watched], Awaitable[None]]) -> Watched:
    watch = LoopWatch()
    watch.start()
    trail = Watched(runtime.actions.audit, watch)
    runtime.actions.audit = trail  # type: ignore[assignment]
    try:
        await asyncio.to_thread(trail.store.connection)  # the schema made, the pool open
        await body(trail)
    finally:
        watch.stop()
        await runtime.close()
    return trail


# On PostgreSQL -----------------------------------------------------------------------------------

@needs_pg
async def test_a_start_and_an_end_waiting_for_a_locked_chain_leave_the_loop_free(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:  # noqa: F811
    dsn = server.create_database()
    # (an append that blocked the loop would wait for the lock forever: bounded, it fails)
    _rows(dsn, f"ALTER DATABASE {dsn.rsplit('=', 1)[1]} SET lock_timeout = '{PATIENCE:g}s'")
    runtime = _runtime(dsn, tmp_path, clock, mode="slow")  # (it runs until cancelled)
    source = runtime.hub.runners[0].source
    manager = runtime.actions

    async def body(trail: Watched) -> None:
        holder = await asyncio.to_thread(_lock, dsn)
        try:
            submitting = asyncio.create_task(manager.submit(deploy(id="L-1")))
            await _until(lambda: _lock_waiters(dsn) == 1, "the start waiting for the lock")
            await trail.watch.turns_on()  # the loop goes on while the start waits
            assert not submitting.done()
            assert source.seen == []  # (not started before its start is written)
            assert _rows(dsn, "SELECT count(*) FROM idp_audit") == [(0,)]
        finally:
            await asyncio.to_thread(holder.rollback)
            await asyncio.to_thread(holder.close)
        run = await submitting
        assert run.state is ActionState.RUNNING
        await _until(lambda: source.seen == ["L-1"], "the action running")

        # Its end, while the chain is locked again: queued, written once the lock goes.
        holder = await asyncio.to_thread(_lock, dsn)
        try:
            assert manager.cancel(run.id) == "cancelling"
            await poll_until(lambda: run.state.finished, "the action's end", PATIENCE,
                             lambda: asyncio.sleep(0.01))
            await _until(lambda: _lock_waiters(dsn) == 1, "the end waiting for the lock")
            await trail.watch.turns_on()
            assert manager.writer.pending == 1
            assert _rows(dsn, "SELECT phase FROM idp_audit ORDER BY seq") == [("started",)]
        finally:
            await asyncio.to_thread(holder.rollback)
            await asyncio.to_thread(holder.close)
        await manager.drain()
        rows = _rows(dsn, "SELECT action_id, phase, record FROM idp_audit ORDER BY seq")
        assert [(r[0], r[1]) for r in rows] == [("L-1", "started"), ("L-1", "finished")]
        assert json.loads(rows[1][2])["outcome"] == "cancelled"
        assert manager.writer.pending == 0

    trail = await _watched(runtime, body)
    assert [phase for phase, _t, _turned in trail.appends] == ["started", "finished"]
    assert trail.off_the_loop()


@needs_pg
async def test_with_the_server_stopped_the_loop_runs_while_a_start_is_refused(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:  # noqa: F811
    dsn = server.create_database()
    runtime = _runtime(dsn, tmp_path, clock)
    source = runtime.hub.runners[0].source
    manager = runtime.actions

    async def body(trail: Watched) -> None:
        first = await manager.wait((await manager.submit(deploy(id="S-1"))).id)
        assert first.state is ActionState.SUCCEEDED
        await asyncio.to_thread(server.stop)
        try:
            refused = await manager.submit(deploy(id="S-2"))
            assert refused.state is ActionState.FAILED
            assert "not started: cannot reach the store" in (refused.error or "")
            assert source.seen == ["S-1"]
        finally:
            await asyncio.to_thread(server.begin)
        again = await manager.wait((await manager.submit(deploy(id="S-3"))).id)
        assert again.state is ActionState.SUCCEEDED

    trail = await _watched(runtime, body)
    assert [p for p, _t, _turned in trail.appends] == ["started", "finished", "started",
                                                       "started", "finished"]
    assert trail.off_the_loop()  # the refused start's wait for the server too
    rows = _rows(dsn, "SELECT action_id, phase FROM idp_audit ORDER BY seq")
    assert rows == [("S-1", "started"), ("S-1", "finished"), ("S-3", "started"),
                    ("S-3", "finished")]


async def test_the_session_closing_writes_the_ends_still_queued(tmp_path: Path,
                                                               clock: Any) -> None:
    """The data dir's log: an end handed over as the runtime closes is written before it is
    closed (``Runtime.close`` drains the writer)."""
    from test_action_manager import audit_records, make_runtime

    runtime = make_runtime(tmp_path, clock, mode="slow")
    manager = runtime.actions
    run = await manager.submit(deploy(id="C-1"))
    assert run.state is ActionState.RUNNING
    gate = threading.Event()
    real = manager.audit

    class Held:  # the end's append waits for the gate, on the writer's thread
        path = real.path

        def append(self, record: dict[str, Any]) -> dict[str, Any]:
            gate.wait(PATIENCE)
            return real.append(record)

        def close(self) -> None:
            pass

    manager.audit = Held()  # type: ignore[assignment]
    manager.cancel(run.id)
    await poll_until(lambda: run.state.finished, "the action's end", PATIENCE,
                     lambda: asyncio.sleep(0.01))
    assert manager.writer.pending == 1
    closing = asyncio.create_task(runtime.close())
    await poll_until(lambda: manager.writer.pending == 2, "the close draining the writer",
                     PATIENCE, lambda: asyncio.sleep(0.01))  # (the end, and the drain's mark)
    assert not closing.done()
    assert [r["phase"] for r in audit_records(tmp_path)] == ["started"]
    gate.set()
    await closing
    assert [r["phase"] for r in audit_records(tmp_path)] == ["started", "finished"]


# The confirmed identity of a vote ----------------------------------------------------------------

RULE = """
[[policy.approval]]
environments = ["production"]
approvals = 1
valid_for = "24h"
"""


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as github:
        github.add_repo(OCTO, runs=3)
        yield github


def _as(name: str) -> dict[str, str]:
    return {"LOGNAME": name, "USER": name}


def test_approve_and_deny_record_the_confirmed_identity_beside_the_claimed_one(
        tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, RULE + checkout_source(gh))
    for rid in ("g-1", "g-2"):
        asked = cli.run("deploy", "checkout", "--env", "production", "--version", "main",
                        "--yes", "--reason", "CHG-7", "--id", rid, env=_as("alice"))
        assert asked.returncode == 7, asked.stderr
    out = cli.json("approve", "g-1", "--reason", "reviewed", env=_as("bob"))
    assert out["by"] == "bob" and out["confirmed"] == {"gh": "octocat"}
    assert "denied request g-2" in cli.ok("deny", "g-2", "--reason", "not now", env=_as("carol"))
    votes = {r["action_id"]: r for r in cli.audit.records()
             if r["phase"] in ("approved", "rejected")}
    assert votes["g-1"]["phase"] == "approved" and votes["g-1"]["actor"] == "bob"
    assert votes["g-1"]["confirmed"] == {"gh": "octocat"}
    assert votes["g-2"]["phase"] == "rejected" and votes["g-2"]["actor"] == "carol"
    assert votes["g-2"]["confirmed"] == {"gh": "octocat"}
    assert "bob (gh: octocat)" in cli.ok("audit", "--limit", "0")
    assert cli.json("audit", "verify")["ok"]


async def test_the_dashboards_vote_records_the_confirmed_identity(tmp_path: Path, clock: Any,
                                                                 gh: GithubServer) -> None:
    from idp_tui_github.source import GithubSource

    gh_config = GithubSource.Config(url=gh.api_url, token=TOKEN, repos={"checkout": OCTO},
                                    environments=["dev", "staging", "production"],
                                    deploy={"workflow": "deploy.yml"})
    rule = ApprovalRule(environments=["production"])

    def runtime(identity: str) -> Runtime:
        spec = SourceSpec(name="gh", type="github", cls=GithubSource, config=gh_config,
                          timeout=10.0)
        config = AppConfig(path=None, sources=[spec],
                           policy=PolicyConfig(identity=identity, approval=[rule]))
        return build_runtime(config, data_dir=tmp_path, clock=clock)

    alice = runtime("alice")
    try:
        asked = await alice.actions.submit(ActionRequest(
            id="v-1", kind=ActionKind.DEPLOY, service="checkout", environment="production",
            version="main", reason="CHG-8", confirmation="production"))
        assert asked.waiting, asked.error
    finally:
        await alice.close()
    bob = runtime("bob")
    try:
        after = await bob.actions.vote("v-1", "approved", "reviewed")
        assert [v.actor for v in after.approvals] == ["bob"]
    finally:
        await bob.close()
    from idp_tui.audit import AuditLog

    records = [r for r in AuditLog(tmp_path / "audit.jsonl").records()
               if r["action_id"] == "v-1"]
    assert [(r["phase"], r["actor"]) for r in records] == [("requested", "alice"),
                                                          ("approved", "bob")]
    assert all(r["confirmed"] == {"gh": "octocat"} for r in records)
