"""Joining the answers of several sources into one: the catalog, the platform, runs, metrics…

Pure functions of the sources' answers in config order (the first source wins where two disagree);
:data:`idp_tui.hub.topics.TOPICS` names the one each topic uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..api.actions import Resource
from ..environments import EnvironmentMap
from ..api.models import (
    FACET_FIELDS,
    Alert,
    Deployment,
    Environment,
    Facet,
    FacetValue,
    MetricSeries,
    PipelineRun,
    Service,
    ServiceSeries,
    Signal,
    Team,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Platform:
    """Environments and what runs where, joined across sources."""

    environments: tuple[Environment, ...]
    deployments: dict[tuple[str, str], Deployment]

    def environment_names(self) -> list[str]:
        return [e.name for e in self.environments]


_TUPLE_FIELDS = ("links", "tags", "depends_on", "provides_apis", "consumes_apis", "sources")


def merge_services(parts: Iterable[list[Service]]) -> list[Service]:
    """Join catalogs on the service name: the first source (config order) wins each field it fills."""
    merged: dict[str, Service] = {}
    for part in parts:
        for service in part:
            current = merged.get(service.name)
            if current is None:
                merged[service.name] = service
                continue
            update: dict[str, Any] = {}
            for name in Service.model_fields:
                if name in _TUPLE_FIELDS:
                    ours, theirs = getattr(current, name), getattr(service, name)
                    extra = tuple(x for x in theirs if x not in ours)
                    if extra:
                        update[name] = ours + extra
                elif name == "annotations":
                    if service.annotations:
                        update[name] = {**service.annotations, **current.annotations}
                elif getattr(current, name) in ("", None) and getattr(service, name) not in ("", None):
                    update[name] = getattr(service, name)
            if update:
                merged[service.name] = current.model_copy(update=update)
    return sorted(merged.values(), key=lambda s: s.name)


def count_facets(services: Iterable[Service]) -> list[Facet]:
    """The values of the catalog's fields in ``services``, with counts (most common first)."""
    counts: dict[str, dict[str, int]] = {f: {} for f in FACET_FIELDS}
    for s in services:
        for fld, values in facet_values(s).items():
            bucket = counts[fld]
            for value in values:
                bucket[value] = bucket.get(value, 0) + 1
    return [Facet(field=f, values=tuple(FacetValue(value=v, count=n) for v, n in
                                        sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))))
            for f, c in counts.items() if c]


def facet_values(service: Service) -> dict[str, tuple[str, ...]]:
    """The values a service has for each facet field (empty fields left out)."""
    out: dict[str, tuple[str, ...]] = {}
    for fld, value in (("owner", service.owner), ("lifecycle", service.lifecycle),
                       ("type", service.type), ("system", service.system),
                       ("language", service.language),
                       ("tier", str(service.tier) if service.tier else "")):
        if value:
            out[fld] = (value,)
    if service.tags:
        out["tag"] = tuple(service.tags)
    return out


def merge_facets(parts: Iterable[list[Facet]]) -> list[Facet]:
    """Facets of several catalog sources: counts of a value added up."""
    counts: dict[str, dict[str, int]] = {}
    for part in parts:
        for facet in part:
            bucket = counts.setdefault(facet.field, {})
            for item in facet.values:
                bucket[item.value] = bucket.get(item.value, 0) + item.count
    order = {f: i for i, f in enumerate(FACET_FIELDS)}
    return [Facet(field=f, values=tuple(FacetValue(value=v, count=n) for v, n in
                                        sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))))
            for f, c in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))]


#: A deployment's fields a later source may fill in where the first one's record has none.
_SIZES = ("cpu_request", "memory_request", "cpu_limit", "memory_limit")


def merge_platform(parts: Iterable[tuple[list[Environment], list[Deployment]]],
                   declared: EnvironmentMap | None = None) -> Platform:
    """Environments and deployments of every source (config order: the first source's record of
    a name wins), joined with the declared environments (:meth:`EnvironmentMap.join`: those
    first, in their order; previews after the static ones). A deployment's instances' requests
    and limits the first record lacks come from a later one."""
    envs: dict[str, Environment] = {}
    deployments: dict[tuple[str, str], Deployment] = {}
    lists: list[list[Environment]] = []
    for env_list, dep_list in parts:
        lists.append(env_list)
        for env in env_list:
            envs.setdefault(env.name, env)
        for dep in dep_list:
            kept = deployments.setdefault((dep.service, dep.environment), dep)
            if kept is dep:
                continue
            sizes = {name: getattr(dep, name) for name in _SIZES
                     if getattr(kept, name) is None and getattr(dep, name) is not None}
            if sizes:  # a CD system's record wins; the cluster's knows what an instance asks
                deployments[(dep.service, dep.environment)] = kept.model_copy(update=sizes)
    for _service, env_name in deployments:
        if env_name not in envs:
            envs[env_name] = Environment(name=env_name, order=len(envs))
    lists.append(list(envs.values()))  # environments only deployments name: last
    order = promotion_order(lists)
    joined = [env if env.order == order[env.name] else env.model_copy(
        update={"order": order[env.name]}) for env in envs.values()]
    ordered = (declared or EnvironmentMap()).join(joined)
    return Platform(environments=tuple(ordered), deployments=deployments)


def promotion_order(lists: Iterable[Iterable[Environment]]) -> dict[str, int]:
    """One promotion order of the environments of several sources (config order): the first
    source's order, each later source's environments not placed yet put right after the one
    before them in that source's order (at the end when none is). Each source's ``order`` counts
    only within its own list (equal ones by name)."""
    names: list[str] = []
    for envs in lists:
        after: str | None = None
        for env in sorted(envs, key=lambda e: (e.order, e.name)):
            if env.name not in names:
                names.insert(names.index(after) + 1 if after is not None else len(names),
                             env.name)
            after = env.name
    return {name: i for i, name in enumerate(names)}


def merge_runs(parts: Iterable[list[PipelineRun]], limit: int) -> list[PipelineRun]:
    """Every source's runs, the newest created first (a re-run keeps its place; each source's
    order of runs created together is kept), at most ``limit``."""
    runs = [run for part in parts for run in part]
    runs.sort(key=lambda r: r.created_at or r.started_at, reverse=True)
    return runs[:limit]


def first_answer(parts: list[T]) -> T | None:
    """The first source's answer (one run, one service's detail), or None."""
    return parts[0] if parts else None


def merge_metrics(parts: Iterable[list[MetricSeries]]) -> list[MetricSeries]:
    """One series per signal: the first source's."""
    seen: dict[Any, MetricSeries] = {}
    for part in parts:
        for series in part:
            seen.setdefault(series.signal, series)
    return list(seen.values())


def merge_signals(parts: Iterable[list[ServiceSeries]]) -> list[ServiceSeries]:
    """One series per service and signal: the first source's."""
    first: dict[tuple[str, Signal], ServiceSeries] = {}
    for part in parts:
        for item in part:
            first.setdefault((item.service, item.signal), item)
    return list(first.values())


def merge_alerts(parts: Iterable[list[Alert]]) -> list[Alert]:
    """Every source's alerts, the firing ones first, then by name."""
    alerts = [alert for part in parts for alert in part]
    alerts.sort(key=lambda a: (a.state != "firing", a.name))
    return alerts


def merge_teams(parts: Iterable[list[Team]]) -> list[Team]:
    """One team per name (the first source's), by name."""
    teams: dict[str, Team] = {}
    for part in parts:
        for team in part:
            teams.setdefault(team.name, team)
    return sorted(teams.values(), key=lambda t: t.name)


def merge_resources(parts: Iterable[list[Resource]]) -> list[Resource]:
    """Every source's resources, in config order."""
    return [resource for part in parts for resource in part]
