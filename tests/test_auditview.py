"""Reading the audit history for a view (idp_tui.auditview): one entry per action, the newest
first, filtered, and bounded however long the log is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from idp_tui import auditview
from idp_tui.audit import AuditLog
from idp_tui.auditview import AuditFilter, read_history, records_newest_first


def rec(aid: str, phase: str, *, minute: int = 0, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {
        "action_id": aid, "phase": phase, "time": f"2026-11-25T14:{minute:02d}:00+00:00",
        "actor": "alice", "action": "deploy", "source": "sandbox", "service": "orders",
        "environment": "staging", "version": "1.4.0", "replicas": None, "template": None,
        "run_id": None, "params": {}, "reason": "release"}
    out.update(extra)
    if phase in ("finished", "denied"):
        out.setdefault("outcome", "denied" if phase == "denied" else "succeeded")
        out.setdefault("error", None)
    return out


def history_log(tmp_path: Path) -> AuditLog:
    """A real audit log (hash chain, anchor) with five actions."""
    log = AuditLog(tmp_path / "audit.jsonl")
    for record in (
        rec("a1", "started", minute=1),
        rec("a1", "finished", minute=2),
        rec("a2", "started", minute=3, service="payments", environment="production",
            actor="bob", action="rollback", version="2.0.0", reason="bad release"),
        rec("a3", "denied", minute=4, environment="production", outcome="denied",
            error="production is frozen"),
        rec("a2", "finished", minute=5, service="payments", environment="production",
            actor="bob", action="rollback", version="2.0.0", outcome="failed",
            error="timeout", reason="bad release"),
        rec("a4", "started", minute=6, action="scale", version=None, replicas=3),
        rec("a5", "started", minute=7, action="provision", template="postgres",
            environment=None, version=None, actor="carol", reason=None),
    ):
        log.append(record)
    return log


def test_one_entry_per_action_the_newest_first(tmp_path: Path) -> None:
    log = history_log(tmp_path)
    history = read_history(log.path)
    assert history.error is None and not history.more and not history.cut
    assert [e.action_id for e in history.entries] == ["a5", "a4", "a2", "a3", "a1"]
    by_id = {e.action_id: e for e in history.entries}
    a1, a2, a3, a4, a5 = (by_id[k] for k in ("a1", "a2", "a3", "a4", "a5"))
    assert (a1.state, a1.kind, a1.target, a1.actor) == (
        "succeeded", "deploy", "orders 1.4.0 in staging", "alice")
    assert [r["phase"] for r in a1.records] == ["started", "finished"]
    assert a1.started is not None and a1.finished is not None and a1.started < a1.finished
    assert (a2.state, a2.error, a2.reason, a2.kind) == ("failed", "timeout", "bad release",
                                                       "rollback")
    assert (a3.state, a3.error) == ("denied", "production is frozen")
    assert (a4.state, a4.target, a4.finished) == ("started", "orders ×3 in staging", None)
    assert a5.target == "postgres for orders" and a5.actor == "carol"
    assert history.scanned == 7


def test_the_filter_by_service_environment_kind_user_and_text(tmp_path: Path) -> None:
    path = history_log(tmp_path).path

    def ids(text: str) -> list[str]:
        return [e.action_id for e in read_history(path, AuditFilter.parse(text)).entries]

    assert ids("") == ["a5", "a4", "a2", "a3", "a1"]
    assert ids("service:payments") == ["a2"]
    assert ids("svc:ORDERS") == ["a5", "a4", "a3", "a1"]  # (any case)
    assert ids("env:production") == ["a2", "a3"]
    assert ids("environment:production kind:rollback") == ["a2"]
    assert ids("kind:scale") == ["a4"] == ids("action:scale")
    assert ids("user:bob") == ids("by:bob") == ids("actor:bob") == ["a2"]
    assert ids("kind:deploy kind:provision") == ["a5", "a3", "a1"]  # any of one field's values
    assert ids("frozen") == ["a3"]  # the error
    assert ids("failed timeout") == ["a2"]  # every word
    assert ids("postgres") == ["a5"]
    assert ids("user:nobody") == []
    query = AuditFilter.parse("env:production deploy  kind:Deploy")
    assert query.describe() == "env:production kind:deploy deploy"
    assert not AuditFilter.parse("   ") and AuditFilter.parse("x")


def test_a_long_log_is_read_from_its_end_only_as_far_as_needed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    count = 20_000  # actions: 40,000 records
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            service = "rare" if n == 10 else f"svc-{n % 50}"
            for phase in ("started", "finished"):
                out.write(json.dumps(rec(f"id-{n}", phase, service=service)) + "\n")
    history = read_history(path, limit=25)
    assert [e.action_id for e in history.entries] == [f"id-{n}" for n in
                                                       range(count - 1, count - 26, -1)]
    assert all(e.complete and e.state == "succeeded" for e in history.entries)
    assert history.more and history.scanned == 50  # not 40,000
    # A filter matching little reads on, up to the scan limit (then says it stopped there).
    history = read_history(path, AuditFilter.parse("service:rare"), scan_limit=10_000)
    assert history.entries == [] and history.cut and history.scanned == 10_000
    history = read_history(path, AuditFilter.parse("service:rare"), scan_limit=2 * count)
    assert [e.action_id for e in history.entries] == ["id-10"]
    assert history.scanned == 2 * count  # (the whole log, once)


def test_lines_across_blocks_damaged_lines_and_a_missing_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditview, "BLOCK", 7)  # every line spans blocks
    path = tmp_path / "audit.jsonl"
    records = [rec(f"x{n}", "started", minute=n) for n in range(5)]
    lines = [json.dumps(r) for r in records]
    lines.insert(2, "{not json")
    lines.insert(4, "[1, 2]")
    path.write_text("\n".join(lines) + "\n{\"partial", encoding="utf-8")
    assert [r["action_id"] for r in records_newest_first(path)] == \
        ["x4", "x3", "x2", "x1", "x0"]
    assert read_history(tmp_path / "none.jsonl").entries == []
    assert read_history(tmp_path / "none.jsonl").error is None


def test_a_log_that_cannot_be_read_is_said_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    history = read_history(folder)
    assert history.entries == [] and history.error and str(folder) in history.error
    real = history_log(tmp_path).path
    link = tmp_path / "link.jsonl"
    os.symlink(real, link)
    history = read_history(link)  # (a symbolic link is not followed, as the log never is)
    assert history.entries == [] and history.error


def test_a_repair_is_an_entry_of_its_own(tmp_path: Path) -> None:
    log = history_log(tmp_path)
    with log.path.open("ab") as out:
        out.write(b'{"broken": tr')  # a torn tail
    log.repair("torn write after a crash", "ops")
    history = read_history(log.path)
    first = history.entries[0]
    assert first.state == "repair" and first.kind == "audit-repair" and first.actor == "ops"
    assert first.reason == "torn write after a crash" and "line 8" in first.target
    assert len(history.entries) == 6
