"""Extend a preview environment's time to live, or delete it (with everything in it)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from ... import render
from ...actionenv import duration_seconds, duration_text
from ...actions import ActionRun
from ...api.actions import ActionKind, ActionRequest
from ..base import focus_now
from .planned import REPLANS, PlannedDialog
from .widgets import ConfirmBox

#: What the duration field holds at first (an advisor's remedy gives its own).
DEFAULT_EXTEND = "1d"


class EnvironmentActionModal(PlannedDialog):
    """One action on a preview environment: its name, by how much (extend), what the source
    says it will do, the policy (deleting: the name typed and a reason), then the run."""

    incomplete = "Say by how much to see what changes."

    def __init__(self, kind: ActionKind, environment: str = "", *, run: ActionRun | None = None,
                 by: str | None = None, reason: str = "") -> None:
        super().__init__(run)
        self.kind = kind
        request = run.request if run is not None else None
        self.environment = request.environment or "" if request is not None else environment
        #: Shown in the title (the dialogs name what they act on there).
        self.service = self.environment
        self.by = by or DEFAULT_EXTEND
        self.reason = reason

    @classmethod
    def for_run(cls, run: ActionRun) -> EnvironmentActionModal:
        return cls(run.request.kind, run=run)

    def _ready(self) -> bool:
        return self.plan_result is not None

    def _form(self) -> ComposeResult:
        with Vertical(id="action-fields"):
            yield Static(Text("Preview environment", "dim"), classes="field-label")
            yield Static(render.text(self.environment, "bold", max_len=80), id="action-env-name")
            if self.action_spec.duration:
                yield Static(Text("Extend by (e.g. 12h, 2d, 1w)", "dim"), classes="field-label")
                yield Input(value=self.by, id="action-by", placeholder="12h, 2d, 1w",
                            classes=REPLANS)
                yield Static(classes="field-error", id="action-by-error")
        yield ConfirmBox(id="action-confirm-box")

    def _start_form(self) -> None:
        self.query_one(ConfirmBox).setup(self.environment, False)
        if self.reason:
            self.query_one("#confirm-reason", Input).value = self.reason
        if self.action_spec.duration:
            self.query_one("#action-by", Input).focus()
        else:
            self.query_one("#confirm-name", Input).focus()
        self._schedule_plan(settle=False)

    def _seconds(self) -> tuple[int | None, str]:
        if not self.action_spec.duration:
            return None, ""
        raw = self.query_one("#action-by", Input).value
        try:
            return duration_seconds(raw), ""
        except ValueError as exc:
            return None, str(exc)

    def _request(self, *, confirmed: bool = False) -> ActionRequest | None:
        seconds, problem = self._seconds()
        if problem:
            return None
        extra: dict[str, Any] = {}
        box = self.query_one(ConfirmBox)
        if confirmed:
            extra = {"confirmation": box.typed, "reason": box.reason}
        return ActionRequest(id=self.request_id, kind=self.kind, environment=self.environment,
                             params={"seconds": seconds} if seconds is not None else {},
                             **extra)

    def _confirm_state(self) -> tuple[bool, Text]:
        if self.started:
            return False, Text("Starting…", "bold")
        seconds, problem = self._seconds()
        if problem:
            return False, Text(problem, "red")
        refused = self._refused(self.plan_result, "Working out what changes…")
        if refused is not None:
            return refused
        decision = self.plan_result.decision  # type: ignore[union-attr]
        if decision is not None and decision.needs_confirmation:
            untyped = self._untyped(self.environment)
            if untyped is not None:
                return untyped
        verb = self.action_spec.verb
        if seconds is not None:
            verb = f"{verb} by {duration_text(seconds)}"
        return True, self._ready_text(verb)

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        super()._refresh_confirm(keep_status)
        if self.run is None and self.action_spec.duration and not self.reopened:
            _, problem = self._seconds()
            self.query_one("#action-by-error", Static).update(Text(problem, "red"))

    def _denied(self, run: ActionRun) -> None:
        super()._denied(run)
        if run.decision.needs_confirmation:
            focus_now(self.query_one("#confirm-name", Input))
