"""``idp-tui advise``, run as the real command in a child process on a fresh sandbox: the bad
release the sandbox's production starts on is found as a post-deploy regression with its rollback,
the red default branches with their failed run, the filters, the CI gate (exit code 6), what was
dismissed left out, and bad input said clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from idp_tui.advisor import Dismissals
from idp_tui.cli.advise import EXIT_GATE
from idp_tui.cli.output import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE

from test_cli_dora import Run, as_json, error, run  # noqa: F401 - the sandbox CLI fixture


def test_a_fresh_sandbox_gets_its_bad_release_and_red_branches_advised(run: Run,
                                                                      tmp_path: Path) -> None:
    data = as_json(run("advise", "--json"))
    recs = data["recommendations"]
    assert data["rules"][:4] == ["post-deploy-regression", "rollout-failing", "drift",
                                 "red-default-branch"]
    regression = [r for r in recs if r["rule"] == "post-deploy-regression"
                  and r["environment"] == "production"]
    assert len(regression) == 1, recs
    rec = regression[0]
    assert rec["severity"] == "high" and recs[0] == rec  # the most urgent first
    assert rec["remedy"]["kind"] == "rollback"
    assert rec["remedy"]["service"] == rec["service"]
    assert rec["remedy"]["environment"] == "production"
    figures = {f["name"]: f["value"] for f in rec["evidence"]["figures"]}
    assert figures["error ratio after"] > figures["error ratio before"] + 0.05
    assert figures["requests after"] > 1000
    assert rec["evidence"]["source"] == "sandbox"
    # The deploy was 40 minutes before the clock; the evidence starts at its baseline.
    start = datetime.fromisoformat(rec["evidence"]["start"])
    assert start == datetime(2026, 11, 25, 14, 0, tzinfo=UTC) - timedelta(minutes=40 + 120)
    red = [r for r in recs if r["rule"] == "red-default-branch"]
    assert red and all(r["opens"]["run_id"] and r["remedy"] is None for r in red)
    assert data["errors"] == [] and data["hidden"] == 0
    # The text: the rollback command beside the finding, the figures with --evidence.
    text = run("advise", "--evidence")
    assert text.returncode == EXIT_OK
    assert f"idp-tui rollback {rec['service']} --env production" in text.stdout
    assert "conditional Poisson rate test" in text.stdout and "error ratio after:" in text.stdout

    # Dismissed: left out on the next run, and counted.
    Dismissals.in_folder(tmp_path / "data").dismiss(rec["id"], datetime.now(UTC))
    again = as_json(run("advise", "--json"))
    assert rec["id"] not in {r["id"] for r in again["recommendations"]}
    assert again["hidden"] == 1


def test_filters_and_the_gate(run: Run) -> None:
    everything = as_json(run("advise", "--json"))["recommendations"]
    service = everything[0]["service"]
    only = as_json(run("advise", "--json", "--service", service))["recommendations"]
    assert only and {r["service"] for r in only} == {service}
    prod = as_json(run("advise", "--json", "--env", "production"))["recommendations"]
    assert prod and all(r["environment"] in (None, "production") for r in prod)
    gate = run("advise", "--fail-on", "high", "--json")
    assert gate.returncode == EXIT_GATE == 6
    assert error(gate)["type"] == "gate"
    assert json.loads(gate.stdout)["recommendations"]  # printed before the gate shut
    assert run("advise", "--fail-on", "critical").returncode == EXIT_OK


def test_bad_input(run: Run) -> None:
    missing = run("advise", "--service", "no-such-service", "--json")
    assert missing.returncode == EXIT_NOT_FOUND
    assert "no-such-service" in error(missing)["message"]
    assert run("advise", "--env", "nowhere").returncode == EXIT_NOT_FOUND
    assert run("advise", "--fail-on", "severe").returncode == EXIT_USAGE


def test_the_advisor_settings_come_from_the_config(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    base = config.read_text()
    config.write_text(base + '[advisor]\ndisabled = ["post-deploy-regression"]\n'
                             "red_branch_minutes = 525600\n")
    data = as_json(run("advise", "--json"))
    assert "post-deploy-regression" not in data["rules"]
    assert not any(r["rule"] in ("post-deploy-regression", "red-default-branch")
                   for r in data["recommendations"])
    config.write_text(base + "[advisor]\ndrift_hours = -1\n")
    bad = run("advise", "--json")
    assert bad.returncode == EXIT_USAGE
    assert "drift_hours" in error(bad)["message"] + bad.stderr
