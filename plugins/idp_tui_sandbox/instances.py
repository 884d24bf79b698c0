"""The sandbox's instances: the pods of a deployment (``fleet.instances_of``) and replacing one of
them (``ActionKind.RESTART_INSTANCE``), as Kubernetes does when a pod is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from idp_tui import ActionEvent, ActionKind, ActionPlan, ActionRequest, Instances, SourceNotFound

from .fleet import RESTART_INSTANCE, Segment, current_pods, instances_of, replacement_name, replacements
from .jobs import Job, Work
from .logs import LogGenerator

if TYPE_CHECKING:
    from .actions import Operations
    from .fleet import Fleet
    from .store import DeploymentRow
    from .world import ServiceSpec


def pods_now(fleet: Fleet, spec: ServiceSpec, row: DeploymentRow, segment: Segment,
             now: float) -> list[tuple[str, float | None]]:
    """The pods of a deployment now, with those replaced by actions."""
    if segment.stopped or row.replicas_desired <= 0:
        return []
    base = LogGenerator(fleet.seed, spec, row.environment, row.replicas_desired).instances(
        segment.version, segment.revision)
    return current_pods(base, replacements(fleet.store, spec.name, row.environment), segment.start)


def instances(fleet: Fleet, spec: ServiceSpec, row: DeploymentRow, now: float) -> Instances:
    segment = fleet.timeline(spec, row.environment, now, now)[-1]
    deployment = fleet.effective(row, now)
    return instances_of(fleet.seed, spec, deployment, segment, pods_now(fleet, spec, row, segment, now), now)


class InstanceWork(Work):
    """Replace one instance: the pod stops and a new one of the same version starts."""

    kind = ActionKind.RESTART_INSTANCE
    cancellable = False

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        row = self._deployed()
        self.row = row
        pod = str(request.params.get("instance") or "").strip()
        now = ops.now()
        segment = ops.fleet.timeline(self.spec, self.environment, now, now)[-1]
        names = [name for name, _at in pods_now(ops.fleet, self.spec, row, segment, now)]
        if pod not in names:
            shown = ", ".join(names[:5]) or "none"
            raise SourceNotFound(f"no instance {pod!r} of {self.service} in {self.environment} "
                                 f"(running: {shown})")
        self.pod = pod
        self.new = replacement_name(pod, request.id)
        self.title = f"restart instance {pod} of {self.service} in {self.environment}"
        self.blocked = ops.blocker(row, ActionKind.RESTART)
        self.undo = {"kind": RESTART_INSTANCE, "service": self.service, "environment": self.environment,
                     "instance": pod, "new": self.new}

    def plan(self) -> ActionPlan:
        version = self.ops.effective(self.row).version
        notes = [f"{self.pod} stops; its controller starts another instance of {version} in its place.",
                 "The other instances keep serving meanwhile."]
        if self.blocked:
            notes.append(f"New instances do not become ready now: {self.blocked}")
        return ActionPlan(summary=f"Restart instance {self.pod} of {self.service} in {self.environment} "
                                  "(delete the pod)",
                          current_version=version, target_version=version, notes=tuple(notes),
                          estimated_duration=self.ops.duration(1.0 + self.ops.start_seconds(self.spec)))

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        yield job.event(f"Deleting {self.pod}", done=0, total=1)
        await self.ops.pause(0.5)
        yield job.event(f"Stopped {self.pod}; started {self.new}", done=1, total=1)
        await self.ops.pause(self.ops.start_seconds(self.spec))
        if self.blocked:
            yield job.succeed(f"{self.pod} was replaced by {self.new}, which is not ready: {self.blocked}",
                              level="warning")
            return
        yield job.succeed(f"{self.pod} was replaced by {self.new}, ready")

