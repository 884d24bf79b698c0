"""The sandbox's pipeline runs re-run (failed jobs, all jobs, one job) and cancelled by actions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp_tui import (
    ActionKind,
    ActionRequest,
    ActionState,
    ManualClock,
    PipelineQuery,
    RunStatus,
    SourceError,
    SourceNotFound,
)

from conftest import T0


async def runs(source, limit: int = 400):
    return await source.pipeline_runs(PipelineQuery(limit=limit))


async def first(source, status: RunStatus, pipeline: str | None = None):
    for run in await runs(source):
        if run.status is status and (pipeline is None or run.pipeline == pipeline):
            return await source.pipeline_run(run.id)
    raise AssertionError(f"no {status.value} run")


async def act(source, kind: ActionKind, run_id: str, id: str, **fields):
    request = ActionRequest(id=id, kind=kind, run_id=run_id, source="sandbox", **fields)
    return [event async for event in source.run_action(request)]


async def test_rerun_failed_jobs_runs_them_again_as_a_new_attempt(make):
    clock = ManualClock(T0)
    source = await make(clock=clock)
    run = await first(source, RunStatus.FAILED)
    failed = [j.name for j in run.jobs if j.status is RunStatus.FAILED]
    kept = [j for j in run.jobs if j.status is RunStatus.SUCCEEDED]
    plan = await source.plan_action(ActionRequest(id="p", kind=ActionKind.RERUN, run_id=run.id))
    assert plan.summary.startswith("Re-run the failed jobs of") and failed[0] in plan.summary
    events = await act(source, ActionKind.RERUN, run.id, "rerun-1")
    assert events[-1].state is ActionState.SUCCEEDED, events[-1].message
    assert "attempt 2" in events[-1].message
    again = await source.pipeline_run(run.id)
    assert again.attempt == 2 and again.status is RunStatus.QUEUED
    assert again.created_at is not None and again.created_at < again.started_at
    for job in kept:  # the jobs before the failed one keep their outcome and times
        assert next(j for j in again.jobs if j.name == job.name) == job
    clock.advance(timedelta(hours=2))
    done = await source.pipeline_run(run.id)
    assert done.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and done.attempt == 2
    assert done.finished_at is not None and done.finished_at > run.finished_at
    listed = next(r for r in await source.pipeline_runs(PipelineQuery(service=run.service, limit=400))
                  if r.id == run.id)
    assert (listed.status, listed.attempt) == (done.status, 2)


async def test_a_rerun_is_kept_in_the_database(make, tmp_path):
    clock = ManualClock(T0)
    source = await make(clock=clock, db="kept.db")
    run = await first(source, RunStatus.FAILED)
    await act(source, ActionKind.RERUN_ALL, run.id, "all-1")
    clock.advance(timedelta(seconds=10))
    other = await make(clock=clock, db="kept.db")
    again = await other.pipeline_run(run.id)
    assert again.attempt == 2
    assert all(job.started_at is not None and job.started_at >= clock.now() - timedelta(seconds=10)
               for job in again.jobs if job.status is not RunStatus.QUEUED)
    # The same id is not run twice.
    events = await act(other, ActionKind.RERUN_ALL, run.id, "all-1")
    assert "Not repeated" in events[-1].message
    assert (await other.pipeline_run(run.id)).attempt == 2


async def test_rerun_one_job_runs_it_and_the_jobs_after_it(make):
    clock = ManualClock(T0)
    source = await make(clock=clock)
    run = await first(source, RunStatus.SUCCEEDED, "release")
    names = [j.name for j in run.jobs]
    target = names[1]
    with pytest.raises(SourceNotFound, match="has no job 'nope'"):
        await act(source, ActionKind.RERUN_JOB, run.id, "job-2", params={"job": "nope"})
    events = await act(source, ActionKind.RERUN_JOB, run.id, "job-1", params={"job": target})
    assert events[-1].state is ActionState.SUCCEEDED
    clock.advance(timedelta(seconds=1))
    again = await source.pipeline_run(run.id)
    assert again.jobs[0] == run.jobs[0]
    assert [j.status for j in again.jobs[1:]] == [RunStatus.QUEUED] * (len(names) - 1)


async def test_cancel_stops_a_running_run(make):
    clock = ManualClock(T0)
    source = await make(clock=clock)
    run = await first(source, RunStatus.RUNNING)
    plan = await source.plan_action(ActionRequest(id="p", kind=ActionKind.CANCEL, run_id=run.id))
    assert plan.summary.startswith("Cancel ")
    events = await act(source, ActionKind.CANCEL, run.id, "cancel-1")
    assert events[-1].state is ActionState.SUCCEEDED and events[-1].message.startswith("Cancelled")
    clock.advance(timedelta(hours=3))
    done = await source.pipeline_run(run.id)
    assert done.status is RunStatus.CANCELLED
    assert done.finished_at == T0
    states = [s.status for j in done.jobs for s in j.steps]
    assert RunStatus.CANCELLED in states or all(s is RunStatus.SKIPPED for s in states)
    assert RunStatus.RUNNING not in states and RunStatus.QUEUED not in states
    with pytest.raises(SourceError, match="nothing to cancel"):
        await act(source, ActionKind.CANCEL, run.id, "cancel-2")
    # …and it can be re-run.
    events = await act(source, ActionKind.RERUN, run.id, "rerun-after-cancel")
    assert events[-1].state is ActionState.SUCCEEDED


async def test_what_cannot_be_rerun_or_cancelled_is_refused(make):
    source = await make()
    running = await first(source, RunStatus.RUNNING)
    succeeded = await first(source, RunStatus.SUCCEEDED)
    with pytest.raises(SourceError, match="can be re-run once it has finished"):
        await source.plan_action(ActionRequest(id="a", kind=ActionKind.RERUN, run_id=running.id))
    with pytest.raises(SourceError, match="no failed job"):
        await source.plan_action(ActionRequest(id="b", kind=ActionKind.RERUN, run_id=succeeded.id))
    with pytest.raises(SourceNotFound):
        await source.plan_action(ActionRequest(id="c", kind=ActionKind.CANCEL, run_id="nope-ci-1"))
