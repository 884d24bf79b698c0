"""What every action dialog shares: one request id, submit once, follow the run, cancel it, close
without stopping it; and the dialogs whose confirm button sends one request."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Select, Static

from ... import render
from ...actions import ActionManager, ActionRun, PlanResult
from ...actionspec import ActionSpec, spec
from ...api.actions import ActionKind, ActionRequest, ActionState
from ...hub import classify
from ..action_access import manager_of
from ..approvals import awaiting, decided_text, waiting_text
from .texts import denied_text, failure_text, plan_text, run_summary
from .widgets import ActionUpdated, ConfirmBox, RunProgress, SubmitFailed

#: The binding id of every dialog's confirm key (the same key everywhere, remappable in ``[keys]``).
CONFIRM_ID = "dialog.confirm"
#: Its default key: no text field, table or list of a dialog takes it for itself.
CONFIRM_KEY = "ctrl+s"


class WatchesRuns:
    """For a screen that follows the action manager's runs (the dialogs, the Activity screen):
    the manager, a listener that goes when the screen does, cancelling a run with a word."""

    _unwatch: Callable[[], None] | None = None

    @property
    def manager(self) -> ActionManager:
        manager = manager_of(self.app)  # type: ignore[attr-defined]
        assert manager is not None
        return manager

    def watch_runs(self, wanted: Callable[[ActionRun], bool]) -> None:
        """Post ``ActionUpdated`` to this screen for every change of a run ``wanted`` accepts."""
        def listener(run: ActionRun) -> None:
            if wanted(run):
                self.post_message(ActionUpdated(run))  # type: ignore[attr-defined]

        self._unwatch = self.manager.watch(listener)

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def cancel(self, run: ActionRun | None) -> None:
        """Ask ``run`` to stop; the manager's answer is shown."""
        if run is None:
            return
        answer = self.manager.cancel(run.id)
        self.notify(f"{render.sanitize(run.title, max_len=120)}: {answer}",  # type: ignore[attr-defined]
                    markup=False)


class ActionDialog(WatchesRuns, ModalScreen[None]):
    """What the deploy-like modal and the provisioning modal share: one request id, submit once,
    follow the run, cancel, close without stopping it."""

    BINDINGS = [
        Binding("escape", "close", "Close (the action keeps running)", id="actions.close"),
        Binding("c", "cancel_run", "Cancel action", id="actions.cancel"),
        Binding(CONFIRM_KEY, "confirm", "Confirm", id=CONFIRM_ID),
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
        #: Whether the cancel key was offered when the bindings were last refreshed.
        self._cancel_offered = False
        #: What ``check_action`` said of the confirm key when the bindings were last refreshed.
        self._confirm_offer: bool | None = False
        #: The request waited for approval (``ActionManager.run_when_approved``): the form stays
        #: closed, whatever the approvers decide.
        self._waited = False

    @property
    def action_spec(self) -> ActionSpec:
        """This dialog's kind's row in the action table (verb, what it needs)."""
        return spec(self.kind)

    @property
    def started(self) -> bool:
        """A request has been sent (and not denied): the form is closed."""
        return self._submitting or self._waited or (self.run is not None and self.run.state
                                                    is not ActionState.DENIED)

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

    def on_mount(self) -> None:
        self._watch_runs()
        self.query_one("#action-cancel", Button).display = False
        if self.run is not None:  # reopened: the run, no form
            self._show_run()
            return
        self.query_one(RunProgress).show_run(None, self._now())
        self._start_form()

    def _start_form(self) -> None:
        """Fill in and focus the form; start loading what it needs. Override."""

    def _watch_runs(self) -> None:
        self.watch_runs(lambda run: run.id == self.request_id)

    # The confirm key and a short terminal --------------------------------------------------------

    def confirm_key(self) -> str:
        """The confirm key as the footer shows it ("^s", or the key ``[keys]`` gives it)."""
        return self._key_of(CONFIRM_ID) or CONFIRM_KEY

    def _key_of(self, binding_id: str) -> str | None:
        """The key of this screen's binding ``binding_id`` as the footer shows it (the first
        one ``[keys]`` gives it, if it gives any), or None."""
        keys_for = getattr(self.app, "_keys_for", None)  # (the dashboard's: [keys] applied)
        for bindings in self._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.id == binding_id:
                    if keys_for is not None:
                        return str(keys_for(binding)).split(", ")[0]
                    return self.app.get_key_display(binding)
        return None

    def _confirm_offered(self) -> bool | None:
        """The confirm key: hidden (False) once the request is sent or while there is nothing to
        confirm, shown greyed (None) while the form is not complete, else offered."""
        if self.started or self.reopened or not self.is_mounted:
            return False
        try:
            button = self.query_one("#action-confirm", Button)
        except NoMatches:
            return False
        if not button.display:
            return False
        return None if button.disabled else True

    def _sync_confirm_key(self) -> None:
        """Redraw the footer's keys when the confirm key's state changed (only then: the footer
        is rebuilt each time)."""
        offered = self._confirm_offered()
        if offered != self._confirm_offer:
            self._confirm_offer = offered
            self.refresh_bindings()

    def _ready_text(self, verb: str) -> Text:
        """The status line of a form that can be sent: which key sends it."""
        out = Text("Ready: press ", "green")
        out.append(self.confirm_key(), "bold green")
        out.append(f" to {verb.lower()}", "green")
        out.append(f" (or the {verb} button).", "dim")
        return out

    def on_resize(self, event: events.Resize) -> None:
        self.call_later(self._fit)  # (after the screen's own handler has set its size classes)

    def _fit(self) -> None:
        """In a short terminal (the screen's ``-short`` class: under 40 lines) the text fields,
        choices and buttons lose their borders, so the form and its buttons fit in 24 lines."""
        compact = self.has_class("-short")
        for widget in self.query("Input, Select, Button"):
            if isinstance(widget, Input | Select | Button) and widget.compact != compact:
                widget.compact = compact

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
        self._sync_confirm_key()
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
        if awaiting(run):  # (this worker is the app's: it goes on when the dialog is closed)
            await self.manager.run_when_approved(request)

    def on_submit_failed(self, message: SubmitFailed) -> None:
        self._submitting = False
        self._set_status(failure_text(message.failure, "not started"))
        self._refresh_confirm()

    def on_action_updated(self, message: ActionUpdated) -> None:
        if message.run.id != self.request_id:
            return
        self.run = message.run
        self._submitting = False
        if awaiting(self.run) or (self._waited and self.run.state is ActionState.DENIED):
            self._show_waiting(self.run)  # (waiting, or denied or expired while it waited)
            return
        if self.run.state is ActionState.DENIED:
            denied = self.run
            # Nothing started: the user may fix what the policy asked for and try again, as a new
            # request (the denied one stays in the Activity screen and the audit log).
            self.run = None
            self.request_id = uuid.uuid4().hex
            self._set_status(denied_text(denied.error or denied.decision.message))
            self._denied(denied)
            self._refresh_confirm(keep_status=True)
            return
        self._started()
        self._show_run()

    def _started(self) -> None:
        """The run exists: close the form. Override to clear what must not stay (secrets)."""

    def _denied(self, run: ActionRun) -> None:
        """The hub denied the request. Override to show what the policy asks for."""

    def _show_waiting(self, run: ActionRun) -> None:
        """A request waiting for approval, or denied or expired while it waited: nothing runs
        yet; the form is closed, the status says who may approve and until when."""
        self._waited = True
        self.query_one(RunProgress).show_run(None, self._now())
        self.query_one("#action-confirm", Button).display = False
        self.query_one("#action-cancel", Button).display = False
        self._lock_form()
        focused = self.focused
        if focused is None or focused.disabled or not focused.display:
            self.query_one("#action-close", Button).focus()
        self._set_status(waiting_text(run, self.manager.waiting_for(run.id), self._now())
                         if awaiting(run) else decided_text(run))
        if self._cancel_offered:
            self._cancel_offered = False
            self.refresh_bindings()
        self._sync_confirm_key()

    def _show_run(self) -> None:
        run = self.run
        if run is None:
            return
        if awaiting(run):  # (reopened from the Activity screen while it waits)
            self._show_waiting(run)
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
            status.append_text(render.action_state(run.state, waiting=run.waiting))
            status.append("  esc closes", "dim")
        else:
            status.append("Running. ", "bold")
            status.append("esc closes this window; the action keeps going (A: activity).", "dim")
        self._set_status(status)
        if self.plan_result is None and run.plan is not None:
            self._show_plan(PlanResult(run.source, run.decision, run.plan))
        if cancellable != self._cancel_offered:  # (the footer is rebuilt only when it changes)
            self._cancel_offered = cancellable
            self.refresh_bindings()
        self._sync_confirm_key()

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
        if action == "confirm":
            return self._confirm_offered()
        return True

    def action_cancel_run(self) -> None:
        self.cancel(self.run)

    def action_confirm(self) -> None:
        self.confirm()

    def confirm(self) -> None:
        """Send the request (once): what the confirm key and button do. Override."""


class ConfirmedDialog(ActionDialog):
    """A dialog whose confirm button is enabled by ``_confirm_state()`` and sends
    ``_request(confirmed=True)`` (the deploy-like modal and the pipeline-run one)."""

    def _confirm_state(self) -> tuple[bool, Text]:
        """Whether the request can be sent, and the status line saying so. Override."""
        raise NotImplementedError

    @on(Input.Changed, "#confirm-name, #confirm-reason")
    def _confirmation_changed(self) -> None:
        self._refresh_confirm()

    def _refused(self, result: PlanResult | None, waiting: str) -> tuple[bool, Text] | None:
        """What keeps the plan from being confirmed — not planned yet (``waiting`` says so),
        the source's failure, the policy's refusal — or None."""
        if result is None:
            return False, Text(waiting, "dim")
        if result.failure is not None:
            return False, failure_text(result.failure)
        decision = result.decision
        if decision is None or (not decision.allowed and not decision.needs_confirmation
                                and not decision.needs_approval):
            return False, denied_text(decision.message if decision else None)
        return None

    def _untyped(self, environment: str | None,
                 why: str = "it goes into the audit log") -> tuple[bool, Text] | None:
        """What the confirmation box still needs (the environment's name typed, a reason), or
        None. ``why``: what the reason is for."""
        box = self.query_one(ConfirmBox)
        environment = environment or ""
        if box.typed != environment:
            out = Text("Type ", "yellow")
            out.append_text(render.text(environment, "bold", max_len=60))
            out.append(" in the box above to confirm.", "yellow")
            return False, out
        if not box.reason:
            return False, Text(f"Give a reason: {why}.", "yellow")
        return None

    def _request(self, *, confirmed: bool = False) -> ActionRequest | None:
        """The request the form describes (``confirmed``: with what the policy asked). Override."""
        raise NotImplementedError

    kind: ActionKind
    service: str

    def compose(self) -> ComposeResult:
        with Vertical(id="action-dialog", classes="dialog action-dialog"):
            yield Static(self._title(), classes="dialog-title")
            with Horizontal(classes="action-body"):
                with Vertical(id="action-form", classes="action-form"):
                    if self.run is not None:
                        yield Static(run_summary(self.run), id="action-summary")
                    else:
                        yield from self._form()
                    with Vertical(classes="action-send"):
                        yield Static(id="action-status")
                        yield from self._buttons(self.action_spec.verb)
                yield from self._side()
        yield Footer()

    def _form(self) -> ComposeResult:
        """What is asked before the request is sent (not shown for a run already sent). Override."""
        raise NotImplementedError

    def _title(self) -> Text:
        """The verb and the service ("Deploy payments", "Cancel run payments")."""
        title = Text(end="")
        title.append(f"{self.action_spec.verb} ", "bold")
        title.append_text(render.text(self.service, "bold cyan", max_len=60))
        return title

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        if self._waited or (self.run is not None and self.run.state is not ActionState.DENIED):
            return
        ok, why = self._confirm_state()
        self.query_one("#action-confirm", Button).disabled = not ok
        if not keep_status:
            self._set_status(why)
        self._sync_confirm_key()

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
