"""Self-service actions in the dashboard: the deploy/rollback/scale/restart modal, the
provisioning modal and the Activity screen.

Everything goes through ``app.hub.actions`` (:class:`idp_tui.actions.ActionManager`): the modals
never call a source. The manager decides the policy, writes the audit log and runs the action; a
modal only shows the plan and the decision, collects what the policy asks for (the environment's
name typed and a reason), submits once, and then follows the run's progress events. Closing a modal
never stops the run: the Activity screen (or the same key again) shows it with every event so far.

All text that comes from a source (names, versions, change messages, event messages, errors) is
drawn through :mod:`idp_tui.render`, never as markup. Secrets typed into provisioning forms stay in
password inputs, are cleared once the action has started, and are shown nowhere: runs are described
by their ``public_params`` (secrets replaced by ``***``).
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import Integer, Number
from textual.widget import Widget
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Button, DataTable, Input, ProgressBar, Select, Static, Switch

from .. import render
from ..actions import MAX_EVENTS, ActionManager, ActionRun, PlanResult, TemplateEntry
from ..api.actions import ActionKind, ActionRequest, ActionState, VersionOption
from ..api.models import PipelineRun
from ..api.source import Capability
from ..hub import Failure, classify
from ..policy import Decision
from .action_access import (  # noqa: F401 - re-exported
    ACTION_KINDS,
    VERBS,
    binding_state,
    manager_of,
    read_only_notice,
    read_only_reason,
)
from .base import scroll_bindings
from .tables import KeyedTable

if TYPE_CHECKING:
    from .app import IdpApp

#: App action name → the kind of action it opens.
MAX_REPLICAS = 10_000


def running_run(manager: ActionManager, kind: ActionKind, service: str,
                environment: str | None) -> ActionRun | None:
    """The newest unfinished ``kind`` of ``service`` (in ``environment`` if there is one there)."""
    candidates = [r for r in manager.runs.values()
                  if r.request.kind is kind and r.request.service == service
                  and not r.state.finished]
    here = [r for r in candidates if r.request.environment == environment]
    chosen = here or candidates
    return chosen[-1] if chosen else None


def open_action(app: IdpApp, kind: ActionKind) -> None:
    """Open the modal for ``kind`` on the selected service and environment (the app's ``d``…)."""
    manager = manager_of(app)
    if manager is None or not manager.can(kind):
        app.notify(f"No configured source can {kind.value}", severity="warning", markup=False)
        return
    reason = read_only_reason(manager, kind)
    if reason is not None:
        app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
        return
    watch_outcomes(app, manager)
    if kind is ActionKind.PROVISION:
        app.push_screen(ProvisionModal())
        return
    service, environment = app.service, app.environment
    if not service:
        app.notify("Select a service first", severity="warning")
        return
    existing = running_run(manager, kind, service, environment)
    if existing is not None:
        app.push_screen(ActionModal.for_run(existing))
        return
    if not environment:
        app.notify("Select an environment first", severity="warning")
        return
    replicas = None
    platform = app.platform
    if platform is not None:
        dep = platform.deployments.get((service, environment))
        replicas = dep.replicas_desired if dep is not None else None
    app.push_screen(ActionModal(kind, service, environment,
                                environments=app.environment_names(), replicas=replicas))


def open_pipeline_action(app: Any, kind: ActionKind, pipeline_run: PipelineRun) -> None:
    """Re-run the failed jobs of, or cancel, a pipeline run (the Pipelines pane's keys)."""
    manager = manager_of(app)
    able = [r for r in manager.hub.runners_for(Capability.ACTIONS)
            if kind in r.source.actions] if manager is not None else []
    if manager is None or pipeline_run.source not in {r.name for r in able}:
        what = "re-run" if kind is ActionKind.RERUN else "cancel"
        app.notify(f"{render.sanitize(pipeline_run.source or 'This source', max_len=40)} cannot "
                   f"{what} its pipeline runs", severity="warning", markup=False)
        return
    reason = read_only_reason(manager, kind)
    if reason is not None:
        app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
        return
    watch_outcomes(app, manager)
    for existing in manager.runs.values():
        r = existing.request
        if r.kind is kind and r.run_id == pipeline_run.id and not existing.state.finished:
            app.push_screen(RunActionModal.for_run(existing))
            return
    app.push_screen(RunActionModal(kind, pipeline_run))


def open_run(app: Any, run: ActionRun) -> None:
    """Show ``run`` in its modal (from the Activity screen)."""
    if run.request.kind is ActionKind.PROVISION:
        app.push_screen(ProvisionModal(run=run))
    elif run.request.kind in (ActionKind.RERUN, ActionKind.CANCEL):
        app.push_screen(RunActionModal.for_run(run))
    else:
        app.push_screen(ActionModal.for_run(run))


def open_activity(app: Any) -> None:
    if isinstance(app.screen, ActivityScreen):
        return
    manager = manager_of(app)
    if manager is None:
        app.notify("No configured source can run actions", severity="warning")
        return
    watch_outcomes(app, manager)
    app.push_screen(ActivityScreen())


def watch_outcomes(app: Any, manager: ActionManager) -> None:
    """Once per app: a notification when an action ends (title and outcome only, no parameters)."""
    if getattr(app, "_action_outcomes_watched", False):
        return
    app._action_outcomes_watched = True
    told: set[str] = set()

    def listener(run: ActionRun) -> None:
        if not run.state.finished or run.id in told:
            return
        told.add(run.id)
        severity = {ActionState.SUCCEEDED: "information",
                    ActionState.CANCELLED: "warning"}.get(run.state, "error")
        message = f"{render.sanitize(run.title, max_len=120)}: {run.state.value}"
        if run.error and run.state is not ActionState.SUCCEEDED:
            message += f" — {render.sanitize(run.error, max_len=200)}"
        try:
            app.notify(message, severity=severity, markup=False, timeout=6)
        except Exception:  # noqa: BLE001 - the app is shutting down
            pass

    manager.watch(listener)


# Messages and shared widgets ---------------------------------------------------------------------

class ActionUpdated(Message):
    """A run changed (new event, new state): posted by the manager's listener."""

    def __init__(self, run: ActionRun) -> None:
        super().__init__()
        self.run = run


class SubmitFailed(Message):
    """``submit`` itself raised (it should not): shown in the modal."""

    def __init__(self, failure: Failure) -> None:
        super().__init__()
        self.failure = failure


def decision_text(decision: Decision | None) -> Text:
    out = Text(end="")
    if decision is None:
        return out
    if decision.allowed and not decision.needs_confirmation:
        out.append("✔ allowed", "bold green")
    elif decision.allowed:
        out.append("✔ allowed: ", "bold green")
        out.append_text(render.text(decision.message, max_len=500))
    elif decision.needs_confirmation:
        out.append("⚠ needs typed confirmation: ", "bold yellow")
        out.append_text(render.text(decision.message, "yellow", max_len=500))
    else:
        out.append(f"✖ denied ({decision.rule}): ", "bold red")
        out.append_text(render.text(decision.message, "red", max_len=500))
    return out


def failure_text(failure: Failure, what: str = "cannot plan") -> Text:
    out = Text(end="")
    out.append(f"✖ {what}: ", "bold red")
    out.append(f"{failure.error_class}: ", "red")
    out.append_text(render.text(failure.message, max_len=1000, multiline=True))
    if failure.hint:
        out.append("\n")
        out.append_text(render.text(failure.hint, "dim italic", max_len=500, multiline=True))
    return out


def plan_text(result: PlanResult | None, kind: ActionKind, *, waiting: str = "") -> Text:
    """The "what changes" panel: versions, changes, other environments, creations, policy."""
    out = Text(end="")
    out.append("What changes\n", "bold underline")
    if result is None:
        out.append(waiting or "Working out what changes…", "dim")
        return out
    plan = result.plan
    if plan is not None:
        out.append_text(render.text(plan.summary, "bold", max_len=300, multiline=True))
        if plan.current_version or plan.target_version:
            out.append("\nVersion   ", "dim")
            out.append_text(render.text(plan.current_version or "none", "bold", max_len=60))
            out.append("  →  ", "bold")
            out.append_text(render.text(plan.target_version or "?", "bold green", max_len=60))
            if plan.current_version and plan.current_version == plan.target_version:
                out.append("  (already running)", "yellow")
        if plan.changes:
            out.append(f"\nChanges ({len(plan.changes)})", "dim")
            for change in plan.changes[:40]:
                out.append("\n  ")
                out.append_text(render.text(change.id[:12], "cyan", max_len=12))
                out.append(" ")
                out.append_text(render.text(change.message, max_len=120))
                if change.author:
                    out.append(" — ", "dim")
                    out.append_text(render.text(change.author, "dim", max_len=40))
            if len(plan.changes) > 40:
                out.append(f"\n  … and {len(plan.changes) - 40} more", "dim")
        if kind is ActionKind.DEPLOY or plan.running_elsewhere:
            out.append("\nTarget runs in  ", "dim")
            if plan.running_elsewhere:
                out.append_text(render.text(", ".join(plan.running_elsewhere), "bold",
                                            max_len=300))
            else:
                out.append("no other environment yet", "dim")
        if plan.creates:
            out.append(f"\nWill create ({len(plan.creates)})", "dim")
            for resource in plan.creates[:40]:
                out.append("\n  + ", "green")
                out.append_text(render.text(resource.kind, "dim", max_len=40))
                out.append(" ")
                out.append_text(render.text(resource.name, "bold", max_len=120))
                for key, value in list(resource.details.items())[:12]:
                    out.append("\n      ")
                    out.append_text(render.text(key, "dim", max_len=30))
                    out.append(": ", "dim")
                    out.append_text(render.text(value, max_len=200))
        for note in plan.notes[:20]:
            out.append("\n• ", "dim")
            out.append_text(render.text(note, max_len=300, multiline=True))
        extra = []
        if plan.estimated_duration is not None:
            extra.append(f"about {render.duration(plan.estimated_duration)}")
        extra.append("can be cancelled" if plan.cancellable else "cannot be cancelled once started")
        out.append("\n" + " · ".join(extra), "dim")
    if result.failure is not None:
        out.append("\n")
        out.append_text(failure_text(result.failure))
    if result.decision is not None:
        out.append("\n\nPolicy  ", "bold")
        out.append_text(decision_text(result.decision))
    if result.source:
        out.append("\nSource  ", "dim")
        out.append_text(render.text(result.source, "dim", max_len=60))
    return out


def run_summary(run: ActionRun) -> Text:
    """What was asked: kind, target, public parameters (secrets as ***), reason, who, decision."""
    r = run.request
    out = Text(end="")

    def row(label: str, value: object, style: str = "") -> None:
        out.append(f"\n{label:<12}", "dim")
        out.append_text(render.text(value, style, max_len=300))

    out.append_text(render.text(run.title, "bold", max_len=300))
    row("action", r.kind.value)
    if r.service:
        row("service", r.service, "bold")
    if r.environment:
        row("environment", r.environment, "bold")
    if r.version:
        row("version", r.version)
    if r.replicas is not None:
        row("replicas", r.replicas)
    if r.template:
        row("template", r.template)
    if r.run_id:
        row("run", r.run_id)
    for key, value in run.public_params.items():
        row(f"  {render.sanitize(key, max_len=10)}", value)
    if r.reason:
        row("reason", r.reason)
    row("by", r.actor or "–")
    if run.source:
        row("source", run.source)
    out.append(f"\n{'policy':<12}", "dim")
    out.append_text(decision_text(run.decision))
    return out


class EventLines(ScrollView, can_focus=True):
    """An action's events, wrapped to the width, drawn with the line API (only the rows on
    screen); it follows the newest event unless scrolled up. At most ``max_lines`` events are
    kept (the run itself keeps MAX_EVENTS)."""

    # (a gutter for the scrollbar from the start: the width the rows are wrapped to stays put)
    DEFAULT_CSS = """
    EventLines {
        scrollbar-gutter: stable;
        overflow-x: hidden;
    }
    """

    BINDINGS = scroll_bindings("events")
    #: What the keys screen calls it.
    HELP_SCOPE = "events"

    def __init__(self, max_lines: int = MAX_EVENTS + 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_lines = max_lines
        self.lines: list[Text] = []
        #: The events' rows at ``_width`` (None: to be wrapped again).
        self._rows: list[Text] | None = None
        self._width = 0
        self._strips: dict[int, Strip] = {}

    def clear(self) -> None:
        self.lines = []
        self._rows, self._strips = None, {}
        self._update_size(following=True)

    def write(self, line: Text) -> None:
        self.write_lines([line])

    def write_lines(self, lines: list[Text]) -> None:
        if not lines:
            return
        following = self.scroll_offset.y >= self.max_scroll_y
        self.lines.extend(lines)
        if len(self.lines) > self.max_lines:
            del self.lines[:len(self.lines) - self.max_lines]
            self._rows = None  # (wrapped again: the first rows are gone)
        elif self._rows is not None:
            self._rows.extend(self._wrap(lines))
        self._update_size(following)

    def _wrap(self, lines: list[Text]) -> list[Text]:
        width = max(self._width, 1)
        console = self.app.console
        rows: list[Text] = []
        for line in lines:
            rows.extend(line.wrap(console, width, overflow="fold"))
        return rows

    def _all_rows(self) -> list[Text]:
        if self._rows is None:
            self._rows = self._wrap(self.lines)
            self._strips = {}
        return self._rows

    def _update_size(self, following: bool) -> None:
        self.virtual_size = Size(0, len(self._all_rows()))
        if following:
            self.scroll_end(animate=False, immediate=False)
        self.refresh()

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            following = self.scroll_offset.y >= self.max_scroll_y
            self._width, self._rows = width, None
            self._update_size(following)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        rows = self._all_rows()
        if index >= len(rows):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            row = rows[index].copy()
            row.no_wrap, row.end = True, ""
            row.stylize_before(style)
            strip = Strip(list(row.render(self.app.console)), row.cell_len)
            self._strips[index] = strip
        return strip.crop_extend(0, width, style)


class RunProgress(Vertical):
    """A run's state, a progress bar from ``done/total`` and its events, kept in step by id."""

    DEFAULT_CLASSES = "run-progress"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._run_id: str | None = None
        self._written = 0

    def compose(self) -> ComposeResult:
        yield Static(classes="run-state")
        yield ProgressBar(total=1, show_eta=False, classes="run-bar")
        yield EventLines(classes="run-events")
        yield Static(classes="run-error")

    def show_run(self, run: ActionRun | None, now: datetime) -> None:
        log = self.query_one(EventLines)
        if run is None:
            self.display = False
            self._run_id, self._written = None, 0
            log.clear()
            return
        self.display = True
        state = Text(end="")
        state.append_text(render.action_state(run.state))
        state.append("  ")
        state.append_text(render.text(run.title, "bold", max_len=200))
        end = run.finished_at or now
        took = render.duration(end - run.created_at)
        state.append(f"  started {run.created_at:%H:%M:%S} · {took}", "dim")
        self.query_one(".run-state", Static).update(state)
        bar = self.query_one(ProgressBar)
        progress = run.progress
        if progress is not None:
            bar.update(total=progress[1], progress=progress[0])
        elif run.state is ActionState.SUCCEEDED:
            bar.update(total=1, progress=1)
        else:
            bar.update(total=1, progress=0)
        total = run.dropped_events + len(run.events)
        if run.id != self._run_id or total < self._written:
            log.clear()
            self._run_id, self._written = run.id, run.dropped_events
            if run.dropped_events:
                log.write(Text(f"… {run.dropped_events} earlier events not kept", "dim"))
        new = total - self._written
        if new > 0:
            log.write_lines([render.action_event(event) for event in run.events[-new:]])
            self._written = total
        error = self.query_one(".run-error", Static)
        if run.error and run.state is not ActionState.SUCCEEDED:
            message = Text(end="")
            message.append(f"{run.state.value}: ", "bold red")
            message.append_text(render.text(run.error, "red", max_len=2000, multiline=True))
            error.update(message)
            error.display = True
        else:
            error.display = False


class ConfirmBox(Vertical):
    """The typed environment name (protected environments) and the reason."""

    def compose(self) -> ComposeResult:
        yield Static(classes="field-label", id="confirm-help")
        yield Input(placeholder="type the environment's name to confirm", id="confirm-name")
        yield Input(placeholder="reason (optional): ticket, incident, why now", id="confirm-reason",
                    max_length=500)

    def setup(self, environment: str | None, needed: bool) -> None:
        name = self.query_one("#confirm-name", Input)
        reason = self.query_one("#confirm-reason", Input)
        name.display = needed
        help_text = Text(end="")
        if needed and environment:
            help_text.append("Protected: ", "bold yellow")
            help_text.append("type ", "yellow")
            help_text.append_text(render.text(environment, "bold", max_len=60))
            help_text.append(" and give a reason to confirm", "yellow")
            name.placeholder = f"type {render.sanitize(environment, max_len=60)} to confirm"
            reason.placeholder = "reason (required): ticket, incident, why now"
        else:
            help_text.append("Reason", "dim")
            reason.placeholder = "reason (optional): ticket, incident, why now"
        self.query_one("#confirm-help", Static).update(help_text)

    @property
    def typed(self) -> str:
        return self.query_one("#confirm-name", Input).value.strip()

    @property
    def reason(self) -> str:
        return self.query_one("#confirm-reason", Input).value.strip()


# The modals --------------------------------------------------------------------------------------

class _ActionDialog(ModalScreen[None]):
    """What the deploy-like modal and the provisioning modal share: one request id, submit once,
    follow the run, cancel, close without stopping it."""

    BINDINGS = [
        Binding("escape", "close", "Close (the action keeps running)", id="actions.close"),
        Binding("c", "cancel_run", "Cancel action", id="actions.cancel"),
    ]

    kind: ActionKind

    def __init__(self, run: ActionRun | None = None) -> None:
        super().__init__()
        #: The idempotency key: made once per modal, so pressing confirm twice starts one action.
        self.request_id = run.id if run is not None else uuid.uuid4().hex
        self.run: ActionRun | None = run
        self.reopened = run is not None
        self.plan_result: PlanResult | None = None
        self._submitting = False
        self._unwatch: Callable[[], None] | None = None

    @property
    def manager(self) -> ActionManager:
        manager = manager_of(self.app)
        assert manager is not None
        return manager

    @property
    def started(self) -> bool:
        """A request has been sent (and not denied): the form is closed."""
        return self._submitting or (self.run is not None and self.run.state is not
                                    ActionState.DENIED)

    def _now(self) -> datetime:
        return self.app.clock.now()  # type: ignore[attr-defined, no-any-return]

    def is_settled(self) -> bool:
        """No load or plan is under way and what the modal shows first has arrived (screenshots
        and tests wait on this)."""
        if any(w.node is self and not w.is_finished for w in self.app.workers):
            return False
        return self.reopened or self._ready()

    def _ready(self) -> bool:
        return True

    def _watch_runs(self) -> None:
        def listener(run: ActionRun) -> None:
            if run.id == self.request_id:
                self.post_message(ActionUpdated(run))

        self._unwatch = self.manager.watch(listener)

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _buttons(self, verb: str) -> ComposeResult:
        with Horizontal(classes="action-buttons"):
            yield Button(verb, id="action-confirm", variant="warning", disabled=True)
            yield Button("Cancel action", id="action-cancel", variant="error")
            yield Button("Close", id="action-close")

    def _side(self) -> ComposeResult:
        with Vertical(id="action-side"):
            with VerticalScroll(id="action-plan-box"):
                yield Static(id="action-plan")
            yield RunProgress(id="action-progress")

    # Submitting ----------------------------------------------------------------------------------

    def _submit(self, request: ActionRequest) -> None:
        if self.started:
            return  # pressed twice: the first press is already on its way
        self._submitting = True
        self.query_one("#action-confirm", Button).disabled = True
        self._set_status(Text("Starting…", "bold"))
        # On the app, not this screen: closing the modal must not cancel the submission.
        self.app.run_worker(self._do_submit(request), exit_on_error=False, group="action-submit")

    async def _do_submit(self, request: ActionRequest) -> None:
        try:
            run = await self.manager.submit(request)
        except Exception as exc:  # noqa: BLE001 - submit reports failures as runs; just in case
            self.post_message(SubmitFailed(classify("hub", exc)))
            return
        self.post_message(ActionUpdated(run))

    def on_submit_failed(self, message: SubmitFailed) -> None:
        self._submitting = False
        self._set_status(failure_text(message.failure, "not started"))
        self._refresh_confirm()

    def on_action_updated(self, message: ActionUpdated) -> None:
        if message.run.id != self.request_id:
            return
        self.run = message.run
        self._submitting = False
        if self.run.state is ActionState.DENIED:
            denied = self.run
            # Nothing started: the user may fix what the policy asked for and try again, as a new
            # request (the denied one stays in the Activity screen and the audit log).
            self.run = None
            self.request_id = uuid.uuid4().hex
            status = Text(end="")
            status.append("✖ denied: ", "bold red")
            status.append_text(render.text(denied.error or denied.decision.message, "red",
                                           max_len=500))
            self._set_status(status)
            self._denied(denied)
            self._refresh_confirm(keep_status=True)
            return
        self._started()
        self._show_run()

    def _started(self) -> None:
        """The run exists: close the form. Override to clear what must not stay (secrets)."""

    def _denied(self, run: ActionRun) -> None:
        """The hub denied the request. Override to show what the policy asks for."""

    def _show_run(self) -> None:
        run = self.run
        if run is None:
            return
        self.query_one(RunProgress).show_run(run, self._now())
        self.query_one("#action-confirm", Button).display = False
        cancellable = run.cancellable and not run.state.finished
        self.query_one("#action-cancel", Button).display = cancellable
        self._lock_form()
        focused = self.focused
        if focused is None or focused.disabled or not focused.display:
            cancel = self.query_one("#action-cancel", Button)
            (cancel if cancel.display else self.query_one("#action-close", Button)).focus()
        status = Text(end="")
        if run.state.finished:
            status.append_text(render.action_state(run.state))
            status.append("  esc closes", "dim")
        else:
            status.append("Running. ", "bold")
            status.append("esc closes this window; the action keeps going (A: activity).", "dim")
        self._set_status(status)
        if self.plan_result is None and run.plan is not None:
            self._show_plan(PlanResult(run.source, run.decision, run.plan))
        self.refresh_bindings()

    def _lock_form(self) -> None:
        """Disable the inputs once the request is sent. Override."""

    def _set_status(self, value: Text) -> None:
        self.query_one("#action-status", Static).update(value)

    def _show_plan(self, result: PlanResult | None, waiting: str = "") -> None:
        self.query_one("#action-plan", Static).update(plan_text(result, self.kind,
                                                                waiting=waiting))

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        """Enable the confirm button when the form is complete. Override."""

    # Buttons and keys ----------------------------------------------------------------------------

    @on(Button.Pressed, "#action-close")
    def _close_pressed(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#action-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel_run()

    def action_close(self) -> None:
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            run = self.run
            return run is not None and run.cancellable and not run.state.finished
        return True

    def action_cancel_run(self) -> None:
        run = self.run
        if run is None:
            return
        answer = self.manager.cancel(run.id)
        self.notify(f"{render.sanitize(run.title, max_len=120)}: {answer}", markup=False)


class _ConfirmedDialog(_ActionDialog):
    """A dialog whose confirm button is enabled by ``_confirm_state()`` and sends
    ``_request(confirmed=True)`` (the deploy-like modal and the pipeline-run one)."""

    def _confirm_state(self) -> tuple[bool, Text]:
        """Whether the request can be sent, and the status line saying so. Override."""
        raise NotImplementedError

    def _request(self, *, confirmed: bool = False) -> ActionRequest | None:
        """The request the form describes (``confirmed``: with what the policy asked). Override."""
        raise NotImplementedError

    kind: ActionKind
    service: str

    def _title(self) -> Text:
        """The verb and the service ("Deploy payments", "Cancel run payments")."""
        title = Text(end="")
        title.append(f"{VERBS[self.kind]} ", "bold")
        title.append_text(render.text(self.service, "bold cyan", max_len=60))
        return title

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        if self.run is not None and self.run.state is not ActionState.DENIED:
            return
        ok, why = self._confirm_state()
        self.query_one("#action-confirm", Button).disabled = not ok
        if not keep_status:
            self._set_status(why)

    @on(Button.Pressed, "#action-confirm")
    def _confirm_pressed(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        """Send the request (once): what the confirm button does."""
        if self.started:
            return
        ok, why = self._confirm_state()
        if not ok:
            self._set_status(why)
            self.app.bell()
            return
        request = self._request(confirmed=True)
        if request is not None:
            self._submit(request)


class ActionModal(_ConfirmedDialog):
    """Deploy, rollback, scale or restart one service in one environment."""

    def __init__(self, kind: ActionKind, service: str, environment: str, *,
                 environments: list[str] | None = None, replicas: int | None = None,
                 run: ActionRun | None = None) -> None:
        super().__init__(run)
        self.kind = kind
        self.service = service
        self.environment = environment
        self.environments = list(dict.fromkeys([*(environments or []), environment]))
        self.replicas = replicas
        self.versions: list[VersionOption] | None = None
        self.version: str | None = None

    def _ready(self) -> bool:
        return self.plan_result is not None or self.versions == []

    @classmethod
    def for_run(cls, run: ActionRun) -> ActionModal:
        r = run.request
        return cls(r.kind, r.service or "", r.environment or "", run=run)

    def compose(self) -> ComposeResult:
        with Vertical(id="action-dialog", classes="dialog action-dialog"):
            yield Static(self._title(), classes="dialog-title")
            with Horizontal(classes="action-body"):
                with Vertical(id="action-form", classes="action-form"):
                    if self.run is not None:
                        yield Static(run_summary(self.run), id="action-summary")
                    else:
                        with Vertical(id="action-fields"):
                            yield Static(Text("Service", "dim"), classes="field-label")
                            yield Static(render.text(self.service, "bold", max_len=80),
                                         id="action-service")
                            yield Static(Text("Target environment", "dim"), classes="field-label")
                            yield Select([(render.text(e, max_len=60), e)
                                          for e in self.environments],
                                         value=self.environment, allow_blank=False,
                                         id="action-env")
                            if self.kind is ActionKind.DEPLOY:
                                yield Static(Text.assemble(("Version", "dim"),
                                                           ("  newest first · ", "dim"),
                                                           ("●", "green"),
                                                           (" runs there now", "dim")),
                                             classes="field-label")
                                yield KeyedTable(id="action-versions")
                            if self.kind is ActionKind.SCALE:
                                yield Static(Text(f"Replicas (0–{MAX_REPLICAS:,})", "dim"),
                                             classes="field-label")
                                current = "" if self.replicas is None else str(self.replicas)
                                yield Input(value=current, type="integer", id="action-replicas",
                                            validators=[Integer(minimum=0, maximum=MAX_REPLICAS)],
                                            placeholder="replicas")
                                yield Static(classes="field-error", id="action-replicas-error")
                        yield ConfirmBox(id="action-confirm-box")
                    yield Static(id="action-status")
                    yield from self._buttons(VERBS[self.kind])
                yield from self._side()

    def on_mount(self) -> None:
        self._watch_runs()
        self.query_one("#action-cancel", Button).display = False
        if self.run is not None:
            self._show_run()
            return
        self.query_one(RunProgress).show_run(None, self._now())
        self.query_one(ConfirmBox).setup(self.environment, False)
        if self.kind is ActionKind.DEPLOY:
            table = self.query_one("#action-versions", KeyedTable)
            table.set_columns([("version", "Version"), ("built", "Built"), ("commit", "Commit"),
                               ("envs", "Running in")])
            table.focus()
        elif self.kind is ActionKind.SCALE:
            self.query_one("#action-replicas", Input).focus()
        else:
            self.query_one("#action-env", Select).focus()
        self._reload()

    # Loading -------------------------------------------------------------------------------------

    def _reload(self) -> None:
        self.plan_result = None
        self._refresh_confirm()
        if self.kind is ActionKind.DEPLOY:
            self.versions = None
            self.version = None
            self._show_plan(None, "Loading the versions…")
            self.run_worker(self._load_versions(self.environment), group="versions",
                            exclusive=True, exit_on_error=False)
        else:
            self._schedule_plan()

    async def _load_versions(self, environment: str) -> None:
        try:
            versions = await self.manager.versions(self.service, environment)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self.versions = []
            self.plan_result = PlanResult(None, None, failure=classify("hub", exc))
            self._show_plan(self.plan_result)
            self._refresh_confirm()
            return
        if environment != self.environment:
            return  # the user has picked another environment meanwhile
        unique: dict[str, VersionOption] = {}
        for option in versions:
            unique.setdefault(option.version, option)
        self.versions = list(unique.values())
        now = self.app.clock.now()  # type: ignore[attr-defined]
        rows = []
        for option in self.versions:
            name = render.text(option.version, "bold", max_len=40)
            if option.current:
                name.append(" ●", "green")
            built = Text(f"{option.built_at:%Y-%m-%d %H:%M} ({render.ago(option.built_at, now)})"
                         if option.built_at else "–", "dim")
            rows.append((option.version, (name, built,
                                          render.text(option.commit[:12], "cyan", max_len=12),
                                          render.text(", ".join(option.environments), max_len=80))))
        table = self.query_one("#action-versions", KeyedTable)
        table.sync(rows)
        if not self.versions:
            self._show_plan(None, "The source offers no version to deploy here.")
            self._refresh_confirm()
            return
        table.move_cursor(row=0)
        self.version = self.versions[0].version
        self._schedule_plan()

    def _schedule_plan(self) -> None:
        self.plan_result = None
        self._show_plan(None)
        self._refresh_confirm()
        self.run_worker(self._plan(), group="plan", exclusive=True, exit_on_error=False)

    async def _plan(self) -> None:
        await asyncio.sleep(0.05)  # let a fast cursor settle before asking the source
        request = self._request()
        if request is None:
            self._show_plan(None, "Fill in the form to see what changes.")
            return
        try:
            result = await self.manager.plan(request)
        except Exception as exc:  # noqa: BLE001 - plan reports failures itself; just in case
            result = PlanResult(None, None, failure=classify("hub", exc))
        current = self._request()
        if current is None or (current.environment, current.version, current.replicas) != \
                (request.environment, request.version, request.replicas):
            return  # the form changed meanwhile; another plan is on its way
        self.plan_result = result
        self._show_plan(result)
        needed = result.decision is not None and result.decision.needs_confirmation
        self.query_one(ConfirmBox).setup(self.environment, needed)
        self._refresh_confirm()

    # The form ------------------------------------------------------------------------------------

    def _replicas(self) -> tuple[int | None, str]:
        if self.kind is not ActionKind.SCALE:
            return None, ""
        raw = self.query_one("#action-replicas", Input).value.strip()
        if not raw:
            return None, "give a number of replicas"
        try:
            value = int(raw)
        except ValueError:
            return None, "replicas must be a whole number"
        if not 0 <= value <= MAX_REPLICAS:
            return None, f"replicas must be between 0 and {MAX_REPLICAS:,}"
        return value, ""

    def _request(self, *, confirmed: bool = False) -> ActionRequest | None:
        replicas, problem = self._replicas()
        if problem:
            return None
        if self.kind is ActionKind.DEPLOY and not self.version:
            return None
        extra: dict[str, Any] = {}
        if confirmed:
            box = self.query_one(ConfirmBox)
            extra = {"confirmation": box.typed, "reason": box.reason}
        return ActionRequest(id=self.request_id, kind=self.kind, service=self.service,
                             environment=self.environment,
                             version=self.version if self.kind is ActionKind.DEPLOY else None,
                             replicas=replicas, **extra)

    def _confirm_state(self) -> tuple[bool, Text]:
        if self.started:
            return False, Text("Starting…", "bold")
        replicas, problem = self._replicas()
        if problem:
            return False, Text(problem, "red")
        result = self.plan_result
        if result is not None and result.failure is not None:
            return False, failure_text(result.failure)
        if self.kind is ActionKind.DEPLOY and self.versions is not None and not self.versions:
            return False, Text("Nothing to deploy.", "dim")
        if result is None:
            return False, Text("Working out what changes…", "dim")
        if result.failure is not None:
            return False, failure_text(result.failure)
        decision = result.decision
        if decision is None:
            return False, Text("No policy decision.", "red")
        if not decision.allowed and not decision.needs_confirmation:
            out = Text("✖ denied: ", "bold red")
            out.append_text(render.text(decision.message, "red", max_len=500))
            return False, out
        verb = VERBS[self.kind]
        if decision.needs_confirmation:
            box = self.query_one(ConfirmBox)
            if box.typed != self.environment:
                out = Text("Type ", "yellow")
                out.append_text(render.text(self.environment, "bold", max_len=60))
                out.append(" in the box above to confirm.", "yellow")
                return False, out
            if not box.reason:
                return False, Text("Give a reason: it goes into the audit log.", "yellow")
        return True, Text(f"Ready: press {verb} (tab to the button, enter).", "green")

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        super()._refresh_confirm(keep_status)
        if self.run is not None and self.run.state is not ActionState.DENIED:
            return
        if self.kind is ActionKind.SCALE and not self.reopened:
            _, problem = self._replicas()
            self.query_one("#action-replicas-error", Static).update(Text(problem, "red"))

    def _lock_form(self) -> None:
        for widget in self.query("#action-fields, #action-confirm-box"):
            widget.disabled = True

    def _denied(self, run: ActionRun) -> None:
        self.query_one(ConfirmBox).setup(self.environment, run.decision.needs_confirmation)

    @on(Select.Changed, "#action-env")
    def _environment_changed(self, event: Select.Changed) -> None:
        value = event.value
        if value is Select.NULL or value == self.environment or self.started:
            return
        self.environment = str(value)
        self.query_one(ConfirmBox).setup(self.environment, False)
        self._reload()

    @on(DataTable.RowHighlighted, "#action-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key is None or key == self.version or self.started or self.versions is None:
            return
        self.version = str(key)
        self._schedule_plan()

    @on(DataTable.RowSelected, "#action-versions")
    def _version_selected(self) -> None:
        box = self.query_one(ConfirmBox)
        if self.query_one("#confirm-name", Input).display:
            self.query_one("#confirm-name", Input).focus()
        elif box.display:
            self.query_one("#confirm-reason", Input).focus()

    @on(Input.Changed, "#action-replicas")
    def _replicas_changed(self) -> None:
        if not self.started:
            self._schedule_plan()

    @on(Input.Changed, "#confirm-name, #confirm-reason")
    def _confirmation_changed(self) -> None:
        self._refresh_confirm()

    @on(Input.Submitted, "#confirm-name, #confirm-reason, #action-replicas")
    def _input_submitted(self) -> None:
        self.focus_next()

# Pipeline runs -----------------------------------------------------------------------------------

class RunActionModal(_ConfirmedDialog):
    """Re-run the failed jobs of a pipeline run, or cancel it: the run, what the source says it
    will do, the policy, then the run's progress as the source follows it."""

    def __init__(self, kind: ActionKind, pipeline_run: PipelineRun | None = None, *,
                 run: ActionRun | None = None) -> None:
        super().__init__(run)
        self.kind = kind
        self.pipeline_run = pipeline_run
        request = run.request if run is not None else None
        self.run_id = pipeline_run.id if pipeline_run is not None else request.run_id or ""
        self.service = pipeline_run.service if pipeline_run is not None else request.service or ""
        self.source = pipeline_run.source if pipeline_run is not None else request.source or ""

    @classmethod
    def for_run(cls, run: ActionRun) -> RunActionModal:
        return cls(run.request.kind, run=run)

    def _ready(self) -> bool:
        return self.plan_result is not None

    def compose(self) -> ComposeResult:
        with Vertical(id="action-dialog", classes="dialog action-dialog"):
            yield Static(self._title(), classes="dialog-title")
            with Horizontal(classes="action-body"):
                with Vertical(id="action-form", classes="action-form"):
                    if self.run is not None:
                        yield Static(run_summary(self.run), id="action-summary")
                    else:
                        yield Static(self._pipeline_text(), id="action-pipeline-run")
                    yield Static(id="action-status")
                    yield from self._buttons(VERBS[self.kind])
                yield from self._side()

    def _pipeline_text(self) -> Text:
        out = Text(end="")
        r = self.pipeline_run
        if r is None:
            return out
        for label, value in (("Service", r.service), ("Run", r.id), ("Pipeline", r.pipeline),
                             ("Branch", r.branch), ("Commit", r.commit[:12]),
                             ("Message", r.message), ("Source", r.source)):
            if value:
                out.append(f"{label:<10}", "dim")
                out.append_text(render.text(value, max_len=200))
                out.append("\n")
        out.append(f"{'Status':<10}", "dim")
        out.append_text(render.run_status(r.status))
        return out

    def on_mount(self) -> None:
        self._watch_runs()
        self.query_one("#action-cancel", Button).display = False
        if self.run is not None:
            self._show_run()
            return
        self.query_one(RunProgress).show_run(None, self._now())
        self.query_one("#action-confirm", Button).focus()
        self._refresh_confirm()
        self.run_worker(self._plan(), group="plan", exclusive=True, exit_on_error=False)

    async def _plan(self) -> None:
        try:
            result = await self.manager.plan(self._request())
        except Exception as exc:  # noqa: BLE001 - plan reports failures itself; just in case
            result = PlanResult(None, None, failure=classify("hub", exc))
        self.plan_result = result
        self._show_plan(result)
        self._refresh_confirm()

    def _request(self, *, confirmed: bool = False) -> ActionRequest:
        return ActionRequest(id=self.request_id, kind=self.kind, service=self.service or None,
                             run_id=self.run_id, source=self.source or None)

    def _confirm_state(self) -> tuple[bool, Text]:
        if self.started:
            return False, Text("Starting…", "bold")
        result = self.plan_result
        if result is None:
            return False, Text("Asking the source…", "dim")
        if result.failure is not None:
            return False, failure_text(result.failure)
        decision = result.decision
        if decision is None or (not decision.allowed and not decision.needs_confirmation):
            out = Text("✖ denied: ", "bold red")
            out.append_text(render.text(decision.message if decision else "no decision", "red",
                                        max_len=500))
            return False, out
        return True, Text(f"Ready: press {VERBS[self.kind]}.", "green")


# Provisioning ------------------------------------------------------------------------------------

_MISSING = object()


@dataclass
class FieldSpec:
    """One parameter of a template, as the form renders it."""

    name: str
    title: str
    description: str
    #: "string", "integer", "number", "enum", "boolean" or "secret".
    kind: str
    required: bool
    default: Any = _MISSING
    choices: list[Any] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with ``$ref``/``allOf``/nullable ``anyOf`` folded in (what pydantic emits)."""
    out = dict(prop)
    for _ in range(5):
        ref = out.pop("$ref", None)
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out = {**defs.get(ref.removeprefix("#/$defs/"), {}), **out}
            continue
        all_of = out.pop("allOf", None)
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            out = {**all_of[0], **out}
            continue
        any_of = out.get("anyOf")
        if isinstance(any_of, list):
            options = [o for o in any_of if isinstance(o, dict) and o.get("type") != "null"]
            if len(options) == 1:
                del out["anyOf"]
                out = {**options[0], **out}
                continue
        break
    return out


def form_fields(entry: TemplateEntry) -> list[FieldSpec]:
    """The fields of a template's JSON Schema, in order."""
    schema = entry.template.json_schema()
    defs = schema.get("$defs", {}) if isinstance(schema.get("$defs"), dict) else {}
    required = set(schema.get("required", []) or [])
    secrets = entry.secret_fields
    out: list[FieldSpec] = []
    for name, raw in (schema.get("properties") or {}).items():
        if not isinstance(raw, dict):
            continue
        prop = _resolve(raw, defs)
        kind = "string"
        if name in secrets or prop.get("format") == "password" or prop.get("writeOnly"):
            kind = "secret"
        elif isinstance(prop.get("enum"), list):
            kind = "enum"
        elif "const" in prop:
            kind, prop = "enum", {**prop, "enum": [prop["const"]]}
        elif prop.get("type") == "boolean":
            kind = "boolean"
        elif prop.get("type") == "integer":
            kind = "integer"
        elif prop.get("type") == "number":
            kind = "number"
        minimum = prop.get("minimum", prop.get("exclusiveMinimum"))
        maximum = prop.get("maximum", prop.get("exclusiveMaximum"))
        out.append(FieldSpec(
            name=str(name), title=str(prop.get("title") or name),
            description=str(prop.get("description") or ""), kind=kind,
            required=name in required, default=prop.get("default", _MISSING),
            choices=list(prop.get("enum") or []),
            minimum=minimum if isinstance(minimum, int | float) else None,
            maximum=maximum if isinstance(maximum, int | float) else None))
    return out


def _shorten(value: str, width: int) -> str:
    """``value`` cut to ``width`` characters with an ellipsis (for a narrow table column)."""
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def _bounds(spec: FieldSpec) -> str:
    def number(value: float) -> str:
        return f"{value:g}"

    if spec.minimum is not None and spec.maximum is not None:
        return f"{number(spec.minimum)}–{number(spec.maximum)}"
    if spec.minimum is not None:
        return f"≥ {number(spec.minimum)}"
    if spec.maximum is not None:
        return f"≤ {number(spec.maximum)}"
    return ""


class FormField(Horizontal):
    """One row of the form: the label and description on the left; the control for the field's
    type and, under it, its error on the right."""

    DEFAULT_CLASSES = "form-field"

    def __init__(self, spec: FieldSpec, index: int) -> None:
        super().__init__(id=f"form-field-{index}")
        self.spec = spec
        self.index = index

    def compose(self) -> ComposeResult:
        spec = self.spec
        label = Text(end="")
        label.append_text(render.text(spec.title, "bold", max_len=80))
        if spec.required:
            label.append(" *", "bold red")
        hint = {"integer": "whole number", "number": "number", "secret": "secret, hidden",
                "boolean": "", "enum": "", "string": ""}[spec.kind]
        bounds = _bounds(spec)
        extra = ", ".join(x for x in (hint, bounds) if x)
        if extra:
            label.append(f"  ({extra})", "dim")
        with Vertical(classes="form-label-column"):
            yield Static(label, classes="form-label")
            if spec.description:
                yield Static(render.text(spec.description, "dim italic", max_len=300),
                             classes="form-description")
        with Vertical(classes="form-control-column"):
            yield self._control()
            yield Static(classes="field-error")

    def _control(self) -> Widget:
        spec, control_id = self.spec, f"form-control-{self.index}"
        default = spec.default
        has_default = default is not _MISSING and default is not None
        if spec.kind == "boolean":
            return Switch(value=bool(default) if has_default else False, id=control_id,
                          classes="form-control")
        if spec.kind == "enum":
            options = [(render.text(str(c), max_len=60), c) for c in spec.choices]
            value = default if has_default and default in spec.choices else Select.NULL
            return Select(options, value=value, allow_blank=value is Select.NULL,
                          prompt="choose…", id=control_id, classes="form-control")
        if spec.kind == "secret":
            return Input(password=True, id=control_id, classes="form-control",
                         placeholder="hidden once typed")
        validators: list[Any] = []
        input_type = "text"
        if spec.kind == "integer":
            input_type = "integer"
            validators.append(Integer(minimum=spec.minimum, maximum=spec.maximum))
        elif spec.kind == "number":
            input_type = "number"
            validators.append(Number(minimum=spec.minimum, maximum=spec.maximum))
        value = render.sanitize(default, max_len=2000) if has_default else ""
        placeholder = _bounds(spec) if spec.kind in ("integer", "number") else ""
        return Input(value=value, type=input_type,  # type: ignore[arg-type]
                     validators=validators or None, valid_empty=not spec.required, id=control_id,
                     classes="form-control", placeholder=placeholder)

    @property
    def control(self) -> Widget:
        return self.query_one(".form-control")

    def value(self) -> Any:
        """The value to validate, or ``_MISSING`` to leave the field out (its default applies)."""
        control = self.control
        kind = self.spec.kind
        if isinstance(control, Switch):
            return control.value
        if isinstance(control, Select):
            return _MISSING if control.value is Select.NULL else control.value
        assert isinstance(control, Input)
        raw = control.value if kind == "secret" else control.value.strip()
        if raw == "":
            return _MISSING
        if kind == "integer":
            try:
                return int(raw)
            except ValueError:
                return raw
        if kind == "number":
            try:
                return float(raw)
            except ValueError:
                return raw
        return raw

    def show_error(self, message: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(Text(f"✖ {message}", "red") if message else Text(""))
        error.display = bool(message)
        self.set_class(bool(message), "-invalid")


class ProvisionModal(_ActionDialog):
    """Pick a template, fill in its form, dry-run it, run it."""

    kind = ActionKind.PROVISION

    BINDINGS = [Binding("ctrl+t", "dry_run", "Dry run", id="provision.dry_run")]

    def __init__(self, run: ActionRun | None = None) -> None:
        super().__init__(run)
        self.templates: list[TemplateEntry] | None = None
        self.entry: TemplateEntry | None = None
        self.fields: list[FormField] = []
        self.touched: set[str] = set()
        self.tried = False

    def compose(self) -> ComposeResult:
        with Vertical(id="provision-dialog", classes="dialog action-dialog"):
            yield Static(Text("Provision", "bold"), classes="dialog-title", id="provision-title")
            with Horizontal(classes="action-body"):
                with Vertical(id="action-form", classes="action-form"):
                    if self.run is not None:
                        yield Static(run_summary(self.run), id="action-summary")
                    else:
                        yield KeyedTable(id="provision-templates")
                        yield VerticalScroll(id="provision-form")
                        yield Static(id="provision-general-error", classes="field-error")
                        yield ConfirmBox(id="action-confirm-box")
                    yield Static(id="action-status")
                    with Horizontal(classes="action-buttons"):
                        yield Button("Back", id="provision-back")
                        yield Button("Dry run", id="provision-dry-run", variant="primary")
                        yield Button("Run", id="action-confirm", variant="warning", disabled=True)
                        yield Button("Cancel action", id="action-cancel", variant="error")
                        yield Button("Close", id="action-close")
                yield from self._side()

    def on_mount(self) -> None:
        self._watch_runs()
        self.query_one("#action-cancel", Button).display = False
        if self.run is not None:
            for button in ("#provision-back", "#provision-dry-run"):
                self.query_one(button, Button).display = False
            self._show_run()
            return
        self.query_one(RunProgress).show_run(None, self._now())
        table = self.query_one("#provision-templates", KeyedTable)
        table.set_columns([("title", "Template"), ("kind", "Kind"),
                           ("description", "Description")])
        table.focus()
        self._choosing()
        self.run_worker(self._load_templates(), group="templates", exclusive=True,
                        exit_on_error=False)

    def _ready(self) -> bool:
        return self.templates is not None

    # Step 1: the template ------------------------------------------------------------------------

    def _choosing(self) -> None:
        self.entry = None
        self.plan_result = None
        self.query_one("#provision-templates").display = True
        self.query_one("#provision-form").display = False
        self.query_one("#provision-general-error").display = False
        self.query_one(ConfirmBox).display = False
        for button in ("#provision-back", "#provision-dry-run", "#action-confirm"):
            self.query_one(button, Button).display = False
        self.query_one("#provision-title", Static).update(Text("Provision: choose a template",
                                                               "bold"))
        self._set_status(Text("enter: fill in the chosen template · esc close", "dim"))
        self._show_plan(None, "Choose a template to see what it creates.")
        self._describe_template()

    async def _load_templates(self) -> None:
        try:
            entries = await self.manager.templates()
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self._show_plan(PlanResult(None, None, failure=classify("hub", exc)))
            return
        self.templates = entries
        rows = [(str(i), (render.text(e.template.title, "bold", max_len=30),
                          render.text(e.template.kind, max_len=16),
                          render.text(_shorten(e.template.description, 24), "dim")))
                for i, e in enumerate(entries)]
        self.query_one("#provision-templates", KeyedTable).sync(rows)
        if not entries:
            self._set_status(Text("No source offers a template.", "yellow"))
        self._describe_template()

    def _describe_template(self) -> None:
        """The highlighted template, in full, in the side panel."""
        table = self.query_one("#provision-templates", KeyedTable)
        key = table.cursor_key
        if self.templates is None or key is None or self.entry is not None:
            return
        entry = self.templates[int(key)]
        out = Text(end="")
        out.append_text(render.text(entry.template.title, "bold", max_len=100))
        out.append("  ")
        out.append_text(render.text(entry.template.kind, "cyan", max_len=40))
        out.append("\n")
        out.append_text(render.text(entry.template.description, max_len=1000, multiline=True))
        try:
            specs = form_fields(entry)
        except Exception:  # noqa: BLE001 - a schema the form cannot read: said when chosen
            specs = []
        if specs:
            out.append("\n\nParameters", "dim")
            for spec in specs:
                out.append("\n  ")
                out.append_text(render.text(spec.title, "bold" if spec.required else "",
                                            max_len=60))
                out.append(f"  {spec.kind}", "dim")
        out.append("\n\nSource  ", "dim")
        out.append_text(render.text(entry.source, "dim", max_len=60))
        out.append("\n\nenter: fill in this template", "dim")
        self.query_one("#action-plan", Static).update(out)

    @on(DataTable.RowHighlighted, "#provision-templates")
    def _template_highlighted(self) -> None:
        self._describe_template()

    @on(DataTable.RowSelected, "#provision-templates")
    def _template_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if self.templates is None or key is None:
            return
        self.choose(self.templates[int(key)])

    def choose(self, entry: TemplateEntry) -> None:
        """Show the form of ``entry``."""
        self.run_worker(self._choose(entry), group="form", exclusive=True, exit_on_error=False)

    async def _choose(self, entry: TemplateEntry) -> None:
        # ``entry`` and ``fields`` are set once the form is mounted (tests and handlers wait on it).
        self.entry = None
        self.fields = []
        self.touched = set()
        self.tried = False
        self.plan_result = None
        form = self.query_one("#provision-form", VerticalScroll)
        await form.remove_children()
        specs = form_fields(entry)
        selected = getattr(self.app, "service", None)
        for spec in specs:
            # A resource for "the service": the one selected in the dashboard, to start with.
            if spec.name == "service" and spec.kind == "string" and selected and \
                    spec.default in (_MISSING, None, ""):
                spec.default = selected
        fields = [FormField(spec, i) for i, spec in enumerate(specs)]
        await form.mount_all(fields)
        self.fields = fields
        self.entry = entry
        self.query_one("#provision-templates").display = False
        form.display = True
        box = self.query_one(ConfirmBox)
        box.display = True
        box.setup(None, False)
        for button in ("#provision-back", "#provision-dry-run", "#action-confirm"):
            self.query_one(button, Button).display = True
        title = Text("Provision ", "bold")
        title.append_text(render.text(entry.template.title, "bold cyan", max_len=60))
        title.append("  ")
        title.append_text(render.text(entry.template.description, "dim", max_len=120))
        self.query_one("#provision-title", Static).update(title)
        self._show_plan(None, "Press Dry run to see what will be created.")
        self._set_status(Text("Fill in the form · Dry run (ctrl+t) shows what will be created · "
                              "Run creates it", "dim"))
        self.validate_form()
        if self.fields:
            self.fields[0].control.focus()

    @on(Button.Pressed, "#provision-back")
    def _back(self) -> None:
        if self.started:
            return
        self._choosing()
        self.query_one("#provision-templates").focus()

    # Step 2: the form ----------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for form_field in self.fields:
            value = form_field.value()
            if value is not _MISSING:
                out[form_field.spec.name] = value
        return out

    def _secret_values(self) -> list[str]:
        return [str(f.value()) for f in self.fields
                if f.spec.kind == "secret" and f.value() is not _MISSING]

    def _scrub(self, message: str) -> str:
        """An error message with any typed secret in it replaced (a validator may echo input)."""
        for secret in self._secret_values():
            if len(secret) >= 3:
                message = message.replace(secret, "***")
        return message

    def validate_form(self, show_all: bool = False) -> dict[str, Any] | None:
        """Check the values with the template's model; show each error next to its field.

        Errors show for fields already edited, or for all of them once ``show_all`` (dry run, run).
        Returns the values when they are valid.
        """
        if self.entry is None:
            return None
        values = self.values()
        errors: dict[str, str] = {}
        general: list[str] = []
        try:
            self.entry.template.params.model_validate(values)
        except ValidationError as exc:
            names = {f.spec.name for f in self.fields}
            for error in exc.errors(include_url=False, include_input=False,
                                    include_context=False):
                loc = error.get("loc") or ()
                message = self._scrub(str(error.get("msg") or "invalid"))
                if loc and str(loc[0]) in names:
                    errors.setdefault(str(loc[0]), message)
                else:
                    general.append(message)
        except Exception as exc:  # noqa: BLE001 - a template's own validator raised
            general.append(self._scrub(f"{type(exc).__name__}: {exc}"))
        for form_field in self.fields:
            name = form_field.spec.name
            shown = show_all or self.tried or name in self.touched
            form_field.show_error(errors.get(name) if shown else None)
        general_error = self.query_one("#provision-general-error", Static)
        if general and (show_all or self.tried):
            general_error.update(render.text("✖ " + "; ".join(general), "red", max_len=500,
                                             multiline=True))
            general_error.display = True
        else:
            general_error.display = False
        valid = not errors and not general
        if not self.started and not self.reopened:
            self.query_one("#action-confirm", Button).disabled = not valid
        return values if valid else None

    def _field_of(self, widget: Widget) -> FormField | None:
        for node in widget.ancestors_with_self:
            if isinstance(node, FormField):
                return node
        return None

    @on(Input.Changed, ".form-control")
    @on(Select.Changed, ".form-control")
    @on(Switch.Changed, ".form-control")
    def _field_changed(self, event: Message) -> None:
        if self.started or self.entry is None:
            return
        control = getattr(event, "control", None) or getattr(event, "switch", None)
        form_field = self._field_of(control) if control is not None else None
        if form_field is not None and isinstance(event, Input.Changed | Switch.Changed):
            self.touched.add(form_field.spec.name)
        elif form_field is not None and isinstance(event, Select.Changed) and \
                event.value is not Select.NULL:
            self.touched.add(form_field.spec.name)
        if self.plan_result is not None:
            self.plan_result = None
            self._show_plan(None, "The values changed: press Dry run again to see the plan.")
        self.validate_form()

    @on(Input.Submitted, ".form-control")
    def _field_submitted(self) -> None:
        self.focus_next()

    def _request(self, values: dict[str, Any], *, confirmed: bool = False) -> ActionRequest:
        assert self.entry is not None
        service = values.get("service")
        secret = self.entry.secret_fields
        extra: dict[str, Any] = {}
        box = self.query_one(ConfirmBox)
        if confirmed:
            extra = {"confirmation": box.typed, "reason": box.reason}
        return ActionRequest(id=self.request_id, kind=ActionKind.PROVISION,
                             template=self.entry.template.name, params=dict(values),
                             service=service if isinstance(service, str) and service and
                             "service" not in secret else None, **extra)

    @on(Button.Pressed, "#provision-dry-run")
    def action_dry_run(self) -> None:
        if self.started or self.entry is None:
            return
        self.tried = True
        values = self.validate_form(show_all=True)
        if values is None:
            self._set_status(Text("Fix the fields marked in red first.", "red"))
            return
        self._set_status(Text("Dry run…", "bold"))
        self._show_plan(None, "Asking the source what would be created…")
        self.run_worker(self._dry_run(self._request(values)), group="plan", exclusive=True,
                        exit_on_error=False)

    async def _dry_run(self, request: ActionRequest) -> None:
        try:
            result = await self.manager.plan(request)
        except Exception as exc:  # noqa: BLE001 - plan reports failures itself; just in case
            result = PlanResult(None, None, failure=classify("hub", exc))
        if result.failure is not None:
            result = PlanResult(result.source, result.decision, result.plan,
                                Failure(result.failure.source, result.failure.error_class,
                                        self._scrub(result.failure.message),
                                        result.failure.hint))
        self.plan_result = result
        self._show_plan(result)
        if result.decision is not None and result.decision.needs_confirmation:
            self.query_one(ConfirmBox).setup(request.environment, True)
        if result.failure is not None:
            self._set_status(Text("The dry run failed: see the panel.", "red"))
        elif result.decision is not None and not result.decision.allowed and \
                not result.decision.needs_confirmation:
            self._set_status(decision_text(result.decision))
        else:
            self._set_status(Text("Dry run done: nothing was created. Press Run to create it.",
                                  "green"))

    @on(Button.Pressed, "#action-confirm")
    def confirm(self) -> None:
        """Run the template (once)."""
        if self.started or self.entry is None:
            return
        self.tried = True
        values = self.validate_form(show_all=True)
        if values is None:
            self._set_status(Text("Fix the fields marked in red first.", "red"))
            self.app.bell()
            return
        self._submit(self._request(values, confirmed=True))

    def _started(self) -> None:
        # The source has the secrets now; the form must not keep them.
        for form_field in self.fields:
            if form_field.spec.kind == "secret":
                control = form_field.control
                assert isinstance(control, Input)
                control.value = ""

    def _denied(self, run: ActionRun) -> None:
        if run.decision.needs_confirmation:
            self.query_one(ConfirmBox).setup(run.request.environment, True)

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        if self.entry is not None and not self.started:
            self.validate_form()

    def _lock_form(self) -> None:
        for selector in ("#provision-form", "#action-confirm-box"):
            for widget in self.query(selector):
                widget.disabled = True
        for button in ("#provision-back", "#provision-dry-run"):
            for widget in self.query(button):
                widget.display = False


# The Activity screen -----------------------------------------------------------------------------

class ActivityScreen(ModalScreen[None]):
    """Recent and running actions of this session; the highlighted one's events below."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="activity.close"),
        Binding("A", "dismiss", "Close", show=False, id="activity.close_a"),
        Binding("c", "cancel_run", "Cancel action", id="activity.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._unwatch: Callable[[], None] | None = None

    @property
    def manager(self) -> ActionManager:
        manager = manager_of(self.app)
        assert manager is not None
        return manager

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

        def listener(run: ActionRun) -> None:
            self.post_message(ActionUpdated(run))

        self._unwatch = self.manager.watch(listener)
        self._refresh_rows()
        self.set_interval(1.0, self._refresh_rows)
        table.focus()

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

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
        run = self.selected()
        if run is not None:
            open_run(self.app, run)

    def action_cancel_run(self) -> None:
        run = self.selected()
        if run is None:
            return
        answer = self.manager.cancel(run.id)
        self.notify(f"{render.sanitize(run.title, max_len=120)}: {answer}", markup=False)
