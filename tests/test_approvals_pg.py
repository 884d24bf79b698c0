"""Four-eyes approvals on the organisation's store (issue 18): the main flow of
``test_approvals.py`` with ``[store] kind = "postgres"``, on a real, throw-away PostgreSQL
(``tests/pg.py``; skipped with a sentence where it cannot run). Two people, one chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from test_approvals import NOW, RULE, SERVICE, who
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_approvals_on_postgres(server: pg.Server, tmp_path: Path,
                               fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    cli = Cli(tmp_path, fake_plugins, config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n'
                                             + RULE.format(count=1, extra=""))

    def as_(name: str) -> dict[str, str]:
        return who(name, NOW)

    version = cli.json("versions", SERVICE, "--env", "production",
                       env=as_("alice"))["versions"][0]["version"]
    asked = cli.run("deploy", SERVICE, "--env", "production", "--version", version, "--yes",
                    "--reason", "CHG-1", "--id", "pg-1", env=as_("alice"))
    assert asked.returncode == 7, asked.stderr
    assert "(request pg-1)" in asked.stdout
    assert not (cli.data / "audit.jsonl").exists()  # the organisation's chain, not the data dir
    (item,) = cli.json("approvals", env=as_("bob"))["approvals"]
    assert item["id"] == "pg-1" and item["state"] == "pending" and item["requested_by"] == "alice"

    own = cli.run("approve", "pg-1", "--reason", "mine", env=as_("alice"))
    assert own.returncode == 3 and "never by the one who asked" in own.stderr
    cli.ok("approve", "pg-1", "--reason", "reviewed", env=as_("bob"))
    assert "✔ succeeded" in cli.ok("run-approved", "pg-1", env=as_("alice"))
    again = cli.run("run-approved", "pg-1", env=as_("alice"))
    assert again.returncode == 3 and "already ran" in again.stderr

    rows = _rows(dsn, "SELECT phase, actor FROM idp_audit WHERE action_id = 'pg-1' ORDER BY seq")
    assert rows == [("requested", "alice"), ("approved", "bob"), ("started", "alice"),
                    ("finished", "alice")]
    assert "ok: 4 records, the hash chain is intact" in cli.ok("audit", "verify")

    # A denial, by the second person, on the same chain.
    cli.run("deploy", SERVICE, "--env", "production", "--version", version, "--yes", "--reason",
            "CHG-2", "--id", "pg-2", env=as_("alice"))
    cli.ok("deny", "pg-2", "--reason", "no", env=as_("bob"))
    refused = cli.run("run-approved", "pg-2", env=as_("alice"))
    assert refused.returncode == 3 and "was denied by bob: no" in refused.stderr
    assert cli.json("audit", "verify")["ok"]
