"""A pipeline run's actions: re-run its failed jobs, every job or one job, cancel it, approve or
reject the deployment it waits for review on."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Button, Input, Select, Static

from ... import render
from ...actions import ActionRun, PlanResult
from ...api.actions import ActionKind, ActionRequest
from ...api.models import PipelineRun, RunStatus
from ...hub import classify
from ..base import focus_now
from .base import ConfirmedDialog
from .widgets import ConfirmBox


class RunActionModal(ConfirmedDialog):
    """One action on a pipeline run: the run (and, for a job's re-run, which job), what the
    source says it will do, the policy (a review in a protected environment: its name typed and
    a reason, the review's comment), then the run's progress as the source follows it."""

    def __init__(self, kind: ActionKind, pipeline_run: PipelineRun | None = None, *,
                 run: ActionRun | None = None, job: str | None = None) -> None:
        super().__init__(run)
        self.kind = kind
        self.pipeline_run = pipeline_run
        request = run.request if run is not None else None
        self.run_id = pipeline_run.id if pipeline_run is not None else request.run_id or ""
        self.service = pipeline_run.service if pipeline_run is not None else request.service or ""
        self.source = pipeline_run.source if pipeline_run is not None else request.source or ""
        #: The job a job's re-run is about (its id, else its name).
        self.job = job if job is not None else self._first_job()
        #: Where a review acts, once the plan has said it.
        self.environment: str | None = request.environment if request is not None else None

    @classmethod
    def for_run(cls, run: ActionRun) -> RunActionModal:
        return cls(run.request.kind, run=run)

    def _first_job(self) -> str | None:
        """The job offered first: the first failed one, else the first."""
        r = self.pipeline_run
        if r is None or not r.jobs:
            return None
        failed = [j for j in r.jobs if j.status is RunStatus.FAILED]
        job = (failed or list(r.jobs))[0]
        return job.id or job.name

    def _ready(self) -> bool:
        return self.plan_result is not None

    def _form(self) -> ComposeResult:
        yield Static(self._pipeline_text(), id="action-pipeline-run")
        if self.action_spec.job:
            r = self.pipeline_run
            jobs = list(r.jobs) if r is not None else []
            yield Static(Text("Job", "dim"), classes="field-label")
            yield Select([(render.text(j.name, max_len=60), j.id or j.name) for j in jobs],
                         value=self.job if self.job is not None else Select.NULL,
                         allow_blank=self.job is None, prompt="choose a job…",
                         id="action-job")
        if self.action_spec.reviews:
            yield ConfirmBox(id="action-confirm-box")

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

    def _start_form(self) -> None:
        if self.action_spec.reviews:
            self.query_one(ConfirmBox).setup(None, False)
        if self.action_spec.job:
            self.query_one("#action-job", Select).focus()  # the job to re-run: the one decision
        else:
            self.query_one("#action-confirm", Button).focus()
        self._replan()

    def _replan(self) -> None:
        self.plan_result = None
        self._refresh_confirm()
        self.run_worker(self._plan(), group="plan", exclusive=True, exit_on_error=False)

    async def _plan(self) -> None:
        request = self._request()
        try:
            result = await self.manager.plan(request)
        except Exception as exc:  # noqa: BLE001 - plan reports failures itself; just in case
            result = PlanResult(None, None, failure=classify("hub", exc))
        self.plan_result = result
        if result.request is not None:
            self.environment = result.request.environment
        self._show_plan(result)
        if self.action_spec.reviews:
            needed = result.decision is not None and result.decision.needs_confirmation
            self.query_one(ConfirmBox).setup(self.environment, needed)
            if needed:
                focus_now(self.query_one("#confirm-name", Input))
        self._refresh_confirm()
        button = self.query_one("#action-confirm", Button)
        if self.focused is None and not button.disabled:
            button.focus()  # nothing to decide: the button the confirm key stands for

    def _request(self, *, confirmed: bool = False) -> ActionRequest:
        extra: dict[str, Any] = {}
        if confirmed and self.action_spec.reviews:
            box = self.query_one(ConfirmBox)
            extra = {"confirmation": box.typed, "reason": box.reason}
        return ActionRequest(id=self.request_id, kind=self.kind, service=self.service or None,
                             run_id=self.run_id, source=self.source or None,
                             environment=self.environment,
                             params={"job": self.job} if self.action_spec.job and self.job
                             else {}, **extra)

    def _confirm_state(self) -> tuple[bool, Text]:
        if self.started:
            return False, Text("Starting…", "bold")
        if self.action_spec.job and not self.job:
            return False, Text("Choose the job to re-run.", "yellow")
        result = self.plan_result
        refused = self._refused(result, "Asking the source…")
        if refused is not None:
            return refused
        if result.decision.needs_confirmation and self.action_spec.reviews:  # type: ignore[union-attr]
            untyped = self._untyped(self.environment, "it is the review's comment and goes into "
                                                      "the audit log")
            if untyped is not None:
                return untyped
        return True, self._ready_text(self.action_spec.verb)

    def _lock_form(self) -> None:
        for widget in self.query("#action-job, #action-confirm-box"):
            widget.disabled = True

    def _denied(self, run: ActionRun) -> None:
        if self.action_spec.reviews:
            self.query_one(ConfirmBox).setup(run.request.environment,
                                             run.decision.needs_confirmation)

    @on(Select.Changed, "#action-job")
    def _job_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.NULL else str(event.value)
        if value == self.job or self.started:
            return
        self.job = value
        self._replan()

    @on(Input.Submitted, "#confirm-name, #confirm-reason")
    def _input_submitted(self) -> None:
        self.focus_next()
