"""``idp-tui rerun|approve|reject|dispatch`` against the GitHub API emulator (real subprocesses,
real sockets): approving a run waiting for review lets it go on and is judged as a deploy (a
protected environment needs --yes and --reason, a freeze stops it), rejecting ends it, both
are in the audit log before and after; a workflow runs with its declared inputs, a bad value is
exit code 2 before anything is sent; one job is re-run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture
from test_github_actions_more import RELEASE, RELEASE_INPUTS

OCTO = "octo-org/octo-repo"


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as server:
        server.add_repo(OCTO, runs=5)
        server.add_workflow(OCTO, "Release", "release.yml", RELEASE, inputs=RELEASE_INPUTS,
                            options={"level": ["patch", "minor", "major"]})
        yield server


def checkout_source(gh: GithubServer) -> str:
    """The config of the source ``gh`` on the emulator: the service checkout is OCTO, deployed
    to dev, staging and production by its workflow deploy.yml."""
    return f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
repos = {{ checkout = "{OCTO}" }}
environments = ["dev", "staging", "production"]
poll_interval = 0.02

[sources.gh.deploy]
workflow = "deploy.yml"
'''


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> Cli:  # noqa: F811
    return Cli(tmp_path, fake_plugins, checkout_source(gh))


def audit(cli: Cli, action: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in cli.ok("audit", "--json", "--limit", "0")
               .splitlines()]
    return [r for r in records if r.get("action") == action]


def posts(gh: GithubServer, fragment: str) -> int:
    return sum(1 for method, path, _ in gh.log if method == "POST" and fragment in path)


def test_approve_a_waiting_run_in_production_and_it_goes_on(cli: Cli, gh: GithubServer) -> None:
    held = gh.add_run(OCTO, outcome="waiting")
    run = f"{OCTO}:{held.id}"
    # Approving lets a deploy to production go on: production is protected.
    denied = cli.run("approve", run)
    assert denied.returncode == 3, denied.stderr
    assert "production is a protected environment: pass --yes and --reason" in denied.stderr
    assert posts(gh, "/pending_deployments") == 0
    out = cli.ok("approve", run, "--yes", "--reason", "release checked")
    assert f"Approve the deployment of CI #{held.number} of {OCTO}" in out
    assert "what it does: approving a deployment to production lets a run deploy there: " \
           "it is judged as a deploy" in out
    assert "goes on" in out and "✔ succeeded" in out
    assert gh.reviews == [(held.id, "production", "approved", "release checked")]
    records = audit(cli, "approve")
    assert [r["phase"] for r in records] == ["denied", "started", "finished"]
    started, finished = records[1], records[2]
    assert (started["environment"], started["run_id"], started["reason"]) == (
        "production", run, "release checked")
    assert started["decision"]["acts_as"] == "deploy"
    assert finished["outcome"] == "succeeded"


def test_reject_a_waiting_run_and_it_ends(cli: Cli, gh: GithubServer) -> None:
    held = gh.add_run(OCTO, outcome="waiting")
    run = f"{OCTO}:{held.id}"
    lines = cli.json_lines("reject", run, "--yes", "--reason", "not today")
    result = lines[-1]
    assert result["type"] == "result" and result["state"] == "succeeded", result
    assert result["environment"] == "production" and result["run_id"] == run
    assert gh.run(held.id).conclusion == "failure"
    assert gh.reviews == [(held.id, "production", "rejected", "not today")]
    assert [r["phase"] for r in audit(cli, "reject")] == ["started", "finished"]
    # Nothing waits any more: said, exit 1, nothing sent.
    again = cli.run("approve", run, "--yes", "--reason", "late")
    assert again.returncode == 1 and "waits for no deployment review" in again.stderr
    assert posts(gh, "/pending_deployments") == 1


def test_a_freeze_stops_an_approval_but_not_a_rejection(cli: Cli, gh: GithubServer) -> None:
    config = cli.config.read_text()
    cli.config.write_text('[policy]\nfreeze = [{environments = ["production"], '
                          'start = 2000-01-01T00:00:00Z, end = 2999-01-01T00:00:00Z, '
                          'reason = "year end"}]\n' + config)
    held = gh.add_run(OCTO, outcome="waiting")
    run = f"{OCTO}:{held.id}"
    frozen = cli.run("approve", run, "--yes", "--reason", "urgent")
    assert frozen.returncode == 3, frozen.stderr
    assert "production is frozen for deploys" in frozen.stderr
    assert posts(gh, "/pending_deployments") == 0
    cli.ok("reject", run, "--yes", "--reason", "frozen")
    assert gh.run(held.id).conclusion == "failure"


def test_run_a_workflow_with_its_inputs_and_refuse_a_bad_one(cli: Cli, gh: GithubServer) -> None:
    bad = cli.run("dispatch", "checkout", "release.yml", "--param", "level=huge",
                  "--param", "target=staging")
    assert bad.returncode == 2, bad.stderr
    assert "invalid parameters for 'release.yml': level: Input should be 'patch', 'minor' " \
           "or 'major'" in bad.stderr
    missing = cli.run("dispatch", "checkout", "release.yml", "--param", "level=minor")
    assert missing.returncode == 2 and "target: Field required" in missing.stderr
    unknown = cli.run("dispatch", "checkout", "release.yml", "--param", "colour=red")
    assert unknown.returncode == 2 and "workflow 'release.yml' has no parameter 'colour'" \
        in unknown.stderr
    assert "target=STRING  (required)  Where it goes" in unknown.stderr
    assert posts(gh, "/dispatches") == 0
    out = cli.ok("dispatch", "checkout", "Release", "--ref", "main", "--param", "level=minor",
                 "--param", "dry_run=true", "--param", "target=staging")
    assert "Run workflow Release (release.yml) of octo-org/octo-repo on main" in out
    assert "✔ succeeded" in out
    run = gh.repos[OCTO].runs[0]
    assert run.inputs == {"level": "minor", "dry_run": "true", "target": "staging"}
    started = [r for r in audit(cli, "dispatch") if r["phase"] == "started"]
    assert started[0]["environment"] == "staging"  # the environment input: the policy's
    assert started[0]["params"] == {"level": "minor", "dry_run": True, "target": "staging"}
    # An input naming production: protected, as a deploy there.
    prod = cli.run("dispatch", "checkout", "release.yml", "--param", "target=production")
    assert prod.returncode == 3 and "pass --yes and --reason" in prod.stderr
    assert posts(gh, "/dispatches") == 1


def test_rerun_one_job_or_every_job(cli: Cli, gh: GithubServer) -> None:
    failed = next(r for r in gh.repos[OCTO].runs if r.conclusion == "failure")
    run = f"{OCTO}:{failed.id}"
    out = cli.ok("rerun", run, "--job", "test")
    assert f"Re-running job test of CI #{failed.number} (attempt 2)" in out
    assert gh.reruns == [(failed.id, "test")]
    cli.ok("rerun", run, "--all")
    assert gh.reruns[-1] == (failed.id, "all") and gh.run(failed.id).attempt == 3
    both = cli.run("rerun", run, "--all", "--job", "test")
    assert both.returncode == 2 and "--all and --job exclude each other" in both.stderr
    nojob = cli.run("rerun", run, "--job", "lint")
    assert nojob.returncode == 5 and "has no job 'lint' (jobs: build, test)" in nojob.stderr
