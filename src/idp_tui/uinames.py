"""Names the config may use for the dashboard, known without importing Textual: every binding id
(``[keys]``) and every theme (``[ui] theme``).

The config is checked by every ``idp-tui`` command, and start-up matters: these lists are static.
The binding ids come from the pane list (``pane.NAME``), the action table (each row's binding id)
and the widgets' own ids below. ``tests/test_config_cli.py`` checks that they are exactly the ids of
every ``Binding`` of every widget class in ``idp_tui.ui``, and that the themes are Textual's
built-in ones, so neither list can drift.
"""

from __future__ import annotations

import difflib

from .actionspec import ACTION_SPECS
from .ui.panelist import PANES

__all__ = ["BINDING_IDS", "THEMES", "WIDGET_BINDING_IDS", "closest", "unknown_binding_id",
           "unknown_theme"]


def _scroll(prefix: str) -> tuple[str, ...]:
    """The ids of ``idp_tui.ui.base.scroll_bindings(prefix)``."""
    return tuple(f"{prefix}.{name}" for name in
                 ("up", "down", "page_up", "page_down", "first", "last"))


#: The ids of the widgets' own bindings (not a pane's key, not an action's key).
WIDGET_BINDING_IDS: tuple[str, ...] = (
    # the app
    "app.env_next", "app.env_previous", "app.command", "app.help", "app.health", "app.refresh",
    "app.quit", "app.activity", "app.instances", "app.advisor",
    "app.approvals",
    # the Approvals screen
    "approvals.close", "approvals.close_q", "approvals.open", "approvals.approve",
    "approvals.deny", "approvals.all", "approvals.reason_cancel", "approvals.request_close",
    # feedback: the app's keys and the dialog
    "app.feedback", "app.dismiss_prompt", "feedback.close",
    # the advisor's list
    "advisor.close", "advisor.open", "advisor.dismiss", "advisor.snooze",
    # the panes
    "catalog.filter", "catalog.facets", "catalog.sort", "catalog.reverse", "catalog.logs",
    "catalog.unhealthy_only", "envs.unhealthy_only",
    "catalog.filter_clear", "catalog.filter_complete",
    "envs.filter", "envs.drift_only", "envs.logs",
    "pipelines.filter", "pipelines.only_service", "pipelines.log", "pipelines.facets",
    "pipelines.open", "pipelines.filter_complete", "pipelines.failed_only",
    "logs.follow", "logs.search", "logs.next", "logs.previous", "logs.include", "logs.exclude",
    "logs.level", "logs.wrap", "logs.timestamps", "logs.json", "logs.instances", "logs.save",
    "logs.clear", "logs.live", "logs.prompt_cancel", "logs.fold", "logs.fold_all",
    "logs.next_section", "logs.previous_section", "logs.previous_run", "logs.containers",
    "logs.pick_instances", "pipelines.pick_log",
    "metrics.window_next", "metrics.window_previous", *_scroll("metrics"),
    "insights.view", "insights.team", "insights.level", "insights.window",
    # the tables and the log view
    "table.select", "table.up", "table.down", "table.page_up", "table.page_down", "table.first",
    "table.last", "table.left", "table.right",
    "logview.scroll_up", "logview.scroll_down", "logview.scroll_left", "logview.scroll_right",
    "logview.home", "logview.follow", "logview.page_up", "logview.page_down",
    "logview.page_left", "logview.page_right",
    # the `:` prompt
    "command.close", "command.complete", "command.complete_previous", "command.history_older",
    "command.history_newer",
    # the dialogs and screens
    "actions.close", "actions.cancel", "dialog.confirm", *_scroll("events"), "provision.dry_run",
    "activity.close", "activity.close_q", "activity.filter", "activity.filter_clear",
    "activity.cancel",
    "health.close", "health.close_q", "health.refresh", "health.retry",
    "help.close", "help.close_q", "facets.close", "facets.close_q", "jobs.close",
    "instances.close", "instances.close_q", "instances.yaml",
)

#: Every binding id ``[keys]`` may remap.
BINDING_IDS: frozenset[str] = frozenset((*(p.binding_id for p in PANES),
                                         *(s.binding_id for s in ACTION_SPECS),
                                         *WIDGET_BINDING_IDS))

#: Textual's built-in themes (``textual.theme.BUILTIN_THEMES``), the names ``[ui] theme`` takes.
THEMES: tuple[str, ...] = (
    "textual-dark", "textual-light", "nord", "gruvbox", "catppuccin-mocha", "catppuccin-latte",
    "catppuccin-frappe", "catppuccin-macchiato", "dracula", "tokyo-night", "monokai", "flexoki",
    "solarized-light", "solarized-dark", "rose-pine", "rose-pine-moon", "rose-pine-dawn",
    "atom-one-dark", "atom-one-light", "ansi-dark", "ansi-light",
)


def closest(word: str, choices: frozenset[str] | tuple[str, ...]) -> str | None:
    """The choice most like ``word`` (a typo's correction), or None."""
    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_binding_id(binding_id: str) -> str | None:
    """None for a known binding id, else a sentence naming the closest one (or those of its
    scope, or the scopes)."""
    if binding_id in BINDING_IDS:
        return None
    message = f"unknown binding id {binding_id[:80]!r}"
    near = closest(binding_id, BINDING_IDS)
    if near is not None:
        return f"{message} (did you mean {near!r}? press ? in the dashboard to see every id)"
    scope = binding_id.partition(".")[0]
    same = sorted(b for b in BINDING_IDS if b.partition(".")[0] == scope)
    if same:
        return f"{message} (expected one of: {', '.join(same)})"
    scopes = sorted({b.partition(".")[0] for b in BINDING_IDS})
    return (f"{message} (expected SCOPE.NAME with SCOPE one of: {', '.join(scopes)}; press ? in "
            f"the dashboard to see every id)")


def unknown_theme(theme: str) -> str | None:
    """None for a known theme, else a sentence naming the closest one and every theme."""
    if theme in THEMES:
        return None
    near = closest(theme, THEMES)
    hint = f"did you mean {near!r}? " if near is not None else ""
    return f"unknown theme {theme[:80]!r} ({hint}expected one of: {', '.join(THEMES)})"
