"""Re-run the failed jobs of a pipeline run, or cancel it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Button, Static

from ... import render
from ...actions import ActionRun, PlanResult
from ...api.actions import ActionKind, ActionRequest
from ...api.models import PipelineRun
from ...hub import classify
from .base import ConfirmedDialog
from .texts import failure_text


class RunActionModal(ConfirmedDialog):
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

    def _form(self) -> ComposeResult:
        yield Static(self._pipeline_text(), id="action-pipeline-run")

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
        return True, Text(f"Ready: press {self.action_spec.verb}.", "green")
