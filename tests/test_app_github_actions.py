"""The dashboard's actions on GitHub runs a gh user expects (the emulator of tests/github_server.py,
over real sockets), each from its key in the Pipelines pane (the action table's rows): approve
a run waiting for review in production (its name typed, a reason: the review's comment) and it
goes on; reject one and it ends; both in the audit log before and after; run a workflow again
with its declared inputs as a form (a bad value marked, nothing sent); re-run one job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from github_server import GithubServer
from textual.widgets import Input, Select

from idp_tui.api.actions import ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.api.models import RunStatus
from idp_tui.ui.app import IdpApp
from idp_tui.ui.dialogs import DispatchModal, RunActionModal
from idp_tui.ui.panes import PipelinesPane
from idp_tui.ui.tables import KeyedTable

from fakes import assert_alive, wait_until
from test_app_github import PAY, SIZE, app_for, audit, clock, gh, text  # noqa: F401 - fixtures
from test_github_actions_more import RELEASE, RELEASE_INPUTS


async def select_run(pilot: Any, app: IdpApp, number: int) -> PipelinesPane:
    """Show the Pipelines pane and move its cursor to the run of ``PAY`` with id ``number``."""
    await pilot.press("3")
    pane = app.query_one(PipelinesPane)
    table = app.query_one("#pipelines-table", KeyedTable)
    wanted = f"{PAY}:{number}"
    await wait_until(pilot, lambda: any(r.id == wanted for r in pane.runs), "the run listed")
    key = f"gh\x1f{wanted}"
    await wait_until(pilot, lambda: key in table.keys and table.cursor_key is not None,
                     "the table")
    delta = table.keys.index(key) - table.keys.index(table.cursor_key)
    for _ in range(abs(delta)):
        await pilot.press("down" if delta > 0 else "up")
    await wait_until(pilot, lambda: pane.detail is not None and pane.detail.id == wanted
                     and bool(pane.detail.jobs), "the run's detail")
    return pane


async def type_into(pilot: Any, modal: Any, selector: str, value: str) -> None:
    field = modal.query_one(selector, Input)
    field.focus()
    await pilot.press(*value)
    await pilot.pause()


async def test_approve_a_run_waiting_in_production_and_it_goes_on(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    held = gh.add_run(PAY, outcome="waiting")
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await select_run(pilot, app, held.id)
        assert pane.detail.status is RunStatus.WAITING
        await pilot.press("Y")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the approval's plan")
        modal = app.screen
        assert modal.plan_result.failure is None, modal.plan_result.failure
        assert modal.environment == "production"
        screen = text(app)
        assert "Approve deployment payments" in screen and "to production" in screen
        assert modal.query_one("#action-confirm").disabled  # production: typed and a reason
        await type_into(pilot, modal, "#confirm-name", "production")
        await type_into(pilot, modal, "#confirm-reason", "CHG-12")
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the approval to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert gh.reviews == [(held.id, "production", "approved", "CHG-12")]
        records = audit(app)
        assert [r["phase"] for r in records] == ["started", "finished"]
        assert records[0]["action"] == "approve" and records[0]["environment"] == "production"
        assert records[0]["decision"]["acts_as"] == "deploy"
        assert records[1]["outcome"] == "succeeded"
        # The run goes on in the pane.
        await pilot.press("escape")
        await wait_until(pilot, lambda: pane.detail is not None
                         and pane.detail.status is not RunStatus.WAITING, "the run going on")
        assert_alive(app)


async def test_reject_a_waiting_run_and_it_ends(tmp_path: Path, gh: GithubServer,
                                                clock: ManualClock) -> None:
    held = gh.add_run(PAY, outcome="waiting")
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await select_run(pilot, app, held.id)
        await pilot.press("N")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the rejection's plan")
        modal = app.screen
        await type_into(pilot, modal, "#confirm-name", "production")
        await type_into(pilot, modal, "#confirm-reason", "not today")
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the rejection to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert gh.run(held.id).conclusion == "failure"
        assert [(r["phase"], r["action"]) for r in audit(app)] == [
            ("started", "reject"), ("finished", "reject")]
        await pilot.press("escape")
        await wait_until(pilot, lambda: pane.detail is not None
                         and pane.detail.status is RunStatus.FAILED, "the run ended")


async def test_run_a_workflow_again_with_its_inputs_as_a_form(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    before = release_workflow(gh)
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_dispatch(pilot, app, before.id)
        assert [f.spec.name for f in modal.fields] == ["level", "dry_run", "count", "target",
                                                      "note"]
        screen = text(app)
        assert "Run workflow Release of payments" in screen
        assert "Which part of the version goes up" in screen
        level = modal.fields[0].control
        assert isinstance(level, Select) and level.value == "patch"
        # The required input left out: marked, the button stays off, nothing is sent.
        target = modal.fields[3].control
        target.focus()
        await pilot.press("x", "backspace")
        await wait_until(pilot, lambda: "✖ Field required" in text(app), "the missing input")
        await pilot.click("#action-confirm")
        await pilot.pause()
        assert modal.run is None and modal.query_one("#action-confirm").disabled
        assert "Fix the inputs marked in red" in text(app)
        count = modal.fields[2].control
        count.focus()
        await pilot.press("3")
        target.focus()
        await pilot.press(*"staging")
        level.value = "minor"
        await wait_until(pilot, lambda: not modal.query_one("#action-confirm").disabled,
                         "the form valid and planned")
        assert not [p for m, p, _ in gh.log if m == "POST"]
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the workflow run to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        run = gh.repos[PAY].runs[0]
        assert run.workflow.file == "release.yml" and run.id != before.id
        assert run.inputs == {"level": "minor", "dry_run": "false", "count": "3",
                              "target": "staging"}
        started = audit(app)[0]
        assert (started["action"], started["template"], started["environment"]) == (
            "dispatch", "Release", "staging")


async def test_a_workflow_planned_again_as_its_ref_and_its_environment_input_change(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    # The plan is asked without an environment (the input names it): an input moved from
    # staging to production is planned there, not refused as a mismatch with the last plan's;
    # a new branch or tag is planned again too (one the repository lacks: said).
    before = release_workflow(gh)
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_dispatch(pilot, app, before.id)
        target = modal.fields[3].control
        target.value = "staging"

        def planned(environment: str | None, ref: str, failed: bool = False) -> bool:
            result = modal.plan_result
            return result is not None and result.request is not None \
                and result.request.environment == environment \
                and result.request.version == ref and (result.failure is not None) == failed

        await wait_until(pilot, lambda: planned("staging", before.branch), "staging planned")
        assert modal.environment == "staging"
        assert not modal.query_one("#action-confirm").disabled
        target.value = "production"
        await wait_until(pilot, lambda: planned("production", before.branch),
                         "production planned")
        assert modal.environment == "production"
        assert modal.plan_result.decision.needs_confirmation  # its name is to be typed
        assert modal.query_one("#action-confirm").disabled
        ref = modal.query_one("#dispatch-ref", Input)
        ref.value = "v9.9.9"
        await wait_until(pilot, lambda: planned(None, "v9.9.9", failed=True),
                         "the tag planned")
        assert "cannot plan: not found" in text(app) and "at v9.9.9" in text(app)
        assert not [p for m, p, _ in gh.log if m == "POST"] and modal.run is None
        assert_alive(app)

async def test_rerun_one_job_of_a_failed_run(tmp_path: Path, gh: GithubServer,
                                             clock: ManualClock) -> None:
    app = app_for(tmp_path, gh, clock)
    failed = next(r for r in gh.repos[PAY].runs if r.conclusion == "failure")
    async with app.run_test(size=SIZE) as pilot:
        await select_run(pilot, app, failed.id)
        await pilot.press("J")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the job re-run's plan")
        modal = app.screen
        job = modal.query_one("#action-job", Select)
        test_job = next(j for j in failed.jobs if j.name == "test")
        assert job.value == str(test_job.id)  # the failed job first
        assert "Re-run job test (failure)" in text(app)
        await pilot.click("#action-confirm")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the job re-run to end", timeout=30)
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert gh.reruns == [(failed.id, "test")]
        records = audit(app)
        assert records[0]["action"] == "rerun_job" and records[0]["params"] == {
            "job": str(test_job.id)}


def release_workflow(gh: GithubServer) -> Any:
    """payments' Release workflow (its inputs) and one run of it dispatched before."""
    gh.add_workflow(PAY, "Release", "release.yml", RELEASE, inputs=RELEASE_INPUTS,
                    options={"level": ["patch", "minor", "major"]})
    return gh.add_run(PAY, workflow="release.yml", event="workflow_dispatch")


async def open_dispatch(pilot: Any, app: Any, run_id: Any) -> Any:
    """The run chosen in Pipelines and ``W``: the dispatch dialog, its inputs shown and planned."""
    await select_run(pilot, app, run_id)
    await pilot.press("W")
    await wait_until(pilot, lambda: isinstance(app.screen, DispatchModal)
                     and app.screen.fields and app.screen.is_settled(), "the workflow's inputs")
    return app.screen
