"""Provisioning: pick a template, fill in the form built from its schema, dry-run it, run it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.validation import Integer, Number
from textual.widget import Widget
from textual.widgets import Button, DataTable, Footer, Input, Select, Static, Switch

from ... import render
from ...actions import ActionRun, PlanResult, TemplateEntry
from ...api.actions import ActionKind, ActionRequest
from ...hub import Failure, classify
from ..tables import KeyedTable
from .base import ActionDialog
from .form import (
    MISSING,
    FieldSpec,
    bounds_text,
    check,
    form_fields,
    hint_text,
    parse_text,
    shorten,
)
from .texts import decision_text, run_summary, switch_text
from .widgets import ConfirmBox


class FormField(Horizontal):
    """One row of the form: the label and description on the left; the control for the field's
    type and, under it, its error on the right."""

    DEFAULT_CLASSES = "form-field"

    def __init__(self, spec: FieldSpec, index: int) -> None:
        super().__init__(id=f"form-field-{index}")
        self.spec = spec
        self.index = index
        #: The error shown under the control (None: none; MISSING: not drawn yet).
        self._error: object = MISSING

    def compose(self) -> ComposeResult:
        spec = self.spec
        label = Text(end="")
        label.append_text(render.text(spec.title, "bold", max_len=80))
        if spec.required:
            label.append(" *", "bold red")
        extra = hint_text(spec)
        if extra:
            label.append(f"  ({extra})", "dim")
        with Vertical(classes="form-label-column"):
            yield Static(label, classes="form-label")
            if spec.description:
                yield Static(render.text(spec.description, "dim italic", max_len=300),
                             classes="form-description")
        with Vertical(classes="form-control-column"):
            control = self._control()
            if isinstance(control, Switch):
                with Horizontal(classes="form-switch-row"):
                    yield control
                    yield Static(switch_text(control.value), classes="form-switch-state")
            else:
                yield control
            yield Static(classes="field-error")

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        self.query_one(".form-switch-state", Static).update(switch_text(event.value))

    def _control(self) -> Widget:
        spec, control_id = self.spec, f"form-control-{self.index}"
        default = spec.default
        has_default = default is not MISSING and default is not None
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
        placeholder = bounds_text(spec) if spec.kind in ("integer", "number") else ""
        return Input(value=value, type=input_type,  # type: ignore[arg-type]
                     validators=validators or None, valid_empty=not spec.required, id=control_id,
                     classes="form-control", placeholder=placeholder)

    @property
    def control(self) -> Widget:
        return self.query_one(".form-control")

    def value(self) -> Any:
        """The value to validate, or ``MISSING`` to leave the field out (its default applies)."""
        control = self.control
        if isinstance(control, Switch):
            return control.value
        if isinstance(control, Select):
            return MISSING if control.value is Select.NULL else control.value
        assert isinstance(control, Input)
        return parse_text(self.spec, control.value)

    def show_error(self, message: str | None) -> None:
        if message == self._error:
            return  # (a form is checked on every keystroke: the same error is not drawn again)
        self._error = message
        error = self.query_one(".field-error", Static)
        error.update(Text(f"✖ {message}", "red") if message else Text(""))
        error.display = bool(message)
        self.set_class(bool(message), "-invalid")


class ProvisionModal(ActionDialog):
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

    @classmethod
    def for_run(cls, run: ActionRun) -> ProvisionModal:
        return cls(run=run)

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
                    with Vertical(classes="action-send"):
                        yield Static(id="action-status")
                        with Horizontal(classes="action-buttons"):
                            yield Button("Back", id="provision-back")
                            yield Button("Dry run", id="provision-dry-run", variant="primary")
                            yield Button("Run", id="action-confirm", variant="warning",
                                         disabled=True)
                            yield Button("Cancel action", id="action-cancel", variant="error")
                            yield Button("Close", id="action-close")
                yield from self._side()
        yield Footer()

    def _start_form(self) -> None:
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
        self._sync_confirm_key()

    async def _load_templates(self) -> None:
        try:
            entries = await self.manager.templates()
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self._show_plan(PlanResult(None, None, failure=classify("hub", exc)))
            return
        self.templates = entries
        rows = [(str(i), (render.text(e.template.title, "bold", max_len=30),
                          render.text(e.template.kind, max_len=16),
                          render.text(shorten(e.template.description, 24), "dim")))
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
        environment = getattr(self.app, "environment", None)
        for spec in specs:
            # A resource for "the service" and "the environment": the ones selected in the
            # dashboard, to start with (an environment the template offers).
            if spec.name == "service" and spec.kind == "string" and selected and \
                    spec.default in (MISSING, None, ""):
                spec.default = selected
            if spec.name == "environment" and environment and (
                    spec.kind == "string" or spec.kind == "enum" and environment in spec.choices):
                spec.default = environment
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
        dry_run = self._key_of("provision.dry_run") or "ctrl+t"
        self._set_status(Text(f"Fill in the form · {dry_run}: dry run, shows what will be "
                              f"created · {self.confirm_key()}: run, creates it", "dim"))
        self.validate_form()
        self._fit()
        if self.fields:
            self.fields[0].control.focus()
        self._sync_confirm_key()

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
            if value is not MISSING:
                out[form_field.spec.name] = value
        return out

    def _secret_values(self) -> list[str]:
        return [str(f.value()) for f in self.fields
                if f.spec.kind == "secret" and f.value() is not MISSING]

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
        errors, general = check(self.entry.template.params, values,
                                {f.spec.name for f in self.fields}, self._scrub)
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
            self._sync_confirm_key()
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

    def _tried_values(self) -> dict[str, Any] | None:
        """The values, checked with every error shown (a dry run or a run was asked for)."""
        self.tried = True
        values = self.validate_form(show_all=True)
        if values is None:
            self._set_status(Text("Fix the fields marked in red first.", "red"))
        return values

    @on(Button.Pressed, "#provision-dry-run")
    def action_dry_run(self) -> None:
        if self.started or self.entry is None:
            return
        values = self._tried_values()
        if values is None:
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
            self._set_status(Text(f"Dry run done: nothing was created. Press "
                                  f"{self.confirm_key()} (or Run) to create it.", "green"))

    @on(Button.Pressed, "#action-confirm")
    def confirm(self) -> None:
        """Run the template (once)."""
        if self.started or self.entry is None:
            return
        values = self._tried_values()
        if values is None:
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
