"""The sandbox's actions on a preview environment itself: extend its time to live, delete it.

A preview environment (made by the ``preview-environment`` template) expires at the time its
row holds; extending moves that time on (from the later of now and the current expiry), deleting
removes the environment with its deployments, their history and its resources at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from idp_tui import ActionEvent, ActionKind, ActionPlan, ActionRequest, SourceError

from .jobs import Job, Work
from .store import EnvironmentRow

if TYPE_CHECKING:
    from .actions import Operations

#: How far ahead a preview environment may expire at most (30 days from now).
LONGEST_AHEAD = 30 * 86400.0
#: Simulated seconds each takes.
EXTEND_SECONDS, DELETE_SECONDS = 1.0, 4.0


def _when(value: float) -> str:
    return f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M} UTC"


def _by(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"


class EnvironmentWork(Work):
    """Extend or delete one preview environment of the sandbox."""

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        self.kind = request.kind
        self.env: EnvironmentRow = ops.check_environment(request.environment)
        self.environment = self.env.name
        if self.env.kind != "preview":
            raise SourceError(f"{self.environment} is not a preview environment: only a preview "
                              "environment is extended or deleted",
                              hint="Preview environments are made by the preview-environment "
                                   "template.")
        now = ops.now()
        if request.kind is ActionKind.EXTEND:
            seconds = request.params.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
                raise SourceError("extend needs a whole number of seconds above 0 "
                                  "(params.seconds)")
            self.seconds = float(seconds)
            start = max(self.env.expires_at if self.env.expires_at is not None else now, now)
            self.new_expiry = start + self.seconds
            if self.new_expiry - now > LONGEST_AHEAD:
                raise SourceError(f"{self.environment} would expire at {_when(self.new_expiry)}, "
                                  f"more than {LONGEST_AHEAD / 86400:.0f} days from now",
                                  hint="Extend it by less.")
            self.title = f"extend {self.environment}"
        else:
            self.title = f"delete environment {self.environment}"
        self.deployed = sorted(row.service for row in ops.store.deployments()
                               if row.environment == self.environment)
        self.resources = sorted((row.kind, row.name) for row in ops.store.resources()
                                if row.environment == self.environment)

    def plan(self) -> ActionPlan:
        ops = self.ops
        if self.kind is ActionKind.EXTEND:
            was = _when(self.env.expires_at) if self.env.expires_at is not None else "never"
            return ActionPlan(
                summary=f"Extend preview environment {self.environment} by {_by(self.seconds)}: "
                        f"it expires at {_when(self.new_expiry)} instead of {was}",
                notes=(f"{len(self.deployed)} service(s) deployed in it stay as they are.",),
                estimated_duration=ops.duration(EXTEND_SECONDS))
        notes = [f"Everything in it goes: {len(self.deployed)} deployment(s) "
                 f"({', '.join(self.deployed[:10])}{', …' if len(self.deployed) > 10 else ''}) "
                 f"and {len(self.resources)} resource(s). It cannot be undone."]
        notes += [f"deleted with it: {kind} {name}" for kind, name in self.resources[:20]]
        if self.env.expires_at is not None:
            notes.append(f"It would have expired at {_when(self.env.expires_at)}.")
        return ActionPlan(
            summary=f"Delete preview environment {self.environment} and everything in it",
            notes=tuple(notes), estimated_duration=ops.duration(DELETE_SECONDS))

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops = self.ops
        if self.kind is ActionKind.EXTEND:
            yield job.event(f"Moving the expiry of {self.environment} to "
                            f"{_when(self.new_expiry)}", done=0, total=1)
            await ops.pause(EXTEND_SECONDS)
            if not ops.store.set_expiry(self.environment, self.new_expiry):
                yield job.fail(f"{self.environment} was deleted meanwhile; nothing extended")
                return
            yield job.event(f"{self.environment} now expires at {_when(self.new_expiry)}", done=1)
            yield job.succeed(f"Preview environment {self.environment} extended by "
                              f"{_by(self.seconds)}: it expires at {_when(self.new_expiry)}")
            return
        total = len(self.deployed) + 1
        yield job.event(f"Deleting namespace preview-{self.environment}", done=0, total=total)
        for i, service in enumerate(self.deployed, start=1):
            await ops.pause(DELETE_SECONDS / total)
            yield job.event(f"Stopped {service} in {self.environment}", done=i)
        await ops.pause(DELETE_SECONDS / total)
        ops.store.delete_environment(self.environment)
        yield job.event(f"Environment {self.environment} deleted", done=total)
        yield job.succeed(f"Preview environment {self.environment} deleted with "
                          f"{len(self.deployed)} deployment(s) and {len(self.resources)} "
                          "resource(s)")


#: The kinds this module runs.
ENVIRONMENT_KINDS = frozenset({ActionKind.EXTEND, ActionKind.DELETE_ENVIRONMENT})
