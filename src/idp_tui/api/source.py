"""The base class every data source derives from.

A source is registered under the ``idp_tui.sources`` entry-point group::

    [project.entry-points."idp_tui.sources"]
    mysource = "my_package:MySource"

and configured in ``config.toml``::

    [sources.main]
    type = "mysource"
    url = "https://example.internal"

Each source runs on an event loop of its own, in a thread of its own, so a source that blocks or hangs
cannot freeze the dashboard; the hub applies a timeout to every call and keeps the last good answer.
Override only the methods for the capabilities you declare.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from .actions import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    Resource,
    Template,
    VersionOption,
)
from .clock import Clock, SystemClock
from .delivery import DeliveryHistory, HistoryQuery
from .errors import NotSupported
from .identity import Identity
from .kinds import Capability, TopicKind
from .models import (
    Alert,
    CostPrices,
    Deployment,
    Environment,
    Facet,
    Instances,
    JobLogQuery,
    LogLine,
    LogQuery,
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


class SourceConfig(BaseModel):
    """Base of a source's settings. Unknown keys are an error, so typos are caught at start-up.

    Subclass it, add fields, and set it as ``Source.Config``. The ``type``, ``timeout``,
    ``read_only`` and ``owns`` keys of the ``[sources.NAME]`` table are taken by the hub and never
    reach this model (so a source cannot have settings of those names).
    """

    model_config = ConfigDict(extra="forbid")


def _nobody_listens(topic: str) -> None:
    """The default of ``SourceContext.notify``: no hub (a test, a script)."""


def _nobody_reads(key: str, text: str) -> None:
    """The default of ``SourceContext.status``: no hub."""


@dataclass(frozen=True)
class SourceContext:
    """What the dashboard gives a source: its configured name, a private data folder, a clock,
    and a way to say that its data changed."""

    name: str
    data_dir: Path
    clock: Clock = field(default_factory=SystemClock)
    #: Set by the hub; call it through :meth:`changed` (it takes a known topic kind's value).
    notify: Callable[[str], None] = field(default=_nobody_listens, compare=False, repr=False)
    #: Set by the hub; call it through :meth:`set_status`.
    status: Callable[[str, str], None] = field(default=_nobody_reads, compare=False, repr=False)

    def changed(self, topic: TopicKind | str) -> None:
        """Tell the hub that the data of ``topic`` changed, so it asks for it now.

        ``topic`` is a :class:`TopicKind` or its value: ``TopicKind.CATALOG`` ("catalog"),
        ``ENVIRONMENTS``, ``PIPELINES``, ``METRICS``, ``RESOURCES``… Any other value raises
        ``ValueError`` naming the known kinds (a misspelt topic is a bug, not a no-op).
        For a source that learns of changes by itself (a watch, a webhook) rather than being
        polled; callable from any thread, as often as changes come (the hub spaces its refreshes).
        """
        self.notify(TopicKind.parse(topic).value)

    def set_status(self, key: str, text: str) -> None:
        """Show ``key: text`` for this source in the health view (``text`` empty: remove it).

        For what a user wants to see of a healthy source: the API quota left, the cluster's
        version, the number of entities skipped… Callable from any thread.
        """
        self.status(key, text)

    def set_part_health(self, name: str, ok: bool | None, latency: float | None = None, *,
                        error: BaseException | str | None = None, kind: str = "",
                        parent: str | None = None) -> None:
        """Show the health of one part of this source (a cluster, an environment's namespace, a
        repository) in its own row of the health view and of ``idp-tui sources``.

        ``ok``: True (it answers), False (it does not: ``error``, a :class:`SourceError` or
        words, says why), None (not answered yet); ``latency``: seconds its last answer took;
        ``kind``: one word ("context"); ``parent``: the part it belongs to. Reported again with
        the same values, nothing changes. Callable from any thread. See ``idp_tui.PartHealth``.
        """
        report = getattr(self.status, "part", None)
        if report is not None:
            from .health import PartHealth  # noqa: PLC0415 - pydantic only when parts are used

            report(PartHealth.of(name, ok, latency, error=error, kind=kind, parent=parent))

    def forget_part(self, name: str) -> None:
        """Remove a part reported with :meth:`set_part_health` (it is no longer read)."""
        forget = getattr(self.status, "forget_part", None)
        if forget is not None:
            forget(str(name))


class Source:
    """Base class of a data source. All methods are coroutines run on the source's own event loop."""

    #: Settings model; the ``[sources.NAME]`` table is validated against it.
    Config: ClassVar[type[SourceConfig]] = SourceConfig
    #: What this source offers. The hub asks only for these.
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: One line shown by ``idp-tui --list-sources`` and in the health view.
    description: ClassVar[str] = ""
    #: With ``Capability.ACTIONS``: which of deploy, rollback, scale and restart it runs.
    actions: ClassVar[frozenset[ActionKind]] = frozenset()

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        return self.context.name

    async def start(self) -> None:
        """Open connections, files, clients. Called once before any other method."""

    async def close(self) -> None:
        """Release what ``start`` opened."""

    # Catalog -------------------------------------------------------------------------------------
    async def services(self) -> list[Service]:
        raise NotSupported(f"{self.name} has no catalog")

    async def teams(self) -> list[Team]:
        """The teams that own services (Backstage's Groups). Optional with ``Capability.CATALOG``."""
        raise NotSupported(f"{self.name} has no teams")

    async def service_detail(self, name: str) -> ServiceDetail:
        """More of one service than its catalog row: its APIs, other facts. Optional with
        ``Capability.CATALOG``; asked when the user selects the service."""
        raise NotSupported(f"{self.name} has no service detail")

    async def catalog_facets(self) -> list[Facet]:
        """The values of the catalog's fields (owner, lifecycle, type, system, tag…) with counts,
        for the Catalog pane's filters. Optional with ``Capability.CATALOG``; without it the hub
        counts them in the services."""
        raise NotSupported(f"{self.name} has no facets")

    async def use_catalog(self, services: list[Service]) -> None:
        """The whole catalog as the dashboard knows it (every catalog source, joined), after each
        change.

        Optional, for a source that finds its own settings in the catalog (a repository from the
        ``github.com/project-slug`` annotation, say). Called on the source's loop; return quickly.
        """
        raise NotSupported(f"{self.name} does not read the catalog")

    async def retry_now(self) -> None:
        """The user asked to try again now (the health view's "retry now"): forget any wait of
        your own (a ``Backoff`` of a failing part), so the next call asks the system again.

        The hub forgets its own back-offs of the source; this is for those the source keeps.
        """

    # Environments --------------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        raise NotSupported(f"{self.name} has no environments")

    async def deployments(self) -> list[Deployment]:
        raise NotSupported(f"{self.name} has no deployments")

    # Instances -----------------------------------------------------------------------------------
    async def instances(self, service: str, environment: str) -> Instances:
        """The instances (pods) of ``service`` in ``environment`` and the workload's recent events.

        With ``Capability.INSTANCES``. Ask the system for the service's own instances (a label
        selector), not for everything in the environment. Raise ``SourceNotFound`` when the
        service does not run there. Restarting one is ``ActionKind.RESTART_INSTANCE`` (the
        instance's name in ``request.params["instance"]``).
        """
        raise NotSupported(f"{self.name} has no instances")

    # Pipelines -----------------------------------------------------------------------------------
    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        raise NotSupported(f"{self.name} has no pipelines")

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        """One run with its jobs and steps."""
        raise NotSupported(f"{self.name} has no pipelines")

    def pipeline_logs(self, query: JobLogQuery) -> AsyncIterator[LogLine | list[LogLine]]:
        """The log of a run's job (or of every job of the run), as lines.

        An async generator like :meth:`logs`; optional with ``Capability.PIPELINES``. Lines carry
        the run's service, an empty environment, and the job's name as ``instance``.
        """
        raise NotSupported(f"{self.name} has no pipeline logs")

    # Logs ----------------------------------------------------------------------------------------
    def logs(self, query: LogQuery) -> AsyncIterator[LogLine | list[LogLine]]:
        """Past lines (``query.tail``), then new ones as they come while ``query.follow``.

        An async generator; yield single lines or lists of lines. The hub batches them for the pane
        (about every 50 ms) and closes the generator when the pane asks for another service or
        environment, or the dashboard quits. Stay inside ``async`` code: the hub cancels at the
        next ``await``.
        """
        raise NotSupported(f"{self.name} has no logs")

    # Metrics -------------------------------------------------------------------------------------
    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        raise NotSupported(f"{self.name} has no metrics")

    async def service_signals(self, query: SignalsQuery) -> list[ServiceSeries]:
        """A few signals of many services in one environment, for the rows of a table.

        Optional for a source with ``Capability.METRICS``. Answer with as few requests to your
        system as it allows (one per signal for all the services, not one per service).
        """
        raise NotSupported(f"{self.name} has no batched signals")

    async def cost_prices(self) -> CostPrices:
        """What a core and a GiB of memory cost an hour, where the source knows it (OpenCost's
        node prices in Prometheus). Optional for a source with ``Capability.METRICS``: without
        it (NotSupported, quiet), the ``[cost]`` prices of the config are used."""
        raise NotSupported(f"{self.name} has no cost prices")

    async def alerts(self, service: str, environment: str) -> list[Alert]:
        """The alerts firing (or pending) now about ``service`` in ``environment``.

        Optional for a source with ``Capability.METRICS``: the Metrics pane shows them above
        the charts. Without it, the pane shows none (NotSupported is quiet).
        """
        raise NotSupported(f"{self.name} has no alerts")

    # Actions -------------------------------------------------------------------------------------
    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        """Versions that can be deployed to ``environment``, newest first, the current one marked.

        Build them from succeeded pipeline runs where the source has them.
        """
        raise NotSupported(f"{self.name} cannot deploy")

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        """What ``request`` would change, without changing anything (the dry run).

        Raise a :class:`SourceError` with a clear message when the request cannot be done (an
        unknown version, a template parameter the model accepts but the system refuses…).
        """
        raise NotSupported(f"{self.name} has no actions")

    def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        """Do it, yielding progress events; the last event's ``state`` is succeeded or failed.

        An async generator. ``request.id`` is an idempotency key: asked twice for the same id, do
        the work once (yield the outcome of the first run, or refuse). Raising counts as failed. The
        hub cancels the generator when the user cancels (only offered when the plan said
        ``cancellable``) or when the action's time runs out; clean up in ``finally``.
        """
        raise NotSupported(f"{self.name} has no actions")

    # Provisioning --------------------------------------------------------------------------------
    async def templates(self) -> list[Template]:
        """The provisioning templates this source offers."""
        raise NotSupported(f"{self.name} has no templates")

    async def resources(self) -> list[Resource]:
        """What has been provisioned (databases, queues, buckets…), for the catalog and CLI."""
        raise NotSupported(f"{self.name} has no resources")

    # Delivery history ----------------------------------------------------------------------------
    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        """Deployments that finished (and incidents that started) in ``[query.start, query.end)``,
        of ``query.service`` and ``query.environment`` or, where None, of every one
        (``Capability.DELIVERY``). Optional: a source that has none raises NotSupported."""
        raise NotSupported(f"{self.name} has no delivery history")

    # Identity ------------------------------------------------------------------------------------
    async def whoami(self) -> Identity | None:
        """Who the user is, as this source's server says of its credentials (with
        ``Capability.ACTIONS``): ``Identity(user=…)``, or ``Identity(user=None, note=why)`` when
        the server cannot say. Optional: asked once a run, never waited for long; an action is
        recorded with the names confirmed by the sources that answered in time."""
        raise NotSupported(f"{self.name} cannot say who the user is")
