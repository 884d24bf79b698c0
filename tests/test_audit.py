"""The audit log: append-only JSON lines, hash-chained, shared safely between processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from idp_tui.audit import GENESIS, AuditError, AuditLog, record_hash, redact


def record(n: int, **extra: object) -> dict[str, object]:
    return {"action_id": f"act-{n}", "phase": "started", "action": "deploy",
            "service": "payments-api", "environment": "staging", "params": {}, **extra}


def filled(tmp_path: Path, count: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(1, count + 1):
        log.append(record(n))
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines()


def write_lines(log: AuditLog, items: list[str]) -> None:
    log.path.write_text("".join(f"{line}\n" for line in items), encoding="utf-8")


def test_records_are_chained(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    records = list(log.records())
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS
    assert records[1]["prev"] == records[0]["hash"]
    assert records[2]["prev"] == records[1]["hash"]
    assert all(r["hash"] == record_hash(r) for r in records)
    assert [r["action_id"] for r in records] == ["act-1", "act-2", "act-3"]
    result = log.verify()
    assert (result.ok, result.records, result.line) == (True, 3, None)


def test_append_returns_the_stored_record(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.jsonl")  # the folder is created
    stored = log.append(record(1, hash="forged", seq=99))
    assert stored["seq"] == 1 and stored["hash"] != "forged"
    assert json.loads(lines(log)[0]) == stored


def test_the_file_is_private_and_one_record_per_line(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert all(json.loads(line) for line in lines(log))
    assert log.path.read_bytes().endswith(b"\n")


def test_an_empty_or_missing_log_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.verify().ok and log.verify().records == 0
    assert list(log.records()) == []
    log.path.write_text("")
    assert log.verify().ok


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    log = filled(tmp_path, 5)
    items = lines(log)
    third = json.loads(items[2])
    third["environment"] = "production"
    items[2] = json.dumps(third, sort_keys=True, separators=(",", ":"))
    write_lines(log, items)
    result = log.verify()
    assert not result.ok
    assert (result.line, result.record_id, result.records) == (3, "act-3", 2)
    assert "edited" in result.problem


def test_an_edit_that_recomputes_the_hash_breaks_the_next_link(tmp_path: Path) -> None:
    log = filled(tmp_path, 4)
    items = lines(log)
    second = json.loads(items[1])
    second["service"] = "other"
    second["hash"] = record_hash(second)
    items[1] = json.dumps(second)
    write_lines(log, items)
    result = log.verify()
    assert (result.ok, result.line, result.record_id) == (False, 3, "act-3")
    assert "does not follow" in result.problem


def test_a_removed_record_is_detected_where_the_chain_breaks(tmp_path: Path) -> None:
    log = filled(tmp_path, 5)
    items = lines(log)
    del items[1]
    write_lines(log, items)
    result = log.verify()
    assert (result.ok, result.line, result.record_id) == (False, 2, "act-3")
    assert "removed" in result.problem


def test_removing_the_first_record_is_detected(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    write_lines(log, lines(log)[1:])
    result = log.verify()
    assert (result.ok, result.line, result.record_id) == (False, 1, "act-2")


def test_reordered_records_are_detected(tmp_path: Path) -> None:
    log = filled(tmp_path, 4)
    items = lines(log)
    items[1], items[2] = items[2], items[1]
    write_lines(log, items)
    result = log.verify()
    assert (result.ok, result.line) == (False, 2)


@pytest.mark.parametrize(("damage", "problem"), [
    ("", "empty line"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
])
def test_a_damaged_line_is_named(tmp_path: Path, damage: str, problem: str) -> None:
    log = filled(tmp_path, 3)
    items = lines(log)
    items.insert(1, damage)
    write_lines(log, items)
    result = log.verify()
    assert (result.ok, result.line, result.problem) == (False, 2, problem)


def test_a_damaged_last_line_stops_further_actions(tmp_path: Path) -> None:
    """A write torn by a crash: verify names it and nothing is chained onto it."""
    log = filled(tmp_path, 3)
    with log.path.open("ab") as handle:
        handle.write(b'{"action_id": "act-4", "phase": "sta')
    result = log.verify()
    assert (result.ok, result.line, result.problem) == (False, 4, "not valid JSON")
    assert [r["action_id"] for r in log.records()] == ["act-1", "act-2", "act-3"]
    before = log.path.read_bytes()
    with pytest.raises(AuditError, match="damaged record"):
        log.append(record(5))
    assert log.path.read_bytes() == before


def test_an_unwritable_log_raises_audit_error(tmp_path: Path) -> None:
    folder = tmp_path / "audit.jsonl"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(AuditError, match="cannot open the audit log"):
        AuditLog(folder).append(record(1))


def test_a_long_last_record_is_found(tmp_path: Path) -> None:
    """The last record is read backwards in growing blocks: one bigger than a block works."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(record(1, reason="x" * 10_000))
    log.append(record(2, reason="y" * 20_000))
    log.append(record(3))
    assert log.verify().ok
    assert [r["seq"] for r in log.records()] == [1, 2, 3]


def test_non_ascii_and_odd_values_survive_the_round_trip(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(record(1, reason="déploiement 🚀 \x1b[31m", params={"n": 1.5, "ok": True}))
    assert log.verify().ok
    (stored,) = log.records()
    assert stored["reason"] == "déploiement 🚀 \x1b[31m"


_WRITER = """
import sys
from pathlib import Path
from idp_tui.audit import AuditLog

log = AuditLog(Path(sys.argv[1]))
name = sys.argv[2]
for n in range(int(sys.argv[3])):
    log.append({"action_id": f"{name}-{n}", "phase": "started", "params": {}})
"""


def test_two_processes_appending_at_once_keep_one_valid_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    count = 150
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, str(count)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for name in ("one", "two")]
    for writer in writers:
        _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    log = AuditLog(path)
    result = log.verify()
    assert result.ok, result
    records = list(log.records())
    assert len(records) == 2 * count
    assert [r["seq"] for r in records] == list(range(1, 2 * count + 1))
    ids = [r["action_id"] for r in records]
    assert len(set(ids)) == 2 * count
    # Each writer's own records stay in its order.
    for name in ("one", "two"):
        mine = [i for i in ids if i.startswith(f"{name}-")]
        assert mine == [f"{name}-{n}" for n in range(count)]


def test_threads_appending_at_once_keep_one_valid_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")

    def write(name: str) -> None:
        for n in range(50):
            log.append({"action_id": f"{name}-{n}", "phase": "started"})

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = log.verify()
    assert result.ok and result.records == 200


def test_follow_yields_what_is_there_then_complete_new_lines(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    seen: list[str] = []
    rounds = iter(range(100))

    def stop() -> bool:
        n = next(rounds)
        if n == 0:
            with log.path.open("ab") as handle:  # half a record: not yielded yet
                handle.write(b'{"action_id": "act-3"')
        elif n == 1:
            with log.path.open("ab") as handle:
                handle.write(b', "phase": "started"}\n')
        return n >= 2

    for item in log.follow(poll=0, stop=stop):
        seen.append(str(item["action_id"]))
    assert seen == ["act-1", "act-2", "act-3"]


def test_redact_hides_named_and_declared_secrets() -> None:
    params = {"name": "orders", "password": "hunter22", "db_password": "x", "apiKey": "k",
              "api_key": "k", "token": "t", "client_secret": "s", "size": 3,
              "nested": {"private_key": "pk", "region": "eu"}, "pin": "1234"}
    out = redact(params, frozenset({"pin"}))
    assert out == {"name": "orders", "password": "***", "db_password": "***", "apiKey": "***",
                   "api_key": "***", "token": "***", "client_secret": "***", "size": 3,
                   "nested": {"private_key": "***", "region": "eu"}, "pin": "***"}
    assert params["password"] == "hunter22"  # the input is not changed


def test_the_log_is_fsynced_before_append_returns(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    AuditLog(tmp_path / "audit.jsonl").append(record(1))
    assert synced  # the file (and, on creation, its folder)


def test_redact_looks_inside_lists_of_tables() -> None:
    params = {"users": [{"name": "app", "password": "hunter22"}, "plain"]}
    assert redact(params) == {"users": [{"name": "app", "password": "***"}, "plain"]}
