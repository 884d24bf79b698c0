"""The ``github`` source: GitHub Actions and GitHub Deployments through the REST API (httpx).

**Repositories.** A service's repository is ``repos`` in the config ("owner/repo"), or the
``github.com/project-slug`` annotation of the service in the catalog (learned in
:meth:`GithubSource.use_catalog`); the config wins. A repository shared by several services
reports its runs under the first of them (under the one asked for, when one is), and its
deployments under each.

**Pipelines.** The workflow runs of each repository (``/actions/runs``, newest first, paged by
``Link: rel="next"``), as ``PipelineRun`` records whose id is ``"owner/repo:RUN_ID"``; a run's jobs
and steps; a job's log (a 302 to a short-lived URL, fetched without the token), followed while the
job runs. A build's *version* is its tag when the run was for a tag ("v1.4.2"), else the commit's
short sha.

**Environments and deployments.** The environments are ``environments`` (promotion order, the
``protected`` ones marked) followed by any other environment seen in GitHub Deployments. For each
repository and environment the newest deployment and its latest status give: the version (the
deployment's ``payload.version`` if the workflow set one, else its ref when that is a tag, else
the short sha, so a branch deployed shows which commit), and the health: ``success`` → healthy;
``failure``/``error`` → down; ``in_progress``/``queued``/``pending`` → degraded (a deploy is
under way: the version is not settled); ``inactive`` or no status → unknown.

**Actions.** Deploy runs the ``deploy.workflow`` by ``workflow_dispatch`` on ``deploy.ref`` with the
service, environment and version as inputs, then follows the run it started until it ends (the
versions offered are those built by succeeded runs of ``deploy.ref`` and of tags). Rerun re-runs
a finished run's failed jobs; cancel stops a queued or running run. A request id is done once
(see ``ledger.py``).

**Quota.** GETs are conditional (ETag → 304, which GitHub does not count); the quota left is
the source's "quota" status; a rate limit stops every request until GitHub's reset time.

**The token** (``token``, or the ``GITHUB_TOKEN`` environment variable by default):

* fine-grained personal access token or GitHub App: access to the repositories, with the
  repository permissions *Actions: read* (runs, jobs, logs, workflows) — *read and write* to
  deploy, re-run and cancel —, *Deployments: read*, and *Metadata: read* (always included);
* classic personal access token: ``repo`` (``public_repo`` is enough when every repository is
  public; reading public repositories needs no scope). The ``workflow`` scope is not needed: it is
  for pushing changes to workflow files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    Deployment,
    Environment,
    Health,
    JobLogQuery,
    LogLine,
    NotSupported,
    PartialAnswer,
    PipelineQuery,
    PipelineRun,
    RunStatus,
    Service,
    Source,
    SourceContext,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    VersionOption,
)

from .client import GithubApi
from .config import GithubConfig, check_repo
from .ledger import Ledger, fingerprint
from .mapping import (
    HEALTH,
    deployment_version,
    deployments_of,
    job_progress,
    job_record,
    jobs_of,
    parse_log,
    parse_time,
    run_record,
    run_status,
    runs_of,
    statuses_of,
    trim_job,
    trim_run,
    version_of,
    workflows_of,
)

log = logging.getLogger("idp_tui.github")
T = TypeVar("T")

#: The catalog annotation that names a service's repository.
SLUG = "github.com/project-slug"
#: Versions offered for a deploy at most.
VERSION_LIMIT = 30
#: A dispatched run (servers that answer 204) is looked for among runs created since this long
#: before the dispatch (GitHub's clock and ours may differ a little).
DISPATCH_SKEW = timedelta(seconds=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FINAL = {s.value for s in ActionState if s.finished}
#: Seconds to cancel the workflow run of a stopped deploy.
CANCEL_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Deploy:
    """A deploy request checked against the config."""

    repo: str
    service: str
    environment: str
    version: str
    workflow: str
    ref: str
    inputs: dict[str, str]

    def describe(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in self.inputs.items()) or "no inputs"


class GithubSource(Source):
    """Workflow runs, job logs, deployments and deploys from GitHub (or GitHub Enterprise
    Server)."""

    Config = GithubConfig
    capabilities = frozenset({Capability.PIPELINES, Capability.ENVIRONMENTS, Capability.ACTIONS})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.RERUN, ActionKind.CANCEL})
    description = ("GitHub Actions runs, jobs and logs; GitHub Deployments; deploy by workflow "
                   "dispatch, re-run, cancel")

    config: GithubConfig

    def __init__(self, config: GithubConfig,  # type: ignore[override]
                 context: SourceContext) -> None:
        super().__init__(config, context)
        self.api = GithubApi(config, context)
        #: Service → repository, from the catalog's annotations.
        self._catalog: dict[str, str] = {}
        #: Environments seen in deployments (None: not read yet).
        self._seen: list[str] | None = None
        self._ledger = Ledger(context.data_dir / "actions.json")
        #: Runs ("owner/repo:id") started by actions of this source, never taken for another.
        self._claimed: set[str] = set()

    # Counters (tests, benchmark) -----------------------------------------------------------------

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (log downloads included)."""
        return self.api.requests_sent

    @property
    def quota_requests(self) -> int:
        """API requests that counted against the quota (all but those answered 304)."""
        return self.api.quota_requests

    async def start(self) -> None:
        await self.api.start()
        self._say_repositories()

    def _say_repositories(self) -> None:
        """How many repositories the source reads, and from where (the health view)."""
        repos = self._targets()
        from_catalog = {repo.lower() for service, repo in self._catalog.items()
                        if service not in self.config.repos}
        if not repos:
            self.context.set_status("repositories", f"none yet: set repos in [sources.{self.name}]"
                                                    f" or annotate services with {SLUG}")
            return
        text = f"{len(repos)}"
        if from_catalog:
            text += f" ({len(from_catalog)} from the catalog's {SLUG})"
        self.context.set_status("repositories", text)

    async def close(self) -> None:
        await self.api.close()

    # Repositories --------------------------------------------------------------------------------

    def repos(self) -> dict[str, str]:
        """Service → "owner/repo", the config over the catalog."""
        return {**self._catalog, **self.config.repos}

    def repo_of(self, service: str) -> str | None:
        return self.repos().get(service)

    def _targets(self) -> dict[str, list[str]]:
        """Each repository once (as first written) with its services."""
        out: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for service, repo in self.repos().items():
            out.setdefault(names.setdefault(repo.lower(), repo), []).append(service)
        return out

    def _service_for(self, repo: str) -> str:
        for service, mapped in self.repos().items():
            if mapped.lower() == repo.lower():
                return service
        return repo.rsplit("/", 1)[-1]

    def _require_repo(self, service: str | None) -> str:
        if not service:
            raise SourceError("no service given")
        repo = self.repo_of(service)
        if repo is None:
            raise SourceNotFound(
                f"{service}: no GitHub repository known",
                hint=f"Add it to repos in [sources.{self.name}], or annotate the service with "
                     f"{SLUG} in the catalog.")
        return repo

    async def use_catalog(self, services: list[Service]) -> None:
        """Learn repositories from the ``github.com/project-slug`` annotations."""
        found: dict[str, str] = {}
        for service in services:
            slug = service.annotations.get(SLUG)
            if not slug:
                continue
            try:
                found[service.name] = check_repo(slug)
            except ValueError as exc:
                log.warning("%s: %s of %s ignored: %s", self.name, SLUG, service.name, exc)
        if found == self._catalog:
            return
        before = self.repos()
        self._catalog = found
        self._say_repositories()
        if self.repos() != before:
            self.context.changed("pipelines")
            self.context.changed("environments")

    async def _each(self, jobs: list[Awaitable[list[T]]]) -> tuple[list[T], SourceError | None]:
        """The joined results of ``jobs`` (one per repository), run at once, and the first
        error if some failed; all failing, or a rate limit: raised."""
        results = await asyncio.gather(*jobs, return_exceptions=True)
        out: list[T] = []
        errors: list[SourceError] = []
        for result in results:
            if isinstance(result, SourceRateLimited):
                raise result
            if isinstance(result, SourceError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                out.extend(result)
        if not errors:
            return out, None
        first = errors[0]
        if len(errors) > 1:
            first = type(first)(f"{first.message} (and {len(errors) - 1} more repositories)",
                                hint=first.hint)
        if not out and len(errors) == len(results):
            raise first
        return out, first

    # Pipelines -----------------------------------------------------------------------------------

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        if query.service is not None:
            repo = self.repo_of(query.service)
            if repo is None:
                return []
            targets = [(repo, query.service)]
        else:
            targets = [(repo, services[0]) for repo, services in self._targets().items()]
        runs, error = await self._each([self._runs(repo, service, query.limit)
                                        for repo, service in targets])
        runs.sort(key=lambda run: run.started_at, reverse=True)
        runs = runs[:query.limit]
        if error is not None:
            raise PartialAnswer(runs, error)
        return runs

    async def _runs(self, repo: str, service: str, limit: int) -> list[PipelineRun]:
        params = {"per_page": min(self.config.per_page, limit), "branch": self.config.branch,
                  "status": self.config.status}
        items = await self.api.pages(f"/repos/{repo}/actions/runs", params, what=repo,
                                     items=runs_of, limit=limit)
        return [run_record(item, repo, service) for item in items]

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        repo, number = _parse_run(run_id)
        run, jobs = await asyncio.gather(self._run_item(repo, number),
                                         self._job_items(repo, number))
        return run_record(run, repo, self._service_for(repo),
                          tuple(job_record(job) for job in jobs))

    async def _run_item(self, repo: str, number: str) -> dict[str, Any]:
        run, _ = await self.api.get(self.api.url(f"/repos/{repo}/actions/runs/{number}"),
                                    what=f"{repo}: run {number}", shape=trim_run)
        return run

    async def _job_items(self, repo: str, number: str) -> list[dict[str, Any]]:
        return await self.api.pages(f"/repos/{repo}/actions/runs/{number}/jobs",
                                    {"per_page": 100}, what=f"{repo}: jobs of run {number}",
                                    items=jobs_of, limit=10_000)

    async def _job_item(self, repo: str, job_id: str) -> dict[str, Any]:
        job, _ = await self.api.get(self.api.url(f"/repos/{repo}/actions/jobs/{job_id}"),
                                    what=f"{repo}: job {job_id}", shape=trim_job)
        return job

    async def pipeline_logs(self, query: JobLogQuery) -> AsyncIterator[list[LogLine]]:
        """The job's log (every job's, in order, without ``job_id``); with ``follow``, a job
        still running is read again every ``poll_interval`` and only its new lines are sent,
        until it completes."""
        repo, number = _parse_run(query.run_id)
        service = self._service_for(repo)
        if query.job_id:
            jobs = [await self._job_item(repo, query.job_id)]
        else:
            jobs = await self._job_items(repo, number)
        for job in jobs:
            make = LogLine.maker(service=service, environment="", instance=job["name"])
            what = f"{repo}: log of job {job['name']} ({job['id']})"
            seen, last = 0, None
            while True:
                finished = job["status"] == "completed"  # read before the log: then it is whole
                text = await self.api.job_log(repo, job["id"], what=what)
                if text:
                    lines, seen = parse_log(text, make, skip=seen, final=finished, before=last)
                    if lines:
                        last = lines[-1].ts
                        yield lines
                if finished or not query.follow:
                    break
                await asyncio.sleep(self.config.poll_interval)
                job = await self._job_item(repo, job["id"])

    # Environments --------------------------------------------------------------------------------

    async def environments(self) -> list[Environment]:
        if self._seen is None and self.repos():
            with contextlib.suppress(SourceError):  # the configured ones are still right
                await self.deployments()
        names = list(self.config.environments)
        names += [name for name in self._seen or () if name not in names]
        return [Environment(name=name, order=i, protected=name in self.config.protected)
                for i, name in enumerate(names)]

    async def deployments(self) -> list[Deployment]:
        found, error = await self._each([self._repo_deployments(repo, services)
                                         for repo, services in self._targets().items()])
        self._note_environments(found)
        if error is not None:
            raise PartialAnswer(found, error)
        return found

    def _note_environments(self, deployments: list[Deployment]) -> None:
        known = list(self._seen or ())
        new = sorted({d.environment for d in deployments} - set(known))
        first = self._seen is None
        self._seen = known + new
        if new and not first and any(n not in self.config.environments for n in new):
            self.context.changed("environments")

    async def _repo_deployments(self, repo: str, services: list[str]) -> list[Deployment]:
        """The newest deployment of each environment of ``repo`` with its latest status."""
        what = f"{repo}: deployments"
        items, _ = await self.api.get(self.api.url(f"/repos/{repo}/deployments", {
            "per_page": self.config.per_page}), what=what, shape=deployments_of)
        newest: dict[str, dict[str, Any]] = {}
        for item in sorted(items, key=lambda d: parse_time(d["created_at"]) or _EPOCH,
                           reverse=True):
            if item["environment"]:
                newest.setdefault(item["environment"], item)
        if len(items) >= self.config.per_page:  # older environments may be on later pages
            missing = [e for e in self.config.environments if e not in newest]
            more = await asyncio.gather(*(self.api.get(self.api.url(
                f"/repos/{repo}/deployments", {"environment": env, "per_page": 1}), what=what,
                shape=deployments_of) for env in missing))
            for env, (found, _) in zip(missing, more, strict=True):
                if found:
                    newest[env] = found[0]
        statuses = await asyncio.gather(*(self._latest_status(repo, d) for d in newest.values()))
        out: list[Deployment] = []
        for (env, item), status in zip(newest.items(), statuses, strict=True):
            state = status["state"] if status else ""
            health = HEALTH.get(state, Health.UNKNOWN)
            message = (status["description"] or state) if status else "no status reported"
            updated = (parse_time(status["created_at"]) if status else None) \
                or parse_time(item["updated_at"]) or parse_time(item["created_at"])
            out += [Deployment(service=service, environment=env,
                               version=deployment_version(item), health=health,
                               updated_at=updated, message=message) for service in services]
        return out

    async def _latest_status(self, repo: str, deployment: dict[str, Any]) -> dict[str, Any] | None:
        statuses, _ = await self.api.get(self.api.url(
            f"/repos/{repo}/deployments/{deployment['id']}/statuses", {"per_page": 1}),
            what=f"{repo}: statuses of deployment {deployment['id']}", shape=statuses_of)
        return statuses[0] if statuses else None

    # Actions: versions and plans -----------------------------------------------------------------

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        """Builds of succeeded runs of ``deploy.ref`` and of tags, newest first (the deploy
        workflow's own runs left out), one per version."""
        repo = self._require_repo(service)
        runs = await self.api.pages(f"/repos/{repo}/actions/runs", {
            "status": "success", "per_page": self.config.per_page}, what=repo, items=runs_of,
            limit=self.config.per_page)
        running = await self._running(repo, service)
        workflow = self._workflow_for(service)
        out: list[VersionOption] = []
        seen: set[str] = set()
        for run in runs:
            version = version_of(run["branch"], run["sha"])
            if run_status(run["status"], run["conclusion"]) is not RunStatus.SUCCEEDED \
                    or workflow in (run["file"], str(run["workflow_id"])) or version in seen \
                    or (run["branch"] != self.config.deploy.ref and version == run["sha"][:7]):
                continue
            seen.add(version)
            out.append(VersionOption(
                version=version, built_at=parse_time(run["updated_at"]), commit=run["sha"],
                run_id=f"{repo}:{run['id']}", current=running.get(environment) == version,
                environments=tuple(e for e, v in running.items() if v == version)))
        return out[:VERSION_LIMIT]

    async def _running(self, repo: str, service: str) -> dict[str, str]:
        """Environment → the version its newest deployment put there (a failed one left out),
        in promotion order."""
        deployments = await self._repo_deployments(repo, [service])
        order = {name: i for i, name in enumerate(self.config.environments)}
        return {d.environment: d.version for d in sorted(
            deployments, key=lambda d: (order.get(d.environment, len(order)), d.environment))
            if d.health is not Health.DOWN}

    def _workflow_for(self, service: str) -> str | None:
        return self.config.deploy.workflows.get(service) or self.config.deploy.workflow

    def _deploy_of(self, request: ActionRequest) -> _Deploy:
        repo = self._require_repo(request.service)
        service = str(request.service)
        if not request.environment:
            raise SourceError(f"deploy {service}: no environment given")
        if not request.version:
            raise SourceError(f"deploy {service}: no version given",
                              hint="Pick one of the versions built by succeeded runs.")
        known = [*self.config.environments, *(self._seen or ())]
        if known and request.environment not in known:
            raise SourceNotFound(
                f"{request.environment}: not an environment of {self.name} (known: "
                f"{', '.join(dict.fromkeys(known))})",
                hint=f"Add it to environments in [sources.{self.name}].")
        workflow = self._workflow_for(service)
        if workflow is None:
            raise SourceError(f"{self.name}: no deploy workflow set",
                              hint=f'Set workflow in [sources.{self.name}.deploy], e.g. '
                                   '"deploy.yml".')
        values = {"service": service, "environment": request.environment,
                  "version": request.version}
        inputs = {name: values[ours] for ours, name in self.config.deploy.inputs.items()}
        return _Deploy(repo, service, request.environment, request.version, workflow,
                       self.config.deploy.ref, inputs)

    async def _workflow(self, repo: str, ref: str) -> dict[str, Any]:
        flows = await self.api.pages(f"/repos/{repo}/actions/workflows", {"per_page": 100},
                                     what=f"{repo}: workflows", items=workflows_of,
                                     limit=10_000)
        for flow in flows:
            if ref in (flow["id"], flow["file"]):
                if flow["state"] != "active":
                    raise SourceError(f"{repo}: workflow {flow['file']} is {flow['state']}",
                                      hint="Enable it in the repository's Actions tab.")
                return flow
        files = ", ".join(flow["file"] for flow in flows) or "none"
        raise SourceNotFound(f"{repo}: no workflow {ref}",
                             hint=f"Workflows of {repo}: {files}. Set workflow in "
                                  f"[sources.{self.name}.deploy] to one of them.")

    async def _checked_run(self, request: ActionRequest) -> tuple[str, str, dict[str, Any]]:
        """The run of a rerun or cancel request, refused unless it can be re-run (finished, not
        successful) or cancelled (not finished)."""
        if not request.run_id:
            raise SourceError(f"{request.kind.value}: no run given")
        repo, number = _parse_run(request.run_id)
        run = await self._run_item(repo, number)
        label = f"{run['name']} #{run['number']} of {repo}"
        if request.kind is ActionKind.RERUN:
            if run["status"] != "completed":
                raise SourceError(f"{label} is still {run['status']}: it can be re-run once it "
                                  "has finished")
            if run["conclusion"] == "success":
                raise SourceError(f"{label} succeeded: there is no failed job to re-run")
        elif run["status"] == "completed":
            raise SourceError(f"{label} has already completed ({run['conclusion']}): nothing "
                              "to cancel")
        return repo, number, run

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        if request.kind not in self.actions:
            raise NotSupported(f"{self.name} cannot {request.kind.value}")
        if request.kind is ActionKind.DEPLOY:
            deploy = self._deploy_of(request)
            flow = await self._workflow(deploy.repo, deploy.workflow)
            notes = [(f"GitHub runs the workflow; the run is read every "
                      f"{self.config.poll_interval:g} s until it ends."),
                     "Stopping the action here cancels the workflow run."]
            running: dict[str, str] = {}
            try:
                running = await self._running(deploy.repo, deploy.service)
                versions = await self.deploy_versions(deploy.service, deploy.environment)
                if deploy.version not in {v.version for v in versions}:
                    notes.append(f"{deploy.version} is not among the versions built by "
                                 f"succeeded runs of {deploy.ref} or of tags.")
            except SourceRateLimited:
                raise
            except SourceError as exc:
                notes.append(f"What runs now is unknown: {exc.message}")
            return ActionPlan(
                summary=f"Run workflow {flow['name']} ({flow['file']}) of {deploy.repo} on "
                        f"{deploy.ref} with {deploy.describe()}",
                current_version=running.get(deploy.environment), target_version=deploy.version,
                running_elsewhere=tuple(e for e, v in running.items()
                                        if v == deploy.version and e != deploy.environment),
                notes=tuple(notes), cancellable=True)
        repo, number, run = await self._checked_run(request)
        where = f"{run['branch']} @ {run['sha'][:7]}"
        if request.kind is ActionKind.CANCEL:
            return ActionPlan(summary=f"Cancel {run['name']} #{run['number']} of {repo} "
                                      f"({run['status']}, {where})")
        jobs = await self._job_items(repo, number)
        failed = [j["name"] for j in jobs if j["status"] == "completed"
                  and j["conclusion"] not in ("success", "skipped", "neutral")]
        return ActionPlan(
            summary=f"Re-run the failed jobs of {run['name']} #{run['number']} of {repo} "
                    f"({where})" + (f": {', '.join(failed)}" if failed else ""),
            notes=("Jobs that depend on them run again too.",))

    # Actions: running them -----------------------------------------------------------------------

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        if request.kind not in self.actions:
            raise NotSupported(f"{self.name} cannot {request.kind.value}")
        mark = fingerprint(request)
        record = self._ledger.get(request.id)
        if record is not None:
            if record.get("fingerprint") != mark:
                raise SourceError(f"request id {request.id} was already used for another action",
                                  hint="Send a new id for a new action.")
            async for event in self._again(request, record):
                yield event
            return
        # Check before claiming the id: a refused request may be sent again once fixed.
        if request.kind is ActionKind.DEPLOY:
            deploy = self._deploy_of(request)
            flow = self._dispatch(request, deploy)
            repo = deploy.repo
        else:
            repo, number, run = await self._checked_run(request)
            again = self._ledger.get(request.id)  # the same id, sent meanwhile
            if again is not None:
                async for event in self._again(request, again):
                    yield event
                return
            flow = self._rerun(request, repo, number, run) if request.kind is ActionKind.RERUN \
                else self._cancel(request, repo, number, run)
        self._ledger.put(request.id, fingerprint=mark, kind=request.kind.value, repo=repo,
                         run=None, state="running", message="")
        async for event in self._recorded(request.id, flow):
            yield event

    async def _recorded(self, request_id: str,
                        flow: AsyncIterator[ActionEvent]) -> AsyncIterator[ActionEvent]:
        """``flow``'s events, its outcome written to the ledger (a flow stopped part-way stays
        "running": a repeat of the id follows the same run)."""
        try:
            async for event in flow:
                if event.state.finished:
                    self._ledger.put(request_id, state=event.state.value, message=event.message)
                yield event
        except Exception as exc:
            self._ledger.put(request_id, state="failed",
                             message=getattr(exc, "message", None) or str(exc))
            raise

    async def _again(self, request: ActionRequest,
                     record: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        """A repeated request id: its outcome, or the run it started, followed; never twice."""
        for _ in range(self._polls(self.config.dispatch_timeout)):
            if record.get("state") in _FINAL or record.get("run"):
                break
            await asyncio.sleep(self.config.poll_interval)  # the first one is dispatching
            record = self._ledger.get(request.id) or record
        state = record.get("state")
        if state in _FINAL:
            yield self._event(f"Request {request.id} was done before: "
                              f"{record.get('message') or state}", state=ActionState(state),
                              level="error" if state != "succeeded" else "info")
            return
        if not record.get("run"):
            yield self._event(f"Request {request.id} was started before and its run is not "
                              "known: not started again", state=ActionState.FAILED,
                              level="error")
            return
        repo, number = _parse_run(record["run"])
        yield self._event(f"Request {request.id} was started before: following its run "
                          f"{record['run']}")
        async for event in self._recorded(request.id, self._follow(
                repo, number, request.kind, min_attempt=record.get("attempt"))):
            yield event

    async def _dispatch(self, request: ActionRequest,
                        deploy: _Deploy) -> AsyncIterator[ActionEvent]:
        where = f"{deploy.repo}: workflow {deploy.workflow}"
        yield self._event(f"Dispatching {deploy.workflow} of {deploy.repo} on {deploy.ref} with "
                          f"{deploy.describe()}")
        since = self.context.clock.now()
        status, body = await self.api.post(
            f"/repos/{deploy.repo}/actions/workflows/{deploy.workflow}/dispatches",
            {"ref": deploy.ref, "inputs": deploy.inputs, "return_run_details": True},
            what=where)
        details = body if status == 200 and isinstance(body, dict) else {}
        run_id = details.get("workflow_run_id")
        if run_id is None:
            yield self._event(f"GitHub accepted the dispatch ({status}); looking for its run")
            run_id = await self._find_dispatched(deploy, since)
            if run_id is None:
                yield self._event(
                    f"No run of {deploy.workflow} showed up within "
                    f"{self.config.dispatch_timeout:g} s of the dispatch: see the Actions tab of "
                    f"{deploy.repo}", state=ActionState.FAILED, level="error")
                return
        key = f"{deploy.repo}:{run_id}"
        self._claimed.add(key)
        self._ledger.put(request.id, run=key)
        url = details.get("html_url")
        yield self._event(f"Run {run_id} started" + (f": {url}" if url else ""))
        try:
            async for event in self._follow(deploy.repo, str(run_id), ActionKind.DEPLOY):
                yield event
        except asyncio.CancelledError:
            # The user stopped the deploy (or its time ran out): the run stops too.
            await self._cancel_run(request.id, deploy.repo, str(run_id))
            raise

    async def _cancel_run(self, request_id: str, repo: str, number: str) -> None:
        """Cancel the run a stopped action started (best effort: it may have just ended)."""
        where = f"{repo}: run {number}"
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await self.api.post(f"/repos/{repo}/actions/runs/{number}/cancel", None,
                                    what=where)
        except (SourceError, TimeoutError) as exc:
            message = getattr(exc, "message", "") or "no answer in time"
            log.warning("%s: the run of a stopped action was not cancelled: %s", where, message)
            self._ledger.put(request_id, state=ActionState.CANCELLED.value,
                             message=f"stopped; the run was not cancelled: {message}")
            return
        log.info("%s: cancelled, as its action was stopped", where)
        self._ledger.put(request_id, state=ActionState.CANCELLED.value,
                         message="stopped; the run was cancelled")

    async def _find_dispatched(self, deploy: _Deploy, since: datetime) -> int | None:
        """The run a dispatch answered by 204 started: the first run of the workflow by
        ``workflow_dispatch`` on the ref created since the dispatch and not taken by another
        action (two dispatches of the same workflow and ref within DISPATCH_SKEW of each other
        by someone else may be confused; servers that return the run's id avoid this)."""
        after = since - DISPATCH_SKEW
        params = {"event": "workflow_dispatch", "per_page": 20,
                  "branch": deploy.ref.removeprefix("refs/heads/").removeprefix("refs/tags/"),
                  "created": f">={after:%Y-%m-%dT%H:%M:%SZ}"}
        for attempt in range(self._polls(self.config.dispatch_timeout)):
            if attempt:
                await asyncio.sleep(self.config.poll_interval)
            runs = await self.api.pages(
                f"/repos/{deploy.repo}/actions/workflows/{deploy.workflow}/runs", params,
                what=f"{deploy.repo}: runs of {deploy.workflow}", items=runs_of, limit=20)
            fresh = [r for r in runs if f"{deploy.repo}:{r['id']}" not in self._claimed
                     and (parse_time(r["created_at"]) or since) >= after]
            if fresh:
                return min(fresh, key=lambda r: (parse_time(r["created_at"]) or since,
                                                 r["id"]))["id"]
        return None

    async def _rerun(self, request: ActionRequest, repo: str, number: str,
                     run: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        attempt = int(run["attempt"] or 1) + 1
        self._ledger.put(request.id, run=f"{repo}:{number}", attempt=attempt)
        await self.api.post(f"/repos/{repo}/actions/runs/{number}/rerun-failed-jobs", None,
                            what=f"{repo}: run {number}")
        yield self._event(f"Re-running the failed jobs of {run['name']} #{run['number']} "
                          f"(attempt {attempt})")
        async for event in self._follow(repo, number, ActionKind.RERUN, min_attempt=attempt):
            yield event

    async def _cancel(self, request: ActionRequest, repo: str, number: str,
                      run: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        self._ledger.put(request.id, run=f"{repo}:{number}")
        await self.api.post(f"/repos/{repo}/actions/runs/{number}/cancel", None,
                            what=f"{repo}: run {number}")
        yield self._event(f"Cancelling {run['name']} #{run['number']} ({run['status']})")
        async for event in self._follow(repo, number, ActionKind.CANCEL):
            yield event

    async def _follow(self, repo: str, number: str, kind: ActionKind, *,
                      min_attempt: int | None = None) -> AsyncIterator[ActionEvent]:
        """Read the run and its jobs every ``poll_interval``, with an event whenever a job or
        step moves on, until the run completes (a re-run: its attempt ``min_attempt``)."""
        said = None
        while True:
            # The jobs after the run: a completed run then has its jobs' final states.
            run = await self._run_item(repo, number)
            jobs = await self._job_items(repo, number)
            label = f"{run['name']} #{run['number']}"
            stale = min_attempt is not None and int(run["attempt"] or 1) < min_attempt
            total = len(jobs) if jobs and not stale else None
            done = sum(1 for j in jobs if j["status"] == "completed") if total else None
            if run["status"] == "completed" and not stale:
                yield self._outcome(kind, run, jobs, label, done, total)
                return
            running = [j for j in jobs if j["status"] == "in_progress"]
            held = [j["name"] for j in jobs if j["status"] == "waiting"]
            if stale:
                text = "waiting for the re-run to start"
            elif run["status"] == "waiting" or held:
                # A job deploying to an environment with required reviewers: someone with
                # the right to approves it on GitHub (the action goes on once they have).
                text = (f"waiting for approval of job {', '.join(held)}" if held
                        else "waiting for approval") + \
                    f" (a protected environment's reviewers, on GitHub){link_of(run)}"
            else:
                text = "; ".join(f"{j['name']}: {job_progress(j)}" for j in running) \
                    or str(run["status"])
            if text != said:
                said = text
                yield self._event(f"{label}: {text}", done=done, total=total)
            await asyncio.sleep(self.config.poll_interval)

    def _outcome(self, kind: ActionKind, run: dict[str, Any], jobs: list[dict[str, Any]],
                 label: str, done: int | None, total: int | None) -> ActionEvent:
        conclusion = str(run["conclusion"] or "unknown")
        link = f" — {run['url']}" if run["url"] else ""
        if kind is ActionKind.CANCEL:
            if conclusion == "cancelled":
                return self._event(f"{label} cancelled{link}", state=ActionState.SUCCEEDED,
                                   done=done, total=total)
            return self._event(f"{label} completed ({conclusion}) before it could be "
                               f"cancelled{link}", state=ActionState.FAILED, done=done,
                               total=total, level="error")
        if conclusion == "success":
            return self._event(f"{label} succeeded{link}", state=ActionState.SUCCEEDED,
                               done=done, total=total)
        where = ""
        for job in jobs:
            if job["conclusion"] in ("failure", "timed_out", "cancelled"):
                step = next((s["name"] for s in job["steps"]
                             if s["conclusion"] in ("failure", "timed_out", "cancelled")), None)
                where = f": job {job['name']} {job['conclusion']}" \
                    + (f" at step {step}" if step else "")
                break
        return self._event(f"{label} concluded {conclusion}{where}{link}",
                           state=ActionState.FAILED, done=done, total=total, level="error")

    def _event(self, message: str, *, state: ActionState = ActionState.RUNNING,
               done: int | None = None, total: int | None = None,
               level: str = "info") -> ActionEvent:
        return ActionEvent(ts=self.context.clock.now(), message=message, state=state, done=done,
                           total=total, level=level)

    def _polls(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self.config.poll_interval))


def link_of(run: dict[str, Any]) -> str:
    return f" — {run['url']}" if run.get("url") else ""


def _parse_run(run_id: str) -> tuple[str, str]:
    """``"owner/repo:123"`` → ("owner/repo", "123")."""
    repo, _, number = run_id.rpartition(":")
    try:
        repo = check_repo(repo)
    except ValueError:
        repo = ""
    if not repo or not number.isdigit():
        raise SourceNotFound(f"{run_id!r} is not a GitHub run (expected owner/repo:RUN_ID)")
    return repo, number
