"""Deploy, roll back, scale or restart one service in one environment."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.validation import Integer
from textual.widgets import DataTable, Input, Select, Static

from ... import render
from ...actions import ActionRun, PlanResult
from ...api.actions import ActionKind, ActionRequest, ActionState, VersionOption
from ...hub import classify
from ..base import focus_now
from ..tables import KeyedTable
from .planned import REPLANS, PlannedDialog
from .texts import denied_text, failure_text, plan_text, unchanged
from .widgets import ConfirmBox

MAX_REPLICAS = 10_000

class ActionModal(PlannedDialog):
    """Deploy, rollback, scale or restart one service in one environment."""

    def __init__(self, kind: ActionKind, service: str, environment: str, *,
                 environments: list[str] | None = None, replicas: int | None = None,
                 run: ActionRun | None = None, instance: str | None = None,
                 version: str | None = None, wanted_replicas: int | None = None) -> None:
        super().__init__(run)
        #: The version to select first when the source offers it (an advisor's remedy).
        self.wanted_version = version
        #: Scale: the replicas to fill in instead of the current ones (an advisor's remedy).
        self.wanted_replicas = wanted_replicas
        #: Restart instance: the instance (its environment is fixed: it runs there).
        self.instance = instance
        if instance:
            environments = [environment]
        self.kind = kind
        self.service = service
        self.environment = environment
        self.environments = list(dict.fromkeys([*(environments or []), environment]))
        #: The replicas the service has in ``environment`` (a scale to as many changes nothing).
        self.replicas = replicas
        self.versions: list[VersionOption] | None = None
        self.version: str | None = None

    def _ready(self) -> bool:
        return self.plan_result is not None or self.versions == []

    @classmethod
    def for_run(cls, run: ActionRun) -> ActionModal:
        r = run.request
        return cls(r.kind, r.service or "", r.environment or "", run=run,
                   instance=str(r.params.get("instance") or "") or None)

    def _form(self) -> ComposeResult:
        with Vertical(id="action-fields"):
            yield Static(Text("Service", "dim"), classes="field-label service-label")
            yield Static(render.text(self.service, "bold", max_len=80),
                         id="action-service")
            if self.instance:
                yield Static(Text("Instance", "dim"), classes="field-label")
                yield Static(render.text(self.instance, "bold", max_len=120),
                             id="action-instance")
            yield Static(Text("Target environment", "dim"), classes="field-label")
            yield Select([(render.text(e, max_len=60), e)
                          for e in self.environments],
                         value=self.environment, allow_blank=False,
                         id="action-env")
            if self.action_spec.needs_version:
                yield Static(Text.assemble(("Version", "dim"),
                                           ("  newest first · ", "dim"),
                                           ("●", "green"),
                                           (" runs there now", "dim")),
                             classes="field-label")
                yield KeyedTable(id="action-versions")
            if self.action_spec.needs_replicas:
                yield Static(Text(f"Replicas (0–{MAX_REPLICAS:,})", "dim"),
                             classes="field-label")
                current = "" if self.replicas is None else str(self.replicas)
                if self.wanted_replicas is not None:
                    current = str(self.wanted_replicas)
                yield Input(value=current, type="integer", id="action-replicas",
                            validators=[Integer(minimum=0, maximum=MAX_REPLICAS)],
                            placeholder="replicas", classes=REPLANS)
                yield Static(classes="field-error", id="action-replicas-error")
        yield ConfirmBox(id="action-confirm-box")

    def _start_form(self) -> None:
        self.query_one(ConfirmBox).setup(self.environment, False)
        if self.action_spec.needs_version:
            table = self.query_one("#action-versions", KeyedTable)
            table.set_columns([("version", "Version"), ("built", "Built"), ("commit", "Commit"),
                               ("envs", "Running in")])
            table.focus()
        elif self.action_spec.needs_replicas:
            self.query_one("#action-replicas", Input).focus()
        else:
            self.query_one("#action-env", Select).focus()
        self._reload()

    # Loading -------------------------------------------------------------------------------------

    def _reload(self) -> None:
        self.plan_result = None
        self._refresh_confirm()
        if self.action_spec.needs_version:
            self.versions = None
            self.version = None
            self._show_plan(None, "Loading the versions…")
            self.run_worker(self._load_versions(self.environment), group="versions",
                            exclusive=True, exit_on_error=False)
        else:
            self._schedule_plan(settle=False)

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
            if option.built_at and option.time_label != "built":  # what the time is of
                built = Text.assemble(render.text(option.time_label, "dim", max_len=20), " ",
                                      built)
            rows.append((option.version, (name, built,
                                          render.text(option.commit[:12], "cyan", max_len=12),
                                          render.text(", ".join(option.environments), max_len=80))))
        table = self.query_one("#action-versions", KeyedTable)
        table.sync(rows)
        if not self.versions:
            self._show_plan(None, "The source offers no version to deploy here.")
            self._refresh_confirm()
            return
        names = [option.version for option in self.versions]
        row = names.index(self.wanted_version) if self.wanted_version in names else 0
        table.move_cursor(row=row)
        self.version = self.versions[row].version
        self._schedule_plan(settle=False)

    def _planned(self, needs_confirmation: bool) -> None:
        if needs_confirmation and self.focused is self.query_one("#action-env", Select):
            # Nothing left to decide but the environment's name: typing it lands in the box.
            focus_now(self.query_one("#confirm-name", Input))

    def _show_plan(self, result: PlanResult | None, waiting: str = "") -> None:
        replicas = None
        if self.action_spec.needs_replicas:
            target = self.run.request.replicas if self.reopened and self.run is not None \
                else self._replicas()[0]
            replicas = (self.replicas, target)
        self.query_one("#action-plan", Static).update(plan_text(result, self.kind,
                                                                waiting=waiting,
                                                                replicas=replicas))

    # The form ------------------------------------------------------------------------------------

    def _replicas(self) -> tuple[int | None, str]:
        if not self.action_spec.needs_replicas:
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
        if self.action_spec.needs_version and not self.version:
            return None
        extra: dict[str, Any] = {}
        if confirmed:
            box = self.query_one(ConfirmBox)
            extra = {"confirmation": box.typed, "reason": box.reason}
        if self.instance:
            extra["params"] = {"instance": self.instance}
        return ActionRequest(id=self.request_id, kind=self.kind, service=self.service,
                             environment=self.environment,
                             version=self.version if self.action_spec.needs_version else None,
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
        if self.action_spec.needs_version and self.versions is not None and not self.versions:
            return False, Text("Nothing to deploy.", "dim")
        if result is None:
            return False, Text("Working out what changes…", "dim")
        if result.failure is not None:
            return False, failure_text(result.failure)
        decision = result.decision
        if decision is None:
            return False, Text("No policy decision.", "red")
        if not decision.allowed and not decision.needs_confirmation and \
                not decision.needs_approval:
            return False, denied_text(decision.message)
        same = unchanged(self.kind, result.plan, replicas=replicas,
                         current_replicas=self.replicas)
        if same is not None:
            return False, Text(f"{same} Nothing to confirm.", "yellow")
        if decision.needs_confirmation:
            untyped = self._untyped(self.environment)
            if untyped is not None:
                return untyped
        return True, self._ready_text(self.action_spec.verb)

    def _refresh_confirm(self, keep_status: bool = False) -> None:
        super()._refresh_confirm(keep_status)
        if self.run is not None and self.run.state is not ActionState.DENIED:
            return
        if self.action_spec.needs_replicas and not self.reopened:
            _, problem = self._replicas()
            self.query_one("#action-replicas-error", Static).update(Text(problem, "red"))

    @on(Select.Changed, "#action-env")
    def _environment_changed(self, event: Select.Changed) -> None:
        value = event.value
        if value is Select.NULL or value == self.environment or self.started:
            return
        self.environment = str(value)
        platform = getattr(self.app, "platform", None)
        if platform is not None:
            dep = platform.deployments.get((self.service, self.environment))
            self.replicas = dep.replicas_desired if dep is not None else None
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
