"""The plugin API's enumerations: plain ``StrEnum`` classes, without pydantic.

Defined apart from the records so that what only needs a name for a state (the dashboard's first
frame, the rendering of a health or a status) does not import pydantic and every model. Each is
re-exported where it has always been (``idp_tui.api.models.Health``…) and by ``idp_tui``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

__all__ = [
    "SIGNAL_UNITS",
    "ActionKind",
    "ActionState",
    "Capability",
    "EnvironmentKind",
    "EnvironmentType",
    "Health",
    "LogLevel",
    "RunStatus",
    "Signal",
    "TopicKind",
    "Window",
]


class Health(StrEnum):
    """Health of a service in one environment."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class EnvironmentKind(StrEnum):
    STATIC = "static"
    PREVIEW = "preview"


class EnvironmentType(StrEnum):
    """What an environment is for: which one counts as production (DORA, scorecards, policy)."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    #: Held until someone approves it (a deployment to a protected environment).
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    #: Ended without running: someone must act before it can run (GitHub's ``action_required``:
    #: a pull request's workflows waiting for a maintainer's approval). Finished, unlike WAITING:
    #: approving it starts a new attempt.
    ACTION_REQUIRED = "action_required"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class LogLevel(StrEnum):
    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    FATAL = "fatal"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, text: str) -> LogLevel:
        """Map the usual spellings (``WARNING``, ``err``, ``E``…) to a level."""
        return _LEVEL_ALIASES.get(text.strip().lower(), cls.UNKNOWN)


_LEVEL_ALIASES = {
    "trace": LogLevel.TRACE, "t": LogLevel.TRACE,
    "debug": LogLevel.DEBUG, "d": LogLevel.DEBUG, "dbg": LogLevel.DEBUG,
    "info": LogLevel.INFO, "i": LogLevel.INFO, "information": LogLevel.INFO, "notice": LogLevel.INFO,
    "warn": LogLevel.WARN, "warning": LogLevel.WARN, "w": LogLevel.WARN,
    "error": LogLevel.ERROR, "err": LogLevel.ERROR, "e": LogLevel.ERROR,
    "fatal": LogLevel.FATAL, "critical": LogLevel.FATAL, "crit": LogLevel.FATAL,
    "panic": LogLevel.FATAL, "emerg": LogLevel.FATAL, "alert": LogLevel.FATAL,
}


class Signal(StrEnum):
    """The golden signals the Metrics pane knows how to chart."""

    REQUEST_RATE = "request_rate"
    ERROR_RATIO = "error_ratio"
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    CPU = "cpu"
    MEMORY = "memory"


#: Unit of each signal as sources must report it.
SIGNAL_UNITS: dict[Signal, str] = {
    Signal.REQUEST_RATE: "req/s",
    Signal.ERROR_RATIO: "ratio",
    Signal.LATENCY_P50: "s",
    Signal.LATENCY_P95: "s",
    Signal.LATENCY_P99: "s",
    Signal.CPU: "cores",
    Signal.MEMORY: "bytes",
}


class Window(StrEnum):
    """Time windows offered by the Metrics pane."""

    M15 = "15m"
    H1 = "1h"
    H6 = "6h"
    H24 = "24h"

    @property
    def delta(self) -> timedelta:
        return {"15m": timedelta(minutes=15), "1h": timedelta(hours=1),
                "6h": timedelta(hours=6), "24h": timedelta(hours=24)}[self.value]


class ActionKind(StrEnum):
    """What an action does."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    SCALE = "scale"
    RESTART = "restart"
    PROVISION = "provision"
    #: Run a pipeline run's failed jobs again (``ActionRequest.run_id``).
    RERUN = "rerun"
    #: Stop a queued or running pipeline run (``ActionRequest.run_id``).
    CANCEL = "cancel"
    #: Run every job of a finished pipeline run again (``ActionRequest.run_id``).
    RERUN_ALL = "rerun_all"
    #: Run one job of a finished pipeline run again (``run_id``; the job in ``params["job"]``).
    RERUN_JOB = "rerun_job"
    #: Let a run waiting for review deploy to the environment (``run_id``, ``environment``; the
    #: reason is the review's comment).
    APPROVE = "approve"
    #: Refuse a run waiting for review its deployment to the environment (as for ``APPROVE``).
    REJECT = "reject"
    #: Run a workflow of a service's repository (``service``; the workflow in ``template``, the
    #: branch or tag in ``version``, its declared inputs in ``params``).
    DISPATCH = "dispatch"
    #: Replace one instance of a service in an environment (``service``, ``environment``; the
    #: instance's name in ``params["instance"]``): Kubernetes deletes the pod and its controller
    #: starts another.
    RESTART_INSTANCE = "restart_instance"
    #: Give a preview (transient) environment more time to live (``environment``; by how much
    #: in ``params["seconds"]``, counted from its current expiry).
    EXTEND = "extend"
    #: Delete a preview (transient) environment and everything in it (``environment``).
    DELETE_ENVIRONMENT = "delete_environment"


class ActionState(StrEnum):
    """Where an action is. The last four are final."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DENIED = "denied"

    @property
    def finished(self) -> bool:
        return self in (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.CANCELLED,
                        ActionState.DENIED)


class Capability(StrEnum):
    CATALOG = "catalog"
    ENVIRONMENTS = "environments"
    PIPELINES = "pipelines"
    LOGS = "logs"
    METRICS = "metrics"
    #: Deploy, rollback, scale and restart (the ones listed in ``Source.actions``).
    ACTIONS = "actions"
    #: Provisioning templates and the resources they created.
    PROVISION = "provision"
    #: The instances (pods) of a service in an environment and their events.
    INSTANCES = "instances"
    #: Delivery history: past deployments (with their commits) and incidents
    #: (``Source.delivery_history``), for the insights (DORA's four keys).
    DELIVERY = "delivery"


class TopicKind(StrEnum):
    """What the dashboard watches and asks sources for, one kind of answer each.

    A source names one in ``SourceContext.changed`` (the string value works too) to say that its
    data of that kind changed. The hub's table of topics (``idp_tui.hub.topics.TOPICS``) says, for
    each, the capability and source method that answer it.
    """

    CATALOG = "catalog"
    ENVIRONMENTS = "environments"
    PIPELINES = "pipelines"
    PIPELINE_RUN = "pipeline_run"
    METRICS = "metrics"
    SIGNALS = "signals"
    ALERTS = "alerts"
    RESOURCES = "resources"
    TEAMS = "teams"
    FACETS = "facets"
    SERVICE_DETAIL = "service_detail"
    INSTANCES = "instances"
    DELIVERY = "delivery"
    #: Who the user is, as the sources that act can confirm it (``Source.whoami``).
    IDENTITY = "identity"
    COST_PRICES = "cost_prices"

    @classmethod
    def parse(cls, value: object) -> TopicKind:
        """``value`` (a member or its string value) as a member; anything else is a
        ``ValueError`` naming the known kinds."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(kind.value for kind in cls)
            raise ValueError(f"unknown topic kind {value!r} (known: {known})") from None
