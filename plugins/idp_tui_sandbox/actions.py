"""Actions in the sandbox: the machinery every action goes through (``Operations``).

The modules: ``jobs`` (what an action is: ``Work`` prepared from a request, the ``Job`` that runs
it, the fingerprint of a request), ``rollouts`` (deploy, rollback, scale, restart), ``provision``
(the templates), and this one (checking, claiming, running, replaying and undoing).

Every action goes the same way (:meth:`Operations.run`):

1. a ``Work`` is prepared from the request, checking it against the sandbox (unknown service, environment
   or version raise :class:`SourceNotFound`); :meth:`Operations.plan` stops there (the dry run);
2. the request id is claimed in SQLite: an id seen before is not run again (its stored outcome is
   replayed, after waiting for it if it is still running), and only one action at a time runs on a
   service in an environment (or on one provisioning target);
3. the work runs, paced by ``asyncio.sleep`` (real time, divided by the ``action_speed`` setting), each
   step stamped with the injected clock; what it changes is written to SQLite as it goes, together with
   an *undo* record;
4. if it is stopped part-way (cancelled, closed, or an error), the undo record is applied before the
   generator ends, so the state is consistent: a rollout goes back to the version that ran before, a
   scale stays where it got to, a provisioning removes what it had created. An action whose process
   died is undone the same way the next time a sandbox opens the database.

Nothing secret is stored or put in an event: provisioning parameters marked secret are left out of
the fingerprint that recognises a repeated request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Change,
    Deployment,
    Health,
    NotSupported,
    RunStatus,
    SourceError,
    SourceNotFound,
    VersionOption,
)

from .fleet import Segment
# (Job, Work and human are the provisioning module's too: it imports them from here)
from .jobs import _LIVE, Job, Work, fingerprint, human, owner_alive, semver_key, ts
from .logs import LogGenerator
from .pipelines import RunSummary
from .rand import unit
from .rollouts import DeployWork, RestartWork, ScaleWork
from .store import ActionRow, Busy, DeploymentRow, EnvironmentRow
from .world import ServiceSpec

if TYPE_CHECKING:
    from idp_tui import Clock

    from .fleet import Fleet
    from .pipelines import Pipelines
    from .source import SandboxSource
    from .store import Store
    from .world import World

#: Seconds a new instance of each language takes to start and pass its readiness probe.
START_SECONDS = {"go": 3.0, "rust": 2.0, "python": 5.0, "typescript": 4.0, "java": 12.0, "kotlin": 11.0}
#: Versions offered for deployment: succeeded releases of the last two weeks, at most this many.
VERSION_DAYS, VERSION_LIMIT = 14, 40
#: Changes listed between two versions.
CHANGE_LIMIT = 30
_ROLLOUT_PREFIXES = ("Rolling out ", "Restarting", "Scaling ")
#: The kinds on a pipeline run (``reruns``).
RUN_KINDS = frozenset({ActionKind.RERUN, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB, ActionKind.CANCEL})


class Operations:
    """The action machinery of one sandbox source."""

    def __init__(self, source: SandboxSource) -> None:
        self.source = source

    # Shortcuts into the source ------------------------------------------------------------------
    @property
    def world(self) -> World:
        return self.source._state()[0]

    @property
    def pipelines(self) -> Pipelines:
        return self.source._state()[1]

    @property
    def store(self) -> Store:
        return self.source._state()[2]

    @property
    def fleet(self) -> Fleet:
        return self.source._state()[3]

    @property
    def clock(self) -> Clock:
        return self.source.context.clock

    @property
    def seed(self) -> int:
        return self.source.config.seed

    def now(self) -> float:
        return self.source._now()

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated work (real time divided by the ``action_speed`` setting)."""
        await asyncio.sleep(seconds / self.source.config.action_speed)

    def duration(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds / self.source.config.action_speed)

    def spec(self, service: str | None) -> ServiceSpec:
        if not service:
            raise SourceError("no service named")
        return self.source._spec(service)

    def check_environment(self, environment: str | None) -> EnvironmentRow:
        if not environment:
            raise SourceError("no environment named")
        for row in self.source._environment_rows(self.now()):
            if row.name == environment:
                return row
        raise SourceNotFound(f"no environment named {environment!r} in the sandbox")

    def effective(self, row: DeploymentRow) -> Deployment:
        return self.fleet.effective(row, self.now())

    def running_versions(self, service: str) -> dict[str, str]:
        """Environment → version of ``service`` running there now (active environments only)."""
        active = {row.name: row.order for row in self.source._environment_rows(self.now())}
        rows = [row for row in self.store.deployments_of(service) if row.environment in active]
        rows.sort(key=lambda r: (active[r.environment], r.environment))
        return {row.environment: self.effective(row).version for row in rows}

    def segment(self, spec: ServiceSpec, environment: str) -> Segment:
        now = self.now()
        return self.fleet.timeline(spec, environment, now, now)[-1]

    def pods(self, spec: ServiceSpec, environment: str, replicas: int, version: str | None,
             revision: str) -> tuple[str, ...]:
        """Instance names as the logs show them."""
        if replicas <= 0:
            return ()
        return LogGenerator(self.seed, spec, environment, replicas).instances(version, revision)

    def start_seconds(self, spec: ServiceSpec) -> float:
        return START_SECONDS.get(spec.language, 5.0) * (0.8 + 0.4 * unit(f"{self.seed}:start:{spec.name}"))

    def blocker(self, row: DeploymentRow | None, kind: ActionKind) -> str | None:
        """Why new instances of this deployment cannot become ready, if they cannot."""
        if row is None or row.health != Health.DOWN.value:
            return None
        secret = re.search(r'secret "([^"]+)" not found', row.message)
        if secret and not self.has_secret(row.service, row.environment, secret.group(1)):
            return row.message
        if kind is ActionKind.RESTART and row.message.startswith("ImagePullBackOff"):
            return f"ErrImagePull: manifest for {row.version} not found"
        return None

    def has_secret(self, service: str, environment: str, name: str) -> bool:
        return any(r.kind == "secret" and r.name == name and r.environment == environment
                   for r in self.store.resources())

    # Versions -----------------------------------------------------------------------------------
    def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        spec = self.spec(service)
        self.check_environment(environment)
        now = self.now()
        running = self.running_versions(spec.name)
        options: dict[str, dict[str, Any]] = {}
        for run in islice(self.pipelines.release_runs(spec, now, now - VERSION_DAYS * 86400.0), VERSION_LIMIT):
            options[self.pipelines.version(run)] = self._built(run)
        for version in running.values():
            if version not in options:
                run = self.pipelines.release_run(spec, version)
                built = run is not None and run.outcome is RunStatus.SUCCEEDED and run.success_finish <= now
                options[version] = self._built(run) if built and run is not None else {}
        ordered = sorted(options, key=lambda v: (semver_key(v), options[v].get("built_at") or ts(0)), reverse=True)
        return [VersionOption(version=v, current=running.get(environment) == v,
                              environments=tuple(env for env, run in running.items() if run == v), **options[v])
                for v in ordered]

    def _built(self, run: RunSummary) -> dict[str, Any]:
        return {"built_at": ts(run.success_finish), "commit": self.pipelines.describe(run)["commit"],
                "run_id": run.id}

    def check_version(self, spec: ServiceSpec, version: str) -> RunSummary | None:
        """The run that built ``version``; raises when the sandbox cannot deploy it."""
        now = self.now()
        run = self.pipelines.release_run(spec, version)
        if run is not None and run.created <= now:
            finish = self.pipelines.finish(run)
            if run.outcome is RunStatus.SUCCEEDED and finish <= now:
                return run
            if finish > now:
                raise SourceError(f"{version} of {spec.name} is still being built by {run.id}",
                                  hint="Wait for the run to finish, or pick another version.")
            if version not in self.store.deployed_versions(spec.name):
                raise SourceNotFound(f"{version} of {spec.name} was never built: its release run {run.id} "
                                     f"{run.outcome.value}", hint="Pick a version from a succeeded run.")
        if version in self.store.deployed_versions(spec.name):
            return None
        newest = next(self.pipelines.release_runs(spec, now, now - 30 * 86400.0), None)
        also = f" (the newest is {self.pipelines.version(newest)})" if newest is not None else ""
        raise SourceNotFound(f"{spec.name} has no version {version!r}{also}",
                             hint="Deployable versions are built by succeeded release runs.")

    def previous_version(self, spec: ServiceSpec, environment: str, current: str) -> str:
        """The version that ran in ``environment`` before ``current`` (what a rollback returns to)."""
        now = self.now()
        undone = {(h.deployed_at, h.version) for h in self.store.recent_history(spec.name, environment, 200)
                  if not h.complete}
        for days in (7, 30):
            segments = self.fleet.timeline(spec, environment, now - days * 86400.0, now)
            for segment in reversed(segments):
                if (segment.version is None or segment.version == current
                        or (segment.start, segment.version) in undone):
                    continue
                return segment.version
        # Before the sandbox's records: the last good release older than the current one.
        for run in self.pipelines.release_runs(spec, now, now - 30 * 86400.0):
            version = self.pipelines.version(run)
            if semver_key(version) < semver_key(current) and not self.fleet.severity(spec.name, version):
                return version
        raise SourceError(f"no earlier version of {spec.name} in {environment} to roll back to",
                          hint="Deploy a specific version instead.")

    def changes(self, spec: ServiceSpec, older: str, newer: str) -> tuple[list[Change], int, bool]:
        """Commits between two versions, newest first; how many more; whether they are known."""
        newer_run = self.pipelines.release_run(spec, newer)
        older_run = self.pipelines.release_run(spec, older)
        if newer_run is None or older_run is None:
            return [], 0, False
        commits, more = self.pipelines.main_commits(spec, newer_run, older_run, CHANGE_LIMIT)
        url = f"https://git.example.com/{spec.team}/{spec.name}/commit/"
        return [Change(id=d["commit"], message=d["message"], author=self.pipelines.author(run),
                       url=url + d["commit"]) for run, d in commits], more, True

    def releases_between(self, spec: ServiceSpec, older: str, newer: str) -> int | None:
        """How many succeeded releases ``newer`` is ahead of ``older`` (None when unknown)."""
        a, b = self.pipelines.release_run(spec, older), self.pipelines.release_run(spec, newer)
        if a is None or b is None or b.n <= a.n:
            return None
        count = 0
        for n in range(a.n + 1, b.n + 1):
            run = self.pipelines.summary(spec, "release", n)
            count += run is not None and run.outcome is RunStatus.SUCCEEDED
        return count

    # Preparing ----------------------------------------------------------------------------------
    def prepare(self, request: ActionRequest) -> Work:
        if request.kind is ActionKind.PROVISION:
            from .provision import prepare_provision
            return prepare_provision(self, request)
        if request.kind in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
            return DeployWork(self, request)
        if request.kind is ActionKind.SCALE:
            return ScaleWork(self, request)
        if request.kind is ActionKind.RESTART:
            return RestartWork(self, request)
        if request.kind in RUN_KINDS:
            from .reruns import RunWork  # noqa: PLC0415
            return RunWork(self, request)
        if request.kind is ActionKind.RESTART_INSTANCE:
            from .instances import InstanceWork  # noqa: PLC0415
            return InstanceWork(self, request)
        if request.kind in (ActionKind.EXTEND, ActionKind.DELETE_ENVIRONMENT):
            from .previews import EnvironmentWork  # noqa: PLC0415
            return EnvironmentWork(self, request)
        raise NotSupported(f"the sandbox cannot {request.kind.value}")

    def plan(self, request: ActionRequest) -> ActionPlan:
        return self.prepare(request).plan()

    # Running ------------------------------------------------------------------------------------
    async def run(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        known = self.store.action(request.id)
        if known is not None:
            async for event in self._replay(request, known):
                yield event
            return
        work = self.prepare(request)
        job = Job(self, request, work)
        row = ActionRow(request.id, request.kind.value, work.title, work.service, work.environment,
                        fingerprint(request, work.model), ActionState.RUNNING.value, "", None, None,
                        os.getpid(), self.now(), None, work.undo)
        try:
            known = self.store.claim_action(row, owner_alive)
        except Busy as busy:
            raise SourceError(f"{busy.other.title} is already running (action {busy.other.id})",
                              hint="Try again when it has finished.") from None
        if known is not None:  # claimed by someone else in the meantime
            async for event in self._replay(request, known):
                yield event
            return
        _LIVE.add(request.id)
        try:
            async with contextlib.aclosing(work.steps(job)) as steps:
                async for event in steps:
                    yield event
                    if event.state.finished:
                        return
            if not job.settled:
                done = self.undo(job.undo)
                yield job.fail(f"{work.title} ended without an outcome; {done}")
        except BaseException as exc:
            if not job.settled:
                stopped = isinstance(exc, asyncio.CancelledError | GeneratorExit)
                try:
                    done = self.undo(job.undo)
                    if stopped:
                        job._settle(ActionState.CANCELLED, f"{work.title} was stopped part-way: {done}", "warning")
                    else:
                        job._settle(ActionState.FAILED, f"{work.title} failed ({exc}): {done}", "error")
                except Exception:  # noqa: BLE001 - e.g. the source closed: the next start undoes it
                    pass
            raise
        finally:
            _LIVE.discard(request.id)

    async def _replay(self, request: ActionRequest, known: ActionRow) -> AsyncIterator[ActionEvent]:
        """The outcome of an action already run under the same id (waiting for it if it runs)."""
        model = None
        if request.kind is ActionKind.PROVISION:
            from .provision import TEMPLATES
            template = TEMPLATES.get(request.template or "")
            model = template.params if template is not None else None
        if known.fingerprint != fingerprint(request, model):
            raise SourceError(f"action id {request.id!r} was already used for another action: {known.title}",
                              hint="Each action needs an id of its own.")
        announced = False
        while known.state == ActionState.RUNNING.value:
            if not owner_alive(known):
                self.recover(known)
            else:
                if not announced:
                    announced = True
                    yield ActionEvent(ts=self.clock.now(), message=f"{known.title} is already running under "
                                      "this id: waiting for its outcome instead of starting it again")
                await asyncio.sleep(0.05)
            latest = self.store.action(known.id)
            if latest is None:
                raise SourceError(f"the record of action {known.id} disappeared")
            known = latest
        state = ActionState(known.state)
        when = ts(known.finished_at)
        at = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
        level = "info" if state is ActionState.SUCCEEDED else "warning"
        yield ActionEvent(ts=self.clock.now(), state=state, done=known.done, total=known.total, level=level,
                          message=f"Not repeated: this action already ran{at}. {known.message}")

    # Undoing ------------------------------------------------------------------------------------
    def recover(self, row: ActionRow) -> None:
        """Undo an action whose process stopped while it ran, and record it as failed."""
        done = self.undo(row.undo)
        self.store.finish_action(row.id, ActionState.FAILED.value,
                                 f"{row.title} was interrupted (the sandbox stopped while it ran): {done}",
                                 row.done, row.total, self.now())

    def recover_all(self) -> None:
        for row in self.store.running_actions():
            if not owner_alive(row):
                self.recover(row)

    def undo(self, undo: dict[str, Any]) -> str:
        """Bring the state back to consistency after a stopped action; says what was done."""
        kind = undo.get("kind")
        if kind == "deploy":
            return self._undo_rollout(undo)
        if kind == "restart":
            return self._undo_restart(undo)
        if kind == "scale":
            return self._undo_scale(undo)
        if kind == "provision":
            from .provision import undo_provision
            return undo_provision(self, undo)
        return "nothing had changed"

    def _undo_rollout(self, undo: dict[str, Any]) -> str:
        history_id = undo.get("history_id")
        if history_id is None:
            return "nothing had changed"
        service, environment = undo["service"], undo["environment"]
        self.store.mark_incomplete(history_id)
        previous = undo.get("previous")
        if previous is None:
            self.store.delete_deployment(service, environment)
            return f"{service} is not deployed to {environment} again"
        row = DeploymentRow(service, environment, previous["version"], previous["replicas_ready"],
                            previous["replicas_desired"], previous["health"], previous["message"], self.now())
        self.store.put_deployment(row, revision=previous.get("revision", ""),
                                  replicas=0 if row.replicas_desired == 0 else None)
        return f"rolled back to {row.version}"

    def _undo_restart(self, undo: dict[str, Any]) -> str:
        service, environment = undo["service"], undo["environment"]
        row = self.store.deployment(service, environment)
        if row is None or undo.get("history_id") is None:
            return "nothing had changed"
        previous = undo.get("previous") or {}
        health, message = previous.get("health", row.health), previous.get("message", "")
        if health == Health.HEALTHY.value:
            message = ""
        self.store.update_deployment(DeploymentRow(service, environment, row.version, row.replicas_desired,
                                                   row.replicas_desired, health, message, row.updated_at))
        return "the instances already replaced keep running"

    def _undo_scale(self, undo: dict[str, Any]) -> str:
        service, environment = undo["service"], undo["environment"]
        row = self.store.deployment(service, environment)
        if row is None:
            return "nothing had changed"
        count = row.replicas_ready
        message = "" if row.message.startswith(_ROLLOUT_PREFIXES) else row.message
        settled = DeploymentRow(service, environment, row.version, count, count, row.health, message,
                                row.updated_at)
        if count == 0 and undo.get("from", 0) == 0 and undo.get("history_id") is not None:
            self.store.put_deployment(settled, replicas=0, at=self.now())
        else:
            self.store.update_deployment(settled)
        return f"{service} now runs {count} of the {undo.get('target')} replicas asked for in {environment}"


# Deploy and rollback ---------------------------------------------------------------------------------


__all__ = ["Job", "Operations", "Work", "human", "owner_alive"]
