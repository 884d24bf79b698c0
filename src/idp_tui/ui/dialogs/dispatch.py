"""Run a workflow with the inputs its file declares: the form is built from the inputs the
source's plan gives (``ActionPlan.inputs``), each value checked as it is typed; an input that
names a protected environment asks for its name typed and a reason."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Select, Static, Switch

from ... import render
from ...actions import ActionRun, PlanResult, TemplateEntry
from ...api.actions import ActionKind, ActionRequest, Template
from ...api.models import PipelineRun
from ...hub import classify
from ...inputs import model_for
from .form import MISSING, check, form_fields
from .planned import REPLANS, PlannedDialog
from .provision import FormField
from .texts import failure_text
from .widgets import ConfirmBox


class DispatchModal(PlannedDialog):
    """Run ``workflow`` of ``service``'s repository on a branch or tag, with its inputs (the
    environment is the one an input names, as the plan says: asked without one)."""

    incomplete = "Fill in the inputs to see what runs."

    def __init__(self, service: str = "", workflow: str = "", ref: str = "", source: str = "",
                 *, run: ActionRun | None = None) -> None:
        super().__init__(run)
        self.kind = ActionKind.DISPATCH
        request = run.request if run is not None else None
        self.service = service or (request.service if request else "") or ""
        self.workflow = workflow or (request.template if request else "") or ""
        self.ref = ref or (request.version if request else "") or ""
        self.source = source or (request.source if request else "") or ""
        self.entry: TemplateEntry | None = None
        self.fields: list[FormField] = []
        #: Inputs the user has changed (their errors show; the others' once confirm is pressed).
        self.touched: set[str] = set()
        self.environment: str | None = request.environment if request is not None else None
        self.load_error: Text | None = None

    @classmethod
    def for_run(cls, run: ActionRun) -> DispatchModal:
        return cls(run=run)

    @classmethod
    def of_run(cls, pipeline_run: PipelineRun) -> DispatchModal:
        """The workflow of ``pipeline_run``, on its branch."""
        return cls(pipeline_run.service, pipeline_run.pipeline, pipeline_run.branch,
                   pipeline_run.source)

    def _ready(self) -> bool:
        """The inputs are shown and, once the values are valid, the plan."""
        return self.load_error is not None or self.entry is not None and (
            self.plan_result is not None or self.validate_form() is None)

    def _title(self) -> Text:
        title = Text(end="")
        title.append("Run workflow ", "bold")
        title.append_text(render.text(self.workflow, "bold cyan", max_len=60))
        title.append(" of ", "bold")
        title.append_text(render.text(self.service, "bold cyan", max_len=60))
        return title

    def _form(self) -> ComposeResult:
        with Vertical(id="action-fields"):
            yield Static(Text("Branch or tag", "dim"), classes="field-label")
            yield Input(value=render.sanitize(self.ref, max_len=200), id="dispatch-ref",
                        placeholder="the source's default branch", classes=REPLANS)
            yield Static(Text("Inputs", "dim"), classes="field-label")
            yield VerticalScroll(id="dispatch-form")
        yield ConfirmBox(id="action-confirm-box")

    def _start_form(self) -> None:
        self.query_one(ConfirmBox).setup(None, False)
        self._show_plan(None, "Reading the workflow's inputs…")
        self._refresh_confirm()
        self.run_worker(self._load(), group="inputs", exclusive=True, exit_on_error=False)

    def _bare(self) -> ActionRequest:
        return ActionRequest(id=self.request_id, kind=self.kind, service=self.service,
                             template=self.workflow, version=self._ref(),
                             source=self.source or None)

    def _ref(self) -> str | None:
        if not self.is_mounted or self.reopened:
            return self.ref or None
        return self.query_one("#dispatch-ref", Input).value.strip() or None

    async def _load(self) -> None:
        try:
            schema = await self.manager.inputs(self._bare())
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            failure = classify("hub", exc)
            self.load_error = failure_text(failure, "cannot read the workflow")
            self.plan_result = PlanResult(None, None, failure=failure)
            self._show_plan(self.plan_result)
            self._refresh_confirm()
            return
        schema = schema or {"type": "object", "properties": {}}
        model = model_for(schema, self.workflow)
        self.entry = TemplateEntry(self.source, Template(name=self.workflow, title=self.workflow,
                                                         params=model))
        form = self.query_one("#dispatch-form", VerticalScroll)
        self.fields = [FormField(spec, i) for i, spec in enumerate(form_fields(self.entry))]
        if self.fields:
            await form.mount_all(self.fields)
            self.fields[0].control.focus()
        else:
            await form.mount(Static(Text("It declares no inputs.", "dim")))
            self.query_one("#dispatch-ref", Input).focus()
        self._fit()
        self._schedule_plan(settle=False)

    # The values ----------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for form_field in self.fields:
            value = form_field.value()
            if value is not MISSING:
                out[form_field.spec.name] = value
        return out

    def validate_form(self, show_all: bool = False) -> dict[str, Any] | None:
        """Check the values against the declared inputs; show each error by its field."""
        if self.entry is None:
            return None
        values = self.values()
        errors, general = check(self.entry.template.params, values,
                                {f.spec.name for f in self.fields})
        for form_field in self.fields:
            name = form_field.spec.name
            form_field.show_error(errors.get(name) if show_all or name in self.touched
                                  else None)
        return values if not errors and not general else None

    def _schedule_plan(self, *, settle: bool = True) -> None:
        if self.entry is not None:  # (no plan before the workflow's inputs are read)
            super()._schedule_plan(settle=settle)

    def _plan_request(self) -> ActionRequest | None:
        values = self.validate_form()
        return None if values is None else self._bare().model_copy(update={"params": values})

    def _took_plan(self, result: PlanResult) -> None:
        self.environment = result.request.environment if result.request is not None else None

    def _request(self, *, confirmed: bool = False) -> ActionRequest | None:
        values = self.validate_form(show_all=confirmed)
        if values is None:
            return None
        extra: dict[str, Any] = {}
        if confirmed:
            box = self.query_one(ConfirmBox)
            extra = {"confirmation": box.typed, "reason": box.reason}
        return self._bare().model_copy(update={"params": values,
                                               "environment": self.environment, **extra})

    def _confirm_state(self) -> tuple[bool, Text]:
        if self.started:
            return False, Text("Starting…", "bold")
        if self.load_error is not None:
            return False, self.load_error
        if self.entry is None:
            return False, Text("Reading the workflow's inputs…", "dim")
        if self.validate_form() is None:
            return False, Text("Fix the inputs marked in red (* is required).", "yellow")
        result = self.plan_result
        refused = self._refused(result, "Working out what runs…")
        if refused is not None:
            return refused
        if result.decision.needs_confirmation:  # type: ignore[union-attr]
            untyped = self._untyped(self.environment)
            if untyped is not None:
                return untyped
        return True, self._ready_text(self.action_spec.verb)

    @on(Input.Changed, ".form-control")
    @on(Select.Changed, ".form-control")
    @on(Switch.Changed, ".form-control")
    def _field_changed(self, event: Message) -> None:
        if self.started or self.entry is None:
            return
        control = getattr(event, "control", None) or getattr(event, "switch", None)
        for node in (control.ancestors_with_self if control is not None else ()):
            if isinstance(node, FormField):
                if not (isinstance(event, Select.Changed) and event.value is Select.NULL):
                    self.touched.add(node.spec.name)
                break
        self._schedule_plan()

    @on(Input.Submitted, ".form-control")
    def _field_submitted(self) -> None:
        self.focus_next()
