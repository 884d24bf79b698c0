"""The records of the action layer (:mod:`idp_tui.actions`): one action from its request to its
outcome (:class:`ActionRun`, what the Activity screen and the dialogs show), the dry run a dialog
shows before the user confirms (:class:`PlanResult`), a source's provisioning template, and who
acts."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretBytes, SecretStr

from .actionenv import duration_text
from .actionspec import Target, spec
from .api.actions import ActionEvent, ActionPlan, ActionRequest, ActionState, Template
from .hub import Failure
from .policy import Decision

if TYPE_CHECKING:
    import concurrent.futures

    from .audit import AuditError

#: Events kept per action (the oldest are dropped beyond this; the count says so).
MAX_EVENTS = 2000


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields of a template's parameter model that hold secrets (``SecretStr`` or password)."""
    names = set()
    for name, info in model.model_fields.items():
        if info.annotation in (SecretStr, SecretBytes, SecretStr | None, SecretBytes | None):
            names.add(name)
            continue
        extra = info.json_schema_extra
        if isinstance(extra, dict) and (extra.get("format") == "password" or extra.get("writeOnly")):
            names.add(name)
    schema = model.model_json_schema()
    for name, prop in schema.get("properties", {}).items():
        if prop.get("format") == "password" or prop.get("writeOnly"):
            names.add(name)
    return frozenset(names)


@dataclass
class TemplateEntry:
    source: str
    template: Template

    @property
    def secret_fields(self) -> frozenset[str]:
        return secret_fields(self.template.params)


@dataclass
class PlanResult:
    """What the modal shows before the user confirms."""

    source: str | None
    decision: Decision | None
    plan: ActionPlan | None = None
    failure: Failure | None = None
    #: The request as the hub would send it: with the environment a review or an input names.
    request: ActionRequest | None = None


@dataclass
class ActionRun:
    """One action, from the request to its outcome. Shown by the Activity screen."""

    request: ActionRequest
    source: str
    decision: Decision
    #: Parameters as recorded in the audit log: secrets replaced by ``***``.
    public_params: dict[str, Any]
    created_at: datetime
    state: ActionState = ActionState.PENDING
    plan: ActionPlan | None = None
    events: list[ActionEvent] = field(default_factory=list)
    dropped_events: int = 0
    finished_at: datetime | None = None
    error: str | None = None
    cancellable: bool = False
    #: Why the audit log refused to record the start (the action did not start), if it did.
    audit_error: AuditError | None = None
    _future: concurrent.futures.Future[None] | None = None
    _cancel_requested: bool = False
    _timed_out: bool = False

    @property
    def waiting(self) -> bool:
        """It ended waiting for approval: its request is recorded, and it runs once approved
        (its state says denied: nothing ran)."""
        return self.state is ActionState.DENIED and self.decision.needs_approval

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def title(self) -> str:
        r = self.request
        row = spec(r.kind)
        where = f" in {r.environment}" if r.environment else ""
        if row.target is Target.TEMPLATE:
            service = f" for {r.service}" if r.service else ""
            return f"{row.title_phrase} {r.template or '?'}{service}{where}"
        if row.target is Target.WORKFLOW:
            ref = f" on {r.version}" if r.version else ""
            return f"{row.title_phrase} {r.template or '?'} of {r.service or '?'}{ref}{where}"
        if row.target is Target.RUN:
            job = f" (job {r.params.get('job')})" if row.job and r.params.get("job") else ""
            return f"{row.title_phrase} {r.service or '?'} run {r.run_id or '?'}{job}{where}"
        if row.target is Target.ENVIRONMENT:
            by = r.params.get("seconds")
            by_text = f" by {duration_text(by)}" if row.duration and isinstance(by, int) else ""
            return f"{row.title_phrase} {r.environment or '?'}{by_text}"
        what = f"{row.title_phrase} {r.service or '?'}"
        if row.instance and r.params.get("instance"):
            what += f" ({r.params.get('instance')})"
        if row.takes_version and r.version:
            what += f" {r.version}"
        if row.needs_replicas and r.replicas is not None:
            what += f" to {r.replicas}"
        return what + where

    @property
    def progress(self) -> tuple[int, int] | None:
        for event in reversed(self.events):
            if event.done is not None and event.total:
                return event.done, event.total
        return None


Listener = Callable[[ActionRun], None]
