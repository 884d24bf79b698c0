"""CI runs as a pure function of the seed and the clock.

Each service has two streams of runs at jittered regular intervals from a fixed anchor:

* ``release``: pipeline runs on ``main`` (build → test → package → deploy-dev); a succeeded run
  produces a version ``<major>.<minor>.<patch>`` whose minor is bumped every calendar week and whose
  patch is the run's position within that week;
* ``ci``: feature and release branch runs (build → test, plus package on release branches).

Whether a run is queued, running or finished only depends on where the clock stands relative to its
planned times, so the list moves as the clock does, and the past never changes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from idp_tui import Job, PipelineRun, RunStatus, SourceNotFound, Step

from .rand import hexid, rng, units, weighted
from .world import PEOPLE, TEAM_TRAITS, ServiceSpec, World

#: Monday 2026-01-05 00:00 UTC: run numbers count from here, version minors count weeks from here.
ANCHOR = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
WEEK = 7 * 86400.0


def minor0_for(created: float) -> int:
    """A new service's versions are 0.1.x in the week it was created, 0.2.x the week after…"""
    return 1 - math.floor((created - ANCHOR) / WEEK)
#: How far back listings reach.
HISTORY = 7 * 86400.0
RELEASE, CI = "release", "ci"
_JITTER = 0.6  # a run is created within the first 60 % of its slot, so slots never reorder

_BUILD = ("build", ("checkout", "setup", "compile"))
_TEST = ("test", ("unit tests", "lint"))
_PACKAGE = ("package", ("docker build", "push"))
_DEPLOY = ("deploy-dev", ("helm upgrade", "smoke test"))
PIPELINE_JOBS = {
    RELEASE: (_BUILD, _TEST, _PACKAGE, _DEPLOY),
    CI: (_BUILD, _TEST),
    "ci-release-branch": (_BUILD, _TEST, _PACKAGE),
}
_FAIL_WEIGHTS = {"checkout": 0.2, "setup": 0.5, "compile": 2.0, "unit tests": 5.0, "lint": 2.0,
                 "docker build": 1.0, "push": 0.5, "helm upgrade": 1.5, "smoke test": 1.0}
_FAIL_RATE, _CANCEL_RATE = 0.12, 0.015

_FEATURES = (
    "retry-budget", "idempotency-keys", "refund-rounding", "otel-tracing", "bulk-export",
    "pagination-cursor", "rate-limit-headers", "currency-precision", "cache-warmup", "graceful-shutdown",
    "schema-v2", "audit-fields", "timeout-tuning", "dead-letter-queue", "healthcheck-deps",
    "flaky-test-fix", "upgrade-deps", "structured-logging", "db-pool-metrics", "feature-flag-cleanup",
)
_LIBS = {
    "go": ("grpc-go", "pgx", "zap", "otel-go", "chi"),
    "python": ("fastapi", "sqlalchemy", "pydantic", "httpx", "celery"),
    "java": ("spring-boot", "jackson-databind", "netty", "hikaricp", "micrometer"),
    "kotlin": ("ktor", "kotlinx-coroutines", "exposed", "jackson-module-kotlin", "micrometer"),
    "typescript": ("fastify", "prisma", "zod", "pino", "undici"),
    "rust": ("tokio", "axum", "sqlx", "serde", "tracing"),
}
_SUBJECTS = (
    "Fix {thing} handling in {resource} handler", "Add {feature} to {resource} API",
    "Bump {lib} from {a}.{b}.{c} to {a}.{b}.{c2}", "Refactor {resource} repository layer",
    "Reduce allocations in {resource} serializer", "Add metrics for {dep} client",
    "Retry {dep} calls with jittered backoff", "Remove unused {resource} endpoint",
    "Tighten input validation for {resource} requests", "Update runbook links",
    "Migrate {resource} table to new index", "Increase {dep} client timeout to {ms}ms",
    "Log request ids on {thing} errors", "Guard against {thing} in {resource} import",
)
_THINGS = ("timeout", "null currency", "duplicate event", "expired token", "partial refund", "retry",
           "empty cart", "unicode name", "missing locale", "stale cache", "negative amount")


@dataclass(slots=True, frozen=True)
class RunSummary:
    """The cheap part of a run: enough to order runs and tell their fate."""

    spec: ServiceSpec
    stream: str
    n: int
    created: float
    started: float
    total: float
    outcome: RunStatus
    u_point: float
    u_branch: float

    @property
    def id(self) -> str:
        return f"{self.spec.name}-{self.stream}-{self.n}"

    @property
    def success_finish(self) -> float:
        return self.started + self.total


@dataclass(slots=True)
class _Plan:
    jobs: list[tuple[str, list[tuple[str, float, float]]]]
    finish: float
    stop: tuple[int, int] | None  # (job, step) where a failed or cancelled run stopped


def _quiet(ts: float) -> bool:
    """Nights and weekends (UTC), when fewer runs start."""
    days, seconds = divmod(ts, 86400.0)
    weekday = (int(days) + 3) % 7  # 1970-01-01 was a Thursday
    return weekday >= 5 or seconds < 6 * 3600 or seconds >= 22 * 3600


def _shown_start(run: RunSummary, now: float) -> float:
    """``started_at`` as listed: the creation time while queued, else the start time.

    Within a stream it decreases from newer to older runs (slots are further apart than the longest
    queue), so merged streams stay sorted.
    """
    return run.created if now < run.started else run.started


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Pipelines:
    """All pipeline runs of a world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seed = world.seed
        self._summaries: dict[tuple[str, str, int], RunSummary | None] = {}
        self._week_start: dict[tuple[str, int], int] = {}
        self._durations: dict[tuple[str, tuple], float] = {}
        #: What actions did to runs (re-runs, cancels) by run id: the source reads them from its store.
        self.changes: Callable[[], dict[str, list]] = dict

    def forget(self, service: str) -> None:
        """Drop what is cached about ``service`` (created or removed by an action)."""
        for key in [k for k in self._summaries if k[0] == service]:
            del self._summaries[key]
        for cache in (self._week_start, self._durations):
            for key in [k for k in cache if k[0] == service]:
                del cache[key]

    # Schedule -----------------------------------------------------------------------------------
    @staticmethod
    def _slot(spec: ServiceSpec, stream: str) -> tuple[float, float]:
        if stream == RELEASE:
            return spec.release_period, spec.release_phase
        return spec.ci_period, spec.ci_phase

    def _uniforms(self, spec: ServiceSpec, stream: str, n: int) -> tuple[float, ...]:
        return units(f"{self.seed}:run:{spec.name}:{stream}:{n}", 8)

    def _created(self, spec: ServiceSpec, stream: str, n: int, u0: float) -> float:
        period, phase = self._slot(spec, stream)
        return ANCHOR + phase + (n + u0 * _JITTER) * period

    def summary(self, spec: ServiceSpec, stream: str, n: int) -> RunSummary | None:
        """The run in slot ``n`` of a stream, or None when no run was started in that slot."""
        key = (spec.name, stream, n)
        try:
            return self._summaries[key]
        except KeyError:
            pass
        u = self._uniforms(spec, stream, n)
        created = self._created(spec, stream, n, u[0])
        if (_quiet(created) and u[1] < 0.5) or (spec.created is not None and created < spec.created):
            result = None
        else:
            queue = 5.0 + 40.0 * u[2] if u[3] >= 0.07 else 120.0 + 300.0 * u[2]
            total = self._base_duration(spec, stream, u[7]) * (0.85 + 0.4 * u[4])
            if u[5] < _FAIL_RATE:
                outcome = RunStatus.FAILED
            elif u[5] < _FAIL_RATE + _CANCEL_RATE:
                outcome = RunStatus.CANCELLED
            else:
                outcome = RunStatus.SUCCEEDED
            result = RunSummary(spec, stream, n, created, created + queue, total, outcome, u[6], u[7])
        if len(self._summaries) > 500_000:
            self._summaries.clear()
        self._summaries[key] = result
        return result

    def _base_duration(self, spec: ServiceSpec, stream: str, u_branch: float) -> float:
        jobs = self._jobs(stream, u_branch)
        key = (spec.name, jobs)
        total = self._durations.get(key)
        if total is None:
            total = self._durations[key] = sum(spec.steps[step] for _, steps in jobs for step in steps)
        return total

    @staticmethod
    def _jobs(stream: str, u_branch: float) -> tuple:
        if stream == RELEASE:
            return PIPELINE_JOBS[RELEASE]
        return PIPELINE_JOBS["ci-release-branch" if u_branch >= 0.9 else CI]

    def _stream(self, spec: ServiceSpec, stream: str, now: float, horizon: float) -> Iterator[RunSummary]:
        """Runs of one stream created in [horizon, now], newest first."""
        period, phase = self._slot(spec, stream)
        n = math.floor((now - ANCHOR - phase) / period)
        while ANCHOR + phase + (n + _JITTER) * period >= horizon:
            run = self.summary(spec, stream, n)
            if run is not None and horizon <= run.created <= now:
                yield run
            n -= 1

    def runs(self, spec: ServiceSpec, now: float, horizon: float | None = None) -> Iterator[RunSummary]:
        """All runs of a service created in [horizon, now], newest first (by shown start time)."""
        horizon = now - HISTORY if horizon is None else horizon
        return heapq.merge(self._stream(spec, RELEASE, now, horizon), self._stream(spec, CI, now, horizon),
                           key=lambda run: -_shown_start(run, now))

    # Versions -----------------------------------------------------------------------------------
    def version(self, run: RunSummary) -> str:
        """The version a release run produces (whether or not it succeeded)."""
        spec = run.spec
        week = math.floor((run.created - ANCHOR) / WEEK)
        first = self._first_of_week(spec, week)
        return f"{spec.major}.{max(spec.minor0 + week, 0)}.{run.n - first}"

    def _first_of_week(self, spec: ServiceSpec, week: int) -> int:
        key = (spec.name, week)
        first = self._week_start.get(key)
        if first is None:
            period, phase = spec.release_period, spec.release_phase
            start = ANCHOR + week * WEEK
            if spec.created is not None:  # a new service counts its builds from its creation
                start = max(start, spec.created)
            first = math.ceil((start - ANCHOR - phase) / period - _JITTER)
            while self._created(spec, RELEASE, first, self._uniforms(spec, RELEASE, first)[0]) < start:
                first += 1
            self._week_start[key] = first
        return first

    def releases(self, spec: ServiceSpec, before: float, horizon: float) -> Iterator[tuple[str, float]]:
        """``(version, finished)`` of succeeded release runs finished by ``before``, newest first."""
        for run in self._stream(spec, RELEASE, before, horizon):
            if run.outcome is RunStatus.SUCCEEDED and run.success_finish <= before:
                yield self.version(run), run.success_finish

    def last_release(self, spec: ServiceSpec, before: float) -> tuple[str, float] | None:
        return next(self.releases(spec, before, before - 30 * 86400.0), None)

    def release_runs(self, spec: ServiceSpec, before: float, horizon: float) -> Iterator[RunSummary]:
        """Succeeded release runs finished by ``before`` and created after ``horizon``, newest first."""
        for run in self._stream(spec, RELEASE, before, horizon):
            if run.outcome is RunStatus.SUCCEEDED and run.success_finish <= before:
                yield run

    def release_run(self, spec: ServiceSpec, version: str) -> RunSummary | None:
        """The release run that produces ``version`` (whatever its outcome), if there is one."""
        parts = version.split(".")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            return None
        major, minor, patch = map(int, parts)
        if major != spec.major:
            return None
        week = minor - spec.minor0
        if week < 0:
            return None
        run = self.summary(spec, RELEASE, self._first_of_week(spec, week) + patch)
        if run is None or self.version(run) != version:
            return None
        return run

    def main_commits(self, spec: ServiceSpec, newer: RunSummary, older: RunSummary | None,
                     limit: int) -> tuple[list[tuple[RunSummary, dict]], int]:
        """Commits on ``main`` after ``older`` up to ``newer``, newest first: ``(run, description)``.

        Every release run is one push to ``main``, whatever its outcome; returns at most ``limit`` and
        how many more there are.
        """
        low = older.n if older is not None else newer.n - limit
        commits: list[tuple[RunSummary, dict]] = []
        more = 0
        for n in range(newer.n, low, -1):
            run = self.summary(spec, RELEASE, n)
            if run is None:
                continue
            if len(commits) < limit:
                commits.append((run, self._describe(run)))
            else:
                more += 1
        return commits, more

    def author(self, run: RunSummary) -> str:
        """Who pushed the commit a run built."""
        r = rng(f"{self.seed}:author:{run.id}")
        return PEOPLE[r.randrange(len(PEOPLE))]

    def describe(self, run: RunSummary) -> dict:
        """Branch, trigger, commit message and hash of a run."""
        return self._describe(run)

    # Detail -------------------------------------------------------------------------------------
    def _plan(self, run: RunSummary) -> _Plan:
        r = rng(f"{self.seed}:plan:{run.id}")
        spec = run.spec
        layout = self._jobs(run.stream, run.u_branch)
        weights = [[spec.steps[step] * r.uniform(0.8, 1.2) for step in steps] for _, steps in layout]
        scale = run.total / sum(sum(w) for w in weights)
        jobs: list[tuple[str, list[tuple[str, float, float]]]] = []
        t = run.started
        for (job, steps), job_weights in zip(layout, weights):
            timed = []
            for step, weight in zip(steps, job_weights):
                timed.append((step, t, t + weight * scale))
                t += weight * scale
            jobs.append((job, timed))
        finish, stop = t, None
        if run.outcome is RunStatus.FAILED:
            candidates = {(j, k): _FAIL_WEIGHTS[step] for j, (_, timed) in enumerate(jobs)
                          for k, (step, _, _) in enumerate(timed)}
            stop = weighted(r, candidates)
            _, start, end = jobs[stop[0]][1][stop[1]]
            finish = start + (end - start) * (0.3 + 0.7 * run.u_point)
        elif run.outcome is RunStatus.CANCELLED:
            finish = run.started + run.total * (0.05 + 0.9 * run.u_point)
            stop = next((j, k) for j, (_, timed) in enumerate(jobs) for k, (_, start, end) in enumerate(timed)
                        if start <= finish < end or (j == len(jobs) - 1 and k == len(timed) - 1))
        return _Plan(jobs, finish, stop)

    def finish(self, run: RunSummary) -> float:
        if run.outcome is RunStatus.SUCCEEDED:
            return run.success_finish
        return self._plan(run).finish

    def _describe(self, run: RunSummary) -> dict:
        spec = run.spec
        r = rng(f"{self.seed}:meta:{run.id}")
        deps = spec.depends_on or ("postgres",)
        lib = r.choice(_LIBS[spec.language])
        subject = r.choice(_SUBJECTS).format(
            thing=r.choice(_THINGS), resource=spec.resource, feature=r.choice(_FEATURES).replace("-", " "),
            lib=lib, a=r.randrange(1, 5), b=r.randrange(0, 30), c=r.randrange(0, 9), c2=r.randrange(9, 15),
            dep=r.choice(deps), ms=r.choice((500, 800, 1500, 2000, 3000)),
        )
        if run.stream == RELEASE:
            branch = "main"
            trigger = weighted(r, {"push": 85, "manual": 10, "schedule": 5})
            if trigger == "schedule":
                subject = "Nightly release build"
        elif run.u_branch >= 0.9:
            week = math.floor((run.created - ANCHOR) / WEEK)
            branch = f"release/{spec.major}.{max(spec.minor0 + week - 1, 0)}"
            trigger = "push"
            subject = f"Cherry-pick: {subject}"
        else:
            code = TEAM_TRAITS[spec.team]["code"]
            branch = f"feature/{code}-{r.randrange(100, 5000)}-{r.choice(_FEATURES)}"
            trigger = "pull_request" if r.random() < 0.85 else "push"
        return {"branch": branch, "trigger": trigger, "message": subject,
                "commit": hexid(f"{self.seed}:commit:{run.id}", 7)}

    def to_model(self, run: RunSummary, now: float, detail: bool = False) -> PipelineRun:
        plan = self._plan(run) if detail or run.outcome is not RunStatus.SUCCEEDED else None
        finish = plan.finish if plan else run.success_finish
        if now < run.started:
            status = RunStatus.QUEUED
        elif now < finish:
            status = RunStatus.RUNNING
        else:
            status = run.outcome
        spec = run.spec
        version = None
        if run.stream == RELEASE and status is RunStatus.SUCCEEDED:
            version = self.version(run)
        jobs = self._job_models(plan, now, status) if detail and plan else ()
        return PipelineRun(
            id=run.id, service=spec.name, pipeline="release" if run.stream == RELEASE else "ci",
            status=status, started_at=_dt(_shown_start(run, now)),
            finished_at=_dt(finish) if status.finished else None, version=version,
            url=f"https://ci.example.com/{spec.team}/{spec.name}/{run.stream}/{run.n}", jobs=jobs,
            number=run.n, **self._describe(run),
        )

    @staticmethod
    def _job_models(plan: _Plan, now: float, status: RunStatus) -> tuple[Job, ...]:
        stopped = status in (RunStatus.FAILED, RunStatus.CANCELLED)
        jobs = []
        for j, (job, timed) in enumerate(plan.jobs):
            steps = []
            for k, (step, start, end) in enumerate(timed):
                if stopped and plan.stop is not None and (j, k) > plan.stop:
                    steps.append(Step(name=step, status=RunStatus.SKIPPED))
                elif stopped and (j, k) == plan.stop:
                    steps.append(Step(name=step, status=status, started_at=_dt(start),
                                      finished_at=_dt(plan.finish)))
                elif end <= now:
                    steps.append(Step(name=step, status=RunStatus.SUCCEEDED, started_at=_dt(start),
                                      finished_at=_dt(end)))
                elif start <= now:
                    steps.append(Step(name=step, status=RunStatus.RUNNING, started_at=_dt(start)))
                else:
                    steps.append(Step(name=step, status=RunStatus.QUEUED))
            states = {s.status for s in steps}
            if RunStatus.FAILED in states:
                job_status = RunStatus.FAILED
            elif RunStatus.CANCELLED in states:
                job_status = RunStatus.CANCELLED
            elif states == {RunStatus.SUCCEEDED}:
                job_status = RunStatus.SUCCEEDED
            elif states == {RunStatus.SKIPPED}:
                job_status = RunStatus.SKIPPED
            elif states == {RunStatus.QUEUED}:
                job_status = RunStatus.QUEUED
            else:
                job_status = RunStatus.RUNNING
            started = next((s.started_at for s in steps if s.started_at), None)
            finished = steps[-1].finished_at if job_status.finished and job_status is not RunStatus.SKIPPED \
                else None
            if job_status in (RunStatus.FAILED, RunStatus.CANCELLED):
                finished = _dt(plan.finish)
            jobs.append(Job(name=job, id=job, status=job_status, started_at=started, finished_at=finished,
                            steps=tuple(steps)))
        return tuple(jobs)

    # Queries ------------------------------------------------------------------------------------
    def _model(self, run: RunSummary, now: float, changes: dict[str, list], detail: bool = False) -> PipelineRun:
        """The run with what actions did to it (re-runs, a cancel), if they did anything."""
        done = changes.get(run.id)
        if done and any(change.at <= now for change in done):
            from .reruns import to_model  # noqa: PLC0415

            return to_model(self, run, done, now, detail)
        return self.to_model(run, now, detail)

    def list(self, now: float, service: str | None, limit: int) -> list[PipelineRun]:
        if service is not None:
            spec = self.world.get(service)
            if spec is None:
                raise SourceNotFound(f"no service named {service!r} in the sandbox")
            runs = self.runs(spec, now)
        else:
            runs = heapq.merge(*(self.runs(spec, now) for spec in self.world.specs),
                               key=lambda run: -_shown_start(run, now))
        changes = self.changes()
        return [self._model(run, now, changes) for run in islice(runs, limit)]

    def summary_of(self, run_id: str, now: float) -> RunSummary | None:
        """The run named ``run_id`` (``SERVICE-STREAM-N``) if it was created by ``now``."""
        parts = run_id.rsplit("-", 2)
        run = None
        if len(parts) == 3 and parts[1] in (RELEASE, CI) and parts[2].isdigit():
            spec = self.world.get(parts[0])
            if spec is not None:
                run = self.summary(spec, parts[1], int(parts[2]))
        return None if run is None or run.created > now else run

    def get(self, run_id: str, now: float) -> PipelineRun:
        run = self.summary_of(run_id, now)
        if run is None:
            raise SourceNotFound(f"no pipeline run {run_id!r} in the sandbox")
        return self._model(run, now, self.changes(), detail=True)
