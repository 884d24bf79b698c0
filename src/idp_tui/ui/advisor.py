"""The advisor in the dashboard: the engine following the hub, its count in the top line, the marks
in the Catalog and Environments, and the list (``!``) with each recommendation's evidence.

The engine (``idp_tui.advisor.Advisor``) evaluates where the hub runs, after each refresh of the
topics it follows; every new :class:`Advice` reaches the app as a message (``AdviceArrived``), as
snapshots do. Enter opens the remedy's dialog pre-filled (a fresh action id each time: the hub
starts an id at most once) or the failed run's log; ``d`` dismisses, ``s`` snoozes, both kept in
the data dir (``advisor.json``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from .. import render
from .tables import KeyedTable

if TYPE_CHECKING:
    from ..advisor import Advice, Advisor, Recommendation

__all__ = ["SNOOZE", "AdviceArrived", "AdvisorScreen", "advice_arrived", "advised_services",
           "context_part", "marked", "start"]

#: How long ``s`` hides a recommendation.
SNOOZE = timedelta(hours=24)
#: The glyph beside a service with open recommendations (Catalog, Environments).
MARK = " !"
_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                   "low": "dim"}


class AdviceArrived(Message):
    """The advisor evaluated again (posted to the app)."""

    def __init__(self, advice: Advice) -> None:
        super().__init__()
        self.advice = advice


def start(app: Any) -> Advisor:
    """The advisor over the app's hub (its settings from the config, its dismissals in the data
    dir); closed with the app's subscriptions."""
    from ..advisor import Advisor, Dismissals  # noqa: PLC0415 - not needed by the first frame
    from ..advisor.engine import configured_scorecards  # noqa: PLC0415

    scorecards, problem = configured_scorecards(app.config)
    advisor = Advisor(settings=app.config.advisor, dismissals=Dismissals.in_folder(app.data_dir),
                      clock=app.clock, scorecards=scorecards if scorecards is not None else [])
    if problem:
        advisor.load_errors += (problem,)
    app.advisor = advisor
    app.advice = advisor.advice
    advisor.watch(app.hub, lambda advice: app.post_message(AdviceArrived(advice)))
    app._subs.append(advisor)
    return advisor


def advice_arrived(app: Any, advice: Advice) -> None:
    """Keep ``advice`` in the app; the top line, the panes' marks and the open list follow."""
    old = app.advice
    if old is not None and (old.recommendations, old.hidden, old.errors) == (
            advice.recommendations, advice.hidden, advice.errors):
        app.advice = advice
        return
    before = advised_services(app)
    app.advice = advice
    app._update_context_bar()
    if advised_services(app) != before:
        for pane in app._live_panes():
            pane.shared_data_changed()
    for screen in app.screen_stack:
        if isinstance(screen, AdvisorScreen):
            screen.show(advice)


def advised_services(app: Any) -> frozenset[str]:
    """The services with open recommendations that are pressing (medium or more)."""
    advice = getattr(app, "advice", None)
    if advice is None:
        return frozenset()
    if _ADVISED[0] is not advice:  # (asked for every row of a table: counted once per advice)
        _ADVISED[:] = [advice, frozenset(r.service for r in advice.recommendations if r.pressing)]
    return _ADVISED[1]


#: The last advice asked about and its services (``advised_services``).
_ADVISED: list[Any] = [None, frozenset()]


def settled(app: Any) -> bool:
    """The advisor has evaluated what every topic it follows first answered (with data or an
    error), and the app holds that advice (no hub, no advisor: nothing to wait for)."""
    advisor = getattr(app, "advisor", None)
    if advisor is None or app.hub is None:
        return True
    if advisor._pending or app.advice is not advisor.advice or advisor.advice.at is None:
        return False
    return all(app.hub.cached(topic) is not None for topic in list(advisor._subs))


def context_part(app: Any) -> Text:
    """The top line's count of pressing advice: ``  ! 3 advice`` (nothing while there is none;
    the low ones are in the list only)."""
    advice = getattr(app, "advice", None)
    count = sum(r.pressing for r in advice.recommendations) if advice is not None else 0
    if not count:
        return Text("")
    return Text(f"  ! {count} advice", "bold yellow")


def marked(app: Any, name: str, cells: tuple[Text, ...]) -> tuple[Text, ...]:
    """``cells`` (a row whose first cell is the service's name) with the advisor's mark on the
    name when ``name`` has open recommendations."""
    if not cells or name not in advised_services(app):
        return cells
    first = cells[0].copy()
    first.append(MARK, "bold yellow")
    return (first, *cells[1:])


def open_list(app: Any) -> None:
    """``!``: the advisor's list."""
    if getattr(app, "advisor", None) is None:
        app.notify("The advisor is off ([advisor] enabled = false)" if app.hub is not None
                   and not app.config.advisor.enabled else "The sources are starting",
                   timeout=3)
        return
    if not isinstance(app.screen, AdvisorScreen):
        app.push_screen(AdvisorScreen(app.advice))


class AdvisorScreen(ModalScreen[None]):
    """The open recommendations, the most urgent (and costly) first; the selected one's evidence
    below."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="advisor.close"),
        Binding("enter", "open", "Open remedy", id="advisor.open"),
        Binding("d", "dismiss_rec", "Dismiss", id="advisor.dismiss"),
        Binding("s", "snooze", "Snooze 24h", id="advisor.snooze"),
    ]
    HELP_SCOPE = "advisor"
    COLUMNS = [("severity", "Severity"), ("service", "Service"), ("env", "Env"),
               ("title", "Recommendation"), ("cost", "Per month")]
    MAX_WIDTHS = {"service": 30, "env": 16, "title": 70}

    def __init__(self, advice: Advice) -> None:
        super().__init__()
        self.advice = advice

    def compose(self) -> ComposeResult:
        with Vertical(id="advisor-dialog", classes="dialog"):
            yield Static(Text("Advisor", "bold"), classes="dialog-title")
            yield Static(id="advisor-status")
            yield KeyedTable(id="advisor-table", cursor_type="row")
            yield Static(id="advisor-detail")
            yield Static(Text("enter open remedy · d dismiss · s snooze 24h · esc close", "dim"))
        yield Footer()  # (this screen's keys, not the pane's underneath)

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns(self.COLUMNS, self.MAX_WIDTHS)
        self.show(self.advice)
        table.focus()

    @property
    def selected(self) -> Recommendation | None:
        key = self.query_one(KeyedTable).cursor_key
        return next((r for r in self.advice.recommendations if r.id == key), None)

    def show(self, advice: Advice) -> None:
        self.advice = advice
        if not self.query("#advisor-table"):
            return  # (drawn as it mounts)
        rows = []
        for rec in advice.recommendations:
            cost = Text(f"{rec.monthly_cost:,.0f} {render.sanitize(rec.currency, max_len=8)}"
                        if rec.monthly_cost is not None else "–",
                        "" if rec.monthly_cost is not None else "dim")
            rows.append((rec.id, (Text(rec.severity.value, _SEVERITY_STYLE[rec.severity.value]),
                                  render.text(rec.service, "bold", max_len=80),
                                  render.text(rec.environment or "–", max_len=40),
                                  render.text(rec.title, max_len=200), cost)))
        table = self.query_one(KeyedTable)
        table.sync(rows)
        low = sum(not r.pressing for r in advice.recommendations)
        status = Text(f"{len(advice.recommendations)} open", "bold")
        if low:
            status.append(f" ({low} low: not counted in the top line)", "dim")
        if advice.hidden:
            status.append(f"  {advice.hidden} dismissed or snoozed", "dim")
        for error in advice.errors:
            status.append("\n")
            status.append_text(render.text(error, "red", max_len=300))
        self.query_one("#advisor-status", Static).update(status)
        self._detail()

    @on(DataTable.RowHighlighted, "#advisor-table")
    def _highlighted(self) -> None:
        self._detail()

    def _detail(self) -> None:
        self.query_one("#advisor-detail", Static).update(detail_text(self.selected))

    @on(DataTable.RowSelected, "#advisor-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        rec = self.selected
        if rec is None:
            return
        if rec.remedy is not None:
            self.dismiss()
            open_remedy(self.app, rec)
        elif rec.opens is not None:
            self.dismiss()
            open_run_log(self.app, rec)
        else:
            self.app.notify("This recommendation has no remedy to open", timeout=3)

    def action_dismiss_rec(self) -> None:
        self._hide(lambda advisor, rec: advisor.dismiss(rec.id), "dismissed")

    def action_snooze(self) -> None:
        self._hide(lambda advisor, rec: advisor.snooze(rec.id, SNOOZE), "snoozed for 24 hours")

    def _hide(self, how: Any, what: str) -> None:
        rec, advisor = self.selected, getattr(self.app, "advisor", None)
        if rec is None or advisor is None:
            return
        if not how(advisor, rec):
            self.app.notify("Could not save the advisor's dismissals (see the log)",
                            severity="warning")
        else:
            self.app.notify(f"{render.sanitize(rec.title, max_len=80)}: {what}", markup=False,
                            timeout=3)


def detail_text(rec: Recommendation | None) -> Text:
    """The evidence of ``rec``: its detail, figures, time range, source and test."""
    if rec is None:
        return Text("Nothing to advise.", "dim")
    out = Text()
    out.append_text(render.text(rec.title, "bold", max_len=300))
    if rec.detail:
        out.append("\n")
        out.append_text(render.text(rec.detail, max_len=1000, multiline=True))
    evidence = rec.evidence
    for figure in evidence.figures:
        out.append("\n  ")
        out.append_text(render.text(figure.name, "dim", max_len=60))
        out.append(": ")
        out.append_text(render.text(f"{figure.value} {figure.unit}".rstrip(), max_len=300))
    if evidence.start is not None or evidence.end is not None:
        start = f"{evidence.start:%Y-%m-%d %H:%M}" if evidence.start else "…"
        end = f"{evidence.end:%Y-%m-%d %H:%M}" if evidence.end else "…"
        out.append(f"\n  from {start} to {end} UTC", "dim")
    if evidence.source:
        out.append("\n  source ", "dim")
        out.append_text(render.text(evidence.source, max_len=120))
    if evidence.test:
        out.append("\n  test ", "dim")
        out.append_text(render.text(evidence.test, max_len=300))
    if rec.remedy is not None:
        out.append(f"\n  enter: {rec.remedy.kind.value}", "bold")
    elif rec.opens is not None:
        out.append("\n  enter: the failed run's log", "bold")
    return out


def open_remedy(app: Any, rec: Recommendation) -> None:
    """The remedy's dialog, pre-filled with its kind, service and environment (the dialog makes
    its own action id), through the same checks as the action keys."""
    from ..actionenv import duration_text  # noqa: PLC0415
    from .action_access import manager_of, read_only_reason  # noqa: PLC0415
    from .dialogs import ActionModal  # noqa: PLC0415
    from .dialogs.opening import watch_outcomes  # noqa: PLC0415

    remedy = rec.remedy
    manager = manager_of(app)
    if remedy is not None and remedy.service is None and remedy.environment:
        from .dialogs import open_environment_action  # noqa: PLC0415

        by = remedy.params.get("seconds")
        open_environment_action(app, remedy.kind, remedy.environment, reason=remedy.reason,
                                by=duration_text(by) if isinstance(by, int) else None)
        return
    if remedy is None or remedy.service is None or remedy.environment is None:
        return
    if manager is None or not manager.can(remedy.kind):
        app.notify(f"No configured source can {remedy.kind.value}", severity="warning",
                   markup=False)
        return
    reason = read_only_reason(manager, remedy.kind)
    if reason is not None:
        app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
        return
    watch_outcomes(app, manager)
    app.service, app.environment = remedy.service, remedy.environment
    dep = app.platform.deployments.get((remedy.service, remedy.environment)) \
        if app.platform is not None else None
    app.push_screen(ActionModal(remedy.kind, remedy.service, remedy.environment,
                                environments=app.environment_names(),
                                replicas=dep.replicas_desired if dep is not None else None,
                                version=remedy.version, wanted_replicas=remedy.replicas))


def open_run_log(app: Any, rec: Recommendation) -> None:
    """The failed run's log in the Logs pane."""
    opens = rec.opens
    if opens is None:
        return
    app.service = rec.service
    app.show_pane("logs")
    label = f"{rec.service} {opens.run_id}"

    def show() -> None:
        from .panes.logs import LogsPane  # noqa: PLC0415

        app.query_one(LogsPane).show_run_log(opens.source, opens.run_id, opens.job_id, label,
                                             follow=False)

    app.call_after_refresh(show)
