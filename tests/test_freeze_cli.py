"""The freeze bypass, closed, as a user meets it (issue 14, item 1): ``idp-tui rollback`` run as a
subprocess on the sandbox, with the clock frozen inside a freeze window of production.

``rollback --version NEWER`` used to put new code into a frozen, protected environment with exit 0;
now a rollback to a version that has not run there before (or a newer one) is a deploy for the
policy: exit 3 with the reason. A true rollback to the previous version stays allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idp_tui.policy import compare_versions
from test_cli_commands import Cli, fake_plugins, json_error  # noqa: F401 - fake_plugins: a fixture

CLOCK = {"IDP_TUI_CLOCK": "2026-11-25T14:00:00Z"}
FREEZE = """
[[policy.freeze]]
environments = ["production"]
start = 2026-11-20T00:00:00Z
end = 2026-12-01T09:00:00Z
reason = "end-of-year freeze"
"""
FROZEN = "production is frozen for deploys until 2026-12-01 09:00 UTC (end-of-year freeze)."
SERVICE = "billing-service"


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path) -> Cli:  # noqa: F811 - the imported fixture
    return Cli(tmp_path, fake_plugins, FREEZE)


def run(cli: Cli, *args: str) -> Any:
    return cli.run(*args, env=CLOCK)


def running(cli: Cli) -> str:
    data = cli.json("envs", "--service", SERVICE, "--env", "production", env=CLOCK)
    (found,) = data["deployments"]
    return found["version"]


def newer_version(cli: Cli) -> str:
    """A version the source offers that is newer than the one running in production."""
    current = running(cli)
    versions = cli.json("versions", SERVICE, "--env", "production", env=CLOCK)["versions"]
    return next(v["version"] for v in versions if compare_versions(v["version"], current) == 1)


def test_a_rollback_to_a_newer_version_is_refused_in_a_freeze(cli: Cli) -> None:
    before = running(cli)
    newer = newer_version(cli)
    result = run(cli, "rollback", SERVICE, "--env", "production", "--version", newer, "--yes",
                 "--reason", "x")
    assert result.returncode == 3, result.stderr
    assert f"rolling back to {newer}, which has never run in production, is a deploy: " \
           f"{FROZEN}" in result.stderr
    assert "a rollback to a version that ran there before" in result.stderr
    assert running(cli) == before
    (denied,) = list(cli.audit.records())
    assert denied["phase"] == "denied" and denied["version"] == newer
    assert denied["decision"]["rule"] == "freeze" and denied["decision"]["acts_as"] == "deploy"
    # The same refusal, as JSON.
    result = run(cli, "rollback", SERVICE, "--env", "production", "--version", newer, "--yes",
                 "--reason", "x", "--json")
    error = json_error(result)
    assert error["type"] == "denied" and error["rule"] == "freeze"
    assert "is a deploy" in error["message"]


def test_a_true_rollback_is_allowed_in_a_freeze_and_rolling_forward_again_is_not(
        cli: Cli) -> None:
    before = running(cli)
    out = cli.ok("rollback", SERVICE, "--env", "production", "--yes", "--reason", "INC-7",
                 env=CLOCK)
    previous = running(cli)
    assert compare_versions(previous, before) == -1
    assert f"what it does: rolling back to {previous}, which ran in production before, is a " \
           f"rollback" in out
    assert "✔ succeeded" in out
    # "Rolling back" once more would go back to the newer version that was just taken out.
    result = run(cli, "rollback", SERVICE, "--env", "production", "--yes", "--reason", "INC-7")
    assert result.returncode == 3, result.stderr
    assert f"rolling back to {before}, newer than {previous} running in production now, is a " \
           f"deploy: {FROZEN}" in result.stderr
    assert running(cli) == previous
    phases = [(r["phase"], r["decision"].get("acts_as")) for r in cli.audit.records()]
    assert phases == [("started", None), ("finished", None), ("denied", "deploy")]


def test_the_previous_version_named_with_version_is_a_true_rollback(cli: Cli) -> None:
    plan = cli.json("rollback", SERVICE, "--env", "production", "--yes", "--reason", "x",
                    "--dry-run", env=CLOCK)
    previous = plan["plan"]["target_version"]
    out = cli.ok("rollback", SERVICE, "--env", "production", "--version", previous, "--yes",
                 "--reason", "x", env=CLOCK)
    assert "is a rollback" in out
    assert running(cli) == previous


def test_a_dry_run_says_what_the_rollback_does(cli: Cli) -> None:
    before = running(cli)
    newer = newer_version(cli)
    result = run(cli, "rollback", SERVICE, "--env", "production", "--version", newer, "--yes",
                 "--reason", "x", "--dry-run")
    assert result.returncode == 3
    assert f"what it does: rolling back to {newer}, which has never run in production, is a " \
           f"deploy" in result.stdout
    assert f"policy: denied (rolling back to {newer}" in result.stdout
    allowed = cli.ok("rollback", SERVICE, "--env", "production", "--yes", "--reason", "x",
                     "--dry-run", env=CLOCK)
    assert "which ran in production before, is a rollback" in allowed
    assert "dry run: nothing was changed" in allowed
    data = cli.json("rollback", SERVICE, "--env", "production", "--yes", "--reason", "x",
                    "--dry-run", env=CLOCK)
    assert data["decision"]["allowed"] and data["decision"]["acts_as"] is None
    assert running(cli) == before
    assert list(cli.audit.records()) == []


def test_outside_a_freeze_the_rollback_to_a_new_version_runs_and_says_it_is_a_deploy(
        cli: Cli) -> None:
    cli.write_config("")
    newer = newer_version(cli)
    out = cli.ok("rollback", SERVICE, "--env", "production", "--version", newer, "--yes",
                 "--reason", "x", env=CLOCK)
    assert f"what it does: rolling back to {newer}, which has never run in production, is a " \
           f"deploy" in out
    assert running(cli) == newer
    finished = [r for r in cli.audit.records() if r["phase"] == "finished"]
    assert finished[0]["target_version"] == newer


def test_the_freeze_still_denies_a_deploy_and_allows_other_fixes(cli: Cli) -> None:
    newer = newer_version(cli)
    result = run(cli, "deploy", SERVICE, "--env", "production", "--version", newer, "--yes",
                 "--reason", "x")
    assert result.returncode == 3 and FROZEN in result.stderr
    assert "rolling back" not in result.stderr
    assert run(cli, "restart", SERVICE, "--env", "production", "--yes", "--reason",
               "x").returncode == 0
