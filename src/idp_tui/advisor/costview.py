"""What the dashboard says of cost: one service's monthly cost per environment, its waste and the
prices used (the Catalog's detail), and each team's and the organisation's (beside the DORA
figures in Insights).

Computed as ``idp-tui cost`` does (:mod:`idp_tui.advisor.cost`): from the deployments' requests
and their use over the last day where the advisor has fetched it, at the prices given (the
``[cost]`` table, or OpenCost's node prices where Prometheus has them). Plain strings, no I/O,
Textual-free: the panes draw them through ``render``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.models import Deployment, MetricSeries, Service
from .cost import HOURS_PER_MONTH, CostLine, Usage, cost_lines, money, totals, usage_of

__all__ = ["CostInputs", "Prices", "cost_inputs", "prices_of", "scope_costs", "service_cost"]

#: The rule whose recommendations are waste (requested but unused) as money.
WASTE_RULE = "waste"


@dataclass(frozen=True)
class Prices:
    """The prices a cost is computed at, and where they came from (in words)."""

    cpu_per_core_hour: float
    memory_per_gib_hour: float
    currency: str
    #: "[cost] in the config", "OpenCost node prices (prometheus)"…
    source: str = "[cost] in the config"
    #: Which prices, in a word: "OpenCost" (a metrics source's node prices) or "[cost]".
    by: str = "[cost]"

    @classmethod
    def of(cls, prices: Any, source: str = "") -> Prices:
        """``prices`` (a ``CostConfig`` or a ``Prices``) as a ``Prices``."""
        if isinstance(prices, Prices):
            return prices
        return cls(prices.cpu_per_core_hour, prices.memory_per_gib_hour, prices.currency,
                   source or "[cost] in the config")


@dataclass(frozen=True)
class CostInputs:
    """What the cost of the dashboard is computed from."""

    deployments: Mapping[tuple[str, str], Deployment]
    services: Mapping[str, Service]
    usage: Mapping[tuple[str, str], Usage]
    prices: Prices
    recommendations: tuple[Any, ...] = ()

    def lines(self) -> list[CostLine]:
        return cost_lines(self.deployments, self.services, self.usage, self.prices)


def prices_of(configured: Any, node_prices: Any = None) -> Prices:
    """The prices to cost at: a metrics source's (``CostPrices``: OpenCost's node prices) where
    one gave them, else the configured ``[cost]`` ones; in the configured currency."""
    if node_prices is None:
        return Prices.of(configured)
    origin = node_prices.origin or "node prices"
    where = f" from {node_prices.source}" if node_prices.source else ""
    return Prices(node_prices.cpu_per_core_hour, node_prices.memory_per_gib_hour,
                  configured.currency, f"{origin}{where}", by="OpenCost")


def cost_inputs(deployments: Mapping[tuple[str, str], Deployment] | None,
                services: Iterable[Service], prices: Any,
                usage: Mapping[tuple[str, str], list[MetricSeries]] | None = None,
                recommendations: Iterable[Any] = (), *,
                service: str | None = None) -> CostInputs:
    """The inputs from what the dashboard holds: the platform's deployments, the catalog, the
    prices, the advisor's use series (by service and environment) and its recommendations;
    only ``service``'s deployments when given (one service's detail)."""
    used: dict[tuple[str, str], Usage] = {}
    for key, series in (usage or {}).items():
        if service is not None and key[0] != service:
            continue
        found = usage_of(series)
        if found is not None:
            used[key] = found
    if service is not None:
        deployments = {k: d for k, d in (deployments or {}).items() if k[0] == service}
        services = [s for s in services if s.name == service]
    return CostInputs(deployments=dict(deployments or {}),
                      services={s.name: s for s in services}, usage=used,
                      prices=Prices.of(prices), recommendations=tuple(recommendations))


def service_cost(inputs: CostInputs, service: str,
                 order: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The Catalog's cost lines of ``service`` as (label, text): each environment's monthly
    cost (what it comes from; in the environments' ``order``, others after by name), the
    total, the waste the advisor found, the prices used. Empty when no deployment of it tells
    its requests or use."""
    prices = inputs.prices
    mine = {k: d for k, d in inputs.deployments.items() if k[0] == service}
    lines = cost_lines(mine, inputs.services, inputs.usage, prices)
    if not lines:
        return []
    cur = prices.currency
    out = [(line.environment, f"{money(line.monthly, cur)}/month ({line.basis}: "
                              f"{line.cpu_cores:.2f} cores, {line.memory_bytes / 2**30:.2f} GiB)")
           for line in sorted(lines, key=lambda line: (
               order.index(line.environment) if line.environment in order else len(order),
               line.environment))]
    total = sum(line.hourly for line in lines) * HOURS_PER_MONTH
    out.append(("total", f"{money(total, cur)}/month"))
    waste = [r for r in inputs.recommendations
             if getattr(r, "rule", "") == WASTE_RULE and getattr(r, "service", "") == service
             and getattr(r, "monthly_cost", None)]
    if waste:
        saves = sum(r.monthly_cost for r in waste)
        where = ", ".join(sorted({r.environment or "?" for r in waste}))
        out.append(("waste", f"{money(saves, cur)}/month requested but unused ({where}; "
                             "the advisor's remedy saves it)"))
    out.append(("prices", f"{prices.cpu_per_core_hour:g} {cur}/core-hour, "
                          f"{prices.memory_per_gib_hour:g} {cur}/GiB-hour ({prices.source})"))
    return out


def scope_costs(inputs: CostInputs) -> dict[str, str]:
    """Monthly cost by the Insights rows' keys: ``organisation``, ``team:NAME`` and
    ``service:NAME`` (a team is the services' owner, as the DORA figures group them)."""
    lines = inputs.lines()
    cur = inputs.prices.currency
    out: dict[str, str] = {}
    if lines:
        out["organisation"] = money(sum(x.hourly for x in lines) * HOURS_PER_MONTH, cur)
    for total in totals(lines, "team"):
        out[f"team:{total.name}"] = money(total.monthly, cur)
    for total in totals(lines, "service"):
        out[f"service:{total.name}"] = money(total.monthly, cur)
    return out
