"""The audit trail as a user meets it: ``idp-tui`` subprocesses on the sandbox.

Tampering (deleted, emptied, truncated, renamed, a line appended), a symbolic link or a folder in
place of the log, a full disk (a small tmpfs, where this process may mount one), a reused action id:
each is named by ``idp-tui audit verify`` and by the next action, and ``idp-tui audit repair``
restores service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_cli_commands import (  # noqa: F401 - fake_plugins: the fixture
    TIMEOUT,
    Cli,
    fake_plugins,
    records,
    started_action,
)

RESTART = ("restart", "payments-api", "--env", "staging")


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path) -> Cli:  # noqa: F811 - the imported fixture
    return Cli(tmp_path, fake_plugins)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text and "Logging error" not in text, text


@pytest.mark.parametrize("damage", ["deleted", "emptied", "truncated", "renamed",
                                    "appended {}", "appended 42"])
def test_tampering_is_detected_refused_and_repaired(cli: Cli, damage: str) -> None:
    cli.ok(*RESTART)
    log = cli.audit.path
    data = log.read_bytes()
    if damage == "deleted":
        log.unlink()
    elif damage == "emptied":
        log.write_bytes(b"")
    elif damage == "truncated":
        log.write_bytes(data.splitlines(keepends=True)[0])
    elif damage == "renamed":
        log.rename(log.with_name("audit.jsonl.old"))
    else:
        log.write_bytes(data + damage.split()[1].encode() + b"\n")
    result = cli.run("audit", "verify")
    assert result.returncode == 1, result.stderr
    word = {"deleted": "missing", "renamed": "missing", "emptied": "emptied",
            "truncated": "truncated"}.get(damage, "line 3")
    assert word in result.stderr and "idp-tui audit repair" in result.stderr
    after_damage = log.read_bytes() if log.exists() else None
    # The next action is refused, naming the repair; nothing is chained onto the log.
    result = cli.run(*RESTART)
    assert result.returncode == 1
    assert "not started" in result.stderr and "idp-tui audit repair" in result.stderr
    assert (log.read_bytes() if log.exists() else None) == after_damage
    # A repair without a reason is a usage error.
    assert cli.run("audit", "repair").returncode == 2
    out = cli.ok("audit", "repair", "--reason", f"drill: {damage}")
    assert out.startswith("repaired ")
    if damage.startswith("appended"):
        (aside,) = cli.data.glob("audit.jsonl.damaged-*")
        assert str(aside) in out and aside.read_bytes() == damage.split()[1].encode() + b"\n"
    verified = cli.json("audit", "verify")
    assert verified["ok"] and verified["repairs"][0]["reason"] == f"drill: {damage}"
    cli.ok(*RESTART)
    assert [r["phase"] for r in records(cli)][-3:] == ["repair", "started", "finished"]
    assert cli.ok("audit", "verify").startswith("ok: ")


def test_an_edited_record_is_named_by_verify_and_repair_refuses_it(cli: Cli) -> None:
    cli.ok(*RESTART)
    cli.ok(*RESTART)
    log = cli.audit.path
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace('"staging"', '"production"')
    log.write_text("\n".join(lines) + "\n")
    result = cli.run("audit", "verify")
    assert result.returncode == 1 and "line 2" in result.stderr and "edited" in result.stderr
    result = cli.run("audit", "repair", "--reason", "x")
    assert result.returncode == 1 and "backup" in result.stderr


def test_a_symlinked_log_is_refused_with_a_sentence(cli: Cli) -> None:
    outside = cli.root / "elsewhere.jsonl"
    outside.write_bytes(b"")
    cli.audit.path.symlink_to(outside)
    for args in (RESTART, ("audit", "verify"), ("audit",)):
        result = cli.run(*args)
        no_traceback(result)
        assert result.returncode == 2, (args, result.stderr)
        assert "symbolic link" in result.stderr and "never followed" in result.stderr
    assert outside.read_bytes() == b""


def test_a_folder_in_place_of_the_log_is_a_sentence_and_exit_2(cli: Cli) -> None:
    cli.audit.path.mkdir()
    for args in (("audit", "verify"), ("audit",), RESTART):
        result = cli.run(*args)
        no_traceback(result)
        assert result.returncode == 2, (args, result.stderr)
        assert "it is a folder, not a file" in result.stderr
        assert "internal" not in result.stderr and "unexpected" not in result.stderr
    body = json.loads(cli.run("audit", "verify", "--json").stderr.splitlines()[-1])
    assert body["error"]["code"] == 2


def test_an_id_reused_for_another_target_is_refused(cli: Cli) -> None:
    cli.ok(*RESTART, "--id", "CHG-7")
    result = cli.run("restart", "checkout-api", "--env", "staging", "--id", "CHG-7")
    assert result.returncode == 2
    assert "action id CHG-7 was used on" in result.stderr
    assert "restart payments-api in staging" in result.stderr and "new id" in result.stderr
    # The same request again: its outcome, not a second run.
    out = cli.ok(*RESTART, "--id", "CHG-7")
    assert "already ran" in out and "succeeded" in out
    assert [r["phase"] for r in records(cli)] == ["started", "finished"]


def test_an_id_reused_after_a_killed_run_is_not_started_again(cli: Cli) -> None:
    cli.write_config(speed=0.02)  # a restart now takes minutes
    proc = started_action(cli, *RESTART, "--id", "CHG-9")
    try:
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=TIMEOUT)
    cli.write_config()
    result = cli.run(*RESTART, "--id", "CHG-9")
    assert result.returncode == 1
    assert "outcome is unknown" in result.stderr and "new id" in result.stderr
    assert [r["phase"] for r in records(cli)] == ["started"]  # no second started record
    cli.ok(*RESTART)  # a new id works


# A full disk: a small tmpfs as the data dir ------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot mount a tmpfs here")
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_actions_cleanly_and_they_work_again_with_space(
        cli: Cli, small_disk: Path) -> None:
    cli.data = small_disk / "data"
    cli.data.mkdir()
    cli.ok(*RESTART)
    before = cli.audit.path.read_bytes()
    filler = fill(small_disk)
    result = cli.run(*RESTART)
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert "no space left on the device" in result.stderr and "not started" in result.stderr
    assert cli.audit.path.read_bytes() == before  # no partial record
    assert cli.ok("audit", "verify").startswith("ok: 2 records")
    filler.unlink()
    cli.ok(*RESTART)
    assert cli.ok("audit", "verify").startswith("ok: 4 records")


def test_an_old_log_without_an_anchor_is_anchored_once_and_keeps_working(cli: Cli) -> None:
    cli.ok(*RESTART)
    (cli.data / "audit.anchor").unlink()  # as written before anchors were kept
    out = cli.ok("audit", "verify")
    assert out.startswith("ok: 2 records") and "no anchor yet: created audit.anchor" in out
    again = cli.ok("audit", "verify")
    assert "no anchor yet" not in again and "matches its anchor" in again
    cli.ok(*RESTART)
    assert cli.ok("audit", "verify").startswith("ok: 4 records")
