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
