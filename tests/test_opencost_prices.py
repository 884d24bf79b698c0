"""OpenCost's node prices read from a real Prometheus (tests/prom.py): the price of a core and of a
GiB weighted by what is allocated on each node, the plain average without allocations, none
without OpenCost's metrics; and the cost computed at them says which prices it used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import prom
import pytest

from idp_tui import ManualClock, NotSupported, SourceContext
from idp_tui.advisor.costview import cost_inputs, prices_of, service_cost
from idp_tui.advisor.settings import CostConfig
from idp_tui.api.models import Deployment, Service
from idp_tui_prometheus import PrometheusConfig, PrometheusSource

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

#: node → (per vCPU an hour, per GiB an hour)
NODES = {"node-a": (0.02, 0.002), "node-b": (0.06, 0.006)}
#: (node, cores, bytes): three times as much on node-a as on node-b
ALLOCATIONS = (("node-a", 3.0, 3 * 2**30), ("node-b", 1.0, 2**30))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, prom.Server]]:
    made = {
        "weighted": prom.Server(tmp_path_factory.mktemp("opencost-weighted"), {},
                                opencost=prom.OpenCost(NODES, ALLOCATIONS)),
        "nodes only": prom.Server(tmp_path_factory.mktemp("opencost-nodes"), {},
                                  opencost=prom.OpenCost(NODES)),
        "none": prom.Server(tmp_path_factory.mktemp("opencost-none"), {}),
    }
    yield made
    for server in made.values():
        server.stop()


async def _prices(server: prom.Server, tmp_path: Path) -> object:
    src = PrometheusSource(PrometheusConfig(url=server.url),
                           SourceContext(name="prom", data_dir=tmp_path,
                                         clock=ManualClock(prom.END)))
    await src.start()
    try:
        return await src.cost_prices()
    finally:
        await src.close()


async def test_node_prices_weighted_by_allocation(servers: dict[str, prom.Server],
                                                  tmp_path: Path) -> None:
    found = await _prices(servers["weighted"], tmp_path)
    # (3 × 0.02 + 1 × 0.06) / 4 cores; (3 × 0.002 + 1 × 0.006) / 4 GiB
    assert found.cpu_per_core_hour == pytest.approx(0.03)
    assert found.memory_per_gib_hour == pytest.approx(0.003)
    assert found.nodes == 2 and "weighted by the containers' allocations" in found.origin
    plain = await _prices(servers["nodes only"], tmp_path)
    assert plain.cpu_per_core_hour == pytest.approx(0.04)
    assert plain.memory_per_gib_hour == pytest.approx(0.004)
    assert "their average" in plain.origin
    with pytest.raises(NotSupported, match="no OpenCost node prices"):
        await _prices(servers["none"], tmp_path)
    # The cost is computed at them, and says so.
    stamped = found.model_copy(update={"source": "prom"})
    prices = prices_of(CostConfig(), stamped)
    inputs = cost_inputs({("pay", "prod"): Deployment(
        service="pay", environment="prod", version="1", replicas_desired=1, cpu_request=1.0,
        memory_request=2**30)}, [Service(name="pay", owner="a")], prices)
    lines = dict(service_cost(inputs, "pay"))
    assert lines["prod"].startswith("24.09 USD/month")  # (0.03 + 0.003) × 730
    assert lines["prices"].endswith("(OpenCost node prices of 2 nodes, weighted by the "
                                    "containers' allocations from prom)")
    assert prices_of(CostConfig()).source == "[cost] in the config"
