"""The rows of the keys screen (`?`): every binding the user can press now, where it works, what
it does (and where the same keys do something else), and every `:` command that can run now."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from textual.actions import parse as parse_action
from textual.binding import Binding
from textual.css.query import NoMatches

from .base import Pane
from .vtable import VirtualTable

if TYPE_CHECKING:
    from .app import IdpApp


def command_rows(app: IdpApp) -> list[tuple[str, str]]:
    """(usage and aliases, help) of every `:` command that can run now."""
    rows = []
    for command in app.commands:
        if command.is_available(app):
            aliases = " ".join(f":{a}" for a in command.aliases)
            rows.append((f"{command.usage}  {aliases}".rstrip(), command.help))
    return rows


def binding_rows(app: IdpApp) -> list[tuple[str, str, str, str]]:
    """(scope, keys, description, id) for every binding the user can press right now."""
    rows: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    focused = app.focused
    chain: list[Any] = list(focused.ancestors_with_self) if focused is not None else []
    try:
        pane: Pane | None = app.current_pane
    except NoMatches:  # the last run's catalog is still showing
        pane = None
    if pane is not None and pane not in chain:
        chain = [pane, *pane.ancestors_with_self]
    for node in chain:
        for binding in getattr(node, "BINDINGS", []):
            if not isinstance(binding, Binding) or binding.id is None or binding.id in seen:
                continue
            if isinstance(node, (Pane, VirtualTable)) and \
                    node.check_action(*parse_action(binding.action)[1:]) is False:
                continue  # (a key that does not apply now: a run's action on another run,
                # sideways in a table whose columns are all on screen)
            seen.add(binding.id)
            keys = keys_for(app, binding)
            scope = _scope_name(app, node)
            what = binding.description or binding.action
            if isinstance(node, Pane):
                what += _elsewhere(app, node, keys, what)
            rows.append((scope, keys, what, binding.id))
    return rows


def _elsewhere(app: IdpApp, pane: Pane, keys: str, what: str) -> str:
    """What ``keys`` (a binding of ``pane`` that does ``what``) do in the other panes where
    they do something else: ``" · in Logs: Follow/pause"`` (the keys screen says where a
    key differs)."""
    out = ""
    for info in app.PANES:
        if info.name == pane.pane_name:
            continue
        try:
            bindings = info.load().BINDINGS
        except Exception:  # noqa: BLE001 - a pane that cannot load has no keys to show
            continue
        for other in bindings:
            other_what = other.description or other.action if isinstance(other, Binding) \
                else ""
            if isinstance(other, Binding) and other.id and other_what != what \
                    and keys_for(app, other) == keys:
                out += f" · in {info.title}: {other_what}"
    return out


def _scope_name(app: IdpApp, node: Any) -> str:
    """Where a binding works, in the user's words: everywhere, a pane, a table…"""
    if node is app:
        return "everywhere"
    if isinstance(node, Pane):
        return node.title
    named = getattr(node, "HELP_SCOPE", "")
    if named:
        return str(named)
    # "OptionList" → "option list"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(node).__name__).lower()


def keys_for(app: IdpApp, binding: Binding) -> str:
    keymap = dict(app.config.keys) if app.config is not None else {}
    keys = keymap.get(binding.id or "", binding.key)
    return ", ".join(app.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))
