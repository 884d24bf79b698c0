"""The ``idp-tui`` commands, run as a script or a CI job runs them: real subprocesses.

Each test gets its own data dir and a config pointing the sandbox at a database in a temporary folder.
Fake sources from ``tests/fakes*.py`` are registered for the subprocesses through a throw-away
``.dist-info`` folder on ``PYTHONPATH`` (for hostile text and failing actions).
"""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.audit import AuditLog

TESTS = Path(__file__).resolve().parent
#: Safety net for each subprocess; no assertion is about time.
TIMEOUT = 120


# Running the command -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fake_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that registers the test sources as installed plugins (for subprocesses)."""
    folder = tmp_path_factory.mktemp("plugins")
    info = folder / "idp_tui_test_sources-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: idp-tui-test-sources\n"
                                   "Version: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[idp_tui.sources]\n"
        "test-static = fakes:StaticSource\n"
        "test-acting = fakes_actions:ActingFake\n"
        "test-error-text = fakes:ErrorTextSource\n")
    return folder


class Cli:
    """``idp-tui`` with a private data dir and config file."""

    def __init__(self, root: Path, plugins: Path, config: str = "") -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(exist_ok=True)
        self.config = root / "config.toml"
        self.plugins = plugins
        self.write_config(config)

    def write_config(self, text: str = "", *, speed: float = 10_000, sandbox: str = "") -> None:
        """``text`` (e.g. a ``[policy]`` table), then the sandbox unless ``text`` has sources.

        ``speed`` is the sandbox's ``action_speed``: fast by default, so a deploy takes moments.
        """
        if "[sources." not in text:
            text = f'{text}\n[sources.sandbox]\ntype = "sandbox"\n' \
                   f'database = "{(self.root / "sandbox.sqlite3").as_posix()}"\n' \
                   f'action_speed = {speed}\n{sandbox}'
        self.config.write_text(text, encoding="utf-8")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("IDP_TUI_") and k not in ("NO_COLOR", "PYTHONPATH")}
        env.update({"IDP_TUI_DATA_DIR": str(self.data), "IDP_TUI_CONFIG": str(self.config),
                    "PYTHONPATH": os.pathsep.join([str(TESTS), str(self.plugins)])})
        return env

    def run(self, *args: str, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env={**self.env, **(env or {})}, timeout=TIMEOUT,
                                input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        return result

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, (result.returncode, result.stderr)
        return result.stdout

    def json(self, *args: str, **kwargs: Any) -> Any:
        out = self.ok(*args, "--json", **kwargs)
        return json.loads(out)

    def json_lines(self, *args: str, **kwargs: Any) -> list[Any]:
        return [json.loads(line) for line in self.ok(*args, "--json", **kwargs).splitlines()]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        # A test run started in the background of a non-interactive shell inherits SIGINT as
        # ignored; the child gets the default back, as a command typed at a terminal has.
        return subprocess.Popen([sys.executable, "-m", "idp_tui", *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, preexec_fn=_default_sigint)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.data / "audit.jsonl")

    @property
    def log_text(self) -> str:
        path = self.data / "idp-tui.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def json_error(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one ``{"error": …}`` line on stderr (warnings may come before it)."""
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    found = [e["error"] for e in errors if "error" in e]
    assert len(found) == 1, result.stderr
    assert found[0]["code"] == result.returncode
    return found[0]


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path) -> Cli:
    return Cli(tmp_path, fake_plugins)


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


# Help, usage and config errors -------------------------------------------------------------------

def test_help_lists_the_commands_and_the_exit_codes(cli: Cli) -> None:
    out = cli.ok("--help")
    for command in ("services", "envs", "pipelines", "sources", "metrics", "logs", "templates",
                    "resources", "deploy", "rollback", "scale", "restart", "provision", "audit"):
        assert f"    {command} " in out, command
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "):
        assert f"\n  {code}" in out
    assert '{"error": {"code": N' in out  # the JSON error convention is documented


def test_each_command_has_help_with_the_exit_codes(cli: Cli) -> None:
    out = cli.ok("deploy", "--help")
    assert "--yes" in out and "--reason" in out and "--dry-run" in out and "--id" in out
    assert "3    denied by policy" in out
    assert "--param-file" in cli.ok("provision", "--help")


def test_a_usage_error_exits_2_and_is_json_with_json(cli: Cli) -> None:
    result = cli.run("metrics", "payments-api")  # --env is missing
    assert result.returncode == 2
    assert "--env" in result.stderr
    result = cli.run("services", "--bogus", "--json")
    assert result.returncode == 2
    assert "--bogus" in json_error(result)["message"]


def test_a_config_error_exits_2_naming_the_line(cli: Cli) -> None:
    cli.config.write_text("[policy]\nprotected = 3\n")
    result = cli.run("services")
    assert result.returncode == 2
    assert f"{cli.config}, line 2 (policy.protected)" in result.stderr
    error = json_error(cli.run("envs", "--json"))
    assert error["type"] == "config" and "policy.protected" in error["message"]


def test_global_options_work_before_and_after_the_command(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other-data"
    env = {"IDP_TUI_CONFIG": str(tmp_path / "missing.toml")}
    result = cli.run("--config", str(cli.config), "--data-dir", str(other), "sources", env=env)
    assert result.returncode == 0, result.stderr
    assert (other / "idp-tui.log").exists()
    result = cli.run("sources", "--config", str(cli.config), env=env)
    assert result.returncode == 0, result.stderr


def test_read_only_reaches_the_dashboard(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    import logging

    from idp_tui.cli import main
    from idp_tui.ui import app as ui_app

    seen: list[bool] = []

    def fake_run(self: Any, *args: Any, **kwargs: Any) -> None:
        import asyncio

        seen.append(self.runtime.actions.read_only)
        asyncio.run(self.runtime.close())

    monkeypatch.setattr(ui_app.IdpApp, "run", fake_run)
    # main() points the process's error hooks at the log file: put them back afterwards.
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    handlers = list(logging.getLogger().handlers)
    monkeypatch.setattr(logging.getLogger("idp_tui"), "level", logging.getLogger("idp_tui").level)
    try:
        assert main(["--read-only"]) == 0
        assert main([]) == 0
    finally:
        for handler in logging.getLogger().handlers[:]:
            if handler not in handlers:
                logging.getLogger().removeHandler(handler)
                handler.close()
    assert seen == [True, False]


def test_commands_do_not_import_textual(cli: Cli) -> None:
    code = """
import contextlib, io, sys
from idp_tui.cli import main
results = []
for argv in (["services", "--json"], ["envs"], ["logs", "payments-api", "--env", "staging",
             "--tail", "3"], ["audit", "verify"], ["sources"]):
    with contextlib.redirect_stdout(io.StringIO()):
        results.append(main(argv))
print(results, any(m == "textual" or m.startswith("textual.") for m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli.env, timeout=TIMEOUT)
    assert result.stdout.strip() == "[0, 0, 0, 0, 0] False", result.stderr


# Reading -----------------------------------------------------------------------------------------

def test_services(cli: Cli) -> None:
    table = rows(cli.ok("services"))
    assert table[0][:3] == ["NAME", "OWNER", "TIER"]
    names = [row[0] for row in table[1:]]
    assert "payments-api" in names and names == sorted(names) and len(names) == 40
    data = cli.json("services")
    assert data["errors"] == []
    assert [s["name"] for s in data["services"]] == names
    payments = next(s for s in data["services"] if s["name"] == "payments-api")
    assert payments["owner"] and payments["sources"] == ["sandbox"]


def test_envs_matrix_detail_and_json(cli: Cli) -> None:
    table = rows(cli.ok("envs"))
    # * protected; then the two preview environments a fresh sandbox starts with
    assert table[0] == ["SERVICE", "dev", "staging", "production*", "pr-3756", "pr-9870"]
    assert len(table) == 41
    data = cli.json("envs")
    assert [e["name"] for e in data["environments"]] == ["dev", "staging", "production",
                                                         "pr-3756", "pr-9870"]
    production = data["environments"][2]
    assert production["protected"] is True
    deployments = {(d["service"], d["environment"]): d for d in data["deployments"]}
    assert ("payments-api", "staging") in deployments
    version = deployments[("payments-api", "staging")]["version"]
    assert ["payments-api", version] == next(
        row[:2] for row in rows(cli.ok("envs", "--env", "staging")) if row[0] == "payments-api")
    only = cli.json("envs", "--service", "payments-api", "--env", "staging")
    assert [(d["service"], d["environment"]) for d in only["deployments"]] == [
        ("payments-api", "staging")]


def test_envs_unknown_environment_or_service_is_not_found(cli: Cli) -> None:
    result = cli.run("envs", "--env", "qa")
    assert result.returncode == 5
    assert "no environment 'qa'" in result.stderr and "dev, staging, production" in result.stderr
    error = json_error(cli.run("envs", "--service", "nope", "--json"))
    assert error["type"] == "not found"


def test_pipelines(cli: Cli) -> None:
    table = rows(cli.ok("pipelines", "--limit", "5"))
    assert table[0][:5] == ["ID", "SERVICE", "BRANCH", "COMMIT", "STATUS"]
    assert len(table) == 6
    data = cli.json("pipelines", "--service", "payments-api", "--limit", "7")
    runs = data["pipelines"]
    assert 0 < len(runs) <= 7
    assert {r["service"] for r in runs} == {"payments-api"}
    started = [r["started_at"] for r in runs]
    assert started == sorted(started, reverse=True)


def test_sources_health(cli: Cli) -> None:
    table = rows(cli.ok("sources"))
    assert table[0][:4] == ["NAME", "TYPE", "STATE", "LATENCY"]
    assert table[1][:3] == ["sandbox", "sandbox", "ok"]
    (source,) = cli.json("sources")["sources"]
    assert source["state"] == "ok" and source["error_class"] is None
    assert isinstance(source["latency"], float)
    assert "catalog" in source["capabilities"]


def test_sources_reports_a_failing_source_with_exit_4(cli: Cli) -> None:
    cli.write_config('[sources.sandbox]\ntype = "sandbox"\n'
                     f'database = "{(cli.root / "db").as_posix()}"\n'
                     '[sources.down]\ntype = "sandbox"\n'
                     f'database = "{cli.root.as_posix()}"\n')  # a folder: cannot be opened
    result = cli.run("sources", "--json")
    assert result.returncode == 4
    states = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    assert states["sandbox"]["state"] == "ok"
    assert states["down"]["state"] == "error"
    assert states["down"]["message"] and states["down"]["error_class"]
    error = json_error(result)
    assert error["type"] == "source" and "down" in error["message"]
    text = cli.run("sources")
    assert text.returncode == 4
    assert any(row[:3] == ["down", "sandbox", "error"] for row in rows(text.stdout))


def test_metrics(cli: Cli) -> None:
    table = rows(cli.ok("metrics", "payments-api", "--env", "staging"))
    assert table[0] == ["SIGNAL", "NOW", "MIN", "MAX"]
    signals = {row[0]: row for row in table[1:]}
    assert set(signals) == {"request_rate", "error_ratio", "latency_p50", "latency_p95",
                            "latency_p99", "cpu", "memory"}
    # Each value with its unit, said once (no UNIT column repeating "s" next to "15 ms").
    assert signals["request_rate"][2] == "req/s" and signals["memory"][-1] in ("GiB", "MiB")
    assert signals["latency_p95"][2] in ("ms", "s", "µs") and "bytes" not in signals["memory"]
    assert all(len(row) == 7 for row in signals.values() if row[0] != "error_ratio")
    data = cli.json("metrics", "payments-api", "--env", "staging", "--window", "15m")
    assert data["window"] == "15m"
    for signal_ in data["signals"]:
        assert signal_["min"] <= signal_["now"] <= signal_["max"]
        assert signal_["points"] and signal_["unit"]


def test_metrics_of_an_unknown_service_is_not_found(cli: Cli) -> None:
    result = cli.run("metrics", "nope", "--env", "staging")
    assert result.returncode == 5
    assert "nope" in result.stderr


def test_logs_tail_text_and_json(cli: Cli) -> None:
    out = cli.ok("logs", "payments-api", "--env", "staging", "--tail", "20")
    lines = out.splitlines()
    assert 0 < len(lines) <= 20
    for line in lines:
        ts, instance, level = line.split()[:3]
        assert ts.endswith("Z") and instance.startswith("payments-api")
        assert level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "-")
    assert "\x1b" not in out  # piped: no colour
    items = cli.json_lines("logs", "payments-api", "--env", "staging", "--tail", "20")
    assert items and {i["service"] for i in items} == {"payments-api"}
    assert {i["environment"] for i in items} == {"staging"}


def test_logs_grep_and_since(cli: Cli) -> None:
    items = cli.json_lines("logs", "payments-api", "--env", "staging", "--since", "1h",
                           "--grep", r"\b200\b")
    # Every line the --grep kept matches it ("GET … 200 …", "entries=200"…).
    assert items and all(re.search(r"\b200\b", i["message"]) for i in items)
    assert cli.run("logs", "payments-api", "--env", "staging", "--grep", "(").returncode == 2
    assert cli.run("logs", "payments-api", "--env", "staging", "--since", "soon").returncode == 2


def test_logs_of_an_unknown_service_is_not_found(cli: Cli) -> None:
    result = cli.run("logs", "nope", "--env", "staging", "--json")
    assert result.returncode == 5
    assert json_error(result)["type"] == "not found"


def _read_lines(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def test_logs_follow_streams_until_interrupted(cli: Cli) -> None:
    proc = cli.popen("logs", "payments-api", "--env", "staging", "--follow", "--tail", "2",
                     "--json")
    received: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, received), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(received) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(received) >= 4, proc.stderr.read() if proc.poll() is not None else received
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=TIMEOUT)
    reader.join(5)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert all(json.loads(line)["service"] == "payments-api" for line in received)


# Hostile text ------------------------------------------------------------------------------------

HOSTILE = "x\x1b[31mred\x1b]0;pwned\x07\x9b2J\u202etxt\r\x08"


def test_no_control_character_from_a_source_reaches_the_terminal(cli: Cli) -> None:
    cli.write_config('[sources.evil]\ntype = "test-static"\n'
                     f'text = {json.dumps(HOSTILE)}\nlog_message = {json.dumps(HOSTILE)}\n'
                     f'names = ["alpha", {json.dumps("beta" + HOSTILE)}]\n'
                     f'description = {json.dumps(HOSTILE)}\n')
    outputs = []
    for args in (["services"], ["envs"], ["envs", "--env", "prod", "--json"], ["pipelines"],
                 ["logs", "alpha", "--env", "prod"], ["logs", "alpha", "--env", "prod", "--json"],
                 ["metrics", "alpha", "--env", "prod"], ["pipelines", "--json"]):
        result = cli.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result.stdout + result.stderr)
    # Errors and hints from a source are untrusted text too.
    cli.write_config('[sources.evil]\ntype = "test-error-text"\n'
                     f'message = {json.dumps(HOSTILE)}\n')
    for args in (["services"], ["sources"], ["logs", "a", "--env", "b"], ["envs", "--json"]):
        result = cli.run(*args)
        assert result.returncode == 4, result.stderr
        assert "red" in result.stderr or "red" in result.stdout
        outputs.append(result.stdout + result.stderr)
    for text in outputs:
        bad = [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0
               or c == "\u202e"]
        assert not bad, (bad, text[:500])
    joined = "\n".join(outputs)
    assert "␛[31mred" in joined  # shown, as a visible symbol
    assert "\\u001b[31mred" in joined  # in JSON, escaped


# The audit log (records written directly; the action tests below write real ones) ----------------

def seed_audit(cli: Cli, count: int = 4) -> list[dict[str, Any]]:
    log = cli.audit
    out = []
    # Seeding again goes on with new action ids: an id names one action, forever.
    for n in range(start := sum(1 for _ in log.records()), start + count):
        phase = "started" if n % 2 == 0 else "finished"
        record = {"action_id": f"id-{n // 2}", "time": f"2026-11-25T14:0{n}:00+00:00",
                  "phase": phase, "actor": "ann", "action": "deploy", "source": "sandbox",
                  "service": "payments-api", "environment": "staging", "version": "1.2.3",
                  "replicas": None, "template": None, "params": {}, "reason": "CHG-1",
                  "decision": {"allowed": True, "rule": "allowed", "message": "allowed",
                               "needs_confirmation": False}}
        if phase == "finished":
            record.update(outcome="succeeded", error=None)
        out.append(log.append(record))
    return out


def test_audit_lists_records(cli: Cli) -> None:
    assert "no audit records yet" in cli.ok("audit")
    seed_audit(cli, 6)
    table = rows(cli.ok("audit"))
    assert table[0][:4] == ["TIME", "ID", "ACTOR", "ACTION"]
    assert len(table) == 7
    assert table[1][3:5] == ["ann", "deploy"]
    assert table[2][-2:] == ["succeeded", "CHG-1"]
    assert len(rows(cli.ok("audit", "--limit", "2"))) == 3
    records = cli.json_lines("audit")
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["seq"] for r in cli.json_lines("audit", "-n", "2")] == [5, 6]


def test_audit_verify_ok_then_tampered_then_removed(cli: Cli) -> None:
    seed_audit(cli, 6)
    assert "ok: 6 records" in cli.ok("audit", "verify")
    assert cli.json("audit", "verify")["ok"] is True
    lines = cli.audit.path.read_text().splitlines()
    edited = lines[:]
    edited[3] = edited[3].replace('"staging"', '"production"')
    cli.audit.path.write_text("\n".join(edited) + "\n")
    result = cli.run("audit", "verify")
    assert result.returncode == 1
    assert "line 4 (action id-1)" in result.stderr and "edited" in result.stderr
    result = cli.run("audit", "verify", "--json")
    body = json.loads(result.stdout)
    assert (body["ok"], body["line"], body["action_id"]) == (False, 4, "id-1")
    assert json_error(result)["line"] == 4
    cli.audit.path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # line 3 removed
    result = cli.run("audit", "verify")
    assert result.returncode == 1
    assert "line 3 (action id-1)" in result.stderr and "removed" in result.stderr


def test_audit_verify_notes_unfinished_actions(cli: Cli) -> None:
    seed_audit(cli, 3)  # the second action only started
    out = cli.ok("audit", "verify")
    assert "ok: 3 records" in out
    assert "line 3: action id-1 (deploy) started and never finished" in out
    assert cli.json("audit", "verify")["unfinished"] == [
        {"line": 3, "action_id": "id-1", "action": "deploy"}]


def test_audit_works_with_a_broken_config(cli: Cli) -> None:
    seed_audit(cli, 2)
    cli.config.write_text("[[[ not toml")
    assert cli.run("audit", "verify").returncode == 0
    assert len(cli.json_lines("audit")) == 2


def test_audit_follow_prints_new_records(cli: Cli) -> None:
    seed_audit(cli, 2)
    proc = cli.popen("audit", "--follow", "--json")
    received: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, received), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        seed_audit(cli, 2)
        while len(received) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT)
    assert [json.loads(line)["seq"] for line in received] == [1, 2, 3, 4]
    assert proc.returncode == 130


# Actions on the sandbox --------------------------------------------------------------------------

def deployment(cli: Cli, service: str, env: str) -> dict[str, Any]:
    data = cli.json("envs", "--service", service, "--env", env)
    (found,) = data["deployments"]
    return found


def other_version(cli: Cli, service: str, env: str) -> str:
    """A deployable version of ``service`` that does not run in ``env`` now."""
    versions = cli.json("versions", service, "--env", env)["versions"]
    assert versions[0]["version"] and any(v["current"] for v in versions)
    return next(v["version"] for v in versions if not v["current"])


def records(cli: Cli) -> list[dict[str, Any]]:
    return list(cli.audit.records())


def started_action(cli: Cli, *args: str) -> subprocess.Popen[str]:
    """``idp-tui ARGS`` in the background, once its action's ``started`` record is written (or
    the process ended first)."""
    proc = cli.popen(*args)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if any(r.get("phase") == "started" for r in records(cli)):
            break
        time.sleep(0.05)
    return proc


def test_versions_lists_what_can_be_deployed(cli: Cli) -> None:
    table = rows(cli.ok("versions", "payments-api", "--env", "staging"))
    assert table[0] == ["VERSION", "CURRENT", "BUILT", "COMMIT", "RUNNING", "IN"]
    current = deployment(cli, "payments-api", "staging")["version"]
    data = cli.json("versions", "payments-api", "--env", "staging")
    assert [v["version"] for v in data["versions"] if v["current"]] == [current]
    assert cli.run("versions", "nope", "--env", "staging").returncode == 5


def test_deploy_to_staging_changes_the_version_and_is_audited(cli: Cli) -> None:
    before = deployment(cli, "payments-api", "staging")["version"]
    target = other_version(cli, "payments-api", "staging")
    out = cli.ok("deploy", "payments-api", "--env", "staging", "--version", target,
                 "--reason", "test run")
    lines = out.splitlines()
    assert lines[0].startswith(f"Deploy payments-api {target} to staging")
    assert f"version: {before} → {target}" in out
    assert "policy: allowed" in out
    assert any("[2/2]" in line or "[1/" in line for line in lines)  # progress, instance by instance
    assert lines[-1].startswith("✔ succeeded") and f"deploy payments-api {target} in staging" \
        in lines[-1]
    # Persisted in the sandbox's SQLite: a new process sees it.
    assert deployment(cli, "payments-api", "staging")["version"] == target
    started, finished = records(cli)
    assert (started["phase"], finished["phase"]) == ("started", "finished")
    assert started["action_id"] == finished["action_id"]
    assert (started["action"], started["service"], started["environment"], started["version"]) \
        == ("deploy", "payments-api", "staging", target)
    assert started["reason"] == "test run" and started["actor"]
    assert started["decision"]["allowed"] is True
    assert (finished["outcome"], finished["error"]) == ("succeeded", None)
    assert finished["previous_version"] == before


def test_deploy_json_streams_events_then_the_result(cli: Cli) -> None:
    target = other_version(cli, "checkout-api", "dev")
    items = cli.json_lines("deploy", "checkout-api", "--env", "dev", "--version", target,
                           "--id", "ci-run-42")
    *events, result = items
    assert events and all(e["type"] == "event" and e["action_id"] == "ci-run-42" for e in events)
    assert events[-1]["state"] == "succeeded"
    assert any(e["done"] is not None and e["total"] for e in events)
    assert result["type"] == "result" and result["action_id"] == "ci-run-42"
    assert (result["state"], result["error"], result["source"]) == ("succeeded", None, "sandbox")
    assert result["plan"]["target_version"] == target
    assert result["decision"]["rule"] == "allowed"
    assert cli.json("envs", "--service", "checkout-api", "--env", "dev")["deployments"][0][
        "version"] == target
    # The same id again is the same action: the sandbox replays its outcome, changing nothing.
    again = cli.json_lines("deploy", "checkout-api", "--env", "dev", "--version", target,
                           "--id", "ci-run-42")
    assert again[-1]["state"] == "succeeded"


def test_production_needs_yes_and_a_reason(cli: Cli) -> None:
    target = other_version(cli, "payments-api", "production")
    args = ("deploy", "payments-api", "--env", "production", "--version", target)
    result = cli.run(*args)
    assert result.returncode == 3
    assert "production is a protected environment: pass --yes and --reason" in result.stderr
    result = cli.run(*args, "--yes", "--json")
    assert result.returncode == 3
    error = json_error(result)
    assert error["type"] == "denied" and "--reason" in error["message"]
    assert "--yes" not in error["message"]
    assert json.loads(result.stdout.splitlines()[-1])["state"] == "denied"
    result = cli.run(*args, "--reason", "CHG-1234")
    assert result.returncode == 3 and "pass --yes to deploy there" in result.stderr
    assert deployment(cli, "payments-api", "production")["version"] != target
    # Each refusal is audited, with the policy's decision.
    denied = records(cli)
    assert [r["phase"] for r in denied] == ["denied"] * 3
    assert all(r["decision"]["rule"] == "protected" for r in denied)
    out = cli.ok(*args, "--yes", "--reason", "CHG-1234")
    assert "policy: allowed (production is protected: confirmed by name, with a reason.)" in out
    assert deployment(cli, "payments-api", "production")["version"] == target
    started = records(cli)[-2]
    assert (started["phase"], started["reason"]) == ("started", "CHG-1234")
    assert started["decision"]["rule"] == "protected" and started["decision"]["allowed"]


def test_a_freeze_window_denies_deploys_and_says_until_when(cli: Cli) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(hours=3)
    cli.write_config(f"""
[[policy.freeze]]
environments = ["staging"]
start = {(now - timedelta(hours=1)).isoformat()}
end = {end.isoformat()}
reason = "release freeze"
""")
    before = deployment(cli, "payments-api", "staging")["version"]
    target = other_version(cli, "payments-api", "staging")
    result = cli.run("deploy", "payments-api", "--env", "staging", "--version", target)
    assert result.returncode == 3
    assert f"staging is frozen for deploys until {end:%Y-%m-%d %H:%M} UTC" in result.stderr
    assert "release freeze" in result.stderr
    assert deployment(cli, "payments-api", "staging")["version"] == before
    # Other environments are not frozen, and fixing an incident stays possible.
    assert cli.run("deploy", "payments-api", "--env", "dev", "--version", target).returncode == 0
    assert cli.run("restart", "payments-api", "--env", "staging").returncode == 0
    (denied,) = [r for r in records(cli) if r["phase"] == "denied"]
    assert denied["decision"]["rule"] == "freeze"


@pytest.mark.parametrize("how", ["flag", "policy", "source"])
def test_read_only_denies_every_action(cli: Cli, how: str) -> None:
    if how == "policy":
        cli.write_config("[policy]\nread_only = true\n")
    elif how == "source":
        cli.write_config(sandbox="read_only = true\n")
    flag = ["--read-only"] if how == "flag" else []
    for args in (["deploy", "payments-api", "--env", "dev", "--version", "1.0.0"],
                 ["scale", "payments-api", "--env", "dev", "--replicas", "3"],
                 ["restart", "payments-api", "--env", "dev"],
                 ["provision", "bucket", "--param", "service=payments-api"]):
        if args[0] == "deploy":
            args[-1] = other_version(cli, "payments-api", "dev")
        result = cli.run(*flag, *args, "--json")
        assert result.returncode == 3, (args, result.stderr)
        error = json_error(result)
        assert error["type"] == "denied" and "read-only" in error["message"]
    assert cli.run(*flag, "envs").returncode == 0  # reading still works


def test_rollback_scale_and_restart(cli: Cli) -> None:
    before = deployment(cli, "search-api", "staging")
    target = other_version(cli, "search-api", "staging")
    cli.ok("deploy", "search-api", "--env", "staging", "--version", target)
    out = cli.ok("rollback", "search-api", "--env", "staging")
    assert f"version: {target} → {before['version']}" in out
    assert deployment(cli, "search-api", "staging")["version"] == before["version"]
    replicas = before["replicas_desired"] + 1
    result = cli.json_lines("scale", "search-api", "--env", "staging", "--replicas", str(replicas))
    assert result[-1]["state"] == "succeeded" and result[-1]["replicas"] == replicas
    assert deployment(cli, "search-api", "staging")["replicas_desired"] == replicas
    assert cli.json_lines("restart", "search-api", "--env", "staging")[-1]["state"] == "succeeded"
    assert [r["action"] for r in records(cli) if r["phase"] == "finished"] == [
        "deploy", "rollback", "scale", "restart"]
    assert "ok: 8 records" in cli.ok("audit", "verify")


def test_dry_run_changes_nothing(cli: Cli) -> None:
    before = deployment(cli, "payments-api", "staging")["version"]
    target = other_version(cli, "payments-api", "staging")
    out = cli.ok("deploy", "payments-api", "--env", "staging", "--version", target, "--dry-run")
    assert out.startswith("dry run: Deploy payments-api") and "nothing was changed" in out
    plan = cli.json("deploy", "payments-api", "--env", "staging", "--version", target,
                    "--dry-run")
    assert plan["dry_run"] is True and plan["plan"]["target_version"] == target
    assert plan["decision"]["allowed"] is True
    # A dry run to a protected environment says it would be refused.
    result = cli.run("deploy", "payments-api", "--env", "production", "--version", target,
                     "--dry-run")
    assert result.returncode == 3 and "dry run:" in result.stdout
    assert deployment(cli, "payments-api", "staging")["version"] == before
    assert records(cli) == []


@pytest.mark.parametrize(("args", "code", "words"), [
    (["deploy", "payments-api", "--env", "staging", "--version", "0.0.0-nope"], 5,
     "has no version '0.0.0-nope'"),
    (["deploy", "nope", "--env", "staging", "--version", "1.0.0"], 5, "no service 'nope'"),
    (["deploy", "payments-api", "--env", "qa", "--version", "1.0.0"], 5, "no environment 'qa'"),
    (["restart", "nope", "--env", "staging"], 5, "nope does not run in staging"),
    (["provision", "nope"], 5, "no template 'nope'"),
    (["scale", "payments-api", "--env", "staging", "--replicas", "-1"], 2, "--replicas"),
    (["provision", "bucket", "--param", "servce=payments-api"], 2, "no parameter 'servce'"),
    (["provision", "bucket", "--param", "service=payments-api", "--param", "versioning=maybe"],
     2, "versioning:"),
    (["provision", "bucket"], 2, "service: Field required"),
])
def test_mistakes_exit_with_their_code(cli: Cli, args: list[str], code: int, words: str) -> None:
    result = cli.run(*args)
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert records(cli) == []  # nothing was attempted


def test_provision_a_bucket_and_see_it_in_resources(cli: Cli) -> None:
    out = cli.ok("provision", "bucket", "--param", "service=payments-api",
                 "--param", "versioning=false", "--env", "staging")
    assert out.splitlines()[-1].startswith("✔ succeeded")
    found = [r for r in cli.json("resources")["resources"] if r["kind"] == "bucket"]
    assert [(r["service"], r["environment"]) for r in found] == [("payments-api", "staging")]
    table = rows(cli.ok("resources"))
    assert table[0][:3] == ["KIND", "NAME", "SERVICE"]
    started = records(cli)[0]
    assert started["params"] == {"service": "payments-api", "versioning": False,
                                 "environment": "staging"}
    assert (started["template"], started["environment"]) == ("bucket", "staging")
    # --env sets the template's own environment parameter; a contradiction is a usage error.
    result = cli.run("provision", "bucket", "--param", "service=payments-api",
                     "--param", "environment=dev", "--env", "production")
    assert result.returncode == 2 and "contradicts" in result.stderr


def test_provisioning_into_a_protected_environment_needs_yes_and_a_reason(cli: Cli) -> None:
    args = ("provision", "queue", "--param", "service=payments-api",
            "--param", "environment=production")
    result = cli.run(*args)
    assert result.returncode == 3 and "production is a protected environment" in result.stderr
    assert cli.run(*args, "--yes", "--reason", "new consumer").returncode == 0
    assert [r["phase"] for r in records(cli)] == ["denied", "started", "finished"]
    assert {r["environment"] for r in records(cli)} == {"production"}


def test_templates(cli: Cli) -> None:
    out = cli.ok("templates")
    for name in ("preview-environment", "service", "postgres", "queue", "bucket"):
        assert any(line.startswith(f"{name}  ") for line in out.splitlines()), name
    assert "--param admin_password=SECRET" in out
    templates = {t["name"]: t for t in cli.json("templates")["templates"]}
    params = {p["name"]: p for p in templates["postgres"]["params"]}
    assert params["admin_password"]["secret"] is True and params["admin_password"]["required"]
    assert params["size"]["type"] == "enum" and "small" in params["size"]["choices"]
    assert templates["postgres"]["schema"]["properties"]


PASSWORD = "Zq8-unique-Secret-4711"


@pytest.mark.parametrize("how", ["file", "stdin", "env", "argument"])
def test_secrets_never_appear_in_output_audit_or_log(cli: Cli, how: str) -> None:
    args = ["provision", "postgres", "--reason", "tests"]
    env: dict[str, str] = {}
    stdin = None
    if how == "file":
        secret_file = cli.root / "password.txt"
        secret_file.write_text(PASSWORD + "\n")
        args += ["--param-file", f"admin_password={secret_file}"]
    elif how == "stdin":
        args += ["--param-file", "admin_password=-"]
        stdin = PASSWORD + "\n"
    elif how == "env":
        env["IDP_TUI_PARAM_ADMIN_PASSWORD"] = PASSWORD
    else:
        args += ["--param", f"admin_password={PASSWORD}"]
    texts = []
    for extra in (["--service", "payments-api", "--dry-run"], ["--service", "payments-api"],
                  ["--json", "--service", "checkout-api"]):
        result = cli.run(*args, *extra, env=env, stdin=stdin)
        assert result.returncode == 0, result.stderr
        texts += [result.stdout, result.stderr]
    if how == "argument":
        assert "where other users can see it" in texts[1]
    assert "postgres" in texts[2] and "***" in texts[4]  # the result shows it redacted
    assert records(cli) and cli.log_text is not None
    for text in (*texts, cli.audit.path.read_text(), cli.log_text):
        assert PASSWORD not in text
    assert all(r["params"]["admin_password"] == "***" for r in records(cli))
    databases = [r for r in cli.json("resources")["resources"] if r["kind"] == "database"]
    assert sorted(r["service"] for r in databases) == ["checkout-api", "payments-api"]
    # A second database for the same service is refused by the source: the action failed.
    again = cli.run(*args, "--param", "service=payments-api", env=env, stdin=stdin)
    assert again.returncode == 1 and "already has a database" in again.stderr
    assert PASSWORD not in again.stdout + again.stderr


def test_a_weak_secret_is_refused_without_echoing_it(cli: Cli) -> None:
    result = cli.run("provision", "postgres", "--param", "service=payments-api",
                     env={"IDP_TUI_PARAM_ADMIN_PASSWORD": "short1"})
    assert result.returncode == 2
    assert "admin_password" in result.stderr and "short1" not in result.stderr


def test_sigkill_during_a_deploy_leaves_a_started_record_and_a_valid_chain(cli: Cli) -> None:
    target = other_version(cli, "payments-api", "staging")
    before = deployment(cli, "payments-api", "staging")["version"]
    cli.write_config(speed=0.02)  # a deploy now takes many minutes
    proc = started_action(cli, "deploy", "payments-api", "--env", "staging", "--version", target)
    try:
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    (started,) = records(cli)
    assert (started["phase"], started["version"]) == ("started", target)
    out = cli.ok("audit", "verify")
    assert "ok: 1 record," in out and "started and never finished" in out
    assert cli.json("audit", "verify")["unfinished"][0]["action_id"] == started["action_id"]
    # The sandbox undoes the half-done rollout when it opens its database again.
    cli.write_config()
    assert deployment(cli, "payments-api", "staging")["version"] == before


def test_ctrl_c_cancels_a_running_deploy_and_records_how_it_ended(cli: Cli) -> None:
    target = other_version(cli, "payments-api", "staging")
    before = deployment(cli, "payments-api", "staging")["version"]
    cli.write_config(speed=0.02)
    proc = started_action(cli, "deploy", "payments-api", "--env", "staging", "--version", target, "--json")
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    result = json.loads(out.splitlines()[-1])
    assert (result["type"], result["state"]) == ("result", "cancelled")
    started, finished = records(cli)
    assert (started["phase"], finished["phase"], finished["outcome"]) == (
        "started", "finished", "cancelled")
    assert cli.ok("audit", "verify").startswith("ok: 2 records")
    cli.write_config()
    assert deployment(cli, "payments-api", "staging")["version"] == before  # rolled back


# Actions on a fake source that fails -------------------------------------------------------------

def test_an_action_that_fails_or_hangs_exits_1_and_is_audited(cli: Cli) -> None:
    acts = '[sources.acts]\ntype = "test-acting"\nenvironments = ["staging", "production"]\n'
    cli.write_config(acts)
    result = cli.run("deploy", "boom", "--env", "staging", "--version", "1.3.0")
    assert result.returncode == 1
    assert "deployer exploded" in result.stderr and "✖ failed" in result.stdout
    cli.write_config('[policy]\naction_timeout = 0.2\n\n' + acts)  # the hang: given up on soon
    result = cli.run("restart", "hang", "--env", "staging", "--json")
    assert result.returncode == 1
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["state"] == "failed" and "timed out" in final["error"]
    outcomes = [(r["service"], r["outcome"]) for r in records(cli) if r["phase"] == "finished"]
    assert outcomes == [("boom", "failed"), ("hang", "failed")]
    assert cli.ok("audit", "verify").startswith("ok: 4 records")


def test_a_missing_secret_is_asked_for_on_a_terminal_without_echo(cli: Cli) -> None:
    """On a terminal, a required secret that was not given is prompted for, hidden."""
    import pty

    argv = [sys.executable, "-m", "idp_tui", "provision", "postgres", "--param",
            "service=payments-api", "--color", "never"]
    pid, master = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        try:
            os.execve(sys.executable, argv, cli.env)
        finally:
            os._exit(127)
    output = b""
    answered = False
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child has exited
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"(hidden): " in output:
                os.write(master, PASSWORD.encode() + b"\n")
                answered = True
    finally:
        os.close(master)
        _pid, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert answered, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "admin_password for postgres (hidden): " in text
    assert "✔ succeeded" in text
    assert PASSWORD not in text
    assert PASSWORD not in cli.audit.path.read_text() and PASSWORD not in cli.log_text
