"""The regression rule on a real Prometheus (tests/prom.py): backfilled request counters whose error
rate steps up after a deploy time fire it, with the rollback; steady ones, and a step on little
traffic, do not. The series are asked through the prometheus source as the hub would ask them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import prom
import pytest

from idp_tui import ManualClock, MetricsQuery, SourceContext
from idp_tui.advisor import AdvisorConfig, AdvisorView
from idp_tui.advisor.builtin import RegressionRule
from idp_tui.advisor.engine import SIGNALS, metrics_window
from idp_tui.api.kinds import EnvironmentType
from idp_tui.api.models import Deployment, Environment, metrics_step
from idp_tui_prometheus import PrometheusConfig, PrometheusSource

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

DEPLOYED = prom.END - timedelta(minutes=60)
#: service → (requests a second, error share before the deploy, error share after it).
SHOP = {"checkout": (40.0, 0.02, 0.09),    # a regression: 2 % → 9 % at 40 req/s
        "search": (40.0, 0.02, 0.02),      # steady
        "admin": (0.002, 0.0, 0.5)}        # one request in eight minutes: proves nothing


def stepped_openmetrics(shop: object = None, end_at: object = None) -> str:
    """``http_requests_total`` counters of :data:`SHOP` in production, every 15 s over six hours,
    their 500s' rate changing at :data:`DEPLOYED`."""
    end = int(prom.END.timestamp())
    times = range(end - prom.SPAN, end + 1, prom.STEP)
    cut = DEPLOYED.timestamp()
    out = ["# TYPE http_requests counter"]
    for service, (rate, before, after) in SHOP.items():
        for code in ("200", "500"):
            total = 0.0
            previous = times[0]
            for t in times:
                share = before if t <= cut else after
                part = share if code == "500" else 1 - share
                total += rate * part * (t - previous)
                previous = t
                out.append(f'http_requests_total{{service="{service}",namespace="production",'
                           f'code="{code}"}} {total:.6f} {t}')
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Server]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prom, "openmetrics", stepped_openmetrics)
        srv = prom.Server(tmp_path_factory.mktemp("prometheus-advisor"))
    yield srv
    srv.stop()


async def test_a_step_after_a_deploy_fires_and_steady_series_do_not(server: prom.Server,
                                                                     tmp_path: Path) -> None:
    settings = AdvisorConfig()
    window = metrics_window(settings)
    step = metrics_step(window)
    src = PrometheusSource(PrometheusConfig(url=server.url),
                           SourceContext(name="prom", data_dir=tmp_path,
                                         clock=ManualClock(prom.END)))
    await src.start()
    try:
        metrics = {(service, "production"): await src.metrics(MetricsQuery(
            service=service, environment="production", window=window, step=step,
            signals=SIGNALS)) for service in SHOP}
    finally:
        await src.close()
    for series in metrics.values():  # each has data: what does not fire is judged, not missing
        rates = {m.signal.value: m.points for m in series}
        assert len(rates["request_rate"]) > 200 and len(rates["error_ratio"]) > 200
    view = AdvisorView(
        now=prom.END, metrics=metrics, metrics_step=step, sources={"metrics": "prom"},
        environments=(Environment(name="production", type=EnvironmentType.PRODUCTION),),
        deployments={(s, "production"): Deployment(service=s, environment="production",
                                                   version="2.0.0", updated_at=DEPLOYED)
                     for s in SHOP})
    recs = list(RegressionRule().evaluate(view, settings))
    assert [r.service for r in recs] == ["checkout"]
    [rec] = recs
    assert rec.remedy is not None and rec.remedy.kind.value == "rollback"
    assert rec.evidence.figure("error ratio before") == pytest.approx(0.02, abs=0.003)
    assert rec.evidence.figure("error ratio after") == pytest.approx(0.09, abs=0.005)
    assert rec.evidence.source == "prom"
