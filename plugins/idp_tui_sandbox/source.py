"""The ``sandbox`` source: a simulated organisation that needs no configuration."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    Capability,
    DeliveryHistory,
    Deployment,
    Environment,
    EnvironmentKind,
    Health,
    HistoryQuery,
    Instances,
    JobLogQuery,
    LogLine,
    LogQuery,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    Resource,
    Service,
    Team,
    Source,
    SourceConfig,
    SourceContext,
    SourceError,
    SourceNotFound,
    Template,
    VersionOption,
)

from .fleet import STATIC_ENVIRONMENTS, Fleet, Segment
from .logs import LogGenerator, chosen, previous_logs
from .runlogs import job_log
from .metrics import series
from .pipelines import Pipelines, minor0_for
from .store import SCHEMA_VERSION, DeploymentRow, EnvironmentRow, Store
from .world import ServiceSpec, World
from .world import teams as world_teams

#: A follow tick never catches up more than this much clock time (e.g. after the clock jumps).
MAX_CATCH_UP = 600.0
FLOOD_BATCH = 1000
_FLOOD_SPACING = timedelta(microseconds=50)  # synthetic time between two flood lines


_new_object = object.__new__
# The record's slots' own setters (what object.__setattr__ calls, without looking them up).
_set_dict, _set_fields, _set_extra, _set_private = (
    BaseModel.__dict__[name].__set__ for name in (
        "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))


def _stamped(template: LogLine, ts: datetime) -> LogLine:
    """``template`` (a validated line) with ``ts`` as its timestamp, without validating it again.

    What ``model_copy(update={"ts": ts})`` gives (the same record: see test_sandbox), at less than
    half the cost: only for lines the sandbox built itself from a validated template and a
    ``datetime``. ``LogLine`` is a plain frozen model (no post-init, no private attributes).
    """
    line = _new_object(LogLine)
    values = template.__dict__.copy()
    values["ts"] = ts
    _set_dict(line, values)
    # Shared with the template (the model is frozen: nothing adds to it). One object fewer per
    # line for the cyclic GC to track, which a flood keeps busy.
    _set_fields(line, template.__pydantic_fields_set__)
    _set_extra(line, None)
    _set_private(line, None)
    return line


class SandboxConfig(SourceConfig):
    """Settings of the sandbox source."""

    seed: int = 7
    services: int = Field(default=40, ge=1, le=20000)
    #: SQLite file holding deployments; defaults to ``sandbox.sqlite3`` in the source's data folder.
    database: str | None = None
    #: Real seconds between two follow ticks of a log stream.
    log_interval: float = Field(default=0.25, gt=0)
    #: Stream logs as fast as possible (for load tests of the log pane).
    flood: bool = False
    #: How much faster than real time actions run: a deploy that takes a minute at 1 takes 0.1 s at 600.
    action_speed: float = Field(default=1.0, gt=0, le=1_000_000)


class SandboxSource(Source):
    """A simulated but alive organisation: catalog, environments, pipelines, logs and metrics."""

    Config = SandboxConfig
    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                              Capability.LOGS, Capability.METRICS, Capability.ACTIONS, Capability.PROVISION,
                              Capability.INSTANCES, Capability.DELIVERY})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE, ActionKind.RESTART,
                         ActionKind.RERUN, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB, ActionKind.CANCEL,
                         ActionKind.RESTART_INSTANCE, ActionKind.EXTEND, ActionKind.DELETE_ENVIRONMENT})
    description = "Simulated organisation with live pipelines, logs, metrics and actions; needs no setup"

    config: SandboxConfig

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._world: World | None = None
        self._pipelines: Pipelines | None = None
        self._store: Store | None = None
        self._fleet: Fleet | None = None
        self._created: set[str] = set()  # services created by actions, as loaded into the world
        self._operations: Any = None
        self._history: Any = None
        self._previews: Any = None  # the pull requests' previews over time (preview_sim.py)

    # Life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        config = self.config
        world = World(config.seed, config.services)
        pipelines = Pipelines(world)
        path = config.database or str(self.context.data_dir / "sandbox.sqlite3")
        try:
            store = Store(path)
            meta = store.meta()
        except (sqlite3.DatabaseError, OSError) as exc:
            # A damaged or unreadable file is left as it is (it may hold deploys worth keeping).
            raise SourceError(
                f"cannot use the sandbox's database {path}: {exc}",
                hint="Move the file away (or set `database` in the sandbox's config to another "
                     "file) and the sandbox starts afresh.") from None
        expected = {"schema": str(SCHEMA_VERSION), "seed": str(config.seed), "services": str(config.services)}
        fleet = Fleet(world, pipelines, store)
        if any(meta.get(key) != value for key, value in expected.items()):
            now = self._now()
            rows, bad = fleet.initial_rows(now)
            store.reset({**expected, "seeded_at": repr(now)}, STATIC_ENVIRONMENTS, rows, bad)
            fleet = Fleet(world, pipelines, store)  # picks up the releases just marked bad
            from .preview_state import seed_previews  # noqa: PLC0415 - on first start only

            seed_previews(store, fleet, now)
        self._world, self._pipelines, self._store, self._fleet = world, pipelines, store, fleet
        pipelines.changes = store.all_run_changes
        self._created = set()
        self._previews = None
        seeded_at = store.meta().get("seeded_at")
        if seeded_at is not None:
            from .preview_sim import PreviewSimulation  # noqa: PLC0415

            self._previews = PreviewSimulation(store, fleet, float(seeded_at))
        self._sync_world()
        if store.running_actions():  # actions of a process that stopped while they ran
            self._ops.recover_all()

    @property
    def _ops(self) -> Any:
        """The actions (deploy, scale…, provisioning): loaded on first use, not at start-up."""
        if self._operations is None:
            from .actions import Operations  # noqa: PLC0415

            self._operations = Operations(self)
        return self._operations

    async def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _now(self) -> float:
        return self.context.clock.now().timestamp()

    def _state(self) -> tuple[World, Pipelines, Store, Fleet]:
        if self._store is None or self._world is None or self._pipelines is None or self._fleet is None:
            raise SourceError("the sandbox source is not started")
        return self._world, self._pipelines, self._store, self._fleet

    def _sync_world(self) -> None:
        """Add to (or drop from) the world the services created by actions, as the database has them.

        Another process (the command line next to the dashboard) may have created one.
        """
        world, pipelines, store, _ = self._state()
        rows = {row.name: row for row in store.services()}
        if rows.keys() == self._created:
            return
        for name in self._created - rows.keys():
            world.remove(name)
            pipelines.forget(name)
        for name in rows.keys() - self._created:
            row = rows[name]
            if world.get(name) is None:
                pipelines.forget(name)
                world.add(row.name, row.team, row.tier, row.kind, row.language, row.description, row.created_at,
                          minor0_for(row.created_at))
        self._created = set(rows)

    def _spec(self, service: str) -> ServiceSpec:
        spec = self._state()[0].get(service)
        if spec is None:
            self._sync_world()
            spec = self._state()[0].get(service)
        if spec is None:
            raise SourceNotFound(f"no service named {service!r} in the sandbox")
        return spec

    def _check_environment(self, environment: str) -> None:
        if environment not in {row.name for row in self._environment_rows(self._now())}:
            raise SourceNotFound(f"no environment named {environment!r} in the sandbox")

    def _row(self, service: str, environment: str) -> DeploymentRow:
        self._spec(service)
        self._check_environment(environment)
        row = self._state()[2].deployment(service, environment)
        if row is None:
            raise SourceNotFound(f"{service} is not deployed to {environment}")
        return row

    # Catalog and environments -------------------------------------------------------------------
    async def services(self) -> list[Service]:
        self._sync_world()
        return list(self._state()[0].services)

    async def teams(self) -> list[Team]:
        return world_teams(self.config.seed)

    def _environment_rows(self, now: float) -> list[EnvironmentRow]:
        """Environments that exist at ``now``: the previews pull requests opened since are
        made, expired ones are removed (``preview_sim.py``)."""
        store = self._state()[2]
        if self._previews is not None:
            self._previews.catch_up(now)
        from .preview_sim import sweep_expired  # noqa: PLC0415

        return sweep_expired(store, store.environments(), now)

    async def environments(self) -> list[Environment]:
        return [Environment(
            name=row.name, order=row.order, kind=EnvironmentKind(row.kind), protected=row.protected,
            expires_at=datetime.fromtimestamp(row.expires_at, UTC) if row.expires_at is not None else None,
        ) for row in self._environment_rows(self._now())]

    async def deployments(self) -> list[Deployment]:
        self._sync_world()
        _, _, store, fleet = self._state()
        now = self._now()
        active = {row.name for row in self._environment_rows(now)}
        return [fleet.effective(row, now) for row in store.deployments() if row.environment in active]

    # Pipelines ----------------------------------------------------------------------------------
    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        return self._state()[1].list(self._now(), query.service, query.limit)

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        return self._state()[1].get(run_id, self._now())

    async def pipeline_logs(self, query: JobLogQuery) -> AsyncIterator[list[LogLine]]:
        """What the run's job (or every job) printed; while it runs, what it prints next."""
        sent: dict[str, int] = {}
        while True:
            run = self._state()[1].get(query.run_id, self._now())
            jobs = [j for j in run.jobs if not query.job_id or j.id == query.job_id]
            if query.job_id and not jobs:
                raise SourceNotFound(f"run {query.run_id} has no job {query.job_id!r}")
            now = self.context.clock.now()
            for job in jobs:
                lines = job_log(run, job, now)
                new = lines[sent.get(job.id, 0):]
                if new:
                    sent[job.id] = len(lines)
                    yield new
            if not query.follow or run.status.finished:
                return
            await asyncio.sleep(1.0)

    # Logs ---------------------------------------------------------------------------------------
    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:
        if query.previous:  # each restarted container's previous run, then the end
            lines = previous_logs(await self.instances(query.service, query.environment), query,
                                  self.context.clock.now())
            if lines:
                yield lines
            return
        if query.container or query.instance:  # only the lines of the instances chosen
            # (the past lines of every instance, enough of them for ``tail`` of those chosen)
            replicas = self._row(query.service, query.environment).replicas_desired or 1
            wide = query.model_copy(update={"tail": query.tail * 3 * max(replicas, 1)})
            past = True
            async for batch in self._logs(wide):
                batch = chosen(batch, query)
                if past:
                    batch, past = (batch[-query.tail:] if query.tail else []), False
                if batch:
                    yield batch
            return
        async for batch in self._logs(query):
            yield batch

    async def _logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:
        spec = self._spec(query.service)
        row = self._row(query.service, query.environment)
        seed = self.config.seed
        generator = LogGenerator(seed, spec, query.environment, row.replicas_desired)
        now = self._now()
        if self.config.flood:
            async for batch in self._flood(generator, spec, query, now):
                yield batch
            return
        since = now - query.since.total_seconds() if query.since is not None else None
        lines = generator.tail(self._timeline(spec, query.environment, now), now, query.tail, since)
        if lines:
            yield lines
        last = now
        while query.follow:
            await asyncio.sleep(self.config.log_interval)
            now = self._now()
            if now <= last:
                continue
            start = max(last, now - MAX_CATCH_UP)
            lines = generator.between(self._timeline(spec, query.environment, now, start), start, now)
            last = now
            if lines:
                yield lines

    def _timeline(self, spec: ServiceSpec, environment: str, end: float, start: float | None = None) -> list[Segment]:
        start = end - 86400.0 if start is None else start
        return self._state()[3].timeline(spec, environment, start, end)

    async def _flood(self, generator: LogGenerator, spec: ServiceSpec, query: LogQuery,
                     now: float) -> AsyncIterator[list[LogLine]]:
        """Batches of lines as fast as the consumer takes them, with synthetic timestamps."""
        segment = self._timeline(spec, query.environment, now, now)[-1]
        pool = generator.flood_pool(segment)
        size = len(pool)
        if not size:  # scaled to zero: no instance writes anything
            return
        service, environment = spec.name, query.environment
        ts = datetime.fromtimestamp(now, UTC)
        # Each pool entry is validated once, as a template; the lines of the flood are copies of
        # it with their own timestamp (validating every line cost more than the rest of the flood).
        templates = [LogLine(ts=ts, service=service, environment=environment, instance=instance,
                             level=level, message=message) for instance, level, message in pool]
        stamped = _stamped
        remaining = query.tail if not query.follow else None
        i = 0
        while remaining is None or remaining > 0:
            count = FLOOD_BATCH if remaining is None else min(FLOOD_BATCH, remaining)
            batch = []
            add = batch.append
            for k in range(i, i + count):
                add(stamped(templates[k % size], ts))
                ts += _FLOOD_SPACING
            i += count
            if remaining is not None:
                remaining -= count
            yield batch
            await asyncio.sleep(0)

    # Instances ----------------------------------------------------------------------------------
    async def instances(self, service: str, environment: str) -> Instances:
        from .instances import instances  # noqa: PLC0415

        spec = self._spec(service)
        row = self._row(service, environment)
        return instances(self._state()[3], spec, row, self._now())

    # Metrics ------------------------------------------------------------------------------------
    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        spec = self._spec(query.service)
        row = self._row(query.service, query.environment)
        now = self._now()
        start = now - query.window.delta.total_seconds()
        segments = self._timeline(spec, query.environment, now, start)
        return series(self.config.seed, spec, query.environment, row.replicas_desired, segments, query, now)

    # Actions ------------------------------------------------------------------------------------
    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        return self._ops.deploy_versions(service, environment)

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        return self._ops.plan(request)

    def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        # The generator itself, not a wrapper: closing it must reach the action's clean-up at once.
        return self._ops.run(request)

    # Provisioning -------------------------------------------------------------------------------
    async def templates(self) -> list[Template]:
        from .provision import TEMPLATES  # noqa: PLC0415

        return list(TEMPLATES.values())

    async def resources(self) -> list[Resource]:
        now = self._now()
        active = {row.name: row for row in self._environment_rows(now)}
        out = []
        for row in self._state()[2].resources():
            env = active.get(row.environment) if row.environment is not None else None
            if row.environment is not None and env is None:
                continue  # its preview environment has expired
            out.append(Resource(
                kind=row.kind, name=row.name, service=row.service, environment=row.environment, status=row.status,
                created_at=datetime.fromtimestamp(row.created_at, UTC),
                expires_at=datetime.fromtimestamp(env.expires_at, UTC) if env and env.expires_at else None,
                details=row.details))
        return out

    # Delivery history ---------------------------------------------------------------------------
    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        from .history import History, action_events  # noqa: PLC0415

        world, pipelines, store, _ = self._state()
        if self._history is None:
            self._history = History(store.connection, self.config.seed, world.seeded, pipelines)
        self._history.ensure(self._now())
        return self._history.query(query, action_events(store.delivery_actions(), self.name),
                                   self.name)

    # State changes (not part of the plugin API; used by tests and the actions layer) -----------
    def _set_deployment(self, service: str, environment: str, version: str, *,
                        replicas: int | None = None, health: Health = Health.HEALTHY, message: str = "",
                        updated_at: datetime | None = None) -> Deployment:
        """Record that ``version`` of ``service`` now runs in ``environment``."""
        spec = self._spec(service)
        _, _, store, fleet = self._state()
        self._check_environment(environment)
        previous = store.deployment(spec.name, environment)
        desired = replicas if replicas is not None else previous.replicas_desired if previous else 1
        when = updated_at.timestamp() if updated_at is not None else self._now()
        ready = 0 if health is Health.DOWN else desired
        row = DeploymentRow(spec.name, environment, version, ready, desired, health.value, message, when)
        store.put_deployment(row)
        return fleet.effective(row, max(when, self._now()))

    def _add_environment(self, name: str, *, order: int = 3, kind: EnvironmentKind = EnvironmentKind.PREVIEW,
                         protected: bool = False, expires_at: datetime | None = None) -> Environment:
        """Create (or replace) an environment, e.g. a preview environment."""
        expires = expires_at.timestamp() if expires_at is not None else None
        self._state()[2].put_environment(EnvironmentRow(name, order, kind.value, protected, expires))
        return Environment(name=name, order=order, kind=kind, protected=protected, expires_at=expires_at)

    def _mark_bad(self, service: str, version: str, severity: float = 0.8) -> None:
        """Declare a release of ``service`` bad: wherever it runs, errors and latency go up."""
        self._spec(service)
        self._state()[3].mark_bad(service, version, severity)

    def _incident_service(self) -> str:
        """The service whose production was seeded on a bad release."""
        return self._state()[3].incident_service().name


