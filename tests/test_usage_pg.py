"""Usage analytics and feedback on the organisation's PostgreSQL: the same report from the same
events as on SQLite (``test_usage.py``), the keyed hash shared by every client of the store, the
recorder and ``idp-tui usage report`` against a real server (``tests/pg.py``; skipped with a
sentence where PostgreSQL is missing)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.api.clock import ManualClock
from idp_tui.store import StoreConfig
from idp_tui.usage import UsageRecorder
from idp_tui.usagestore import UsageStore
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture
from test_usage import T0, assert_known_report, known_events

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


@pytest.fixture
def dsn(server: pg.Server) -> str:
    return server.create_database()


def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def store(dsn: str, tmp_path: Path) -> UsageStore:
    return UsageStore(StoreConfig(kind="postgres", dsn=dsn), tmp_path)


def test_the_same_report_on_postgresql(dsn: str, tmp_path: Path) -> None:
    usage = store(dsn, tmp_path)
    known_events(usage)
    assert_known_report(usage.report(T0 - timedelta(days=1), T0 + timedelta(days=29)))
    usage.close()
    assert rows(dsn, "SELECT version FROM idp_schema") == [(4,)]


def test_every_client_of_the_store_hashes_a_person_alike(dsn: str, tmp_path: Path) -> None:
    one, two = store(dsn, tmp_path / "a"), store(dsn, tmp_path / "b")
    assert one.person("alice") == two.person("alice") != one.person("bob")
    assert rows(dsn, "SELECT COUNT(*) FROM idp_usage_key") == [(1,)]
    one.close()
    two.close()


def test_the_recorder_writes_to_postgresql_and_the_cli_reports_it(
        dsn: str, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    clock = ManualClock(T0)
    recorder = UsageRecorder(lambda: store(dsn, tmp_path), enabled=True, identity="alice",
                             clock=clock)
    recorder.run()
    recorder.pane("logs")
    recorder.command("deploy")
    stored = recorder.feedback(5, "fast")
    assert recorder.flush(60)
    stored.result(60)
    recorder.close()
    assert [r[0] for r in rows(dsn, "SELECT kind FROM idp_usage_event ORDER BY id")] == \
        ["run", "pane", "command"]
    assert "alice" not in json.dumps(rows(dsn, "SELECT * FROM idp_usage_event"), default=str)
    cli = Cli(tmp_path, fake_plugins, f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n'
                                      '[telemetry]\nenabled = true\n')
    result = cli.run("usage", "report", "--json", env={"IDP_TUI_CLOCK": "2026-11-03T00:00:00Z"})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["active_people"] == 1 and figures["telemetry_enabled"] is True
    assert figures["panes"] == [{"name": "logs", "uses": 1, "people": 1, "adoption": 1.0}]
    assert figures["satisfaction"]["mean"] == 5.0
    said = cli.ok("feedback", "--rating", "3", env={"IDP_TUI_CLOCK": "2026-11-03T00:00:00Z"})
    assert "stored in the organisation's store" in said
    assert rows(dsn, "SELECT rating FROM idp_feedback ORDER BY id") == [(5,), (3,)]


def test_an_unreachable_store_is_a_sentence(tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, '[store]\nkind = "postgres"\n'
                                      'dsn = "host=127.0.0.1 port=9 user=idp dbname=none"\n')
    result = cli.run("usage", "report")
    assert result.returncode != 0 and "cannot reach the store" in result.stderr
