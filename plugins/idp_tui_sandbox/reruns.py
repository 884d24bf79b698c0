"""Re-running and cancelling the sandbox's pipeline runs.

A run is a pure function of the seed and the clock (:mod:`idp_tui_sandbox.pipelines`); what actions
did to it is a list of :class:`RunChange` kept in SQLite (``run_changes``). A run with changes is
replayed from its first attempt: a cancel stops the attempt at that moment (the running step is
cancelled, the ones after it skipped); a re-run starts a new attempt a few seconds later that runs a
job and every job after it again (the jobs of a pipeline run one after another, so the later ones
depend on the earlier), each step taking as long as it did the first time. A step that failed fails
again in some re-runs (a stable draw per attempt), as a flaky test does.

The actions (``RerunWork``, ``CancelWork``) only record the change: the run then moves as the clock
does, as every run does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    Job,
    PipelineRun,
    RunStatus,
    SourceError,
    SourceNotFound,
    Step,
)

from .jobs import Work
from .rand import units

if TYPE_CHECKING:
    from .actions import Operations
    from .jobs import Job as ActionJob
    from .pipelines import Pipelines, RunSummary

#: Seconds between asking for a re-run and its first step (the queue).
RERUN_QUEUE = 5.0
#: The share of re-runs in which the step that failed fails again.
FAIL_AGAIN = 0.3
RERUN, CANCEL = "rerun", "cancel"


@dataclass(slots=True, frozen=True)
class RunChange:
    """What an action did to a run, and when: a re-run from the job ``first_job`` on, or a cancel."""

    kind: str
    at: float
    first_job: int = 0
    action_id: str = ""


@dataclass(slots=True, frozen=True)
class TimedStep:
    name: str
    start: float | None  # None: never runs (skipped)
    end: float | None
    outcome: RunStatus   # its state once ``end`` has passed


@dataclass(slots=True, frozen=True)
class Attempt:
    number: int
    asked: float    # when it was asked for (the run's creation, or the re-run)
    started: float  # when its first step may start
    finish: float
    outcome: RunStatus
    jobs: tuple[tuple[str, tuple[TimedStep, ...]], ...]

    def status(self, now: float) -> RunStatus:
        if now >= self.finish:
            return self.outcome
        return RunStatus.QUEUED if now < self.started else RunStatus.RUNNING


def first_attempt(pipelines: Pipelines, run: RunSummary) -> tuple[Attempt, dict[tuple[str, str], float]]:
    """The run as planned, and how long each step takes when it runs to its end."""
    plan = pipelines._plan(run)
    jobs = []
    durations: dict[tuple[str, str], float] = {}
    for j, (job, timed) in enumerate(plan.jobs):
        steps = []
        for k, (step, start, end) in enumerate(timed):
            durations[(job, step)] = end - start
            if plan.stop is not None and (j, k) > plan.stop:
                steps.append(TimedStep(step, None, None, RunStatus.SKIPPED))
            elif plan.stop == (j, k):
                steps.append(TimedStep(step, start, plan.finish, run.outcome))
            else:
                steps.append(TimedStep(step, start, end, RunStatus.SUCCEEDED))
        jobs.append((job, tuple(steps)))
    return Attempt(1, run.created, run.started, plan.finish, run.outcome, tuple(jobs)), durations


def cancelled(attempt: Attempt, at: float) -> Attempt:
    """``attempt`` stopped at ``at``: the running step cancelled, the ones not started skipped."""
    if at >= attempt.finish:
        return attempt
    jobs = []
    for job, steps in attempt.jobs:
        out = []
        for step in steps:
            if step.start is None or (step.end is not None and step.end <= at):
                out.append(step)
            elif step.start <= at:
                out.append(TimedStep(step.name, step.start, at, RunStatus.CANCELLED))
            else:
                out.append(TimedStep(step.name, None, None, RunStatus.SKIPPED))
        jobs.append((job, tuple(out)))
    return Attempt(attempt.number, attempt.asked, min(attempt.started, at), at, RunStatus.CANCELLED,
                   tuple(jobs))


def rerun(attempt: Attempt, at: float, first_job: int, durations: dict[tuple[str, str], float],
          key: str) -> Attempt:
    """A new attempt asked for at ``at`` that runs job ``first_job`` and the ones after it again."""
    number = attempt.number + 1
    u_again, u_point = units(f"{key}:attempt:{number}", 2)
    failed_before = [(job, step.name) for j, (job, steps) in enumerate(attempt.jobs) if j >= first_job
                     for step in steps if step.outcome is RunStatus.FAILED]
    fail_at = failed_before[0] if failed_before and u_again < FAIL_AGAIN else None
    start = cursor = at + RERUN_QUEUE
    jobs = []
    stopped = False
    for j, (job, steps) in enumerate(attempt.jobs):
        if j < first_job:
            jobs.append((job, steps))
            continue
        out = []
        for step in steps:
            took = durations.get((job, step.name), 1.0)
            if stopped:
                out.append(TimedStep(step.name, None, None, RunStatus.SKIPPED))
            elif (job, step.name) == fail_at:
                end = cursor + took * (0.3 + 0.7 * u_point)
                out.append(TimedStep(step.name, cursor, end, RunStatus.FAILED))
                cursor, stopped = end, True
            else:
                out.append(TimedStep(step.name, cursor, cursor + took, RunStatus.SUCCEEDED))
                cursor += took
        jobs.append((job, tuple(out)))
    outcomes = {step.outcome for _, steps in jobs for step in steps}
    outcome = RunStatus.FAILED if RunStatus.FAILED in outcomes else \
        RunStatus.CANCELLED if RunStatus.CANCELLED in outcomes else RunStatus.SUCCEEDED
    return Attempt(number, at, start, cursor, outcome, tuple(jobs))


def replay(pipelines: Pipelines, run: RunSummary, changes: list[RunChange], now: float) -> Attempt:
    """The run's attempt in force at ``now``, with the changes made by then."""
    attempt, durations = first_attempt(pipelines, run)
    for change in sorted(changes, key=lambda c: c.at):
        if change.at > now:
            break
        if change.kind == CANCEL:
            attempt = cancelled(attempt, change.at)
        elif change.kind == RERUN and change.at >= attempt.finish:
            attempt = rerun(attempt, change.at, change.first_job, durations, f"{pipelines.seed}:{run.id}")
    return attempt


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def job_models(attempt: Attempt, now: float) -> tuple[Job, ...]:
    """The jobs and steps of ``attempt`` as they stand at ``now``."""
    out = []
    for job, timed in attempt.jobs:
        steps = []
        for step in timed:
            if step.start is None:
                steps.append(Step(name=step.name, status=RunStatus.SKIPPED))
            elif now < step.start:
                steps.append(Step(name=step.name, status=RunStatus.QUEUED))
            elif step.end is None or now < step.end:
                steps.append(Step(name=step.name, status=RunStatus.RUNNING, started_at=_dt(step.start)))
            else:
                steps.append(Step(name=step.name, status=step.outcome, started_at=_dt(step.start),
                                  finished_at=_dt(step.end)))
        states = {s.status for s in steps}
        for status in (RunStatus.FAILED, RunStatus.CANCELLED):
            if status in states:
                job_status = status
                break
        else:
            if states <= {RunStatus.SUCCEEDED, RunStatus.SKIPPED} and RunStatus.SUCCEEDED in states:
                job_status = RunStatus.SUCCEEDED
            elif states == {RunStatus.SKIPPED}:
                job_status = RunStatus.SKIPPED
            elif states <= {RunStatus.QUEUED, RunStatus.SKIPPED}:
                job_status = RunStatus.QUEUED
            else:
                job_status = RunStatus.RUNNING
        started = next((s.started_at for s in steps if s.started_at), None)
        finished = None
        if job_status.finished and job_status is not RunStatus.SKIPPED:
            finished = max((s.finished_at for s in steps if s.finished_at), default=None)
        out.append(Job(name=job, id=job, status=job_status, started_at=started, finished_at=finished,
                       steps=tuple(steps)))
    return tuple(out)


def to_model(pipelines: Pipelines, run: RunSummary, changes: list[RunChange], now: float,
             detail: bool) -> PipelineRun:
    """The run as :meth:`Pipelines.to_model` shows it, with what actions did to it."""
    attempt = replay(pipelines, run, changes, now)
    model = pipelines.to_model(run, now, detail=False)
    status = attempt.status(now)
    started = attempt.started if now >= attempt.started else attempt.asked
    version = pipelines.version(run) if run.stream == "release" and status is RunStatus.SUCCEEDED else None
    return model.model_copy(update={
        "status": status, "started_at": _dt(started),
        "finished_at": _dt(attempt.finish) if status.finished else None,
        "version": version, "attempt": attempt.number,
        "created_at": _dt(run.created) if attempt.number > 1 else model.created_at,
        "jobs": job_models(attempt, now) if detail else (),
    })


# The actions -------------------------------------------------------------------------------------

class RunWork(Work):
    """Re-run (failed jobs, all jobs, one job) or cancel a sandbox pipeline run."""

    def __init__(self, ops: Operations, request: ActionRequest) -> None:
        super().__init__(ops, request)
        self.kind = request.kind
        if not request.run_id:
            raise SourceError(f"{request.kind.value}: no run given")
        pipelines = ops.pipelines
        self.summary = pipelines.summary_of(request.run_id, ops.now())
        if self.summary is None:
            raise SourceNotFound(f"no pipeline run {request.run_id!r} in the sandbox")
        now = ops.now()
        self.now = now
        changes = ops.store.run_changes(request.run_id)
        self.attempt = replay(pipelines, self.summary, changes, now)
        self.current = to_model(pipelines, self.summary, changes, now, detail=True)
        run = self.current
        self.service = run.service
        self.label = f"{run.pipeline} #{run.number} of {run.service}"
        status = run.status
        self.first_job = 0
        self.job_name = ""
        if self.kind is ActionKind.CANCEL:
            if status.finished:
                raise SourceError(f"{self.label} has already finished ({status.value}): nothing to cancel")
            self.title = f"cancel {self.label}"
            return
        if not status.finished:
            raise SourceError(f"{self.label} is still {status.value}: it can be re-run once it has finished",
                              hint="Cancel it first (X), or wait for it to finish.")
        names = [job.name for job in run.jobs]
        if self.kind is ActionKind.RERUN:
            if status is RunStatus.SUCCEEDED:
                raise SourceError(f"{self.label} succeeded: there is no failed job to re-run",
                                  hint="Re-run all its jobs instead (G).")
            failed = [i for i, job in enumerate(run.jobs)
                      if job.status in (RunStatus.FAILED, RunStatus.CANCELLED)]
            self.first_job = failed[0] if failed else 0
            self.title = f"re-run the failed jobs of {self.label}"
        elif self.kind is ActionKind.RERUN_JOB:
            wanted = str(request.params.get("job") or "").strip()
            if not wanted:
                raise SourceError(f"{self.label}: no job given")
            if wanted not in names:
                raise SourceNotFound(f"{self.label} has no job {wanted!r} (jobs: {', '.join(names)})")
            self.first_job = names.index(wanted)
            self.job_name = wanted
            self.title = f"re-run job {wanted} of {self.label}"
        elif self.kind is ActionKind.RERUN_ALL:
            self.title = f"re-run all jobs of {self.label}"
        else:
            raise SourceError(f"the sandbox cannot {self.kind.value} a pipeline run")
        self.jobs = names[self.first_job:]

    def plan(self) -> ActionPlan:
        run = self.current
        where = f"{run.branch} @ {run.commit[:7]}"
        if self.kind is ActionKind.CANCEL:
            running = [job.name for job in run.jobs if job.status is RunStatus.RUNNING]
            doing = f", running {', '.join(running)}" if running else ""
            return ActionPlan(summary=f"Cancel {self.label} ({run.status.value}{doing}, {where})",
                              notes=("The running step is stopped; the steps after it are skipped.",))
        verb = {ActionKind.RERUN: "Re-run the failed jobs of", ActionKind.RERUN_ALL: "Re-run all jobs of",
                ActionKind.RERUN_JOB: f"Re-run job {self.job_name} of"}[self.kind]
        notes = [f"Attempt {self.attempt.number + 1} runs {', '.join(self.jobs)}; the jobs before keep "
                 "their outcome."]
        if self.kind is not ActionKind.RERUN_ALL and len(self.jobs) > 1:
            notes.append("Jobs that depend on it run again too.")
        return ActionPlan(summary=f"{verb} {self.label} ({where}): {', '.join(self.jobs)}", notes=tuple(notes))

    async def steps(self, job: ActionJob) -> AsyncIterator[ActionEvent]:
        ops = self.ops
        now = ops.now()
        attempt = replay(ops.pipelines, self.summary, ops.store.run_changes(self.summary.id), now)
        if self.kind is ActionKind.CANCEL:
            if attempt.status(now).finished:
                yield job.fail(f"{self.label} finished before it could be cancelled ({attempt.outcome.value})")
                return
            ops.store.add_run_change(self.summary.id, RunChange(CANCEL, now, 0, job.id))
            yield job.succeed(f"Cancelled {self.label}")
            return
        if not attempt.status(now).finished:
            yield job.fail(f"{self.label} is running again already (attempt {attempt.number})")
            return
        ops.store.add_run_change(self.summary.id, RunChange(RERUN, now, self.first_job, job.id))
        yield job.succeed(f"Re-running {', '.join(self.jobs)} of {self.label} (attempt {attempt.number + 1}); "
                          "follow it in Pipelines")

