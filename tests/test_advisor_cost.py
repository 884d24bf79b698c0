"""Cost, waste and capacity on crafted snapshots: the money computed by hand (prices of 0.05 a
core-hour and 0.01 a GiB-hour, 730 hours a month), each rule firing and not firing, the remedy
a Scale with the replicas that fix it, the list ordered by money, and ``[cost]`` in the config."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from idp_tui.advisor import Advisor, AdvisorConfig, AdvisorView
from idp_tui.advisor.capacity import CapacityRule, WasteRule, growth_per_day
from idp_tui.advisor.cost import cost_lines, totals, usage_candidates, usage_of
from idp_tui.advisor.settings import CostConfig
from idp_tui.api.kinds import ActionKind, EnvironmentType, Signal
from idp_tui.api.models import Deployment, Environment, MetricSeries, Service
from idp_tui.config import parse_config
from idp_tui.configerror import ConfigError

GIB = 2**30
PRICES = CostConfig(cpu_per_core_hour=0.05, memory_per_gib_hour=0.01, currency="EUR")
SETTINGS = AdvisorConfig().priced(PRICES)
#: A Tuesday: a day of points before it holds no weekend.
TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)
NOW = TUESDAY + timedelta(hours=23)
ENVIRONMENTS = (Environment(name="dev", order=0, type=EnvironmentType.DEVELOPMENT),
                Environment(name="production", order=2, type=EnvironmentType.PRODUCTION))


def dep(service: str, environment: str = "production", replicas: int | None = 2,
        **sizes: float) -> Deployment:
    return Deployment(service=service, environment=environment, version="1.0.0",
                      replicas_desired=replicas, replicas_ready=replicas, **sizes)


def series(signal: Signal, values: list[float], start: datetime = TUESDAY,
           step: float = 3600.0) -> MetricSeries:
    t0 = start.timestamp()
    return MetricSeries(signal=signal, unit="", points=tuple((t0 + i * step, v)
                                                             for i, v in enumerate(values)))


def used(cpu: list[float] | None = None, memory_gib: list[float] | None = None,
         rate: list[float] | None = None, start: datetime = TUESDAY) -> list[MetricSeries]:
    made = []
    if cpu is not None:
        made.append(series(Signal.CPU, cpu, start))
    if memory_gib is not None:
        made.append(series(Signal.MEMORY, [v * GIB for v in memory_gib], start))
    if rate is not None:
        made.append(series(Signal.REQUEST_RATE, rate, start))
    return made


def view(deployments: list[Deployment], usage: dict[tuple[str, str], list[MetricSeries]],
         now: datetime = NOW) -> AdvisorView:
    return AdvisorView(now=now, environments=ENVIRONMENTS,
                       services={d.service: Service(name=d.service, owner=f"team-{d.service[0]}")
                                 for d in deployments},
                       deployments={(d.service, d.environment): d for d in deployments},
                       usage=usage)


# Cost -------------------------------------------------------------------------------------------

def test_cost_is_the_larger_of_requests_and_use_at_the_prices() -> None:
    deployments = {
        # 2 × 0.5 cores, 2 × 1 GiB requested; less used: the requests: 0.05 + 0.02 = 0.07 an hour
        ("a", "production"): dep("a", cpu_request=0.5, memory_request=GIB),
        # nothing requested, 2 cores and 4 GiB used on average: 0.10 + 0.04 = 0.14 an hour
        ("b", "production"): dep("b", replicas=None),
        # 0.25 cores requested, 0.5 used on average: the use, 0.025 an hour
        ("c", "dev"): dep("c", "dev", replicas=1, cpu_request=0.25),
        # neither requests nor use: not costed
        ("d", "dev"): dep("d", "dev"),
    }
    usage = {("a", "production"): usage_of(used(cpu=[0.2, 0.6], memory_gib=[1, 1])),
             ("b", "production"): usage_of(used(cpu=[1.0, 3.0], memory_gib=[4, 4])),
             ("c", "dev"): usage_of(used(cpu=[0.5, 0.5]))}
    services = {"a": Service(name="a", owner="team-x"), "b": Service(name="b", owner="team-x"),
                "c": Service(name="c", owner="team-y")}
    lines = cost_lines(deployments, services, {k: v for k, v in usage.items() if v}, PRICES)
    got = {(line.service, line.environment): (line.basis, round(line.hourly, 6))
           for line in lines}
    assert got == {("b", "production"): ("use", 0.14),
                   ("a", "production"): ("requests and use", 0.07),
                   ("c", "dev"): ("requests and use", 0.025)}
    assert [line.service for line in lines] == ["b", "a", "c"]  # the most expensive first
    assert round(lines[1].monthly, 2) == 51.1  # 0.07 × 730
    by_team = {t.name: round(t.hourly, 6) for t in totals(lines, "team")}
    assert by_team == {"team-x": 0.21, "team-y": 0.025}
    by_env = {t.name: (round(t.cpu_cores, 3), t.deployments) for t in totals(lines, "environment")}
    assert by_env == {"production": (3.0, 2), "dev": (0.5, 1)}
    with pytest.raises(ValueError):
        totals(lines, "colour")


def test_the_costliest_deployments_are_asked_for_their_use_first() -> None:
    deployments = {("small", "dev"): dep("small", "dev", replicas=1, cpu_request=0.1),
                   ("big", "production"): dep("big", cpu_request=2.0),
                   ("stopped", "production"): dep("stopped", replicas=0, cpu_request=2.0),
                   ("unsized", "production"): dep("unsized")}
    settings = AdvisorConfig(max_usage_queries=1).priced(PRICES)
    assert usage_candidates(deployments, settings) == [("big", "production")]
    assert usage_candidates(deployments, SETTINGS) == [("big", "production"), ("small", "dev")]


# Waste ------------------------------------------------------------------------------------------

def test_waste_fires_with_a_scale_in_and_the_money_it_saves() -> None:
    # 4 × (1 core, 1 GiB) requested = 0.24 an hour = 175.20 a month; the peak 0.8 cores, 1 GiB:
    # unused 3.2 cores + 3 GiB = 0.19 an hour = 138.70 a month (79 %). Two instances hold the peak
    # at 70 % (ceil(0.8 / 0.7) = 2); two fewer save 2 × 0.06 × 730 = 87.60 a month.
    d = dep("api", replicas=4, cpu_request=1.0, memory_request=GIB)
    [rec] = WasteRule().evaluate(view([d], {("api", "production"): used(
        cpu=[0.3, 0.8, 0.5], memory_gib=[0.5, 1.0, 0.9])}), SETTINGS)
    assert rec.monthly_cost == 87.6 and rec.currency == "EUR"
    assert rec.remedy is not None and rec.remedy.kind is ActionKind.SCALE
    assert (rec.remedy.service, rec.remedy.environment, rec.remedy.replicas) == (
        "api", "production", 2)
    assert "scale in from 4 to 2 replicas" in rec.title and "87.60 EUR" in rec.title
    assert rec.severity.value == "low"
    figures = {f.name: f.value for f in rec.evidence.figures}
    assert figures["requests a month"] == 175.2 and figures["unused a month"] == 138.7
    assert figures["CPU peak use"] == 0.8 and figures["memory peak use"] == 1.0
    assert rec.evidence.start == TUESDAY and rec.evidence.end == TUESDAY + timedelta(hours=2)


def test_waste_where_the_instances_are_too_big_lowers_the_requests() -> None:
    # 2 × (2 cores, 1 GiB) in production (two instances at least); the peak 0.7 cores, 1 GiB:
    # at 70 %: 0.5 cores and 1/1.4 GiB an instance; saves (2 × 1.5 × 0.05 + 2 × (1 − 1/1.4) ×
    # 0.01) × 730 = 113.67 a month.
    d = dep("batch", replicas=2, cpu_request=2.0, memory_request=GIB)
    [rec] = WasteRule().evaluate(view([d], {("batch", "production"): used(
        cpu=[0.7, 0.1], memory_gib=[1.0, 0.5])}), SETTINGS)
    assert rec.remedy is None
    assert rec.monthly_cost == pytest.approx((2 * 1.5 * 0.05 + 2 * (1 - 1 / 1.4) * 0.01) * 730,
                                             abs=0.01)
    assert "CPU to 0.50 cores, memory to 731 MiB" in rec.title
    assert rec.severity.value == "medium"  # 100 a month or more


@pytest.mark.parametrize(("d", "cpu", "memory"), [
    # used well: 1 core + 1 GiB unused of 4 + 4 (25 %)
    (dep("busy", replicas=4, cpu_request=1.0, memory_request=GIB), [3.0], [3.0]),
    # mostly unused but worth little: 0.09 cores = 3.29 a month
    (dep("tiny", "dev", replicas=1, cpu_request=0.1), [0.01], None),
    # no use known
    (dep("blind", replicas=4, cpu_request=1.0), None, None),
])
def test_waste_does_not_fire(d: Deployment, cpu: list[float] | None,
                             memory: list[float] | None) -> None:
    usage = {(d.service, d.environment): used(cpu=cpu, memory_gib=memory)}
    assert list(WasteRule().evaluate(view([d], usage), SETTINGS)) == []


def test_the_list_orders_waste_by_the_money_it_saves() -> None:
    small = dep("small", replicas=4, cpu_request=1.0, memory_request=GIB)
    big = dep("big", replicas=8, cpu_request=1.0, memory_request=GIB)
    advice = Advisor(rules=[WasteRule()], settings=SETTINGS).evaluate(view([small, big], {
        ("small", "production"): used(cpu=[0.8], memory_gib=[1.0]),
        ("big", "production"): used(cpu=[0.8], memory_gib=[1.0])}))
    assert [(r.service, r.monthly_cost) for r in advice.recommendations] == [
        ("big", 262.8), ("small", 87.6)]  # 6 and 2 instances of 0.06 an hour fewer


# Capacity ---------------------------------------------------------------------------------------

def test_capacity_fires_near_the_limit_with_a_scale_out() -> None:
    # The peak 1.9 cores over 2 instances of a 1-core limit: 95 %. At 70 %: ceil(2 × 0.95 / 0.7)
    # = 3 instances; one more costs (0.5 × 0.05 + 0.5 × 0.01) × 730 = 21.90 a month.
    d = dep("hot", cpu_request=0.5, cpu_limit=1.0, memory_request=GIB / 2, memory_limit=GIB)
    [rec] = CapacityRule().evaluate(view([d], {("hot", "production"): used(
        cpu=[1.0, 1.9, 1.2], memory_gib=[0.5, 0.6, 0.5])}), SETTINGS)
    assert rec.remedy is not None and rec.remedy.kind is ActionKind.SCALE
    assert rec.remedy.replicas == 3
    assert rec.monthly_cost == 21.9
    assert rec.severity.value == "medium"  # high from 98 % of the limit
    assert "CPU peaks at 95% of its limit" in rec.title
    assert {f.name: f.value for f in rec.evidence.figures}["CPU peak use of the limit"] == 0.95
    [at_limit] = CapacityRule().evaluate(view([d], {("hot", "production"): used(
        cpu=[2.0])}), SETTINGS)
    assert at_limit.severity.value == "high" and at_limit.remedy.replicas == 3


def test_capacity_without_a_limit_judges_the_request_and_memory_too() -> None:
    d = dep("leaky", "dev", replicas=1, memory_request=GIB)
    [rec] = CapacityRule().evaluate(view([d], {("leaky", "dev"): used(
        memory_gib=[0.5, 0.95])}), SETTINGS)
    assert "memory peaks at 95% of its request" in rec.title
    assert rec.severity.value == "low" and rec.remedy is not None and rec.remedy.replicas == 2


def growing(start: datetime) -> list[float]:
    """A day of hourly request rates: 100 a second growing 20 a day, with a daily cycle."""
    return [100 + 20 * h / 24 + 30 * math.cos(2 * math.pi * h / 24) for h in range(24)]


def test_traffic_growth_into_the_limit_within_the_horizon_fires() -> None:
    # Fitted: level now 100 + 20 × 23/24, growth 20 a day. CPU at 50 % of the limit now reaches
    # 90 % in (0.9 / 0.5 − 1) × level / 20 = 4.77 days; in 14 days it is at 0.5 × (level + 280) /
    # level = 168 %: ceil(2 × 1.675 / 0.7) = 5 instances.
    level = 100 + 20 * 23 / 24
    assert growth_per_day(tuple((TUESDAY.timestamp() + h * 3600, v)
                                for h, v in enumerate(growing(TUESDAY)))) == pytest.approx(
        (level, 20.0))
    d = dep("growing", cpu_request=0.5, cpu_limit=1.0)
    [rec] = CapacityRule().evaluate(view([d], {("growing", "production"): used(
        cpu=[0.6, 1.0, 0.8], rate=growing(TUESDAY))}), SETTINGS)
    figures = {f.name: f.value for f in rec.evidence.figures}
    assert figures["days until the threshold"] == round(0.8 * level / 20, 1)
    assert figures["CPU use of the limit in 14 days"] == round(0.5 * (level + 280) / level, 3)
    assert rec.remedy is not None and rec.remedy.replicas == 5
    assert rec.severity.value == "medium" and "traffic grows" in rec.title


def test_no_capacity_advice_for_a_steady_or_weekend_or_stepped_load() -> None:
    d = dep("calm", cpu_request=0.5, cpu_limit=1.0)
    steady = [100 + 30 * math.cos(2 * math.pi * h / 24) for h in range(24)]
    saturday = TUESDAY + timedelta(days=4)
    step = [(75 if h < 12 else 100) * (1 + 0.3 * math.cos(2 * math.pi * h / 24))
            for h in range(24)]
    for rate, start in ((steady, TUESDAY), (growing(saturday), saturday), (step, TUESDAY)):
        usage = {("calm", "production"): used(cpu=[0.6, 1.0], rate=rate, start=start)}
        assert list(CapacityRule().evaluate(view([d], usage), SETTINGS)) == [], start
    assert growth_per_day(tuple((saturday.timestamp() + h * 3600, v)
                                for h, v in enumerate(growing(saturday)))) is None


# Config -----------------------------------------------------------------------------------------

def test_cost_prices_come_from_the_config_and_bad_ones_are_config_errors() -> None:
    config = parse_config({"cost": {"cpu_per_core_hour": 0.05, "currency": "EUR"}}, path=None,
                          text="")
    assert config.cost.currency == "EUR" and config.advisor.prices.cpu_per_core_hour == 0.05
    assert config.advisor.prices.memory_per_gib_hour == CostConfig().memory_per_gib_hour
    assert parse_config({}, path=None, text="").advisor.prices == CostConfig()
    for bad in ({"cpu_per_core_hour": -1}, {"currency": ""}, {"price": 1}):
        with pytest.raises(ConfigError):
            parse_config({"cost": bad}, path=None, text="")


# The Kubernetes source's requests and limits ----------------------------------------------------

async def test_the_kubernetes_source_tells_each_instances_requests_and_limits(
        tmp_path: Path) -> None:
    from kube import Cluster, deployment

    from idp_tui import ManualClock, SourceContext
    from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

    cluster = Cluster()
    sized = deployment("cart", "shop", replicas=3)
    sized["spec"]["template"]["spec"]["containers"] = [
        {"name": "cart", "image": "registry.example/cart:1.0.0",
         "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                       "limits": {"cpu": "1", "memory": "512Mi"}}},
        # A sidecar with limits only: it requests them (as Kubernetes defaults it).
        {"name": "proxy", "image": "registry.example/proxy:2.0",
         "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]
    cluster.put("deployments", "shop", "cart", sized)
    unlimited = deployment("search", "shop")
    unlimited["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "0.5"}}
    cluster.put("deployments", "shop", "search", unlimited)
    cluster.put("deployments", "shop", "plain", deployment("plain", "shop"))
    config = KubernetesConfig.model_validate({
        "kubeconfig": str(cluster.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])),
        "environments": {"production": {"context": "eu-1", "namespace": "shop"}}})
    source = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path,
                                                    clock=ManualClock(NOW)))
    try:
        await source.start()
        deps = {d.service: d for d in await source.deployments()}
    finally:
        await source.close()
        cluster.close()
    cart = deps["cart"]
    assert (cart.cpu_request, cart.memory_request) == (0.35, 320 * 2**20)
    assert (cart.cpu_limit, cart.memory_limit) == (1.1, 576 * 2**20)
    search = deps["search"]
    assert (search.cpu_request, search.memory_request, search.cpu_limit) == (0.5, None, None)
    plain = deps["plain"]
    assert (plain.cpu_request, plain.memory_request, plain.cpu_limit) == (None, None, None)
    # What costs what: 3 × (0.35 cores, 320 MiB) at the test's prices.
    [line] = cost_lines({("cart", "production"): cart}, None, {}, PRICES)
    assert line.hourly == pytest.approx(3 * 0.35 * 0.05 + 3 * 320 / 1024 * 0.01)


# The advisor following the hub ------------------------------------------------------------------

async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Return once ``condition()`` holds (``timeout``: a safety net only)."""
    import asyncio

    async def watch() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(watch(), timeout)


async def test_the_advisor_asks_for_the_use_before_its_first_advice_then_every_15_minutes(
        tmp_path: Path) -> None:
    import asyncio

    from idp_tui.advisor import Advice, Dismissals
    from idp_tui.advisor.cost import USAGE_REFRESH
    from idp_tui.api.clock import ManualClock
    from idp_tui.hub import ManualTimer
    from idp_tui.runtime import build_runtime

    config = parse_config({"sources": {"sandbox": {
        "type": "sandbox", "database": str(tmp_path / "sandbox.sqlite3")}}}, path=None, text="")
    timer, clock = ManualTimer(), ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    rt = build_runtime(config, data_dir=tmp_path, clock=clock, timer=timer)
    seen: list[Advice] = []
    advisor = Advisor(dismissals=Dismissals.in_folder(tmp_path), clock=clock,
                      settings=config.advisor)
    try:
        await rt.prepare()
        advisor.watch(rt.hub, seen.append)

        def rules(advice: Advice) -> set[str]:
            return {r.rule for r in advice.recommendations}

        # No time is advanced: the use is asked once the deployments are known.
        await until(lambda: any("waste" in rules(a) for a in seen))
        assert "capacity" in rules(next(a for a in seen if "waste" in rules(a)))
        asked = advisor._usage_at
        assert asked == clock.now() and advisor._view is not None
        assert len(advisor._view.usage) == config.advisor.max_usage_queries

        key = next(iter(advisor._view.usage))
        first = advisor._view.usage[key]
        clock.advance(USAGE_REFRESH - timedelta(seconds=1))
        before = len(seen)
        timer.advance(5.0)  # the environments refresh: a day's use is not asked again yet
        await until(lambda: len(seen) > before)
        assert advisor._usage_at == asked

        clock.advance(timedelta(seconds=1))
        timer.advance(5.0)  # … now it is, in the background, and evaluated when it is in
        await until(lambda: advisor._usage_at == clock.now())
        task = advisor._usage_task
        assert task is not None
        await asyncio.wait_for(task, 60)
        again = advisor._view.usage[key]
        assert again is not first  # asked again: the day now ends 15 minutes later
        assert again[0].points[-1][0] > first[0].points[-1][0]
    finally:
        advisor.close()
        await rt.close()


def test_the_hub_keeps_a_later_sources_requests_where_the_first_record_has_none() -> None:
    from idp_tui.hub.joins import merge_platform

    cd = Deployment(service="api", environment="production", version="2.0.0")
    cluster = dep("api", cpu_request=0.5, memory_limit=GIB)
    joined = merge_platform([([], [cd]), ([], [cluster])]).deployments[("api", "production")]
    assert (joined.version, joined.replicas_desired) == ("2.0.0", None)  # the first record
    assert (joined.cpu_request, joined.memory_limit, joined.memory_request) == (0.5, GIB, None)
    alone = merge_platform([([], [cd])]).deployments[("api", "production")]
    assert alone is cd


# The dashboard ----------------------------------------------------------------------------------

async def test_enter_on_a_waste_advice_opens_scale_with_its_replicas_filled_in(
        tmp_path: Path) -> None:
    from textual.widgets import Input

    from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
    from idp_tui.ui.advisor import AdvisorScreen
    from idp_tui.ui.dialogs import ActionModal

    from fakes import wait_until

    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await wait_until(pilot, lambda: app.advice is not None and any(
            r.rule == "waste" and r.remedy for r in app.advice.recommendations), "waste advice")
        rec = next(r for r in app.advice.recommendations if r.rule == "waste" and r.remedy)
        current = app.platform.deployments[(rec.service, rec.environment)].replicas_desired
        assert rec.remedy.replicas < current
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen), "the list")
        app.screen.query_one("#advisor-table").select_key(rec.id)
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal), "the dialog")
        modal = app.screen
        assert (modal.kind, modal.service, modal.environment) == (
            ActionKind.SCALE, rec.service, rec.environment)
        assert modal.query_one("#action-replicas", Input).value == str(rec.remedy.replicas)
        assert modal.replicas == current  # the plan says from how many
