"""The Activity screen: the session's actions, the highlighted one's events below."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ... import render
from ...actions import ActionRun
from ..tables import KeyedTable
from .base import WatchesRuns
from .texts import run_summary
from .widgets import ActionUpdated, RunProgress


class ActivityScreen(WatchesRuns, ModalScreen[None]):
    """Recent and running actions of this session; the highlighted one's events below."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="activity.close"),
        Binding("A", "dismiss", "Close", show=False, id="activity.close_a"),
        Binding("c", "cancel_run", "Cancel action", id="activity.cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="activity-dialog", classes="dialog"):
            yield Static(Text("Activity: actions of this session", "bold"), classes="dialog-title")
            yield KeyedTable(id="activity-table", cursor_type="row")
            with Horizontal(id="activity-detail"):
                with VerticalScroll(id="activity-summary-box"):
                    yield Static(id="activity-summary")
                yield RunProgress(id="activity-progress")
            yield Static(Text("enter open · c cancel the action · esc close · the full history "
                              "is in the audit log (idp-tui audit)", "dim"))

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("title", "Action"), ("state", "State"), ("progress", "Progress"),
                           ("started", "Started"), ("duration", "Duration"), ("actor", "By"),
                           ("source", "Source")])

        self.watch_runs(lambda run: True)
        self._refresh_rows()
        self.set_interval(1.0, self._refresh_rows)
        table.focus()

    def _now(self) -> datetime:
        return self.app.clock.now()  # type: ignore[attr-defined, no-any-return]

    def runs(self) -> list[ActionRun]:
        return list(reversed(self.manager.runs.values()))

    def _refresh_rows(self) -> None:
        now = self.app.clock.now()  # type: ignore[attr-defined]
        rows = []
        for run in self.runs():
            progress = run.progress
            end = run.finished_at or now
            rows.append((run.id, (
                render.text(run.title, "bold", max_len=80),
                render.action_state(run.state),
                Text(f"{progress[0]}/{progress[1]}" if progress else "–"),
                Text(f"{run.created_at:%Y-%m-%d %H:%M:%S}"),
                Text(render.duration(end - run.created_at)),
                render.text(run.request.actor or "–", max_len=40),
                render.text(run.source or "–", "dim", max_len=40),
            )))
        self.query_one(KeyedTable).sync(rows)
        self._show_detail()

    def selected(self) -> ActionRun | None:
        key = self.query_one(KeyedTable).cursor_key
        return self.manager.runs.get(key) if key else None

    def _show_detail(self) -> None:
        run = self.selected()
        summary = self.query_one("#activity-summary", Static)
        if run is None:
            summary.update(Text("No action yet in this session. d deploy · n provision",
                                "dim"))
        else:
            summary.update(run_summary(run))
        self.query_one(RunProgress).show_run(run, self._now())

    def on_action_updated(self, message: ActionUpdated) -> None:
        self._refresh_rows()

    @on(DataTable.RowHighlighted, "#activity-table")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#activity-table")
    def _selected(self) -> None:
        from .opening import open_run  # noqa: PLC0415 - opening imports this module

        run = self.selected()
        if run is not None:
            open_run(self.app, run)

    def action_cancel_run(self) -> None:
        self.cancel(self.selected())
