"""The Activity screen: the audit history (every action of every session and of the command line,
the newest first, filtered), this session's running ones live, the highlighted one's detail below.

The history is read by :mod:`idp_tui.auditview` (from the log's end, bounded) in a thread, again
when the filter changes, when one of this session's actions starts or ends, and when the log has
grown (another process acted). With ``[store] kind = "postgres"`` it is the organisation's: read
from the store, the newest records first, again every few seconds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from ... import render
from ...actions import ActionRun
from ...api.kinds import ActionState
from ...auditview import DEFAULT_LIMIT, AuditEntry, AuditFilter, AuditHistory, read_history
from ..tables import KeyedTable
from .base import WatchesRuns
from .texts import run_summary
from .widgets import ActionUpdated, RunProgress

#: The filter's words, for its placeholder and the status line.
FILTER_HINT = "service:NAME env:NAME kind:deploy user:NAME team:NAME outcome:failed text"
#: Seconds between two reads of the organisation's store (on the app's clock).
STORE_READ_EVERY = 5


class ActivityFilter(Input):
    """The history's filter; escape clears it and goes back to the list."""

    BINDINGS = [Binding("escape", "clear_and_leave", "Clear filter", id="activity.filter_clear")]

    def action_clear_and_leave(self) -> None:
        self.value = ""
        screen = self.screen
        if isinstance(screen, ActivityScreen):
            screen.query_one(KeyedTable).focus()


class ActivityScreen(WatchesRuns, ModalScreen[None]):
    """The audit history, the newest first, with a filter; this session's actions live."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="activity.close"),
        Binding("q", "dismiss", "Close", show=False, id="activity.close_q"),
        Binding("slash", "filter", "Filter", id="activity.filter"),
        Binding("c", "cancel_run", "Cancel action", id="activity.cancel"),
    ]

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        #: The most actions listed (the newest that match the filter).
        self.limit = limit
        self.audit_filter = AuditFilter()
        #: What the audit log said last (None: not read yet).
        self.history: AuditHistory | None = None
        self._entries: dict[str, AuditEntry] = {}
        #: (size, mtime) of the log when last read: read again when it changes.
        self._read_mark: tuple[int, int] | None = None
        self._reading = False
        self._read_again = False

    def compose(self) -> ComposeResult:
        with Vertical(id="activity-dialog", classes="dialog"):
            yield Static(Text(self._title(), "bold"), classes="dialog-title")
            yield ActivityFilter(placeholder=f"/ filter: {FILTER_HINT}", id="activity-filter")
            yield KeyedTable(id="activity-table", cursor_type="row")
            yield Static(id="activity-status")
            with Horizontal(id="activity-detail"):
                with VerticalScroll(id="activity-summary-box"):
                    yield Static(id="activity-summary")
                yield RunProgress(id="activity-progress")
            yield Static(Text("enter open · / filter · c cancel the action · esc, q close",
                              "dim"))
        yield Footer()  # (this screen's keys, not the pane's underneath)

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("title", "Action"), ("state", "State"), ("progress", "Progress"),
                           ("started", "Started"), ("duration", "Duration"), ("actor", "By"),
                           ("source", "Source")], {"title": 60, "actor": 24, "source": 24})
        self.watch_runs(lambda run: True)
        self.read_history()
        self._refresh_rows()
        self.set_interval(1.0, self._tick)
        table.focus()

    def _now(self) -> datetime:
        return self.app.clock.now()  # type: ignore[attr-defined, no-any-return]

    @property
    def audit_path(self) -> Path:
        return self.manager.audit.path  # type: ignore[no-any-return]

    @property
    def in_store(self) -> bool:
        """The history is the organisation's store's (not the data dir's log)."""
        return not isinstance(self.audit_path, Path)

    def _title(self) -> str:
        if self.in_store:
            return "Activity: the organisation's actions, newest first"
        return "Activity: the audit history, newest first"

    def _confirmed(self) -> dict[str, str]:
        """Who the sources confirmed this session's user is (as its records say)."""
        identity = getattr(self.manager, "identity", None)
        return identity.users if identity is not None else {}

    def _owners(self) -> dict[str, str]:
        """Each service's owning team, from the catalog the app has (for team:)."""
        snapshot = getattr(self.app, "catalog_snapshot", None)
        return {s.name: s.owner for s in (getattr(snapshot, "data", None) or ()) if s.owner}

    # Reading the history -------------------------------------------------------------------------

    def read_history(self) -> None:
        """Read the audit log again (in a thread; once more after a read under way)."""
        if self._reading:
            self._read_again = True
            return
        self._reading, self._read_again = True, False
        self._read_mark = self._mark()
        self._read(self.audit_path, self.audit_filter, self._owners())

    @work(thread=True, exit_on_error=False, group="activity-history")
    def _read(self, path: Path, query: AuditFilter, owners: dict[str, str]) -> None:
        audit = self.manager.audit
        try:
            lines = audit.lines_newest_first() if self.in_store else path  # type: ignore[attr-defined]
            history = read_history(lines, query, limit=self.limit, owners=owners)
        except Exception as exc:  # noqa: BLE001 - said in the screen, never a traceback
            history = AuditHistory([], error=f"cannot read the audit log {path}: {exc}")
        self.app.call_from_thread(self._history_read, history, query)

    def _history_read(self, history: AuditHistory, query: AuditFilter) -> None:
        self._reading = False
        if not self.is_attached:
            return  # closed meanwhile
        if query == self.audit_filter:
            self.history = history
            self._entries = {e.action_id: e for e in history.entries}
            self._refresh_rows()
        if self._read_again or query != self.audit_filter:
            self.read_history()

    def _mark(self) -> tuple[int, int] | None:
        if self.in_store:  # the store's history: read again every few seconds
            return int(self._now().timestamp()) // STORE_READ_EVERY, 0
        try:
            info = self.audit_path.stat()
        except OSError:
            return None
        return info.st_size, info.st_mtime_ns

    def _tick(self) -> None:
        if self._mark() != self._read_mark:
            self.read_history()  # another process (idp-tui deploy…) wrote to the log
        self._refresh_rows()

    # Rows ----------------------------------------------------------------------------------------

    def runs(self) -> list[ActionRun]:
        """This session's actions that the filter lets through, the newest first."""
        return [run for run in reversed(self.manager.runs.values())
                if self.audit_filter.matches(_entry_of(run))]

    def _refresh_rows(self) -> None:
        now = self._now()
        rows = []
        live = {run.id: run for run in self.runs()}
        # This session's actions the history does not have yet (or could not record) come first.
        order = [k for k in live if k not in self._entries] + list(self._entries)
        for key in order:
            run = live.get(key) or self.manager.runs.get(key)
            rows.append((key, _run_cells(run, now, self._confirmed()) if run is not None
                         else _entry_cells(self._entries[key], now)))
        self.query_one(KeyedTable).sync(rows)
        self._status(len(rows))
        self._show_detail()

    def _status(self, count: int) -> None:
        out = Text(end="")
        history = self.history
        if history is None:
            out.append("reading the audit log…", "dim")
        else:
            out.append(f"{count} action{'s' if count != 1 else ''}", "bold")
            if self.audit_filter:
                out.append("  filter ")
                out.append_text(render.text(self.audit_filter.describe(), "bold yellow",
                                            max_len=200))
            if history.more:
                out.append(f"  (the newest {self.limit}: `idp-tui audit` lists them all)",
                           "dim")
            elif history.cut:
                out.append(f"  (in the newest {history.scanned:,} records: `idp-tui audit` "
                           "lists them all)", "dim")
            if history.error:
                out.append("  ")
                out.append_text(render.text(history.error, "bold red", max_len=300))
        self.query_one("#activity-status", Static).update(out)

    def selected(self) -> ActionRun | None:
        """The highlighted action when it is one of this session's (it can be followed)."""
        key = self.query_one(KeyedTable).cursor_key
        return self.manager.runs.get(key) if key else None

    def selected_entry(self) -> AuditEntry | None:
        """The highlighted action's audit entry (None: this session's, not read yet)."""
        key = self.query_one(KeyedTable).cursor_key
        return self._entries.get(key) if key else None

    def _show_detail(self) -> None:
        run = self.selected()
        entry = self.selected_entry()
        summary = self.query_one("#activity-summary", Static)
        if run is not None:
            summary.update(run_summary(run))
        elif entry is not None:
            summary.update(entry_summary(entry))
        elif self.audit_filter:
            summary.update(Text("No action matches the filter.", "dim"))
        else:
            summary.update(Text("No action yet in this session or in the audit log. "
                                "d deploy · p provision", "dim"))
        self.query_one(RunProgress).show_run(run, self._now())

    def on_action_updated(self, message: ActionUpdated) -> None:
        entry = self._entries.get(message.run.id)
        if entry is None or (message.run.state.finished and entry.state != message.run.state):
            self.read_history()  # started, or ended: the log has its record
        self._refresh_rows()

    # Events and keys -----------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#activity-table")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#activity-table")
    def _selected(self) -> None:
        from .opening import open_run  # noqa: PLC0415 - opening imports this module

        run = self.selected()
        if run is not None:
            open_run(self.app, run)
        elif self.selected_entry() is not None:
            self.notify("An action of another session: its record is shown below (it cannot "
                        "be followed from here)", timeout=4)

    @on(Input.Changed, "#activity-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        query = AuditFilter.parse(event.value)
        if query != self.audit_filter:
            self.audit_filter = query
            self.read_history()
            self._refresh_rows()

    @on(Input.Submitted, "#activity-filter")
    def _filter_submitted(self) -> None:
        self.query_one(KeyedTable).focus()

    def action_filter(self) -> None:
        self.query_one(ActivityFilter).focus()

    def action_cancel_run(self) -> None:
        run = self.selected()
        if run is None and self.selected_entry() is not None:
            self.notify("Only an action of this session can be cancelled here", timeout=4)
            return
        self.cancel(run)


def _entry_of(run: ActionRun) -> AuditEntry:
    """A session's action as an audit entry (for the filter)."""
    r = run.request
    entry = AuditEntry(run.id, kind=r.kind.value, service=r.service or "",
                       environment=r.environment or "", version=r.version or "",
                       replicas=r.replicas, template=r.template or "", run_id=r.run_id or "",
                       actor=r.actor or "", source=run.source or "", reason=r.reason or "",
                       started=run.created_at, finished=run.finished_at,
                       outcome=_outcome(run), error=run.error or "")
    return entry


def _outcome(run: ActionRun) -> str | None:
    """As the audit trail says it: "requested" for a run waiting for approval."""
    if run.waiting:
        return "requested"
    return run.state.value if run.state.finished else None


def _state(value: str) -> Text:
    try:
        return render.action_state(ActionState(value))
    except ValueError:
        return render.text(value, "cyan" if value == "started" else "yellow", max_len=20)


def _run_cells(run: ActionRun, now: datetime,
               confirmed: dict[str, str] | None = None) -> tuple[Text, ...]:
    progress = run.progress
    end = run.finished_at or now
    return (
        render.text(run.title, "bold", max_len=200),
        render.action_state(run.state, waiting=run.waiting),
        Text(f"{progress[0]}/{progress[1]}" if progress else "–"),
        Text(f"{run.created_at:%Y-%m-%d %H:%M:%S}"),
        Text(render.duration(end - run.created_at)),
        render.text(_by(AuditEntry(run.id, actor=run.request.actor or "",
                                   confirmed=confirmed or {})), max_len=60),
        render.text(run.source or "–", "dim", max_len=40),
    )


def _entry_cells(entry: AuditEntry, now: datetime) -> tuple[Text, ...]:
    started = entry.started
    duration = "–"
    if started is not None and entry.finished is not None:
        duration = render.duration(entry.finished - started)
    return (
        render.text(f"{entry.kind} {entry.target}", "bold", max_len=200),
        _state(entry.state),
        Text("–"),
        Text(f"{started:%Y-%m-%d %H:%M:%S}" if started is not None else "?"),
        Text(duration),
        render.text(_by(entry), max_len=60),
        render.text(entry.source or "–", "dim", max_len=40),
    )


def _by(entry: AuditEntry) -> str:
    """Who acted, with the names the sources confirmed: ``alice (github: octocat)``."""
    confirmed = ", ".join(f"{k}: {v}" for k, v in sorted(entry.confirmed.items()))
    return f"{entry.actor or '–'} ({confirmed})" if confirmed else (entry.actor or "–")


def entry_summary(entry: AuditEntry) -> Text:
    """What the audit log says of an action: what, on what, by whom, why, how it ended."""
    out = Text(end="")

    def row(label: str, value: object, style: str = "") -> None:
        out.append(f"\n{label:<12}", "dim")
        out.append_text(render.text(value, style, max_len=300))

    out.append_text(render.text(f"{entry.kind} {entry.target}", "bold", max_len=300))
    row("action", entry.kind)
    for label, value, style in (("service", entry.service, "bold"),
                                ("environment", entry.environment, "bold"),
                                ("version", entry.version, ""), ("template", entry.template, ""),
                                ("run", entry.run_id, "")):
        if value:
            row(label, value, style)
    if entry.replicas is not None:
        row("replicas", entry.replicas)
    if entry.reason:
        row("reason", entry.reason)
    row("by", entry.actor or "–")
    for source, user in sorted(entry.confirmed.items()):
        row("confirmed", f"{user} (by {source})", "green")
    if entry.team:
        row("team", entry.team)
    if entry.source:
        row("source", entry.source)
    out.append(f"\n{'state':<12}", "dim")
    out.append_text(_state(entry.state))
    if entry.state == "started":
        out.append("  (no end recorded: running elsewhere, or its process stopped)", "dim")
    if entry.error:
        row("error", entry.error, "red")
    if entry.started is not None:
        row("started", f"{entry.started:%Y-%m-%d %H:%M:%S %Z}".strip())
    if entry.finished is not None:
        row("ended", f"{entry.finished:%Y-%m-%d %H:%M:%S %Z}".strip())
    row("id", entry.action_id, "dim")
    return out
