"""Prometheus: 50 services in the Catalog with sparklines — queries sent and time per refresh.

Run: python benchmarks/prometheus_catalog.py [--services 50] [--repeat 15]

A real Prometheus (Debian's package, as in the tests: tests/prom.py) on a free port, backfilled
with six hours of series for ``--services`` services in one environment. Measured in the same
run, through the hub as the Catalog asks (``Topic.signals``: request rate, error ratio and p95
latency over 15 minutes, a point a minute, for every listed service):

* ``batched``: the prometheus source's ``service_signals`` — one ``query_range`` per signal for
  all the services;
* ``per row`` (the baseline): what one query per table row costs, the source's ``metrics()`` for
  each service with the same three signals and window.

Each refresh is timed from the hub's fetch to the answer; the medians are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, measure, percentile

sys.path.insert(0, str(ROOT / "tests"))
import prom  # noqa: E402

from idp_tui import ManualClock, MetricsQuery, Signal, SourceContext, Window  # noqa: E402
from idp_tui.hub import Hub, SourceRunner, Topic  # noqa: E402
from idp_tui_prometheus import PrometheusConfig, PrometheusSource  # noqa: E402

SIGNALS = (Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    why = prom.available()
    if why:
        print(f"skipped: {why}")
        emit([])
        return
    names = [f"svc-{i:02d}" for i in range(args.services)]
    shop = {(name, "production"): prom.Shape(rate=5.0 + i, errors=0.1 * (i % 5), cpu=0.2,
                                             memory=2**28) for i, name in enumerate(names)}
    with tempfile.TemporaryDirectory(prefix="idp-bench-prom-") as tmp:
        server = prom.Server(Path(tmp) / "prometheus", shop=shop)
        try:
            source = PrometheusSource(PrometheusConfig(url=server.url),
                                      SourceContext(name="prom", data_dir=Path(tmp),
                                                    clock=ManualClock(prom.END)))
            runner = SourceRunner("prom", "prometheus", source, 60.0)
            hub = Hub([runner], clock=ManualClock(prom.END))
            topic = Topic.signals("production", names, Window.M15, 60.0)

            async def batched() -> tuple[float, int, int]:
                before = source.requests_sent
                start = time.perf_counter()
                snap = await hub.fetch(topic)
                elapsed = time.perf_counter() - start
                assert not snap.errors, snap.errors
                filled = sum(1 for s in snap.data if s.points)
                return elapsed, source.requests_sent - before, filled

            async def per_row() -> tuple[float, int, int]:
                before = source.requests_sent
                start = time.perf_counter()
                results = await asyncio.gather(*(runner.call("metrics", MetricsQuery(
                    service=name, environment="production", window=Window.M15, step=60,
                    signals=SIGNALS)) for name in names))
                elapsed = time.perf_counter() - start
                filled = sum(1 for series in results for s in series if s.points)
                return elapsed, source.requests_sent - before, filled

            await batched()
            await per_row()  # warm-up of both
            runs: dict[str, list[tuple[float, int, int]]] = {"batched": [], "per row": []}
            for _ in range(args.repeat):
                runs["batched"].append(await batched())
                runs["per row"].append(await per_row())
            await hub.close()
        finally:
            server.stop()

    def times(kind: str) -> list[float]:
        return [r[0] * 1000 for r in runs[kind]]

    b, p = statistics.median(times("batched")), statistics.median(times("per row"))
    queries_b, queries_p = runs["batched"][0][1], runs["per row"][0][1]
    print(f"prometheus: {args.services} services in the Catalog, 3 signals over 15 minutes "
          f"(a point a minute), median of {args.repeat} refreshes")
    print(f"  one query per row (baseline)    {p:7.1f} ms per refresh  p95 "
          f"{percentile(times('per row'), 95):6.1f} ms   {queries_p} queries")
    print(f"  batched (service_signals)       {b:7.1f} ms per refresh  p95 "
          f"{percentile(times('batched'), 95):6.1f} ms   {queries_b} queries  ({b / p:.2f}x)")
    print(f"  series with points: batched {runs['batched'][0][2]}, per row {runs['per row'][0][2]}"
          f" (of {args.services * len(SIGNALS)})")
    emit([
        measure(f"prometheus: catalog signals refresh ({args.services} services)", b, "ms",
                baseline=p, baseline_name="one query per row", ratio=b / p),
        measure(f"prometheus: queries per catalog refresh ({args.services} services)",
                queries_b, "queries", baseline=queries_p, baseline_name="one query per row",
                ratio=queries_b / queries_p, goal="one per signal",
                passed=queries_b == len(SIGNALS)),
    ])


if __name__ == "__main__":
    asyncio.run(main())
