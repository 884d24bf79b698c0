"""What every sandbox action shares: a prepared ``Work`` (checked, ready to plan or run), the ``Job``
that runs it (progress, undo record, outcome), and the helpers that recognise a repeated request.

See :mod:`idp_tui_sandbox.actions` for how an action goes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    SourceNotFound,
)

from .store import ActionRow

if TYPE_CHECKING:
    from .actions import Operations

#: Action ids running in this process (shared by every sandbox source of the process).
_LIVE: set[str] = set()
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential", re.IGNORECASE)


def owner_alive(row: ActionRow) -> bool:
    """Whether the process that runs ``row`` is still running it."""
    if row.owner == os.getpid():
        return row.id in _LIVE
    try:
        os.kill(row.owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def semver_key(version: str) -> tuple[int, ...]:
    numbers = [int(n) for n in re.findall(r"\d+", version)[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def secret_names(model: type[BaseModel] | None) -> frozenset[str]:
    """Parameters of a template that hold secrets."""
    if model is None:
        return frozenset()
    names = {name for name, info in model.model_fields.items()
             if info.annotation in (SecretStr, SecretBytes, SecretStr | None, SecretBytes | None)}
    for name, prop in model.model_json_schema().get("properties", {}).items():
        if prop.get("format") == "password" or prop.get("writeOnly"):
            names.add(name)
    return frozenset(names)


def fingerprint(request: ActionRequest, model: type[BaseModel] | None = None) -> str:
    """What identifies the request's work (never a secret): a repeated id must ask the same.

    Provisioning parameters are compared as the template's model reads them, so ``"20"`` from the
    command line and ``20`` from a form are the same request.
    """
    secrets = secret_names(model)
    params: dict[str, Any] = dict(request.params)
    if model is not None:
        with contextlib.suppress(ValidationError):
            params = model.model_validate(request.params).model_dump(mode="json")
    params = {k: v for k, v in params.items() if k not in secrets and not _SECRET_NAME.search(k)
              and not isinstance(v, SecretStr | SecretBytes)}
    body = {"kind": request.kind.value, "service": request.service, "environment": request.environment,
            "version": request.version, "replicas": request.replicas, "template": request.template,
            "params": params}
    if request.run_id:
        body["run_id"] = request.run_id
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def human(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


class Job:
    """One running action: its progress, its undo record and whether it has an outcome yet."""

    def __init__(self, ops: Operations, request: ActionRequest, work: Work) -> None:
        self.ops = ops
        self.request = request
        self.work = work
        self.done: int | None = None
        self.total: int | None = None
        self.undo: dict[str, Any] = dict(work.undo)
        self.settled = False

    @property
    def id(self) -> str:
        return self.request.id

    def event(self, message: str, *, done: int | None = None, total: int | None = None,
              level: str = "info") -> ActionEvent:
        if total is not None:
            self.total = total
        if done is not None:
            self.done = done
        return ActionEvent(ts=self.ops.clock.now(), message=message, done=self.done, total=self.total,
                           level=level)

    def save_undo(self, **changes: Any) -> None:
        self.undo.update(changes)
        self.ops.store.set_undo(self.id, self.undo)

    def _settle(self, state: ActionState, message: str, level: str) -> ActionEvent:
        self.settled = True
        self.ops.store.finish_action(self.id, state.value, message, self.done, self.total, self.ops.now())
        return ActionEvent(ts=self.ops.clock.now(), message=message, state=state, done=self.done,
                           total=self.total, level=level)

    def succeed(self, message: str, level: str = "info") -> ActionEvent:
        """Record the success (call after the last change) and return the final event."""
        return self._settle(ActionState.SUCCEEDED, message, level)

    def fail(self, message: str) -> ActionEvent:
        """Record the failure (call after undoing what was done) and return the final event."""
        return self._settle(ActionState.FAILED, message, "error")


class Work(ABC):
    """A prepared action: checked against the sandbox, ready to plan or run."""

    kind: ActionKind
    cancellable = False

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        self.ops = ops
        self.request = request
        #: Written to SQLite when the action starts, updated as it goes; see ``Operations.undo``.
        self.undo: dict[str, Any] = {}

    #: Shown in messages and used to tell two actions on the same target apart.
    title: str = ""
    service: str | None = None
    environment: str | None = None
    #: Provisioning: the template's parameter model (its secrets are left out of the fingerprint).
    model: type[BaseModel] | None = None

    def _target(self) -> Any:
        """Resolve the request's service and environment; the deployment row there, or None."""
        self.spec = self.ops.spec(self.request.service)
        self.env = self.ops.check_environment(self.request.environment)
        self.service, self.environment = self.spec.name, self.env.name
        return self.ops.store.deployment(self.service, self.environment)

    def _deployed(self) -> Any:
        """The deployment row of the request's target; not deployed there is an error."""
        row = self._target()
        if row is None:
            raise SourceNotFound(f"{self.service} is not deployed to {self.environment}")
        return row

    @abstractmethod
    def plan(self) -> ActionPlan: ...

    @abstractmethod
    def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        """Progress events; ends with ``job.succeed(...)`` or ``job.fail(...)`` as the last event."""
