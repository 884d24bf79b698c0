"""The PostgreSQL store's anchor: each machine keeps the last record of the chain it wrote or
checked (``audit.store-anchor`` in its data dir); a store reset, emptied or rewritten under it
refuses actions with a sentence, ``audit verify`` names it, and ``audit repair --reason``
records that the machine takes the chain as it is now. A real PostgreSQL (``tests/pg.py``) and
the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.store.anchor import StoreAnchor, problem
from idp_tui.auditchain import Head
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture

WHY = pg.missing()
needs_pg = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def _sql(dsn: str, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg

    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            if cur.description is not None:
                rows = cur.fetchall()
    return rows


def test_the_anchor_moves_forward_only_but_for_a_repair(tmp_path: Path) -> None:
    anchor = StoreAnchor(tmp_path / "audit.store-anchor", "host=db dbname=a")
    other = StoreAnchor(tmp_path / "audit.store-anchor", "host=db dbname=b")
    assert anchor.get() is None
    anchor.advance(5, "e" * 64)
    anchor.advance(3, "c" * 64)  # an older record (another process of this machine): kept
    other.advance(1, "a" * 64)
    assert (anchor.get(), other.get()) == (Head(5, "e" * 64, 0), Head(1, "a" * 64, 0))
    anchor.reset(2, "b" * 64)
    assert anchor.get() == Head(2, "b" * 64, 0) and other.get() == Head(1, "a" * 64, 0)
    (tmp_path / "audit.store-anchor").write_text("{not json")
    assert anchor.get() is None  # unreadable: as none (the store's own checks still run)
    anchored = Head(4, "d" * 64, 0)
    assert "ends at record 2" in (problem("w", anchored, 2, None) or "")
    assert "is gone" in (problem("w", anchored, 9, None) or "")
    assert "rewritten" in (problem("w", anchored, 9, "x" * 64) or "")
    assert problem("w", anchored, 9, "d" * 64) is None


@needs_pg
def test_a_store_reset_under_this_machine_refuses_actions_until_repaired(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    cli = Cli(tmp_path, fake_plugins, config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n')
    cli.ok("restart", "payments-api", "--env", "staging")
    anchored = json.loads((cli.data / "audit.store-anchor").read_text())["stores"]
    assert [v["seq"] for v in anchored.values()] == [2]

    # Someone with rights on the tables empties the chain and sets its head back.
    _sql(dsn, "TRUNCATE idp_audit", f"UPDATE idp_audit_head SET seq = 0, hash = '{'0' * 64}'")
    result = cli.run("restart", "payments-api", "--env", "staging")
    assert result.returncode == 1, result.stderr
    assert "ends at record 0, but this machine wrote or checked its record 2" in result.stderr
    assert "actions are refused" in result.stderr and "audit repair" in result.stderr
    assert _sql(dsn, "SELECT count(*) FROM idp_audit") == [(0,)]  # nothing chained onto it
    result = cli.run("audit", "verify")
    assert result.returncode == 1 and "records were deleted or the store was reset" in \
        result.stderr

    out = cli.ok("audit", "repair", "--reason", "restored from last night's backup")
    assert "recorded as record 1" in out
    assert "nothing to repair" in cli.ok("audit", "repair", "--reason", "again")
    cli.ok("restart", "payments-api", "--env", "staging")  # actions work again
    out = cli.ok("audit", "verify")
    assert "ok: 3 records" in out and "repaired by" in out
    repair = cli.json_lines("audit", "--limit", "0")[0]
    assert repair["phase"] == "repair" and repair["repair"]["anchor_before"]["seq"] == 2
    assert repair["reason"] == "restored from last night's backup"


@needs_pg
def test_a_rewritten_record_under_the_anchor_is_named_and_another_machine_is_not_held(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    config = f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n'
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = Cli(tmp_path / "a", fake_plugins, config), Cli(tmp_path / "b", fake_plugins,
                                                                     config)
    first.ok("restart", "payments-api", "--env", "staging")
    # The chain is rebuilt with another record 2 (a forged end), its links consistent.
    _sql(dsn, "UPDATE idp_audit SET hash = repeat('f', 64) WHERE seq = 2",
         "UPDATE idp_audit_head SET hash = repeat('f', 64)")
    result = first.run("restart", "payments-api", "--env", "staging")
    assert result.returncode == 1 and "the chain was rewritten" in result.stderr
    # A machine that never saw record 2 has nothing to hold it to (the chain's own verify
    # still names the forged hash).
    result = second.run("audit", "verify")
    assert result.returncode == 1 and "does not match its hash" in result.stderr


@needs_pg
def test_an_anchor_that_cannot_be_written_loses_no_record(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    cli = Cli(tmp_path, fake_plugins, config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n')
    blocker = cli.data / "audit.store-anchor.tmp"
    blocker.mkdir(parents=True)  # the anchor's temporary file cannot be made
    cli.ok("restart", "payments-api", "--env", "staging")  # the records are the store's
    assert _sql(dsn, "SELECT count(*) FROM idp_audit") == [(2,)]
    assert "ok: 2 records" in cli.ok("audit", "verify")
    assert not (cli.data / "audit.store-anchor").exists()
    blocker.rmdir()
    cli.ok("audit", "verify")  # anchored at the next chance
    anchored = json.loads((cli.data / "audit.store-anchor").read_text())["stores"]
    assert [v["seq"] for v in anchored.values()] == [2]
