"""Four-eyes approvals in the dashboard: the Approvals screen (``V``, ``:approvals``), the count of
requests the user may approve in the top line, the reason asked for each approval or denial, and
what a requester's action dialog shows while its request waits (``waiting_text``).

Everything goes through the runtime's action manager: the requests are
``ActionManager.approval_requests`` (read from the audit trail), a vote is ``ActionManager.vote``
(the checks, sentences and records of ``idp-tui approve``/``deny``: ``approvals.ballot``), and a
requester's dialog follows ``ActionManager.run_when_approved``. The count is read again every
``POLL`` seconds on the app's timer (``IdpApp(timer=...)``) and after each vote.

With the PostgreSQL store the app also listens to the store (``listen``: the session's
:class:`idp_tui.approvalwatch.ApprovalWatch`, which also tells the action manager): each record
appended by anyone is heard as it is committed, and the requests are read again at once when it
concerns them (the count, this screen, and the requester's dialog through
``ActionManager.audit_changed``). While it listens the poll is a safety net only
(``HEARD_POLL``); while the server is away it polls as without it, and reads again once it
listens again. The listener ends with the app.

Only Textual, Rich and ``render`` are imported here: the app imports this module for its key
before anything else loads; the records come in with the action layer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from .. import render
from .tables import KeyedTable

if TYPE_CHECKING:
    from ..actions import ActionManager, ActionRun
    from ..approvals import Request

__all__ = ["HEARD_POLL", "POLL", "ApprovalsKeys", "ApprovalsScreen", "ReasonDialog",
           "RequestScreen", "awaiting", "context_part", "decided_text", "listen", "refresh",
           "request_text", "waiting_text"]

log = logging.getLogger(__name__)

#: Seconds between two reads of the requests for the top line's count.
POLL = 30.0
#: The same while the store's changes are heard (``listen``): a safety net only.
HEARD_POLL = 300.0
#: The records that change a request (beside its action's ``started`` and ``finished``).
_PHASES = ("requested", "approved", "rejected")
_STATE_STYLES = {"pending": "bold yellow", "approved": "bold green", "denied": "bold red",
                 "expired": "dim", "ran": "cyan"}


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "?"


def _approvers(request: Request) -> str:
    return ", ".join(request.approvers) or f"anyone but {request.requester}"


# The requester's dialog ------------------------------------------------------------------------

def awaiting(run: ActionRun | None) -> bool:
    """``run`` ended waiting for approval (its request is recorded; it runs once approved)."""
    return run is not None and run.decision.needs_approval and run.state.value == "denied"


def waiting_text(run: ActionRun, request: Request | None, now: datetime) -> Text:
    """The status of a dialog whose request waits: how many approvals of how many, who may
    give them, until when; once approved, that it starts."""
    out = Text(end="")
    if request is None:  # (before the audit trail was read again)
        out.append("⧗ waiting for approval: ", "bold yellow")
        out.append_text(render.text(run.decision.message, "yellow", max_len=500))
    elif request.state(now) == "approved":
        out.append("✔ approved by ", "bold green")
        out.append_text(render.text(", ".join(v.actor for v in request.approvals), "bold",
                                    max_len=200))
        out.append(": starting it…", "green")
        return out
    else:
        out.append(f"⧗ waiting for approval: {len(request.approvals)} of {request.needed}",
                   "bold yellow")
        if request.approvals:
            out.append(" (")
            out.append_text(render.text(", ".join(v.actor for v in request.approvals),
                                        max_len=200))
            out.append(")")
        out.append("\n  approvers ", "dim")
        out.append_text(render.text(_approvers(request), max_len=300))
        out.append("\n  until     ", "dim")
        out.append(_when(request.expires))
        out.append("\n  request   ", "dim")
        out.append_text(render.text(request.id, max_len=80))
    out.append("\nesc closes this window; the action runs from this session once approved "
               "(V: approvals).", "dim")
    return out


def decided_text(run: ActionRun) -> Text:
    """The status of a dialog whose request was denied or expired while it waited."""
    out = Text("✖ not run: ", "bold red", end="")
    out.append_text(render.text(run.error or run.decision.message, "red", max_len=500))
    out.append("  esc closes", "dim")
    return out


# The top line and the app's key ----------------------------------------------------------------

class ApprovalsKeys:
    """For ``IdpApp``: the Approvals screen's key (``app.approvals``) and the requests read for
    the top line's count."""

    #: The requests as last read (None: not read yet).
    approval_list: list[Request] | None = None
    _approvals_timer: Any = None
    _approvals_started = False
    #: The store's listener (``listen``: an ``ApprovalWatch``; None: not started).
    approvals_listener: Any = None
    _approvals_reading = False
    _approvals_again = False

    def action_approvals(self) -> None:
        open_screen(self)

    async def on_unmount(self) -> None:
        """(Called with the app's own ``on_unmount``: Textual calls each class's handler.)"""
        listener, self.approvals_listener = self.approvals_listener, None
        if listener is not None:
            await listener.close()


def _manager(app: Any) -> ActionManager | None:
    runtime = getattr(app, "runtime", None)
    return getattr(runtime, "actions", None)


def context_part(app: Any) -> Text:
    """The top line's count: ``  ✋ 2 to approve`` (nothing while there is none). The first
    call, once the runtime is there and ``[[policy.approval]]`` rules are configured, starts
    reading the requests."""
    manager = _manager(app)
    if manager is None or not manager.policy.approval:
        return Text("")
    if not app._approvals_started:
        app._approvals_started = True
        listen(app)
        refresh(app)
    count = mine(app)
    return Text(f"  ✋ {count} to approve", "bold magenta") if count else Text("")


def mine(app: Any) -> int:
    """How many requests the user may approve now."""
    manager, requests = _manager(app), getattr(app, "approval_list", None)
    if manager is None or not requests:
        return 0
    now = app.clock.now()
    return sum(r.awaits(manager.actor, now) for r in requests)


def listen(app: Any) -> None:
    """Hear the store's changes, where the audit trail can tell them (PostgreSQL), on the
    app's timer for its backoff (the waiting dialogs are told by the watch itself)."""
    from ..approvalwatch import ApprovalWatch  # noqa: PLC0415 - with the action layer

    manager = _manager(app)
    if manager is None or app.approvals_listener is not None or app._exit or app._closing:
        return
    app.approvals_listener = ApprovalWatch(
        manager, on_change=lambda change: _heard(app, change),
        on_state=lambda _on: _listening(app), timer=getattr(app, "timer", None)).start()


def _heard(app: Any, change: Any) -> None:
    """A record appended by anyone: when it concerns a request, the requests are read again."""
    if change.concerns({r.id for r in app.approval_list or ()}, _PHASES):
        refresh(app)


def _listening(app: Any) -> None:
    """The listener started (records may have been missed before) or stopped (polling again):
    everything is read again now."""
    for screen in app.screen_stack:
        if isinstance(screen, ApprovalsScreen):
            screen.show(screen.requests)  # (its status line says whether it is live)
    refresh(app)


def heard_live(app: Any) -> bool | None:
    """The store's changes are heard now (None: this audit trail cannot tell them)."""
    watch = getattr(app, "approvals_listener", None)
    return None if watch is None else watch.live


def refresh(app: Any) -> None:
    """Read the requests again now (then every ``POLL`` seconds); asked while a read is under
    way, once more after it."""
    if _manager(app) is None or app._exit or app._closing:
        return
    if app._approvals_reading:
        app._approvals_again = True
        return
    app._approvals_reading = True
    app.run_worker(_read(app), group="approvals", exit_on_error=False)


async def _read(app: Any) -> None:
    try:
        await _read_once(app)
    finally:
        app._approvals_reading = False
        if app._approvals_again:
            app._approvals_again = False
            refresh(app)


async def _read_once(app: Any) -> None:
    manager = _manager(app)
    if manager is None:
        return
    try:
        requests: list[Request] | None = await manager.approval_requests()
    except Exception:  # noqa: BLE001 - an unreadable trail: the last list stays, read later
        log.warning("could not read the requests for approval", exc_info=True)
        requests = None
    if requests is not None:
        app.approval_list = requests
        app._update_context_bar()
        for screen in app.screen_stack:
            if isinstance(screen, ApprovalsScreen):
                screen.show(requests)
    if app._approvals_timer is not None:
        app._approvals_timer.stop()
    if manager.policy.approval and not (app._exit or app._closing):
        app._approvals_timer = app.start_timer(app, HEARD_POLL if heard_live(app) else POLL,
                                               lambda: refresh(app))


def open_screen(app: Any) -> None:
    """``V``: the Approvals screen."""
    if isinstance(app.screen, ApprovalsScreen):
        return
    if _manager(app) is None:
        app.notify("The sources are starting", timeout=2)
        return
    app.push_screen(ApprovalsScreen(app.approval_list))
    refresh(app)


# The Approvals screen --------------------------------------------------------------------------

def request_text(request: Request | None, me: str, now: datetime) -> Text:
    """Everything about ``request``: what it does, who asked why, its approvals or denial."""
    if request is None:
        return Text("No request selected.", "dim")
    state = request.state(now)
    out = Text(end="")
    out.append_text(render.text(request.title, "bold", max_len=300))
    out.append("  ")
    out.append(state, _STATE_STYLES.get(state, ""))

    def row(label: str, value: object, style: str = "") -> None:
        out.append(f"\n{label:<13}", "dim")
        out.append_text(render.text(value, style, max_len=300))

    row("request", request.id)
    row("requested by", request.requester, "bold")
    row("at", _when(request.requested_at))
    if request.record.get("reason"):
        row("reason", request.record.get("reason"))
    row("expires", _when(request.expires))
    row("approvers", _approvers(request))
    row("approvals", f"{len(request.approvals)} of {request.needed}")
    for vote in request.approvals:
        row(f"  {render.sanitize(vote.actor, max_len=11)}", vote.reason or "–")
    if request.denial is not None:
        row("denied by", request.denial.actor, "bold red")
        row("  because", request.denial.reason or "–")
    params = request.record.get("params")
    if isinstance(params, dict):
        for key, value in params.items():
            row(f"  {render.sanitize(key, max_len=11)}", value)
    if request.finished is not None:
        row("outcome", request.finished.get("outcome") or "?")
    if request.awaits(me, now):
        out.append("\na approves · x denies (each asks for a reason)", "bold magenta")
    return out


class ApprovalsScreen(ModalScreen[None]):
    """The requests for approval, the newest first: those still open (``t``: every one);
    ``a`` approves and ``x`` denies the selected one, each after asking for a reason."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="approvals.close"),
        Binding("q", "dismiss", "Close", show=False, id="approvals.close_q"),
        Binding("enter", "open", "Show request", id="approvals.open"),
        Binding("a", "vote('approved')", "Approve", id="approvals.approve"),
        Binding("x", "vote('rejected')", "Deny", id="approvals.deny"),
        Binding("t", "toggle_all", "Open / all", id="approvals.all"),
    ]
    HELP_SCOPE = "approvals"
    COLUMNS = [("id", "ID"), ("state", "State"), ("action", "Action"), ("service", "Service"),
               ("env", "Environment"), ("requester", "Requested by"), ("age", "Age"),
               ("expires", "Expires"), ("votes", "Approvals")]
    MAX_WIDTHS = {"id": 36, "service": 30, "env": 16, "requester": 24}

    def __init__(self, requests: list[Request] | None = None) -> None:
        super().__init__()
        self.requests: list[Request] | None = requests
        #: Every request (``t``), or only those pending or approved and not run yet.
        self.show_all = False

    def compose(self) -> ComposeResult:
        with Vertical(id="approvals-dialog", classes="dialog"):
            yield Static(Text("Approvals", "bold"), classes="dialog-title")
            yield Static(id="approvals-status")
            yield KeyedTable(id="approvals-table", cursor_type="row")
            with VerticalScroll(id="approvals-detail-box"):
                yield Static(id="approvals-detail")
        yield Footer()  # (this screen's keys, not the pane's underneath)

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns(self.COLUMNS, self.MAX_WIDTHS)
        self.show(self.requests)
        table.focus()

    @property
    def me(self) -> str:
        manager = _manager(self.app)
        return manager.actor if manager is not None else ""

    def _now(self) -> datetime:
        return self.app.clock.now()  # type: ignore[attr-defined, no-any-return]

    def shown(self) -> list[Request]:
        now = self._now()
        return [r for r in self.requests or ()
                if self.show_all or r.state(now) in ("pending", "approved")]

    @property
    def selected(self) -> Request | None:
        key = self.query_one(KeyedTable).cursor_key
        return next((r for r in self.requests or () if r.id == key), None)

    def show(self, requests: list[Request] | None) -> None:
        self.requests = requests
        if not self.query("#approvals-table"):
            return  # (drawn as it mounts)
        now, me = self._now(), self.me
        rows = []
        for r in self.shown():
            state = r.state(now)
            votes = Text(f"{len(r.approvals)}/{r.needed}")
            if r.awaits(me, now):
                votes.append("  ← you", "bold magenta")
            age = render.duration(now - r.requested_at) if r.requested_at else "?"
            expires = r.expires
            left = Text(_when(expires)[5:16] if expires else "?",
                        "dim" if state != "pending" else "")
            rows.append((r.id, (render.text(r.id, max_len=36),
                                Text(state, _STATE_STYLES.get(state, "")),
                                render.text(r.record.get("action") or "?", max_len=20),
                                render.text(r.record.get("service") or "–", "bold", max_len=80),
                                render.text(r.record.get("environment") or "–", max_len=40),
                                render.text(r.requester, max_len=60), Text(age), left, votes)))
        self.query_one(KeyedTable).sync(rows)
        status = Text(end="")
        if requests is None:
            status.append("Reading the requests…", "dim")
        else:
            count = sum(r.awaits(me, now) for r in requests)
            status.append(f"{len(rows)} {'shown' if self.show_all else 'open'}", "bold")
            status.append(f"  · {count} you may approve", "bold magenta" if count else "dim")
            status.append("  · you are ", "dim")
            status.append_text(render.text(me, "bold", max_len=60))
            status.append("  · t: " + ("open only" if self.show_all else "every request"),
                          "dim")
            live = heard_live(self.app)
            if live is not None:
                status.append("  · live" if live else f"  · read every {POLL:.0f} s (the "
                              "store's notifications are away)", "dim" if live else "yellow")
        self.query_one("#approvals-status", Static).update(status)
        self._detail()

    @on(DataTable.RowHighlighted, "#approvals-table")
    def _highlighted(self) -> None:
        self._detail()

    def _detail(self) -> None:
        self.query_one("#approvals-detail", Static).update(
            request_text(self.selected, self.me, self._now()))

    @on(DataTable.RowSelected, "#approvals-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        request = self.selected
        if request is not None:
            self.app.push_screen(RequestScreen(request_text(request, self.me, self._now())))

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.show(self.requests)

    def action_vote(self, phase: str) -> None:
        """Ask for a reason, then approve or deny the selected request (refused at once, with
        the command line's sentence, when this user may not)."""
        from ..approvals import APPROVED, ApprovalError  # noqa: PLC0415 - with the action layer

        request = self.selected
        if request is None:
            self.app.bell()
            return
        try:
            if phase == APPROVED:
                request.check_approve(self.me, self._now())
            else:
                request.check_deny(self.me, self._now())
        except ApprovalError as exc:
            self.app.notify(str(exc), severity="error", markup=False, timeout=8)
            return
        verb = "Approve" if phase == APPROVED else "Deny"

        def answered(reason: str | None) -> None:
            if reason:
                self.app.run_worker(self._vote(request.id, phase, reason),
                                    group="approvals-vote", exit_on_error=False)

        self.app.push_screen(ReasonDialog(f"{verb} {request.title}", request.id), answered)

    async def _vote(self, request_id: str, phase: str, reason: str) -> None:
        from ..approvals import APPROVED, ApprovalError  # noqa: PLC0415

        manager = _manager(self.app)
        if manager is None:
            return
        try:
            after = await manager.vote(request_id, phase, reason)
        except ApprovalError as exc:
            self.app.notify(str(exc), severity="error", markup=False, timeout=8)
        except Exception as exc:  # noqa: BLE001 - the audit trail refused: said, not raised
            self.app.notify(f"not recorded: {render.sanitize(exc, max_len=300)}",
                            severity="error", markup=False, timeout=8)
        else:
            title = render.sanitize(after.title, max_len=120)
            if phase != APPROVED:
                said = f"denied request {request_id} ({title}): it does not run"
            elif after.state(self._now()) == "approved":
                said = (f"approved request {request_id} ({title}): it has its {after.needed} "
                        f"approval{'s' if after.needed != 1 else ''}")
            else:
                said = (f"approved request {request_id} ({title}): {len(after.approvals)} of "
                        f"{after.needed} approvals")
            self.app.notify(said, markup=False, timeout=6)
        refresh(self.app)


class ReasonDialog(ModalScreen[str | None]):
    """A reason for an approval or a denial (recorded in the audit trail): enter sends it, esc
    gives up."""

    BINDINGS = [Binding("escape", "give_up", "Cancel", id="approvals.reason_cancel")]

    def __init__(self, title: str, request_id: str) -> None:
        super().__init__()
        self.title_text = title
        self.request_id = request_id

    def compose(self) -> ComposeResult:
        with Vertical(id="approvals-reason", classes="dialog"):
            yield Static(render.text(self.title_text, "bold", max_len=200),
                         classes="dialog-title")
            # (on a line of its own: a request id is 36 characters, the title's line is full)
            yield Static(Text(f"request {render.sanitize(self.request_id, max_len=60)}", "dim"),
                         id="approvals-reason-request")
            yield Input(placeholder="Why (recorded in the audit trail)",
                        id="approvals-reason-input")
            yield Static(Text("enter records it · esc cancels", "dim"), id="approvals-reason-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#approvals-reason-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if not reason:
            self.query_one("#approvals-reason-hint", Static).update(
                Text("A reason is needed: it is recorded in the audit trail.", "yellow"))
            self.app.bell()
            return
        self.dismiss(reason)

    def action_give_up(self) -> None:
        self.dismiss(None)


class RequestScreen(ModalScreen[None]):
    """One request, whole (Enter in the Approvals screen)."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="approvals.request_close")]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="approvals-request", classes="dialog"):
            yield Static(self.text)
        yield Footer()
