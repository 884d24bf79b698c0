"""A local JSON-lines mirror of the PostgreSQL store's audit chain: ``idp-tui audit mirror FILE``
copies what FILE does not have yet, as stored, so FILE is the same chain in the data dir's log
format (``idp-tui audit verify --file FILE`` checks it alone); a record that does not follow
FILE's last one is refused. Against a real PostgreSQL (``tests/pg.py``) and the real CLI."""

from __future__ import annotations

import json
import select
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.audit import AuditBroken, AuditLog
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture

WHY = pg.missing()
needs_pg = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def _record(rid: str, phase: str = "denied") -> dict[str, Any]:
    return {"action_id": rid, "phase": phase, "actor": "ann", "action": "deploy",
            "service": "cart", "environment": "production", "outcome": "denied",
            "error": "test", "time": "2026-12-01T00:00:00+00:00"}


def _store_cli(root: Path, plugins: Path, dsn: str) -> Cli:
    root.mkdir(exist_ok=True)
    return Cli(root, plugins, config=f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n')


def test_copy_in_keeps_the_chain_and_stops_at_a_record_that_does_not_follow(
        tmp_path: Path) -> None:
    """Without a server: a chain copied record for record (its lines byte for byte), in
    chunks; a foreign record stops the copy with the records before it kept."""
    import idp_tui.audit as audit_module

    source = AuditLog(tmp_path / "source.jsonl")
    for i in range(40):
        source.append(_record(f"r{i}"))
    records = list(source.records())
    mirror = AuditLog(tmp_path / "mirror.jsonl")
    original = audit_module.CHUNK
    audit_module.CHUNK = 1000  # a few records a chunk: each chunk fsynced and anchored
    try:
        copied, head = mirror.copy_in(lambda after: records[after:25])
        assert (copied, head.seq) == (25, 25)
        copied, head = mirror.copy_in(lambda after: records[after - 1:])  # its last one again
        assert (copied, head.seq) == (15, 40)
    finally:
        audit_module.CHUNK = original
    assert mirror.path.read_bytes() == source.path.read_bytes()
    assert mirror.verify().ok and mirror.verify().records == 40
    assert mirror.copy_in(lambda after: records[after:]) == (0, head)

    other = AuditLog(tmp_path / "other.jsonl")
    for i in range(42):
        other.append(_record(f"x{i}"))
    foreign = list(other.records())[40:]
    with pytest.raises(AuditBroken, match="record 41 does not follow record 40"):
        mirror.copy_in(lambda after: foreign)
    edited = dict(records[-1], seq=41, prev=records[-1]["hash"], reason="edited")
    with pytest.raises(AuditBroken, match="record 41 does not follow"):  # its hash is not its own
        mirror.copy_in(lambda after: [edited])
    assert mirror.verify().ok and mirror.verify().records == 40


@needs_pg
def test_the_mirror_is_the_stores_chain_and_is_verified_alone(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    dsn = server.create_database()
    cli = _store_cli(tmp_path / "a", fake_plugins, dsn)
    mirror = tmp_path / "mirror" / "audit.jsonl"
    cli.ok("restart", "payments-api", "--env", "staging")
    out = cli.ok("audit", "mirror", str(mirror))
    assert f"2 new records copied: {mirror} ends at record 2 of postgres" in out
    assert "0 new records copied" in cli.ok("audit", "mirror", str(mirror))
    cli.ok("restart", "payments-api", "--env", "staging")
    assert cli.json("audit", "mirror", str(mirror)) == {
        "copied": 2, "seq": 4, "hash": json.loads(mirror.read_text().splitlines()[-1])["hash"],
        "path": str(mirror)}
    stored = cli.json_lines("audit", "--limit", "0")
    assert [json.loads(line) for line in mirror.read_text().splitlines()] == stored
    out = cli.ok("audit", "verify", "--file", str(mirror))
    assert f"ok: 4 records, the hash chain is intact and matches its anchor ({mirror})" in out

    # A record edited in the mirror is named by verify --file.
    lines = mirror.read_text().splitlines()
    lines[0] = lines[0].replace("staging", "prod")
    mirror.write_text("\n".join(lines) + "\n")
    result = cli.run("audit", "verify", "--file", str(mirror))
    assert result.returncode == 1 and "broken at line 1" in result.stderr


@needs_pg
def test_a_mirror_of_another_chain_is_refused_and_kept(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    first = _store_cli(tmp_path / "a", fake_plugins, server.create_database())
    second = _store_cli(tmp_path / "b", fake_plugins, server.create_database())
    mirror = tmp_path / "mirror.jsonl"
    first.ok("restart", "payments-api", "--env", "staging")
    first.ok("audit", "mirror", str(mirror))
    before = mirror.read_bytes()
    for _ in range(2):
        second.ok("restart", "payments-api", "--env", "staging")
    result = second.run("audit", "mirror", str(mirror))
    assert result.returncode == 1, result.stderr
    assert "record 3 does not follow record 2" in result.stderr
    assert "mirrors another chain" in result.stderr
    assert mirror.read_bytes() == before


@needs_pg
def test_mirror_and_verify_refuse_what_they_cannot_use(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    (tmp_path / "local").mkdir()
    local = Cli(tmp_path / "local", fake_plugins)
    result = local.run("audit", "mirror", str(tmp_path / "m.jsonl"))
    assert result.returncode == 2 and "there is nothing to mirror" in result.stderr
    shared = _store_cli(tmp_path / "a", fake_plugins, server.create_database())
    result = shared.run("audit", "mirror", str(tmp_path))
    assert result.returncode == 2 and "is a folder" in result.stderr
    result = shared.run("audit", "verify", "--file", str(tmp_path / "none.jsonl"))
    assert result.returncode == 2 and "no audit log at" in result.stderr
    assert not (tmp_path / "m.jsonl").exists()


@needs_pg
def test_mirror_follow_copies_new_records_until_interrupted(
        server: pg.Server, tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    cli = _store_cli(tmp_path / "a", fake_plugins, server.create_database())
    mirror = tmp_path / "mirror.jsonl"
    follower = cli.popen("audit", "mirror", str(mirror), "--follow")
    said: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not mirror.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        cli.ok("restart", "payments-api", "--env", "staging")
        assert follower.stdout is not None
        while not any("2 new records copied" in line for line in said):  # said as it copies
            ready, _, _ = select.select([follower.stdout], [], [], deadline - time.monotonic())
            assert ready, f"the copy was not said in time: {said}"
            said.append(follower.stdout.readline())
        assert len(mirror.read_text().splitlines()) == 2
    finally:
        follower.send_signal(signal.SIGINT)
        _out, err = follower.communicate(timeout=60)
    assert follower.returncode == 130, err
    assert "Traceback" not in err
    assert AuditLog(mirror).verify().ok
