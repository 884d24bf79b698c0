"""``idp-tui deploy … --wait`` hears the approval on the organisation's store (issue 18): with
PostgreSQL it listens (``store.listen.AuditListener``, LISTEN/NOTIFY) and reads the request again
when a record of it is appended, polling only as a safety net; the data dir's log is polled.

Against a real, throw-away PostgreSQL (``tests/pg.py``; skipped with a sentence where it cannot
run). The waits run on a ``ManualTimer`` the tests never move, or in a child process whose polls
are an hour long: what ends them was heard, not polled.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from test_approvals import RULE, SERVICE, who
from test_approvals_notify import (  # noqa: F401 - store: the fixture
    append_from_another_process,
    listeners,
    store,
)
from test_approvals_wait import approved, requested, waiting_for
from test_cli_commands import TIMEOUT, Cli, fake_plugins  # noqa: F401 - the fixture

from idp_tui.cli import approvals_cmd

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")



async def test_on_postgres_the_wait_listens_and_polls_rarely(store: Any, tmp_path: Path) -> None:
    await asyncio.to_thread(store.append, requested("req-1", needed=2))
    task, timer, stdout = waiting_for(store, tmp_path, "req-1")
    # Listening: the next look at the trail is a minute away, a safety net only.
    await timer.until(lambda t: [t.now() + approvals_cmd.WAIT_POLL_HEARD] == t.deadlines)
    assert listeners(store.store.dsn) == 1
    # Two people approve from processes of their own: each is heard (the timer never moves).
    await asyncio.to_thread(append_from_another_process, store.store.dsn,
                            approved("req-1", "bob"))
    await timer.until(lambda _t: "approved by bob (1 of 2)" in stdout.getvalue())
    assert not task.done()
    await asyncio.to_thread(append_from_another_process, store.store.dsn,
                            approved("req-1", "carol"))
    assert await asyncio.wait_for(task, 60) == "approved"
    assert timer.now() == 0
    assert stdout.getvalue().splitlines()[1:] == ["✔ approved by bob (1 of 2)",
                                                  "✔ approved by carol (2 of 2)"]
    assert listeners(store.store.dsn) == 0  # closed with the wait


def test_deploy_wait_in_a_child_process_returns_once_another_person_approves(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    """The requester's ``--wait`` polls once an hour here: only hearing the approval ends it."""
    dsn = server.create_database()
    cli = Cli(tmp_path, fake_plugins, config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n'
                                             + RULE.format(count=1, extra=""))
    version = cli.json("versions", SERVICE, "--env", "production",
                       env=who("alice"))["versions"][0]["version"]
    code = ("import sys\n"
            "from idp_tui.cli import approvals_cmd, main\n"
            "approvals_cmd.WAIT_POLL = approvals_cmd.WAIT_POLL_HEARD = 3600.0\n"
            "raise SystemExit(main(sys.argv[1:]))\n")
    waiting = subprocess.Popen(
        [sys.executable, "-c", code, "deploy", SERVICE, "--env", "production", "--version",
         version, "--yes", "--reason", "CHG-9", "--id", "req-pg-w", "--wait"],
        env={**cli.env, **who("alice")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, stdin=subprocess.DEVNULL)
    try:
        assert waiting.stdout is not None
        for line in waiting.stdout:  # the request is recorded before it waits
            if "waiting for approval of request req-pg-w" in line:
                break
        else:
            raise AssertionError(waiting.stderr.read() if waiting.stderr else "no output")
        deadline = time.monotonic() + TIMEOUT  # (a safety net: it listens within moments)
        while listeners(dsn) < 1:
            assert waiting.poll() is None and time.monotonic() < deadline, "never listened"
            time.sleep(0.05)
        cli.ok("approve", "req-pg-w", "--reason", "ok", env=who("bob"))
        rest, err = waiting.communicate(timeout=TIMEOUT)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "✔ approved by bob (1 of 1)" in rest
    assert "✔ succeeded" in rest
    assert listeners(dsn) == 0
