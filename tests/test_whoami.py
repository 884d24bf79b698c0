"""``idp-tui whoami``: the claimed identity and where it comes from, then each source that acts:
the user it confirms or why not. Against the GitHub stand-in (real sockets, real subprocesses):
a token's login confirmed, a token of no user (403: not confirmed, exit 0), a refused token (401)
and a source that is down (exit 4), the sandbox alone (none can confirm, exit 0), and --json."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import TOKEN, GithubServer

from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture
from test_cli_github_actions import OCTO, checkout_source

ALICE = '[policy]\nidentity = "alice"\n'


def as_os_user(name: str) -> dict[str, str]:
    """The environment in which the operating system's user is ``name``."""
    return {"LOGNAME": name, "USER": name, "LNAME": name, "USERNAME": name}


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as server:
        server.add_repo(OCTO, runs=1)
        yield server


def test_the_token_s_login_is_confirmed_beside_the_claimed_identity(
        tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, ALICE + checkout_source(gh))
    lines = cli.ok("whoami").splitlines()
    assert lines[0] == "claimed: alice ([policy] identity in the config)"
    assert lines[1].split() == ["SOURCE", "TYPE", "CONFIRMED", "WHERE,", "OR", "WHY", "NOT"]
    assert lines[2].split()[:3] == ["gh", "github", "octocat"]
    assert lines[2].endswith(f"the token's login at {gh.api_url}")
    assert len(lines) == 3
    assert sum(1 for _method, path, _auth in gh.log if path == "/user") == 1


def test_json_shape(tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, ALICE + checkout_source(gh))
    assert cli.json("whoami") == {
        "claimed": {"user": "alice", "from": "config"},
        "confirmed": {"gh": "octocat"},
        "sources": [{"source": "gh", "type": "github", "confirmed": True, "user": "octocat",
                     "note": f"the token's login at {gh.api_url}", "error": None}]}


def test_a_token_of_no_user_is_not_confirmed_and_says_why(
        tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    gh.login = None  # an app's token: GitHub answers GET /user with 403
    cli = Cli(tmp_path, fake_plugins, ALICE + checkout_source(gh))
    done = cli.run("whoami")
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[2]
    assert row.split()[:4] == ["gh", "github", "not", "confirmed"]
    assert "GitHub does not say whose the token is" in row and "Resource not accessible" in row
    assert "no configured source can confirm who you are" in done.stdout
    value = cli.json("whoami")
    assert value["confirmed"] == {}
    (source,) = value["sources"]
    assert source["confirmed"] is False and source["user"] is None and source["error"] is None
    assert "Resource not accessible by integration" in source["note"]


def test_a_refused_token_is_a_failing_source_exit_4(
        tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins, ALICE + checkout_source(gh).replace(TOKEN, "ghp_revoked"))
    done = cli.run("whoami")
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert done.stdout.splitlines()[0] == "claimed: alice ([policy] identity in the config)"
    assert "not confirmed" in done.stdout and "auth: " in done.stdout
    assert "Bad credentials" in done.stderr and done.stderr.startswith("idp-tui: source:")
    failed = cli.run("whoami", "--json")
    assert failed.returncode == 4
    value = json.loads(failed.stdout)
    (source,) = value["sources"]
    assert source["confirmed"] is False and source["error"]["error_class"] == "auth"
    error = json.loads(failed.stderr.splitlines()[-1])["error"]
    assert error["code"] == 4 and error["errors"][0]["source"] == "gh"


def test_a_source_that_is_down_is_said_exit_4(tmp_path: Path,
                                              fake_plugins: Path) -> None:  # noqa: F811
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = f'''[sources.gh]
type = "github"
url = "http://127.0.0.1:{port}"
token = "{TOKEN}"
repos = {{ checkout = "{OCTO}" }}
'''
    cli = Cli(tmp_path, fake_plugins, config)
    done = cli.run("whoami", env=as_os_user("carol"))
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert done.stdout.splitlines()[0] == "claimed: carol (the operating-system user)"
    assert "unreachable" in done.stdout and "gh: unreachable" in done.stderr


def test_the_sandbox_alone_cannot_confirm_and_says_so(tmp_path: Path,
                                                      fake_plugins: Path) -> None:  # noqa: F811
    cli = Cli(tmp_path, fake_plugins)
    assert cli.ok("whoami", env=as_os_user("carol")).splitlines() == [
        "claimed: carol (the operating-system user)",
        "SOURCE   TYPE     CONFIRMED      WHERE, OR WHY NOT",
        "sandbox  sandbox  not confirmed  the source cannot say who the user is",
        "no configured source can confirm who you are: the audit records name you as claimed"]
    assert cli.json("whoami", env=as_os_user("carol")) == {
        "claimed": {"user": "carol", "from": "os"}, "confirmed": {},
        "sources": [{"source": "sandbox", "type": "sandbox", "confirmed": False, "user": None,
                     "note": "the source cannot say who the user is", "error": None}]}
