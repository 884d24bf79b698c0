"""Pilot tests of the `:` prompt (Tab completion, history across runs, keys kept while it is open,
suggestions), the selection kept across runs, and a pane added by one entry in the pane list.

Every test runs the real app on the seeded sandbox (``idp_tui.demo``) at 160×50.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent

from idp_tui import uistate
from idp_tui.actionspec import app_specs
from idp_tui.api.clock import ManualClock
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_config, wait_settled
from idp_tui.ui.dialogs import ActionModal
from idp_tui.ui.app import CommandBar, IdpApp, IdpCommands
from idp_tui.ui.base import Pane
from idp_tui.ui.panelist import PaneInfo
from idp_tui.ui.screens import HelpScreen
from idp_tui.ui.tables import KeyedTable

from fakes import type_text, wait_until as until


def sandbox(data: Path, app_class: type[IdpApp] = IdpApp, **ui: Any) -> IdpApp:
    data.mkdir(parents=True, exist_ok=True)
    config = demo_config(data)
    for key, value in ui.items():
        setattr(config.ui, key, value)
    return app_class(config, data_dir=data, clock=ManualClock(DEMO_TIME))


@asynccontextmanager
async def running(app: IdpApp) -> AsyncIterator[Pilot[Any]]:
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        yield pilot


def bar(app: IdpApp) -> CommandBar:
    return app.query_one(CommandBar)


def active_pane(app: IdpApp) -> str:
    return str(app.query_one("#panes", TabbedContent).active)


def notifications(app: IdpApp) -> list[str]:
    return [n.message for n in app._notifications]


async def open_prompt(pilot: Pilot[Any], text: str = "") -> CommandBar:
    await pilot.press("colon")
    prompt = bar(pilot.app)  # type: ignore[arg-type]
    assert prompt.display and prompt.has_focus
    if text:
        await type_text(pilot, text)
    return prompt


# Tab completion -----------------------------------------------------------------------------------

async def test_tab_completes_commands_environments_and_services(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        prompt = await open_prompt(pilot, "pi")
        await pilot.press("tab")
        assert prompt.value == "pipelines" and prompt.cursor_position == len("pipelines")
        await pilot.press("enter")
        await until(pilot, lambda: active_pane(app) == "pipelines", "the pipelines pane")

        prompt = await open_prompt(pilot, "sv")
        await pilot.press("tab")
        assert prompt.value == "svc "  # the command, ready for its argument
        await type_text(pilot, "led")
        await pilot.press("tab")
        assert prompt.value == "svc ledger-service"
        await pilot.press("enter")
        await until(pilot, lambda: app.service == "ledger-service", "ledger-service selected")

        prompt = await open_prompt(pilot, "env st")
        await pilot.press("tab")
        assert prompt.value == "env staging"
        await pilot.press("enter")
        await until(pilot, lambda: app.environment == "staging", "staging selected")


async def test_repeated_tab_cycles_the_candidates(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        prompt = await open_prompt(pilot, "env ")
        seen = []
        for _ in range(6):
            await pilot.press("tab")
            seen.append(prompt.value)
        # The environments in promotion order, then the sandbox's two preview environments.
        envs = ["env dev", "env staging", "env production", "env pr-3756", "env pr-9870"]
        assert prompt.candidates == envs
        assert seen == [*envs, "env dev"]
        await pilot.press("shift+tab")
        assert prompt.value == "env pr-9870"
        # Editing the line ends the cycle: the next Tab completes what is typed now.
        await pilot.press(*["backspace"] * len("pr-9870"))
        await type_text(pilot, "st")
        assert prompt.value == "env st" and prompt.candidates == []
        await pilot.press("tab")
        assert prompt.value == "env staging"
        # Nothing to offer: the line stays.
        await pilot.press("ctrl+u")
        await type_text(pilot, "zzz")
        await pilot.press("tab")
        assert prompt.value == "zzz" and prompt.has_focus


async def test_the_first_completion_is_suggested_as_one_types(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        prompt = await open_prompt(pilot, "svc ledg")
        await until(pilot, lambda: prompt._suggestion == "svc ledger-service", "the suggestion")
        await pilot.press("right")  # takes it, as in any Textual input
        assert prompt.value == "svc ledger-service"


# No key leaks out of the prompt -------------------------------------------------------------------

async def test_no_key_typed_in_the_prompt_reaches_the_pane_or_the_app(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        base = app.screen
        before = (app.service, app.environment, active_pane(app))
        prompt = await open_prompt(pilot, "svc led")
        await pilot.press("tab", "p")
        await pilot.pause()
        # Tab completed and kept the focus; "p" (Provision) went into the line.
        assert app.screen is base
        assert prompt.has_focus and prompt.display
        assert prompt.value == "svc ledger-servicep"
        # Neither the app's keys nor the pane's, printable or not.
        for key in ("d", "q", "2", "e", "question_mark", "H", "A", "ctrl+r", "ctrl+p",
                    "pagedown", "end", "tab", "slash", "s"):
            await pilot.press(key)
        await pilot.pause()
        assert app.screen is base and not isinstance(app.screen, CommandPalette)
        assert prompt.has_focus and prompt.display
        assert (app.service, app.environment, active_pane(app)) == before
        assert app.return_code is None
        assert prompt.value.startswith("svc ledger-servicepdq2e?HA")
        assert notifications(app) == []
        await pilot.press("escape")
        await until(pilot, lambda: not prompt.display and app.focused is not prompt,
                    "the prompt closed")
        assert (app.service, app.environment, active_pane(app)) == before


async def test_ctrl_q_quits_even_with_the_prompt_open(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        prompt = await open_prompt(pilot, "svc led")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None or not app.is_running,
                    "the app quitting")
        assert prompt.value == "svc led"


# History across runs, the selection kept ------------------------------------------------------------

async def test_history_and_selection_are_kept_for_the_next_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = sandbox(data)
    async with running(first) as pilot:
        assert (first.service, first.environment) == ("account-recovery", "production")
        for line in ("env staging", "svc order-service", "logs"):
            await open_prompt(pilot, line)
            await pilot.press("enter")
            await pilot.pause()
        assert (first.service, first.environment) == ("order-service", "staging")
    saved = json.loads((data / uistate.FILE).read_text())
    assert saved["history"] == ["env staging", "svc order-service", "logs"]

    second = sandbox(data)
    async with running(second) as pilot:
        # The selection of the last run.
        assert (second.service, second.environment) == ("order-service", "staging")
        prompt = await open_prompt(pilot, "me")
        walked = []
        for key in ("up", "up", "up", "up", "down", "down", "down"):
            await pilot.press(key)
            walked.append(prompt.value)
        assert walked == ["logs", "svc order-service", "env staging", "env staging",
                          "svc order-service", "logs", "me"]
        # A command recalled and run moves to the newest place.
        await pilot.press("up", "up", "enter")
        await pilot.pause()
        assert second.service == "order-service"
        await pilot.press("colon", "up")
        assert bar(second).value == "svc order-service"


class PromptlySaving(IdpApp):
    STATE_DELAY = 0.001


async def test_the_selection_is_kept_while_the_dashboard_runs(tmp_path: Path) -> None:
    """Not only on quitting: a dashboard that is killed still starts on its last selection."""
    data = tmp_path / "data"
    app = sandbox(data, app_class=PromptlySaving)
    async with running(app) as pilot:
        await open_prompt(pilot, "svc order-service")
        await pilot.press("enter")
        await until(pilot, lambda: uistate.load(data).service == "order-service",
                    "the selection kept")
        assert uistate.load(data).environment == "production"
        assert app.is_running


async def test_the_config_wins_over_the_last_run_and_a_gone_name_is_dropped(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uistate.save(data, uistate.UiState(service="no-longer-there", environment="staging"))
    app = sandbox(data)
    async with running(app):
        assert (app.service, app.environment) == ("account-recovery", "staging")
    uistate.save(data, uistate.UiState(service="order-service", environment="staging"))
    app = sandbox(data, service="payments-api", environment="dev")
    async with running(app):
        assert (app.service, app.environment) == ("payments-api", "dev")


async def test_a_damaged_state_file_starts_as_a_first_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / uistate.FILE).write_bytes(b'{"format": 1, "history": [1, 2], "service": {"x"')
    app = sandbox(data)
    async with running(app) as pilot:
        assert (app.service, app.environment) == ("account-recovery", "production")
        await open_prompt(pilot)
        await pilot.press("up")
        assert bar(app).value == ""
        await type_text(pilot, "envs")
        await pilot.press("enter")
        await until(pilot, lambda: active_pane(app) == "envs", "the envs pane")
    # Written anew, whole.
    assert uistate.load(data).history == ["envs"]


# Unknown commands ---------------------------------------------------------------------------------

async def test_an_unknown_command_suggests_the_closest(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        await open_prompt(pilot, "metrcs")
        await pilot.press("enter")
        await until(pilot, lambda: notifications(app), "the warning")
        assert notifications(app) == [
            "Unknown command :metrcs — did you mean :metrics? (:help lists every command)"]
        assert active_pane(app) == "catalog"


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data")
    async with running(app) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table", KeyedTable)
        rows = [tuple(str(c) for c in table.get_row(k)) for k in table.keys]
        commands = {keys: what for where, keys, what, _id in rows
                    if where == HelpScreen.COMMAND_SCOPE}
        assert commands[":catalog  :cat :services"] == "Show the Catalog pane"
        assert commands[":environment [ENVIRONMENT]  :env"].startswith("Select an environment")
        assert ":deploy" in commands and ":quit  :q :q!" in commands


# Action keys from the action table ----------------------------------------------------------------

def test_the_action_keys_come_from_the_action_table() -> None:
    bindings = {b.id: b for b in IdpApp.BINDINGS}
    for spec in app_specs():
        binding = bindings[spec.binding_id]
        assert (binding.key, binding.action, binding.show) == (spec.key, f"act('{spec.name}')",
                                                              spec.show)
    assert bindings["app.activity"].action == "activity"


async def test_actions_no_source_offers_are_hidden_everywhere(tmp_path: Path) -> None:
    """Sources without actions: no action key in the footer, no action command to complete, no
    palette entry; typed anyway, the command says why."""
    from fakes import StaticSource, app_config, data_settled, make_app, screen_lines, spec

    data = tmp_path / "data"
    data.mkdir()
    app = make_app(app_config(spec("static", StaticSource)), data, ManualClock(DEMO_TIME))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await until(pilot, lambda: data_settled(app), "the catalog")
        footer = screen_lines(app)[-1]
        assert "Deploy" not in footer and "Provision" not in footer and "Catalog" in footer
        assert app.complete_command("de") == []
        titles = [title for title, _callback, _help in IdpCommands(app.screen)._commands()]
        assert "Deploy…" not in titles and "Go to Catalog" in titles
        await pilot.press("d")  # the hidden key runs nothing, and says why
        await until(pilot, lambda: notifications(app), "the key's reason")
        assert notifications(app) == ["No configured source can deploy"]
        await open_prompt(pilot, "deploy")
        await pilot.press("enter")
        await until(pilot, lambda: len(notifications(app)) == 2, "the warning")
        assert notifications(app)[1] == ":deploy is not available: no source offers it"
        assert not isinstance(app.screen, ActionModal)


# A new pane is one entry ------------------------------------------------------------------------

class TeamsPane(Pane):
    pane_name = "teams"

    def compose(self) -> ComposeResult:
        yield Static(Text("Teams and their services"), id="teams-body")

    def focus_main(self) -> None:
        self.focus()


class TeamsApp(IdpApp):
    PANES = (*IdpApp.PANES, PaneInfo("teams", "Teams", "7", ("team", "t"), TeamsPane))


async def test_a_pane_added_by_one_list_entry_gets_a_tab_a_key_a_command_and_a_palette_entry(
        tmp_path: Path) -> None:
    app = sandbox(tmp_path / "data", app_class=TeamsApp)
    async with running(app) as pilot:
        assert str(app.query_one("#--content-tab-teams").label) == "7 Teams"
        await pilot.press("7")
        await until(pilot, lambda: active_pane(app) == "teams", "the teams pane by its key")
        assert app.current_pane.title == "Teams"
        assert "Teams and their services" in str(app.query_one("#teams-body").render())
        await pilot.press("1")
        await until(pilot, lambda: active_pane(app) == "catalog", "the catalog")
        await open_prompt(pilot, "team")
        await pilot.press("enter")
        await until(pilot, lambda: active_pane(app) == "teams", "the teams pane by :team")
        titles = [title for title, _callback, _help in IdpCommands(app.screen)._commands()]
        assert "Go to Teams" in titles
        assert app.complete_command("tea") == ["teams"]
        await pilot.press("question_mark")
        table = app.screen.query_one("#help-table", KeyedTable)
        ids = {str(table.get_row(k)[3]) for k in table.keys}
        assert "pane.teams" in ids
    # The dashboard without it is unchanged.
    assert "pane.teams" not in {b.id for b in IdpApp.BINDINGS}
