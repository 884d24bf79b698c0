"""Metrics: the golden signals of the selected service and environment."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ... import render
from ...api.models import Alert, Window, metrics_step
from ...hub import Snapshot, Topic
from ..base import ErrorBanner, Pane, while_running
from ..charts import MetricsGrid

WINDOWS = list(Window)
#: Alerts listed above the charts; the rest are counted.
MAX_ALERTS = 3
#: Points asked for per chart: enough for a braille line across a wide terminal.
TARGET_POINTS = 240


def step_for(window: Window, points: int = TARGET_POINTS) -> float:
    """Seconds between points for ``window``, rounded to a whole multiple of 15 s."""
    raw = window.delta.total_seconds() / max(1, points)
    return max(15.0, round(raw / 15.0) * 15.0)


def points_for(chart_width: int) -> int:
    """Points worth asking for a chart ``chart_width`` cells wide: two per cell (a braille cell
    is two dots wide), in steps of 20, from 60 to 600; TARGET_POINTS before any layout."""
    if chart_width <= 0:
        return TARGET_POINTS
    return max(60, min(600, (chart_width * 2) // 20 * 20))


class MetricsPane(Pane):
    pane_name = "metrics"  # its entry in ui/panelist.py: title, key, aliases

    BINDINGS = [
        Binding("w", "cycle_window(1)", "Window", id="metrics.window_next"),
        Binding("W", "cycle_window(-1)", "Prev window", show=False, id="metrics.window_previous"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window = Window.H1
        self.topic: Topic | None = None
        self.alerts_topic: Topic | None = None
        self.last: Snapshot[Any] | None = None
        #: When the series shown were received (a failed fetch that keeps them does not move it).
        self.updated_at: Any = None
        #: The alerts shown (firing or pending), from every metrics source that has them.
        self.alerts: list[Alert] = []
        self.active = False

    def compose(self) -> ComposeResult:
        yield ErrorBanner(id="metrics-errors")
        yield Static(id="metrics-header", classes="pane-status")
        yield Static(id="metrics-alerts")
        yield MetricsGrid(id="metrics-grid")

    @while_running
    def on_mount(self) -> None:
        self.query_one(ErrorBanner).display = False
        self.query_one("#metrics-alerts", Static).display = False
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
        self.alerts_topic = None

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
        alerts = Topic.alerts(service, env)
        if alerts != self.alerts_topic:
            self.unsubscribe("alerts")
            self.alerts_topic = alerts
            self._show_alerts([])
            self.subscribe(alerts)
        # The same queries as `idp-tui metrics` for the window (the same step, so the same "now").
        topic = Topic.metrics(service, env, self.window, metrics_step(self.window))
        if topic == self.topic:
            return
        self.unsubscribe("metrics")
        self.topic = topic
        self.last = None
        self.updated_at = None
        self.query_one(MetricsGrid).set_series([], self.window.value)
        self._header(None)
        self.subscribe(topic)

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        if snapshot.topic == self.alerts_topic:
            if snapshot.data is not None:
                self._show_alerts(snapshot.data)
            return
        if snapshot.topic != self.topic:
            return
        received = _received(self.last, snapshot)
        self.last = snapshot
        if received:
            self.updated_at = snapshot.fetched_at
        # A part of an answer is this fetch's: its error is said alone. A failure that keeps
        # the series of an earlier fetch says so; one before any answer, that nothing came yet.
        partial = received and bool(snapshot.errors)
        self.query_one(ErrorBanner).show_errors(
            snapshot.errors, what="" if partial else "metrics",
            kept=snapshot.kept if self.updated_at is not None else ())
        if snapshot.data is not None:
            self.query_one(MetricsGrid).set_series(snapshot.data, self.window.value)
        self._header(snapshot)

    def _show_alerts(self, alerts: list[Alert]) -> None:
        """One line per alert above the charts (source text, drawn through render)."""
        self.alerts = list(alerts)
        bar = self.query_one("#metrics-alerts", Static)
        if not alerts:
            bar.display = False
            return
        out = Text(end="")
        for i, alert in enumerate(alerts[:MAX_ALERTS]):
            if i:
                out.append("\n")
            firing = alert.state == "firing"
            out.append("🔔 " if firing else "… ", "bold red" if firing else "yellow")
            out.append_text(render.text(alert.name, "bold", max_len=80))
            if alert.severity:
                out.append(" ")
                out.append_text(render.text(alert.severity, "reverse red" if firing else "dim",
                                            max_len=20))
            out.append(f" {alert.state}" if firing else " pending", "dim")
            if alert.since is not None:
                out.append(f" since {alert.since:%H:%M}", "dim")
            if alert.summary:
                out.append("  ")
                out.append_text(render.text(alert.summary, max_len=200))
        if len(alerts) > MAX_ALERTS:
            out.append(f"\n… and {len(alerts) - MAX_ALERTS} more", "dim")
        bar.update(out)
        bar.display = True

    def _header(self, snapshot: Snapshot[Any] | None) -> None:
        out = Text(end="", no_wrap=True)
        out.append_text(render.text(self.idp.service or "–", "bold"))
        out.append(" @ ")
        out.append_text(render.text(self.idp.environment or "–", "bold"))
        out.append("  window ")
        for window in WINDOWS:
            out.append(f" {window.value} ", "bold reverse" if window is self.window else "dim")
        if snapshot is not None and self.updated_at is not None:
            out.append(f"   updated {self.updated_at:%H:%M:%S}", "dim")
        elif snapshot is not None and snapshot.errors:
            out.append("   no answer yet", "dim")
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


def _received(before: Snapshot[Any] | None, snapshot: Snapshot[Any]) -> bool:
    """Whether ``snapshot`` brings series of its own fetch: a fetch without errors does; a failed
    one gives back the very records of the last answer (the hub keeps them), which do not count."""
    if not snapshot.errors:
        return snapshot.data is not None
    if not snapshot.data:
        return False
    if before is None or not before.data:
        return True  # the first series here: this fetch's (or the last one's, unknown when)
    old = {id(series) for series in before.data}
    return any(id(series) not in old for series in snapshot.data)
