"""The rule protocol, what a rule sees (:class:`AdvisorView`), and the rule registry.

A rule is an object with an ``id``, a ``title`` and ``evaluate(view, settings)`` returning
recommendations. The built-in rules are in :mod:`.builtin`; other packages add theirs through the
``idp_tui.advisor_rules`` entry-point group (an entry point names a rule object, a rule class
taking no arguments, or a function returning a list of rules). A rule that fails to load or to
evaluate is said as an error, never raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from ..api.delivery import DeliveryHistory
from ..api.kinds import EnvironmentType
from ..api.models import Deployment, Environment, MetricSeries, PipelineRun, Service
from .model import Recommendation
from .settings import AdvisorConfig

__all__ = ["GROUP", "AdvisorView", "Rule", "load_rules"]

#: The entry-point group of third-party rules.
GROUP = "idp_tui.advisor_rules"


@dataclass
class AdvisorView:
    """What the hub knows, as the rules read it (each part None where no source told it)."""

    now: datetime
    services: dict[str, Service] | None = None
    environments: tuple[Environment, ...] = ()
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
        return [e.name for e in self.environments if e.type is EnvironmentType.PRODUCTION]

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
