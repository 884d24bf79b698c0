"""The store on PostgreSQL: its schema migrations and the organisation's shared audit chain.

A real, throw-away server per module (``tests/pg.py``); each test gets its own database.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.audit import AuditError, record_hash
from idp_tui.config import parse_config
from idp_tui.configerror import ConfigError
from idp_tui.store import SchemaTooNew, StoreConfig, dsn_has_password, open_audit
from idp_tui.store.migrations import LATEST, MIGRATIONS
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture

WHY = pg.missing()
needs_pg = pytest.mark.skipif(WHY is not None, reason=WHY or "")

SRC = str(Path(__file__).resolve().parents[1] / "src")

#: Appends ``count`` records as writer ``name`` to the store at ``dsn`` (a separate process).
WRITER = """
import sys
from idp_tui.store.postgres import PostgresAudit, PostgresStore
dsn, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
audit = PostgresAudit(PostgresStore(dsn))
for i in range(count):
    audit.append({"action_id": f"{name}-{i}", "phase": "denied", "actor": name,
                  "action": "deploy", "service": "cart", "environment": "production",
                  "outcome": "denied", "error": "test", "time": "2026-12-01T00:00:00+00:00"})
    print(i, flush=True)
"""


@pytest.fixture
def dsn(server: pg.Server) -> str:
    return server.create_database()


#: The stores the test made: closed after it (their pools' threads stopped, not left to the
#: garbage collector).
_MADE: list[Any] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _MADE:
        _MADE.pop().close()


def _store(dsn: str, **kwargs: Any) -> Any:
    from idp_tui.store.postgres import PostgresStore

    store = PostgresStore(dsn, **kwargs)
    _MADE.append(store)
    return store


def _audit(dsn: str, spool: Path | None = None) -> Any:
    from idp_tui.store.postgres import PostgresAudit

    return PostgresAudit(_store(dsn), spool=spool)


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description is not None else []


def _writer(dsn: str, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", WRITER, dsn, name, str(count)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _record(action_id: str, phase: str = "started", **more: Any) -> dict[str, Any]:
    return {"action_id": action_id, "phase": phase, "actor": "ann", "action": "restart",
            "service": "payments-api", "environment": "staging",
            "time": "2026-12-01T10:00:00+00:00", **more}


# The config -----------------------------------------------------------------------------------

def test_the_store_defaults_to_the_data_dir_and_a_password_never_goes_in_the_config(
        tmp_path: Path) -> None:
    from idp_tui.audit import AuditLog

    assert parse_config({}, path=None, text="").store.kind == "sqlite"
    assert isinstance(open_audit(None, tmp_path), AuditLog)
    for dsn in ("postgresql://idp:s3cret@db/idp", "host=db user=idp password=s3cret",
                "postgresql://idp@db/idp?password=s3cret"):
        assert dsn_has_password(dsn)
        with pytest.raises(ConfigError) as caught:
            parse_config({"store": {"kind": "postgres", "dsn": dsn}}, path=None, text="")
        assert "password never goes in the config" in str(caught.value)
        assert "s3cret" not in str(caught.value)
    assert not dsn_has_password("postgresql://idp@db:5432/idp")
    with pytest.raises(ConfigError, match="needs a dsn"):
        parse_config({"store": {"kind": "postgres"}}, path=None, text="")
    config = StoreConfig(kind="postgres", dsn="host=db", password_file=str(tmp_path / "pw"))
    (tmp_path / "pw").write_text("from-the-file\n")
    assert config.password() == "from-the-file"
    config = StoreConfig(kind="postgres", dsn="host=db", password_env="IDP_TEST_PW_UNSET")
    with pytest.raises(AuditError, match="IDP_TEST_PW_UNSET is not set"):
        config.password()


def test_the_postgres_driver_is_imported_only_when_that_store_is_used() -> None:
    code = ("import sys, idp_tui.runtime, idp_tui.cli.audit_cmd; "
            "print('psycopg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True).stdout
    assert out.strip() == "False"


# Migrations -----------------------------------------------------------------------------------

def test_the_data_dirs_store_is_migrated_the_same_way(tmp_path: Path) -> None:
    import sqlite3

    from idp_tui.store.sqlite import SqliteStore

    path = tmp_path / "store.db"
    old = SqliteStore(path, migrations=MIGRATIONS[:1])
    assert old.connection() and old.version == 1
    old.close()
    new = SqliteStore(path)
    new.connection()
    assert new.version == LATEST
    new.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = "
                            "'idp_audit_action_id'").fetchall() == [("idp_audit_action_id",)]
        conn.execute("UPDATE idp_schema SET version = ?", (LATEST + 1,))
    conn.close()
    with pytest.raises(SchemaTooNew, match="written by a newer idp-tui"):
        SqliteStore(path).connection()


@needs_pg
def test_a_fresh_database_gets_the_latest_schema(dsn: str) -> None:
    store = _store(dsn)
    store.connection()
    assert store.version == LATEST
    assert _rows(dsn, "SELECT version FROM idp_schema") == [(LATEST,)]
    assert _rows(dsn, "SELECT seq, hash FROM idp_audit_head") == [(0, "0" * 64)]
    _store(dsn).connection()  # a second client finds it migrated
    assert _rows(dsn, "SELECT version FROM idp_schema") == [(LATEST,)]


@needs_pg
def test_an_older_schema_is_upgraded_and_keeps_its_records(dsn: str) -> None:
    from idp_tui.store.postgres import PostgresAudit

    old = PostgresAudit(_store(dsn, migrations=MIGRATIONS[:1]))
    old.append(_record("a1"))
    assert _rows(dsn, "SELECT version FROM idp_schema") == [(1,)]
    assert _rows(dsn, "SELECT indexname FROM pg_indexes WHERE indexname = "
                      "'idp_audit_action_id'") == []
    new = _audit(dsn)
    new.append(_record("a1", "finished", outcome="succeeded", error=None))
    assert _rows(dsn, "SELECT version FROM idp_schema") == [(LATEST,)]
    assert _rows(dsn, "SELECT indexname FROM pg_indexes WHERE indexname = "
                      "'idp_audit_action_id'") == [("idp_audit_action_id",)]
    result = new.verify()
    assert result.ok and result.records == 2 and result.unfinished == []


@needs_pg
def test_a_newer_schema_is_refused_with_a_sentence(dsn: str) -> None:
    _store(dsn).connection()
    _rows(dsn, f"UPDATE idp_schema SET version = {LATEST + 1}")
    with pytest.raises(SchemaTooNew) as caught:
        _audit(dsn).append(_record("x"))
    assert f"version {LATEST + 1}, written by a newer idp-tui" in str(caught.value)
    assert caught.value.exit_code == 2
    assert _rows(dsn, "SELECT count(*) FROM idp_audit") == [(0,)]
    assert _rows(dsn, "SELECT version FROM idp_schema") == [(LATEST + 1,)]


# The shared chain ------------------------------------------------------------------------------

@needs_pg
def test_records_have_the_json_lines_logs_format_and_hash(dsn: str, tmp_path: Path) -> None:
    from idp_tui.audit import AuditLog

    shared, local = _audit(dsn), AuditLog(tmp_path / "audit.jsonl")
    for record in (_record("r1"), _record("r1", "finished", outcome="succeeded", error=None)):
        assert shared.append(record) == local.append(record)
    stored = list(shared.records())
    assert stored == list(local.records())
    assert all(r["hash"] == record_hash(r) for r in stored)


@needs_pg
def test_an_action_id_names_one_action_in_the_store_too(dsn: str) -> None:
    from idp_tui.audit import ActionAlreadyRan, ActionIdReused, ActionOutcomeUnknown

    audit = _audit(dsn)
    audit.append(_record("CHG-1"))
    with pytest.raises(ActionOutcomeUnknown):
        audit.append(_record("CHG-1"))
    audit.append(_record("CHG-1", "finished", outcome="succeeded", error=None))
    with pytest.raises(ActionAlreadyRan):
        audit.append(_record("CHG-1"))
    with pytest.raises(ActionIdReused):
        audit.append(_record("CHG-1", service="cart"))
    assert audit.verify().records == 2


@needs_pg
def test_twenty_processes_appending_at_once_make_one_unbroken_chain(dsn: str) -> None:
    _store(dsn).connection()  # the schema first, as any client would find it
    writers = [_writer(dsn, f"w{n:02d}", 25) for n in range(20)]
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    result = _audit(dsn).verify()
    assert result.ok, result.problem
    assert result.records == 500
    ids = [r[0] for r in _rows(dsn, "SELECT action_id FROM idp_audit ORDER BY seq")]
    assert len(ids) == len(set(ids)) == 500
    assert set(ids) == {f"w{n:02d}-{i}" for n in range(20) for i in range(25)}
    assert _rows(dsn, "SELECT min(seq), max(seq), count(DISTINCT prev) FROM idp_audit") == \
        [(1, 500, 500)]
    assert _rows(dsn, "SELECT seq FROM idp_audit_head") == [(500,)]


@needs_pg
def test_a_writer_killed_during_its_appends_leaves_a_verifiable_chain(dsn: str) -> None:
    _store(dsn).connection()
    steady = _writer(dsn, "steady", 200)
    victim = _writer(dsn, "victim", 100_000)
    assert victim.stdout is not None
    for _ in range(30):  # it is appending: kill it in the middle of its work
        victim.stdout.readline()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    out, err = steady.communicate(timeout=300)
    assert steady.returncode == 0, err
    audit = _audit(dsn)
    result = audit.verify()
    assert result.ok, result.problem
    victims = _rows(dsn, "SELECT count(*) FROM idp_audit WHERE actor = 'victim'")[0][0]
    assert victims >= 30
    assert result.records == 200 + victims
    audit.append(_record("after"))
    assert audit.verify().ok


@needs_pg
def test_tampering_in_the_store_is_named(dsn: str) -> None:
    audit = _audit(dsn)
    for n in range(3):
        audit.append(_record(f"t{n}"))
    _rows(dsn, "UPDATE idp_audit SET record = replace(record, 'ann', 'bob') WHERE seq = 2")
    result = audit.verify()
    assert not result.ok and result.line == 2 and result.record_id == "t1"
    _rows(dsn, "UPDATE idp_audit SET record = replace(record, 'bob', 'ann') WHERE seq = 2")
    assert audit.verify().ok
    _rows(dsn, "DELETE FROM idp_audit WHERE seq = 3")
    result = audit.verify()
    assert not result.ok and "head names record 3" in result.problem


@needs_pg
def test_the_server_restarting_during_an_action_loses_no_record(server: pg.Server,
                                                                 tmp_path: Path) -> None:
    dsn = server.create_database()
    spool = tmp_path / "audit.pending"
    audit = _audit(dsn, spool)
    audit.append(_record("R-1"))
    server.stop()
    try:
        # The action's end while the server is away: kept locally, said so.
        with pytest.raises(AuditError, match="written to the store once it answers again"):
            audit.append(_record("R-1", "finished", outcome="succeeded", error=None))
        assert json.loads(spool.read_text())["action_id"] == "R-1"
        # A new action while it is away: refused up front, nothing kept for it.
        with pytest.raises(AuditError, match="cannot reach the store|cannot write"):
            audit.append(_record("R-2"))
        assert len(spool.read_text().splitlines()) == 1
    finally:
        server.begin()
    # Back: the next write brings the end first, once.
    audit.append(_record("R-3"))
    assert not spool.exists()
    assert audit.flush() == 0
    phases = _rows(dsn, "SELECT action_id, phase FROM idp_audit ORDER BY seq")
    assert phases == [("R-1", "started"), ("R-1", "finished"), ("R-3", "started")]
    result = audit.verify()
    assert result.ok and [u["action_id"] for u in result.unfinished] == ["R-3"]


@needs_pg
def test_after_a_server_restart_the_first_read_and_append_succeed(server: pg.Server) -> None:
    # The pool's connections died with the server: each is checked before it is handed out.
    dsn = server.create_database()
    audit = _audit(dsn)
    audit.append(_record("R-1"))
    assert [r["action_id"] for r in audit.records_of("R-1")] == ["R-1"]
    server.stop()
    server.begin()
    assert [r["action_id"] for r in audit.records_of("R-1")] == ["R-1"]
    audit.append(_record("R-2"))
    assert [a for a, _p in _rows(dsn, "SELECT action_id, phase FROM idp_audit ORDER BY seq")] \
        == ["R-1", "R-2"]


@needs_pg
def test_a_spooled_end_already_written_is_not_written_again(dsn: str, tmp_path: Path) -> None:
    spool = tmp_path / "audit.pending"
    audit = _audit(dsn, spool)
    audit.append(_record("S-1"))
    end = _record("S-1", "finished", outcome="failed", error="boom")
    audit.append(end)
    spool.write_text(json.dumps(end) + "\n")  # left by a process killed after writing it
    assert audit.flush() == 1
    assert _rows(dsn, "SELECT count(*) FROM idp_audit WHERE phase = 'finished'") == [(1,)]


# Through idp-tui ------------------------------------------------------------------------------

@needs_pg
def test_actions_and_audit_verify_use_the_store(server: pg.Server, tmp_path: Path,
                                                fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    cli = Cli(tmp_path, fake_plugins,
              config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\npassword_env = "IDP_PG_PW"\n')
    env = {"IDP_PG_PW": "unused-with-trust"}
    cli.ok("restart", "payments-api", "--env", "staging", env=env)
    assert not (cli.data / "audit.jsonl").exists()
    phases = _rows(dsn, "SELECT phase, actor FROM idp_audit ORDER BY seq")
    assert [p for p, _ in phases] == ["started", "finished"]
    assert phases[0][1]  # who acted: the configured identity or the OS user
    out = cli.ok("audit", "verify", env=env)
    assert "ok: 2 records, the hash chain is intact and ends at its head" in out
    assert "restart" in cli.ok("audit", env=env)
    _rows(dsn, "UPDATE idp_audit SET record = replace(record, 'staging', 'prod') WHERE seq = 1")
    result = cli.run("audit", "verify", env=env)
    assert result.returncode == 1 and "broken at line 1" in result.stderr
    _rows(dsn, f"UPDATE idp_schema SET version = {LATEST + 1}")
    result = cli.run("audit", "verify", env=env)
    assert result.returncode == 2 and "written by a newer idp-tui" in result.stderr
    result = cli.run("audit", "verify")
    assert result.returncode != 0 and "IDP_PG_PW is not set" in result.stderr


@needs_pg
def test_the_readmes_roles_are_enough_and_a_user_who_cannot_migrate_is_told(
        server: pg.Server) -> None:
    dsn = server.create_database()
    dbname = dsn.rsplit("=", 1)[1]
    _rows(dsn, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'idp_user') "
               "THEN CREATE ROLE idp_user LOGIN; END IF; END $$")
    _rows(dsn, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    as_user = dsn.replace("user=idp", "user=idp_user")
    with pytest.raises(AuditError, match="needs its schema created or migrated") as caught:
        _audit(as_user).append(_record("U-0"))
    assert "run idp-tui once as the schema's owner" in (caught.value.hint or "")
    _store(dsn).connection()  # the owner migrates
    for grant in (f"GRANT CONNECT ON DATABASE {dbname} TO idp_user",
                  "GRANT USAGE ON SCHEMA public TO idp_user",
                  "GRANT SELECT ON idp_schema TO idp_user",
                  "GRANT SELECT, INSERT ON idp_audit TO idp_user",
                  "GRANT SELECT, UPDATE ON idp_audit_head TO idp_user"):
        _rows(dsn, grant)
    audit = _audit(as_user)
    audit.append(_record("U-1"))
    audit.append(_record("U-1", "finished", outcome="succeeded", error=None))
    assert audit.verify().ok and audit.verify().records == 2
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _rows(as_user, "DELETE FROM idp_audit")


@needs_pg
async def test_an_action_ending_while_the_server_restarts_is_recorded_once_it_is_back(
        server: pg.Server, tmp_path: Path, clock: Any) -> None:
    from idp_tui.api import ActionState
    from idp_tui.config import AppConfig, SourceSpec
    from idp_tui.runtime import build_runtime
    from test_action_manager import ActingSource, ActorConfig, deploy

    dsn = server.create_database()
    spec = SourceSpec(name="acts", type="acts", cls=ActingSource, config=ActorConfig(),
                      timeout=5.0)
    config = AppConfig(path=None, sources=[spec],
                       store=StoreConfig(kind="postgres", dsn=dsn))
    runtime = build_runtime(config, data_dir=tmp_path, clock=clock)
    try:
        manager = runtime.actions
        run = await manager.submit(deploy(id="A-1"))
        assert run.state is ActionState.RUNNING
        server.stop()  # the run's steps wait for the loop: it ends while the server is away
        try:
            await manager.wait(run.id)
            assert run.state is ActionState.SUCCEEDED
            assert (tmp_path / "audit.pending").exists()
            refused = await manager.submit(deploy(id="A-2"))
            assert refused.state is ActionState.FAILED
            assert "not started: cannot reach the store" in (refused.error or "")
            assert ActingSource is type(runtime.hub.runners[0].source)
            assert runtime.hub.runners[0].source.seen == ["A-1"]
        finally:
            server.begin()
        again = await manager.submit(deploy(id="A-3"))
        await manager.wait(again.id)
        rows = _rows(dsn, "SELECT action_id, phase FROM idp_audit ORDER BY seq")
        assert rows == [("A-1", "started"), ("A-1", "finished"), ("A-3", "started"),
                        ("A-3", "finished")]
        assert not (tmp_path / "audit.pending").exists()
        assert not (tmp_path / "audit.jsonl").exists()
        assert manager.audit.verify().ok
    finally:
        await runtime.close()
