"""The github source's actions a ``gh run`` user expects, against the GitHub API emulator
(tests/github_server.py, over sockets): re-run every job or one job, approve or reject the
deployment a run waits for review on (``pending_deployments``), and run any workflow with the
inputs its file declares (read from the contents API), bad values refused before anything is
sent."""

from __future__ import annotations

from typing import Any

import pytest
from github_server import GithubServer

from idp_tui import ActionKind, ActionRequest, ActionState, SourceAuthError, SourceError
from idp_tui.api.errors import SourceNotFound
from idp_tui.inputs import InputError, check_inputs, environment_inputs
from idp_tui_github.workflowfile import as_sent, dispatch_schema
from test_github_source import OCTO, clock, events, gh, make, posts  # noqa: F401 - fixtures

RELEASE = """\
name: Release
on:
  push:
    tags: ["v*"]
  workflow_dispatch:
    inputs:
      level:
        description: Which part of the version goes up
        type: choice
        options: [patch, minor, major]
        default: patch
      dry_run:
        type: boolean
        default: false
      count:
        type: number
      target:
        description: Where it goes
        type: environment
        required: true
      note:
        type: string
jobs:
  release:
    runs-on: ubuntu-latest
"""
RELEASE_INPUTS = {"level": False, "dry_run": False, "count": False, "target": True,
                  "note": False}


def add_release(gh: GithubServer) -> None:
    gh.add_workflow(OCTO, "Release", "release.yml", RELEASE, inputs=RELEASE_INPUTS,
                    options={"level": ["patch", "minor", "major"]})


def request(kind: ActionKind, request_id: str, **fields: Any) -> ActionRequest:
    return ActionRequest(id=request_id, kind=kind, service="checkout", **fields)


# The workflow file --------------------------------------------------------------------------------

def test_a_workflow_files_inputs_as_a_schema() -> None:
    schema = dispatch_schema(RELEASE, "release.yml")
    assert schema is not None
    assert schema["required"] == ["target"]
    props = schema["properties"]
    assert props["level"] == {"type": "string", "title": "level", "enum": [
        "patch", "minor", "major"], "default": "patch",
        "description": "Which part of the version goes up"}
    assert props["dry_run"]["type"] == "boolean" and props["dry_run"]["default"] is False
    assert props["count"]["type"] == "number"
    assert props["target"]["format"] == "environment"
    assert environment_inputs(schema) == ["target"]
    # The hub's check types the values and says what is wrong with each.
    assert check_inputs(schema, {"level": "minor", "dry_run": "true", "count": "3",
                                 "target": "staging"}) == {
        "level": "minor", "dry_run": True, "count": 3.0, "target": "staging"}
    with pytest.raises(InputError, match="level: Input should be 'patch', 'minor' or 'major'"):
        check_inputs(schema, {"level": "huge", "target": "staging"})
    with pytest.raises(InputError, match="target: Field required"):
        check_inputs(schema, {})
    with pytest.raises(InputError, match="no input 'colour'"):
        check_inputs(schema, {"colour": "red", "target": "staging"})
    # As the dispatch sends them: strings.
    assert as_sent(schema, {"dry_run": True, "count": 3.0, "target": "staging"}) == {
        "dry_run": "true", "count": "3", "target": "staging"}


def test_inputs_named_as_workflows_name_them() -> None:
    # Hyphens, keywords and leading digits are usual input names: each is checked as named.
    text = ("on:\n  workflow_dispatch:\n    inputs:\n      dry-run: {type: boolean}\n"
            "      class: {required: true}\n      2fa: {type: number, default: 1}\n")
    schema = dispatch_schema(text, "w.yml")
    assert schema is not None
    assert check_inputs(schema, {"dry-run": "false", "class": "x", "2fa": "2"}) == {
        "dry-run": False, "class": "x", "2fa": 2.0}
    with pytest.raises(InputError, match="dry-run: Input should be a valid boolean"):
        check_inputs(schema, {"dry-run": "maybe", "class": "x"})


@pytest.mark.parametrize("text, expected", [
    ("on: push\njobs: {}\n", None),
    ("on: [push, workflow_dispatch]\njobs: {}\n", {}),
    ("on:\n  workflow_dispatch:\njobs: {}\n", {}),
    ('"on": {workflow_dispatch: {inputs: {x: {required: true}}}}\n', {"x": "string"}),
])
def test_the_spellings_of_the_trigger(text: str, expected: dict[str, str] | None) -> None:
    schema = dispatch_schema(text, "w.yml")
    if expected is None:
        assert schema is None
    else:
        assert schema is not None
        assert {k: v["type"] for k, v in schema["properties"].items()} == expected


@pytest.mark.parametrize("text, words", [
    ("on: [\n", r"not valid YAML \(line 2\)"),
    ("- a list\n", "not a workflow"),
    ("on:\n  workflow_dispatch:\n    inputs:\n      x: {type: colour}\n", "unknown type"),
    ("on:\n  workflow_dispatch:\n    inputs:\n      x: {type: choice}\n", "has no options"),
])
def test_a_broken_workflow_file_is_said(text: str, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        dispatch_schema(text, "w.yml")


# Re-runs ------------------------------------------------------------------------------------------

async def test_rerun_every_job_of_a_run_that_succeeded(make: Any, gh: GithubServer) -> None:
    made = await make()
    run_id = f"{OCTO}:1000025"
    rerun = request(ActionKind.RERUN_ALL, "all", run_id=run_id)
    plan = await made.source.plan_action(rerun)
    assert plan.summary.startswith(f"Re-run all jobs of CI #25 of {OCTO} (main @ ")
    assert plan.summary.endswith(": build, test")
    seen = await events(made.source, rerun)
    assert seen[0].message == "Re-running all jobs of CI #25 (attempt 2)"
    assert seen[-1].state is ActionState.SUCCEEDED
    assert gh.reruns == [(1000025, "all")] and gh.run(1000025).attempt == 2
    live = gh.add_run(OCTO, live=True)
    with pytest.raises(SourceError, match="can be re-run once it has finished"):
        await made.source.plan_action(rerun.model_copy(update={"run_id": f"{OCTO}:{live.id}"}))


async def test_rerun_one_job_by_its_name(make: Any, gh: GithubServer) -> None:
    made = await make()
    run_id = f"{OCTO}:1000024"  # failed in its test job
    one = request(ActionKind.RERUN_JOB, "job", run_id=run_id, params={"job": "test"})
    plan = await made.source.plan_action(one)
    assert plan.summary.startswith(f"Re-run job test (failure) of CI #24 of {OCTO}")
    seen = await events(made.source, one)
    assert seen[0].message == "Re-running job test of CI #24 (attempt 2)"
    assert seen[-1].state is ActionState.SUCCEEDED
    assert gh.reruns == [(1000024, "test")]
    assert posts(gh, "/actions/jobs/") == 1 and posts(gh, "/rerun-failed-jobs") == 0
    with pytest.raises(SourceNotFound, match=r"has no job 'lint' \(jobs: build, test\)"):
        await made.source.plan_action(one.model_copy(update={"params": {"job": "lint"}}))


# Reviews ------------------------------------------------------------------------------------------

async def test_approve_a_run_waiting_for_review_and_it_goes_on(make: Any,
                                                               gh: GithubServer) -> None:
    made = await make()
    held = gh.add_run(OCTO, outcome="waiting")
    assert held.status == "waiting"
    approve = request(ActionKind.APPROVE, "ok", run_id=f"{OCTO}:{held.id}",
                      reason="release 1.4 checked")
    plan = await made.source.plan_action(approve)
    assert plan.environments == ("production",)
    assert plan.summary.startswith(f"Approve the deployment of CI #{held.number} of {OCTO}")
    assert plan.summary.endswith("to production")
    seen = await events(made.source, approve.model_copy(update={"environment": "production"}))
    assert seen[0].message == f"Approved the deployment of CI #{held.number} of {OCTO} to " \
                              "production"
    assert seen[-1].state is ActionState.SUCCEEDED and " goes on " in seen[-1].message
    env_id = gh.environment_id(OCTO, "production")
    assert gh.reviews == [(held.id, "production", "approved", "release 1.4 checked")]
    body = next(b for m, p, b in gh.bodies if p.endswith("/pending_deployments"))
    assert body["environment_ids"] == [env_id] and body["state"] == "approved"
    while gh.run(held.id).status != "completed":  # read on: it runs to its end
        await made.source.pipeline_run(f"{OCTO}:{held.id}")
    assert gh.run(held.id).conclusion == "success"
    with pytest.raises(SourceError, match="waits for no deployment review"):
        await made.source.plan_action(approve.model_copy(update={"id": "again"}))


async def test_an_approval_after_which_the_run_waits_for_another_review(
        make: Any, gh: GithubServer) -> None:
    made = await make()
    held = gh.add_run(OCTO, outcome="waiting")
    held.next_review = "audit"
    approve = request(ActionKind.APPROVE, "first", run_id=f"{OCTO}:{held.id}")
    seen = await events(made.source, approve)
    assert seen[-1].state is ActionState.SUCCEEDED
    assert f"CI #{held.number} is approved for production and waits on" in seen[-1].message
    plan = await made.source.plan_action(approve.model_copy(update={"id": "second"}))
    assert plan.environments == ("audit",) and gh.run(held.id).status == "waiting"


async def test_reject_a_run_waiting_for_review_and_it_ends(make: Any, gh: GithubServer) -> None:
    made = await make()
    held = gh.add_run(OCTO, outcome="waiting")
    reject = request(ActionKind.REJECT, "no", run_id=f"{OCTO}:{held.id}")
    seen = await events(made.source, reject)
    assert seen[-1].state is ActionState.SUCCEEDED
    assert seen[-1].message.startswith(f"CI #{held.number} ended (failure): its deployment to "
                                       "production was rejected")
    assert gh.run(held.id).conclusion == "failure"
    assert [r[2] for r in gh.reviews] == ["rejected"]
    assert gh.reviews[0][3].startswith("Rejected with idp-tui")


async def test_a_review_the_token_may_not_give_or_in_another_environment(
        make: Any, gh: GithubServer) -> None:
    made = await make()
    held = gh.add_run(OCTO, outcome="waiting")
    approve = request(ActionKind.APPROVE, "ok", run_id=f"{OCTO}:{held.id}")
    with pytest.raises(SourceNotFound, match="waits for no review in staging .it waits in "
                                             "production"):
        await made.source.plan_action(approve.model_copy(update={"environment": "staging"}))
    gh.reviewer = False
    with pytest.raises(SourceAuthError, match="not a reviewer of production"):
        await made.source.plan_action(approve)
    with pytest.raises(SourceAuthError):
        await events(made.source, approve)
    assert posts(gh, "/pending_deployments") == 0 and gh.run(held.id).status == "waiting"


# Running a workflow with its inputs ---------------------------------------------------------------

async def test_run_a_workflow_with_its_declared_inputs(make: Any, gh: GithubServer) -> None:
    made = await make()
    add_release(gh)
    dispatch = request(ActionKind.DISPATCH, "rel", template="Release", version="main",
                       params={"level": "minor", "dry_run": True, "target": "staging"})
    plan = await made.source.plan_action(dispatch.model_copy(update={"params": {}}))
    assert plan.inputs is not None and plan.inputs["required"] == ["target"]
    assert plan.summary == f"Run workflow Release (release.yml) of {OCTO} on main with no inputs"
    assert any("Not sent as it is: required input target not given" in n for n in plan.notes)
    seen = await events(made.source, dispatch)
    assert seen[0].message == (f"Dispatching release.yml of {OCTO} on main with level=minor, "
                               "dry_run=true, target=staging")
    assert seen[-1].state is ActionState.SUCCEEDED
    run = gh.repos[OCTO].runs[0]
    assert (run.workflow.file, run.event, run.inputs) == (
        "release.yml", "workflow_dispatch",
        {"level": "minor", "dry_run": "true", "target": "staging"})
    assert posts(gh, "/dispatches") == 1


async def test_a_bad_value_is_refused_before_anything_is_sent(make: Any,
                                                              gh: GithubServer) -> None:
    made = await make()
    add_release(gh)
    bad = request(ActionKind.DISPATCH, "bad", template="release.yml",
                  params={"level": "huge", "target": "staging"})
    with pytest.raises(SourceError, match="input level: 'huge' is not one of patch, minor, "
                                          "major"):
        await events(made.source, bad)
    with pytest.raises(SourceError, match="required input target not given"):
        await events(made.source, bad.model_copy(update={"id": "bad2", "params": {}}))
    # GitHub's own refusal, were it sent.
    with pytest.raises(SourceError, match="not in the list of allowed values"):
        await made.source.api.post(f"/repos/{OCTO}/actions/workflows/release.yml/dispatches",
                                   {"ref": "main", "inputs": {"level": "huge", "target": "x"}},
                                   what="release")
    assert gh.repos[OCTO].runs[0].workflow.file != "release.yml"
    ci = request(ActionKind.DISPATCH, "ci", template="ci.yml")
    with pytest.raises(SourceError, match="has no workflow_dispatch trigger"):
        await made.source.plan_action(ci)
    with pytest.raises(SourceNotFound, match="no workflow nightly.yml"):
        await made.source.plan_action(ci.model_copy(update={"template": "nightly.yml"}))
