"""Pipelines: recent runs, and the jobs and steps of the selected run, updated live."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.suggester import Suggester
from textual.widgets import DataTable, Static

from ... import render, runfilter
from ...actionspec import ActionSpec, by_name, pane_specs
from ...api.models import Facet, PipelineRun, RunStatus
from ...api.source import Capability, Source
from ...hub import Snapshot, Topic
from ..action_access import manager_of, run_refusal, run_status_refusal
from .. import columns
from ..base import ErrorBanner, Pane, focus_now, while_running
from ..tables import KeyedTable
from .catalog import FilterInput

#: The action kinds whose key is this pane's (re-run failed jobs, cancel): each targets the selected
#: run. A new run-targeted kind is a row of the action table, nothing here.
ACTIONS: tuple[ActionSpec, ...] = pane_specs("pipelines")

COLUMNS = [("service", "Service"), ("pipeline", "Pipeline"), ("number", "Run"),
           ("branch", "Branch"), ("commit", "Commit"), ("status", "Status"),
           ("duration", "Duration"), ("started", "Age"), ("trigger", "Trigger")]
#: Which columns leave first when the table is too narrow for all of them (the higher, the
#: sooner); those at 0 always stay. The run's detail shows every field of the selected run.
COLUMN_PRIORITY = {"service": 0, "status": 0, "number": 1, "started": 1, "duration": 2,
                   "branch": 3, "pipeline": 4, "trigger": 5, "commit": 6}
#: The widest some columns grow (cells): a long service name or trigger ends in an ellipsis.
COLUMN_WIDTHS = {"service": 28, "trigger": 32}
#: How many values of each field the picker (v) offers, the most common.
FACET_VALUES = 12
#: What the `/` box says before anything is typed.
FILTER_PLACEHOLDER = ("/ filter: status:failed branch:main actor:NAME event:pull_request "
                      "workflow:CI pr:N, -field:value leaves out, other words fuzzy · "
                      "tab completes · esc clears")


def run_key(run: PipelineRun) -> str:
    return f"{run.source}\x1f{run.id}"


def fit(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells with an ellipsis."""
    text.truncate(width, overflow="ellipsis")
    return text


def number_cell(run: PipelineRun) -> Text:
    """``#412``, and ``↻2`` for a second attempt (as `gh run list` numbers runs)."""
    out = Text("–" if run.number is None else f"#{run.number}", end="")
    if run.attempt > 1:
        out.append(f" ↻{run.attempt}", "yellow")
    return out


def trigger_cell(run: PipelineRun) -> Text:
    """What started the run, its pull request and who: ``pull_request #42 by alice``."""
    if not run.event:
        return render.text(run.trigger, max_len=60)
    out = render.text(run.event, max_len=40)
    if run.pull_request is not None:
        out.append(f" #{run.pull_request}", "bold")
    if run.actor:
        out.append(" by ", "dim")
        out.append_text(render.text(run.actor, max_len=40))
    return out


class RunSuggester(Suggester):
    """Completes the filter's last word: a field, or a value the listed runs have."""

    def __init__(self, pane: PipelinesPane) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.pane = pane

    async def get_suggestion(self, value: str) -> str | None:
        return runfilter.complete(value, self.pane.runs)


class RunFilterInput(FilterInput):
    """The `/` box of the Pipelines pane: tab takes the completion shown."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False,
                        id="pipelines.filter_complete")]

    def action_complete(self) -> None:
        if self._suggestion and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)


class PipelinesPane(Pane):
    pane_name = "pipelines"  # its entry in ui/panelist.py: title, key, aliases

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="pipelines.filter"),
        Binding("f", "only_service", "This service only", id="pipelines.only_service"),
        Binding("u", "failed_only", "Failed only", id="pipelines.failed_only"),
        Binding("l", "run_log", "Run log", id="pipelines.log"),
        Binding("L", "pick_log", "Job/step log", id="pipelines.pick_log"),
        Binding("v", "facets", "Fields", id="pipelines.facets"),
        Binding("o", "open_url", "Open in browser", id="pipelines.open"),
        *(Binding(s.key, f"act('{s.name}')", s.label, show=s.show, id=s.binding_id)
          for s in ACTIONS),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[PipelineRun] = []
        self.only_service = False
        #: Only the runs that failed (u; as "unhealthy only" in the Catalog and the matrix).
        self.failed_only = False
        self.query_text = ""
        self.run_filter = runfilter.RunFilter()
        self.selected: tuple[str, str] | None = None
        self.detail: PipelineRun | None = None
        #: The columns the table shows now (the ones that fit its width).
        self.shown_columns: list[str] = [key for key, _ in COLUMNS]

    def compose(self) -> ComposeResult:
        yield ErrorBanner(id="pipelines-errors")
        yield RunFilterInput(placeholder=FILTER_PLACEHOLDER, id="pipelines-filter",
                             suggester=RunSuggester(self))
        with Horizontal(classes="master-detail"):
            yield KeyedTable(id="pipelines-table")
            with VerticalScroll(id="pipelines-detail"):
                yield Static(id="pipelines-detail-body")
        yield Static(id="pipelines-status", classes="pane-status")

    @while_running
    def on_mount(self) -> None:
        self.query_one(KeyedTable).set_columns(COLUMNS, COLUMN_WIDTHS)
        self.query_one(FilterInput).display = False
        self.query_one(ErrorBanner).display = False

    def focus_main(self) -> None:
        self.query_one(KeyedTable).focus()

    def is_settled(self) -> bool:
        return bool(self.runs) and self.detail is not None and bool(self.detail.jobs)

    def pane_shown(self) -> None:
        self.subscribe(Topic.pipelines())
        if self.selected is not None:
            self.subscribe(Topic.pipeline_run(*self.selected))

    def pane_hidden(self) -> None:
        self.unsubscribe()

    def context_changed(self) -> None:
        if self.only_service:
            self._redraw()
        self._follow_service()

    def _follow_service(self) -> None:
        """A service chosen elsewhere: select its latest run (if one is listed)."""
        service = self.idp.service
        if not service or (self.detail is not None and self.detail.service == service):
            return
        for run in self._visible_runs():
            if run.service == service:
                self.query_one(KeyedTable).select_key(run_key(run))
                self._select(run)
                return

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        if snapshot.topic.kind == "pipelines":
            self.query_one(ErrorBanner).show_errors(snapshot.errors, what="runs",
                                                    kept=snapshot.kept)
            if snapshot.data is not None:
                self.runs = snapshot.data
            self._redraw()
        elif snapshot.topic.kind == "pipeline_run" and snapshot.topic.args == self.selected:
            if snapshot.data is not None:
                if self.detail is None or self.detail.status != snapshot.data.status:
                    self.refresh_bindings()  # (the run's actions depend on its status)
                self.detail = snapshot.data
            self._show_detail(snapshot)

    def _visible_runs(self) -> list[PipelineRun]:
        runs = self.runs
        if self.only_service and self.idp.service:
            runs = [r for r in runs if r.service == self.idp.service]
        if self.failed_only:
            runs = [r for r in runs if r.status is RunStatus.FAILED]
        if self.run_filter.active:
            runs = runfilter.apply(self.run_filter, runs)
        return runs

    def on_resize(self) -> None:
        if self.runs:
            self._redraw()

    def _fit_columns(self, table: KeyedTable, cells: list[tuple[Text, ...]]) -> list[int]:
        """Show the columns that fit the table's width (see ``COLUMN_PRIORITY``); their
        indexes in ``COLUMNS``."""
        keys = [key for key, _ in COLUMNS]
        room = table.size.width - 2  # its vertical scrollbar
        if room > 0:
            widths = columns.measure(COLUMNS, cells, COLUMN_WIDTHS)
            shown = columns.fitting(keys, COLUMN_PRIORITY, widths, room)
            if shown != self.shown_columns:
                self.shown_columns = shown
                labels = dict(COLUMNS)
                table.set_columns([(k, labels[k]) for k in shown], COLUMN_WIDTHS)
        return [keys.index(k) for k in self.shown_columns]

    def _redraw(self) -> None:
        now = self.idp.clock.now()
        runs = self._visible_runs()
        table = self.query_one(KeyedTable)
        cells = [self._cells(r, now) for r in runs]
        index = self._fit_columns(table, cells)
        rows = [(run_key(r), tuple(row[i] for i in index)) for r, row in zip(runs, cells)]
        table.sync(rows)
        if self.selected is None and runs:
            mine = [r for r in runs if r.service == self.idp.service]
            first = mine[0] if mine else runs[0]
            table.select_key(run_key(first))
            self._select(first)
        out = Text(end="")
        running = sum(1 for r in runs if r.status is RunStatus.RUNNING)
        failed = sum(1 for r in runs if r.status is RunStatus.FAILED)
        out.append(f"{len(runs)} runs", "bold")
        out.append(f"  {running} running", "cyan")
        waiting = sum(1 for r in runs if r.status is RunStatus.WAITING)
        if waiting:
            out.append(f"  {waiting} waiting for approval", "bold yellow")
        out.append(f"  {failed} failed", "red" if failed else "dim")
        if self.only_service:
            out.append("  only ")
            out.append_text(render.text(self.idp.service or "–", "bold"))
        if self.failed_only:
            out.append("  showing the failed runs only (u again: all)", "bold yellow")
        if self.run_filter.active:
            out.append("  filter ")
            out.append_text(render.text(self.run_filter.describe(), "bold yellow"))
        for error in self.run_filter.errors:
            out.append("  ")
            out.append_text(render.text(error, "bold red"))
        # The hints that fit after the counts and the filter, the most useful first (the
        # footer and ? list every key).
        hints = ["/ filter"]
        logs = self.check_action("run_log", ())
        if logs:
            hints.append("l run log")
        manager = manager_of(self.app)
        for spec in ACTIONS:
            if manager is not None and manager.can(spec.kind):
                hints.append(f"{self._key_display(spec)} {spec.label.lower()}")
        hints += ["v fields", *(["L job/step log"] if logs else []), "f this service only",
                  "u failed only", "o open in browser"]
        room = self.size.width - 2 - out.cell_len - 3
        fitting = columns.hints_that_fit(hints, room) if self.size.width else hints
        if fitting:
            out.append("   " + " · ".join(fitting), "dim")
        self.query_one("#pipelines-status", Static).update(out, layout=False)
        if self.detail is not None:
            self._show_detail(None)
        screen = self.app.screen
        if getattr(screen, "pane", None) is self and hasattr(screen, "show_facets"):
            screen.show_facets(self.current_facets())  # the field picker, open over the pane

    @staticmethod
    def _cells(r: PipelineRun, now: Any) -> tuple[Text, ...]:
        return (
            render.text(r.service, "bold"),
            render.text(r.pipeline),
            number_cell(r),
            fit(render.text(r.branch, max_len=120), 16),
            render.text(r.commit[:7], "dim"),
            render.run_status(r.status),
            Text(render.duration(r.duration(now) if r.status is not RunStatus.QUEUED else None)),
            Text(render.ago(r.started_at, now).removesuffix(" ago"), "dim"),
            trigger_cell(r),
        )

    def _select(self, run: PipelineRun) -> None:
        key = (run.source, run.id)
        if key == self.selected:
            return
        if self.selected is not None:
            self.unsubscribe("pipeline_run")
        self.selected = key
        self.detail = run
        self.refresh_bindings()  # (the run's actions depend on its status)
        self._show_detail(None)
        if self.is_visible_pane:
            self.subscribe(Topic.pipeline_run(*key))

    @property
    def is_visible_pane(self) -> bool:
        return bool(self._subscriptions)

    def _show_detail(self, snapshot: Snapshot[Any] | None) -> None:
        body = self.query_one("#pipelines-detail-body", Static)
        run = self.detail
        if run is None:
            body.update(Text("Select a run.", "dim"))
            return
        now = self.idp.clock.now()
        out = Text(end="")
        out.append_text(render.text(run.service, "bold underline"))
        out.append("  ")
        out.append_text(render.run_status(run.status))
        out.append("\n")
        number = "" if run.number is None else f"#{run.number}"
        if run.attempt > 1:
            number = f"{number} · attempt {run.attempt}".removeprefix(" · ")
        event = run.event + (f" · PR #{run.pull_request}" if run.pull_request is not None
                             else "")
        for label, value in (("Run", run.id), ("Number", number), ("Pipeline", run.pipeline),
                             ("Branch", run.branch), ("Commit", run.commit),
                             ("Message", run.message), ("Event", event), ("Actor", run.actor),
                             ("Trigger", "" if run.event else run.trigger),
                             ("Version", run.version or ""), ("Source", run.source)):
            if value:
                out.append_text(render.label(label, 9))
                out.append_text(render.text(value, max_len=300))
                out.append("\n")
        created = run.created_at
        if created is not None and abs(run.started_at - created).total_seconds() >= 1:
            out.append_text(render.label("Created", 9))
            out.append(f"{created:%Y-%m-%d %H:%M:%S} ({render.ago(created, now)})\n")
        out.append_text(render.label("Started", 9))
        out.append(f"{run.started_at:%Y-%m-%d %H:%M:%S} ({render.ago(run.started_at, now)})\n")
        out.append_text(render.label("Duration", 9))
        out.append(render.duration(run.duration(now)) + "\n")
        if snapshot is not None and snapshot.errors:
            for failure in snapshot.errors.values():
                out.append("\n✖ ", "red")
                out.append_text(render.text(f"{failure.error_class}: {failure.message}",
                                            max_len=300))
        if not run.jobs:
            out.append("\nJobs: loading…\n" if snapshot is None else "\nNo jobs reported.\n",
                       "dim")
        else:
            out.append("\nJobs\n", "bold")
            for job in run.jobs:
                out.append("  ")
                out.append_text(render.run_status(job.status))
                out.append(" ")
                out.append_text(render.text(job.name, "bold"))
                if job.started_at is not None and job.status is not RunStatus.QUEUED:
                    end = job.finished_at or now
                    out.append(f"  {render.duration(end - job.started_at)}", "dim")
                out.append("\n")
                for step in job.steps:
                    icon, style = render.RUN_STYLES.get(step.status, ("?", ""))
                    out.append(f"      {icon} ", style)
                    out.append_text(render.text(step.name, "" if step.status.finished else "dim"))
                    if step.started_at is not None and step.status is not RunStatus.QUEUED:
                        end = step.finished_at or now
                        out.append(f"  {render.duration(end - step.started_at)}", "dim")
                    out.append("\n")
        body.update(render.hanging(out))

    @on(DataTable.RowHighlighted, "#pipelines-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key != self.query_one(KeyedTable).cursor_key:
            return  # a highlight the table has moved on from (rows were re-synced)
        if not self.is_current:
            return  # rows drawn in a hidden pane: not the user's choice
        for run in self.runs:
            if run_key(run) == key:
                self._select(run)
                if run.service != self.idp.service and not self.only_service:
                    self.idp.service = run.service
                break

    @on(FilterInput.Changed, "#pipelines-filter")
    def _filter_changed(self, event: FilterInput.Changed) -> None:
        self.query_text = event.value
        self.run_filter = runfilter.parse(event.value)
        self._redraw()

    @on(FilterInput.Submitted, "#pipelines-filter")
    def _filter_submitted(self) -> None:
        self.query_one(KeyedTable).focus()

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        focus_now(field)

    def _selected_run(self) -> PipelineRun | None:
        if self.selected is None:
            return None
        if self.detail is not None and (self.detail.source, self.detail.id) == self.selected:
            return self.detail
        return next((r for r in self.runs if (r.source, r.id) == self.selected), None)

    def _key_display(self, spec: ActionSpec) -> str:
        """The key that runs ``spec`` here (as remapped in ``[keys]``), as the footer shows it."""
        for bindings in self._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.id == spec.binding_id:
                    return self.app.get_key_display(binding)
        return spec.key

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            # Offered on a run it applies to (the row's run-status rule); a run whose source
            # cannot do it says so (never a silent key).
            spec = by_name(str(parameters[0])) if parameters else None
            run = self._selected_run() if spec is not None else None
            return spec is not None and (run is None or run_status_refusal(spec, run) is None)
        if action in ("run_log", "pick_log"):
            return self._gives_logs()
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why a key ``check_action`` hides does nothing now (the app says it when pressed)."""
        if action == "act":
            spec = by_name(str(parameters[0])) if parameters else None
            run = self._selected_run() if spec is not None else None
            if spec is not None and run is not None:
                return run_refusal(self.app, spec, run)
        if action in ("run_log", "pick_log") and not self._gives_logs():
            names = ", ".join(render.sanitize(r.name, max_len=40)
                              for r in self.hub.runners_for(Capability.PIPELINES))
            return f"No source of pipeline runs gives their logs ({names or 'none configured'})"
        return None

    def _gives_logs(self) -> bool:
        return any(type(r.source).pipeline_logs is not Source.pipeline_logs
                   for r in self.hub.runners_for(Capability.PIPELINES))

    def action_run_log(self) -> None:
        """The selected run's log in the Logs pane (its failed job's, if one failed)."""
        run = self._selected_run()
        if run is None:
            self.app.notify("Select a run first", severity="warning")
            return
        failed = [j for j in run.jobs if j.status is RunStatus.FAILED and j.id]
        job = failed[0] if len(failed) == 1 else None
        label = f"{run.service} {run.pipeline} {run.id}" + (f" · {job.name}" if job else "")
        follow = not run.status.finished
        self.idp.show_pane("logs")

        def show() -> None:
            from .logs import LogsPane  # noqa: PLC0415

            self.app.query_one(LogsPane).show_run_log(run.source, run.id, job.id if job else "",
                                                      label, follow=follow,
                                                      steps=job.steps if job else ())

        self.app.call_after_refresh(show)

    def action_pick_log(self) -> None:
        """Choose the job (and step) of the selected run whose log the Logs pane shows."""
        from ..dialogs.jobs import pick_job_log  # noqa: PLC0415 - the modals load on first use

        pick_job_log(self.app, self._selected_run())

    def action_act(self, name: str) -> None:
        """A key of the action table on this pane (``name`` is the row's): the selected run."""
        from ..dialogs import open_pipeline_action  # noqa: PLC0415 - the modals load on first use

        spec = by_name(name)
        if spec is None or spec.pane != "pipelines":
            return
        run = self._selected_run()
        if run is None:
            self.app.notify("Select a run first", severity="warning")
            return
        open_pipeline_action(self.app, spec.kind, run)

    def action_facets(self) -> None:
        """Pick a value of a field (status, branch, actor, event, workflow…) to filter by."""
        from ..screens import FacetScreen  # noqa: PLC0415

        def chosen(token: str | None) -> None:
            if token:
                self.add_filter(token)

        self.app.push_screen(FacetScreen(self, self.run_filter.chosen(), "Filter the runs by",
                                         "branch:NAME…"), chosen)

    def current_facets(self) -> list[Facet]:
        """The values the listed runs have for each field, with how many runs have each (the
        most common of each)."""
        return runfilter.facets(self.runs, FACET_VALUES)

    def add_filter(self, token: str) -> None:
        """Filter by ``field:value`` too (replacing the field's other values)."""
        field = self.query_one(FilterInput)
        field.value = runfilter.with_term(self.query_text, token)
        field.display = True
        self.query_text = field.value
        self.run_filter = runfilter.parse(field.value)
        self._redraw()

    def action_open_url(self) -> None:
        """The selected run's page in the browser (where the source gave one)."""
        run = self._selected_run()
        if run is None:
            self.app.notify("Select a run first", severity="warning")
            return
        url = runfilter.web_url(run)
        name = f"{run.service} {run.pipeline} " + (f"#{run.number}" if run.number else run.id)
        if url is None:
            said = ("has no web address (its source gave none)" if not run.url.strip()
                    else f"has an address that is not a web page: {run.url}")
            self.app.notify(render.sanitize(f"Run {name} {said}", max_len=300),
                            severity="warning", markup=False)
            return
        self.app.open_url(url)
        self.app.notify(render.sanitize(f"Opening {name} in the browser: {url}", max_len=300),
                        markup=False)

    def action_failed_only(self) -> None:
        """Show only the runs that failed (again: every run)."""
        self.failed_only = not self.failed_only
        self._redraw()

    def action_only_service(self) -> None:
        self.only_service = not self.only_service
        self._redraw()
