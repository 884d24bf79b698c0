"""``idp-tui cost``, run as the real command in a child process on a fresh sandbox: the tables
and their totals agree, ``--json``'s shape, ``--team``, the ``[cost]`` prices, bad input said
clearly (exit 2), and ``idp-tui advise`` showing the sandbox's waste and capacity advice."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp_tui.cli.output import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE

from test_cli_dora import Run, as_json, run  # noqa: F401 - the sandbox CLI fixture


def test_cost_json_per_service_team_and_environment_add_up(run: Run) -> None:
    data = as_json(run("cost", "--json"))
    assert set(data) == {"window", "hours", "currency", "prices", "team", "as_of", "deployments",
                         "services", "teams", "environments", "total", "errors"}
    assert (data["window"], data["hours"], data["currency"], data["errors"]) == (
        "30d", 720.0, "USD", [])
    assert data["prices"] == {"cpu_per_core_hour": 0.031611, "memory_per_gib_hour": 0.004237,
                              "source": "[cost] in the config"}
    deployments = data["deployments"]
    # Every sandbox deployment runs with requests: 40 services in three environments, and two
    # in each of the two preview environments a fresh sandbox starts with.
    fixed = {"dev", "staging", "production"}
    assert len([d for d in deployments if d["environment"] in fixed]) == 120
    previews = {d["environment"] for d in deployments} - fixed
    assert len(previews) == 2 and all(name.startswith("pr-") for name in previews)
    assert len(deployments) == 120 + 2 * 2
    assert set(deployments[0]) == {"service", "team", "environment", "replicas", "cpu_cores",
                                   "memory_gib", "basis", "hourly", "cost"}
    assert {d["basis"] for d in deployments} <= {"requests", "requests and use"}
    assert any(d["basis"] == "requests and use" for d in deployments)
    for d in deployments:  # the price of what is charged, over 720 hours
        hourly = d["cpu_cores"] * 0.031611 + d["memory_gib"] * 0.004237
        assert d["hourly"] == pytest.approx(hourly, abs=1e-4)
        assert d["cost"] == pytest.approx(d["hourly"] * 720, abs=0.01)
    costs = [d["cost"] for d in deployments]
    assert costs == sorted(costs, reverse=True)
    total = sum(d["hourly"] for d in deployments) * 720
    assert data["total"] == pytest.approx(total, abs=0.05)
    for part in ("services", "teams", "environments"):
        assert sum(t["cost"] for t in data[part]) == pytest.approx(data["total"], abs=0.5)
    assert {e["name"] for e in data["environments"]} == fixed | previews
    assert len(data["services"]) == 40
    assert sum(t["deployments"] for t in data["teams"]) == len(deployments)


def test_cost_of_one_team_over_a_week_in_the_configured_currency(run: Run,
                                                                  tmp_path: Path) -> None:
    whole = as_json(run("cost", "--json"))
    team = as_json(run("cost", "--team", "payments", "--window", "7d", "--json"))
    assert team["team"] == "team-payments" and team["hours"] == 168.0
    assert {d["team"] for d in team["deployments"]} == {"team-payments"}
    assert [t["name"] for t in team["teams"]] == ["team-payments"]
    mine = next(t for t in whole["teams"] if t["name"] == "team-payments")
    assert team["total"] == pytest.approx(mine["cost"] * 7 / 30, abs=0.05)

    text = run("cost", "--team", "team-payments")
    assert text.returncode == EXIT_OK, text.stderr
    for title in ("SERVICE", "TEAM", "ENV", "COST (30d)", "total"):
        assert title in text.stdout
    assert "USD over 30d at the current requests and use" in text.stdout

    config = tmp_path / "config.toml"
    config.write_text(config.read_text() + "\n[cost]\ncpu_per_core_hour = 0.1\n"
                      "memory_per_gib_hour = 0\ncurrency = \"EUR\"\n")
    priced = as_json(run("cost", "--json"))
    assert priced["currency"] == "EUR"
    for d in priced["deployments"]:
        assert d["hourly"] == pytest.approx(d["cpu_cores"] * 0.1, abs=1e-4)


@pytest.mark.parametrize(("args", "words"), [
    (("--window", "30x"), "expected a duration such as 30s, 10m, 2h or 1d, got '30x'"),
    (("--window", "0d"), "expected a duration between 1s and"),
    (("--window", "400d"), "expected a duration between 1s and"),
    (("--team", ""), "expected a team name, got an empty text"),
])
def test_bad_input_is_exit_2_with_a_sentence(run: Run, args: tuple[str, ...], words: str) -> None:
    result = run("cost", *args)
    assert result.returncode == EXIT_USAGE
    assert words in result.stderr and result.stdout == ""


def test_an_unknown_team_is_not_found_with_the_teams_named(run: Run) -> None:
    result = run("cost", "--team", "nobody")
    assert result.returncode == EXIT_NOT_FOUND
    assert "no team 'nobody' owns a service" in result.stderr
    assert "team-payments" in result.stderr


def test_a_fresh_sandbox_is_advised_on_its_waste_and_capacity(run: Run) -> None:
    recs = as_json(run("advise", "--json"))["recommendations"]
    waste = [r for r in recs if r["rule"] == "waste"]
    capacity = [r for r in recs if r["rule"] == "capacity"]
    assert waste and capacity
    for rec in waste + capacity:
        assert rec["monthly_cost"] > 0 and rec["currency"] == "USD"
        assert rec["evidence"]["start"] and rec["evidence"]["end"]
    scale_in = [r for r in waste if r["remedy"]]
    assert scale_in
    for rec in scale_in:
        figures = {f["name"]: f["value"] for f in rec["evidence"]["figures"]}
        assert rec["remedy"]["kind"] == "scale"
        assert rec["remedy"]["replicas"] < figures["replicas"]
        assert figures["saved a month"] == rec["monthly_cost"]
    [hot] = capacity
    assert hot["environment"] == "production" and hot["severity"] == "medium"
    assert hot["remedy"]["kind"] == "scale"
    assert hot["remedy"]["replicas"] > {f["name"]: f["value"]
                                        for f in hot["evidence"]["figures"]}["replicas"]
    # Among recommendations of one severity, more money first.
    low = [r["monthly_cost"] or 0 for r in recs if r["severity"] == "low"]
    assert low == sorted(low, reverse=True)


def test_advise_prints_the_scale_command_with_its_replicas(run: Run) -> None:
    recs = as_json(run("advise", "--json"))["recommendations"]
    scale = next(r for r in recs if r["rule"] == "waste" and r["remedy"])
    remedy = scale["remedy"]
    text = run("advise", "--service", scale["service"], "--env", scale["environment"])
    assert text.returncode == EXIT_OK, text.stderr
    assert (f"idp-tui scale {remedy['service']} --env {remedy['environment']} "
            f"--replicas {remedy['replicas']}") in text.stdout
