"""The health view's "You" (H): the claimed identity and where it comes from, then what each
source that acts confirms, or why not: read from the runtime's ``IdentityCheck`` (the question an
action asks, once a run), never asked of a plugin by the widget. Against the GitHub stand-in and
the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import GithubServer

from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.runtime import build_runtime
from idp_tui.ui.app import IdpApp
from idp_tui.ui.screens import HealthScreen

from conftest import T0
from fakes import wait_until, widget_text
from test_cli_github_actions import OCTO, checkout_source


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as server:
        server.add_repo(OCTO, runs=1)
        yield server


def _app(tmp_path: Path, text: str) -> IdpApp:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, required=True)
    data = tmp_path / "data"
    data.mkdir()
    runtime = build_runtime(config, data_dir=data, clock=ManualClock(T0))
    return IdpApp(config, data, ManualClock(T0), runtime)


def _you(app: IdpApp) -> str:
    return widget_text(app, app.screen.query_one("#health-you"))


async def test_the_health_view_says_who_you_are_and_what_each_source_confirms(
        tmp_path: Path, gh: GithubServer) -> None:
    sandbox = f'[sources.sb]\ntype = "sandbox"\ndatabase = "{tmp_path / "sb.sqlite3"}"\n'
    app = _app(tmp_path, '[policy]\nidentity = "alice"\n' + checkout_source(gh) + sandbox)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: not app.booting, "the sources started")
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        await wait_until(pilot, lambda: "gh: octocat" in _you(app), "the confirmed login")
        lines = [line.strip() for line in _you(app).splitlines()]
        assert lines[0] == "You alice  claimed: [policy] identity in the config"
        assert lines[1] == f"gh: octocat — the token's login at {gh.api_url}"
        assert lines[2] == "sb: not confirmed — the source cannot say who the user is"
        assert len(lines) == 3  # one confirms: no "none can" line
        # The same question an action asks: once a run, and its answers are the runtime's.
        assert app.runtime.actions.identity.users == {"gh": "octocat"}
        assert sum(1 for _method, path, _auth in gh.log if path == "/user") == 1
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HealthScreen), "closed")
        await pilot.press(":", *"whoami", "enter")  # the same view; not asked again
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen)
                         and "gh: octocat" in _you(app), "the view again")
        assert sum(1 for _method, path, _auth in gh.log if path == "/user") == 1


async def test_with_a_token_of_no_user_and_the_os_user_it_says_none_confirms(
        tmp_path: Path, gh: GithubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "carol")
    gh.login = None  # an app's token: GET /user answers 403
    app = _app(tmp_path, checkout_source(gh))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: not app.booting, "the sources started")
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen)
                         and "not confirmed" in _you(app), "the answer")
        lines = [line.strip() for line in _you(app).splitlines()]
        assert lines[0] == "You carol  claimed: the operating-system user"
        assert lines[1].startswith("gh: not confirmed — GitHub does not say whose the token is")
        assert lines[2] == "no source can confirm who you are: the records name you as claimed"
