"""The Pipelines pane as a `gh run list` / gh-dash user expects it: field filters typed in the `/`
box (with completion) or picked with `v`, the run's number and attempt, its event, pull request and
actor, and `o` opening the run's page in the browser. On the seeded sandbox, on the GitHub
stand-in (tests/github_server.py, over real sockets) and on a source whose runs have no page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from github_server import TOKEN, GithubServer
from textual.widgets import OptionList

from idp_tui.api.clock import ManualClock
from idp_tui.api.models import RunStatus
from idp_tui.config import load_config
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_config, wait_settled
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes import PipelinesPane
from idp_tui.ui.panes.pipelines import RunFilterInput
from idp_tui.ui.screens import FacetScreen, HelpScreen
from idp_tui.ui.tables import KeyedTable

from conftest import T0
from fakes import StaticSource, app_config, assert_alive, spec, type_text, wait_until

PAY, LEDGER = "acme/payments", "acme/ledger"
COLUMN = {"service": 0, "pipeline": 1, "number": 2, "branch": 3, "status": 5, "trigger": 8}


class BrowserApp(IdpApp):
    """The dashboard, with the addresses it was asked to open in a browser kept, not opened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[str] = []

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        self.opened.append(url)


def cell(table: KeyedTable, key: str, column: str) -> str:
    return str(table.get_row(key)[COLUMN[column]])


def rows(table: KeyedTable, column: str) -> list[str]:
    return [cell(table, key, column) for key in table.keys]


def text_of(app: IdpApp, selector: str) -> str:
    return str(app.query_one(selector).render())  # type: ignore[attr-defined]


def notifications(app: IdpApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def open_pipelines(app: IdpApp, pilot: Any) -> tuple[PipelinesPane, KeyedTable]:
    await pilot.press("3")
    pane = app.query_one(PipelinesPane)
    await wait_until(pilot, lambda: app.current_pane is pane and bool(pane.runs), "the runs")
    return pane, app.query_one("#pipelines-table", KeyedTable)


async def filter_by(pilot: Any, app: IdpApp, query: str) -> None:
    """`/`, the query typed over what was there, enter."""
    await pilot.press("slash")
    box = app.query_one(RunFilterInput)
    box.value = ""
    await type_text(pilot, query)
    await pilot.press("enter")


# The sandbox ------------------------------------------------------------------------------------

def sandbox_app(tmp_path: Path) -> BrowserApp:
    data = tmp_path / "data"
    data.mkdir()
    return BrowserApp(demo_config(data), data_dir=data, clock=ManualClock(DEMO_TIME))


async def test_sandbox_field_filters_typed_with_completion_and_said(tmp_path: Path) -> None:
    app = sandbox_app(tmp_path)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane, table = await open_pipelines(app, pilot)
        await wait_settled(app)
        # Every sandbox run has its number, shown as gh shows it.
        assert all(run.number is not None for run in pane.runs)
        first = pane.runs[0]
        assert cell(table, table.keys[0], "number") == f"#{first.number}"
        failed = [r for r in pane.runs if r.status is RunStatus.FAILED]
        assert 0 < len(failed) < len(pane.runs)

        # Tab completes a field, then a value.
        await pilot.press("slash")
        box = app.query_one(RunFilterInput)
        assert box.has_focus and "status:failed" in str(box.placeholder)
        await type_text(pilot, "sta")
        await wait_until(pilot, lambda: box._suggestion == "status:", "the field's completion")
        await pilot.press("tab")
        assert box.value == "status:" and box.has_focus
        await type_text(pilot, "fa")
        await wait_until(pilot, lambda: box._suggestion == "status:failed", "the status")
        await pilot.press("tab")
        assert box.value == "status:failed"
        await wait_until(pilot, lambda: len(table.keys) == len(failed), "the failed runs")
        assert set(rows(table, "status")) == {"✖ failed"}
        assert "filter status failed" in text_of(app, "#pipelines-status")

        # Fields together: all of them; -field:value leaves out.
        await type_text(pilot, " event:push -workflow:ci")
        await pilot.press("enter")
        expected = [r for r in failed if r.trigger == "push" and r.pipeline != "ci"]
        assert expected and len(table.keys) == len(expected)
        assert set(rows(table, "pipeline")) == {"release"} and set(rows(table, "trigger")) \
            == {"push"}
        status = text_of(app, "#pipelines-status")
        assert "filter status failed · event push · not workflow ci" in status
        assert table.has_focus

        # A word that looks like a field but is none is said, in the status line.
        await filter_by(pilot, app, "stauts:failed")
        assert table.keys == []
        assert "stauts: is not a field" in text_of(app, "#pipelines-status")
        # esc in the box clears it: every run again.
        await pilot.press("slash", "escape")
        assert len(table.keys) == len(pane.runs)
        assert_alive(app)


async def test_sandbox_a_fields_value_picked_and_the_run_opened_in_the_browser(
        tmp_path: Path) -> None:
    app = sandbox_app(tmp_path)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane, table = await open_pipelines(app, pilot)
        await wait_settled(app)
        # v: the fields' values with their counts; choosing one filters by it.
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, FacetScreen), "the field picker")
        screen = app.screen
        shown = "\n".join(str(o.prompt) for o in screen.query_one(OptionList).options)
        assert "Filter the runs by" in str(screen.query_one(".dialog-title").render())
        for field in ("status", "branch", "event", "workflow", "service"):
            assert field in shown
        options = screen.query_one(OptionList)
        options.highlighted = options.get_option_index("event:manual")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, FacetScreen), "the choice")
        manual = [r for r in pane.runs if r.trigger == "manual"]
        assert manual and len(table.keys) == len(manual)
        assert app.query_one(RunFilterInput).value == "event:manual"
        assert "filter event manual" in text_of(app, "#pipelines-status")
        # Picking another value of the same field replaces it.
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, FacetScreen), "the field picker")
        options = app.screen.query_one(OptionList)
        options.highlighted = options.get_option_index("event:schedule")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.query_one(RunFilterInput).value == "event:schedule",
                         "the new value")

        # o: the selected run's page, through the app's open_url.
        await wait_until(pilot, lambda: pane.detail is not None
                         and pane.detail.trigger == "schedule", "a scheduled run selected")
        table.focus()
        await pilot.press("o")
        assert app.opened == [pane.detail.url] and pane.detail.url.startswith("https://")
        assert any("Opening" in n and pane.detail.url in n for n in notifications(app))

        # The keys are in the help, with their ids.
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        help_table = app.screen.query_one("#help-table", KeyedTable)
        await wait_until(pilot, lambda: help_table.row_count > 0, "the help's rows")
        ids = {str(help_table.get_row(k)[3]) for k in help_table.keys}
        assert {"pipelines.open", "pipelines.facets", "pipelines.filter"} <= ids
        assert_alive(app)


# Runs without a page ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "said"), [
    (None, "has no web address"),
    ("javascript:alert(1)", "has an address that is not a web page: javascript:alert(1)"),
])
async def test_a_run_without_a_web_page_says_so(tmp_path: Path, text: str | None,
                                                said: str) -> None:
    settings = {} if text is None else {"text": text}
    config = app_config(spec("static", StaticSource, **settings))
    data = tmp_path / "data"
    data.mkdir()
    app = BrowserApp(config, data_dir=data, clock=ManualClock(T0))
    async with app.run_test(size=(160, 50)) as pilot:
        pane, _table = await open_pipelines(app, pilot)
        await wait_until(pilot, lambda: pane.detail is not None, "a selected run")
        await pilot.press("o")
        await wait_until(pilot, lambda: any(said in n for n in notifications(app)), "the warning")
        assert app.opened == []
        assert_alive(app)


# GitHub -----------------------------------------------------------------------------------------

@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(PAY, runs=4)
        server.add_repo(LEDGER, runs=2)
        yield server


def github_app(tmp_path: Path, gh: GithubServer, clock: ManualClock) -> BrowserApp:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
poll_interval = 0.01

[sources.gh.repos]
payments = "{PAY}"
ledger = "{LEDGER}"
''')
    data = tmp_path / "data"
    data.mkdir()
    return BrowserApp(load_config(path, required=True), data_dir=data, clock=clock)


async def test_github_runs_numbers_attempts_events_actors_and_pull_requests(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    pull = gh.add_run(PAY, event="pull_request", actor="alice", pull_request=42,
                      branch="feature/login", message="Login page")
    dispatched = gh.add_run(LEDGER, event="workflow_dispatch", actor="bob",
                            workflow="deploy.yml", message="Deploy")
    flaky = gh.add_run(PAY, outcome="failure", actor="carol", message="Flaky test")
    clock.advance(timedelta(minutes=10))  # re-run ten minutes later: it starts again
    answer = httpx.post(f"{gh.api_url}/repos/{PAY}/actions/runs/{flaky.id}/rerun-failed-jobs",
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 201 and gh.run(flaky.id).attempt == 2
    app = github_app(tmp_path, gh, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        pane, table = await open_pipelines(app, pilot)
        await wait_until(pilot, lambda: len(pane.runs) == 9, "every run")

        def key_of(run_id: int) -> str:
            return next(k for k in table.keys if k.endswith(f":{run_id}"))

        # The list: "#N", a re-run's attempt, the event with its pull request and the actor.
        assert cell(table, key_of(pull.id), "number") == f"#{pull.number}"
        assert cell(table, key_of(pull.id), "trigger") == "pull_request #42 by alice"
        assert cell(table, key_of(dispatched.id), "trigger") == "workflow_dispatch by bob"
        assert cell(table, key_of(dispatched.id), "pipeline") == "Deploy"
        assert cell(table, key_of(flaky.id), "number") == f"#{flaky.number} ↻2"

        # Filters of each field, as typed.
        for query, wanted in (("event:pull_request", [pull.id]), ("pr:42", [pull.id]),
                              ("actor:BOB workflow:deploy", [dispatched.id]),
                              ("branch:feature/*", [pull.id]),
                              ("-actor:octocat", [pull.id, dispatched.id, flaky.id]),
                              ("service:payments actor:carol", [flaky.id]),
                              ("#42", [pull.id])):
            await filter_by(pilot, app, query)
            assert sorted(k.rsplit(":", 1)[1] for k in table.keys) == \
                sorted(str(i) for i in wanted), query

        # The re-run's detail: its number and attempt.
        await filter_by(pilot, app, "actor:carol")
        await wait_until(pilot, lambda: pane.detail is not None
                         and pane.detail.id.endswith(f":{flaky.id}"), "the re-run selected")
        await wait_until(pilot, lambda: f"Number   #{flaky.number} · attempt 2"
                         in text_of(app, "#pipelines-detail-body"), "the attempt in the detail")
        detail = text_of(app, "#pipelines-detail-body")
        assert "Actor    carol" in detail
        # Created when first queued; started again by the re-run.
        assert f"Created  {T0:%Y-%m-%d %H:%M:%S} (10m00s ago)" in detail
        assert f"Started  {T0 + timedelta(minutes=10):%Y-%m-%d %H:%M:%S}" in detail

        # The pull request's run: its event, PR and actor in the detail; o opens its page.
        await filter_by(pilot, app, "pr:42")
        await wait_until(pilot, lambda: pane.detail is not None
                         and pane.detail.id.endswith(f":{pull.id}"), "the PR's run selected")
        detail = text_of(app, "#pipelines-detail-body")
        assert "Event    pull_request · PR #42" in detail and "Actor    alice" in detail
        assert f"Number   #{pull.number}\n" in detail
        await pilot.press("o")
        assert app.opened == [f"https://github.com/{PAY}/actions/runs/{pull.id}"]
        assert_alive(app)
