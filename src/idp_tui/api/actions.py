"""Records for actions that change a platform: deploy, rollback, scale, restart and provision.

The dashboard and the ``idp-tui`` command build an :class:`ActionRequest`; the hub checks it against
the policy, writes it to the audit log, and hands it to the source that owns the service (or the
template). The source answers :meth:`Source.plan_action` with an :class:`ActionPlan` (what would
change, shown before the user confirms) and :meth:`Source.run_action` with a stream of
:class:`ActionEvent` until the action has succeeded or failed.

Nothing in here imports Textual.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .kinds import ActionKind, ActionState
from .models import Record


class ActionRequest(Record):
    """One action asked for by a person or a script.

    ``id`` is the idempotency key: the hub starts an id at most once, and passes it to the source so
    the source can refuse to repeat it too (a retried request after a lost answer, say).
    """

    id: str = Field(min_length=1, max_length=128)
    kind: ActionKind
    service: str | None = None
    environment: str | None = None
    #: Deploy and rollback: the version to run. Rollback without one means "the previous version".
    version: str | None = None
    #: Scale: the wanted number of replicas.
    replicas: int | None = Field(default=None, ge=0, le=10_000)
    #: Provision: the template's name and its parameters (validated by the template's model).
    template: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: Rerun and cancel: the pipeline run (``PipelineRun.id``).
    run_id: str | None = None
    #: Rerun and cancel: the source that reported the run (``PipelineRun.source``), which runs it.
    source: str | None = None
    #: Why; required for protected environments.
    reason: str = ""
    #: Who asked (the OS user or the configured identity); filled in by the hub.
    actor: str = ""
    #: The environment name typed to confirm a protected environment.
    confirmation: str = ""


class Change(Record):
    """One change between two versions (a commit, a merged pull request…)."""

    id: str
    message: str = ""
    author: str = ""
    url: str = ""


class VersionOption(Record):
    """A version a source can deploy, for the deploy modal's picker (newest first)."""

    version: str
    built_at: datetime | None = None
    #: What ``built_at`` is the time of: "built" (the image or package was made), or what the
    #: source knows instead ("first deployed": when a Kubernetes revision of it was made).
    time_label: str = "built"
    commit: str = ""
    #: The pipeline run that built it, where the source knows one.
    run_id: str = ""
    #: The version running now in the asked environment.
    current: bool = False
    #: Environments that run this version now.
    environments: tuple[str, ...] = ()


class PlannedResource(Record):
    """Something a provisioning action will create, for the dry-run preview."""

    kind: str
    name: str
    details: dict[str, str] = Field(default_factory=dict)


class ActionPlan(Record):
    """What an action would change, shown before the user confirms (and by ``--dry-run``)."""

    summary: str
    current_version: str | None = None
    target_version: str | None = None
    #: Deploys: the changes between the current and the target version, newest first.
    changes: tuple[Change, ...] = ()
    #: Deploys: environments that already run the target version.
    running_elsewhere: tuple[str, ...] = ()
    #: Provisioning: what will be created.
    creates: tuple[PlannedResource, ...] = ()
    #: Anything else worth reading before saying yes.
    notes: tuple[str, ...] = ()
    #: Whether the running action can be stopped part-way.
    cancellable: bool = False
    #: Approve and reject: the environments the run waits for (the source's names for them).
    environments: tuple[str, ...] = ()
    #: The parameters the action takes, as a JSON Schema (a workflow's declared inputs): the
    #: dashboard shows them as a form and the hub checks ``ActionRequest.params`` against them.
    inputs: dict[str, Any] | None = None
    estimated_duration: timedelta | None = None


class ActionEvent(Record):
    """One progress event of a running action.

    A source yields these from :meth:`Source.run_action`; the last one carries a final ``state``
    (succeeded or failed). ``done``/``total`` show progress such as "instances updated 3/5".
    """

    ts: datetime
    message: str
    state: ActionState = ActionState.RUNNING
    done: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    #: "info", "warning" or "error".
    level: str = "info"


class Template(BaseModel):
    """A provisioning template offered by a source.

    ``params`` is a pydantic model: the form is rendered from its JSON Schema (text, number,
    enum as a select, boolean, and ``SecretStr`` fields as passwords) and the values are validated by
    it before the request is sent.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    title: str
    description: str = ""
    #: What it creates: "environment", "service", "database", "queue", "bucket", …
    kind: str = "resource"
    params: type[BaseModel]

    def json_schema(self) -> dict[str, Any]:
        return self.params.model_json_schema()


class Resource(Record):
    """Something provisioned: a database, a queue, a bucket… shown with the service it belongs to."""

    kind: str
    name: str
    service: str | None = None
    environment: str | None = None
    status: str = "ready"
    created_at: datetime | None = None
    expires_at: datetime | None = None
    details: dict[str, str] = Field(default_factory=dict)
    #: Set by the hub: the source that reported it.
    source: str = ""
