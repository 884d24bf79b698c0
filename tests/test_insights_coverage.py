"""A service whose delivery history nobody keeps is not judged: the sandbox beside a
``catalog-files`` source listing two services the sandbox does not know (no source with delivery
history lists them). Their four keys are "–" with no level, never "low"; their team, which has no
other service, too; ``idp-tui dora --json`` says why and ``--fail-under`` does not fail on them;
their scorecards' delivery rules are unknown (an error saying why), not failing. A deploy in
idp-tui's audit trail makes a service covered, counted from the trail, in the four keys and the
scorecards alike. A covered service that never reached production keeps its answer (low)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.api.clock import ManualClock
from idp_tui.audit import AuditLog
from idp_tui.cli.context import Context
from idp_tui.cli.output import EXIT_OK, Output
from idp_tui.cli.parser import build_parser
from idp_tui.cli.scorecards import scorecards
from idp_tui.config import AppConfig, load_config
from idp_tui.insights.audit_history import AUDIT_SOURCE
from idp_tui.insights.dora import DEPLOYMENT_FREQUENCY, KEYS
from idp_tui.ui.app import IdpApp
from idp_tui.ui.tables import KeyedTable

from conftest import T0
from fakes import app_config, spec, wait_until, widget_text
from test_cli_dora import as_json
from test_insights_audit import (
    SIZE,
    HistorySource,
    NoHistorySandbox,
    cli_dora,
    counted_again,
    deploy_through_idp_tui,
    sandbox_config,
    shown,
)

LEDGER = "ledger-[/red]"  # (markup in a name: shown as written, never parsed)
CATALOG = f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {LEDGER}
  description: the books
  annotations:
    idp-tui.dev/tier: "1"
spec:
  type: service
  owner: group:team-books
  lifecycle: production
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: newsvc
spec:
  type: service
  owner: team-books
  lifecycle: experimental
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-books
spec:
  type: team
  children: []
"""
CLOCK = "2026-11-25T14:00:00Z"  # T0
DASH = "–"


def why(service: str) -> str:
    return (f"no source keeps the delivery history of {service}; the sandbox (delivery) does "
            "not list it; idp-tui's audit trail has no deploy of it")


def two_sources(tmp_path: Path) -> Path:
    """The config: the seeded sandbox and a catalog-files source of :data:`CATALOG`."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "catalog-info.yaml").write_text(CATALOG)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sources.sandbox]\ntype = "sandbox"\n'
        f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\naction_speed = 100000\n'
        f'[sources.files]\ntype = "catalog-files"\npaths = ["{(tmp_path / "cat").as_posix()}"]\n')
    return config


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``idp-tui`` in a child process on :func:`two_sources`, at :data:`CLOCK`."""
    config = two_sources(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": CLOCK, "NO_COLOR": "1"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=180, check=False,
                                stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run


def unknown(result: dict[str, Any]) -> bool:
    """No level and no value for any key (and nothing counted)."""
    return result["level"] is None and all(
        k["value"] is None and k["level"] is None and k["counted"] == 0
        for k in result["keys"].values())


def trail_deploy(data: Path, service: str, action_id: str, finished: str) -> None:
    """A deploy to production made through idp-tui, by a system no source here reads."""
    data.mkdir(exist_ok=True)
    log = AuditLog(data / "audit.jsonl")
    for phase, more in (("started", {}), ("finished", {"outcome": "succeeded"})):
        log.append({"action_id": action_id, "phase": phase, "action": "deploy",
                    "service": service, "environment": "production", "source": "argo",
                    "actor": "ana", "time": finished, **more})


# The command line ---------------------------------------------------------------------------------

def test_dora_says_a_team_without_history_is_not_known(run: Run) -> None:
    value = as_json(run("dora", "--team", "team-books", "--json"))
    team, *services = value["results"]
    assert (team["scope"], team["name"]) == ("team", "team-books")
    assert [s["name"] for s in services] == [LEDGER, "newsvc"]
    for result in (team, *services):
        assert unknown(result), result
        assert result["coverage"]["known"] is False
    for s in services:
        assert s["coverage"] == {"known": False, "reason": why(s["name"]), "services": 1,
                                 "covered": 0, "not_covered": {s["name"]: why(s["name"])}}
    assert team["coverage"]["services"] == 2 and team["coverage"]["covered"] == 0
    assert "any of its 2 services" in team["coverage"]["reason"]
    # The text: "–" and no level, and why, below the table.
    text = run("dora", "--team", "team-books")
    assert text.returncode == EXIT_OK, text.stderr
    rows = {line.split()[1]: line.split() for line in text.stdout.splitlines()
            if line.startswith(("team ", "service "))}
    assert rows["newsvc"][2:7] == [DASH] * 5  # four keys and the level
    assert "low" not in text.stdout
    assert f"– service newsvc: not known: {why('newsvc')}" in text.stdout


def test_the_organisation_counts_the_covered_services(run: Run) -> None:
    value = as_json(run("dora", "--json"))
    org, *teams = value["results"]
    by_name = {t["name"]: t for t in teams}
    assert org["coverage"] == {"known": True, "reason": None, "services": 42, "covered": 40,
                               "not_covered": {LEDGER: why(LEDGER), "newsvc": why("newsvc")}}
    assert org["level"] is not None
    assert unknown(by_name["team-books"])
    # The sandbox's teams are judged as ever.
    assert all(t["level"] is not None and t["coverage"]["known"]
               for name, t in by_name.items() if name != "team-books")


def test_fail_under_does_not_fail_on_what_was_not_judged(run: Run) -> None:
    for args in (("--team", "team-books"), ("--service", "newsvc")):
        result = run("dora", *args, "--fail-under", "elite")
        assert result.returncode == EXIT_OK, result.stderr
        assert "was not judged against --fail-under elite" in result.stderr
    # A judged team still fails the gate (the sandbox's monthly team is low).
    judged = run("dora", "--team", "team-data", "--fail-under", "elite")
    assert judged.returncode != EXIT_OK


def test_scorecards_say_the_delivery_rules_are_unknown(run: Run) -> None:
    value = as_json(run("scorecards", "--team", "team-books", "--json"))
    cards = {c["service"]: c for c in value["services"]}
    results = {r["rule"]: r for r in cards[LEDGER]["results"]}
    for rule, fact in (("deployed-recently", "deployed_last_30_days"),
                       ("change-failure-rate", "change_failure_rate")):
        assert results[rule]["status"] == "error"
        assert results[rule]["message"] == f"fact {fact} is unknown: {why(LEDGER)}"


def test_a_deploy_in_the_audit_trail_makes_a_service_covered(run: Run, tmp_path: Path) -> None:
    # Two days before the clock, to production: 1 deploy in 30 days.
    trail_deploy(tmp_path / "data", LEDGER, "books-1",
                 (T0 - timedelta(days=2)).isoformat())
    value = as_json(run("dora", "--team", "team-books", "--json"))
    team, ledger, newsvc = value["results"]
    assert ledger["coverage"] == {"known": True, "reason": None, "services": 1, "covered": 1,
                                  "not_covered": {}}
    frequency = ledger["keys"][DEPLOYMENT_FREQUENCY]
    assert frequency["value"] == pytest.approx(1 / 30)  # once in 30 days: medium
    assert frequency["evidence"] == [f"{AUDIT_SOURCE}:books-1"]
    assert ledger["keys"]["change_failure_rate"]["value"] == 0.0  # elite
    assert ledger["keys"]["lead_time"]["value"] is None  # (no commits known)
    assert ledger["level"] == "medium"
    # The team counts its one covered service; newsvc is still not known.
    assert team["level"] == "medium"
    assert team["keys"][DEPLOYMENT_FREQUENCY]["value"] == pytest.approx(1 / 30)
    assert team["coverage"] == {"known": True, "reason": None, "services": 2, "covered": 1,
                                "not_covered": {"newsvc": why("newsvc")}}
    assert unknown(newsvc)
    # The scorecards count it too: deployed recently, no failed change.
    cards = {c["service"]: c for c in as_json(run("scorecards", "--team", "team-books",
                                                  "--json"))["services"]}
    results = {r["rule"]: r for r in cards[LEDGER]["results"]}
    assert results["deployed-recently"]["status"] == "pass"
    assert results["deployed-recently"]["facts"] == {"deployed_last_30_days": True}
    assert results["change-failure-rate"]["status"] == "pass"
    assert results["change-failure-rate"]["facts"] == {"change_failure_rate": 0.0}


# The dashboard ------------------------------------------------------------------------------------

def cells(table: KeyedTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def test_the_pane_shows_no_level_where_no_history_is_kept(tmp_path: Path, data_dir: Path,
                                                                  clock: ManualClock) -> None:
    app = IdpApp(load_config(two_sources(tmp_path), required=True), data_dir=data_dir,
                 clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        insights = pane.insights
        assert insights is not None
        assert dict(insights.coverage.missing) == {LEDGER: why(LEDGER), "newsvc": why("newsvc")}
        keys = pane.query_one("#insights-keys", KeyedTable)
        for row in (f"service:{LEDGER}", "service:newsvc", "team:team-books"):
            shown_cells = cells(keys, row)
            assert shown_cells[1:6] == [DASH] * 5, (row, shown_cells)  # four keys, level
            result = insights.keys_of(row)
            assert result is not None and result.level is None
        assert LEDGER in cells(keys, f"service:{LEDGER}")[0]
        # The sandbox's services and teams are judged as ever; the organisation by them.
        assert cells(keys, "team:team-platform")[5] != DASH
        assert insights.organisation.level is not None
        status = widget_text(app, pane.query_one("#insights-status"))
        assert "2 services without delivery history" in status
        # The detail says why.
        keys.focus()
        keys.move_cursor(row=keys.get_row_index(f"service:{LEDGER}"), column=1)
        detail = pane.query_one("#insights-detail")
        await wait_until(pilot, lambda: "not known" in widget_text(app, detail), "the detail")
        text = " ".join(widget_text(app, detail).split())
        assert "deployment frequency of service" in text and "(not known, no level)" in text
        assert "the sandbox (delivery) does not list it" in text
        # The scorecards: the delivery rules are unknown, not failing.
        card = insights.card_of(LEDGER)
        assert card is not None
        results = {r.rule.id: r for r in card.results}
        assert results["deployed-recently"].status == "error"
        assert why(LEDGER) in results["deployed-recently"].outcome.message


async def test_a_deploy_through_idp_tui_makes_an_uncovered_service_counted(
        tmp_path: Path, data_dir: Path, clock: ManualClock) -> None:
    # The sandbox as a system that keeps no delivery history: nothing is covered at first.
    config: AppConfig = sandbox_config(tmp_path, NoHistorySandbox)
    app = IdpApp(config, data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        assert pane.insights is not None
        assert pane.insights.organisation.level is None
        reason = pane.insights.coverage.reason("cart-service")
        assert reason is not None and "none offers delivery history" in reason
        keys = pane.query_one("#insights-keys", KeyedTable)
        assert cells(keys, "service:cart-service")[1:6] == [DASH] * 5
        card = pane.insights.card_of("cart-service")
        assert card is not None
        assert {r.rule.id: r.status for r in card.results}["deployed-recently"] == "error"
        await deploy_through_idp_tui(app, "ship-cov")
        insights = await counted_again(pilot, pane)
        # Once in 30 days (1.0/month, medium, better than the 30 days before: none), no failed
        # change (0%, elite), no commit known (lead time –), nothing to restore (–): medium.
        assert cells(keys, "service:cart-service")[1:6] == [
            "1.0/month ↑", DASH, "0%", DASH, "medium"]
        service = insights.keys_of("service:cart-service")
        assert service is not None
        assert list(service.keys[DEPLOYMENT_FREQUENCY].evidence) == [f"{AUDIT_SOURCE}:ship-cov"]
        owner = insights.owners["cart-service"]
        assert cells(keys, f"team:{owner}")[1:6] == cells(keys, "service:cart-service")[1:6]
        assert insights.organisation.level is not None
        assert insights.organisation.level.value == "medium"
        # The scorecards count the trail's deploy as the four keys do.
        card = insights.card_of("cart-service")
        assert card is not None
        assert {r.rule.id: r.status for r in card.results}["deployed-recently"] == "pass"
        others = [c for c in insights.cards if c.service != "cart-service"
                  and any(r.rule.id == "deployed-recently" for r in c.results)]
        assert others and all({r.rule.id: r.status for r in c.results}["deployed-recently"]
                              == "error" for c in others)
    # ``idp-tui dora`` and ``idp-tui scorecards`` say the same.
    value = await asyncio.to_thread(cli_dora, config, data_dir, clock, "--window", "30d",
                                    "--evidence")
    org = value["results"][0]
    assert org["level"] == "medium" and org["coverage"]["covered"] == 1
    assert org["keys"][DEPLOYMENT_FREQUENCY]["evidence"] == [f"{AUDIT_SOURCE}:ship-cov"]
    teams = {t["name"]: t for t in value["results"][1:]}
    assert teams[owner]["level"] == "medium"
    assert all(unknown(t) for name, t in teams.items() if name != owner)
    counted = await asyncio.to_thread(cli_scorecards, config, data_dir, clock)
    cards = {c["service"]: c for c in counted["services"]}
    assert {r["rule"]: r["status"] for r in cards["cart-service"]["results"]}[
        "deployed-recently"] == "pass"


def cli_scorecards(config: AppConfig, data_dir: Path, clock: ManualClock) -> Any:
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args=build_parser().parse_args(["scorecards", "--json"]),
                  out=Output(json=True, stdout=out, stderr=err), folder=data_dir,
                  _config=config, _clock=clock)
    assert scorecards(ctx) == EXIT_OK, err.getvalue()
    return json.loads(out.getvalue())


async def test_a_covered_service_that_never_reached_production_is_low(
        data_dir: Path, clock: ManualClock) -> None:
    # The source keeps delivery history and lists alpha, beta and gamma: only alpha deployed.
    HistorySource.asked = []
    app = IdpApp(app_config(spec("recording", HistorySource)), data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        insights = pane.insights
        assert insights is not None
        assert dict(insights.coverage.missing) == {}
        keys = pane.query_one("#insights-keys", KeyedTable)
        assert cells(keys, "service:beta")[1:6] == ["0.0/month =", DASH, DASH, DASH, "low"]
        beta = insights.keys_of("service:beta")
        assert beta is not None and beta.level is not None and beta.level.value == "low"
        assert all(beta.keys[k].level is None for k in KEYS[1:])


async def test_a_deploy_in_the_trail_counts_the_scorecards_again(
        tmp_path: Path, data_dir: Path, clock: ManualClock) -> None:
    """The dashboard's one scorecard count (the Catalog's levels too) is made again when the
    audit trail grew (here by another idp-tui, nothing else changed), not only when asked
    afresh."""
    from idp_tui.insights.rules import configured_rules
    from idp_tui.insights.scoring import scored, scorer_of

    config: AppConfig = sandbox_config(tmp_path, NoHistorySandbox)
    app = IdpApp(config, data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        rules = configured_rules(app.config)
        assert scorer_of(app.hub).trail is app.runtime.actions.audit
        first = await scored(app.hub, clock.now(), rules)
        assert await scored(app.hub, clock.now(), rules) is first  # nothing changed
        card = next(c for c in first.cards if c.service == "cart-service")
        assert {r.rule.id: r.status for r in card.results}["deployed-recently"] == "error"
        await asyncio.to_thread(trail_deploy, data_dir, "cart-service", "elsewhere-1",
                                (T0 - timedelta(days=3)).isoformat())
        again = await scored(app.hub, clock.now(), rules)
        assert again is not first
        card = next(c for c in again.cards if c.service == "cart-service")
        assert {r.rule.id: r.status for r in card.results}["deployed-recently"] == "pass"
