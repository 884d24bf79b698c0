"""The waste and capacity rules price with OpenCost's node prices where a real Prometheus
(tests/prom.py) has them, and with ``[cost]`` where it has none, and say which in the evidence:
through the hub as ``idp-tui advise`` gathers it, and as the dashboard's advisor follows it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prom
import pytest

from idp_tui import Capability, ManualClock, Source, SourceConfig
from idp_tui.advisor import Advice, Advisor, AdvisorConfig, Dismissals, gather
from idp_tui.advisor.capacity import CapacityRule, WasteRule
from idp_tui.advisor.cost import HOURS_PER_MONTH, hourly, usage_of
from idp_tui.advisor.settings import CostConfig
from idp_tui.api.models import Deployment, Environment, Service
from idp_tui.hub import ManualTimer
from idp_tui.runtime import build_runtime
from idp_tui_prometheus import PrometheusSource

from fakes import app_config, spec

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

#: node → (per vCPU an hour, per GiB an hour); (node, cores, bytes) allocated on each: the
#: prices weighted by them are 0.03 a core-hour and 0.003 a GiB-hour.
NODES = {"node-a": (0.02, 0.002), "node-b": (0.06, 0.006)}
ALLOCATIONS = (("node-a", 3.0, 3 * 2**30), ("node-b", 1.0, 2**30))
#: ``[cost]``: other prices than OpenCost's, so which were used shows in the money.
CONFIGURED = CostConfig(cpu_per_core_hour=0.05, memory_per_gib_hour=0.01, currency="EUR")
GIB = 2**30
#: cart requests 4 × 2 cores and 4 × 1 GiB and uses 1.5 cores and 1 GiB (prom.SHOP): waste;
#: payments uses 0.5 cores of 2 × 0.26 allowed: capacity.
DEPLOYMENTS = (
    Deployment(service="cart", environment="production", version="1.0.0", replicas_desired=4,
               replicas_ready=4, cpu_request=2.0, memory_request=GIB, cpu_limit=4.0,
               memory_limit=2 * GIB),
    Deployment(service="payments", environment="production", version="2.0.0",
               replicas_desired=2, replicas_ready=2, cpu_request=0.25,
               memory_request=512 * 2**20, cpu_limit=0.26, memory_limit=2 * GIB),
)


class ShopSource(Source):
    """The catalog and the deployments (with their requests and limits) of prom.SHOP's
    services: what a Kubernetes source would tell beside the Prometheus."""

    Config = SourceConfig
    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS})

    async def services(self) -> list[Service]:
        return [Service(name="cart", owner="team-checkout"),
                Service(name="payments", owner="team-payments")]

    async def environments(self) -> list[Environment]:
        return [Environment(name="staging", order=1), Environment(name="production", order=2)]

    async def deployments(self) -> list[Deployment]:
        return list(DEPLOYMENTS)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, prom.Server]]:
    made = {"opencost": prom.Server(tmp_path_factory.mktemp("advisor-opencost"),
                                    opencost=prom.OpenCost(NODES, ALLOCATIONS)),
            "none": prom.Server(tmp_path_factory.mktemp("advisor-no-opencost"))}
    yield made
    for server in made.values():
        server.stop()


def _config(server: prom.Server) -> Any:
    return app_config(spec("shop", ShopSource),
                      spec("prom", PrometheusSource, url=server.url))


def _figures(rec: Any) -> dict[str, Any]:
    return {f.name: f.value for f in rec.evidence.figures}


def _saved(rule_recs: list[Any], prices: Any, view: Any) -> None:
    """The money of each recommendation, computed by hand at ``prices``."""
    for rec in rule_recs:
        dep = view.deployments[(rec.service, rec.environment)]
        per_instance = hourly(dep.cpu_request, dep.memory_request, prices) * HOURS_PER_MONTH
        if rec.rule == "waste":  # scaled in from 4 to 2: two instances fewer
            assert rec.remedy.replicas == 2
            assert rec.monthly_cost == pytest.approx(2 * per_instance, abs=0.01)
        else:  # scaled out from 2 to 3: one instance more
            assert rec.remedy.replicas == 3
            assert rec.monthly_cost == pytest.approx(per_instance, abs=0.01)


async def test_opencosts_prices_where_prometheus_has_them_else_the_configured(
        servers: dict[str, prom.Server], tmp_path: Path) -> None:
    settings = AdvisorConfig().priced(CONFIGURED)
    found: dict[str, tuple[Any, list[Any]]] = {}
    for name, server in servers.items():
        rt = build_runtime(_config(server), data_dir=tmp_path / name,
                           clock=ManualClock(prom.END), timer=ManualTimer())
        try:
            await rt.prepare()
            view, _snapshots = await gather(rt.hub, prom.END, settings)
        finally:
            await rt.close()
        advice = Advisor(rules=[WasteRule(), CapacityRule()], settings=settings).evaluate(view)
        assert advice.errors == ()
        found[name] = view, list(advice.recommendations)
        # What prom.SHOP says each uses: 1.5 cores and 1 GiB; 0.5 cores.
        cart = usage_of(view.usage[("cart", "production")])
        assert cart is not None and cart.cpu_peak == pytest.approx(1.5, rel=0.02)
        assert cart.memory_peak == pytest.approx(GIB, rel=0.02)

    view, recs = found["opencost"]
    assert view.cost_prices is not None and view.cost_prices.source == "prom"
    assert sorted((r.rule, r.service) for r in recs) == [("capacity", "payments"),
                                                          ("waste", "cart")]
    for rec in recs:
        figures = _figures(rec)
        assert figures["priced by"] == "OpenCost"
        assert figures["price a core-hour"] == pytest.approx(0.03)
        assert figures["price a GiB-hour"] == pytest.approx(0.003)
        assert "priced by OpenCost node prices of 2 nodes, weighted by the containers' " \
               "allocations from prom" in rec.detail
        assert rec.currency == "EUR"  # in the configured currency
        assert rec.evidence.source == "shop, prom"
    _saved(recs, CostConfig(cpu_per_core_hour=0.03, memory_per_gib_hour=0.003), view)
    waste = next(r for r in recs if r.rule == "waste")
    assert waste.monthly_cost == pytest.approx(2 * (2 * 0.03 + 0.003) * 730, abs=0.01)

    view, recs = found["none"]
    assert view.cost_prices is None
    assert sorted((r.rule, r.service) for r in recs) == [("capacity", "payments"),
                                                          ("waste", "cart")]
    for rec in recs:
        figures = _figures(rec)
        assert figures["priced by"] == "[cost]"
        assert (figures["price a core-hour"], figures["price a GiB-hour"]) == (0.05, 0.01)
        assert "priced by [cost] in the config" in rec.detail
    _saved(recs, CONFIGURED, view)


async def test_the_dashboards_advisor_follows_opencosts_prices(
        servers: dict[str, prom.Server], tmp_path: Path) -> None:
    clock = ManualClock(prom.END)
    rt = build_runtime(_config(servers["opencost"]), data_dir=tmp_path, clock=clock,
                       timer=ManualTimer())
    priced = asyncio.Event()
    seen: list[Advice] = []

    def listener(advice: Advice) -> None:
        seen.append(advice)
        if any(_figures(r).get("priced by") == "OpenCost" for r in advice.recommendations
               if r.rule == "waste"):
            priced.set()

    advisor = Advisor(rules=[WasteRule(), CapacityRule()],
                      settings=AdvisorConfig().priced(CONFIGURED),
                      dismissals=Dismissals(None), clock=clock)
    try:
        await rt.prepare()
        advisor.watch(rt.hub, listener)
        await asyncio.wait_for(priced.wait(), 60)  # a safety net only: no time is advanced
        waste = next(r for r in seen[-1].recommendations if r.rule == "waste")
        assert waste.monthly_cost == pytest.approx(2 * (2 * 0.03 + 0.003) * 730, abs=0.01)
        # The use it priced is the advisor's to read (the Catalog detail's cost reads it).
        assert set(advisor.usage()) == {("cart", "production"), ("payments", "production")}
        assert set(advisor.usage("cart")) == {("cart", "production")}
    finally:
        advisor.close()
        await rt.close()
