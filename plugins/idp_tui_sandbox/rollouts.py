"""Deploy, rollback, scale and restart in the sandbox: each a ``Work`` that plans (the dry run) and
steps through its rollout, paced by ``Operations.pause`` and stamped by the injected clock.

See :mod:`idp_tui_sandbox.actions` for how an action goes (claim, run, undo when stopped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    Change,
    Health,
    SourceError,
    SourceNotFound,
)

from .fleet import STATIC_ENVIRONMENTS, _replicas, stuck_reason, stuck_target
from .jobs import Job, Work, human, semver_key
from .rand import hexid, unit
from .store import DeploymentRow

if TYPE_CHECKING:
    from .actions import Operations

#: The most replicas the sandbox's "cluster" runs of one service in one environment.
MAX_REPLICAS = 50
#: Seconds the error ratio is watched after a rollout.
WATCH_SECONDS = 10.0


class DeployWork(Work):
    """Deploy a version (or roll back to the previous one) with a rolling update."""

    cancellable = True

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        self.kind = request.kind
        self.row = self._target()
        if self.row is None and self.kind is ActionKind.ROLLBACK:
            raise SourceNotFound(f"{self.service} is not deployed to {self.environment}: nothing to roll back")
        self.current = ops.effective(self.row) if self.row is not None else None
        current = self.current.version if self.current is not None else None
        #: The version whose rollout is stuck here (the current one serves meanwhile).
        self.stuck = stuck_target(self.row.message) if self.row is not None else None
        if self.kind is ActionKind.ROLLBACK and not request.version and self.stuck:
            assert current is not None
            self.target = current  # as `kubectl rollout undo`: back to the revision that serves
        elif self.kind is ActionKind.ROLLBACK and not request.version:
            assert current is not None
            self.target = ops.previous_version(self.spec, self.environment, current)
        elif not request.version:
            raise SourceError("deploy needs a version")
        else:
            self.target = request.version
        self.run = ops.check_version(self.spec, self.target)
        if self.row is not None:
            self.replicas = self.row.replicas_desired
        elif self.env.kind == "static":
            self.replicas = _replicas(ops.seed, self.spec, self.environment)
        else:
            self.replicas = 1
        if self.kind is ActionKind.ROLLBACK:
            self.title = f"roll back {self.service} in {self.environment} to {self.target}"
        else:
            self.title = f"deploy {self.service} {self.target} to {self.environment}"
        self.blocked = ops.blocker(self.row, self.kind)
        if self.stuck is not None and self.target == self.stuck and self.row is not None:
            self.blocked = f"ErrImagePull: {stuck_reason(self.row.message)}"
        self.undo = _undo_for(self, "deploy")

    # Timing
    def _image_seconds(self) -> float:
        return 2.0 + 2.0 * unit(f"{self.ops.seed}:pull:{self.service}:{self.target}")

    def _estimate(self) -> float:
        per = self.ops.start_seconds(self.spec) + 1.0
        return 1.0 + self._image_seconds() + self.replicas * per + (WATCH_SECONDS if self.replicas else 0)

    def plan(self) -> ActionPlan:
        ops, spec = self.ops, self.spec
        current = self.current.version if self.current is not None else None
        running = ops.running_versions(self.service)
        notes: list[str] = []
        changes: list[Change] = []
        if current is None:
            summary = f"Deploy {self.service} {self.target} to {self.environment} (not deployed there yet)"
            notes.append(f"First deployment of {self.service} to {self.environment}: {self.replicas} instance(s).")
        else:
            verb = "Roll back" if self.kind is ActionKind.ROLLBACK else "Deploy"
            what = (f"{verb} {self.service} in {self.environment} from {current} to {self.target}"
                    if self.kind is ActionKind.ROLLBACK else
                    f"Deploy {self.service} {self.target} to {self.environment} (now {current})")
            summary = what
            if current == self.target and self.stuck:
                notes.append(f"The rollout of {self.stuck} is stuck; this gives it up: {current} keeps serving "
                             f"and its {self.replicas} instance(s) are replaced.")
            elif current == self.target:
                notes.append(f"{self.target} already runs in {self.environment}: deploying it again replaces "
                             f"its {self.replicas} instance(s).")
            else:
                newer = semver_key(self.target) > semver_key(current)
                older, younger = (current, self.target) if newer else (self.target, current)
                changes, more, known = ops.changes(spec, older, younger)
                if not known:
                    unknown = next(v for v in (older, younger) if ops.pipelines.release_run(spec, v) is None)
                    notes.append(f"The changes are unknown: {unknown} was not built by a release run the sandbox "
                                 "knows.")
                elif not newer:
                    notes.append(f"{self.target} is older than {current}: the {len(changes) + more} change(s) "
                                 "listed are taken out.")
                if more:
                    notes.append(f"… and {more} earlier change(s) not listed.")
        notes.extend(self._where_versions_stand(running))
        if self.current is not None and self.current.health is not Health.HEALTHY and self.current.message:
            notes.append(f"{self.environment} is {self.current.health.value} now: {self.current.message}")
        if self.replicas:
            notes.append(f"Rolling update of {self.replicas} instance(s), one at a time (maxSurge 1, "
                         "maxUnavailable 0); it can be cancelled and then rolls back.")
        else:
            notes.append(f"{self.service} runs no instance in {self.environment} (scaled to 0): only the "
                         "version changes.")
        return ActionPlan(summary=summary, current_version=current, target_version=self.target,
                          changes=tuple(changes),
                          running_elsewhere=tuple(e for e, v in running.items()
                                                  if v == self.target and e != self.environment),
                          notes=tuple(notes), cancellable=True,
                          estimated_duration=ops.duration(self._estimate()))

    def _where_versions_stand(self, running: dict[str, str]) -> list[str]:
        """Notes such as "production will be 3 releases behind staging"."""
        ops, spec = self.ops, self.spec
        static = [e.name for e in STATIC_ENVIRONMENTS]
        if self.environment not in static:
            return []
        notes = []
        index = static.index(self.environment)
        upstream = static[index - 1] if index > 0 else None
        downstream = static[index + 1] if index + 1 < len(static) else None
        if upstream is not None and upstream in running and running[upstream] != self.target:
            up = running[upstream]
            if semver_key(self.target) < semver_key(up):
                count = ops.releases_between(spec, self.target, up)
                gap = f"{count} release(s)" if count else "some releases"
                notes.append(f"{self.environment} will be {gap} behind {upstream}, which runs {up}.")
            else:
                notes.append(f"{self.target} has not run in {upstream} yet ({upstream} runs {up}).")
        if downstream is not None and downstream in running:
            down = running[downstream]
            count = ops.releases_between(spec, down, self.target)
            if count:
                notes.append(f"{downstream} runs {down}, {count} release(s) behind {self.target}.")
        return notes

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, spec, n = self.ops, self.spec, self.replicas
        service, env, target = self.service, self.environment, self.target
        current = self.current.version if self.current is not None else None
        segment = ops.segment(spec, env)
        old_pods = ops.pods(spec, env, n, segment.version, segment.revision) if self.row is not None else ()
        revision = hexid(f"rollout:{job.id}", 5)
        new_pods = ops.pods(spec, env, n, target, revision)
        now_text = f"now {current}" if current else "not deployed there yet"
        how = (f"rolling update of {n} instance(s), one at a time" if n else
               "no instance runs (scaled to 0): only the version changes")
        yield job.event(f"{self.title.capitalize()} ({now_text}): {how}", done=0, total=n)
        await ops.pause(1.0)
        image = f"registry.example.com/{spec.team}/{service}:{target}"
        yield job.event(f"Pulling image {image}")
        await ops.pause(self._image_seconds())
        digest = hexid(f"{ops.seed}:image:{service}:{target}", 12)
        yield job.event(f"Pulled image {image} (sha256:{digest}…)")

        previous = None
        if self.row is not None:
            previous = {"version": current, "replicas_ready": self.row.replicas_ready,
                        "replicas_desired": self.row.replicas_desired, "health": self.row.health,
                        "message": self.row.message, "revision": segment.revision}
        now = ops.now()
        ready = self.row.replicas_ready if self.row is not None else 0
        progress = DeploymentRow(service, env, target, ready, n, Health.HEALTHY.value,
                                 f"Rolling out {target}: 0/{n} instances updated", now)
        health, message = (Health.DOWN.value, self.blocked) if self.blocked else (Health.HEALTHY.value, "")
        history_id = ops.store.put_deployment(progress, revision=revision, replicas=n, health=health,
                                              message=message)
        job.save_undo(history_id=history_id, previous=previous)

        start = ops.start_seconds(spec)
        for i in range(n):
            yield job.event(f"Started {new_pods[i]} ({target})")
            await ops.pause(start)
            if self.blocked:
                yield job.event(f"Readiness probe failed on {new_pods[i]}: {self.blocked}", level="error")
                await ops.pause(1.0)
                done = ops.undo(job.undo)
                yield job.fail(f"Rollout of {target} to {env} failed: new instances do not become ready "
                               f"({self.blocked}); {done}")
                return
            yield job.event(f"Readiness probe passed on {new_pods[i]}")
            await ops.pause(1.0)
            ready = max(ready, i + 1)
            ops.store.update_deployment(DeploymentRow(service, env, target, min(ready, n), n, Health.HEALTHY.value,
                                                      f"Rolling out {target}: {i + 1}/{n} instances updated",
                                                      now))
            stopped = f"; stopped {old_pods[i]}" if i < len(old_pods) else ""
            yield job.event(f"Instances updated {i + 1}/{n}{stopped}", done=i + 1)
        level = "info"
        if n:
            yield job.event(f"Health checks: readiness {n}/{n}, liveness {n}/{n}", done=n)
            await ops.pause(WATCH_SECONDS)
            severity = ops.fleet.severity(service, target)
            base = spec.error_base
            if severity:
                ratio = base + 0.02 + 0.28 * severity
                level = "warning"
                yield job.event(f"Error ratio {ratio:.1%} on the new instances (before: {base:.1%}; threshold "
                                f"1.0%): watch the metrics, or roll back", level="warning")
            else:
                p99 = spec.latency_p50 * spec.ratio_p95 * spec.ratio_p99 * 1000
                yield job.event(f"Error ratio {base:.2%}, p99 latency {p99:.0f} ms: within thresholds")
        final = DeploymentRow(service, env, target, n, n, Health.HEALTHY.value, "", ops.now())
        ops.store.update_deployment(final)
        was = f" (was {current})" if current and current != target else ""
        verb = "Rolled back" if self.kind is ActionKind.ROLLBACK else "Deployed"
        where = f"{service} in {env} to {target}" if self.kind is ActionKind.ROLLBACK else \
            f"{service} {target} to {env}"
        yield job.succeed(f"{verb} {where}{was}", level=level)


def _undo_for(work: DeployWork | ScaleWork | RestartWork, kind: str) -> dict[str, Any]:
    return {"kind": kind, "service": work.service, "environment": work.environment}


# Scale -------------------------------------------------------------------------------------------------

class ScaleWork(Work):
    """Change the number of replicas, one instance at a time."""

    kind = ActionKind.SCALE
    cancellable = True

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        row = self._deployed()
        self.row = row
        if request.replicas is None:
            raise SourceError("scale needs a number of replicas")
        if request.replicas > MAX_REPLICAS:
            raise SourceError(f"the sandbox's cluster allows at most {MAX_REPLICAS} replicas of a service in an "
                              f"environment (asked for {request.replicas})")
        self.target = request.replicas
        self.start = row.replicas_desired
        self.version = ops.effective(row).version
        self.title = f"scale {self.service} in {self.environment} to {self.target}"
        self.undo = {**_undo_for(self, "scale"), "from": self.start, "target": self.target}

    def _estimate(self) -> float:
        if self.target > self.start:
            return (self.target - self.start) * (self.ops.start_seconds(self.spec) + 0.5)
        return (self.start - self.target) * 2.5

    def plan(self) -> ActionPlan:
        s, t = self.start, self.target
        notes = []
        if s == t:
            notes.append(f"{self.service} already runs {s} replica(s) in {self.environment}: nothing changes.")
        elif t > s:
            notes.append(f"Starts {t - s} instance(s), one at a time; they take about "
                         f"{human(self.ops.start_seconds(self.spec))} each to become ready.")
        else:
            notes.append(f"Stops {s - t} instance(s), one at a time, after draining their connections.")
        if t == 0:
            notes.append(f"With 0 replicas nothing of {self.service} runs in {self.environment}: it serves no "
                         "traffic and writes no logs.")
        elif t == 1 and self.env.protected:
            notes.append(f"One replica in {self.environment} leaves no redundancy: losing a node takes "
                         f"{self.service} down.")
        notes.append("It can be cancelled: the replicas started or stopped by then stay so.")
        return ActionPlan(summary=f"Scale {self.service} in {self.environment} from {s} to {t} replicas",
                          current_version=self.version, notes=tuple(notes), cancellable=True,
                          estimated_duration=self.ops.duration(self._estimate()))

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, spec, row = self.ops, self.spec, self.row
        s, t = self.start, self.target
        service, env = self.service, self.environment
        yield job.event(f"Scaling {service} in {env} from {s} to {t} replicas", done=0, total=abs(t - s))
        if s == t:
            yield job.succeed(f"{service} already runs {t} replica(s) in {env}: nothing to do")
            return
        segment = ops.segment(spec, env)
        health, message = row.health, row.message
        if t > s and message.startswith("HPA at max replicas"):
            health, message = Health.HEALTHY.value, ""  # more room: the autoscaler is no longer pinned
        revision = segment.revision
        if s > 0:  # the count before: what the instances' logs had until now
            ops.store.put_deployment(row, revision=revision, replicas=s, at=ops.now(),
                                     health=segment.health.value, message=segment.message)
        if t > s:
            if s == 0:  # from zero: new instances, logs and traffic resume
                revision = hexid(f"scale:{job.id}", 5)
                first = DeploymentRow(service, env, self.version, 0, t, row.health, f"Scaling to {t} replicas",
                                      row.updated_at)
                history_id = ops.store.put_deployment(first, revision=revision, replicas=t, at=ops.now(),
                                                      message=segment.message)
                job.save_undo(history_id=history_id)
            pods = ops.pods(spec, env, t, self.version, revision)
            start = ops.start_seconds(spec)
            for i in range(s, t):
                ops.store.update_deployment(DeploymentRow(service, env, self.version, i, t, row.health,
                                                          f"Scaling from {s} to {t} replicas", row.updated_at))
                yield job.event(f"Started {pods[i]}")
                await ops.pause(start)
                ready = DeploymentRow(service, env, self.version, i + 1, t, row.health,
                                      f"Scaling from {s} to {t} replicas", row.updated_at)
                if s == 0:
                    ops.store.update_deployment(ready)
                else:  # one more instance writes logs from now on
                    ops.store.put_deployment(ready, revision=revision, replicas=i + 1, at=ops.now(),
                                             health=segment.health.value, message=segment.message)
                yield job.event(f"{pods[i]} is ready: {i + 1}/{t} replicas ready", done=i + 1 - s)
        else:
            pods = ops.pods(spec, env, s, segment.version, segment.revision)
            for i in range(s - 1, t - 1, -1):
                yield job.event(f"Draining {pods[i]}")
                await ops.pause(2.5)
                left = DeploymentRow(service, env, self.version, i, i, row.health,
                                     f"Scaling from {s} to {t} replicas", row.updated_at)
                if i == 0:
                    ops.store.update_deployment(left)
                else:  # one instance fewer writes logs from now on
                    ops.store.put_deployment(left, revision=revision, replicas=i, at=ops.now(),
                                             health=segment.health.value, message=segment.message)
                yield job.event(f"Stopped {pods[i]}: {i} replica(s) left", done=s - i)
        final = DeploymentRow(service, env, self.version, t, t, health, message, row.updated_at)
        if t == 0:
            ops.store.put_deployment(final, revision=revision, replicas=0, at=ops.now(), message=segment.message,
                                     health=segment.health.value)
        else:
            ops.store.update_deployment(final)
        yield job.succeed(f"Scaled {service} in {env} from {s} to {t} replicas")


# Restart -----------------------------------------------------------------------------------------------

class RestartWork(Work):
    """Replace every instance, one at a time, with the same version."""

    kind = ActionKind.RESTART
    cancellable = False

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        row = self._deployed()
        if row.replicas_desired == 0:
            raise SourceError(f"{self.service} runs no instance in {self.environment} (scaled to 0): nothing to "
                              "restart", hint="Scale it up instead.")
        self.row = row
        self.current = ops.effective(row)
        self.title = f"restart {self.service} in {self.environment}"
        self.blocked = ops.blocker(row, ActionKind.RESTART)
        self.undo = _undo_for(self, "restart")

    def _estimate(self) -> float:
        return 1.0 + self.row.replicas_desired * (self.ops.start_seconds(self.spec) + 1.0)

    def plan(self) -> ActionPlan:
        n = self.row.replicas_desired
        notes = [f"Replaces the {n} instance(s) one at a time with new ones of {self.current.version}; "
                 "the service keeps serving meanwhile.",
                 "It cannot be cancelled once started."]
        if self.current.health is not Health.HEALTHY and self.current.message:
            notes.append(f"{self.environment} is {self.current.health.value} now: {self.current.message}")
        return ActionPlan(summary=f"Restart the {n} instance(s) of {self.service} in {self.environment}",
                          current_version=self.current.version, target_version=self.current.version,
                          notes=tuple(notes), cancellable=False,
                          estimated_duration=self.ops.duration(self._estimate()))

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, spec, row = self.ops, self.spec, self.row
        service, env, version, n = self.service, self.environment, self.current.version, row.replicas_desired
        segment = ops.segment(spec, env)
        old_pods = ops.pods(spec, env, n, segment.version, segment.revision)
        revision = hexid(f"restart:{job.id}", 5)
        new_pods = ops.pods(spec, env, n, version, revision)
        yield job.event(f"Restarting the {n} instance(s) of {service} in {env} ({version}), one at a time",
                        done=0, total=n)
        await ops.pause(1.0)
        now = ops.now()
        health, message = (Health.DOWN.value, self.blocked) if self.blocked else (Health.HEALTHY.value, "")
        progress = DeploymentRow(service, env, version, row.replicas_ready, n, row.health,
                                 f"Restarting: 0/{n} instances replaced", now)
        history_id = ops.store.put_deployment(progress, revision=revision, replicas=n, health=health,
                                              message=message)
        job.save_undo(history_id=history_id, previous={"health": row.health, "message": row.message})
        start = ops.start_seconds(spec)
        for i in range(n):
            yield job.event(f"Stopped {old_pods[i]}; started {new_pods[i]}")
            await ops.pause(start)
            if self.blocked:
                yield job.event(f"Readiness probe failed on {new_pods[i]}: {self.blocked}", level="error")
                ops.undo(job.undo)
                yield job.fail(f"Restart of {service} in {env} failed: new instances do not become ready "
                               f"({self.blocked})")
                return
            ops.store.update_deployment(DeploymentRow(service, env, version, n, n, row.health,
                                                      f"Restarting: {i + 1}/{n} instances replaced", now))
            yield job.event(f"{new_pods[i]} is ready: {i + 1}/{n} instances restarted", done=i + 1)
            await ops.pause(1.0)
        yield job.event(f"Health checks: readiness {n}/{n}, liveness {n}/{n}", done=n)
        # A stuck rollout stays stuck: the new instances run the version that serves.
        health, message = (row.health, row.message) if stuck_target(row.message) else (Health.HEALTHY.value, "")
        ops.store.update_deployment(DeploymentRow(service, env, version, n, n, health, message, now))
        yield job.succeed(f"Restarted the {n} instance(s) of {service} in {env}")
