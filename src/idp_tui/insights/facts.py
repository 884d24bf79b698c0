"""The facts scorecard rules test, one registry entry per fact.

A fact is a value about one service, computed from what the hub knows: the catalog entry, what
runs in each environment, the pipeline runs and the delivery history. Each :class:`FactSpec` in
:data:`FACTS` says its name, its type, what it means and how it is computed; adding a fact is
adding one entry. A fact that cannot be known for a service (no deployment in production, no
pipeline run on the default branch, no delivery history) is ``None``: a rule that needs it
errors with the fact's reason, it never passes nor fails silently.

Pure and Textual-free; the inputs are the plugin API's records, gathered in a :class:`World`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import dora

if TYPE_CHECKING:
    from ..api.models import Deployment, Environment, PipelineRun, Service, ServiceSeries
    from .coverage import Coverage

#: Branches taken for a repository's default branch when a service names none
#: (annotation :data:`DEFAULT_BRANCH_ANNOTATION`).
DEFAULT_BRANCHES = ("main", "master", "trunk")
DEFAULT_BRANCH_ANNOTATION = "idp-tui.dev/default-branch"
#: Annotations that say where a service's documentation is built from.
DOCS_ANNOTATIONS = ("backstage.io/techdocs-ref", "backstage.io/techdocs-entity")
#: Annotations that name an on-call rotation.
ON_CALL_ANNOTATIONS = ("pagerduty.com/service-id", "pagerduty.com/integration-key",
                       "opsgenie.com/team", "idp-tui.dev/on-call")
#: The window of the delivery facts that measure (change failure rate, lead time), in days.
DELIVERY_DAYS = 90
#: The window of ``deployed_last_30_days``, in days.
RECENT_DAYS = 30
#: The window of ``error_ratio`` (one of the metrics windows) and its step, in seconds.
ERROR_RATIO_WINDOW = "1h"
ERROR_RATIO_STEP = 300.0

#: The types a fact may have (as rule files name them).
TYPES = ("bool", "number", "string")


class World:
    """Everything the facts are computed from, indexed once for every service.

    ``deployments``, ``runs`` and ``delivery`` are ``None`` when nothing is known of them (no
    source offers them, or they failed): the facts computed from them are unknown then, not
    false. ``delivery`` is :func:`dora.analyse`'s facts of the production deployments;
    ``error_ratios`` each service's error ratio in production (:func:`error_ratios`);
    ``coverage`` the services whose delivery history nobody keeps (their delivery facts are
    unknown, :mod:`.coverage`).
    """

    def __init__(self, services: Sequence[Service], *, now: float,
                 environments: Sequence[Environment] = (),
                 deployments: Iterable[Deployment] | None = None,
                 runs: Iterable[PipelineRun] | None = None,
                 delivery: Sequence[dora.Fact] | None = None,
                 production: Iterable[str] | None = None,
                 error_ratios: Mapping[str, float] | None = None,
                 coverage: Coverage | None = None) -> None:
        from ..environments import guess_type, in_promotion
        from ..api.kinds import EnvironmentType

        self.services = list(services)
        self.now = now
        self.environments = list(environments)
        #: The preview environments: out of the promotion chain (no drift counted there).
        self.previews = frozenset(e.name for e in self.environments if not in_promotion(e))
        if production is None:
            production = [e.name for e in self.environments
                          if (e.type or guess_type(e.name)) is EnvironmentType.PRODUCTION]
        self.production = frozenset(production)
        self.deployments_known = deployments is not None
        self.runs_known = runs is not None
        self.delivery_known = delivery is not None
        self.deployments: dict[str, list[Deployment]] = defaultdict(list)
        for d in deployments or ():
            self.deployments[d.service].append(d)
        self.runs: dict[str, list[PipelineRun]] = defaultdict(list)
        for r in runs or ():
            self.runs[r.service].append(r)
        self.delivery: dict[str, list[dora.Fact]] = defaultdict(list)
        if isinstance(delivery, dora.Facts):  # indexed by service already
            self.delivery.update(delivery.by_service)
        else:
            for f in delivery or ():
                self.delivery[f.deploy.service].append(f)
        #: Service → its error ratio in production (None: no metrics known).
        self.error_ratios = dict(error_ratios) if error_ratios is not None else None
        self.coverage = coverage
        self._keys: dict[tuple[str, int], dora.FourKeys] = {}

    def four_keys(self, service: str, days: int) -> dora.FourKeys:
        """DORA's four keys of ``service`` over the last ``days`` (computed once)."""
        key = (service, days)
        found = self._keys.get(key)
        if found is None:
            found = self._keys[key] = dora.four_keys(self.delivery.get(service, []),
                                                     end=self.now, days=days, scope="service",
                                                     name=service)
        return found


class Unknown(Exception):
    """A fact cannot be known for this service; the message says why."""


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    #: ``bool``, ``number`` or ``string``.
    type: str
    description: str
    #: Where it comes from: ``catalog``, ``runtime``, ``pipelines`` or ``delivery``.
    origin: str
    #: The value for a service; raises :class:`Unknown` when it cannot be known.
    compute: Callable[[Service, World], Any]


# Catalog ------------------------------------------------------------------------------------------

def _has_link(service: Service, kind: str) -> bool:
    return any(link.kind.lower() == kind or kind in link.title.lower() for link in service.links)


def _tier(service: Service, world: World) -> int:
    if service.tier is None:
        raise Unknown("the catalog gives it no tier")
    return service.tier


# Runtime ------------------------------------------------------------------------------------------

def _deployments(service: Service, world: World) -> list[Deployment]:
    if not world.deployments_known:
        raise Unknown("no source told what runs in the environments")
    return world.deployments.get(service.name, [])


def _in_production(service: Service, world: World) -> list[Deployment]:
    if not world.production:
        raise Unknown("no environment is of type production")
    return [d for d in _deployments(service, world) if d.environment in world.production]


def _production_replicas(service: Service, world: World) -> int:
    counts = [d.replicas_desired for d in _in_production(service, world)
              if d.replicas_desired is not None]
    if not counts:
        raise Unknown("it runs in no production environment (or its replicas are not known)")
    return min(counts)


def _version_drift(service: Service, world: World) -> int:
    versions = {d.version for d in _deployments(service, world)
                if d.version and d.environment not in world.previews}
    if not versions:
        raise Unknown("it runs in no environment (but previews)")
    return len(versions) - 1


def error_ratios(series: Iterable[ServiceSeries]) -> dict[str, float]:
    """Each service's error ratio from the metrics sources' series of the production
    environments: the mean of its points, the worst environment's when there are several."""
    out: dict[str, float] = {}
    for item in series:
        if item.signal != "error_ratio":
            continue
        values = [v for _, v in item.points if v == v]  # NaN: no sample
        if values:
            mean = sum(values) / len(values)
            out[item.service] = max(mean, out.get(item.service, mean))
    return out


def _error_ratio(service: Service, world: World) -> float:
    if world.error_ratios is None:
        raise Unknown("no metrics source told the error ratios in production")
    value = world.error_ratios.get(service.name)
    if value is None:
        raise Unknown("no error-ratio series of it in production")
    return value


# Pipelines ----------------------------------------------------------------------------------------

def _default_branch_green(service: Service, world: World) -> bool:
    if not world.runs_known:
        raise Unknown("no source told the pipeline runs")
    named = service.annotations.get(DEFAULT_BRANCH_ANNOTATION)
    branches = (named,) if named else DEFAULT_BRANCHES
    finished = [r for r in world.runs.get(service.name, [])
                if r.branch in branches and r.status.value in ("succeeded", "failed")]
    if not finished:
        raise Unknown(f"no finished pipeline run on {' or '.join(branches)}")
    newest = max(finished, key=lambda r: r.finished_at or r.started_at)
    return newest.status.value == "succeeded"


# Delivery -----------------------------------------------------------------------------------------

def _keys(service: Service, world: World, days: int) -> dora.FourKeys:
    if not world.delivery_known:
        raise Unknown("no source told the delivery history")
    why = world.coverage.reason(service.name) if world.coverage is not None else None
    if why is not None:
        raise Unknown(why)
    return world.four_keys(service.name, days)


def _deployments_30d(service: Service, world: World) -> int:
    return len(_keys(service, world, RECENT_DAYS).keys[dora.DEPLOYMENT_FREQUENCY].evidence)


def _change_failure_rate(service: Service, world: World) -> float:
    value = _keys(service, world, DELIVERY_DAYS).keys[dora.CHANGE_FAILURE_RATE].value
    if value is None:
        raise Unknown(f"no deployment to production in the last {DELIVERY_DAYS} days")
    return value


def _lead_time_hours(service: Service, world: World) -> float:
    value = _keys(service, world, DELIVERY_DAYS).keys[dora.LEAD_TIME].value
    if value is None:
        raise Unknown(f"no commit reached production in the last {DELIVERY_DAYS} days")
    return value / dora.HOUR


#: Every fact, by name. Rules name these (in ``fact =`` or as a CEL expression's variables).
FACTS: dict[str, FactSpec] = {spec.name: spec for spec in (
    FactSpec("owner", "string", "the owning team (empty: none)", "catalog",
             lambda s, w: s.owner),
    FactSpec("has_owner", "bool", "the catalog names an owner", "catalog",
             lambda s, w: bool(s.owner.strip())),
    FactSpec("has_description", "bool", "the catalog entry has a description", "catalog",
             lambda s, w: bool(s.description.strip())),
    FactSpec("has_runbook", "bool", "a link of kind runbook (or titled so)", "catalog",
             lambda s, w: _has_link(s, "runbook")),
    FactSpec("has_dashboard", "bool", "a link of kind dashboard (or titled so)", "catalog",
             lambda s, w: _has_link(s, "dashboard")),
    FactSpec("has_docs", "bool", "a docs reference (backstage.io/techdocs-ref) or a docs link",
             "catalog", lambda s, w: any(s.annotations.get(a) for a in DOCS_ANNOTATIONS)
             or _has_link(s, "docs")),
    FactSpec("has_on_call", "bool", "an on-call rotation: the on-call field or an annotation "
             "(pagerduty.com/service-id, opsgenie.com/team, idp-tui.dev/on-call)", "catalog",
             lambda s, w: bool(s.on_call.strip())
             or any(s.annotations.get(a) for a in ON_CALL_ANNOTATIONS)),
    FactSpec("lifecycle", "string", "the lifecycle (production, experimental, deprecated…)",
             "catalog", lambda s, w: s.lifecycle),
    FactSpec("type", "string", "the component type (service, worker, website…)", "catalog",
             lambda s, w: s.type),
    FactSpec("tier", "number", "the tier, 1 (most critical) to 3", "catalog", _tier),
    FactSpec("runs_in_production", "bool", "deployed to an environment of type production",
             "runtime", lambda s, w: bool(_in_production(s, w))),
    FactSpec("production_replicas", "number", "replicas desired in production (the fewest of "
             "the production environments)", "runtime", _production_replicas),
    FactSpec("version_drift", "number", "how many more versions than one run across the "
             "environments (0: the same version everywhere)", "runtime", _version_drift),
    FactSpec("error_ratio", "number", "share of requests that failed in production over the "
             f"last {ERROR_RATIO_WINDOW} (0 to 1; the worst production environment)", "runtime",
             _error_ratio),
    FactSpec("default_branch_green", "bool", "the newest finished pipeline run on the default "
             "branch succeeded", "pipelines", _default_branch_green),
    FactSpec("deployments_30d", "number", "deployments that reached production in the last "
             f"{RECENT_DAYS} days", "delivery", _deployments_30d),
    FactSpec("deployed_last_30_days", "bool", "at least one deployment reached production in "
             f"the last {RECENT_DAYS} days", "delivery", lambda s, w: _deployments_30d(s, w) > 0),
    FactSpec("change_failure_rate", "number", "share of deployments to production that failed, "
             f"were rolled back or caused an incident, last {DELIVERY_DAYS} days (0 to 1)",
             "delivery", _change_failure_rate),
    FactSpec("lead_time_hours", "number", "median hours from commit to production, last "
             f"{DELIVERY_DAYS} days", "delivery", _lead_time_hours),
)}


def fact_value(name: str, service: Service, world: World) -> Any:
    """The value of fact ``name`` for ``service``; :class:`Unknown` when it cannot be known."""
    return FACTS[name].compute(service, world)
