"""A local GitHub REST API for the ``github`` source's tests and benchmark.

Every object it serves is a copy of one of GitHub's own published example payloads
(``tests/fixtures/github``, see its README) with ids, names, states and times changed; a repository
added with ``published=True`` also serves the published workflow run and job unchanged (as its
oldest run). It behaves
like api.github.com where the source depends on it:

* workflow runs (newest first) with ``branch``/``status``/``event``/``created`` filters, jobs with
  steps, workflows, deployments and their statuses; lists paged by ``per_page``/``page`` with a
  ``Link`` header as GitHub writes it (``rel="prev"``, ``"next"``, ``"last"``, ``"first"``);
* an ``ETag`` on every 200 GET, and ``304`` without a body for a matching ``If-None-Match`` (not
  counted against the quota);
* ``x-ratelimit-*`` headers counting down per counted request; past the limit ``403`` (or ``429``)
  with GitHub's message; :meth:`GithubServer.throttle` answers the next requests with a secondary
  limit or a ``retry-after``; the window resets when the server's clock passes ``reset``;
* a wrong token → 401 "Bad credentials"; an unknown repository → 404 "Not Found";
* a job's log → 302 to a pre-signed blob URL on the same server, which refuses a request that
  carries an ``Authorization`` header;
* workflow dispatch (200 with the run's details when asked, else 204; inputs validated against the
  workflow's declared inputs and a choice input's options, 422 otherwise), re-run of the failed
  jobs, of every job or of one job and those after it (201), cancel (202, 409 once completed);
* a workflow file by the contents API (base64), written from the declared inputs or given
  whole (:meth:`GithubServer.add_workflow`);
* ``pending_deployments`` of a run waiting for review (the environment, its id, whether the
  token's user may review it) and the review itself: approved, the run goes on; rejected, it
  fails.

Runs created here (a dispatch, :meth:`GithubServer.add_run` with ``live=True``, a re-run) advance
one step each time the run, its jobs or one of its jobs is read: deterministic, whatever the wall
time.
A deploy run that completes records a deployment (ref = the deployed version) in its environment.
A run dispatched with the outcome "waiting" stops before its last job, as GitHub holds a job that
deploys to an environment with required reviewers (run and job status "waiting"), until
:meth:`GithubServer.approve`; then it goes on to succeed.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "github"
TOKEN = "ghp_idpTuiEmulatorToken0123456789abcdef"
DOCS = "https://docs.github.com/rest"
#: Jobs and steps of the two workflows every repository has. The second-to-last step of the last
#: job is where a failing (or cancelled) run stops.
CI_JOBS = (("build", ("Set up job", "Run actions/checkout@v4", "Install dependencies", "Build",
                      "Complete job")),
           ("test", ("Set up job", "Run actions/checkout@v4", "Run tests", "Complete job")))
DEPLOY_JOBS = (("build", ("Set up job", "Run actions/checkout@v4", "Build image", "Complete job")),
               ("deploy", ("Set up job", "Run actions/checkout@v4", "Deploy", "Complete job")))
DEPLOY_INPUTS = {"service": True, "environment": True, "version": True}
#: Conclusions of the generated history, newest first, repeated.
HISTORY = ("success", "failure", "success", "success", "cancelled", "success", "timed_out",
           "success", "skipped", "success", "startup_failure", "success")
NO_JOBS = frozenset({"skipped", "neutral", "startup_failure", "action_required", "stale"})
#: Steps' logs as GitHub writes them (for ``GithubServer.step_logs``): runner groups in "Set up
#: job", one "Run …" group per step around its command (in cyan), the step's output after it (with
#: colours and a group of its own), the clean-up of "Complete job".
GITHUB_STEP_LOGS = {
    "Set up job": ["Current runner version: '2.311.0'", "##[group]Operating System", "Ubuntu",
                   "22.04.3", "LTS", "##[endgroup]", "##[group]Runner Image",
                   "Image: ubuntu-22.04", "##[endgroup]"],
    "Run actions/checkout@v4": ["##[group]Run actions/checkout@v4", "with:",
                                "  repository: acme/payments", "##[endgroup]",
                                "Syncing repository: acme/payments",
                                "##[group]Getting Git version info",
                                "\x1b[36;1m[command]\x1b[0m/usr/bin/git version",
                                "git version 2.43.0", "##[endgroup]", "HEAD is now at 1234567"],
    "Run tests": ["##[group]Run npm test", "\x1b[36;1mnpm test\x1b[0m",
                  "shell: /usr/bin/bash -e {0}", "##[endgroup]", "> jest",
                  "\x1b[32mPASS\x1b[39m src/a.test.js",
                  "\x1b[1m\x1b[31mFAIL\x1b[39m\x1b[22m src/b.test.js",
                  "hostile [/ [@click=app.quit]x \x1b]8;;http://x\x07link \x1b[2J bell\x07"],
    "Complete job": ["Cleaning up orphan processes"],
}
_RUN = re.compile(r"/repos/([^/]+/[^/]+)/(.*)")
_loaded: dict[str, Any] = {}


def fixture(name: str) -> Any:
    """A fresh copy of a published payload (``name`` without ``.json``)."""
    if name not in _loaded:
        _loaded[name] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(_loaded[name])


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha_of(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def log_time(when: datetime, tenth: int) -> str:
    """GitHub's log timestamp (seven fractional digits) ``tenth`` tenths of a second after."""
    when = when.astimezone(UTC) + timedelta(seconds=tenth / 10)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}1Z"


class ApiError(Exception):
    """An error answer: ``code`` is the HTTP status, ``extra`` more keys of the body."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = code
        self.body = {"message": message, "documentation_url": DOCS, **extra}


@dataclass
class Workflow:
    id: int
    name: str
    file: str
    jobs: tuple[tuple[str, tuple[str, ...]], ...]
    inputs: dict[str, bool] | None = None  # None: no workflow_dispatch trigger
    #: The workflow file as served by the contents API (default: written from ``inputs``).
    text: str | None = None
    #: Choice inputs: their options (a dispatch with another value is refused, 422).
    options: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Step:
    name: str
    number: int
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class Job:
    id: int
    name: str
    steps: list[Step]
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    published: dict[str, Any] | None = None


@dataclass
class Run:
    id: int
    number: int
    workflow: Workflow
    branch: str
    sha: str
    event: str
    message: str
    created_at: datetime
    outcome: str = "success"
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    attempt: int = 1
    actor: str = "octocat"
    #: Numbers of the pull requests (of the repository) a pull_request run is for.
    pull_requests: list[int] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    cancelling: bool = False
    published: bool = False
    held: bool = False
    #: Its last job deploys to a protected environment: the run waits there until approve().
    needs_approval: bool = False
    #: The environment it waits for review in (its ``environment`` input, else production).
    review_env: str = "production"
    #: Once approved there, the run waits for a review in this environment too.
    next_review: str | None = None


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    statuses: list[tuple[int, str, str, datetime]] = field(default_factory=list)  # newest first
    #: What the deployment was created with: an object, or a string as GitHub keeps it when
    #: it was created with one (``"{\"version\": \"1.4.2\"}"``); None: the fixture's ``{}``.
    payload: Any = None
    #: GitHub's ``transient_environment``: an environment that goes away (a preview).
    transient: bool = False


@dataclass
class Repo:
    full_name: str
    id: int
    workflows: list[Workflow]
    refs: dict[str, str]
    runs: list[Run] = field(default_factory=list)  # newest first
    deployments: list[Deployment] = field(default_factory=list)  # newest first
    version: int = 0
    cache: dict[str, tuple[int, tuple[int, bytes, dict[str, str]]]] = field(default_factory=dict)
    #: The default branch's commits, oldest first (sha, committed at), for the compare API.
    commits: list[tuple[str, datetime]] = field(default_factory=list)


class GithubServer:
    """The emulator: ``with GithubServer(now=clock.now) as gh: gh.add_repo("o/r")``; ``url``
    is where it listens, ``api_url`` what the source's ``url`` is set to."""

    def __init__(self, *, token: str = TOKEN, limit: int = 5000, now: Callable[[], datetime]
                 | None = None, prefix: str = "") -> None:
        self.token = token
        self.limit = limit
        #: 403 or 429 when the quota is spent.
        self.limit_status = 403
        #: Answer a dispatch with 204 even when run details are asked for (older servers).
        self.force_204 = False
        #: Conclusions of the next runs created by a dispatch or a re-run (then "success").
        self.outcomes: list[str] = []
        #: Repositories that answer every request with this status (e.g. 502).
        self.repo_errors: dict[str, int] = {}
        #: What a step writes to its job's log, by the step's name, instead of its name in a group
        #: (GitHub's own form: see GITHUB_STEP_LOGS); a failed step's error lines follow.
        self.step_logs: dict[str, list[str]] = {}
        self.prefix = prefix
        #: The token's user may review the environments runs wait in.
        self.reviewer = True
        #: The token's user (``GET /user``); None: a token of no user (an app's), answered 403.
        self.login: str | None = "octocat"
        #: (run id, environment, state, comment) of every review, and (run id, what) of every
        #: re-run ("failed", "all" or the job's name).
        self.reviews: list[tuple[int, str, str, str]] = []
        self.reruns: list[tuple[int, str]] = []
        #: (method, path, JSON body) of every POST with a JSON body.
        self.bodies: list[tuple[str, str, Any]] = []
        self.now = now or (lambda: datetime.now(UTC))
        self.requests = self.counted = self.not_modified = 0
        #: (method, path with query, whether an Authorization header came) of every request.
        self.log: list[tuple[str, str, bool]] = []
        #: (the server's time, method, path with query, status answered) of every request.
        self.answers: list[tuple[datetime, str, str, int]] = []
        self.repos: dict[str, Repo] = {}
        self.used = 0
        self.reset_at = self.now() + timedelta(hours=1)
        self._throttles: list[tuple[int, int | None, str]] = []
        self._barrier: threading.Barrier | None = None
        self._held = 0
        self._ids = 5_000_000
        self._lock = threading.RLock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> GithubServer:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._serve(self, "GET")

            def do_POST(self) -> None:
                api._serve(self, "POST")

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> GithubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """What the source's ``url`` is set to (with the GHES-like prefix, if any)."""
        return self.url + self.prefix

    # Knobs ---------------------------------------------------------------------------------------

    def add_repo(self, full_name: str, *, runs: int = 12, published: bool = False,
                 environments: dict[str, str] | None = None) -> Repo:
        """A repository with ``runs`` completed runs (conclusions from HISTORY, every 5th on a
        feature branch, the 4th a tag push "v1.2.0"), the CI and Deploy workflows, and for each
        environment two deployments, the newer one's last status as given (default success);
        ``published``: the published run and job, unchanged, as the oldest run."""
        with self._lock:
            number = len(self.repos) + 1
            ci = Workflow(number * 100 + 1, "CI", "ci.yml", CI_JOBS)
            deploy = Workflow(number * 100 + 2, "Deploy", "deploy.yml", DEPLOY_JOBS,
                              dict(DEPLOY_INPUTS))
            repo = Repo(full_name, number * 1000, [ci, deploy],
                        {"main": sha_of(full_name, "main")})
            self.repos[full_name] = repo
            start = self.now() - timedelta(hours=1)
            for i in range(runs, 0, -1):
                age = timedelta(minutes=20 * i)
                conclusion = HISTORY[(i - 1) % len(HISTORY)]
                branch = "v1.2.0" if i == 4 else f"feature/f{i}" if i % 5 == 0 else "main"
                run = self._new_run(repo, ci, branch, "push", f"Change {i} of {full_name}",
                                    start - age, outcome=conclusion, sha=sha_of(full_name, i))
                if branch == "v1.2.0":
                    repo.refs[branch] = run.sha
                moment = start - age + timedelta(seconds=5)
                while run.status != "completed":
                    self._tick(repo, run, moment)
                    moment += timedelta(seconds=10)
            if published:
                self._publish(repo)
            states = {"dev": "success", "staging": "success", "production": "success"} \
                if environments is None else environments
            shas = [r.sha for r in repo.runs if r.conclusion == "success"] or [sha_of(full_name)]
            for j, (env, state) in enumerate(states.items()):
                for k, final in ((j + 1, "inactive"), (j, state)):
                    sha = ref = shas[min(k, len(shas) - 1)]
                    if k == j and env == "dev":  # a branch as the ref
                        ref = "main"
                    elif k == j and env == "production" and "v1.2.0" in repo.refs:  # a tag
                        sha, ref = repo.refs["v1.2.0"], "v1.2.0"
                    self._deploy(repo, env, sha, ref, final,
                                 start - timedelta(minutes=5 * (len(states) - j) + k))
            return repo

    def add_run(self, full_name: str, *, live: bool = False, outcome: str = "success",
                branch: str = "main", message: str = "A new change",
                held_at: int | None = None, event: str = "push", actor: str = "octocat",
                pull_request: int | None = None, workflow: str = "ci.yml") -> Run:
        """A new run (of CI, or of ``workflow``, by its file name; a push by octocat unless
        ``event``/``actor`` say otherwise; ``pull_request``: the PR's number it lists):
        completed at once (or, with the outcome "waiting", held for an
        approval), or ``live`` (advancing as it is read), or ``held_at`` a number of steps
        (running, and staying there however often it is read)."""
        with self._lock:
            repo = self.repos[full_name]
            run = self._new_run(repo, self._workflow(repo, workflow), branch, event, message,
                                self.now(), outcome=outcome)
            run.actor = actor
            if pull_request is not None:
                run.pull_requests = [pull_request]
            if held_at is not None:
                for _ in range(held_at):
                    self._tick(repo, run, self.now())
                run.held = True
            while not live and held_at is None and run.status not in ("completed", "waiting"):
                self._tick(repo, run, self.now())
            return run

    def add_deployment(self, full_name: str, environment: str,
                       state: str = "success", *, ref: str | None = None,
                       payload: Any = None, transient: bool = False, sha: str | None = None,
                       at: datetime | None = None) -> Deployment:
        """A new deployment of the newest succeeded build (or of ``ref``, a tag or branch of
        the repository, or of the commit ``sha``), created ``at`` (default now) with one status
        30 s later; ``payload`` as GitHub would return it (an object or a string),
        ``transient`` its ``transient_environment``."""
        with self._lock:
            repo = self.repos[full_name]
            if sha is None:
                sha = repo.refs[ref] if ref is not None else next(
                    r.sha for r in repo.runs if r.conclusion == "success")
            deployment = self._deploy(repo, environment, sha, ref or sha, state,
                                      at or self.now())
            deployment.payload, deployment.transient = payload, transient
            return deployment

    def add_commits(self, full_name: str, times: Iterable[datetime]) -> list[str]:
        """Commits on the default branch, committed at ``times`` (after those added before):
        what the compare API lists between two of them. Returns their shas."""
        with self._lock:
            repo = self.repos[full_name]
            shas = []
            for when in times:
                sha = sha_of(full_name, "commit", len(repo.commits))
                repo.commits.append((sha, when))
                shas.append(sha)
            return shas

    def add_tag(self, full_name: str, tag: str, *, minutes_ago: float = 0) -> Run:
        """A tag pushed (``v1.4.2``): its CI run, succeeded, created ``minutes_ago``."""
        with self._lock:
            repo = self.repos[full_name]
            when = self.now() - timedelta(minutes=minutes_ago)
            run = self._new_run(repo, repo.workflows[0], tag, "push", f"Release {tag}", when,
                                outcome="success", sha=sha_of(repo.full_name, "tag", tag))
            repo.refs[tag] = run.sha
            repo.runs.sort(key=lambda r: r.created_at, reverse=True)
            while run.status != "completed":
                self._tick(repo, run, when)
            return run

    def rerun(self, run_id: int) -> Run:
        """Re-run a finished run now (as POST ``rerun-failed-jobs`` does) and let it finish:
        its attempt goes up, it starts again now, its creation time stays."""
        with self._lock:
            repo = next(r for r in self.repos.values() if any(x.id == run_id for x in r.runs))
            run = self._find_run(repo, run_id)
            self._rerun(repo, run)
            while run.status != "completed":
                self._tick(repo, run, self.now())
            return run

    def throttle(self, *, status: int = 403, retry_after: int | None = None, count: int = 1,
                 secondary: bool = True) -> None:
        """Answer the next ``count`` requests with a secondary limit (or a ``retry-after``)."""
        message = ("You have exceeded a secondary rate limit. Please wait a few minutes before "
                   "you try again." if secondary else "Too many requests")
        with self._lock:
            self._throttles.extend([(status, retry_after, message)] * count)

    def exhaust(self) -> None:
        """Spend what is left of the quota."""
        with self._lock:
            self.used = self.limit

    def hold(self, count: int) -> None:
        """Answer none of the next ``count`` requests before all of them have come (requests
        in flight together)."""
        self._barrier = threading.Barrier(count, timeout=30)
        self._held = count

    def per_minute(self, fragment: str, since: datetime, minutes: int) -> list[int]:
        """Requests whose path has ``fragment``, in each of ``minutes`` minutes from ``since``
        (the server's time)."""
        counts = [0] * minutes
        with self._lock:
            for when, _method, path, _status in self.answers:
                index = int((when - since).total_seconds() // 60)
                if fragment in path and 0 <= index < minutes:
                    counts[index] += 1
        return counts

    def add_workflow(self, full_name: str, name: str, file: str, text: str, *,
                     inputs: dict[str, bool] | None = None,
                     options: dict[str, list[str]] | None = None) -> Workflow:
        """A workflow of CI's jobs whose file is ``text``; ``inputs`` (name → required) and
        ``options`` (a choice input's values) as the dispatch checks them."""
        with self._lock:
            repo = self.repos[full_name]
            workflow = Workflow(repo.id // 10 + len(repo.workflows) + 1, name, file, CI_JOBS,
                                inputs, text, dict(options or {}))
            repo.workflows.append(workflow)
            repo.version += 1
            return workflow

    def environment_id(self, full_name: str, environment: str) -> int:
        """The id GitHub gives ``environment`` of the repository (stable)."""
        return self.repos[full_name].id * 10 + sum(environment.encode()) % 997

    def run(self, run_id: int) -> Run:
        with self._lock:
            return next(r for repo in self.repos.values() for r in repo.runs if r.id == run_id)

    def approve(self, run_id: int) -> None:
        """A reviewer approves the deployment a waiting run is held at: it goes on."""
        with self._lock:
            run = next(r for repo in self.repos.values() for r in repo.runs if r.id == run_id)
            repo = next(r for r in self.repos.values() if run in r.runs)
            if run.next_review is not None and run.status == "waiting":
                run.review_env, run.next_review = run.next_review, None
                repo.version += 1
                return
            run.needs_approval = False
            if run.status == "waiting":
                run.status = "in_progress"
                job = next(j for j in run.jobs if j.status == "waiting")
                job.status = "queued"
                repo.version += 1
                self._start_next(run, self.now())

    # Building state ------------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _new_run(self, repo: Repo, workflow: Workflow, branch: str, event: str, message: str,
                 created: datetime, *, outcome: str, sha: str | None = None) -> Run:
        number = max((r.number for r in repo.runs), default=0) + 1
        approval = outcome == "waiting"  # then succeeds once approved
        if approval:
            outcome = "success"
        run = Run(repo.id * 1000 + number, number, workflow, branch, sha or repo.refs.get(
            branch, sha_of(repo.full_name, branch, number)), event, message, created, outcome,
            needs_approval=approval)
        run.updated_at = created
        run.jobs = [] if outcome in NO_JOBS else [self._new_job(name, steps)
                                                  for name, steps in workflow.jobs]
        repo.runs.insert(0, run)
        repo.version += 1
        return run

    def _new_job(self, name: str, steps: tuple[str, ...]) -> Job:
        return Job(self._next_id(), name, [Step(s, i + 1) for i, s in enumerate(steps)])

    def _publish(self, repo: Repo) -> None:
        item = fixture("list-workflow-runs")["workflow_runs"][0]
        published = fixture("list-jobs-for-workflow-run")["jobs"][0]
        run = Run(item["id"], item["run_number"], repo.workflows[0], item["head_branch"],
                  item["head_sha"], item["event"], item["display_title"],
                  datetime.fromisoformat(item["created_at"]), status=item["status"],
                  published=True)
        run.jobs = [Job(published["id"], published["name"], [
            Step(s["name"], s["number"], s["status"], s["conclusion"],
                 datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["completed_at"]))
            for s in published["steps"]], "completed", "success",
            datetime.fromisoformat(published["started_at"]),
            datetime.fromisoformat(published["completed_at"]), published=published)]
        repo.runs.append(run)  # the oldest

    def _deploy(self, repo: Repo, env: str, sha: str, ref: str, state: str,
                when: datetime) -> Deployment:
        deployment = Deployment(self._next_id(), sha, ref, env, when)
        if state == "inactive":
            deployment.statuses.insert(0, (self._next_id(), "success", "Deployed.", when))
        deployment.statuses.insert(0, (self._next_id(), state, {
            "success": "Deployment finished successfully.", "failure": "Deployment failed.",
            "error": "Deployment errored.", "inactive": "Superseded.",
            "in_progress": "Deploying.", "queued": "Waiting.", "pending": "Waiting."}.get(
                state, state), when + timedelta(seconds=30)))
        for older in repo.deployments:
            if older.environment == env and state == "success" and older.statuses \
                    and older.statuses[0][1] == "success":
                older.statuses.insert(0, (self._next_id(), "inactive", "Superseded.", when))
        repo.deployments.insert(0, deployment)
        repo.deployments.sort(key=lambda d: d.created_at, reverse=True)
        repo.version += 1
        return deployment

    # Progress of a run ---------------------------------------------------------------------------

    def _tick(self, repo: Repo, run: Run, at: datetime) -> None:
        """One step further: start the run, or finish the running step and start the next."""
        if run.status == "completed" or run.published or run.held:
            return
        if run.status == "waiting" and not run.cancelling:
            return  # until approve()
        repo.version += 1
        run.updated_at = at
        if run.cancelling:
            self._finish(run, "cancelled", at)
            return
        if run.status != "in_progress":
            run.status, run.started_at = "in_progress", at
            if run.outcome in NO_JOBS:
                self._finish(run, run.outcome, at)
            else:
                self._start_next(run, at)
            return
        job = next(j for j in run.jobs if j.status == "in_progress")
        step = next(s for s in job.steps if s.status == "in_progress")
        last_job = [j for j in run.jobs if j.status != "completed"][-1] is job
        if run.outcome != "success" and last_job and step is job.steps[-2]:
            self._finish(run, run.outcome, at)
            return
        step.status, step.conclusion, step.completed_at = "completed", "success", at
        if step is job.steps[-1]:
            job.status, job.conclusion, job.completed_at = "completed", "success", at
        self._start_next(run, at)

    def _start_next(self, run: Run, at: datetime) -> None:
        job = next((j for j in run.jobs if j.status != "completed"), None)
        if job is None:
            self._finish(run, "success", at)
            return
        if job.status == "queued" and run.needs_approval and job is run.jobs[-1]:
            job.status, run.status = "waiting", "waiting"  # a protected environment's review
            return
        if job.status == "queued":
            job.status, job.started_at = "in_progress", at
        step = next(s for s in job.steps if s.status == "queued")
        step.status, step.started_at = "in_progress", at

    def _finish(self, run: Run, conclusion: str, at: datetime) -> None:
        """Complete the run: the running step and job end with ``conclusion`` (failure for a
        timeout), what had not started is skipped."""
        own = "failure" if conclusion == "timed_out" else conclusion
        for job in run.jobs:
            if job.status == "completed":
                continue
            running = job.status == "in_progress"
            for step in job.steps:
                if step.status == "in_progress":
                    step.status, step.conclusion, step.completed_at = "completed", own, at
                elif step.status == "queued":
                    step.status, step.conclusion = "completed", "skipped"
            job.status, job.completed_at = "completed", at
            job.conclusion = own if running else "skipped" if own != "cancelled" else "cancelled"
        run.status, run.conclusion, run.updated_at, run.cancelling = "completed", conclusion, \
            at, False
        repo = next(r for r in self.repos.values() if run in r.runs)
        env, version = run.inputs.get("environment"), run.inputs.get("version")
        if run.workflow.inputs is not None and env and version:
            sha = repo.refs.get(version) or next(
                (r.sha for r in repo.runs if r.sha.startswith(version)), version)
            self._deploy(repo, env, sha, version if version in repo.refs else sha,
                         "success" if conclusion == "success" else "failure", at)

    # Rendering (the published payloads as templates) ---------------------------------------------

    def _retarget(self, payload: Any, repo: Repo) -> Any:
        text = json.dumps(payload).replace("https://api.github.com", self.api_url)
        for name in ("octo-org/octo-repo", "octocat/Hello-World", "octocat/example"):
            text = text.replace(name, repo.full_name)
        return json.loads(text)

    def _render_run(self, repo: Repo, run: Run, *, single: bool = False) -> dict[str, Any]:
        published = fixture("get-workflow-run" if single else "list-workflow-runs")
        item = published if single else published["workflow_runs"][0]
        if run.published:
            return item
        item = self._retarget(item, repo)
        api = f"{self.api_url}/repos/{repo.full_name}/actions/runs/{run.id}"
        item.update(
            id=run.id, name=run.workflow.name, head_branch=run.branch, head_sha=run.sha,
            path=f".github/workflows/{run.workflow.file}@{run.branch}", run_number=run.number,
            event=run.event, display_title=run.message, status=run.status,
            conclusion=run.conclusion, workflow_id=run.workflow.id, url=api,
            html_url=f"https://github.com/{repo.full_name}/actions/runs/{run.id}",
            created_at=iso(run.created_at), updated_at=iso(run.updated_at),
            run_attempt=run.attempt, run_started_at=iso(run.started_at or run.created_at),
            jobs_url=f"{api}/jobs", logs_url=f"{api}/logs", cancel_url=f"{api}/cancel",
            rerun_url=f"{api}/rerun",
            workflow_url=f"{self.api_url}/repos/{repo.full_name}/actions/workflows/"
                         f"{run.workflow.id}")
        item["actor"]["login"] = item["triggering_actor"]["login"] = run.actor
        item["pull_requests"] = [self._render_pull(repo, run, n) for n in run.pull_requests]
        item["head_commit"].update(id=run.sha, message=run.message,
                                   timestamp=iso(run.created_at))
        if single:
            item["previous_attempt_url"] = f"{api}/attempts/{run.attempt - 1}" \
                if run.attempt > 1 else None
        return item

    def _render_pull(self, repo: Repo, run: Run, number: int) -> dict[str, Any]:
        """A run's ``pull_requests`` entry as GitHub lists it (the head and base refs)."""
        ident = {"id": repo.id, "url": f"{self.api_url}/repos/{repo.full_name}",
                 "name": repo.full_name.split("/")[1]}
        return {"url": f"{self.api_url}/repos/{repo.full_name}/pulls/{number}",
                "id": repo.id * 100_000 + number, "number": number,
                "head": {"ref": run.branch, "sha": run.sha, "repo": ident},
                "base": {"ref": "main", "sha": repo.refs["main"], "repo": ident}}

    def _render_job(self, repo: Repo, run: Run, job: Job) -> dict[str, Any]:
        if job.published is not None:
            return copy.deepcopy(job.published)
        item = self._retarget(fixture("list-jobs-for-workflow-run")["jobs"][0], repo)
        template = item["steps"][0]
        item.update(
            id=job.id, run_id=run.id, head_sha=run.sha, name=job.name, status=job.status,
            conclusion=job.conclusion, started_at=iso(job.started_at or run.created_at),
            completed_at=iso(job.completed_at), workflow_name=run.workflow.name,
            head_branch=run.branch, run_attempt=run.attempt,
            run_url=f"{self.api_url}/repos/{repo.full_name}/actions/runs/{run.id}",
            url=f"{self.api_url}/repos/{repo.full_name}/actions/jobs/{job.id}",
            html_url=f"https://github.com/{repo.full_name}/actions/runs/{run.id}/job/{job.id}",
            steps=[{**template, "name": s.name, "number": s.number, "status": s.status,
                    "conclusion": s.conclusion, "started_at": iso(s.started_at),
                    "completed_at": iso(s.completed_at)} for s in job.steps])
        return item

    def _render_deployment(self, repo: Repo, d: Deployment) -> dict[str, Any]:
        item = self._retarget(fixture("list-deployments")[0], repo)
        url = f"{self.api_url}/repos/{repo.full_name}/deployments/{d.id}"
        item.update(id=d.id, url=url, sha=d.sha, ref=d.ref, environment=d.environment,
                    original_environment=d.environment, created_at=iso(d.created_at),
                    updated_at=iso(d.statuses[0][3] if d.statuses else d.created_at),
                    statuses_url=f"{url}/statuses",
                    production_environment=d.environment == "production",
                    transient_environment=d.transient)
        if d.payload is not None:
            item["payload"] = d.payload
        return item

    def _render_status(self, repo: Repo, d: Deployment, status: tuple) -> dict[str, Any]:
        item = self._retarget(fixture("list-deployment-statuses")[0], repo)
        url = f"{self.api_url}/repos/{repo.full_name}/deployments/{d.id}"
        item.update(id=status[0], state=status[1], description=status[2],
                    environment=d.environment, created_at=iso(status[3]),
                    updated_at=iso(status[3]), url=f"{url}/statuses/{status[0]}",
                    deployment_url=url)
        return item

    def log_text(self, job: Job) -> str:
        """The job's log as GitHub writes it: a BOM, then a timestamp before every line."""
        out: list[str] = []
        for step in job.steps:
            if step.started_at is None or step.conclusion == "skipped":
                continue
            if step.name in self.step_logs:
                lines = list(self.step_logs[step.name])
            else:
                lines = [f"##[group]{step.name}", f"{step.name}: started",
                         "##[endgroup]"]
                if step.name == "Run actions/checkout@v4":
                    lines.append("##[warning]Node.js 16 actions are deprecated.")
                if step.status == "completed":
                    lines.append(f"{step.name}: done")
            if step.conclusion in ("failure", "cancelled"):
                lines += ["Error: 1 test failed", "##[error]Process completed with exit code 1."]
            out += [f"{log_time(step.started_at, len(out) + i)} {line}"
                    for i, line in enumerate(lines)]
        return "\ufeff" + "".join(line + "\n" for line in out)

    # Serving -------------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = parse_qsl(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        barrier = None
        with self._lock:
            if self._held:
                barrier, self._held = self._barrier, self._held - 1
        if barrier is not None:
            barrier.wait()
        with self._lock:
            self.requests += 1
            self.log.append((method, handler.path, "Authorization" in handler.headers))
            if method == "POST" and body:
                with contextlib.suppress(ValueError):
                    self.bodies.append((method, parts.path, json.loads(body)))
            try:
                if parts.path.startswith("/_blob/"):
                    status, headers, payload = self._blob(parts.path, dict(query),
                                                          handler.headers)
                else:
                    status, headers, payload = self._api(method, parts.path, query, body,
                                                         handler.headers)
            except Exception as exc:  # noqa: BLE001 - a bug of the emulator, said as a 500
                status, headers = 500, {"Content-Type": "text/plain"}
                payload = f"emulator error: {type(exc).__name__}: {exc}".encode()
            self.answers.append((self.now(), method, handler.path, status))
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if status not in (204, 304):
            handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if status not in (204, 304) and payload:
            handler.wfile.write(payload)

    def _quota_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.limit),
                "x-ratelimit-remaining": str(max(self.limit - self.used, 0)),
                "x-ratelimit-used": str(self.used), "x-ratelimit-resource": "core",
                "x-ratelimit-reset": str(int(self.reset_at.timestamp()))}

    def _api(self, method: str, path: str, query: list[tuple[str, str]], body: bytes,
             headers: Any) -> tuple[int, dict[str, str], bytes]:
        def answer(status: int, payload: Any, extra: dict[str, str] | None = None,
                   counted: bool = True) -> tuple[int, dict[str, str], bytes]:
            if counted:
                self.used += 1
                self.counted += 1
            data = b"" if payload is None else json.dumps(payload).encode()
            out = {"Content-Type": "application/json; charset=utf-8", **self._quota_headers(),
                   **(extra or {})}
            return status, out, data

        auth = headers.get("Authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return answer(401, ApiError(401, "Bad credentials", status="401").body,
                          counted=False)
        now = self.now()
        if now >= self.reset_at:
            self.used, self.reset_at = 0, now + timedelta(hours=1)
        if self._throttles:
            status, retry, message = self._throttles.pop(0)
            return answer(status, ApiError(status, message).body,
                          {"retry-after": str(retry)} if retry is not None else {}, False)
        if self.used >= self.limit:
            return answer(self.limit_status, ApiError(
                self.limit_status, "API rate limit exceeded for user ID 1. If you reach out to "
                "GitHub Support for help, please include the request ID 0000:1111:2222.").body,
                counted=False)
        if self.prefix and not path.startswith(self.prefix + "/"):
            return answer(404, ApiError(404, "Not Found", status="404").body)
        path = path[len(self.prefix):]
        try:
            status, payload, extra = self._route(method, path, query, body)
        except ApiError as exc:
            return answer(exc.status, exc.body)
        if method == "GET" and status == 200:
            data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
            etag = '"' + hashlib.sha1(data).hexdigest() + '"'
            extra = {**extra, "ETag": etag}
            sent = [t.strip().removeprefix("W/") for t in
                    headers.get("If-None-Match", "").split(",")]
            if etag in sent:
                self.not_modified += 1
                return 304, {**self._quota_headers(), "ETag": etag}, b""
            self.used += 1
            self.counted += 1
            return 200, {"Content-Type": "application/json; charset=utf-8",
                         **self._quota_headers(), **extra}, data
        return answer(status, payload, extra)

    def _blob(self, path: str, query: dict[str, str],
              headers: Any) -> tuple[int, dict[str, str], bytes]:
        plain = {"Content-Type": "text/plain; charset=utf-8"}
        job_id = int(path.rsplit("/", 1)[-1])
        if "Authorization" in headers:
            return 400, {"Content-Type": "application/xml"}, (
                b"<Error><Code>InvalidAuthenticationInfo</Code><Message>Authentication "
                b"information is not given in the correct format.</Message></Error>")
        for repo in self.repos.values():
            for run in repo.runs:
                for job in run.jobs:
                    if job.id == job_id and query.get("sig") == sha_of(self.token, job_id)[:16]:
                        return 200, plain, self.log_text(job).encode()
        return 403, plain, b"AuthenticationFailed: signature mismatch"

    def _route(self, method: str, path: str, query: list[tuple[str, str]],
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path == "/user":  # the token's user
            if self.login is None:
                raise ApiError(403, "Resource not accessible by integration")
            return 200, {"login": self.login, "id": 583231, "type": "User"}, {}
        match = _RUN.fullmatch(path)
        if match is None or match.group(1) not in self.repos:
            raise ApiError(404, "Not Found", status="404")
        repo, rest = self.repos[match.group(1)], match.group(2)
        if repo.full_name in self.repo_errors:
            status = self.repo_errors[repo.full_name]
            raise ApiError(status, "Server Error" if status >= 500 else "Error")
        params = dict(query)
        key = path + "?" + urlencode(query)
        listing = re.fullmatch(r"actions/(runs|workflows)|deployments|"
                               r"actions/workflows/[^/]+/runs|deployments/\d+/statuses", rest)
        if method == "GET" and listing:  # kept encoded until the repository changes
            cached = repo.cache.get(key)
            if cached is not None and cached[0] == repo.version:
                return cached[1]
            status, payload, extra = self._list(repo, rest, params, query, path)
            result = (status, json.dumps(payload).encode(), extra)
            repo.cache[key] = (repo.version, result)
            return result
        if method == "GET" and (m := re.fullmatch(r"actions/runs/(\d+)(/jobs)?", rest)):
            run = self._find_run(repo, int(m.group(1)))
            self._tick(repo, run, self.now())
            if not m.group(2):
                return 200, self._render_run(repo, run, single=True), {}
            jobs = [self._render_job(repo, run, j) for j in run.jobs]
            page, link = self._page(jobs, params, query, path)
            return 200, {"total_count": len(jobs), "jobs": page}, link
        if method == "GET" and (m := re.fullmatch(r"actions/jobs/(\d+)(/logs)?", rest)):
            run, job = self._find(((r, j) for r in repo.runs for j in r.jobs),
                                  lambda pair: pair[1].id == int(m.group(1)))
            if m.group(2):
                if job.started_at is None and job.published is None:
                    raise ApiError(404, "Not Found", status="404")
                sig = sha_of(self.token, job.id)[:16]
                return 302, None, {"Location": f"{self.url}/_blob/logs/{job.id}?sig={sig}"
                                               f"&se=2099-01-01T00%3A00%3A00Z&sp=r"}
            self._tick(repo, run, self.now())
            return 200, self._render_job(repo, run, job), {}
        if method == "GET" and (m := re.fullmatch(r"compare/([0-9a-f]{40})\.\.\.([0-9a-f]{40})",
                                                  rest)):
            return self._compare(repo, m.group(1), m.group(2), params, query, path)
        if method == "POST" and (m := re.fullmatch(r"actions/workflows/([^/]+)/dispatches",
                                                   rest)):
            return self._dispatch(repo, self._workflow(repo, m.group(1)), body)
        if method == "GET" and (m := re.fullmatch(r"contents/\.github/workflows/([^/]+)",
                                                  rest)):
            return self._contents(repo, self._workflow(repo, m.group(1)), params)
        if m := re.fullmatch(r"actions/runs/(\d+)/pending_deployments", rest):
            run = self._find_run(repo, int(m.group(1)))
            if method == "GET":
                return 200, self._pending(repo, run), {}
            return self._review(repo, run, body)
        if method == "POST" and (m := re.fullmatch(r"actions/runs/(\d+)/rerun", rest)):
            return self._rerun(repo, self._find_run(repo, int(m.group(1))), every=True)
        if method == "POST" and (m := re.fullmatch(r"actions/jobs/(\d+)/rerun", rest)):
            run, job = self._find(((r, j) for r in repo.runs for j in r.jobs),
                                  lambda pair: pair[1].id == int(m.group(1)))
            return self._rerun(repo, run, job=job)
        if method == "POST" and (m := re.fullmatch(r"actions/runs/(\d+)/(rerun-failed-jobs|"
                                                   r"cancel)", rest)):
            run = self._find_run(repo, int(m.group(1)))
            return self._rerun(repo, run) if m.group(2) != "cancel" else self._cancel(repo, run)
        raise ApiError(404, "Not Found", status="404")

    def _list(self, repo: Repo, rest: str, params: dict[str, str],
              query: list[tuple[str, str]], path: str) -> tuple[int, Any, dict[str, str]]:
        if rest == "actions/workflows":
            items = []
            for w in repo.workflows:
                item = self._retarget(fixture("list-repo-workflows")["workflows"][0], repo)
                item.update(id=w.id, name=w.name, path=f".github/workflows/{w.file}",
                            url=f"{self.api_url}/repos/{repo.full_name}/actions/workflows/{w.id}")
                items.append(item)
            page, link = self._page(items, params, query, path)
            return 200, {"total_count": len(items), "workflows": page}, link
        if rest.startswith("deployments/"):
            deployment = self._find(repo.deployments, lambda d: d.id == int(rest.split("/")[1]))
            statuses = [self._render_status(repo, deployment, s) for s in deployment.statuses]
            page, link = self._page(statuses, params, query, path)
            return 200, page, link
        if rest == "deployments":
            found = [d for d in repo.deployments
                     if params.get("environment") in (None, d.environment)
                     and params.get("sha") in (None, d.sha) and params.get("ref") in (None, d.ref)]
            page, link = self._page([self._render_deployment(repo, d) for d in found], params,
                                    query, path)
            return 200, page, link
        runs = repo.runs
        if rest != "actions/runs":
            workflow = self._workflow(repo, rest.split("/")[2])
            runs = [r for r in runs if r.workflow is workflow]
        created = params.get("created", "")
        since = datetime.fromisoformat(created[2:]) if created.startswith(">=") else None
        runs = [r for r in runs if params.get("branch") in (None, r.branch)
                and params.get("event") in (None, r.event)
                and params.get("status") in (None, r.status, r.conclusion)
                and (since is None or r.created_at >= since)]
        page, link = self._page(runs, params, query, path)
        return 200, {"total_count": len(runs),
                     "workflow_runs": [self._render_run(repo, r) for r in page]}, link

    def _compare(self, repo: Repo, base: str, head: str, params: dict[str, str],
                 query: list[tuple[str, str]], path: str) -> tuple[int, Any, dict[str, str]]:
        """``GET …/compare/BASE...HEAD`` over the default branch's commits (a line): GitHub's
        commit-comparison shape; the commits head has that base has not, oldest first, paged."""
        shas = [sha for sha, _ in repo.commits]
        if base not in shas or head not in shas:
            raise ApiError(404, "Not Found", status="404")
        i, j = shas.index(base), shas.index(head)
        ahead, behind = max(j - i, 0), max(i - j, 0)
        status = "identical" if i == j else "ahead" if j > i else "behind"
        commits = [self._render_commit(repo, sha, when) for sha, when in repo.commits[i + 1:j + 1]]
        page, link = self._page(commits, params, query, path)
        web = f"https://github.com/{repo.full_name}"
        return 200, {
            "url": f"{self.api_url}/repos/{repo.full_name}/compare/{base}...{head}",
            "html_url": f"{web}/compare/{base}...{head}",
            "permalink_url": f"{web}/compare/{repo.full_name.split('/')[0]}:{base[:7]}..."
                             f"{repo.full_name.split('/')[0]}:{head[:7]}",
            "diff_url": f"{web}/compare/{base}...{head}.diff",
            "patch_url": f"{web}/compare/{base}...{head}.patch",
            "base_commit": self._render_commit(repo, base, repo.commits[i][1]),
            "merge_base_commit": self._render_commit(repo, shas[min(i, j)],
                                                     repo.commits[min(i, j)][1]),
            "status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
            "commits": page, "files": []}, link

    def _render_commit(self, repo: Repo, sha: str, when: datetime) -> dict[str, Any]:
        """A commit as the compare API lists it (author a minute before the commit)."""
        url = f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"
        person = {"name": "Monalisa Octocat", "email": "support@github.com"}
        return {"url": url, "sha": sha, "node_id": "MDY6Q29tbWl0" + sha[:12],
                "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
                "comments_url": f"{url}/comments",
                "commit": {"url": f"{self.api_url}/repos/{repo.full_name}/git/commits/{sha}",
                           "author": {**person, "date": iso(when - timedelta(minutes=1))},
                           "committer": {**person, "date": iso(when)},
                           "message": f"Change {sha[:7]}", "comment_count": 0,
                           "tree": {"url": f"{self.api_url}/repos/{repo.full_name}/git/trees/"
                                           f"{sha}", "sha": sha},
                           "verification": {"verified": False, "reason": "unsigned",
                                            "signature": None, "payload": None}},
                "author": None, "committer": None, "parents": []}

    def _page(self, items: list[Any], params: dict[str, str], query: list[tuple[str, str]],
              path: str) -> tuple[list[Any], dict[str, str]]:
        """One page of ``items`` and the Link header GitHub would send with it."""
        per_page = max(1, min(int(params.get("per_page", 30)), 100))
        page = max(1, int(params.get("page", 1)))
        last = max(1, math.ceil(len(items) / per_page))
        rest = [(k, v) for k, v in query if k != "page"]

        def link(number: int, rel: str) -> str:
            return (f'<{self.api_url}{path}?{urlencode([("page", str(number)), *rest])}>; '
                    f'rel="{rel}"')

        links = ([link(page - 1, "prev")] if page > 1 else []) \
            + ([link(page + 1, "next"), link(last, "last")] if page < last else []) \
            + ([link(1, "first")] if page > 1 else [])
        chunk = items[(page - 1) * per_page:page * per_page]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    @staticmethod
    def _find(items: Iterable[Any], match: Callable[[Any], bool]) -> Any:
        """The first of ``items`` that matches, or GitHub's 404."""
        found = next((item for item in items if match(item)), None)
        if found is None:
            raise ApiError(404, "Not Found", status="404")
        return found

    def _find_run(self, repo: Repo, run_id: int) -> Run:
        return self._find(repo.runs, lambda run: run.id == run_id)

    def _workflow(self, repo: Repo, ref: str) -> Workflow:
        return self._find(repo.workflows, lambda w: ref in (str(w.id), w.file))

    def _dispatch(self, repo: Repo, workflow: Workflow,
                  body: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            asked = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None
        if workflow.inputs is None:
            raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
        ref = asked.get("ref")
        if not isinstance(ref, str) or not ref:
            raise ApiError(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
        if ref.removeprefix("refs/heads/").removeprefix("refs/tags/") not in repo.refs:
            raise ApiError(422, f"No ref found for: {ref}")
        inputs = asked.get("inputs") or {}
        for name, allowed in workflow.options.items():
            if name in inputs and str(inputs[name]) not in allowed:
                raise ApiError(422, f"Provided value '{inputs[name]}' for input '{name}' not "
                                    "in the list of allowed values")
        unknown = sorted(set(inputs) - set(workflow.inputs))
        missing = sorted(k for k, required in workflow.inputs.items()
                         if required and k not in inputs)
        if unknown or missing:
            error = fixture("error-validation")
            error["documentation_url"] = (f"{DOCS}/actions/workflows"
                                          "#create-a-workflow-dispatch-event")
            error["errors"] = [
                {"resource": "WorkflowDispatch", "field": "inputs", "code": "invalid",
                 "value": names, "message": text + json.dumps(names)}
                for names, text in ((unknown, "Unexpected inputs provided: "),
                                    (missing, "Required inputs not provided: ")) if names]
            raise ApiError(422, error["message"], errors=error["errors"])
        branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        run = self._new_run(repo, workflow, branch, "workflow_dispatch", workflow.name,
                            self.now(), outcome=self.outcomes.pop(0) if self.outcomes
                            else "success")
        run.inputs = {str(k): str(v) for k, v in inputs.items()}
        run.review_env = run.inputs.get("environment") or run.review_env
        if asked.get("return_run_details") is True and not self.force_204:
            details = fixture("create-workflow-dispatch")
            details.update(workflow_run_id=run.id, run_url=(
                f"{self.api_url}/repos/{repo.full_name}/actions/runs/{run.id}"),
                html_url=f"https://github.com/{repo.full_name}/actions/runs/{run.id}")
            return 200, details, {}
        return 204, None, {}

    def _rerun(self, repo: Repo, run: Run, *, every: bool = False,
               job: Job | None = None) -> tuple[int, Any, dict[str, str]]:
        """Re-run the failed jobs, ``every`` job, or one ``job`` (and the jobs after it, which
        depend on it here) of a completed run, as its next attempt."""
        if run.status != "completed":
            raise ApiError(403, "This workflow is already running")
        if run.conclusion == "success" and not every and job is None:
            raise ApiError(403, "This workflow run cannot be retried: no job failed")
        run.attempt += 1
        run.status, run.conclusion = "queued", None
        run.outcome = self.outcomes.pop(0) if self.outcomes else "success"
        again = run.jobs.index(job) if job is not None else None
        self.reruns.append((run.id, "all" if every else job.name if job else "failed"))
        for i, old in enumerate(run.jobs):
            if every or (again is not None and i >= again) or \
                    (again is None and old.conclusion != "success"):
                run.jobs[i] = self._new_job(old.name, tuple(s.name for s in old.steps))
        repo.version += 1
        return 201, {}, {}

    def _contents(self, repo: Repo, workflow: Workflow,
                  params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """The workflow file as the contents API serves it: base64 in 60-character lines."""
        ref = params.get("ref", "main")
        if ref not in repo.refs:
            raise ApiError(404, f"No commit found for the ref {ref}")
        text = workflow.text
        if text is None:
            text = f"name: {workflow.name}\non:\n  push:\n"
            if workflow.inputs is not None:
                text += "  workflow_dispatch:\n    inputs:\n" + "".join(
                    f"      {name}:\n        required: {str(required).lower()}\n"
                    f"        type: string\n" for name, required in workflow.inputs.items())
            text += "jobs:\n" + "".join(f"  {name}:\n    runs-on: ubuntu-latest\n"
                                        for name, _steps in workflow.jobs)
        data = base64.b64encode(text.encode()).decode()
        path = f".github/workflows/{workflow.file}"
        return 200, {"type": "file", "encoding": "base64", "size": len(text.encode()),
                     "name": workflow.file, "path": path, "sha": sha_of(path, text),
                     "content": "\n".join(data[i:i + 60] for i in range(0, len(data), 60)),
                     "url": f"{self.api_url}/repos/{repo.full_name}/contents/{path}?ref={ref}"}, {}

    def _pending(self, repo: Repo, run: Run) -> list[dict[str, Any]]:
        """What ``GET …/pending_deployments`` lists: the environment a waiting run is held at."""
        if run.status != "waiting":
            return []
        env = run.review_env
        ident = self.environment_id(repo.full_name, env)
        return [{"environment": {
            "id": ident, "node_id": f"EN_{ident}", "name": env,
            "url": f"{self.api_url}/repos/{repo.full_name}/environments/{env}",
            "html_url": f"https://github.com/{repo.full_name}/deployments/activity_log?"
                        f"environments_filter={env}"},
            "wait_timer": 0, "wait_timer_started_at": iso(run.updated_at),
            "current_user_can_approve": self.reviewer,
            "reviewers": [{"type": "User", "reviewer": {"login": "octocat", "id": 1}}]}]

    def _review(self, repo: Repo, run: Run, body: bytes) -> tuple[int, Any, dict[str, str]]:
        """``POST …/pending_deployments``: approve (the run goes on) or reject (it fails)."""
        try:
            asked = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None
        pending = {p["environment"]["id"]: p for p in self._pending(repo, run)}
        ids, state = asked.get("environment_ids"), asked.get("state")
        if state not in ("approved", "rejected") or not isinstance(asked.get("comment"), str) \
                or not isinstance(ids, list) or not ids:
            raise ApiError(422, "Invalid request.")
        if any(i not in pending for i in ids):
            raise ApiError(422, "Unable to review the environments: no pending deployment for "
                                "one of the environment ids")
        if not self.reviewer:
            raise ApiError(403, "You are not a required reviewer of this environment")
        self.reviews.append((run.id, run.review_env, state, asked["comment"]))
        if state == "approved":
            self.approve(run.id)
        else:
            job = next(j for j in run.jobs if j.status == "waiting")
            job.status = "queued"
            run.status, run.needs_approval = "in_progress", False
            job.status, job.conclusion, job.completed_at = "completed", "failure", self.now()
            self._finish(run, "failure", self.now())
            repo.version += 1
        deployments = [{"id": self._next_id(), "environment": run.review_env, "sha": run.sha,
                        "ref": run.branch, "task": "deploy"}] if state == "approved" else []
        return 200, deployments, {}

    def _cancel(self, repo: Repo, run: Run) -> tuple[int, Any, dict[str, str]]:
        if run.status == "completed":
            raise ApiError(409, "Cannot cancel a workflow run that is completed.")
        run.cancelling = True
        repo.version += 1
        return 202, {}, {}
