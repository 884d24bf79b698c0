"""Actions in the sandbox: deploy, rollback, scale and restart, and what every action shares.

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
import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

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

from .fleet import STATIC_ENVIRONMENTS, Segment, _replicas
from .logs import LogGenerator
from .pipelines import RunSummary
from .rand import hexid, unit
from .store import ActionRow, Busy, DeploymentRow, EnvironmentRow
from .world import ServiceSpec

if TYPE_CHECKING:
    from idp_tui import Clock

    from .fleet import Fleet
    from .pipelines import Pipelines
    from .source import SandboxSource
    from .store import Store
    from .world import World

#: Action ids running in this process (shared by every sandbox source of the process).
_LIVE: set[str] = set()
#: The most replicas the sandbox's "cluster" runs of one service in one environment.
MAX_REPLICAS = 50
#: Seconds a new instance of each language takes to start and pass its readiness probe.
START_SECONDS = {"go": 3.0, "rust": 2.0, "python": 5.0, "typescript": 4.0, "java": 12.0, "kotlin": 11.0}
#: Seconds the error ratio is watched after a rollout.
WATCH_SECONDS = 10.0
#: Versions offered for deployment: succeeded releases of the last two weeks, at most this many.
VERSION_DAYS, VERSION_LIMIT = 14, 40
#: Changes listed between two versions.
CHANGE_LIMIT = 30
_ROLLOUT_PREFIXES = ("Rolling out ", "Restarting", "Scaling ")
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
        if self.kind is ActionKind.ROLLBACK and not request.version:
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
            if current == self.target:
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
        history_id = ops.store.put_deployment(progress, revision=revision, replicas=0 if n == 0 else None,
                                              health=health, message=message)
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
                ops.store.update_deployment(DeploymentRow(service, env, self.version, i + 1, t, row.health,
                                                          f"Scaling from {s} to {t} replicas", row.updated_at))
                yield job.event(f"{pods[i]} is ready: {i + 1}/{t} replicas ready", done=i + 1 - s)
        else:
            pods = ops.pods(spec, env, s, segment.version, segment.revision)
            for i in range(s - 1, t - 1, -1):
                yield job.event(f"Draining {pods[i]}")
                await ops.pause(2.5)
                ops.store.update_deployment(DeploymentRow(service, env, self.version, i, i, row.health,
                                                          f"Scaling from {s} to {t} replicas", row.updated_at))
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
        history_id = ops.store.put_deployment(progress, revision=revision, health=health, message=message)
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
        ops.store.update_deployment(DeploymentRow(service, env, version, n, n, Health.HEALTHY.value, "", now))
        yield job.succeed(f"Restarted the {n} instance(s) of {service} in {env}")


__all__ = ["Operations", "owner_alive"]
