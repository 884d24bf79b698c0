"""The audit trail you can trust: the anchor, a full disk, repair, symbolic links, action ids.

In-process tests of :mod:`idp_tui.audit` through its public methods; the command-line side is in
``test_audit_cli.py``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

import idp_tui.audit as audit_module
from idp_tui.audit import (
    GENESIS,
    ActionAlreadyRan,
    ActionIdReused,
    ActionOutcomeUnknown,
    AuditBroken,
    AuditError,
    AuditLog,
    AuditPathError,
)


def rec(n: int, phase: str = "started", **extra: object) -> dict[str, object]:
    return {"action_id": f"act-{n}", "phase": phase, "action": "deploy",
            "service": "payments-api", "environment": "staging", "version": f"1.{n}",
            "params": {}, "time": f"2026-11-25T14:0{n % 10}:00+00:00", **extra}


def filled(tmp_path: Path, count: int = 3) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(1, count + 1):
        log.append(rec(n))
        log.append(rec(n, "finished", outcome="succeeded", error=None))
    return log


def anchor(log: AuditLog) -> dict[str, object]:
    return json.loads(log.anchor_path.read_text())


# The anchor ---------------------------------------------------------------------------------------

def test_each_append_moves_the_anchor_to_the_head(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    last = list(log.records())[-1]
    assert anchor(log) == {"seq": 4, "hash": last["hash"], "length": log.path.stat().st_size,
                           "log": "audit.jsonl"}
    assert log.verify().ok


@pytest.mark.parametrize("damage", ["deleted", "renamed", "emptied", "truncated"])
def test_a_log_that_lost_records_is_detected_by_verify_and_the_next_append(
        tmp_path: Path, damage: str) -> None:
    log = filled(tmp_path, 3)
    data = log.path.read_bytes()
    if damage == "deleted":
        log.path.unlink()
    elif damage == "renamed":
        log.path.rename(tmp_path / "old.jsonl")
    elif damage == "emptied":
        log.path.write_bytes(b"")
    else:  # the last two records cut off: what is left still chains
        cut = data.rstrip(b"\n").rsplit(b"\n", 2)[0] + b"\n"
        log.path.write_bytes(cut)
    result = log.verify()
    assert not result.ok
    word = {"deleted": "missing", "renamed": "missing", "emptied": "emptied",
            "truncated": "truncated"}[damage]
    assert word in result.problem and "record 6" in result.problem
    assert "idp-tui audit repair" in (result.hint or "")
    before = log.path.read_bytes() if log.path.exists() else None
    with pytest.raises(AuditBroken, match=word) as caught:
        log.append(rec(9))
    assert "idp-tui audit repair" in (caught.value.hint or "")
    # Nothing was chained onto it (and a deleted log was not created again).
    assert (log.path.read_bytes() if log.path.exists() else None) == before


@pytest.mark.parametrize("line", [b"{}\n", b"42\n", b'{"action_id": "x"}\n', b"garbage"])
def test_a_line_added_by_hand_is_detected(tmp_path: Path, line: bytes) -> None:
    log = filled(tmp_path, 2)
    with log.path.open("ab") as handle:
        handle.write(line)
    result = log.verify()
    assert (result.ok, result.line, result.records) == (False, 5, 4)
    assert "repair" in (result.hint or "")
    with pytest.raises(AuditBroken, match="damaged record"):
        log.append(rec(9))


def test_a_valid_record_written_without_its_anchor_is_taken(tmp_path: Path) -> None:
    """A process stopped between a record and its anchor: the next append catches up."""
    log = filled(tmp_path, 1)
    old_anchor = log.anchor_path.read_bytes()
    log.append(rec(2))
    log.anchor_path.write_bytes(old_anchor)  # as if the anchor had not been written
    stored = log.append(rec(3))
    assert stored["seq"] == 4 and anchor(log)["seq"] == 4
    result = log.verify()
    assert result.ok and result.records == 4 and result.note == ""


def test_verify_brings_a_lagging_anchor_up_to_date_and_says_so(tmp_path: Path) -> None:
    log = filled(tmp_path, 1)
    old_anchor = log.anchor_path.read_bytes()
    log.append(rec(2))
    log.anchor_path.write_bytes(old_anchor)
    result = log.verify()
    assert result.ok and "behind" in result.note
    assert anchor(log)["seq"] == 3


def test_an_old_log_without_an_anchor_gets_one_once(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    log.anchor_path.unlink()
    result = log.verify()
    assert result.ok and result.records == 4 and "no anchor yet" in result.note
    assert anchor(log)["seq"] == 4
    again = log.verify()
    assert again.ok and again.note == ""


def test_an_old_log_without_an_anchor_takes_appends(tmp_path: Path) -> None:
    log = filled(tmp_path, 1)
    log.anchor_path.unlink()
    assert log.append(rec(2))["seq"] == 3
    assert any("no anchor yet" in note for note in log.notes)
    assert anchor(log)["seq"] == 3 and log.verify().ok


def test_a_replaced_head_record_is_detected(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    other = AuditLog(tmp_path / "other" / "audit.jsonl")
    for n in range(1, 7):
        other.append(rec(n, reason="a longer chain"))
    # Another valid chain, longer than the anchored one, in its place.
    log.path.write_bytes(other.path.read_bytes())
    result = log.verify()
    assert not result.ok and "anchored record 4" in result.problem
    with pytest.raises(AuditBroken):
        log.append(rec(9))


def test_verify_streams_and_a_long_log_is_checked_by_its_tail_on_append(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append reads the anchor and the end of the log, not the whole log."""
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(300):
        log.append({"action_id": f"a{n}", "phase": "denied", "params": {}, "action": "deploy"})
    read: list[int] = []
    real = os.pread

    def pread(fd: int, size: int, offset: int) -> bytes:
        read.append(size)
        return real(fd, size, offset)

    monkeypatch.setattr(os, "pread", pread)
    log.append({"action_id": "last", "phase": "finished", "params": {}})
    assert sum(read) < 8192, sum(read)
    read.clear()
    assert log.verify().ok
    assert sum(read) >= log.path.stat().st_size - 1000


# A full disk --------------------------------------------------------------------------------------

def _failing_write(monkeypatch: pytest.MonkeyPatch, *, partial: bool) -> list[int]:
    """``os.write`` fails with ENOSPC for the audit log, after writing half (``partial``)."""
    calls: list[int] = []
    real = os.write

    def write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if partial:
            real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    return calls


@pytest.mark.parametrize("partial", [False, True])
def test_a_full_disk_leaves_no_partial_record_and_appends_work_once_space_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partial: bool) -> None:
    log = filled(tmp_path, 2)
    before, anchored = log.path.read_bytes(), log.anchor_path.read_bytes()
    with monkeypatch.context() as patch:
        calls = _failing_write(patch, partial=partial)
        with pytest.raises(AuditError, match="no space left on the device") as caught:
            log.append(rec(3))
    assert calls and not isinstance(caught.value, AuditBroken)
    assert log.path.read_bytes() == before and log.anchor_path.read_bytes() == anchored
    assert log.verify().ok
    assert log.append(rec(3))["seq"] == 5  # space is back
    assert log.verify().ok and log.verify().records == 5


def test_a_failed_fsync_cuts_the_record_back(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    log = filled(tmp_path, 1)
    before = log.path.read_bytes()

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        with pytest.raises(AuditError, match="Input/output error"):
            log.append(rec(2))
    assert log.path.read_bytes() == before
    assert log.append(rec(2))["seq"] == 3


def test_an_anchor_that_cannot_be_written_undoes_the_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = filled(tmp_path, 1)
    before = log.path.read_bytes()
    real = os.replace

    def replace(src: object, dst: object) -> None:
        if str(dst).endswith(".anchor"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        with pytest.raises(AuditError, match="no space left"):
            log.append(rec(2))
    assert log.path.read_bytes() == before and log.verify().ok
    assert not log.anchor_path.with_name("audit.anchor.tmp").exists()


# Repair -------------------------------------------------------------------------------------------

def test_repair_moves_a_torn_tail_aside_and_records_it(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    good = log.path.read_bytes()
    torn = b'{"action_id": "act-3", "phase": "sta'
    with log.path.open("ab") as handle:
        handle.write(torn)
    result = log.repair("disk was full on 2026-11-25", "ann")
    assert result.record is not None and result.moved_to is not None
    assert result.moved_to.parent == tmp_path and result.moved_to.read_bytes() == torn
    assert result.moved_bytes == (len(good), len(good) + len(torn))
    stored = result.record
    assert (stored["phase"], stored["actor"], stored["reason"], stored["seq"]) == (
        "repair", "ann", "disk was full on 2026-11-25", 5)
    repair = stored["repair"]
    assert repair["moved_to"] == result.moved_to.name
    assert repair["moved_bytes"] == [len(good), len(good) + len(torn)]
    assert repair["moved_sha256"] == hashlib.sha256(torn).hexdigest()
    assert "line 5" in repair["problem"]
    assert log.path.read_bytes().startswith(good)
    verified = log.verify()
    assert verified.ok and verified.records == 5
    assert verified.repairs and verified.repairs[0]["actor"] == "ann"
    assert log.append(rec(3))["seq"] == 6  # actions work again


def test_repair_of_a_healthy_log_changes_nothing(tmp_path: Path) -> None:
    log = filled(tmp_path, 1)
    before = log.path.read_bytes()
    result = log.repair("just checking", "ann")
    assert result.record is None and "nothing to repair" in result.problem
    assert log.path.read_bytes() == before


def test_repair_records_a_truncated_log_and_actions_continue(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    first_two = b"".join(log.path.read_bytes().splitlines(keepends=True)[:2])
    log.path.write_bytes(first_two)
    result = log.repair("restored from the 02:00 backup", "ann")
    assert result.record is not None and result.moved_to is None
    assert "truncated" in result.problem and "record 6" in result.problem
    assert result.record["repair"]["anchor_before"]["seq"] == 6
    assert result.record["seq"] == 3
    assert log.verify().ok
    assert log.append(rec(4))["seq"] == 4


def test_repair_of_a_deleted_log_starts_a_chain_that_says_so(tmp_path: Path) -> None:
    log = filled(tmp_path, 2)
    log.path.unlink()
    result = log.repair("the log was deleted by mistake", "ann")
    assert result.record is not None
    assert result.record["prev"] == GENESIS and "missing or emptied" in result.problem
    assert result.record["repair"]["anchor_before"]["seq"] == 4
    assert log.verify().ok and log.append(rec(3))["seq"] == 2


def test_repair_refuses_a_log_edited_in_the_middle(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    items = log.path.read_text().splitlines()
    items[1] = items[1].replace("staging", "production")
    log.path.write_text("\n".join(items) + "\n")
    before = log.path.read_bytes()
    with pytest.raises(AuditBroken, match="intact records follow") as caught:
        log.repair("x", "ann")
    assert "backup" in (caught.value.hint or "")
    assert log.path.read_bytes() == before
    assert not list(tmp_path.glob("audit.jsonl.damaged-*"))


# Paths --------------------------------------------------------------------------------------------

def test_a_symlinked_log_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"")
    data = tmp_path / "data"
    data.mkdir()
    log = AuditLog(data / "audit.jsonl")
    log.path.symlink_to(outside)
    with pytest.raises(AuditPathError, match="symbolic link") as caught:
        log.append(rec(1))
    assert caught.value.exit_code == 2
    assert outside.read_bytes() == b""
    with pytest.raises(AuditPathError, match="symbolic link"):
        log.verify()
    with pytest.raises(AuditPathError, match="symbolic link"):
        list(log.records())


def test_a_symlinked_anchor_is_never_followed(tmp_path: Path) -> None:
    log = filled(tmp_path, 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(log.anchor_path.read_text())
    log.anchor_path.unlink()
    log.anchor_path.symlink_to(elsewhere)
    with pytest.raises(AuditPathError, match="anchor .* symbolic link"):
        log.append(rec(2))
    with pytest.raises(AuditPathError, match="symbolic link"):
        log.verify()


def test_a_folder_in_place_of_the_log(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").mkdir()
    log = AuditLog(tmp_path / "audit.jsonl")
    for call in (lambda: log.append(rec(1)), log.verify, lambda: list(log.records())):
        with pytest.raises(AuditPathError, match="it is a folder") as caught:
            call()
        assert caught.value.exit_code == 2


def test_a_fifo_in_place_of_the_log_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "audit.jsonl")
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(AuditPathError, match="not a regular file"):
        log.verify()


# Action ids ---------------------------------------------------------------------------------------

def test_an_id_reused_for_another_target_is_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(rec(1))
    other = rec(1, version="9.9")  # act-1 again, another version
    with pytest.raises(ActionIdReused, match=r"act-1 was used on 2026-11-25 14:01:00 UTC for "
                                             r"deploy payments-api 1.1 in staging") as caught:
        log.append(other)
    assert caught.value.exit_code == 2
    with pytest.raises(ActionIdReused):
        log.append({**rec(1), "phase": "denied", "environment": "production"})
    assert log.verify().records == 1


def test_an_id_whose_run_never_finished_is_not_started_again(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(rec(1))  # the process was killed: no finished record
    with pytest.raises(ActionOutcomeUnknown, match="outcome is unknown") as caught:
        log.append(rec(1))
    assert "new id" in (caught.value.hint or "")
    assert [r["phase"] for r in log.records()] == ["started"]


def test_an_id_whose_run_finished_reports_its_outcome(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(rec(1))
    log.append(rec(1, "finished", outcome="failed", error="plugin error: boom"))
    with pytest.raises(ActionAlreadyRan, match="already ran") as caught:
        log.append(rec(1))
    assert (caught.value.outcome, caught.value.error) == ("failed", "plugin error: boom")
    assert len(list(log.records())) == 2


def test_a_denied_id_may_be_tried_again_for_the_same_target(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(rec(1, "denied", outcome="denied"))
    assert log.append(rec(1))["seq"] == 2


def test_the_id_index_is_rebuilt_when_deleted_or_damaged(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    log.append(rec(4))  # builds the index
    assert log.index_path.exists()
    log.index_path.unlink()
    with pytest.raises(ActionIdReused):
        log.append(rec(2, version="other"))
    log.index_path.write_bytes(b"not a database")
    with pytest.raises(ActionIdReused):
        log.append(rec(3, version="other"))
    # Written for another log (the head it covers is not in this one): rebuilt too.
    other = AuditLog(tmp_path / "o" / "audit.jsonl")
    other.append(rec(7))
    other.append(rec(8))
    other.append(rec(9))
    os.replace(other.index_path, log.index_path)
    with pytest.raises(ActionIdReused):
        log.append(rec(1, version="other"))
    assert log.append(rec(7))["seq"] == 8


def test_the_id_index_catches_up_with_records_others_wrote(tmp_path: Path) -> None:
    one = AuditLog(tmp_path / "audit.jsonl")
    two = AuditLog(tmp_path / "audit.jsonl")
    one.append(rec(1))
    two.append(rec(2))
    with pytest.raises(ActionIdReused):
        one.append(rec(2, service="other"))


def test_without_a_usable_index_the_log_is_read(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = filled(tmp_path, 2)
    import idp_tui.auditindex as index

    def broken(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index, "_lookup", broken)
    with pytest.raises(ActionIdReused):
        log.append(rec(1, environment="production"))
    assert log.append(rec(3))["seq"] == 5
    assert audit_module.GENESIS == GENESIS


def test_verify_works_with_read_access_only(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor who may read the data dir but not write it can verify."""
    log = filled(tmp_path, 1)
    log.anchor_path.unlink()  # verify would create it, but cannot
    real = os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def read_only_open(path: object, flags: int, *args: object) -> int:
        if flags & writing and str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only_open)
    result = log.verify()
    assert result.ok and result.records == 2
    assert "could not be written" in result.note and "Permission denied" in result.note
    with pytest.raises(AuditError, match="Permission denied"):
        log.append(rec(2))
