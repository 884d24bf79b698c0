"""Records exchanged between sources, the hub and the user interface.

Every record is a pydantic model. Sources build them from whatever their system returns; the hub
validates what it receives, joins records from several sources on the service name, and hands them to
the panes. Nothing in here imports Textual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .kinds import (  # noqa: F401 - re-exported: defined without pydantic
    SIGNAL_UNITS,
    EnvironmentKind,
    EnvironmentType,
    Health,
    LogLevel,
    RunStatus,
    Signal,
    Window,
)


class Record(BaseModel):
    """Base of every record: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Link(Record):
    """A link shown in the catalog detail panel (repository, runbook, dashboard, …)."""

    title: str
    url: str
    kind: str = "other"


class Service(Record):
    """One entry of the service catalog.

    ``name`` is the join key across sources: a catalog from one source, deployments from another and
    metrics from a third meet on it.
    """

    name: str
    owner: str = ""
    tier: int | None = Field(default=None, ge=1, le=3)
    lifecycle: str = ""
    language: str = ""
    description: str = ""
    system: str = ""
    #: What it is: "service", "website", "library"… (Backstage's ``spec.type``).
    type: str = ""
    on_call: str = ""
    links: tuple[Link, ...] = ()
    tags: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    provides_apis: tuple[str, ...] = ()
    consumes_apis: tuple[str, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)
    #: Names of the sources that contributed to this record (filled in by the hub).
    sources: tuple[str, ...] = ()


class Environment(Record):
    """A deployment target. ``order`` is the promotion order (dev < staging < production)."""

    name: str
    order: int = 0
    kind: EnvironmentKind = EnvironmentKind.STATIC
    #: development, staging or production; None where nobody said (the hub then guesses from the
    #: name: ``prod-eu`` is production) — ``[environments]`` in the config decides.
    type: EnvironmentType | None = None
    protected: bool = False
    expires_at: datetime | None = None


class Deployment(Record):
    """What runs of one service in one environment."""

    service: str
    environment: str
    #: The version that serves: what the ready instances run. During a rollout it may not yet be
    #: the version asked for (``target_version``).
    version: str
    #: Instances ready and wanted; None where the source does not know (a deployment record
    #: of a CD system, without the instances that run it).
    replicas_ready: int | None = Field(default=None, ge=0)
    replicas_desired: int | None = Field(default=None, ge=0)
    health: Health = Health.UNKNOWN
    updated_at: datetime | None = None
    message: str = ""
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""
    #: A rollout under way: "progressing", or "stuck" (it stopped making progress: an image that
    #: cannot be pulled, a deadline exceeded); empty when none is (or the source does not say).
    rollout: Literal["", "progressing", "stuck"] = ""
    #: The version being rolled out, when it is not (yet) the one that serves.
    target_version: str | None = None
    #: What one instance asks for and may use at most (the sum over its containers): CPU in
    #: cores, memory in bytes; None where the source does not know (Kubernetes' requests and
    #: limits). The advisor's cost and capacity rules read them.
    cpu_request: float | None = Field(default=None, ge=0)
    memory_request: float | None = Field(default=None, ge=0)
    cpu_limit: float | None = Field(default=None, ge=0)
    memory_limit: float | None = Field(default=None, ge=0)


class Step(Record):
    name: str
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Job(Record):
    name: str
    status: RunStatus
    #: The source's id of the job (for its log); may be empty where jobs have no logs.
    id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    steps: tuple[Step, ...] = ()


class PipelineRun(Record):
    """One run of a service's pipeline. ``jobs`` may be empty in listings and filled in detail."""

    id: str
    service: str
    pipeline: str = "ci"
    branch: str = ""
    commit: str = ""
    message: str = ""
    status: RunStatus
    trigger: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    version: str | None = None
    url: str = ""
    jobs: tuple[Job, ...] = ()
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""
    #: The run's number in its pipeline ("#412"), where the source numbers runs.
    number: int | None = None
    #: Which attempt this is (a re-run is attempt 2, 3…).
    attempt: int = 1
    #: What started it ("push", "pull_request", "workflow_dispatch", "schedule"…).
    event: str = ""
    #: Who started it.
    actor: str = ""
    #: The pull request it ran for, where there is one.
    pull_request: int | None = None
    #: When the run was created (queued); a re-run keeps it, ``started_at`` moves.
    created_at: datetime | None = None

    def duration(self, now: datetime) -> timedelta:
        """How long the run took, or has taken so far."""
        end = self.finished_at or now
        return max(end - self.started_at, timedelta(0))


class LogLine(Record):
    """One log line from one instance. ``message`` is the raw text (it may be a JSON object)."""

    ts: datetime
    service: str
    environment: str
    instance: str
    level: LogLevel = LogLevel.UNKNOWN
    message: str

    @classmethod
    def maker(cls, *, service: str, environment: str,
              instance: str) -> Callable[[datetime, LogLevel, str], LogLine]:
        """A fast way to build many lines of one instance: ``make(ts, level, message)``.

        For sources that stream thousands of lines a second: the service, environment and
        instance are validated once, here; each line then checks only that ``ts`` is a timezone-
        aware datetime, ``level`` a LogLevel and ``message`` a str (raising TypeError otherwise),
        at a fraction of the cost of ``LogLine(...)``. The lines are the same records.
        """
        template = cls(ts=datetime(2000, 1, 1, tzinfo=UTC), service=service,
                       environment=environment, instance=instance, message="")
        base = dict(template.__dict__)
        fields_set = set(cls.model_fields)  # shared: copies of a record copy it first
        new = object.__new__
        # The slots' own setters: what object.__setattr__ ends up calling, without the lookup.
        set_dict, set_fields, set_extra, set_private = (
            BaseModel.__dict__[name].__set__ for name in (
                "__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                "__pydantic_private__"))

        def make(ts: datetime, level: LogLevel, message: str) -> LogLine:
            if type(message) is not str or type(level) is not LogLevel \
                    or (type(ts) is not datetime and not isinstance(ts, datetime)) \
                    or ts.tzinfo is None:
                raise TypeError("LogLine.maker: ts must be an aware datetime, level a LogLevel "
                                "and message a str")
            line = new(cls)
            values = base.copy()
            values["ts"] = ts
            values["level"] = level
            values["message"] = message
            set_dict(line, values)
            set_fields(line, fields_set)
            set_extra(line, None)
            set_private(line, None)
            return line

        return make


class MetricSeries(Record):
    """A time series: ``points`` are ``(unix seconds, value)`` pairs in time order."""

    signal: Signal
    unit: str
    points: tuple[tuple[float, float], ...] = ()
    #: Unix seconds of the series' "now" (its newest complete point) when that is older than two
    #: steps before the query's end (data that arrive late or stopped); None when it is current.
    as_of: float | None = None
    #: Why the series has no points, in words (``no series matched `…` ``, a refused query).
    note: str = ""

    @field_validator("points")
    @classmethod
    def _sorted(cls, points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if any(points[i][0] > points[i + 1][0] for i in range(len(points) - 1)):
            return tuple(sorted(points))
        return points

    def now(self) -> float | None:
        """The series' "now": its newest finite value (a source sends only complete points)."""
        for _, value in reversed(self.points):
            if value == value and value not in (float("inf"), float("-inf")):
                return value
        return None


class Alert(Record):
    """An alert about a service, firing (or pending) now, e.g. from Prometheus's rules."""

    name: str
    #: "firing" or "pending".
    state: str = "firing"
    severity: str = ""
    summary: str = ""
    since: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""


class CostPrices(Record):
    """What resources cost an hour where a metrics source knows it (OpenCost's node prices in
    Prometheus): used instead of the configured ``[cost]`` prices."""

    cpu_per_core_hour: float = Field(ge=0, le=1000)
    memory_per_gib_hour: float = Field(ge=0, le=1000)
    #: How many nodes' prices they come from (their average, weighted by what runs there).
    nodes: int = Field(default=0, ge=0)
    #: Where they come from, in words ("OpenCost node prices").
    origin: str = ""
    #: Name of the source that reported them (filled in by the hub).
    source: str = ""


class MetricsQuery(Record):
    service: str
    environment: str
    window: Window = Window.H1
    #: Seconds between points; the source may round it to what it supports.
    step: float = Field(default=60.0, gt=0)
    signals: tuple[Signal, ...] = tuple(Signal)
    #: The service's annotations in the catalog (filled in by the hub when it knows them), for
    #: sources that read their settings from there (e.g. a service's own PromQL).
    annotations: dict[str, str] = Field(default_factory=dict)


#: Points a metrics query asks for over its window: the Metrics pane and ``idp-tui metrics`` ask
#: the same queries for the same window (the same step, so the same rate() range and "now").
METRICS_POINTS = 240


def metrics_step(window: Window) -> float:
    """Seconds between the points of ``window``'s metrics: METRICS_POINTS over the window,
    rounded to a whole multiple of 15 s (never under 15 s)."""
    raw = Window(window).delta.total_seconds() / METRICS_POINTS
    return max(15.0, round(raw / 15.0) * 15.0)


class SignalsQuery(Record):
    """A few signals of many services at once (the rows of a table: sparklines, health)."""

    environment: str
    services: tuple[str, ...]
    signals: tuple[Signal, ...] = (Signal.REQUEST_RATE, Signal.ERROR_RATIO,
                                   Signal.LATENCY_P95)
    window: Window = Window.M15
    #: Seconds between points.
    step: float = Field(default=60.0, gt=0)


class ServiceSeries(Record):
    """One signal of one service (an answer to a SignalsQuery)."""

    service: str
    signal: Signal
    unit: str
    points: tuple[tuple[float, float], ...] = ()


class LogQuery(Record):
    service: str
    environment: str
    #: How many past lines to send before following.
    tail: int = Field(default=200, ge=0)
    since: timedelta | None = None
    follow: bool = True
    #: The log of each container's previous run (a container that crashed and was restarted),
    #: as ``kubectl logs --previous``: a finished log, so it is sent and the stream ends. A
    #: source that keeps no previous logs raises :class:`NotSupported` saying so.
    previous: bool = False
    #: Which containers of each instance: "" (the source's own setting), "all", "main" (the
    #: one that is the service) or a container's name.
    container: str = ""
    #: Only the instances whose name this regular expression matches (searched, as stern's pod
    #: query); "" for every instance. A bad expression is refused when the query is made.
    instance: str = ""

    @field_validator("instance")
    @classmethod
    def _instance_regex(cls, value: str) -> str:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class JobLogQuery(Record):
    """The log of a pipeline run's job (``job_id`` empty: every job of the run, in order)."""

    run_id: str
    job_id: str = ""
    #: Keep reading while the job runs (a source that cannot, sends what there is and stops).
    follow: bool = False


class Team(Record):
    """A team (Backstage's Group): who owns services."""

    name: str
    title: str = ""
    description: str = ""
    #: "team", "business-unit", "product-area"…
    type: str = ""
    email: str = ""
    parent: str = ""
    children: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""


class ApiInfo(Record):
    """An API a service provides or consumes, for the catalog detail panel."""

    name: str
    #: "openapi", "grpc", "asyncapi", "graphql"…
    type: str = ""
    lifecycle: str = ""
    owner: str = ""
    description: str = ""


class ServiceDetail(Record):
    """What a source knows of one service beyond its catalog row (asked when it is selected)."""

    service: Service
    #: The APIs it provides and consumes, with what the source knows of each.
    apis: tuple[ApiInfo, ...] = ()
    #: Other facts worth a line in the detail panel ("namespace": "default", "kind": "Component").
    facts: dict[str, str] = Field(default_factory=dict)
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""


class FacetValue(Record):
    value: str
    count: int = Field(ge=0)


class Facet(Record):
    """The values one catalog field takes, with how many services have each (for filters).

    ``field`` is one of "owner", "lifecycle", "type", "system", "tag", "language", "tier".
    """

    field: str
    values: tuple[FacetValue, ...] = ()


#: The catalog fields the Catalog pane filters by.
FACET_FIELDS = ("owner", "lifecycle", "type", "system", "tag", "language", "tier")


class PipelineQuery(Record):
    service: str | None = None
    limit: int = Field(default=100, ge=1)


def model_to_jsonable(record: BaseModel) -> dict[str, Any]:
    """A record as plain JSON types (for ``--json`` output and persistence)."""
    return record.model_dump(mode="json")


class InstanceContainer(Record):
    """One container of an instance (a pod's container), as ``kubectl describe pod`` shows it."""

    name: str
    image: str = ""
    ready: bool = False
    restarts: int = Field(default=0, ge=0)
    #: "running", "waiting" or "terminated" ("" where the source does not know).
    state: str = ""
    #: Why it waits or ended now: "CrashLoopBackOff", "ImagePullBackOff", "OOMKilled"…
    reason: str = ""
    message: str = ""
    #: Why its previous run ended ("OOMKilled", "Error"), with its exit code.
    last_reason: str = ""
    last_exit_code: int | None = None
    started_at: datetime | None = None


class Instance(Record):
    """One running copy of a service in an environment (a Kubernetes pod, a VM, a task…).

    ``reason`` is the one word that says what is wrong with it, if anything: a container's waiting
    reason (``CrashLoopBackOff``, ``ImagePullBackOff``), else the reason its last run ended
    (``OOMKilled``); empty for a healthy instance.
    """

    name: str
    #: "Running", "Pending", "Succeeded", "Failed", "Unknown" (Kubernetes' pod phases).
    phase: str = ""
    #: Containers ready, of how many.
    ready: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)
    restarts: int = Field(default=0, ge=0)
    reason: str = ""
    node: str = ""
    ip: str = ""
    created_at: datetime | None = None
    images: tuple[str, ...] = ()
    containers: tuple[InstanceContainer, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    #: Conditions as ``type: status`` ("Ready": "False"), in the source's order.
    conditions: dict[str, str] = Field(default_factory=dict)
    #: Being deleted (terminating).
    deleting: bool = False
    #: The instance as its system describes it (a pod's YAML), for the detail view.
    manifest: str = ""


class InstanceEvent(Record):
    """Something that happened to a workload or one of its instances (a Kubernetes event)."""

    #: "Normal" or "Warning".
    type: str = "Normal"
    reason: str = ""
    message: str = ""
    #: What it is about ("Pod/payments-api-7d9f-x2k4q", "Deployment/payments-api").
    object: str = ""
    count: int = Field(default=1, ge=0)
    last_seen: datetime | None = None


class Instances(Record):
    """The instances of one service in one environment and the workload's recent events (an
    answer of :meth:`Source.instances`)."""

    service: str
    environment: str
    instances: tuple[Instance, ...] = ()
    #: The most recent first.
    events: tuple[InstanceEvent, ...] = ()
    #: What runs them ("deployment/payments-api in shop (eu-1)"), for the view's title.
    workload: str = ""
    #: What the source could not tell ("events not readable: RBAC denied list events").
    note: str = ""
    #: Name of the source that reported it (filled in by the hub).
    source: str = ""
