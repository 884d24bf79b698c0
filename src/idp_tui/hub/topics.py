"""What panes can watch: :class:`Topic`, and the one table (:data:`TOPICS`) that says, for each kind,
which capability answers it, which source method is asked, the record model of the answer, how the
answer is stamped with its source, how the answers of several sources are joined, how often it is
refreshed, whether the method is optional, and whether the topic is about one service.

The hub's fetching, routing and merging, the optional methods, the default refresh intervals and the
``[hub.refresh]`` settings are all read from this table. Adding a topic is one :class:`TopicSpec`
row here (and the ``TopicKind`` member, and the source method it asks for).
"""

from __future__ import annotations

import asyncio

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from ..api.actions import Resource
from ..api.delivery import DeliveryHistory, HistoryQuery, merge_histories
from ..api.errors import NotSupported
from ..api.identity import Identity
from ..api.kinds import Capability, TopicKind, Window
from ..api.models import (
    Alert,
    CostPrices,
    Deployment,
    Environment,
    Facet,
    Instances,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    Service,
    ServiceDetail,
    ServiceSeries,
    SignalsQuery,
    Team,
)
from .failures import Failure
from .joins import (
    count_facets,
    first_answer,
    merge_alerts,
    merge_facets,
    merge_metrics,
    merge_platform,
    merge_resources,
    merge_runs,
    merge_services,
    merge_signals,
    merge_teams,
)
from .reuse import kept
from .validation import validate_list, validate_one

if TYPE_CHECKING:
    from ..environments import EnvironmentMap
    from .core import Hub
    from .runner import SourceRunner

T = TypeVar("T")


@dataclass(frozen=True)
class Topic:
    """Something panes can watch. Build with the class methods.

    ``kind`` is a :class:`~idp_tui.TopicKind` (its string value is accepted; anything else is a
    ``ValueError`` naming the known kinds).
    """

    kind: TopicKind
    args: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if type(self.kind) is not TopicKind:
            object.__setattr__(self, "kind", TopicKind.parse(self.kind))

    @property
    def spec(self) -> TopicSpec:
        """This topic's row of :data:`TOPICS`."""
        return TOPICS[self.kind]

    @property
    def service(self) -> str | None:
        """The service a per-service topic is about (None for the others)."""
        spec = TOPICS[self.kind]
        return spec.service(self) if spec.service is not None else None

    @classmethod
    def catalog(cls) -> Topic:
        return cls(TopicKind.CATALOG)

    @classmethod
    def environments(cls) -> Topic:
        return cls(TopicKind.ENVIRONMENTS)

    @classmethod
    def pipelines(cls, service: str | None = None, limit: int = 200) -> Topic:
        return cls(TopicKind.PIPELINES, (service, limit))

    @classmethod
    def pipeline_run(cls, source: str, run_id: str) -> Topic:
        return cls(TopicKind.PIPELINE_RUN, (source, run_id))

    @classmethod
    def resources(cls) -> Topic:
        """What provisioning created (databases, queues, buckets…), from every source."""
        return cls(TopicKind.RESOURCES)

    @classmethod
    def metrics(cls, service: str, environment: str, window: Window, step: float) -> Topic:
        return cls(TopicKind.METRICS, (service, environment, Window(window), step))

    @classmethod
    def signals(cls, environment: str, services: Sequence[str], window: Window = Window.M15,
                step: float = 60.0) -> Topic:
        """A few signals of many services (sparklines and health in table rows)."""
        return cls(TopicKind.SIGNALS, (environment, tuple(services), Window(window), step))

    @classmethod
    def alerts(cls, service: str, environment: str) -> Topic:
        """Alerts firing about a service in an environment, from the metrics sources that may
        know it."""
        return cls(TopicKind.ALERTS, (service, environment))

    @classmethod
    def cost_prices(cls) -> Topic:
        """The prices of a core and a GiB an hour, from the metrics sources that know them."""
        return cls(TopicKind.COST_PRICES)

    @classmethod
    def teams(cls) -> Topic:
        """The teams (groups) of every catalog source that has them."""
        return cls(TopicKind.TEAMS)

    @classmethod
    def facets(cls) -> Topic:
        """The values of the catalog's fields with counts (for filters)."""
        return cls(TopicKind.FACETS)

    @classmethod
    def instances(cls, service: str, environment: str) -> Topic:
        """The instances (pods) of a service in an environment, and the workload's events."""
        return cls(TopicKind.INSTANCES, (service, environment))

    @classmethod
    def delivery(cls, start: datetime, end: datetime, service: str | None = None,
                 environment: str | None = None) -> Topic:
        """Past deployments and incidents in ``[start, end)`` (of one service, or every one)."""
        return cls(TopicKind.DELIVERY, (service, environment, start, end))

    @classmethod
    def identity(cls) -> Topic:
        """Who the user is, by source (``Source.whoami``): ``{source: Identity}``."""
        return cls(TopicKind.IDENTITY)

    @classmethod
    def service_detail(cls, service: str) -> Topic:
        """More of one service from the catalog sources that list it (APIs, other facts)."""
        return cls(TopicKind.SERVICE_DETAIL, (service,))


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """The hub's current answer for a topic: merged data plus each failing source's error."""

    topic: Topic
    data: T | None
    errors: dict[str, Failure] = field(default_factory=dict)
    #: When the sources were asked (what an answer is as of, however long it took to come).
    fetched_at: datetime | None = None
    #: True until every source has answered (or failed) once.
    loading: bool = False
    #: The failing sources whose last answer is still in ``data`` (the others never answered).
    kept: frozenset[str] = frozenset()


# The table ---------------------------------------------------------------------------------------

#: ``fetch(hub, spec, runner, topic, partial)``: one source's validated answer for a topic.
Fetch = Callable[["Hub", "TopicSpec", "SourceRunner", Topic, "list[Failure] | None"], Awaitable[Any]]


def _no_args(topic: Topic, hub: Hub) -> tuple[Any, ...]:
    return ()


def _stamp_source(record: Any, source: str) -> Any:
    if getattr(record, "source", None) == source:
        return record  # stamped by the source itself
    return record.model_copy(update={"source": source})


@dataclass(frozen=True)
class TopicSpec:
    """How the hub serves one kind of topic."""

    kind: TopicKind
    #: Sources offering it answer it.
    capability: Capability
    #: The source method asked (``fetch`` may ask more).
    method: str
    #: The record model of the answer (a list of them, or one with ``many=False``).
    model: type[BaseModel]
    #: The answer's name in error messages ("pipeline runs").
    what: str
    #: ``merge(topic, answers, hub)``: the sources' answers (config order) joined into the
    #: topic's data.
    merge: Callable[[Topic, list[Any], Hub], Any]
    #: Seconds between two refreshes while it is watched.
    interval: float
    #: The method answers a list of records (else one record).
    many: bool = True
    #: ``args(topic, hub)``: the method's arguments.
    args: Callable[[Topic, Hub], tuple[Any, ...]] = _no_args
    #: ``annotate(record, source)``: a record stamped with the source that gave it.
    annotate: Callable[[Any, str], Any] | None = _stamp_source
    #: A source with the capability may leave the method out (NotSupported): asked once, then
    #: not again, and quiet.
    optional: bool = False
    #: A PartialAnswer's data is used (with its error shown).
    partial: bool = True
    #: ``service(topic)``: for a topic about one service, which (None: about every service); it
    #: goes only to the sources that may know that service (``Hub.sources_for_service``).
    service: Callable[[Topic], str | None] | None = None
    #: ``only(topic, runners, hub)``: narrows the sources asked further (a run: the source that
    #: reported it).
    only: Callable[[Topic, list[SourceRunner], Hub], list[SourceRunner]] | None = None
    #: A fetch of its own (several methods, a fallback); default: ``method`` with ``args``.
    fetch: Fetch | None = None
    #: Its interval is a key of the config's ``[hub.refresh]`` table.
    setting: bool = True
    #: Which of the topic's arguments is an environment: each source is asked under its own
    #: name for it (``[environments.NAME] names``).
    environment_arg: int | None = None
    #: ``configured(hub)``: the config itself answers the topic (declared environments), so no
    #: source offering it is no error.
    configured: Callable[[Hub], bool] | None = None
    #: ``settled(data)``: the answer will not change any more (a finished run): its poll loop
    #: stops asking until woken.
    settled: Callable[[Any], bool] | None = None
    #: Answers are large (a year of delivery history): checked, stamped, renamed and compared
    #: with the source's last answer in one step in a thread (``prepared``), so the event loop
    #: (the dashboard's keys) never waits on them.
    off_loop: bool = False
    #: ``rename(answer, source, names)``: the stamped answer under the platform's environment
    #: names (``[environments.NAME] names``), when its records name environments.
    rename: Callable[[Any, str, EnvironmentMap], Any] | None = None

    def prepared(self, value: Any, source: str, names: EnvironmentMap, last: Any) -> Any:
        """``value`` checked, stamped with ``source`` and renamed; ``last`` (the source's last
        answer) itself when it is equal to that, so the hub's own comparison (``reuse.kept``)
        is one of identity. All of an ``off_loop`` topic's work on an answer, in one thread."""
        return kept(last, self.renamed(self.stamped(self.check(value), source), source, names))

    def check(self, value: Any) -> Any:
        """``value`` as the records this topic's method answers (SourceDataError if not)."""
        if self.many:
            return validate_list(value, self.model, self.what)
        return validate_one(value, self.model, self.what)

    def stamped(self, value: Any, source: str) -> Any:
        """The checked answer with each record stamped with ``source`` (see ``annotate``)."""
        if self.annotate is None:
            return value
        if self.many:
            return [self.annotate(record, source) for record in value]
        return self.annotate(value, source)

    def renamed(self, value: Any, source: str, names: EnvironmentMap) -> Any:
        """The stamped answer under the platform's environment names (see ``rename``)."""
        return value if self.rename is None or not names else self.rename(value, source, names)


async def fetch_default(hub: Hub, spec: TopicSpec, runner: SourceRunner, topic: Topic,
                        partial: list[Failure] | None) -> Any:
    """``source.<spec.method>(*spec.args(topic, hub))``, checked, stamped with the source and
    under the platform's environment names (an ``off_loop`` topic's in a thread: ``prepared``)."""
    names = hub.environments
    if spec.off_loop:
        last = _last_answer(hub, spec, runner, topic)
        return await hub._call(runner, spec.method, *spec.args(topic, hub),
                               validate=lambda value: asyncio.to_thread(
                                   spec.prepared, value, runner.name, names, last),
                               partial=partial if spec.partial else None, service=topic.service)
    value = await hub._call(runner, spec.method, *spec.args(topic, hub), validate=spec.check,
                            partial=partial if spec.partial else None, service=topic.service)
    annotate = spec.annotate
    if spec.many and annotate is not None:  # (records handed over again: stamped once)
        value = hub._stamps.stamped(runner.name, topic, value, lambda r: annotate(r, runner.name))
        return spec.renamed(value, runner.name, names)
    return spec.renamed(spec.stamped(value, runner.name), runner.name, names)


def _last_answer(hub: Hub, spec: TopicSpec, runner: SourceRunner, topic: Topic) -> Any:
    """``runner``'s last answer for ``topic`` (None: none), which the hub keeps under the
    platform's name for the environment ``topic`` has under the source's."""
    index = spec.environment_arg
    if index is not None and hub.environments and topic.args[index] is not None:
        platform = hub.environments.to_platform(runner.name, topic.args[index])
        topic = Topic(topic.kind, (*topic.args[:index], platform, *topic.args[index + 1:]))
    state = hub._topics.get(topic)
    return None if state is None else state.by_source.get(runner.name)


async def _fetch_platform(hub: Hub, spec: TopicSpec, runner: SourceRunner, topic: Topic,
                          partial: list[Failure] | None) -> Any:
    """Environments and deployments: two calls, both needed."""
    envs = await hub._call(runner, "environments", partial=partial,
                           validate=lambda v: validate_list(v, Environment, "environments"))
    deps = await hub._call(runner, "deployments", partial=partial,
                           validate=lambda v: validate_list(v, Deployment, "deployments"))
    names = hub.environments  # the records under the platform's names

    def stamp(dep: Deployment) -> Deployment:  # with its source, under the platform's name
        update: dict[str, Any] = {} if dep.source == runner.name else {"source": runner.name}
        environment = names.to_platform(runner.name, dep.environment)
        if environment != dep.environment:
            update["environment"] = environment
        return dep.model_copy(update=update) if update else dep

    # (a deployment handed over again is stamped once: see Stamps)
    return (names.rename_environments(runner.name, envs),
            hub._stamps.stamped(runner.name, topic, deps, stamp))


def _rename_history(history: DeliveryHistory, source: str,
                    names: EnvironmentMap) -> DeliveryHistory:
    """A source's delivery history under the platform's environment names (itself when it
    names none differently)."""
    deliveries = names.rename_records(source, history.deliveries)
    incidents = names.rename_records(source, history.incidents)
    if deliveries is history.deliveries and incidents is history.incidents:
        return history
    return history.model_copy(update={"deliveries": deliveries, "incidents": incidents})


async def _fetch_facets(hub: Hub, spec: TopicSpec, runner: SourceRunner, topic: Topic,
                        partial: list[Failure] | None) -> Any:
    """The source's own counts, or (without ``catalog_facets``) the hub counts its catalog."""
    try:
        return await fetch_default(hub, spec, runner, topic, partial)
    except NotSupported:
        return count_facets(hub._catalog_part(runner.name))


def _metrics_args(topic: Topic, hub: Hub) -> tuple[Any, ...]:
    service, env, window, step = topic.args
    return (MetricsQuery(service=service, environment=env, window=window, step=step,
                         annotations=hub._annotations(service)),)


def _signals_args(topic: Topic, hub: Hub) -> tuple[Any, ...]:
    environment, services, window, step = topic.args
    return (SignalsQuery(environment=environment, services=services, window=window, step=step),)


def _first_arg(topic: Topic) -> str | None:
    return topic.args[0]


def _runs_of_service(topic: Topic, runners: list[SourceRunner], hub: Hub) -> list[SourceRunner]:
    """A service's runs: from the sources that may know the service (``Hub.sources_for_service``),
    and from every source without a catalog (a CI system, whose deployments need not list each
    service it builds) that does not declare it owns others."""
    service = topic.args[0]
    if service is None:
        return runners
    owners = {r.name for r in hub.sources_for_service(service, Capability.PIPELINES)}
    return [r for r in runners if r.name in owners or (
        Capability.CATALOG not in r.source.capabilities and r.declares(service) is not False)]


async def _fetch_identity(hub: Hub, spec: TopicSpec, runner: SourceRunner, topic: Topic,
                          partial: list[Failure] | None) -> Any:
    """A source's ``whoami`` (None, an answer that names nobody, is an Identity without a user)."""
    value = await hub._call(runner, spec.method, partial=None, validate=lambda v: (
        Identity(note="the source did not say") if v is None else spec.check(v)))
    return spec.stamped(value, runner.name)


def _merge_identities(parts: list[Identity]) -> dict[str, Identity]:
    return {identity.source: identity for identity in parts}


TOPICS: dict[TopicKind, TopicSpec] = {spec.kind: spec for spec in (
    TopicSpec(TopicKind.CATALOG, Capability.CATALOG, "services", Service, "services",
              merge=lambda topic, parts, hub: merge_services(parts), interval=60.0,
              annotate=lambda record, source: record.model_copy(update={"sources": (source,)})),
    TopicSpec(TopicKind.ENVIRONMENTS, Capability.ENVIRONMENTS, "environments", Environment,
              "environments", merge=lambda topic, parts, hub: merge_platform(parts, hub.environments),
              interval=5.0, fetch=_fetch_platform,
              configured=lambda hub: bool(hub.environments)),
    TopicSpec(TopicKind.PIPELINES, Capability.PIPELINES, "pipeline_runs", PipelineRun,
              "pipeline runs", merge=lambda topic, parts, hub: merge_runs(parts, topic.args[1]),
              interval=5.0, only=_runs_of_service,
              args=lambda topic, hub: (PipelineQuery(service=topic.args[0], limit=topic.args[1]),)),
    TopicSpec(TopicKind.PIPELINE_RUN, Capability.PIPELINES, "pipeline_run", PipelineRun,
              "pipeline run", merge=lambda topic, parts, hub: first_answer(parts), interval=2.0,
              many=False, partial=False, args=lambda topic, hub: (topic.args[1],),
              only=lambda topic, runners, hub: [r for r in runners if r.name == topic.args[0]],
              settled=lambda run: run.status.finished),
    TopicSpec(TopicKind.METRICS, Capability.METRICS, "metrics", MetricSeries, "metrics",
              merge=lambda topic, parts, hub: merge_metrics(parts), interval=15.0,
              args=_metrics_args, annotate=None, service=_first_arg, environment_arg=1),
    TopicSpec(TopicKind.ALERTS, Capability.METRICS, "alerts", Alert, "alerts",
              merge=lambda topic, parts, hub: merge_alerts(parts), interval=15.0, optional=True,
              args=lambda topic, hub: topic.args, service=_first_arg, environment_arg=1),
    TopicSpec(TopicKind.SIGNALS, Capability.METRICS, "service_signals", ServiceSeries,
              "service signals", merge=lambda topic, parts, hub: merge_signals(parts), interval=30.0,
              optional=True, args=_signals_args, annotate=None, environment_arg=0),
    TopicSpec(TopicKind.RESOURCES, Capability.PROVISION, "resources", Resource, "resources",
              merge=lambda topic, parts, hub: merge_resources(parts), interval=10.0),
    TopicSpec(TopicKind.TEAMS, Capability.CATALOG, "teams", Team, "teams",
              merge=lambda topic, parts, hub: merge_teams(parts), interval=300.0, optional=True,
              setting=False),
    TopicSpec(TopicKind.FACETS, Capability.CATALOG, "catalog_facets", Facet, "facets",
              merge=lambda topic, parts, hub: merge_facets(parts), interval=60.0, optional=True,
              annotate=None, fetch=_fetch_facets, setting=False),
    TopicSpec(TopicKind.SERVICE_DETAIL, Capability.CATALOG, "service_detail", ServiceDetail,
              "service detail", merge=lambda topic, parts, hub: first_answer(parts), interval=60.0,
              many=False, partial=False, optional=True, args=lambda topic, hub: topic.args,
              service=_first_arg, setting=False,
              only=lambda topic, runners, hub: [r for r in runners
                                                if hub.knows(r, topic.args[0])]),
    TopicSpec(TopicKind.INSTANCES, Capability.INSTANCES, "instances", Instances, "instances",
              merge=lambda topic, parts, hub: first_answer(parts), interval=5.0, many=False,
              partial=False, args=lambda topic, hub: topic.args, service=_first_arg,
              environment_arg=1),
    TopicSpec(TopicKind.DELIVERY, Capability.DELIVERY, "delivery_history", DeliveryHistory,
              "delivery history", merge=lambda topic, parts, hub: merge_histories(parts),
              interval=300.0, many=False, optional=True, service=_first_arg,
              args=lambda topic, hub: (HistoryQuery(service=topic.args[0],
                                                    environment=topic.args[1],
                                                    start=topic.args[2], end=topic.args[3]),),
              annotate=lambda record, source: record.stamped(source), setting=False,
              environment_arg=1, rename=_rename_history, off_loop=True),
    TopicSpec(TopicKind.COST_PRICES, Capability.METRICS, "cost_prices", CostPrices,
              "cost prices", merge=lambda topic, parts, hub: first_answer(parts),
              interval=600.0, many=False, partial=False, optional=True, setting=False),
    TopicSpec(TopicKind.IDENTITY, Capability.ACTIONS, "whoami", Identity, "identity",
              merge=lambda topic, parts, hub: _merge_identities(parts), interval=3600.0,
              many=False, partial=False, optional=True, setting=False, fetch=_fetch_identity),
)}

#: Seconds between two refreshes of a watched topic, by kind.
DEFAULT_INTERVALS: dict[str, float] = {kind.value: spec.interval for kind, spec in TOPICS.items()}
#: The ``[hub.refresh]`` settings of the config, with their defaults.
REFRESH_SETTINGS: dict[str, float] = {kind.value: spec.interval for kind, spec in TOPICS.items()
                                      if spec.setting}
#: Methods a source of a capability may leave out (NotSupported): asked once, then no more.
OPTIONAL_METHODS = frozenset({spec.method for spec in TOPICS.values() if spec.optional}
                             | {"use_catalog", "pipeline_logs"})
#: The capability that answers each topic kind.
KIND_CAPABILITY: dict[str, Capability] = {kind.value: spec.capability
                                          for kind, spec in TOPICS.items()}

if set(TOPICS) != set(TopicKind):  # pragma: no cover - a row was forgotten
    raise RuntimeError(f"topics without a row: {sorted(set(TopicKind) - set(TOPICS))}")
