"""The advisor's built-in rules on crafted snapshots (each firing and not firing, the small-traffic
case among them), the remedies they carry, dismiss and snooze kept across runs, and a third-party
rule loaded from an ``idp_tui.advisor_rules`` entry point of a distribution on ``sys.path``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from idp_tui import ActionKind, Health, RunStatus
from idp_tui.advisor import (
    Advisor,
    AdvisorConfig,
    AdvisorView,
    Dismissals,
    Severity,
    load_rules,
)
from idp_tui.advisor.builtin import DriftRule, RedBranchRule, RegressionRule, RolloutRule
from idp_tui.advisor.dismissals import MAX_ENTRIES
from idp_tui.advisor.engine import drift_candidates, metrics_candidates, metrics_window
from idp_tui.api.clock import ManualClock
from idp_tui.api.kinds import EnvironmentType, Signal, Window
from idp_tui.api.models import Deployment, Environment, Job, MetricSeries, PipelineRun

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
STEP = 60.0
SETTINGS = AdvisorConfig()
ENVS = (Environment(name="dev", order=0, type=EnvironmentType.DEVELOPMENT),
        Environment(name="staging", order=1, type=EnvironmentType.STAGING),
        Environment(name="production", order=2, type=EnvironmentType.PRODUCTION))


def dep(service: str = "pay", env: str = "production", version: str = "1.2.0", *,
        ago: timedelta = timedelta(minutes=60), **more: object) -> Deployment:
    return Deployment(service=service, environment=env, version=version,
                      updated_at=NOW - ago, source="sandbox", **more)  # type: ignore[arg-type]


def view(*deps: Deployment, runs: list[PipelineRun] | None = None, **more: object) -> AdvisorView:
    return AdvisorView(now=NOW, environments=ENVS,
                       deployments={(d.service, d.environment): d for d in deps}, runs=runs,
                       metrics_step=STEP, **more)  # type: ignore[arg-type]


def series(deployed: datetime, *, rate: tuple[float, float], ratio: tuple[float, float],
           p95: tuple[float, float] = (0.1, 0.1), span: float = 3 * 3600) -> list[MetricSeries]:
    """Points every minute for ``span`` before now: (before, after) the deploy of each signal,
    with a small deterministic wobble."""
    end = NOW.timestamp()
    times = [end - span + i * STEP for i in range(int(span // STEP) + 1)]
    cut = deployed.timestamp()

    def values(pair: tuple[float, float], wobble: float) -> tuple[tuple[float, float], ...]:
        return tuple((t, (pair[0] if t < cut else pair[1]) * (1 + wobble * ((i % 5) - 2) / 2))
                     for i, t in enumerate(times))

    return [MetricSeries(signal=Signal.REQUEST_RATE, unit="req/s", points=values(rate, 0.02)),
            MetricSeries(signal=Signal.ERROR_RATIO, unit="ratio", points=values(ratio, 0.05)),
            MetricSeries(signal=Signal.LATENCY_P95, unit="s", points=values(p95, 0.03))]


def regression(d: Deployment, metrics: list[MetricSeries]) -> list:
    v = view(d, metrics={(d.service, d.environment): metrics}, sources={"metrics": "prom"})
    return list(RegressionRule().evaluate(v, SETTINGS))


# Post-deploy regression ---------------------------------------------------------------------------

def test_regression_fires_on_two_to_nine_percent_at_forty_requests_a_second() -> None:
    d = dep()
    [rec] = regression(d, series(d.updated_at, rate=(40, 40), ratio=(0.02, 0.09)))
    assert rec.rule == "post-deploy-regression" and rec.severity is Severity.HIGH
    assert (rec.service, rec.environment) == ("pay", "production")
    assert rec.remedy is not None and rec.remedy.kind is ActionKind.ROLLBACK
    assert (rec.remedy.service, rec.remedy.environment, rec.remedy.version) == (
        "pay", "production", None)  # no version: the previous one
    assert rec.evidence.figure("error ratio before") == pytest.approx(0.02, abs=0.002)
    assert rec.evidence.figure("error ratio after") == pytest.approx(0.09, abs=0.005)
    assert rec.evidence.source == "prom" and "rate test" in rec.evidence.test
    assert rec.evidence.start == d.updated_at - timedelta(minutes=SETTINGS.baseline_minutes)
    # The same finding has the same id on the next evaluation.
    [again] = regression(d, series(d.updated_at, rate=(40, 40), ratio=(0.02, 0.09)))
    assert again.id == rec.id


def test_regression_fires_on_latency_alone() -> None:
    d = dep(env="staging")
    [rec] = regression(d, series(d.updated_at, rate=(5, 5), ratio=(0.01, 0.01), p95=(0.1, 0.4)))
    assert rec.severity is Severity.MEDIUM  # not production
    assert rec.evidence.figure("p95 latency after") == pytest.approx(0.4, rel=0.05)
    assert rec.evidence.figure("error ratio after") is None


def test_one_error_in_three_requests_after_a_deploy_is_not_a_regression() -> None:
    # 3 requests a minute... spread as one request per minute for three minutes after.
    d = dep(ago=timedelta(minutes=6))
    tiny = series(d.updated_at, rate=(1 / 60, 1 / 60), ratio=(0.0, 0.0), span=3600)
    after = [(t, v) for t, v in tiny[1].points]
    cut = d.updated_at.timestamp() + SETTINGS.settle_minutes * 60
    first_after = next(t for t, _ in after if t >= cut)
    tiny[1] = MetricSeries(signal=Signal.ERROR_RATIO, unit="ratio", points=tuple(
        (t, 1.0 if t == first_after else 0.0) for t, _ in after))
    assert regression(d, tiny) == []


def test_steady_series_and_old_deploys_do_not_fire() -> None:
    d = dep()
    assert regression(d, series(d.updated_at, rate=(40, 40), ratio=(0.02, 0.02))) == []
    old = dep(ago=timedelta(hours=5))
    assert regression(old, series(old.updated_at, rate=(40, 40), ratio=(0.02, 0.09),
                                  span=6 * 3600)) == []
    assert regression(d, []) == []


def test_metrics_are_asked_only_for_recent_deploys() -> None:
    deps = {("a", "production"): dep("a", ago=timedelta(minutes=10)),
            ("b", "production"): dep("b", ago=timedelta(hours=6)),
            ("c", "staging"): dep("c", "staging", ago=timedelta(minutes=30)),
            ("d", "production"): dep("d", ago=timedelta(minutes=5), rollout="stuck")}
    assert metrics_candidates(deps, NOW, SETTINGS) == [("a", "production"), ("c", "staging")]
    assert metrics_candidates(deps, NOW, SETTINGS.model_copy(
        update={"max_metric_queries": 1})) == [("a", "production")]
    assert metrics_window(SETTINGS) is Window.H6


# Rollout stuck or failing -------------------------------------------------------------------------

def test_rollout_stuck_or_down_after_a_deploy_fires() -> None:
    stuck = dep("a", rollout="stuck", target_version="1.3.0", message="ImagePullBackOff")
    down = dep("b", ago=timedelta(minutes=20), health=Health.DOWN, replicas_ready=0,
               replicas_desired=3)
    down_staging = dep("c", "staging", ago=timedelta(minutes=20), health=Health.DOWN)
    recs = {r.service: r for r in RolloutRule().evaluate(view(stuck, down, down_staging),
                                                         SETTINGS)}
    assert recs["a"].severity is Severity.HIGH and "1.3.0" in recs["a"].title
    assert recs["b"].severity is Severity.CRITICAL
    assert recs["c"].severity is Severity.MEDIUM
    assert all(r.remedy is not None and r.remedy.kind is ActionKind.ROLLBACK
               for r in recs.values())
    assert recs["b"].evidence.figure("replicas ready") == 0


def test_rollout_does_not_fire_when_healthy_or_down_long_after() -> None:
    healthy = dep("a", health=Health.HEALTHY, rollout="progressing")
    down_long = dep("b", ago=timedelta(days=2), health=Health.DOWN)
    assert list(RolloutRule().evaluate(view(healthy, down_long), SETTINGS)) == []


# Drift --------------------------------------------------------------------------------------------

def run(service: str, n: int, ago: timedelta, status: RunStatus = RunStatus.SUCCEEDED,
        branch: str = "main", jobs: tuple[Job, ...] = ()) -> PipelineRun:
    return PipelineRun(id=f"{service}-{n}", service=service, branch=branch, status=status,
                       started_at=NOW - ago - timedelta(minutes=5), finished_at=NOW - ago,
                       version=f"1.{n}.0", source="ci", jobs=jobs, url=f"https://ci/{n}")


def test_drift_fires_when_a_version_waits_while_builds_pile_up() -> None:
    staged = dep(env="staging", version="1.5.0", ago=timedelta(hours=30))
    prod = dep(version="1.4.0", ago=timedelta(hours=40))
    runs = [run("pay", n, timedelta(hours=20 - n)) for n in range(6, 10)]
    [rec] = DriftRule().evaluate(view(staged, prod, runs=runs), SETTINGS)
    assert rec.environment == "production" and rec.severity is Severity.LOW
    assert rec.remedy is not None and rec.remedy.kind is ActionKind.DEPLOY
    assert (rec.remedy.environment, rec.remedy.version) == ("production", "1.5.0")
    assert rec.evidence.figure("newer builds") == 4


def test_drift_does_not_fire() -> None:
    staged = dep(env="staging", version="1.5.0", ago=timedelta(hours=30))
    prod = dep(version="1.4.0", ago=timedelta(hours=40))
    few = [run("pay", n, timedelta(hours=2)) for n in (6, 7)]  # fewer than 3 newer builds
    assert list(DriftRule().evaluate(view(staged, prod, runs=few), SETTINGS)) == []
    many = [run("pay", n, timedelta(hours=1)) for n in range(6, 12)]
    fresh = dep(env="staging", version="1.5.0", ago=timedelta(hours=3))  # not waiting long
    assert list(DriftRule().evaluate(view(fresh, prod, runs=many), SETTINGS)) == []
    hotfix = dep(version="1.4.1", ago=timedelta(hours=10))  # production moved on since
    assert list(DriftRule().evaluate(view(staged, hotfix, runs=many), SETTINGS)) == []
    same = dep(version="1.5.0", ago=timedelta(hours=10))
    assert list(DriftRule().evaluate(view(staged, same, runs=many), SETTINGS)) == []
    assert list(DriftRule().evaluate(view(staged, prod, runs=None), SETTINGS)) == []



def test_drift_candidates_are_the_services_the_drift_rule_judges() -> None:
    # The engine follows the own runs of the services whose version waits, as the rule sees it
    # (one selection, derived once for both): not those whose staged version is down or older
    # than a hotfix in production, nor one that has not waited long; the longest waiting first.
    def pair(service: str, staged_ago: float, prod_ago: float,
             **staged: object) -> list[Deployment]:
        return [dep(service, "staging", "1.5.0", ago=timedelta(hours=staged_ago), **staged),
                dep(service, version="1.4.0", ago=timedelta(hours=prod_ago))]

    deps = [*pair("pay", 30, 40), *pair("old", 50, 60), *pair("fresh", 3, 40),
            *pair("hotfix", 30, 10), *pair("down", 30, 40, health=Health.DOWN)]
    platform = view(*deps, runs=[])
    assert list(DriftRule().evaluate(platform, SETTINGS)) == []  # (no newer builds)
    assert drift_candidates(platform, SETTINGS) == ["old", "pay"]
    assert [key[1][0] for key in platform.derived if key[0] == "each"] == ["drift-waiting"]
    assert drift_candidates(platform, SETTINGS.model_copy(update={"max_metric_queries": 1})) \
        == ["old"]

# Red default branch -------------------------------------------------------------------------------

def test_red_default_branch_fires_with_the_failed_runs_log() -> None:
    failed_job = Job(name="test", status=RunStatus.FAILED, id="job-7")
    runs = [run("pay", 1, timedelta(hours=5)),
            run("pay", 2, timedelta(hours=3), RunStatus.FAILED),
            run("pay", 3, timedelta(minutes=30), RunStatus.FAILED, jobs=(failed_job,)),
            run("pay", 4, timedelta(minutes=10), branch="feature/x")]
    [rec] = RedBranchRule().evaluate(view(runs=runs), SETTINGS)
    assert rec.remedy is None and rec.opens is not None
    assert (rec.opens.source, rec.opens.run_id, rec.opens.job_id) == ("ci", "pay-3", "job-7")
    assert rec.evidence.figure("failed runs in a row") == 2
    assert rec.evidence.start == NOW - timedelta(hours=3)


def test_red_default_branch_does_not_fire() -> None:
    green = [run("pay", 1, timedelta(hours=5), RunStatus.FAILED), run("pay", 2, timedelta(hours=1))]
    just_red = [run("pay", 1, timedelta(hours=5)),
                run("pay", 2, timedelta(minutes=10), RunStatus.FAILED)]
    feature = [run("pay", 1, timedelta(hours=5), RunStatus.FAILED, branch="feature/y")]
    for runs in (green, just_red, feature, []):
        assert list(RedBranchRule().evaluate(view(runs=runs), SETTINGS)) == []


# The engine, dismiss and snooze -------------------------------------------------------------------

def situation() -> AdvisorView:
    stuck = dep("a", "staging", rollout="stuck")
    down = dep("b", ago=timedelta(minutes=20), health=Health.DOWN)
    return view(stuck, down, runs=[])


def stuck_both() -> AdvisorView:
    return view(dep("a", rollout="stuck"), dep("b", "staging", rollout="stuck"), runs=[])


def test_engine_orders_by_severity_and_survives_a_broken_rule() -> None:
    class Broken:
        id, title = "broken", "Broken"

        def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> list:
            raise RuntimeError("boom")

    advisor = Advisor(rules=[RolloutRule(), Broken()], clock=ManualClock(NOW))
    advice = advisor.evaluate(situation())
    assert [r.service for r in advice.recommendations] == ["b", "a"]  # critical first
    assert advice.errors == ("advisor rule 'broken' failed: RuntimeError: boom",)
    disabled = Advisor(rules=[RolloutRule()], settings=AdvisorConfig(disabled=["rollout-failing"]))
    assert disabled.evaluate(situation()).recommendations == ()


def test_dismiss_and_snooze_are_kept_across_runs(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    advisor = Advisor(rules=[RolloutRule()], dismissals=Dismissals.in_folder(tmp_path),
                      clock=clock)
    a, b = advisor.evaluate(stuck_both()).recommendations
    assert (a.service, b.service) == ("a", "b")
    assert advisor.dismiss(b.id) and advisor.snooze(a.id, timedelta(hours=1))
    saved = json.loads((tmp_path / "advisor.json").read_text())
    assert {e["id"] for e in saved["hidden"]} == {a.id, b.id}
    # A new run reads the file: both hidden.
    again = Advisor(rules=[RolloutRule()], dismissals=Dismissals.in_folder(tmp_path), clock=clock)
    advice = again.evaluate(stuck_both())
    assert advice.recommendations == () and advice.hidden == 2
    # The snooze ends; the dismissal stays.
    clock.advance(timedelta(hours=2))
    later = stuck_both()
    later.now = clock.now()
    shown = Advisor(rules=[RolloutRule()], dismissals=Dismissals.in_folder(tmp_path),
                    clock=clock).evaluate(later)
    assert [r.id for r in shown.recommendations] == [a.id] and shown.hidden == 1


def test_dismissals_file_is_bounded_and_a_bad_file_hides_nothing(tmp_path: Path) -> None:
    (tmp_path / "advisor.json").write_text(json.dumps({"version": 1, "hidden": [
        {"id": f"r:{i}", "at": (NOW + timedelta(seconds=i)).isoformat(), "until": None}
        for i in range(MAX_ENTRIES + 10)]}))
    assert Dismissals.in_folder(tmp_path).dismiss("last", NOW + timedelta(days=1))
    again = Dismissals.in_folder(tmp_path)
    assert len(again.entries()) == MAX_ENTRIES
    assert again.hidden("last", NOW) and not again.hidden("r:0", NOW)
    (tmp_path / "advisor.json").write_text("{not json")
    assert Dismissals.in_folder(tmp_path).entries() == {}
    (tmp_path / "advisor.json").write_text('{"hidden": [{"id": "x"}, 5, {"id": "y", "at": '
                                           '"2026-11-25T14:00:00+00:00", "until": null}]}')
    assert Dismissals.in_folder(tmp_path).entries() == {"y": None}


# A third-party rule -------------------------------------------------------------------------------

PLUGIN = '''
from idp_tui.advisor import Recommendation, Severity, stable_id


class TierRule:
    id = "no-owner"
    title = "Service without an owner"

    def evaluate(self, view, settings):
        for (service, environment), dep in sorted((view.deployments or {}).items()):
            if environment == "production":
                yield Recommendation(id=stable_id(self.id, service), rule=self.id,
                                     severity=Severity.LOW, service=service,
                                     environment=environment, title=f"{service} has no owner")


def broken():
    raise ImportError("missing dependency")
'''


def test_a_rule_from_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_rules.py").write_text(PLUGIN)
    info = tmp_path / "acme_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[idp_tui.advisor_rules]\nno-owner = acme_rules:TierRule"
                                           "\nbroken = acme_rules:broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rules, errors = load_rules()
    ids = [r.id for r in rules]
    assert ids[:4] == ["post-deploy-regression", "rollout-failing", "drift", "red-default-branch"]
    assert "no-owner" in ids
    assert any("'broken'" in e and "missing dependency" in e for e in errors)
    advice = Advisor(clock=ManualClock(NOW)).evaluate(view(dep("pay", rollout="stuck")))
    assert {r.rule for r in advice.recommendations} == {"rollout-failing", "no-owner"}
    assert any("'broken'" in e for e in advice.errors)
