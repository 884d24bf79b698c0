"""``idp-tui scorecards`` run as the real command in a child process on the sandbox: levels that
follow from the rules' results, the teams' roll-up, the filters, ``--fail-under`` as a CI gate,
rule files from the config dir, the config and ``--rules``, and bad rule files (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idp_tui.cli.insights import EXIT_BELOW
from idp_tui.cli.output import EXIT_OK, EXIT_SOURCE, EXIT_USAGE

from fakes_history import failing_history_cli
from test_cli_instances import Run, runner

RANK = {"none": -1, "bronze": 0, "silver": 1, "gold": 2}


def sandbox_config(tmp_path: Path, extra: str = "") -> str:
    return (f'[sources.sandbox]\ntype = "sandbox"\n'
            f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n{extra}')


@pytest.fixture
def sandbox(tmp_path: Path) -> Run:
    return runner(tmp_path, sandbox_config(tmp_path))


def expected_level(results: list[dict[str, Any]]) -> str:
    failed = [RANK[r["level"]] for r in results if r["status"] != "pass"]
    lowest = min(failed) if failed else 3
    return ["none", "bronze", "silver", "gold"][lowest]


def test_sandbox_scorecards_levels_rollup_filters_and_gate(sandbox: Run) -> None:
    result = sandbox("scorecards", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    data = json.loads(result.stdout)
    services = data["services"]
    assert len(services) >= 30 and data["errors"] == []
    assert {r["id"] for r in data["rules"]} >= {"owner", "runbook", "default-branch-green",
                                                "change-failure-rate", "tier1-replicas"}
    for card in services:
        assert card["level"] == expected_level(card["results"]), card
        assert card["passed"] == sum(r["status"] == "pass" for r in card["results"])
        for r in card["results"]:
            assert ("fix" in r) == (r["status"] != "pass")
    # The facts come from every kind of source the sandbox has: catalog, runtime, pipelines,
    # delivery.
    facts = {name for card in services for r in card["results"] for name in r["facts"]}
    assert {"has_owner", "production_replicas", "default_branch_green",
            "change_failure_rate"} <= facts
    levels = {card["level"] for card in services}
    assert len(levels) >= 2, levels  # the teams differ
    # Teams roll up: counts add up to the services, shares to one.
    teams = {t["team"]: t for t in data["teams"]}
    assert sum(t["services"] for t in teams.values()) == len(services)
    for team in teams.values():
        owned = [c for c in services if c["owner"] == team["team"]]
        assert team["levels"] == {name: sum(c["level"] == name for c in owned) for name in RANK}
        assert sum(team["shares"].values()) == pytest.approx(1.0, abs=1e-3)

    # --fail-under: exit code 6 naming the services below; 0 at the lowest level found.
    lowest = min(levels, key=RANK.__getitem__)
    highest = max(levels, key=RANK.__getitem__)
    below = sorted(c["service"] for c in services if RANK[c["level"]] < RANK[highest])
    gated = sandbox("scorecards", "--json", "--fail-under", highest)
    assert gated.returncode == EXIT_BELOW
    assert json.loads(gated.stdout)["below"] == below
    error = json.loads(gated.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == EXIT_BELOW and f"below {highest}" in error["message"]
    if lowest != "none":
        assert sandbox("scorecards", "--fail-under", lowest).returncode == EXIT_OK

    # --team, --failing and --level, as text.
    team = next(c["owner"] for c in services if c["level"] != "gold")
    owned = [c for c in services if c["owner"] == team]
    text = sandbox("scorecards", "--team", team, "--failing")
    assert text.returncode == EXIT_OK, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "OWNER", "LEVEL", "PASSED", "NOT", "PASSING"]
    failing = [c for c in owned if c["level"] != "gold"]
    for card in failing:
        assert f"{card['service']} ({card['level']})" in lines
    for card in owned:
        if card not in failing and all(r["status"] == "pass" for r in card["results"]):
            assert not any(line.startswith(card["service"] + " ") for line in lines)
    assert sum(line.strip().startswith("fix:") for line in lines) == sum(
        len(c["results"]) - c["passed"] for c in owned)
    at = sandbox("scorecards", "--json", "--level", lowest)
    assert [c["service"] for c in json.loads(at.stdout)["services"]] == sorted(
        c["service"] for c in services if c["level"] == lowest)


def test_rule_files_from_the_config_dir_the_config_and_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "scorecards.toml").write_text("""
[[rules]]
id = "owned"
title = "Owned by a team"
level = "bronze"
expr = 'owner.startsWith("team-")'
fix = "Give it to a team."
""")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "more.yaml").write_text("""
rules:
  - id: tier-one-replicas
    title: Tier 1 has two replicas in production
    level: gold
    applies_to: {tier: [1]}
    check: {fact: production_replicas, at_least: 2}
    fix: Scale it.
""")
    run = runner(tmp_path, sandbox_config(
        tmp_path, '[scorecards]\npaths = ["rules/more.yaml"]\ndefaults = false\n'))
    result = run("scorecards", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    data = json.loads(result.stdout)
    assert [(r["id"], Path(r["origin"]).name) for r in data["rules"]] == [
        ("owned", "scorecards.toml"), ("tier-one-replicas", "more.yaml")]
    for card in data["services"]:
        assert {r["rule"] for r in card["results"]} <= {"owned", "tier-one-replicas"}
        assert card["level"] != "none"  # every sandbox service is owned by a team-*

    # --rules adds a file after them; one that turns a rule off.
    off = tmp_path / "off.toml"
    off.write_text('[[rules]]\nid = "owned"\nenabled = false\n')
    result = run("scorecards", "--json", "--rules", str(off))
    assert [r["id"] for r in json.loads(result.stdout)["rules"]] == ["tier-one-replicas"]


def test_a_bad_rule_file_is_exit_code_2_naming_file_rule_and_problem(sandbox: Run,
                                                                    tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "fast"\ntitle = "Fast"\nlevel = "gold"\n'
                   'expr = "lead_time_hours <"\nfix = "Ship faster."\n\n'
                   '[[rules]]\nid = "typo"\ntitle = "T"\nlevel = "silver"\n'
                   'check = { fact = "has_runbok", equals = true }\nfix = "f"\n')
    result = sandbox("scorecards", "--rules", str(bad))
    assert result.returncode == EXIT_USAGE
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(f"{bad} (rule 'fast'): `expr` is not valid CEL" in line for line in lines), lines
    assert any(f"{bad} (rule 'typo'): unknown fact 'has_runbok'" in line for line in lines)
    as_json = sandbox("scorecards", "--json", "--rules", str(bad))
    error = json.loads(as_json.stderr.splitlines()[0])["error"]
    assert as_json.returncode == EXIT_USAGE and error["code"] == EXIT_USAGE
    assert "rule 'fast'" in error["message"]
    missing = sandbox("scorecards", "--rules", str(tmp_path / "nope.toml"))
    assert missing.returncode == EXIT_USAGE and "rule file not found" in missing.stderr
    usage = sandbox("scorecards", "--fail-under", "platinum")
    assert usage.returncode == EXIT_USAGE and "invalid choice: 'platinum'" in usage.stderr


def test_a_history_source_that_fails_leaves_the_delivery_rules_unknown(tmp_path: Path) -> None:
    """The only source of delivery history fails: the rules that need it error (unknown), none
    fails as if nothing had been deployed, and the command exits 4 naming the source."""
    run = failing_history_cli(tmp_path)
    result = run("scorecards", "--json")
    assert result.returncode == EXIT_SOURCE
    assert "history: unreachable: the history server is down" in result.stderr
    data = json.loads(result.stdout)
    assert [e["source"] for e in data["errors"]] == ["history"]
    delivery = [r for card in data["services"] for r in card["results"]
                if r["rule"] in ("deployed-recently", "change-failure-rate")]
    assert delivery and {r["status"] for r in delivery} == {"error"}
    assert all("delivery history" in r["message"] for r in delivery)
