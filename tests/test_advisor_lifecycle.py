"""The advisor's lifecycle rules on crafted snapshots: a preview environment about to expire or
left idle (firing and not, at the boundary times), and scorecard gaps (the fewest failing rules
of the next level first, a rule's fix in the evidence, nothing said where a fact is unknown, the
delivery history followed from the hub); and through ``idp-tui advise --json`` on the sandbox
after provisioning a short-lived preview environment with ``idp-tui provision``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from idp_tui import RunStatus
from idp_tui.advisor import Advisor, AdvisorConfig, AdvisorView, Dismissals, Severity, load_rules
from idp_tui.advisor.engine import apply
from idp_tui.advisor.lifecycle import (
    RESCORE,
    PreviewExpiringRule,
    PreviewIdleRule,
    ScorecardGapRule,
    delivery_topic,
)
from idp_tui.api.delivery import DeliveryEvent, DeliveryHistory, DeliveryOutcome
from idp_tui.api.kinds import ActionKind, EnvironmentKind, EnvironmentType
from idp_tui.api.models import Deployment, Environment, Link, PipelineRun, Service
from idp_tui.cli.output import EXIT_OK
from idp_tui.hub.topics import Snapshot

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SETTINGS = AdvisorConfig()
STATIC = (Environment(name="dev", order=0, type=EnvironmentType.DEVELOPMENT),
          Environment(name="staging", order=1, type=EnvironmentType.STAGING),
          Environment(name="production", order=2, type=EnvironmentType.PRODUCTION))


def preview(name: str = "pr-7", *, expires_in: timedelta | None = timedelta(hours=30)
            ) -> Environment:
    return Environment(name=name, order=3, kind=EnvironmentKind.PREVIEW,
                       expires_at=NOW + expires_in if expires_in is not None else None)


def dep(service: str, env: str, *, ago: timedelta | None = timedelta(hours=1),
        version: str = "1.0.0") -> Deployment:
    return Deployment(service=service, environment=env, version=version, source="sandbox",
                      updated_at=NOW - ago if ago is not None else None)


def view(*envs: Environment, deps: tuple[Deployment, ...] = (), now: datetime = NOW,
         **more: Any) -> AdvisorView:
    return AdvisorView(now=now, environments=STATIC + envs,
                       deployments={(d.service, d.environment): d for d in deps}, **more)


# Preview about to expire -------------------------------------------------------------------------

def expiring(v: AdvisorView, settings: AdvisorConfig = SETTINGS) -> list:
    return list(PreviewExpiringRule().evaluate(v, settings))


def test_a_preview_expiring_within_the_window_is_advised_with_its_figures() -> None:
    env = preview(expires_in=timedelta(hours=5))
    [rec] = expiring(view(env, deps=(dep("pay", "pr-7"), dep("cart", "pr-7"))))
    assert rec.rule == "preview-expiring" and rec.environment == "pr-7"
    assert rec.service == "cart"  # the first of its services, by name
    assert "expires in 5.0 h" in rec.title and "extend or delete" in rec.title
    remedy = rec.remedy  # extend it by a day: the dialog opens pre-filled
    assert remedy is not None and rec.opens is None
    assert (remedy.kind, remedy.environment, remedy.service) == (ActionKind.EXTEND, "pr-7", None)
    assert remedy.params == {"seconds": 86400} and remedy.reason.startswith("advisor:")
    assert "T in Environments" in rec.detail
    ev = rec.evidence
    assert ev.figure("expires at") == (NOW + timedelta(hours=5)).isoformat()
    assert ev.figure("hours left") == 5.0
    assert ev.figure("services") == 2 and ev.figure("services deployed") == "cart, pay"
    assert (ev.start, ev.end, ev.source) == (NOW, NOW + timedelta(hours=5), "sandbox")
    assert rec.severity is Severity.MEDIUM  # within a quarter of the window
    # The same finding, the same id; extended, a new one.
    assert expiring(view(env))[0].id == rec.id
    assert expiring(view(preview(expires_in=timedelta(hours=6))))[0].id != rec.id


def test_the_expiry_window_boundaries() -> None:
    window = timedelta(hours=SETTINGS.preview_expiry_hours)
    assert len(expiring(view(preview(expires_in=window)))) == 1  # exactly at the edge: fires
    assert expiring(view(preview(expires_in=window + timedelta(seconds=1)))) == []
    [far] = expiring(view(preview(expires_in=window / 4 + timedelta(seconds=1))))
    assert far.severity is Severity.LOW
    [near] = expiring(view(preview(expires_in=window / 4)))
    assert near.severity is Severity.MEDIUM
    # Expired (the source has not deleted it yet), never expiring, or static: nothing.
    assert expiring(view(preview(expires_in=timedelta(0)))) == []
    assert expiring(view(preview(expires_in=-timedelta(minutes=1)))) == []
    assert expiring(view(preview(expires_in=None))) == []
    static = Environment(name="qa", order=1, expires_at=NOW + timedelta(hours=1))
    assert expiring(view(static)) == []
    # The window is a setting.
    wider = AdvisorConfig(preview_expiry_hours=48)
    assert len(expiring(view(preview(expires_in=window + timedelta(hours=1))), wider)) == 1


# Preview left idle -------------------------------------------------------------------------------

def idle(v: AdvisorView, settings: AdvisorConfig = SETTINGS) -> list:
    return list(PreviewIdleRule().evaluate(v, settings))


def test_a_preview_without_a_deployment_for_the_idle_time_is_advised() -> None:
    limit = timedelta(hours=SETTINGS.preview_idle_hours)
    env = preview(expires_in=timedelta(days=5))
    deps = (dep("pay", "pr-7", ago=limit), dep("cart", "pr-7", ago=limit + timedelta(hours=3)))
    [rec] = idle(view(env, deps=deps))
    assert rec.rule == "preview-idle" and rec.severity is Severity.LOW
    assert (rec.service, rec.environment) == ("cart", "pr-7")
    assert rec.remedy is not None and rec.remedy.kind is ActionKind.DELETE_ENVIRONMENT
    assert (rec.remedy.environment, rec.remedy.params) == ("pr-7", {})
    assert "no deployment for 24.0 h" in rec.title and "delete it" in rec.title
    ev = rec.evidence
    assert ev.figure("idle since") == (NOW - limit).isoformat()  # the newest deployment
    assert ev.figure("hours idle") == 24.0
    assert ev.figure("expires at") == (NOW + timedelta(days=5)).isoformat()
    assert (ev.start, ev.end) == (NOW - limit, NOW)
    # One second less idle: not yet.
    fresher = (dep("pay", "pr-7", ago=limit - timedelta(seconds=1)), deps[1])
    assert idle(view(env, deps=fresher)) == []
    # The same idle period keeps its id over later evaluations (dismissable).
    later = view(env, deps=deps, now=NOW + timedelta(hours=2))
    assert idle(later)[0].id == rec.id


def test_idle_needs_a_known_deployment_time_and_a_live_preview() -> None:
    old = timedelta(days=3)
    assert idle(view(preview(), deps=(dep("pay", "pr-7", ago=None),))) == []  # since when?
    assert idle(view(preview())) == []  # nothing deployed: nothing tells since when
    gone = preview(expires_in=-timedelta(hours=1))
    assert idle(view(gone, deps=(dep("pay", "pr-7", ago=old),))) == []
    assert idle(view(deps=(dep("pay", "staging", ago=old),))) == []  # static environments


def test_the_preview_rules_group_the_deployments_once_and_again_once_replaced() -> None:
    """Both preview rules read the deployments grouped by environment once (kept in the view's
    ``derived``, shared by its copies); a view whose deployments were replaced (a refresh) is
    grouped again, never read from the last grouping."""
    env = preview(expires_in=timedelta(hours=5))
    old = timedelta(days=2)
    v = view(env, deps=(dep("pay", "pr-7", ago=old), dep("pay", "production", ago=old)))
    [soon], [left] = expiring(v), idle(v)
    assert soon.evidence.figure("services deployed") == "pay"
    assert left.evidence.figure("services deployed") == "pay"
    assert v.derived["deployed-by-environment"][0] is v.deployments
    refreshed = v.copy()  # (what an evaluation after a refresh reads)
    refreshed.deployments = {**(refreshed.deployments or {}),
                             ("cart", "pr-7"): dep("cart", "pr-7", ago=old)}
    [soon], [left] = expiring(refreshed), idle(refreshed)
    assert soon.evidence.figure("services deployed") == "cart, pay"
    assert left.evidence.figure("services deployed") == "cart, pay"
    assert v.derived["deployed-by-environment"][0] is refreshed.deployments
    assert idle(AdvisorView(now=NOW, environments=(preview(),), deployments=None)) == []
    patient = AdvisorConfig(preview_idle_hours=100)
    assert idle(view(preview(), deps=(dep("pay", "pr-7", ago=old),)), patient) == []


# Scorecard gaps ----------------------------------------------------------------------------------

DOCS = {"backstage.io/techdocs-ref": "dir:."}


def service(name: str, *, lifecycle: str = "experimental", docs: bool = True,
            **more: Any) -> Service:
    return Service(name=name, owner="team-a", description=f"{name} does things",
                   lifecycle=lifecycle, annotations=DOCS if docs else {}, **more)


def run(name: str, status: RunStatus, *, ago: timedelta = timedelta(hours=2)) -> PipelineRun:
    return PipelineRun(id=f"{name}-{status.value}", service=name, branch="main", status=status,
                       started_at=NOW - ago, finished_at=NOW - ago + timedelta(minutes=5),
                       source="sandbox")


def scored(services: list[Service], runs: list[PipelineRun] | None,
           deps: tuple[Deployment, ...] = (), settings: AdvisorConfig = SETTINGS,
           **more: Any) -> list:
    v = view(deps=deps, runs=runs, services={s.name: s for s in services},
             sources={"catalog": "sandbox", "environments": "sandbox"}, **more)
    return list(ScorecardGapRule().evaluate(v, settings))


def test_scorecard_gaps_fewest_failing_rules_first_with_each_fix() -> None:
    services = [service("one-red"), service("two-red", docs=False), service("gold"),
                service("unknown")]
    runs = [run("one-red", RunStatus.FAILED), run("one-red", RunStatus.SUCCEEDED,
                                                   ago=timedelta(days=1)),
            run("two-red", RunStatus.FAILED), run("gold", RunStatus.SUCCEEDED)]
    deps = tuple(dep(s.name, "production") for s in services)
    recs = scored(services, runs, deps)
    # gold is at gold; unknown's default branch is unknown (no run): its level is in doubt.
    assert [r.service for r in recs] == ["one-red", "two-red"]
    one, two = recs
    assert one.rule == "scorecard-gap" and one.severity is Severity.LOW
    assert (one.environment, one.remedy, one.opens) == (None, None, None)
    assert one.title == "one-red: 1 rule from silver: Default branch is green"
    assert one.evidence.figure("level") == "bronze"
    assert one.evidence.figure("next level") == "silver"
    assert one.evidence.figure("rules failing") == 1
    fix = one.evidence.figure("fix default-branch-green")
    assert isinstance(fix, str) and fix.startswith("Fix the failing pipeline")
    assert "default_branch_green = False" in one.detail and fix in one.detail
    assert one.evidence.source == "sandbox"
    assert two.evidence.figure("rules failing") == 2
    assert {f.name for f in two.evidence.figures} >= {"fix docs", "fix default-branch-green"}
    # At most scorecard_max_gap rules: two-red's two are too many for 1.
    assert [r.service for r in scored(services, runs, deps,
                                      AdvisorConfig(scorecard_max_gap=1))] == ["one-red"]
    # Fixed, the id changes with the rules that remain; the same gap keeps its id.
    assert scored(services, runs, deps)[0].id == one.id
    green = [r for r in runs if r.service != "one-red"] + [run("one-red", RunStatus.SUCCEEDED)]
    assert "one-red" not in {r.service for r in scored(services, green, deps)}


def test_scorecard_gaps_need_the_catalog_and_read_the_delivery_history() -> None:
    assert scored([], None) == []
    assert list(ScorecardGapRule().evaluate(view(), SETTINGS)) == []  # no catalog known
    prod = service("ship", lifecycle="production", on_call="ops",
                   links=(Link(title="Runbook", url="https://r", kind="runbook"),
                          Link(title="Dashboard", url="https://d", kind="dashboard")))
    runs = [run("ship", RunStatus.SUCCEEDED)]
    deps = (dep("ship", "production"),)
    # Without the delivery history its gold rules cannot be decided: nothing is said.
    assert scored([prod], runs, deps) == []
    history = DeliveryHistory(deliveries=tuple(
        DeliveryEvent(service="ship", environment="production", started=NOW - timedelta(days=d),
                      finished=NOW - timedelta(days=d) + timedelta(minutes=5),
                      outcome=DeliveryOutcome.FAILED if d < 5 else DeliveryOutcome.SUCCEEDED,
                      version=f"1.{d}.0", id=f"d{d}") for d in (2, 3, 10)), source="sandbox")
    [rec] = scored([prod], runs, deps, delivery=history)
    assert rec.title == "ship: 1 rule from gold: Change failure rate at most 15%"
    assert rec.evidence.figure("level") == "silver"
    assert "change_failure_rate = 0.667" in rec.detail


def test_scorecards_are_scored_again_every_few_minutes_or_when_a_part_becomes_known() -> None:
    services = {"red": service("red")}
    v = view(deps=(dep("red", "production"),), runs=[run("red", RunStatus.FAILED)],
             services=services)
    rule = ScorecardGapRule()
    [first] = rule.evaluate(v, SETTINGS)
    # Fixed, but within RESCORE of the scoring: the same answer, not scored again.
    v.runs = [run("red", RunStatus.SUCCEEDED, ago=timedelta(minutes=1))]
    v.now = NOW + RESCORE - timedelta(seconds=1)
    assert list(rule.evaluate(v, SETTINGS)) == [first]
    # Other settings, or RESCORE later: scored again, and the gap is gone.
    assert list(rule.evaluate(v, AdvisorConfig(scorecard_max_gap=2))) == []
    v.runs = [run("red", RunStatus.FAILED)]
    assert [r.id for r in rule.evaluate(v, SETTINGS)] == [first.id]
    v.runs = [run("red", RunStatus.SUCCEEDED, ago=timedelta(minutes=1))]
    v.now = NOW + 2 * RESCORE
    assert list(rule.evaluate(v, SETTINGS)) == []
    # A part that was unknown and becomes known is scored at once.
    w = view(deps=(dep("red", "production"),), runs=None, services=services)
    assert list(rule.evaluate(w, SETTINGS)) == []  # the default branch is unknown
    w.runs = [run("red", RunStatus.FAILED)]
    assert [r.id for r in rule.evaluate(w, SETTINGS)] == [first.id]


def test_the_lifecycle_rules_are_built_in_and_the_engine_keeps_the_delivery_history() -> None:
    rules, errors = load_rules(plugins=False)
    assert errors == []
    ids = [r.id for r in rules]
    assert {"preview-expiring", "preview-idle", "scorecard-gap"} <= set(ids)
    # The delivery topic: the scorecards' window up to the end of the day (it moves once a day).
    topic = delivery_topic(NOW)
    assert topic == delivery_topic(NOW.replace(hour=23, minute=59))
    assert topic != delivery_topic(NOW + timedelta(days=1))
    start, end = topic.args[2], topic.args[3]
    assert end == datetime(2026, 11, 26, tzinfo=UTC) and end - start == timedelta(days=91)
    v = AdvisorView(now=NOW)
    history = DeliveryHistory(source="sandbox")
    apply(v, Snapshot(topic=topic, data=history))
    assert v.delivery is history
    # Through the advisor: an evaluation carries them with the others, dismissable.
    advisor = Advisor(rules=[PreviewExpiringRule()], dismissals=Dismissals(None))
    advice = advisor.evaluate(view(preview(expires_in=timedelta(hours=2))))
    assert [r.rule for r in advice.recommendations] == ["preview-expiring"]


# Through the command line on the sandbox ---------------------------------------------------------

def test_advise_json_on_the_sandbox_after_provisioning_a_short_lived_preview(
        tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1"})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=180, check=False,
                                stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert result.returncode == EXIT_OK, result.stderr
        return result

    cli("provision", "preview-environment", "--param", "name=pr-42",
        "--param", "services=payments-api,billing-service", "--param", "ttl_hours=2")
    data = json.loads(cli("advise", "--json").stdout)
    assert data["rules"][-3:] == ["preview-expiring", "preview-idle", "scorecard-gap"]
    assert data["errors"] == []
    [rec] = [r for r in data["recommendations"] if r["rule"] == "preview-expiring"
             and r["environment"] == "pr-42"]  # (the sandbox starts with one of its own too)
    assert (rec["environment"], rec["service"], rec["severity"]) == (
        "pr-42", "billing-service", "medium")
    figures = {f["name"]: f["value"] for f in rec["evidence"]["figures"]}
    assert figures["expires at"] == "2026-11-25T16:00:00+00:00" and figures["hours left"] == 2.0
    assert figures["services deployed"] == "billing-service, payments-api"
    assert rec["remedy"]["kind"] == "extend" and rec["remedy"]["environment"] == "pr-42"
    assert rec["evidence"]["source"] == "sandbox"
    # Just deployed: not idle.
    assert not any(r["rule"] == "preview-idle" and r["environment"] == "pr-42"
                   for r in data["recommendations"])
    # The sandbox's default data has scorecard gaps, the delivery facts among them (the
    # delivery history is followed), each with its fix; the fewest failing rules are listed.
    gaps = [r for r in data["recommendations"] if r["rule"] == "scorecard-gap"]
    assert gaps and all(r["severity"] == "low" and r["remedy"] is None for r in gaps)
    fixes = [f for r in gaps for f in r["evidence"]["figures"] if f["name"].startswith("fix ")]
    assert any(f["name"] == "fix change-failure-rate" for f in fixes)
    assert all(f["value"] for f in fixes)
    scorecards = json.loads(cli("scorecards", "--json").stdout)["services"]
    levels = {c["service"]: c["level"] for c in scorecards}
    for gap in gaps:  # the same levels as `idp-tui scorecards`
        level = next(f["value"] for f in gap["evidence"]["figures"] if f["name"] == "level")
        assert levels[gap["service"]] == level, gap["service"]


def test_advise_scores_gaps_with_the_configured_scorecard_rules(tmp_path: Path) -> None:
    """A scorecards.toml beside the config replaces the built-in rules (defaults off): the gaps
    name its rule and its fix; a broken rule file is said as an error, not a traceback."""
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n'
                      '[scorecards]\ndefaults = false\n')
    (tmp_path / "scorecards.toml").write_text(
        '[[rules]]\nid = "house-runbook"\ntitle = "Links its runbook"\nlevel = "bronze"\n'
        'check = { fact = "has_runbook", equals = true }\n'
        'fix = "Add a runbook link to the catalog entry (our wiki)."\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1"})

    def advise() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp_tui", "advise", "--json"],
                              capture_output=True, text=True, env=env, timeout=180, check=False,
                              stdin=subprocess.DEVNULL)

    scorecards = json.loads(subprocess.run(
        [sys.executable, "-m", "idp_tui", "scorecards", "--json"], capture_output=True,
        text=True, env=env, timeout=180, check=False, stdin=subprocess.DEVNULL).stdout)
    unlinked = {c["service"] for c in scorecards["services"] if c["level"] == "none"}
    result = advise()
    assert result.returncode == EXIT_OK, result.stderr
    gaps = [r for r in json.loads(result.stdout)["recommendations"]
            if r["rule"] == "scorecard-gap"]
    assert {r["service"] for r in gaps} == unlinked
    for gap in gaps:
        figures = {f["name"]: f["value"] for f in gap["evidence"]["figures"]}
        assert figures["fix house-runbook"] == "Add a runbook link to the catalog entry (our wiki)."
        assert not any(name.startswith("fix ") and name != "fix house-runbook"
                       for name in figures)
    (tmp_path / "scorecards.toml").write_text('[[rules]]\nid = "broken"\n')
    result = advise()
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    [warning] = [json.loads(line)["warning"] for line in result.stderr.splitlines()
                 if "scorecard rules" in line]
    assert "broken" in warning["message"]
    assert not any(r["rule"] == "scorecard-gap" for r in data["recommendations"])
