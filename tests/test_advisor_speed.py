"""What keeps the advisor cheap on a large platform, and the loop free while it works.

- What the rules derive from the deployments is kept per deployment while its record is the same
  object (``AdvisorView.each``, ``Changes``): evaluations after a run of refreshes (versions
  moved on, rollouts stuck and freed, deployments gone and new, the time going on) say exactly
  what an evaluation from scratch of the same view says, and the candidates of the metrics and
  runs to follow are those of the plain functions.
- The candidates are read off the event loop (the evaluation's worker thread; the use's in a
  thread of its own), and the dashboard answers keys while an evaluation runs.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from idp_tui import Health, RunStatus
from idp_tui.advisor import Advisor, AdvisorConfig, AdvisorView, Dismissals, load_rules
from idp_tui.advisor import engine
from idp_tui.advisor.engine import (
    REEVALUATE,
    drift_candidates,
    metrics_candidates,
    view_metrics_candidates,
)
from idp_tui.advisor.model import Recommendation, Severity
from idp_tui.advisor.rules import Changes
from idp_tui.api.clock import ManualClock
from idp_tui.api.kinds import EnvironmentKind, EnvironmentType, Signal
from idp_tui.api.models import Deployment, Environment, MetricSeries, PipelineRun
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_config, wait_settled
from idp_tui.hub import ManualTimer
from idp_tui.runtime import build_runtime
from idp_tui.ui.app import IdpApp
from idp_tui.ui.screens import HelpScreen

from fakes import poll_until, wait_until

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
STEP = 60.0
SETTINGS = AdvisorConfig()
ENVS = (Environment(name="dev", order=0, type=EnvironmentType.DEVELOPMENT),
        Environment(name="staging", order=1, type=EnvironmentType.STAGING),
        Environment(name="production", order=2, type=EnvironmentType.PRODUCTION),
        Environment(name="pr-1", order=10, kind=EnvironmentKind.PREVIEW,
                    expires_at=NOW + timedelta(hours=3)))


# Kept per deployment, the same answers ----------------------------------------------------------

def test_changes_tell_the_keys_whose_record_changed() -> None:
    a, b, c = object(), object(), object()
    changes = Changes()
    first = {("a", "dev"): a, ("b", "dev"): b}
    g1 = changes.see(first)
    assert changes.see(first) == g1  # the same mapping: no new generation
    assert changes.since(g1) == frozenset()
    g2 = changes.see({("a", "dev"): a, ("b", "dev"): c})  # same keys, same order, one new record
    assert changes.since(g1) == {("b", "dev")}
    g3 = changes.see({("b", "dev"): c, ("a", "dev"): a})  # reordered: read again, not missed
    assert changes.since(g2) == {("a", "dev"), ("b", "dev")}
    assert changes.see({("b", "dev"): c, ("a", "dev"): a}) > g3  # a new mapping, the same
    assert changes.since(g3) == frozenset()  # the same records in the same places: no change
    g4 = changes.see({("b", "dev"): c, ("c", "dev"): a, ("d", "dev"): b})  # one gone, two new
    assert changes.since(g3 + 1) == {("a", "dev"), ("c", "dev"), ("d", "dev")}
    assert changes.since(g1) == {("a", "dev"), ("b", "dev"), ("c", "dev"), ("d", "dev")}
    assert changes.since(0) is None  # from before the first: everything
    for _ in range(Changes.KEEP):
        changes.see({("b", "dev"): c, ("c", "dev"): object(), ("d", "dev"): b})
    assert changes.since(g4) == {("c", "dev")}  # the last KEEP generations are told
    changes.see({("b", "dev"): c, ("c", "dev"): object(), ("d", "dev"): b})
    assert changes.since(g4) is None  # one more: too old to be told, everything


def deployment(service: str, env: str, version: str, at: datetime, **more: Any) -> Deployment:
    return Deployment(service=service, environment=env, version=version, updated_at=at,
                      source="sandbox", replicas_ready=2, replicas_desired=2,
                      cpu_request=0.5, memory_request=2**29, **more)


def curve(deployed: datetime, bad: bool) -> list[MetricSeries]:
    end = NOW.timestamp()
    times = [end - 5 * 3600 + i * STEP for i in range(5 * 60 + 1)]
    cut = deployed.timestamp()

    def values(before: float, after: float) -> tuple[tuple[float, float], ...]:
        return tuple((t, (after if bad and t >= cut else before) * (1 + ((i % 5) - 2) / 50))
                     for i, t in enumerate(times))

    return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s", points=values(40, 40)),
            MetricSeries(signal=Signal.ERROR_RATIO, unit="ratio", points=values(0.02, 0.09)),
            MetricSeries(signal=Signal.LATENCY_P95, unit="s", points=values(0.2, 0.2))]


class Platform:
    """A small platform that a seeded random walk changes as refreshes would."""

    def __init__(self, seed: int, services: int = 40) -> None:
        self.r = random.Random(seed)
        self.names = [f"svc-{i:02d}" for i in range(services)]
        self.deployments: dict[tuple[str, str], Deployment] = {}
        for name in self.names:
            prod_at = NOW - timedelta(hours=self.r.uniform(30, 300))
            for env in ("dev", "staging", "production"):
                at = prod_at if env == "production" else NOW - timedelta(hours=self.r.uniform(
                    0.5, 80))
                self.deployments[(name, env)] = deployment(
                    name, env, f"1.{self.r.randint(1, 3)}.0", at)
        for name in self.names[:3]:
            self.deployments[(name, "pr-1")] = deployment(name, "pr-1", "0.1.0",
                                                          NOW - timedelta(hours=30))
        self.runs = [PipelineRun(id=f"{name}-{k}", service=name, pipeline="ci", branch="main",
                                 status=RunStatus.SUCCEEDED if k else RunStatus.FAILED,
                                 version=f"v{k}", source="sandbox",
                                 started_at=NOW - timedelta(hours=k + 1),
                                 finished_at=NOW - timedelta(hours=k + 0.9))
                     for name in self.names for k in range(6)]
        self.metrics: dict[tuple[str, str], list[MetricSeries]] = {}

    def step(self) -> None:
        """One refresh: a few deployments replaced (a new version, a stuck rollout, one down,
        one back to health), one gone and one new now and then."""
        for _ in range(self.r.randint(1, 4)):
            key = self.r.choice(sorted(self.deployments))
            dep = self.deployments[key]
            roll = self.r.random()
            if roll < 0.35:
                at = NOW - timedelta(minutes=self.r.uniform(5, 200))
                update: dict[str, Any] = {"version": f"1.{self.r.randint(1, 9)}.0",
                                          "updated_at": at, "rollout": "", "health": Health.HEALTHY}
                if key[1] == "production":
                    self.metrics[key] = curve(at, bad=self.r.random() < 0.5)
            elif roll < 0.5:
                update = {"rollout": "stuck", "target_version": "9.9.9"}
            elif roll < 0.6:
                update = {"health": Health.DOWN, "updated_at": NOW - timedelta(minutes=20)}
            else:
                update = {"health": Health.HEALTHY, "rollout": ""}
            self.deployments[key] = dep.model_copy(update=update)
        if self.r.random() < 0.3:
            gone = self.r.choice(sorted(self.deployments))
            del self.deployments[gone]
            self.metrics.pop(gone, None)
        if self.r.random() < 0.3:
            name = self.r.choice(self.names)
            self.deployments[(name, "pr-1")] = deployment(name, "pr-1", "0.2.0",
                                                          NOW - timedelta(hours=1))
        if self.r.random() < 0.3:  # a new run of a service's default branch, red or green
            name, k = self.r.choice(self.names), len(self.runs)
            self.runs = [PipelineRun(
                id=f"{name}-{k}", service=name, pipeline="ci", branch="main",
                status=RunStatus.FAILED if self.r.random() < 0.5 else RunStatus.SUCCEEDED,
                version=f"v{k}", source="sandbox", started_at=NOW - timedelta(minutes=50),
                finished_at=NOW - timedelta(minutes=40)), *self.runs]


def fresh(view: AdvisorView) -> AdvisorView:
    copy = view.copy()
    copy.derived = {}
    return copy


def recommendations(advisor: Advisor, view: AdvisorView) -> list[Recommendation]:
    advice = advisor.evaluate(view)
    assert advice.errors == ()
    return sorted(advisor._found, key=lambda r: r.id)


def test_evaluations_after_refreshes_say_what_an_evaluation_from_scratch_says() -> None:
    rules, _ = load_rules(plugins=False)
    kept = Advisor(rules=rules, settings=SETTINGS, dismissals=Dismissals(None))
    scratch = Advisor(rules=rules, settings=SETTINGS, dismissals=Dismissals(None))
    seen_rules: set[str] = set()
    for seed in (1, 2, 3):
        platform = Platform(seed)
        view = AdvisorView(now=NOW, environments=ENVS, metrics_step=STEP,
                           sources={"metrics": "prometheus"})
        for k in range(40):
            # A refresh replaces the deployments (a new mapping; the records it did not change
            # are the same objects), the runs now and then; the time goes on.
            view.deployments = dict(platform.deployments)
            view.metrics = dict(platform.metrics)
            if k % 3 == 0:  # (the runs' refresh: a new list, new runs or none)
                view.runs = list(platform.runs)
            view.now = NOW + timedelta(seconds=30 * k)
            # (the copy the engine evaluates shares what is derived with the view)
            found = recommendations(kept, view.copy())
            assert found == recommendations(scratch, fresh(view)), (seed, k)
            seen_rules |= {r.rule for r in found}
            assert view_metrics_candidates(view, SETTINGS) == metrics_candidates(
                view.deployments, view.now, SETTINGS)
            assert drift_candidates(view, SETTINGS) == drift_candidates(fresh(view), SETTINGS)
            platform.step()
    # (the walk made every rule that reads the deployments fire)
    assert {"rollout-failing", "post-deploy-regression", "drift", "preview-idle",
            "preview-expiring", "red-default-branch"} <= seen_rules


def test_a_refresh_reads_again_only_the_deployments_it_changed() -> None:
    platform = Platform(5)
    view = AdvisorView(now=NOW, environments=ENVS, deployments=dict(platform.deployments))
    calls: list[Any] = []

    def down(key: tuple[str, str]) -> Deployment | None:
        calls.append(key)
        dep = (view.deployments or {}).get(key)
        return dep if dep is not None and dep.health is Health.DOWN else None

    assert view.each("down", down) == {}
    assert len(calls) == len(platform.deployments)  # the first time: every one
    calls.clear()
    key = ("svc-07", "staging")
    platform.deployments[key] = platform.deployments[key].model_copy(
        update={"health": Health.DOWN})
    view.deployments = dict(platform.deployments)
    refreshed = view.copy()  # (the engine's copy: what is derived is shared)
    assert refreshed.each("down", down) == {key: platform.deployments[key]}
    assert calls == [key]
    assert view.each("down", down) is refreshed.each("down", down)  # kept: not made again
    assert calls == [key]


def test_the_regression_verdict_is_kept_while_its_series_are_and_the_time_moves_on() -> None:
    rules, _ = load_rules(plugins=False)
    [regression] = [r for r in rules if r.id == "post-deploy-regression"]
    at = NOW - timedelta(minutes=60)
    dep = deployment("pay", "production", "2.0.0", at)
    series = curve(at, bad=True)
    view = AdvisorView(now=NOW, environments=ENVS, deployments={("pay", "production"): dep},
                       metrics={("pay", "production"): series}, metrics_step=STEP)
    [first] = regression.evaluate(view, SETTINGS)
    held = view.derived[("judged", regression.id)][("pay", "production")]
    view.now = NOW + timedelta(minutes=2)  # later: the same points are judged
    [later] = regression.evaluate(view, SETTINGS)
    assert view.derived[("judged", regression.id)][("pay", "production")] is held
    assert later.evidence.end == view.now and later.id == first.id
    assert later.evidence.figures == first.evidence.figures
    view.metrics = {("pay", "production"): curve(at, bad=False)}  # new series: judged again
    assert list(regression.evaluate(view, SETTINGS)) == []
    view.metrics = {}
    assert list(regression.evaluate(view, SETTINGS)) == []
    assert view.derived[("judged", regression.id)] == {}  # what is not followed is let go


# Off the loop ------------------------------------------------------------------------------------

def recording(calls: list[int], fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        return fn(*args, **kwargs)
    return wrapper


async def test_the_candidates_are_read_off_the_loop(tmp_path: Path, monkeypatch: Any) -> None:
    """On the sandbox, the metrics of the recent deploys and the runs of the drifting services
    are followed (the bad release's regression is found through them), and each function that
    reads every deployment for them ran on another thread than the loop's."""
    metrics: list[int] = []
    drift: list[int] = []
    usage: list[int] = []
    monkeypatch.setattr(engine, "view_metrics_candidates",
                        recording(metrics, engine.view_metrics_candidates))
    monkeypatch.setattr(engine, "drift_candidates", recording(drift, engine.drift_candidates))
    monkeypatch.setattr(engine, "usage_topics", recording(usage, engine.usage_topics))
    timer, clock = ManualTimer(), ManualClock(DEMO_TIME)
    rt = build_runtime(demo_config(tmp_path), data_dir=tmp_path, clock=clock, timer=timer)
    found = asyncio.Event()

    def listener(advice: Any) -> None:
        if any(r.rule == "post-deploy-regression" for r in advice.recommendations):
            found.set()

    advisor = Advisor(dismissals=Dismissals.in_folder(tmp_path), clock=clock)
    loop_thread = threading.get_ident()
    try:
        await rt.prepare()
        advisor.watch(rt.hub, listener)
        await asyncio.wait_for(found.wait(), 120)  # a safety net only: no time is advanced
        assert metrics and drift and usage
        assert loop_thread not in set(metrics) | set(drift) | set(usage)
        followed = {(t.args[0], t.args[1]) for t in advisor._subs if t.kind.value == "metrics"
                    and t.args[2] == engine.metrics_window(advisor.settings)}
        assert advisor._view is not None
        assert followed == set(metrics_candidates(advisor._view.deployments, clock.now(),
                                                  advisor.settings))
    finally:
        advisor.close()
        await rt.close()


class Spinning:
    """A rule that keeps the worker thread busy (counting, holding the interpreter as a slow rule
    does) until released, then says one thing."""

    id = "spinning"
    title = "Spinning"

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread: int | None = None

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if not self.armed:
            return []
        self.thread = threading.get_ident()
        self.entered.set()
        deadline = datetime.now(UTC) + timedelta(seconds=60)  # (a safety net only)
        while not self.release.is_set() and datetime.now(UTC) < deadline:
            sum(range(20_000))
        return [Recommendation(id="spinning:1", rule=self.id, severity=Severity.LOW,
                               service="payments-api", title="spun")]


async def test_the_dashboard_answers_keys_while_the_advisor_evaluates(tmp_path: Path) -> None:
    clock, timer = ManualClock(DEMO_TIME), ManualTimer()
    config = demo_config(tmp_path)
    app = IdpApp(config, data_dir=tmp_path, clock=clock,
                 runtime=build_runtime(config, data_dir=tmp_path, clock=clock, timer=timer))
    spinning = Spinning()
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await wait_until(pilot, lambda: app.advice is not None and app.advice.at is not None,
                         "the advisor's first advice", 60)
        app.advisor.rules.append(spinning)
        spinning.armed = True
        # The environments' refresh once the last evaluation is a minute old: evaluated again.
        clock.advance(REEVALUATE)
        timer.advance(5.0)
        await poll_until(spinning.entered.is_set, "the evaluation under way", 60,
                         lambda: pilot.pause(0.01))
        assert app.advisor.evaluating
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        assert app.advisor.evaluating and not spinning.release.is_set()  # still counting
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        spinning.release.set()
        await wait_until(pilot, lambda: any(r.rule == "spinning"
                                            for r in app.advice.recommendations),
                         "the advice with the spinning rule's", 60)
        assert spinning.thread is not None and spinning.thread != threading.get_ident()
