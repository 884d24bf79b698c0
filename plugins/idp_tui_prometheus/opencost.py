"""OpenCost's node prices, where Prometheus has them: what a core and a GiB of memory cost an hour.

OpenCost exports each node's prices (``node_cpu_hourly_cost``: per vCPU an hour,
``node_ram_hourly_cost``: per GiB an hour) and what each container is allocated on its node
(``container_cpu_allocation``, ``container_memory_allocation_bytes``). The price of a core is
the nodes' prices weighted by the cores allocated on each (what runs where), or their plain
average where the allocations are not there; the same for memory. Without OpenCost's metrics
the method says so (``NotSupported``: asked once, then the ``[cost]`` prices are used).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from idp_tui import CostPrices, NotSupported

if TYPE_CHECKING:
    from .source import PrometheusSource

#: A resource's price an hour: weighted by what is allocated on each node, else the average.
CPU_PRICE = ("(sum(container_cpu_allocation * on(node) group_left() "
             "avg by (node) (node_cpu_hourly_cost)) / sum(container_cpu_allocation)) "
             "or avg(node_cpu_hourly_cost)")
MEMORY_PRICE = ("(sum(container_memory_allocation_bytes * on(node) group_left() "
                "avg by (node) (node_ram_hourly_cost)) / sum(container_memory_allocation_bytes)) "
                "or avg(node_ram_hourly_cost)")
NODES = "count(avg by (node) (node_cpu_hourly_cost))"
WEIGHTED = "count(container_cpu_allocation)"


async def cost_prices(source: PrometheusSource, now: float) -> CostPrices:
    values = {}
    for name, promql in (("cpu", CPU_PRICE), ("memory", MEMORY_PRICE), ("nodes", NODES),
                         ("weighted", WEIGHTED)):
        data = await source._get("/api/v1/query", None, promql,
                                 {"query": promql, "time": f"{now:.3f}"}, what="cost prices")
        values[name] = _scalar(data)
    cpu, memory = values["cpu"], values["memory"]
    if cpu is None or memory is None:
        raise NotSupported(f"{source.name} has no OpenCost node prices (node_cpu_hourly_cost, "
                           "node_ram_hourly_cost)")
    nodes = int(values["nodes"] or 0)
    how = "weighted by the containers' allocations" if values["weighted"] else "their average"
    return CostPrices(cpu_per_core_hour=cpu, memory_per_gib_hour=memory, nodes=nodes,
                      origin=f"OpenCost node prices of {nodes} node{'s' if nodes != 1 else ''}, "
                             f"{how}")


def _scalar(data: dict[str, Any]) -> float | None:
    for item in data.get("result") or ():
        try:
            value = float(item["value"][1])
        except (TypeError, ValueError, KeyError, IndexError):
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None
