"""The dashboard's two one-line bars: the context (top) and the sources' health (bottom)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from .. import render
from . import advisor as advisor_ui
from . import approvals

if TYPE_CHECKING:
    from ..hub import SourceHealth

__all__ = ["ContextBar", "HealthBar"]


class ContextBar(Static):
    """The top line: product, selected service and environment, time."""

    def show(self, service: str | None, environment: str | None, now: datetime) -> None:
        out = Text(end="", no_wrap=True, overflow="ellipsis")
        out.append(" idp-tui ", "bold reverse")
        out.append("  service ", "dim")
        out.append_text(render.text(service or "–", "bold", max_len=48))
        out.append("  env ", "dim")
        out.append_text(render.text(environment or "–", "bold", max_len=48))
        out.append_text(advisor_ui.context_part(self.app) + approvals.context_part(self.app))
        hint, clock = "  (e to switch)", f"   {now:%Y-%m-%d %H:%M:%S} UTC"
        width = self.size.width
        if not width or out.cell_len + len(hint) + len(clock) <= width:
            out.append(hint, "dim")  # (left out where the time would not fit with it)
        out.append(clock, "dim")
        self.update(out, layout=False)  # (one line: every second, no layout of the screen)


class HealthBar(Static):
    """The line above the footer: every source's state at a glance."""

    def show(self, health: dict[str, SourceHealth]) -> None:
        out = Text(" sources ", "dim", end="", no_wrap=True, overflow="ellipsis")
        for item in health.values():
            state = item.state
            icon, style = {"ok": ("●", "green"), "error": ("✖", "red"),
                           "waiting": ("◌", "dim")}[state]
            out.append(f"{icon} ", style)
            out.append_text(render.text(item.name, max_len=40))
            if item.failure is not None:
                out.append(f" {item.failure.error_class}", "red")
            out.append("   ")
        out.append("H: details", "dim")
        self.update(out, layout=False)  # (one line)
