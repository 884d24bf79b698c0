"""The rule protocol, what a rule sees (:class:`AdvisorView`), and the rule registry.

A rule is an object with an ``id``, a ``title`` and ``evaluate(view, settings)`` returning
recommendations. The built-in rules are in :mod:`.builtin`; other packages add theirs through the
``idp_tui.advisor_rules`` entry-point group (an entry point names a rule object, a rule class
taking no arguments, or a function returning a list of rules). A rule that fails to load or to
evaluate is said as an error, never raised.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from itertools import compress
from typing import Any, Protocol, runtime_checkable

from ..api.delivery import DeliveryHistory
from ..api.kinds import EnvironmentType
from ..api.models import (CostPrices, Deployment, Environment, MetricSeries, PipelineRun,
                          Service)
from .model import Recommendation
from .settings import AdvisorConfig

__all__ = ["GROUP", "AdvisorView", "Changes", "Rule", "load_rules"]

#: The entry-point group of third-party rules.
GROUP = "idp_tui.advisor_rules"

_MISSING = object()


def _changed(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> set[Any]:
    """The keys whose record differs (by identity) between ``old`` and ``new``, or that only
    one of them has (some more where the places moved: read again, never missed). Of the same
    size, the usual case of a refresh, they are compared place by place without hashing the
    keys: a deployment is kept under its own service and environment, so the same record in
    the same place is under the same key."""
    if len(old) == len(new):
        differ = list(map(operator.is_not, new.values(), old.values()))
        if not any(differ):
            return set()
        return set(compress(new.keys(), differ)) | set(compress(old.keys(), differ))
    get = old.get
    keys = {key for key, record in new.items() if get(key, _MISSING) is not record}
    return keys | (old.keys() - new.keys())


class Changes:
    """The keys of a mapping (the view's deployments) whose record changed from one version of
    the mapping to the next: a key added, removed, or holding another object than before (the
    hub hands an unchanged record over again as the same object). The versions are numbered
    (``generation``); the changes of the last :attr:`KEEP` are kept."""

    KEEP = 16

    def __init__(self) -> None:
        self.part: Mapping[Any, Any] | None = None
        self.generation = 0
        #: (generation, the keys changed from the one before; None: all of them).
        self._log: deque[tuple[int, frozenset[Any] | None]] = deque(maxlen=self.KEEP)

    def see(self, part: Mapping[Any, Any]) -> int:
        """Take ``part`` as the newest version (a new generation unless it is the same
        object); its generation."""
        if part is self.part:
            return self.generation
        old = self.part
        changed: frozenset[Any] | None = None
        if old is not None:
            changed = frozenset(_changed(old, part))
        self.part = part
        self.generation += 1
        self._log.append((self.generation, changed))
        return self.generation

    def since(self, generation: int) -> frozenset[Any] | None:
        """The keys changed after ``generation`` up to the newest; None when that is not known
        (too old, or a version taken whole)."""
        if generation == self.generation:
            return frozenset()
        if not self._log or self._log[0][0] > generation + 1:
            return None
        keys: set[Any] = set()
        for made, changed in self._log:
            if made <= generation:
                continue
            if changed is None:
                return None
            keys |= changed
        return frozenset(keys)


@dataclass
class AdvisorView:
    """What the hub knows, as the rules read it (each part None where no source told it)."""

    now: datetime
    services: dict[str, Service] | None = None
    environments: tuple[Environment, ...] = ()
    #: Each deployment under its own ``(service, environment)``.
    deployments: dict[tuple[str, str], Deployment] | None = None
    runs: list[PipelineRun] | None = None
    #: A service's own listing of runs (asked for the services a rule needs more history of).
    service_runs: dict[str, list[PipelineRun]] = field(default_factory=dict)
    #: ``(service, environment)`` → the series of its metrics (over the advisor's window).
    metrics: dict[tuple[str, str], list[MetricSeries]] = field(default_factory=dict)
    #: Seconds between the metrics' points.
    metrics_step: float = 60.0
    #: ``(service, environment)`` → its CPU, memory and request-rate series over the longer
    #: window of the cost and capacity rules (``advisor.cost.USAGE_WINDOW``).
    usage: dict[tuple[str, str], list[MetricSeries]] = field(default_factory=dict)
    #: The delivery history (deployments and incidents) over the scorecards' window
    #: (``advisor.lifecycle.delivery_topic``): the scorecard gap rule's delivery facts.
    delivery: DeliveryHistory | None = None
    #: What a core and a GiB cost an hour where a metrics source knows it (OpenCost's node
    #: prices): the cost and capacity rules price with them; None: with ``[cost]``.
    cost_prices: CostPrices | None = None
    #: The hub's one scorecard count (``insights.scoring.Scored``, the Insights pane's and
    #: ``idp-tui scorecards``' too), put here by the engine; None: the rules count their own
    #: from this view; an exception: it could not be counted.
    scorecards: Any = None
    #: Where each part came from, for the evidence ("sandbox", "prometheus").
    sources: dict[str, str] = field(default_factory=dict)
    #: Figures the rules derive from a part, kept while the part is the same object (e.g. a
    #: deployment's use summed from its series): shared by the view's copies.
    derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def copy(self) -> AdvisorView:
        """A copy whose mappings later changes of this view leave alone: those changed in place
        (by topic) are copied; the parts replaced whole when they change (the services, the
        deployments, the runs) and ``derived`` are shared, so figures derived from a part
        that did not change are not derived again."""
        return dataclasses.replace(
            self, service_runs=dict(self.service_runs), metrics=dict(self.metrics),
            usage=dict(self.usage), sources=dict(self.sources))

    def each(self, name: Hashable, make: Callable[[Any], Any],
             group: Callable[[tuple[str, str]], Any] | None = None) -> dict[Any, Any]:
        """``make(g)`` for each group ``g`` of the deployments' keys (``group(key)``; the key
        itself by default), those not None, by group. Kept in ``derived`` under ``name``: after
        a refresh only the groups whose deployments changed (see :class:`Changes`) are made
        again. ``make`` reads the view's deployments (and what does not change with them: the
        environments are part of ``name`` where it reads them); never the time. The answer is
        not to be changed."""
        deployments = self.deployments
        if deployments is None:
            return {}
        held = self.derived.get(("each", name))
        generation, keys = self.changes_since(held[0] if held is not None else None)
        if held is not None and held[0] == generation:
            return held[1]
        if keys is None or held is None:
            groups: Iterable[Any] = deployments if group is None else dict.fromkeys(
                group(key) for key in deployments)
            results = {}
            for g in groups:
                made = make(g)
                if made is not None:
                    results[g] = made
        else:
            results = dict(held[1])
            for g in (keys if group is None else {group(key) for key in keys}):
                made = make(g)
                if made is None:
                    results.pop(g, None)
                else:
                    results[g] = made
        self.derived[("each", name)] = (generation, results)
        return results

    def changes_since(self, generation: int | None) -> tuple[int, frozenset[Any] | None]:
        """The deployments' generation (see :class:`Changes`; a new one each time they are
        replaced), and the keys changed after ``generation`` (None: every key, or not
        known)."""
        if self.deployments is None:
            changes = self.derived.get("changes")
            return (changes.generation if changes is not None else 0), None
        changes, now = self._changes(self.deployments)
        return now, (changes.since(generation) if generation is not None else None)

    def _changes(self, deployments: Mapping[Any, Any]) -> tuple[Changes, int]:
        changes = self.derived.get("changes")
        if changes is None:
            changes = self.derived["changes"] = Changes()
        return changes, changes.see(deployments)

    def deployed_in(self, environment: str) -> list[Deployment]:
        """The deployments into ``environment``, by service. The deployments are grouped by
        environment once (kept in ``derived`` while they are the same mapping); after a
        refresh, only the groups of the deployments it changed are grouped again."""
        deployments = self.deployments
        if deployments is None:
            return []
        held = self.derived.get("deployed-by-environment")
        if held is None or held[0] is not deployments:
            generation, keys = self.changes_since(held[2] if held is not None else None)
            grouped: dict[str, dict[tuple[str, str], Deployment]]
            if keys is None:
                grouped = {}
                for key, dep in deployments.items():
                    grouped.setdefault(key[1], {})[key] = dep
            else:
                grouped = dict(held[1])
                for env in {key[1] for key in keys}:
                    group = grouped[env] = dict(grouped.get(env, {}))
                    for key in keys:
                        if key[1] != env:
                            continue
                        dep = deployments.get(key)
                        if dep is None:
                            group.pop(key, None)
                        else:
                            group[key] = dep
                    if not group:
                        del grouped[env]
            held = (deployments, grouped, generation)
            self.derived["deployed-by-environment"] = held
        return sorted(held[1].get(environment, {}).values(), key=lambda d: d.service)

    def runs_of(self, service: str) -> list[PipelineRun] | None:
        """The service's runs: its own listing where asked, else its runs in the listing of all."""
        if service in self.service_runs:
            return self.service_runs[service]
        if self.runs is None:
            return None
        held = self.derived.get("runs-by-service")  # (grouped once while the list is the same)
        if held is None or held[0] is not self.runs:
            grouped: dict[str, list[PipelineRun]] = {}
            for run in self.runs:
                grouped.setdefault(run.service, []).append(run)
            held = (self.runs, grouped)
            self.derived["runs-by-service"] = held
        return list(held[1].get(service, ()))

    def production(self) -> list[str]:
        held = self.derived.get("production")  # (read once while the environments are the same)
        if held is None or held[0] is not self.environments:
            held = (self.environments, [e.name for e in self.environments
                                        if e.type is EnvironmentType.PRODUCTION])
            self.derived["production"] = held
        return list(held[1])

    def before(self, environment: str) -> str | None:
        """The static environment promoted into ``environment`` (the one just before it)."""
        order = {e.name: e.order for e in self.environments}
        if environment not in order:
            return None
        earlier = [e for e in self.environments if e.order < order[environment]
                   and e.kind.value == "static" and e.type is not EnvironmentType.PRODUCTION]
        return max(earlier, key=lambda e: e.order).name if earlier else None


@runtime_checkable
class Rule(Protocol):
    """One advisor rule."""

    #: Stable, short, kebab-case: recommendation ids and ``[advisor] disabled`` name it.
    id: str
    title: str

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        ...


def _as_rules(obj: Any) -> list[Rule]:
    if isinstance(obj, type):
        obj = obj()
    if isinstance(obj, Rule):
        return [obj]
    if callable(obj):
        made = obj()
        if isinstance(made, Rule):
            return [made]
        if isinstance(made, Sequence) and all(isinstance(r, Rule) for r in made):
            return list(made)
    raise TypeError("not an advisor rule (an object with id, title and evaluate(view, "
                    "settings)), a rule class or a function returning rules")


def load_rules(*, plugins: bool = True) -> tuple[list[Rule], list[str]]:
    """The built-in rules, then the installed plugins' (by entry-point name), and what could not
    be loaded, in words. A plugin's rule whose id is taken is left out (the first one wins)."""
    from .builtin import BUILTIN_RULES

    rules: list[Rule] = [cls() for cls in BUILTIN_RULES]
    errors: list[str] = []
    if plugins:
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            try:
                loaded = _as_rules(ep.load())
            except Exception as exc:  # noqa: BLE001 - a broken plugin is said, not raised
                errors.append(f"advisor rule {ep.name!r} ({ep.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}")
                continue
            taken = {r.id for r in rules}
            for rule in loaded:
                if rule.id in taken:
                    errors.append(f"advisor rule {ep.name!r}: id {rule.id!r} is taken")
                else:
                    rules.append(rule)
                    taken.add(rule.id)
    return rules, errors
