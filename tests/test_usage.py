"""Usage analytics (opt-in) and feedback on the data dir's SQLite: what the recorder writes with
``[telemetry] enabled`` (and that it writes nothing without), the keyed hash of a person, the
report's figures from known events, ``idp-tui feedback`` and ``idp-tui usage report``, bad input.
The dashboard's side (the feedback key, the monthly prompt) is in ``test_app_feedback.py``."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.api.actions import ActionRequest
from idp_tui.api.clock import ManualClock
from idp_tui.api.kinds import ActionKind, ActionState, Capability
from idp_tui.config import AppConfig, parse_config
from idp_tui.configerror import ConfigError
from idp_tui.runtime import build_runtime
from idp_tui.usage import TelemetryConfig, UsageRecorder
from idp_tui.usagestore import ACTION, ACTION_STARTED, COMMAND, ERROR, PANE, RUN, Event, UsageStore

from fakes import FailingSource, spec
from test_action_manager import ActingSource
from test_cli_commands import Cli, fake_plugins, other_version  # noqa: F401 - the fixture

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def store_rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    path = data / "store.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


class BrokenCatalog(FailingSource):
    """A catalog source that fails (a RuntimeError: a plugin error)."""

    capabilities = frozenset({Capability.CATALOG})


def acting_config(*, enabled: bool, failing: bool = False) -> AppConfig:
    sources = [spec("acts", ActingSource)]
    if failing:
        sources.append(spec("broken", BrokenCatalog))
    return AppConfig(path=None, sources=sources, telemetry=TelemetryConfig(enabled=enabled))


async def session(data: Path, clock: ManualClock, *, enabled: bool, failing: bool = False) -> None:
    """A session as the dashboard has it: a pane shown, a command run, a deploy that succeeds,
    one the policy refuses (read-only production is not configured: an unknown service fails)."""
    runtime = build_runtime(acting_config(enabled=enabled, failing=failing), data_dir=data,
                            clock=clock)
    try:
        usage = runtime.usage
        assert usage is not None
        usage.pane("catalog")
        usage.command("deploy")
        if failing:
            from idp_tui.hub import Topic

            await runtime.hub.fetch(Topic.catalog())
        clock.advance(timedelta(hours=2))
        run = await runtime.actions.submit(ActionRequest(
            id="d1", kind=ActionKind.DEPLOY, service="api", environment="staging",
            version="1.1.0", reason="secret reason text"))
        await runtime.actions.wait(run.id)
        assert run.state is ActionState.SUCCEEDED
    finally:
        await runtime.close()


async def test_telemetry_on_records_the_session_the_action_and_the_errors(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    await session(tmp_path, clock, enabled=True, failing=True)
    events = store_rows(tmp_path, "SELECT kind, name, environment, outcome, time, person FROM "
                                  "idp_usage_event ORDER BY id")
    kinds = [(k, n, e, o) for k, n, e, o, _t, _p in events]
    assert kinds[:3] == [(RUN, "session", None, None), (PANE, "catalog", None, None),
                         (COMMAND, "deploy", None, None)]
    assert (ERROR, "broken", None, "plugin error") in kinds
    assert (ACTION_STARTED, "deploy", "staging", None) in kinds
    assert (ACTION, "deploy", "staging", "succeeded") in kinds
    # No free text: neither the reason, the version, the service, nor the identity.
    dump = json.dumps(store_rows(tmp_path, "SELECT * FROM idp_usage_event"))
    for secret in ("secret reason text", "1.1.0", '"api"', "boom"):
        assert secret not in dump
    # One person, a keyed hash; first run and first deploy kept.
    (person,) = {p for *_rest, p in events}
    assert len(person) == 64 and all(c in "0123456789abcdef" for c in person)
    (first,) = store_rows(tmp_path, "SELECT person, first_run, first_deploy FROM idp_usage_person")
    assert first == (person, "2026-11-02T09:00:00Z", "2026-11-02T11:00:00Z")


async def test_telemetry_off_records_nothing(tmp_path: Path) -> None:
    await session(tmp_path, ManualClock(T0), enabled=False, failing=True)
    assert not (tmp_path / "store.db").exists()  # not even opened
    assert store_rows(tmp_path, "SELECT COUNT(*) FROM idp_usage_event") == []


def test_a_person_is_a_keyed_hash_with_a_key_created_once(tmp_path: Path) -> None:
    store = UsageStore(None, tmp_path)
    alice = store.person("alice")
    ((key,),) = store_rows(tmp_path, "SELECT key FROM idp_usage_key")
    assert alice == hmac.new(bytes.fromhex(key), b"alice", hashlib.sha256).hexdigest()
    assert alice != hashlib.sha256(b"alice").hexdigest()  # not a plain hash anyone can compute
    store.close()
    again = UsageStore(None, tmp_path)  # another client: the same key, the same pseudonym
    assert again.person("alice") == alice and again.person("bob") != alice
    assert store_rows(tmp_path, "SELECT COUNT(*) FROM idp_usage_key") == [(1,)]
    other = UsageStore(None, tmp_path / "elsewhere")  # another store: another key
    assert other.person("alice") != alice


def known_events(store: UsageStore) -> None:
    """Three people over a month, one of them outside the window."""
    def at(days: float) -> datetime:
        return T0 + timedelta(days=days)

    store.record("alice", [Event(at(0), RUN, "session"), Event(at(0.1), PANE, "catalog"),
                           Event(at(0.1), PANE, "logs"), Event(at(0.2), COMMAND, "deploy"),
                           Event(at(0.25), ACTION_STARTED, "deploy", "staging"),
                           Event(at(0.25), ACTION, "deploy", "staging", "succeeded"),
                           Event(at(1), ACTION_STARTED, "deploy", "production"),
                           Event(at(1), ACTION, "deploy", "production", "failed"),
                           Event(at(1), ERROR, "github", outcome="rate limited")])
    store.record("bob", [Event(at(2), RUN, "session"), Event(at(2), PANE, "catalog"),
                         Event(at(3), ERROR, "github", outcome="rate limited"),
                         Event(at(3), ERROR, "k8s", outcome="unreachable"),
                         Event(at(2.5), ACTION, "deploy", "production", "denied"),
                         Event(at(3), ACTION_STARTED, "deploy", "staging"),
                         Event(at(3), ACTION, "deploy", "staging", "succeeded")])
    store.record("carol", [Event(at(-60), RUN, "session"), Event(at(-60), PANE, "metrics")])
    store.add_feedback("alice", at(1), 4, "more logs please")
    store.add_feedback("bob", at(3), 2, "")
    store.add_feedback("carol", at(-60), 1, "too old to count")


def test_the_report_figures_from_known_events(tmp_path: Path) -> None:
    store = UsageStore(None, tmp_path)
    known_events(store)
    figures = store.report(T0 - timedelta(days=1), T0 + timedelta(days=29))
    assert_known_report(figures)


def assert_known_report(figures: dict[str, Any]) -> None:
    """The figures of ``known_events`` from a day before T0 (shared with the PostgreSQL test)."""
    assert figures["active_people"] == 2 and figures["new_people"] == 2
    assert figures["panes"] == [
        {"name": "catalog", "uses": 2, "people": 2, "adoption": 1.0},
        {"name": "logs", "uses": 1, "people": 1, "adoption": 0.5}]
    assert figures["commands"] == [{"name": "deploy", "uses": 1, "people": 1, "adoption": 0.5}]
    assert figures["actions"] == [
        {"action": "deploy", "environment": "production", "started": 1,
         "outcomes": {"denied": 1, "failed": 1}, "total": 2},
        {"action": "deploy", "environment": "staging", "started": 2,
         "outcomes": {"succeeded": 2}, "total": 2}]
    assert figures["errors"] == [
        {"source": "github", "error_class": "rate limited", "count": 2, "people": 2},
        {"source": "k8s", "error_class": "unreachable", "count": 1, "people": 1}]
    # alice: 6 h from first run to first deploy; bob: 1 day (24 h): the median is 15 h.
    assert figures["time_to_first_deploy"] == {"people": 2, "median_hours": 15.0}
    assert figures["satisfaction"] == {"count": 2, "mean": 3.0,
                                       "ratings": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}}
    assert [c["comment"] for c in figures["comments"]] == ["more logs please"]


def test_the_recorder_is_buffered_and_a_broken_store_never_reaches_the_caller(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "store.db"
    blocker.mkdir()  # a folder where the database should be: the store cannot open
    clock = ManualClock(T0)
    recorder = UsageRecorder(lambda: UsageStore(None, tmp_path), enabled=True, identity="alice",
                             clock=clock)
    for n in range(50):
        recorder.pane(f"pane-{n % 3}")  # returns at once, whatever the store does
    assert recorder.flush(30)
    assert recorder.dropped == 50
    assert "usage events not recorded" in caplog.text
    stored = recorder.feedback(5, "works")  # explicit: the failure is said to whoever waits
    with pytest.raises(Exception, match="cannot"):
        stored.result(30)
    recorder.close()


def test_a_bad_telemetry_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"telemetry": {"enabled": "yes"}}, path=None, text="")
    assert "telemetry.enabled" in str(error.value)
    assert "expected true or false (without quotes), got 'yes'" in str(error.value)
    with pytest.raises(ConfigError) as error:
        parse_config({"telemetry": {"enable": True}}, path=None, text="")
    assert "unknown key 'enable'" in str(error.value)
    assert parse_config({}, path=None, text="").telemetry.enabled is False


def test_feedback_and_usage_report_on_the_command_line(tmp_path: Path,
                                                       fake_plugins: Path) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, "[policy]\nidentity = \"alice\"\n")
    clock = {"IDP_TUI_CLOCK": "2026-11-10T12:00:00Z"}
    said = cli.ok("feedback", "--rating", "4", "--comment", "the logs pane is great", env=clock)
    assert "Thank you: your rating (4/5) and comment are stored in" in said
    # Feedback is stored with telemetry off; no usage event is.
    assert store_rows(cli.data, "SELECT rating, comment, time FROM idp_feedback") == [
        (4, "the logs pane is great", "2026-11-10T12:00:00Z")]
    assert store_rows(cli.data, "SELECT COUNT(*) FROM idp_usage_event") == [(0,)]
    report = cli.run("usage", "report", "--json", env=clock)
    assert report.returncode == 0
    figures = json.loads(report.stdout)
    assert figures["satisfaction"]["mean"] == 4.0 and figures["telemetry_enabled"] is False
    assert figures["comments"][0]["comment"] == "the logs pane is great"
    assert "[telemetry] enabled is false" in report.stderr
    text = cli.ok("usage", "report", "--since", "7d", env=clock)
    assert "Satisfaction: 4 / 5 from 1 rating (1 × 4★)" in text and "the logs pane is great" in text
    old = cli.ok("usage", "report", "--since", "1h",
                 env={"IDP_TUI_CLOCK": "2026-12-30T12:00:00Z"})
    assert "Satisfaction: no ratings" in old


@pytest.mark.parametrize(("args", "said"), [
    (["feedback", "--rating", "0"], "expected a rating from 1 (poor) to 5 (great), got '0'"),
    (["feedback", "--rating", "five"], "expected a rating from 1 (poor) to 5 (great)"),
    (["feedback", "--rating", "3", "--comment", "x" * 2001],
     "a comment has at most 2,000 characters, got 2,001"),
    (["feedback", "--rating", "3", "--comment", "bell\x07"], "control characters are not allowed"),
    (["feedback", "--comment", "no rating"], "--rating is needed (1 poor … 5 great) when not on "
                                             "a terminal"),
    (["usage", "report", "--since", "forever"], "expected a duration such as 30s"),
    (["usage"], "expected a subcommand: `idp-tui usage report`"),
])
def test_bad_input_is_exit_code_2_with_a_sentence(tmp_path: Path, fake_plugins: Path,  # noqa: F811
                                                  args: list[str], said: str) -> None:
    cli = Cli(tmp_path, fake_plugins)
    result = cli.run(*args)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert store_rows(cli.data, "SELECT COUNT(*) FROM idp_feedback") in ([], [(0,)])


def test_feedback_asks_on_a_terminal(tmp_path: Path) -> None:
    """Without --rating on a terminal: the rating and the comment are asked for."""
    import os
    import pty
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "config.toml"
    config.write_text("[sources.sandbox]\ntype = \"sandbox\"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(data), "IDP_TUI_CONFIG": str(config)})
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "idp_tui", "feedback"], stdin=follower,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    os.write(leader, b"5\nlove the keys\n")
    out, err = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0, err
    assert b"How satisfied are you with idp-tui" in err
    assert store_rows(data, "SELECT rating, comment FROM idp_feedback") == [(5, "love the keys")]


def test_a_deploy_on_the_command_line_is_a_session_and_a_first_deploy(
        tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, "[telemetry]\nenabled = true\n")
    target = other_version(cli, "payments-api", "staging")
    cli.ok("deploy", "payments-api", "--env", "staging", "--version", target, "--reason", "r")
    kinds = store_rows(cli.data, "SELECT kind, name, environment, outcome FROM idp_usage_event "
                                 "WHERE kind LIKE 'action%'")
    assert kinds == [(ACTION_STARTED, "deploy", "staging", None),
                     (ACTION, "deploy", "staging", "succeeded")]
    assert len(store_rows(cli.data, "SELECT * FROM idp_usage_event WHERE kind = 'run'")) >= 2
    ((first_run, first_deploy),) = store_rows(cli.data, "SELECT first_run, first_deploy FROM "
                                                        "idp_usage_person")
    assert first_deploy is not None and first_run <= first_deploy
    figures = json.loads(cli.ok("usage", "report", "--json"))
    assert figures["time_to_first_deploy"]["people"] == 1 and figures["active_people"] == 1
