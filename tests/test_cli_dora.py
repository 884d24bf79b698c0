"""``idp-tui dora``, run as the real command in a child process on the sandbox: the four keys of the
organisation and each team, of a team's services and of one service, the gate for CI, the
history kept in the data dir, and the deploys made through idp-tui counted once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui import HistoryQuery
from idp_tui.audit import AuditLog
from idp_tui.cli.insights import EXIT_BELOW
from idp_tui.cli.output import EXIT_NOT_FOUND, EXIT_OK, EXIT_SOURCE, EXIT_USAGE
from idp_tui.insights.audit_history import AUDIT_SOURCE, audit_history, without_sources
from idp_tui.insights.cache import CACHE_FILE, MAX_DAYS

from fakes_history import failing_history_cli

TIMEOUT = 180
CLOCK = "2026-11-25T14:00:00Z"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n'
                      'action_speed = 100000\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": CLOCK, "NO_COLOR": "1"})

    def run(*args: str, clock: str = CLOCK) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env={**env, "IDP_TUI_CLOCK": clock}, timeout=TIMEOUT,
                                check=False, stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == EXIT_OK, result.stderr
    return json.loads(result.stdout)


def error(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    found = [line["error"] for line in lines if "error" in line]
    assert len(found) == 1, result.stderr
    return found[0]


def test_the_organisation_and_its_teams_then_kept_for_the_next_run(run: Run,
                                                                   tmp_path: Path) -> None:
    value = as_json(run("dora", "--json", "--window", "30d"))
    assert value["window_days"] == 30 and value["production"] == ["production"]
    assert value["errors"] == []
    org, *teams = value["results"]
    assert (org["scope"], org["name"]) == ("organisation", "organisation")
    assert org["end"] == "2026-11-25T14:00:00+00:00"
    assert "evidence" not in org["keys"]["deployment_frequency"]  # without --evidence
    by_team = {t["name"]: t for t in teams}
    assert {t["scope"] for t in teams} == {"team"}
    assert by_team["team-platform"]["level"] == "elite"
    assert by_team["team-data"]["level"] == "low"
    assert sum(t["keys"]["change_failure_rate"]["counted"] for t in teams) == \
        org["keys"]["change_failure_rate"]["counted"]
    assert len(org["weekly"]) == 4
    assert all(k["trend"] in ("better", "worse", "same", None) for k in org["keys"].values())
    # The history fetched is kept, bounded, for the next run.
    kept = json.loads((tmp_path / "data" / CACHE_FILE).read_text())
    assert kept["sources"] == ["sandbox"]
    until = datetime(2026, 11, 25, 14, tzinfo=UTC).timestamp()
    assert kept["until"] == until and kept["since"] >= until - MAX_DAYS * 86400
    assert len(kept["deploys"]) > 1000
    # A day later: only the day is asked for; the same older numbers.
    later = as_json(run("dora", "--json", "--window", "30d", clock="2026-11-26T14:00:00Z"))
    again = json.loads((tmp_path / "data" / CACHE_FILE).read_text())
    assert again["until"] == until + 86400
    # (the sandbox's history after its seeding grows by the actions run: none here)
    assert {json.dumps(d) for d in kept["deploys"]} <= {json.dumps(d) for d in again["deploys"]}
    assert later["results"][0]["end"] == "2026-11-26T14:00:00+00:00"
    # Text: a table with a row per scope.
    text = run("dora", "--window", "7d").stdout
    assert text.splitlines()[0].split() == ["SCOPE", "NAME", "DEPLOYS", "LEAD", "TIME",
                                            "CHANGE", "FAIL", "RESTORE", "LEVEL", "COUNTED"]
    assert "team-platform" in text and "last 7 days to 2026-11-25 14:00 UTC" in text


def test_one_service_with_its_evidence_and_a_deploy_made_through_idp_tui(run: Run,
                                                                         tmp_path: Path) -> None:
    versions = json.loads(run("versions", "cart-service", "--env", "production",
                              "--json").stdout)
    target = next(v["version"] for v in versions["versions"] if not v.get("current"))
    deploy = run("deploy", "cart-service", "--env", "production", "--version", target,
                 "--yes", "--reason", "ship it", "--id", "ship-1")
    assert deploy.returncode == EXIT_OK, deploy.stderr
    value = as_json(run("dora", "--service", "cart-service", "--window", "7d", "--json"))
    (result,) = value["results"]
    assert (result["scope"], result["name"]) == ("service", "cart-service")
    cfr = result["keys"]["change_failure_rate"]
    evidence = cfr["evidence"]
    assert cfr["counted"] == len(evidence)
    assert cfr["value"] == pytest.approx(len(cfr.get("reasons", {})) / len(evidence))
    # The deploy counts once: as the sandbox reports it, not again from the audit log.
    assert evidence.count("sandbox:action:ship-1") == 1
    assert not [e for e in evidence if e.startswith(f"{AUDIT_SOURCE}:")]
    assert result["keys"]["deployment_frequency"]["evidence"][-1] == "sandbox:action:ship-1"
    assert all(e.startswith("sandbox:") for e in result["keys"]["lead_time"]["evidence"])


def test_a_team_and_the_gate_for_ci(run: Run) -> None:
    data = run("dora", "--team", "data", "--fail-under", "medium", "--json")
    assert data.returncode == EXIT_BELOW
    assert error(data)["message"] == "team team-data: low, below medium"
    team, *services = json.loads(data.stdout)["results"]
    assert team["name"] == "team-data" and services
    assert {s["scope"] for s in services} == {"service"}
    assert run("dora", "--team", "team-platform", "--fail-under", "elite").returncode == EXIT_OK
    unknown = run("dora", "--team", "nobody", "--json")
    assert unknown.returncode == EXIT_NOT_FOUND
    assert "team-platform" in error(unknown)["hint"]
    assert run("dora", "--window", "5d").returncode == EXIT_USAGE
    assert run("dora", "--fail-under", "gold").returncode == EXIT_USAGE


def test_the_audit_log_is_a_history_of_its_own(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    t0 = datetime(2026, 11, 25, 14, tzinfo=UTC)

    def record(action_id: str, phase: str, minutes: int, **more: Any) -> None:
        log.append({"action_id": action_id, "phase": phase, "action": more.pop("action", "deploy"),
                    "service": "orders", "environment": "production", "source": more.pop(
                        "source", "argo"), "actor": "ana",
                    "time": (t0 + timedelta(minutes=minutes)).isoformat(), **more})

    record("a1", "started", 0)
    record("a1", "finished", 3, outcome="succeeded", target_version="2.0.0")
    record("a2", "started", 10, action="rollback")
    record("a2", "finished", 12, action="rollback", outcome="failed")
    record("a3", "denied", 20, outcome="denied")
    record("a4", "finished", 30, action="scale", outcome="succeeded")
    record("a5", "finished", 40, outcome="succeeded", source="sandbox")
    query = HistoryQuery(start=t0, end=t0 + timedelta(hours=1))
    history, ran_by = audit_history(log.records(), query)
    assert [(e.id, e.kind.value, e.outcome.value) for e in history.deliveries] == [
        ("a1", "deploy", "succeeded"), ("a2", "rollback", "failed"), ("a5", "deploy", "succeeded")]
    first = history.deliveries[0]
    assert (first.started, first.finished, first.version, first.actor, first.source) == (
        t0, t0 + timedelta(minutes=3), "2.0.0", "ana", AUDIT_SOURCE)
    assert [e.id for e in without_sources(history, ran_by, ["sandbox"]).deliveries] == ["a1", "a2"]
    narrow = HistoryQuery(start=t0 + timedelta(minutes=5), end=t0 + timedelta(hours=1),
                          service="orders", environment="production")
    assert [e.id for e in audit_history(log.records(), narrow)[0].deliveries] == ["a2", "a5"]


def test_a_history_source_that_fails_counts_nothing_and_exits_4(tmp_path: Path) -> None:
    """The only source of delivery history fails: no table of zeros pretending to be a count.
    Every row is "–" (not known, no level), says why, and the command exits 4 naming the
    source on stderr; a gate is not passed."""
    run = failing_history_cli(tmp_path)
    said = "the delivery history of its 3 services (alpha, beta, gamma) could not be read " \
           "(history: unreachable: the history server is down)"
    text = run("dora")
    assert text.returncode == EXIT_SOURCE
    assert "history: unreachable: the history server is down" in text.stderr
    assert "hint: is it running?" in text.stderr
    rows = {line.split()[1]: line.split()[2:] for line in text.stdout.splitlines()[1:3]}
    assert rows == {"organisation": ["–"] * 6, "team-a": ["–"] * 6}
    assert f"– the organisation: not known: {said}" in text.stdout
    value = run("dora", "--json", "--evidence")
    assert value.returncode == EXIT_SOURCE
    assert error(value)["type"] == "source"
    org, team = json.loads(value.stdout)["results"]
    for result in (org, team):
        assert result["level"] is None
        assert {k: v["value"] for k, v in result["keys"].items()} == dict.fromkeys(
            result["keys"])
        assert result["coverage"]["known"] is False and result["coverage"]["covered"] == 0
    assert org["coverage"]["reason"] == said
    assert json.loads(value.stdout)["errors"][0]["source"] == "history"
    one = run("dora", "--service", "beta", "--json")
    assert one.returncode == EXIT_SOURCE
    (service,) = json.loads(one.stdout)["results"]
    assert service["level"] is None and service["coverage"]["reason"] == (
        "the delivery history of beta could not be read (history: unreachable: the history "
        "server is down)")
    assert run("dora", "--fail-under", "low").returncode == EXIT_SOURCE
    # The catalog fails too: no service, no team known; the organisation is not known either.
    alone = failing_history_cli(tmp_path / "alone", 'catalog_fails = true\n')("dora", "--json")
    assert alone.returncode == EXIT_SOURCE
    (org,) = json.loads(alone.stdout)["results"]
    assert org["level"] is None and org["keys"]["deployment_frequency"]["value"] is None
    assert org["coverage"]["reason"] == ("no delivery history could be read (history: "
                                         "unreachable: the history server is down)")
