"""The command palette's entries (``ctrl+p``): the `:` commands of the registry
(:mod:`idp_tui.commands`) that have a palette title, with their values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .. import render
from ..commands import ArgKind

if TYPE_CHECKING:
    from .app import IdpApp


class IdpCommands(Provider):
    """Command palette entries: the `:` commands that have a palette title (``Command.title``),
    one entry per value for those taking an environment or a pane, and, once something is typed,
    one per service.

    "Source health" is a system command (see ``IdpApp.get_system_commands``), not listed here too.
    """

    def _commands(self, *, services: bool = False) -> list[tuple[str, Any, str]]:
        """(title, callback, help) of what the palette offers: before anything is typed, all but
        the services (``services``: those too)."""
        app: IdpApp = self.app  # type: ignore[assignment]
        candidates: list[tuple[str, Any, str]] = []
        for command in app.commands:
            if not command.title or command.system or not command.is_available(app):
                continue
            if command.arg is ArgKind.NONE:
                candidates.append((command.title, lambda c=command: app.run_entry(c, None),
                                   f"{command.help} · :{command.name}"))
            elif command.arg is ArgKind.SERVICE:
                if not services:
                    continue
                for service in app.services[:5000]:
                    candidates.append((
                        f"{command.title}: {render.sanitize(service.name)}",
                        lambda c=command, s=service.name: app.run_entry(c, s),
                        render.sanitize(service.description or service.owner, max_len=80)))
            else:
                for value in app.argument_values(command.arg):
                    candidates.append((f"{command.title}: {render.sanitize(value)}",
                                       lambda c=command, v=value: app.run_entry(c, v),
                                       f"Select this {command.arg.value} · :{command.name} NAME"))
        return candidates

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(render.palette_entry(title, (), help_text), callback, text=title)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        candidates = self._commands(services=True)
        query = matcher.query
        for title, callback, help_text in candidates:
            # Scored and highlighted here, not with matcher.highlight(): that parses the title as
            # markup, and service names come from sources.
            score, offsets = matcher.fuzzy_search.match(query, title)
            if score > 0:
                yield Hit(score, render.palette_entry(title, offsets, help_text), callback,
                          text=title)
