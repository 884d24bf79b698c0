"""Bounded inputs and clean errors, run as a user runs them: every value from a user or a file has
a documented limit, and a wrong one (empty, too long, a device, an unusable data dir) is exit code 2
with a sentence, never a traceback; nothing is read past a file's limit."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp_tui import limits

ROOT = Path(__file__).resolve().parent.parent
#: The address space a child may use: far below what reading /dev/zero to its end would take.
MEMORY_CAP = 512 * 2**20


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A data dir of its own, no config file (the sandbox)."""
    full = {k: v for k, v in os.environ.items() if k != "IDP_TUI_CONFIG"}
    full.update(IDP_TUI_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
                NO_COLOR="1")
    return full


def run(env: dict[str, str], *args: str, stdin: object = subprocess.DEVNULL,
        timeout: float = 60, capped: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, stdin=stdin,  # type: ignore[arg-type]
                          preexec_fn=_cap_memory if capped else None)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one error line of a refused command (exit 2, no traceback), checked for ``words``."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr, result.stderr
    # "idp-tui: TYPE: …", or argparse's "idp-tui COMMAND: error: …" after the usage
    lines = [line for line in result.stderr.splitlines() if line.startswith("idp-tui")]
    assert lines, result.stderr
    line = lines[-1]
    for word in words:
        assert word in line, (word, line)
    assert len(result.stderr) < 3000, "a refused value is never echoed whole"
    return line


# Parameter files ---------------------------------------------------------------------------------

PROVISION = ("provision", "postgres", "--param", "service=api-gateway", "--dry-run")


def test_dev_zero_as_a_param_file_is_refused_at_once_with_bounded_memory(
        env: dict[str, str]) -> None:
    started = time.monotonic()
    result = run(env, *PROVISION, "--param-file", "admin_password=/dev/zero", capped=True)
    line = refused(result, "--param-file admin_password", "'/dev/zero' is a device, not a "
                                                          "regular file")
    assert "`-` to read the value from stdin" in result.stderr
    assert time.monotonic() - started < 30, line


def test_dev_zero_on_stdin_is_read_up_to_the_limit_only(env: dict[str, str]) -> None:
    with open("/dev/zero", "rb") as zero:
        result = run(env, *PROVISION, "--param-file", "admin_password=-", stdin=zero,
                     capped=True)
    refused(result, "stdin is larger than 65,536 bytes")
    assert "nothing past the limit was read" in result.stderr


def test_a_fifo_as_a_param_file_is_refused_without_waiting_for_a_writer(
        env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    result = run(env, *PROVISION, "--param-file", f"admin_password={fifo}", timeout=30)
    refused(result, "is a FIFO (a named pipe), not a regular file")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    refused(run(env, *PROVISION, "--param-file", f"admin_password={folder}"),
            "is a folder, not a regular file")


def test_a_param_file_up_to_the_limit_is_read_and_one_byte_more_refused(
        env: dict[str, str], tmp_path: Path) -> None:
    size = limits.PARAM_FILE.size
    at_limit = tmp_path / "at-limit"
    at_limit.write_text("a1" * (size // 2))
    result = run(env, *PROVISION, "--param-file", f"admin_password={at_limit}", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout.splitlines()[-1])
    assert plan["dry_run"] and plan["params"]["admin_password"] == "***"
    over = tmp_path / "over"
    over.write_text("a1" * (size // 2) + "b")
    refused(run(env, *PROVISION, "--param-file", f"admin_password={over}"),
            "'", "is larger than 65,536 bytes")
    refused(run(env, *PROVISION, "--param-file", "admin_password="), "got an empty path")


def test_a_param_value_past_its_limit_is_refused_without_echoing_it(env: dict[str, str]) -> None:
    value = "x" * (limits.PARAM_VALUE.size + 1)
    line = refused(run(env, "provision", "postgres", "--param", f"service={value}",
                       "--dry-run"), "--param 'service'", "65,537 characters", "65,536")
    assert "xxxxxxxxxx" not in line
    # The same bound for a value from the environment.
    refused(run({**env, "IDP_TUI_PARAM_ADMIN_PASSWORD": value}, *PROVISION),
            "$IDP_TUI_PARAM_ADMIN_PASSWORD: the value has 65,537 characters")


# Arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "words"), [
    (["deploy", "payments-api", "--env", "staging", "--version", ""],
     "argument --version/-V: expected a version, got an empty text"),
    (["rollback", "payments-api", "--env", "staging", "--version", " "],
     "expected a version, got an empty text"),
    (["deploy", "payments-api", "--env", "staging", "--version", "v" * 129],
     "a version has at most 128 characters, got 129"),
    (["deploy", "payments-api", "--env", "staging", "--version", "1.0\x1b[31m"],
     "control characters are not allowed in a version"),
    (["restart", "payments-api", "--env", ""], "expected an environment name, got an empty text"),
    (["restart", "", "--env", "staging"], "expected a service name, got an empty text"),
    (["restart", "s" * 254, "--env", "staging"],
     "a service name has at most 253 characters, got 254"),
    (["provision", ""], "expected a template name, got an empty text"),
    (["envs", "--service", ""], "expected a service name"),
    (["restart", "payments-api", "--env", "staging", "--id", ""], "expected an action id"),
    (["restart", "payments-api", "--env", "staging", "--id", "i" * 129],
     "an action id has at most 128 characters, got 129"),
    (["restart", "payments-api", "--env", "staging", "--id", "a b"], "an action id has no spaces"),
    (["restart", "payments-api", "--env", "staging", "--reason", ""], "expected a reason"),
    (["restart", "payments-api", "--env", "staging", "--reason", "r" * 100_000],
     "a reason has at most 1,000 characters, got 100,000"),
    (["scale", "payments-api", "--env", "staging", "--replicas", "10001"],
     "expected a number from 0 to 10,000, got 10,001"),
    (["logs", "payments-api", "--env", "staging", "--tail", "100001"],
     "expected a number from 0 to 100,000, got 100,001"),
    (["logs", "payments-api", "--env", "staging", "--tail", "9" * 5000],
     "expected a whole number, got '9999"),
    (["logs", "payments-api", "--env", "staging", "--since", "367d"],
     "expected a duration between 1s and 366d"),
    (["logs", "payments-api", "--env", "staging", "--since", "nan"], "expected a duration"),
    (["logs", "payments-api", "--env", "staging", "--since", ""], "expected a duration"),
    (["logs", "payments-api", "--env", "staging", "--grep", ""], "expected a regular expression"),
    (["logs", "payments-api", "--env", "staging", "--grep", "a" * 1001],
     "a regular expression has at most 1,000 characters"),
    (["pipelines", "--limit", "0"], "expected a number from 1 to 1,000, got 0"),
    (["pipelines", "--limit", "1001"], "expected a number from 1 to 1,000, got 1,001"),
    (["audit", "--limit", "100001"], "expected a number from 0 to 100,000"),
    (["services", "--config", ""], "expected a path, got an empty text"),
    (["services", "--data-dir", ""], "expected a path, got an empty text"),
])
def test_a_wrong_argument_exits_2_with_a_sentence(env: dict[str, str], args: list[str],
                                                  words: str) -> None:
    result = run(env, *args)
    refused(result, words)
    # With --json: one JSON line on stderr saying the same.
    result = run(env, *args, "--json")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    error = json.loads(line)["error"]
    assert error["code"] == 2 and words in error["message"]


def test_a_long_reason_is_neither_stored_nor_printed(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "restart", "payments-api", "--env", "staging", "--reason", "r" * 100_000)
    refused(result)
    assert not (tmp_path / "data" / "audit.jsonl").exists() or \
        "rrrrrrrrrr" not in (tmp_path / "data" / "audit.jsonl").read_text()
    # At the limit it goes through (a dry run: nothing changes, nothing is recorded).
    result = run(env, "restart", "payments-api", "--env", "staging", "--dry-run",
                 "--reason", "r" * limits.REASON.size)
    assert result.returncode == 0, result.stderr


# The config file ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["services"]])
def test_a_huge_or_endless_config_file_is_refused(env: dict[str, str], tmp_path: Path,
                                                  command: list[str]) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * limits.CONFIG_FILE.size + b"\n")
    refused(run(env, "--config", str(huge), *command),
            f"{huge}: the file is larger than 1,048,576 bytes")
    refused(run(env, "--config", "/dev/zero", *command, capped=True),
            "/dev/zero: is a device, not a regular file; expected a TOML file")
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    refused(run(env, "--config", str(fifo), *command, timeout=30),
            "is a FIFO (a named pipe), not a regular file")


# The data dir ------------------------------------------------------------------------------------

EVERY_COMMAND = [
    [], ["services"], ["envs"], ["pipelines"], ["sources"], ["metrics", "a", "--env", "b"],
    ["logs", "a", "--env", "b"], ["versions", "a", "--env", "b"], ["templates"], ["resources"],
    ["deploy", "a", "--env", "b", "--version", "1"], ["rollback", "a", "--env", "b"],
    ["scale", "a", "--env", "b", "--replicas", "1"], ["restart", "a", "--env", "b"],
    ["provision", "postgres"], ["audit"], ["audit", "verify"],
]


def test_a_log_file_that_cannot_be_opened_exits_2_for_every_command(
        env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "idp-tui.log").mkdir(parents=True)
    for command in EVERY_COMMAND:
        line = refused(run(env, *command), f"cannot open the log file {data / 'idp-tui.log'}: "
                                           "a folder is in its way; move it aside, or choose "
                                           "another data dir with --data-dir PATH")
        assert line.startswith("idp-tui: config: "), (command, line)


@pytest.fixture
def unwritable() -> Iterator[tuple[Path, list[str]]]:
    """A data dir its user cannot write in, and the command prefix that runs as that user (as
    root, ``setpriv`` to user nobody: root may write anywhere)."""
    top = Path(tempfile.mkdtemp(prefix="idp-tui-ro-", dir="/tmp"))
    top.chmod(0o755)
    folder = top / "data"
    folder.mkdir()
    folder.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        try:
            probe = subprocess.run([*prefix, sys.executable, "-c", f"open('{folder}/x', 'w')"],
                                   capture_output=True, text=True, timeout=60)
        except OSError:
            probe = None
        if probe is None or "PermissionError" not in probe.stderr:
            shutil.rmtree(top)
            pytest.skip("running as root, and cannot run this Python as a user without rights "
                        "on the folder")
    try:
        yield folder, prefix
    finally:
        folder.chmod(0o755)
        shutil.rmtree(top)


def test_an_unwritable_data_dir_exits_2_for_every_command(
        env: dict[str, str], unwritable: tuple[Path, list[str]]) -> None:
    folder, prefix = unwritable
    for data, words in ((folder, f"cannot write in the data dir {folder}: permission denied; "
                                 "make it writable, or choose another data dir with --data-dir"),
                        (folder / "sub", f"cannot use the data dir {folder / 'sub'}: permission "
                                         "denied; make its parent folder writable")):
        child = {**env, "IDP_TUI_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(folder)}
        for command in EVERY_COMMAND:
            result = subprocess.run([*prefix, sys.executable, "-m", "idp_tui", *command],
                                    capture_output=True, text=True, env=child, timeout=60,
                                    stdin=subprocess.DEVNULL)
            refused(result, words)
    assert list(folder.iterdir()) == []


# The limits are documented -----------------------------------------------------------------------

def test_the_readme_lists_every_limit_as_the_code_has_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("| input | limit |", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines()[2:] if line.startswith("|")]
    assert [(what, limit) for what, limit in rows] == [
        (limit.what, f"{limit.size:,} {limit.unit}") for limit in limits.LIMITS]


def test_limits_read_bounded_reads_no_further_than_the_limit(tmp_path: Path) -> None:
    small = limits.Limit("a test file", 10, "bytes")
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    assert limits.read_bounded(path, small) == b"0123456789"
    path.write_bytes(b"0123456789a")
    with pytest.raises(limits.TooLarge, match="larger than 10 bytes, the limit for a test file"):
        limits.read_bounded(path, small)
    read, write = os.pipe()
    os.write(write, b"x" * 100)
    with pytest.raises(limits.TooLarge):
        limits.read_stream(read, small)
    # It stopped at the limit and one byte: the rest is still in the pipe.
    assert len(os.read(read, 1000)) == 100 - 11
    os.close(read)
    os.close(write)
    with pytest.raises(limits.NotAFile, match="is a device"):
        limits.read_bounded(Path("/dev/null"), small)
    assert limits.shown("a" * 100, 5) == "'aaaaa'… (100 characters)"
    assert re.fullmatch(r"'abc'", limits.shown("abc"))


def test_a_log_record_that_cannot_be_written_is_dropped_without_a_word_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import errno
    import logging

    from idp_tui.cli import LogFile, open_log
    from idp_tui.configerror import ConfigError

    handler = open_log(tmp_path)
    assert isinstance(handler, LogFile)

    class FullDisk:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            pass

    handler.stream.close()
    handler.stream = FullDisk()  # type: ignore[assignment]
    record = logging.LogRecord("idp_tui", logging.ERROR, __file__, 1, "boom", None, None)
    handler.emit(record)
    handler.emit(record)
    assert handler.failed == 2
    assert capsys.readouterr().err == ""  # no "--- Logging error ---" and traceback
    # A folder in the log file's way: a sentence naming it and what to do.
    other = tmp_path / "other"
    (other / "idp-tui.log").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"cannot open the log file .*other/idp-tui.log: a "
                                          r"folder is in its way; move it aside, or choose "
                                          r"another data dir with --data-dir PATH"):
        open_log(other)
