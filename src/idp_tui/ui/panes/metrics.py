"""Metrics: the golden signals of the selected service and environment."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ... import render
from ...api.models import Window
from ...hub import Snapshot, Topic
from ..base import ErrorBanner, Pane, while_running
from ..charts import MetricsGrid

WINDOWS = list(Window)
#: Points asked for per chart: enough for a braille line across a wide terminal.
TARGET_POINTS = 240


def step_for(window: Window, points: int = TARGET_POINTS) -> float:
    """Seconds between points for ``window``, rounded to a whole multiple of 15 s."""
    raw = window.delta.total_seconds() / points
    return max(15.0, round(raw / 15.0) * 15.0)


class MetricsPane(Pane):
    pane_name = "metrics"
    title = "Metrics"

    BINDINGS = [
        Binding("w", "cycle_window(1)", "Window", id="metrics.window_next"),
        Binding("W", "cycle_window(-1)", "Prev window", show=False, id="metrics.window_previous"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window = Window.H1
        self.topic: Topic | None = None
        self.last: Snapshot[Any] | None = None
        self.active = False

    def compose(self) -> ComposeResult:
        yield ErrorBanner(id="metrics-errors")
        yield Static(id="metrics-header", classes="pane-status")
        yield MetricsGrid(id="metrics-grid")

    @while_running
    def on_mount(self) -> None:
        self.query_one(ErrorBanner).display = False
        self._header(None)

    def focus_main(self) -> None:
        self.query_one(MetricsGrid).focus()

    def is_settled(self) -> bool:
        return self.last is not None and self.last.topic == self.topic

    def pane_shown(self) -> None:
        self.active = True
        self._resubscribe()

    def pane_hidden(self) -> None:
        self.active = False
        self.unsubscribe()
        self.topic = None

    def context_changed(self) -> None:
        if self.active:
            self._resubscribe()

    def shared_data_changed(self) -> None:
        if self.active and self.topic is None:
            self._resubscribe()

    def _resubscribe(self) -> None:
        service, env = self.idp.service, self.idp.environment
        if service is None or env is None:
            self._header(None)
            return
        topic = Topic.metrics(service, env, self.window, step_for(self.window))
        if topic == self.topic:
            return
        self.unsubscribe()
        self.topic = topic
        self.query_one(MetricsGrid).set_series([], self.window.value)
        self._header(None)
        self.subscribe(topic)

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        if snapshot.topic != self.topic:
            return
        self.last = snapshot
        self.query_one(ErrorBanner).show_errors(snapshot.errors, what="metrics")
        if snapshot.data is not None:
            self.query_one(MetricsGrid).set_series(snapshot.data, self.window.value)
        self._header(snapshot)

    def _header(self, snapshot: Snapshot[Any] | None) -> None:
        out = Text(end="", no_wrap=True)
        out.append_text(render.text(self.idp.service or "–", "bold"))
        out.append(" @ ")
        out.append_text(render.text(self.idp.environment or "–", "bold"))
        out.append("  window ")
        for window in WINDOWS:
            out.append(f" {window.value} ", "bold reverse" if window is self.window else "dim")
        if snapshot is not None and snapshot.fetched_at is not None:
            out.append(f"   updated {snapshot.fetched_at:%H:%M:%S}", "dim")
        elif self.topic is not None:
            out.append("   loading…", "dim")
        out.append("   w/W change window", "dim")
        self.query_one("#metrics-header", Static).update(out)

    def action_cycle_window(self, step: int) -> None:
        index = WINDOWS.index(self.window)
        self.window = WINDOWS[(index + step) % len(WINDOWS)]
        if self.active:
            self._resubscribe()
        self._header(None)
