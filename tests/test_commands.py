"""The `:` command registry, its completion and history, the pane list and the state kept across
runs: Textual-free modules driven through their public functions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from idp_tui import uistate
from idp_tui.commands import ArgKind, Command, CommandHistory, Invocation, Registry, \
    dashboard_commands
from idp_tui.ui.panelist import PANES, PaneInfo, check

SERVICES = ["ledger-service", "email-sender", "payments-api", "payout-scheduler", "api-gateway"]
ENVIRONMENTS = ["dev", "staging", "production"]


def values(kind: ArgKind) -> list[str]:
    return {ArgKind.SERVICE: SERVICES, ArgKind.ENVIRONMENT: ENVIRONMENTS,
            ArgKind.PANE: [p.name for p in PANES]}.get(kind, [])


class Recorder:
    """Stands in for the app: records what the commands ask of it."""

    def __init__(self, available: bool = True) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.available = available

    def __getattr__(self, name: str) -> Any:
        if name == "action_available":
            return lambda action: self.available
        return lambda *args: self.calls.append((name, args))


REGISTRY = dashboard_commands(PANES)


# Parsing and running --------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "calls"), [
    ("catalog", [("show_pane", ("catalog",))]),
    (":cat", [("show_pane", ("catalog",))]),
    ("  runs ", [("show_pane", ("pipelines",))]),
    ("m", [("show_pane", ("metrics",))]),
    ("env staging", [("select_environment", ("staging",))]),
    ("env", [("show_pane", ("envs",))]),
    ("svc payments-api", [("select_service", ("payments-api",))]),
    ("SVC payments-api", [("select_service", ("payments-api",))]),
    ("svc", [("show_pane", ("catalog",))]),
    ("deploy", [("run_app_action", ("deploy",))]),
    ("actions", [("run_app_action", ("activity",))]),
    ("sources", [("action_health", ())]),
    ("keys", [("action_help", ())]),
    ("refresh", [("action_refresh", ())]),
    ("q!", [("exit", (0,))]),
])
def test_a_line_runs_its_command(line: str, calls: list[tuple[str, Any]]) -> None:
    parsed = REGISTRY.parse(line, values)
    assert isinstance(parsed, Invocation), parsed
    app = Recorder()
    parsed.command.run(app, parsed.argument)
    assert app.calls == calls


@pytest.mark.parametrize(("line", "message"), [
    ("frobnicate now", "Unknown command :frobnicate now — :help lists every command"),
    ("metrcs", "Unknown command :metrcs — did you mean :metrics? (:help lists every command)"),
    ("dpeloy", "Unknown command :dpeloy — did you mean :deploy? (:help lists every command)"),
    ("env moon", "Unknown environment 'moon'; known: dev, staging, production"),
    ("env prod", "Unknown environment 'prod' — did you mean 'production'?"),
    ("svc ledger", "Unknown service 'ledger' — did you mean 'ledger-service'?"),
    ("svc zzz", "Unknown service 'zzz'"),
    ("catalog now", ":catalog takes no argument (got 'now')"),
])
def test_a_wrong_line_says_what_is_wrong(line: str, message: str) -> None:
    assert REGISTRY.parse(line, values) == message


def test_an_empty_line_is_nothing_and_control_characters_are_not_echoed() -> None:
    assert REGISTRY.parse("  :  ", values) is None
    message = REGISTRY.parse("x\x1b[31m\x07", values)
    assert isinstance(message, str) and "\x1b" not in message and "\x07" not in message


def test_names_and_aliases_are_distinct() -> None:
    run = lambda app, arg: None  # noqa: E731
    with pytest.raises(ValueError, match="'l' is already command 'logs'"):
        Registry([Command("logs", "", run, aliases=("l",)), Command("lint", "", run,
                                                                  aliases=("l",))])
    with pytest.raises(ValueError, match="not a lower-case word"):
        Command("Bad Name", "", run)
    # A pane whose alias is a command's name cannot join the registry.
    with pytest.raises(ValueError, match="'env' is already"):
        dashboard_commands((*PANES, PaneInfo("extra", "Extra", "6", ("env",), "x:Y")))


def test_usage_shows_the_argument() -> None:
    assert REGISTRY.find("env").usage == ":environment [ENVIRONMENT]"  # type: ignore[union-attr]
    assert REGISTRY.find("q").usage == ":quit"  # type: ignore[union-attr]


# Completion -----------------------------------------------------------------------------------

def test_tab_on_nothing_offers_every_command_by_name() -> None:
    offered = REGISTRY.complete("", values)
    assert offered[:5] == ["catalog", "envs", "pipelines", "logs", "metrics"]
    assert "environment " in offered and "quit" in offered and "q" not in offered
    assert len(offered) == len(REGISTRY)


def test_commands_complete_by_prefix_then_fuzzy() -> None:
    assert REGISTRY.complete("e", values) == ["envs", "environment "]
    assert REGISTRY.complete("env", values) == ["env ", "envs"]  # the exact word first
    assert REGISTRY.complete("sv", values) == ["svc "]
    assert REGISTRY.complete("pi", values) == ["pipelines"]
    assert REGISTRY.complete("de", values) == ["deploy"]
    assert REGISTRY.complete("mtr", values) == ["metrics"]  # no prefix: the letters in order
    assert REGISTRY.complete("zzz", values) == []
    assert REGISTRY.complete(":lo", values) == ["logs"]


def test_arguments_complete_fuzzy_after_the_command() -> None:
    assert REGISTRY.complete("svc led", values) == ["svc ledger-service", "svc email-sender"]
    assert REGISTRY.complete("svc pay", values)[:2] == ["svc payments-api", "svc payout-scheduler"]
    assert REGISTRY.complete("env ", values) == ["env dev", "env staging", "env production"]
    assert REGISTRY.complete("environment pr", values) == ["environment production"]
    assert REGISTRY.complete("logs x", values) == []  # takes no argument
    assert REGISTRY.complete("nope x", values) == []


def test_completion_leaves_out_commands_that_cannot_run() -> None:
    offered = REGISTRY.complete("", values, available=lambda c: c.name != "deploy")
    assert "deploy" not in offered and "rollback" in offered


def test_the_pane_argument_kind_completes_pane_names() -> None:
    registry = Registry([Command("show", "", lambda app, arg: None, arg=ArgKind.PANE)])
    assert registry.complete("show pi", values) == ["show pipelines"]
    assert registry.parse("show moon", values) == \
        "Unknown pane 'moon'; known: catalog, envs, pipelines, logs, metrics, insights"


# History --------------------------------------------------------------------------------------

def test_history_walks_back_and_forth_and_returns_the_draft() -> None:
    history = CommandHistory(["logs", "env dev", "svc payments-api"])
    assert history.previous("sv") == "svc payments-api"
    assert history.previous("ignored") == "env dev"
    assert history.previous("") == "logs"
    assert history.previous("") is None  # the oldest
    assert history.next() == "env dev"
    assert history.next() == "svc payments-api"
    assert history.next() == "sv"  # the line typed before the walk
    assert history.next() is None  # not walking any more


def test_history_is_bounded_and_keeps_one_copy_of_each_line() -> None:
    history = CommandHistory(limit=3)
    for line in ["a", "b", "a", "c", "d", " ", "d"]:
        history.add(line)
    assert history.entries == ["a", "c", "d"]
    assert CommandHistory([f"x{i}" for i in range(10)], limit=4).entries == \
        ["x6", "x7", "x8", "x9"]


# The pane list ---------------------------------------------------------------------------------

def test_the_pane_list_rejects_clashes() -> None:
    with pytest.raises(ValueError, match="key '1' is pane 'catalog'"):
        check((*PANES, PaneInfo("teams", "Teams", "1", (), "x:Y")))
    with pytest.raises(ValueError, match="'cat' already names pane 'catalog'"):
        check((*PANES, PaneInfo("teams", "Teams", "6", ("cat",), "x:Y")))
    with pytest.raises(ValueError, match="module:Class"):
        PaneInfo("teams", "Teams", "6", (), "nocolon")


def test_the_pane_list_and_the_registry_need_neither_textual_nor_pydantic() -> None:
    code = ("import sys\n"
            "import idp_tui.commands, idp_tui.uistate, idp_tui.ui.panelist\n"
            "print(','.join(m for m in ('textual', 'pydantic', 'idp_tui.hub') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == ""


# The state kept across runs -------------------------------------------------------------------

def test_state_round_trips(tmp_path: Path) -> None:
    state = uistate.UiState(service="payments-api", environment="staging",
                            history=["logs", "svc payments-api"])
    assert uistate.save(tmp_path, state)
    assert uistate.load(tmp_path) == state
    assert [p.name for p in tmp_path.iterdir()] == [uistate.FILE]  # no temporary file left


def test_state_history_is_bounded(tmp_path: Path) -> None:
    state = uistate.UiState(history=[f"svc s{i}" for i in range(250)])
    uistate.save(tmp_path, state)
    loaded = uistate.load(tmp_path)
    assert len(loaded.history) == uistate.HISTORY_MAX
    assert loaded.history[-1] == "svc s249"


@pytest.mark.parametrize("content", [
    b"", b"{", b"\xff\xfe\x00", b"[]", b"null", b'{"format": 99, "service": "x"}',
    b"[" * 100_000, b'{"format": 1, "service": 7, "environment": ["x"], "history": "logs"}',
])
def test_a_damaged_state_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / uistate.FILE).write_bytes(content)
    assert uistate.load(tmp_path) == uistate.UiState()


def test_damaged_fields_are_left_out_and_the_rest_kept(tmp_path: Path) -> None:
    doc = {"format": 1, "service": "payments-api", "environment": "x" * 5000,
           "history": ["logs", 7, None, "a\nb", "env dev"]}
    (tmp_path / uistate.FILE).write_text(json.dumps(doc))
    assert uistate.load(tmp_path) == uistate.UiState(service="payments-api", environment=None,
                                                     history=["logs", "env dev"])


def test_an_unwritable_data_dir_loses_nothing_but_the_state(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    assert uistate.save(missing, uistate.UiState(service="x")) is False
    assert uistate.load(missing) == uistate.UiState()
    (tmp_path / uistate.FILE).mkdir()  # a folder where the file should be
    assert uistate.save(tmp_path, uistate.UiState(service="x")) is False
    assert [p.name for p in tmp_path.iterdir()] == [uistate.FILE]  # no temporary file left
    assert uistate.load(tmp_path) == uistate.UiState()


def test_names_with_any_characters_survive(tmp_path: Path) -> None:
    state = uistate.UiState(service="[/] \udcff é", environment="prod\u202e", history=["svc ☃"])
    assert uistate.save(tmp_path, state)
    assert uistate.load(tmp_path) == state
