"""The whole dashboard on GitHub (the emulator of tests/github_server.py, over real sockets) with
the catalog from catalog-info.yaml files whose ``github.com/project-slug`` names each service's
repository: the Pipelines pane, a run's log, re-running failed jobs, the Environments pane from
GitHub Deployments, a deploy by workflow dispatch followed to its end, and a rate limit waited
out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer
from textual.widgets import Input

from idp_tui.api.actions import ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.api.models import RunStatus
from idp_tui.config import load_config
from idp_tui.hub import Topic
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.dialogs import ActionModal, RunActionModal
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes import LogsPane, PipelinesPane
from idp_tui.ui.screens import HealthScreen
from idp_tui.ui.tables import KeyedTable

from conftest import T0
from fakes import assert_alive, screen_lines, wait_until

SIZE = (160, 50)
PAY, LEDGER = "acme/payments", "acme/ledger"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(PAY, runs=6)
        server.add_repo(LEDGER, runs=3)
        yield server


def app_for(tmp_path: Path, gh: GithubServer, clock: ManualClock) -> IdpApp:
    catalog = tmp_path / "catalog"
    for name, repo in (("payments", PAY), ("ledger", LEDGER)):
        folder = catalog / name
        folder.mkdir(parents=True)
        (folder / "catalog-info.yaml").write_text(f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations: {{github.com/project-slug: {repo}}}
spec: {{type: service, lifecycle: production, owner: team-payments}}
""")
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.files]
type = "catalog-files"
paths = ["{catalog}"]

[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
environments = ["dev", "staging", "production"]
poll_interval = 0.01

[sources.gh.deploy]
workflow = "deploy.yml"
''')
    data = tmp_path / "data"
    data.mkdir()
    return IdpApp(load_config(path, required=True), data_dir=data, clock=clock)


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def audit(app: IdpApp) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (app.data_dir / AUDIT_FILE).read_text().splitlines()]


async def test_runs_of_the_repositories_the_catalog_names_a_log_and_a_rerun(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    hostile = gh.add_run(LEDGER, message="Fix [/] [@click=app.quit]x \x1b[31mred\x07")
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        table = app.query_one("#pipelines-table", KeyedTable)
        # The repositories come from the catalog's annotations (no `repos` in the config).
        await wait_until(pilot, lambda: {r.service for r in pane.runs} == {"payments", "ledger"},
                         "the runs of both repositories")
        assert len(pane.runs) == 10 and all(r.source == "gh" for r in pane.runs)
        # A commit message is text, never markup or terminal codes.
        mine = next(r for r in pane.runs if r.id.endswith(f":{hostile.id}"))
        app.service = "ledger"
        table.select_key(f"gh\x1f{mine.id}")
        await wait_until(pilot, lambda: "[@click=app.quit]x" in text(app), "the message")
        assert "Fix [/] [@click=app.quit]x" in text(app) and "\x1b" not in text(app)
        # The catalog entry (from the files) says which sources know the service.
        await pilot.press("1")
        app.service = "payments"
        await wait_until(pilot, lambda: "From catalog: files · deployments: gh · pipelines: gh"
                         in text(app), "the sources of payments")
        await pilot.press("3")
        failed = next(r for r in pane.runs if r.service == "payments"
                      and r.status is RunStatus.FAILED)
        key = f"gh\x1f{failed.id}"
        delta = table.keys.index(key) - table.keys.index(table.cursor_key)
        for _ in range(abs(delta)):
            await pilot.press("down" if delta > 0 else "up")
        await wait_until(pilot, lambda: pane.detail is not None and pane.detail.id == failed.id
                         and pane.detail.jobs, "the failed run's jobs")
        detail = text(app)
        assert f"Run      {failed.id}" in detail and "✖ failed test" in detail
        # l: its failed job's log, fetched through GitHub's redirect.
        await pilot.press("l")
        logs = app.query_one(LogsPane)
        await wait_until(pilot, lambda: logs.ended and logs.view.total > 0, "the job's log")
        lines = [e.line for e in logs.view.buffer.entries()]
        assert {line.instance for line in lines} == {"test"}
        assert "Process completed with exit code 1." in {line.message for line in lines}
        assert any(path.startswith("/_blob/") and not auth for _m, path, auth in gh.log)
        # F: re-run its failed jobs, through the action layer, followed to the end.
        await pilot.press("3")
        await wait_until(pilot, lambda: app.current_pane is pane, "the pipelines pane")
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the re-run's plan")
        modal = app.screen
        assert modal.plan_result.failure is None, modal.plan_result.failure
        assert "Re-run failed jobs payments" in text(app)
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the re-run to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert sum(1 for m, p, _ in gh.log if m == "POST" and "rerun-failed-jobs" in p) == 1
        records = audit(app)
        assert [r["phase"] for r in records] == ["started", "finished"]
        assert records[0]["action"] == "rerun" and records[0]["run_id"] == failed.id
        assert records[0]["source"] == "gh" and records[1]["outcome"] == "succeeded"
        assert_alive(app)


async def test_deploy_by_workflow_dispatch_followed_to_its_end(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        # Environments from GitHub Deployments: a version per environment, production a tag.
        await wait_until(pilot, lambda: app.platform is not None
                         and ("payments", "production") in app.platform.deployments,
                         "the deployments")
        assert app.platform.deployments["payments", "production"].version == "v1.2.0"
        assert [e.name for e in app.platform.environments] == ["dev", "staging", "production"]
        assert [e.protected for e in app.platform.environments] == [False, False, True]
        await pilot.press("2")
        await wait_until(pilot, lambda: "v1.2.0" in text(app), "the Environments pane")
        app.service, app.environment = "payments", "production"
        await pilot.pause()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                         and app.screen.plan_result is not None, "the deploy modal's plan")
        modal = app.screen
        assert modal.plan_result.failure is None, modal.plan_result.failure
        version = modal.version
        assert version and modal.versions
        assert "deploy.yml" in text(app) and "needs typed confirmation" in text(app)
        for selector, value in (("#confirm-name", "production"), ("#confirm-reason", "CHG-9")):
            field = modal.query_one(selector, Input)
            field.focus()
            await pilot.press(*value)
        await pilot.pause()
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the dispatched run to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        dispatch = [p for m, p, _ in gh.log if m == "POST" and p.endswith("/dispatches")]
        assert dispatch == [f"/repos/{PAY}/actions/workflows/deploy.yml/dispatches"]
        # The run's jobs and steps were the progress.
        messages = [e.message for e in modal.run.events]
        assert any("deploy" in m for m in messages) and modal.run.progress is not None
        records = audit(app)
        assert [r["phase"] for r in records] == ["started", "finished"]
        assert records[0]["environment"] == "production" and records[0]["reason"] == "CHG-9"
        assert records[0]["version"] == version
        # The deployment the workflow made shows in the Environments pane.
        await pilot.press("escape")
        app.hub.refresh()
        await wait_until(pilot, lambda: app.platform.deployments["payments",
                                                                 "production"].version == version,
                         "the new version in production")
        assert_alive(app)


async def test_a_rate_limit_is_waited_out_and_said_in_the_pane(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        await wait_until(pilot, lambda: len(pane.runs) == 9, "the runs")
        quota = app.hub.health["gh"].details.get("quota", "")
        assert "of 5,000 left" in quota
        assert app.hub.health["gh"].details["repositories"] == \
            "2 (2 from the catalog's github.com/project-slug)"
        gh.exhaust()
        gh.add_run(PAY, message="A change while limited")
        app.hub.refresh()
        banner = app.query_one("#pipelines-errors")
        await wait_until(pilot, lambda: banner.display and "rate limited" in str(banner.render()),
                         "the rate limit, said in the pane")
        said = str(banner.render())
        assert "next try at 15:00:00 UTC" in said, said  # GitHub's reset: an hour after T0
        assert "gh rate limited" in text(app)  # and in the status bar
        assert len(pane.runs) == 9  # the runs already shown stay
        asked = gh.requests
        before = app.hub.cached(Topic.pipelines())
        app.hub.refresh()
        await wait_until(pilot, lambda: app.hub.cached(Topic.pipelines()) is not before,
                         "a refresh while limited")
        assert gh.requests == asked  # nothing sent before the reset
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        assert "waiting" in text(app)
        await pilot.press("escape")
        clock.advance(timedelta(hours=1, seconds=1))
        app.hub.refresh()
        await wait_until(pilot, lambda: len(pane.runs) == 10, "the runs after the reset",
                         timeout=30)
        assert "rate limited" not in text(app)
        assert_alive(app)


async def test_a_run_waiting_for_approval_shows_so(tmp_path: Path, gh: GithubServer,
                                                   clock: ManualClock) -> None:
    held = gh.add_run(PAY, outcome="waiting", message="Deploy to production")
    assert gh.run(held.id).status == "waiting"
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        await wait_until(pilot, lambda: any(r.id.endswith(f":{held.id}") for r in pane.runs),
                         "the waiting run")
        run = next(r for r in pane.runs if r.id.endswith(f":{held.id}"))
        assert run.status is RunStatus.WAITING
        await wait_until(pilot, lambda: "⏸ waiting" in text(app)
                         and "1 waiting for approval" in text(app), "the waiting run shown")
