"""What a row of each registry gives without another edit (docs/architecture.md, "What a change
touches"): every action kind's row its key, `:` command, palette entry, help and command-line
command; every topic's row its refresh setting and its source method. Read over every row, so a
row added later is held to the same."""

from __future__ import annotations

import argparse

from idp_tui import Source
from idp_tui.actionspec import ACTION_SPECS, Target, app_specs, service_commands
from idp_tui.commands import dashboard_commands
from idp_tui.config import RefreshConfig
from idp_tui.hub.topics import TOPICS
from idp_tui.uinames import BINDING_IDS
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panelist import PANES


def cli_commands() -> dict[str, argparse.ArgumentParser]:
    from idp_tui.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_action_row_on_the_app_gets_its_key_command_palette_entry_and_cli_command() -> None:
    registry = {command.name: command for command in dashboard_commands(PANES)}
    bindings = {binding.id: binding for binding in IdpApp.BINDINGS}
    cli = cli_commands()
    for row in app_specs():
        assert bindings[row.binding_id].key == row.key, row.kind
        assert row.binding_id in BINDING_IDS, row.kind  # `[keys]` may remap it
        command = registry[row.name]
        assert command.title == row.title and command.help == row.help, row.kind
        assert row.name in cli, row.kind
    for row in service_commands():
        options = {o for a in cli[row.name]._actions for o in a.option_strings}
        assert {"--env", "--dry-run"} <= options, row.kind
        assert ("--version" in options) == row.takes_version, row.kind
        assert ("--replicas" in options) == row.needs_replicas, row.kind


def test_every_action_row_elsewhere_gets_a_remappable_key() -> None:
    """Rows whose key lives in a pane or a screen (the Instances screen)."""
    for row in ACTION_SPECS:
        assert row.binding_id in BINDING_IDS, row.kind
        assert row.binding_id.startswith(f"{row.pane or 'action'}."), row.kind
        assert row.target in set(Target), row.kind


def test_every_topic_row_gets_its_refresh_setting_and_names_a_source_method() -> None:
    fields = set(RefreshConfig.model_fields)
    for kind, row in TOPICS.items():
        assert (kind.value in fields) == row.setting, kind
        if row.setting:
            assert RefreshConfig.model_fields[kind.value].default == row.interval, kind
        assert callable(getattr(Source, row.method, None)), (kind, row.method)
