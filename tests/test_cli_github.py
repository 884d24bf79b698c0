"""The command line on GitHub as the README sets it up: repositories named by the catalog's
``github.com/project-slug`` annotations (a ``catalog-files`` source), no ``repos`` in the config.

Real ``idp-tui`` subprocesses against the GitHub API emulator (``tests/github_server.py``, over
sockets): every command sees the platform the dashboard sees (the catalog is handed to the github
source before anything is asked), a repository that answers 404 among several and a rate limit hit
midway are partial answers (what arrived is printed, exit code 4), and an empty answer is said.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from test_cli_commands import Cli, fake_plugins, json_error  # noqa: F401 - the fixture

PAY, LEDGER, CART, SHIP = "acme/payments", "acme/ledger", "acme/cart", "acme/shipping"


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as server:
        server.add_repo(PAY, runs=4)
        server.add_repo(LEDGER, runs=3)
        server.add_repo(CART, runs=2)
        yield server


def catalog(root: Path, services: dict[str, str | None]) -> Path:
    """A catalog-info.yaml per service, annotated with its repository (None: not annotated)."""
    folder = root / "catalog"
    for name, repo in services.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        annotations = f"  annotations: {{github.com/project-slug: {repo}}}\n" if repo else ""
        (folder / name / "catalog-info.yaml").write_text(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"
            f"  name: {name}\n{annotations}"
            "spec: {type: service, lifecycle: production, owner: team-payments}\n")
    return folder


def github_config(root: Path, gh: GithubServer, services: dict[str, str | None],
                  more: str = "") -> str:
    return f'''
[sources.files]
type = "catalog-files"
paths = ["{catalog(root, services).as_posix()}"]

[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
environments = ["dev", "staging", "production"]

[sources.gh.deploy]
workflow = "deploy.yml"
{more}'''


@pytest.fixture
def make_cli(tmp_path: Path, fake_plugins: Path,  # noqa: F811 - the imported fixture
             gh: GithubServer) -> Any:
    def make(services: dict[str, str | None], more: str = "") -> Cli:
        return Cli(tmp_path, fake_plugins, github_config(tmp_path, gh, services, more))
    return make


def warnings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return [line["warning"] for line in lines if "warning" in line]


THREE = {"payments": PAY, "ledger": LEDGER, "cart": CART}


# The catalog's annotations reach every command ---------------------------------------------------

def test_pipelines_of_the_annotated_repositories(make_cli: Any, gh: GithubServer) -> None:
    cli = make_cli(THREE)
    result = cli.run("pipelines", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    runs = json.loads(result.stdout)["pipelines"]
    assert {r["service"] for r in runs} == {"payments", "ledger", "cart"}
    assert len(runs) == 4 + 3 + 2


def test_envs_and_versions_of_the_annotated_repositories(make_cli: Any) -> None:
    cli = make_cli(THREE)
    result = cli.run("envs", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    matrix = json.loads(result.stdout)
    assert [e["name"] for e in matrix["environments"]] == ["dev", "staging", "production"]
    assert {(d["service"], d["environment"]) for d in matrix["deployments"]} == {
        (s, e) for s in THREE for e in ("dev", "staging", "production")}
    text = cli.ok("envs")
    assert [line.split()[0] for line in text.splitlines()[1:]] == ["cart", "ledger", "payments"]
    versions = cli.run("versions", "payments", "--env", "staging", "--json")
    assert versions.returncode == 0, versions.stderr
    assert json.loads(versions.stdout)["versions"]


def test_a_deploy_dry_run_finds_the_repository_of_an_annotated_service(make_cli: Any,
                                                                        gh: GithubServer) -> None:
    cli = make_cli(THREE)
    result = cli.run("deploy", "ledger", "--env", "dev", "--version", "main", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "of acme/ledger on main with service=ledger" in result.stdout
    assert not [line for line in gh.log if line[0] == "POST"]  # a dry run dispatches nothing


# Partial answers ---------------------------------------------------------------------------------

def test_a_repository_not_found_among_four_is_a_partly_failing_source_exit_4(
        make_cli: Any) -> None:
    cli = make_cli({**THREE, "shipping": "acme/gone"})
    result = cli.run("pipelines", "--json")
    assert result.returncode == 4, result.stderr
    answer = json.loads(result.stdout)
    assert {r["service"] for r in answer["pipelines"]} == {"payments", "ledger", "cart"}
    assert [(e["source"], e["error_class"]) for e in answer["errors"]] == [("gh", "not found")]
    assert "acme/gone" in answer["errors"][0]["message"]
    error = json_error(result)
    assert error["type"] == "source" and "acme/gone" in error["message"]
    envs = cli.run("envs", "--json")
    assert envs.returncode == 4, envs.stderr
    assert {d["service"] for d in json.loads(envs.stdout)["deployments"]} == set(THREE)
    text = cli.run("pipelines")
    assert text.returncode == 4
    assert {line.split()[1] for line in text.stdout.splitlines()[1:]} == set(THREE)
    assert "acme/gone" in text.stderr and "hint:" in text.stderr


def test_a_rate_limit_midway_keeps_what_arrived_and_says_until_when(make_cli: Any,
                                                                    gh: GithubServer) -> None:
    gh.add_repo(SHIP, runs=1)
    cli = make_cli({**THREE, "shipping": SHIP})
    gh.limit = gh.used + 2  # two repositories answer, the other two meet the limit
    result = cli.run("pipelines", "--json")
    assert result.returncode == 4, result.stderr
    answer = json.loads(result.stdout)
    assert len({r["service"] for r in answer["pipelines"]}) == 2
    assert [(e["source"], e["error_class"]) for e in answer["errors"]] == [("gh", "rate limited")]
    message = answer["errors"][0]["message"]
    assert "2 of 4 repositories" in message and "UTC" in message
    reset = gh.reset_at.strftime("%H:%M:%S")
    assert reset in message, message
    assert json_error(result)["type"] == "source"
    assert gh.counted == 2



def test_a_rate_limit_on_the_last_request_keeps_the_deployments_read(
        tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    """The environments and the deployments of one refresh are two calls; the second one, made
    while the rate limit lasts, sends nothing, and what the first one read is shown."""
    gh.add_repo(SHIP, runs=1)
    services = {**THREE, "shipping": SHIP}
    first = tmp_path / "first"
    first.mkdir()
    before = gh.counted
    Cli(first, fake_plugins, github_config(first, gh, services)).ok("envs")
    needed = gh.counted - before  # what one `envs` costs, every answer a 200
    gh.limit = gh.used + needed - 1  # the last request meets the limit
    second = tmp_path / "second"
    second.mkdir()
    result = Cli(second, fake_plugins, github_config(second, gh, services)).run("envs", "--json")
    assert result.returncode == 4, result.stderr
    answer = json.loads(result.stdout)
    assert len({d["service"] for d in answer["deployments"]}) == 3
    assert [(e["source"], e["error_class"]) for e in answer["errors"]] == [("gh", "rate limited")]
    assert "1 of 4 repositories not read" in answer["errors"][0]["message"]


# Empty answers are said --------------------------------------------------------------------------

def test_no_repository_anywhere_is_said_naming_what_to_set(make_cli: Any,
                                                          gh: GithubServer) -> None:
    cli = make_cli({"payments": None, "ledger": None})
    result = cli.run("pipelines", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"pipelines": [], "errors": []}
    [warning] = warnings(result)
    assert "no pipeline runs" in warning["message"]
    assert "github.com/project-slug" in warning["hint"] and "repos" in warning["hint"]
    envs = cli.run("envs")
    assert envs.returncode == 0
    said = envs.stderr.splitlines()
    assert said[0].startswith("idp-tui: warning: no deployments"), envs.stderr
    assert "github.com/project-slug" in envs.stderr
    assert gh.requests == 0


def test_a_service_without_a_repository_is_said_and_the_others_are_quiet(make_cli: Any) -> None:
    cli = make_cli({**THREE, "docs": None})
    result = cli.run("pipelines", "--service", "docs")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "no pipeline runs of docs" in result.stderr
    assert "github.com/project-slug" in result.stderr
    quiet = cli.run("pipelines", "--service", "ledger")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert {line.split()[1] for line in quiet.stdout.splitlines()[1:]} == {"ledger"}
    everything = cli.run("pipelines", "--json")
    assert everything.returncode == 0 and everything.stderr == ""
    assert {r["service"] for r in json.loads(everything.stdout)["pipelines"]} == set(THREE)


def test_a_service_with_runs_but_no_deployment_has_its_runs(make_cli: Any,
                                                           gh: GithubServer) -> None:
    gh.add_repo("acme/lib", runs=2, environments={})
    cli = make_cli({**THREE, "lib": "acme/lib"})
    result = cli.run("pipelines", "--service", "lib", "--json")
    assert result.returncode == 0, result.stderr
    assert {r["service"] for r in json.loads(result.stdout)["pipelines"]} == {"lib"}


# Neighbours --------------------------------------------------------------------------------------

def test_the_sandbox_beside_the_catalog_and_github(make_cli: Any, tmp_path: Path) -> None:
    sandbox = f'''
[sources.sandbox]
type = "sandbox"
database = "{(tmp_path / 'sandbox.sqlite3').as_posix()}"
'''
    cli = make_cli(THREE, sandbox)
    result = cli.run("pipelines", "--json", "--limit", "1000")
    # Both sources' runs; the sandbox's services name no GitHub repository (its repositories are
    # not on GitHub), so the github source asks only for its own.
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    services = {r["service"] for r in answer["pipelines"]}
    assert set(THREE) <= services and "payments-api" in services
    assert answer["errors"] == []
    metrics = cli.run("metrics", "payments-api", "--env", "staging")
    assert metrics.returncode == 0 and metrics.stderr == "" and metrics.stdout


def test_metrics_of_a_service_no_metrics_source_knows_are_said(make_cli: Any,
                                                              tmp_path: Path) -> None:
    sandbox = f'''
[sources.sandbox]
type = "sandbox"
database = "{(tmp_path / 'sandbox.sqlite3').as_posix()}"
'''
    cli = make_cli(THREE, sandbox)
    result = cli.run("metrics", "ledger", "--env", "production")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("idp-tui: warning: no metrics of ledger in production")
    assert "sandbox" in result.stderr
    as_json = cli.run("metrics", "ledger", "--env", "production", "--json")
    assert json.loads(as_json.stdout)["signals"] == []
    assert "no metrics of ledger" in warnings(as_json)[0]["message"]
    logs = cli.run("logs", "ledger", "--env", "production")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == ""
    assert logs.stderr.startswith("idp-tui: warning: no log lines of ledger in production: no "
                                  "source with logs knows ledger"), logs.stderr


def test_logs_without_a_source_that_offers_them_end_with_exit_4(make_cli: Any) -> None:
    result = make_cli(THREE).run("logs", "ledger", "--env", "dev")
    assert result.returncode == 4
    assert "no configured source offers logs" in result.stderr


def test_a_failing_catalog_source_does_not_stop_the_others(make_cli: Any) -> None:
    broken = '''
[sources.backstage]
type = "backstage"
url = "http://127.0.0.1:9"
timeout = 5
'''
    cli = make_cli(THREE, broken)
    result = cli.run("pipelines", "--json")
    assert result.returncode == 0, result.stderr
    assert {r["service"] for r in json.loads(result.stdout)["pipelines"]} == set(THREE)
    [warning] = warnings(result)
    assert warning["source"] == "backstage" and "catalog" in warning["message"]


async def test_the_dashboards_hub_keeps_what_arrived_before_the_rate_limit(
        tmp_path: Path, gh: GithubServer) -> None:
    """The same partial answer through the hub the dashboard watches: the runs that arrived are
    the snapshot's data, the rest is said to wait until the reset, and asking again sends
    nothing to GitHub and keeps them."""
    from idp_tui.config import load_config
    from idp_tui.hub import Topic
    from idp_tui.runtime import build_runtime

    gh.add_repo(SHIP, runs=1)
    config = tmp_path / "config.toml"
    config.write_text(github_config(tmp_path, gh, {**THREE, "shipping": SHIP}))
    data = tmp_path / "data"
    data.mkdir()
    runtime = build_runtime(load_config(config, required=True), data_dir=data)
    hub = runtime.hub
    try:
        await runtime.prepare()
        gh.limit = gh.used + 2
        first = await hub.fetch(Topic.pipelines())
        arrived = {r.service for r in first.data}
        assert len(arrived) == 2 and "gh" in first.kept
        failure = first.errors["gh"]
        assert failure.error_class == "rate limited"
        assert f"next try at {gh.reset_at:%H:%M:%S} UTC" in failure.message
        sent = gh.requests
        again = await hub.fetch(Topic.pipelines())
        assert {r.service for r in again.data} == arrived
        assert again.errors["gh"].error_class == "rate limited"
        assert gh.requests == sent
    finally:
        await runtime.close()
