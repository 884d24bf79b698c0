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

**Delivery history** (``history.py``): each deployment with its outcome from its statuses,
the commits it brought from the compare API (for lead time), and rollbacks.

**Actions** (``actions.py``). Deploy runs the ``deploy.workflow`` by ``workflow_dispatch`` on
``deploy.ref`` with the service, environment and version as inputs, then follows the run it
started until it ends. Rerun re-runs a finished run's failed jobs; cancel stops a queued or
running run. A request id is done once (see ``ledger.py``).

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
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from idp_tui import (
    ActionKind,
    Capability,
    Deployment,
    Environment,
    EnvironmentKind,
    EnvironmentType,
    Health,
    Identity,
    JobLogQuery,
    LogLine,
    PartialAnswer,
    PipelineQuery,
    PipelineRun,
    Service,
    Source,
    SourceAuthError,
    SourceContext,
    SourceCredentialsRefused,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
)

from .actions import GithubActions
from .client import GithubApi
from .config import GithubConfig, check_repo
from .history import GithubHistory
from .ledger import Ledger
from .mapping import (
    HEALTH,
    deployment_version,
    deployments_of,
    is_preview_name,
    job_record,
    jobs_of,
    parse_log,
    parse_run,
    parse_time,
    run_record,
    runs_of,
    statuses_of,
    trim_job,
    trim_run,
)

log = logging.getLogger("idp_tui.github")
T = TypeVar("T")

#: The catalog annotation that names a service's repository.
SLUG = "github.com/project-slug"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GithubSource(GithubActions, GithubHistory, Source):
    """Workflow runs, job logs, deployments and deploys from GitHub (or GitHub Enterprise
    Server)."""

    Config = GithubConfig
    capabilities = frozenset({Capability.PIPELINES, Capability.ENVIRONMENTS, Capability.ACTIONS,
                              Capability.DELIVERY})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.RERUN, ActionKind.CANCEL,
                         ActionKind.RERUN_ALL, ActionKind.RERUN_JOB, ActionKind.APPROVE,
                         ActionKind.REJECT, ActionKind.DISPATCH})
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
        #: Environments whose newest deployment GitHub marks transient (a preview), production.
        self._transient: set[str] = set()
        self._production: set[str] = set()
        self._ledger = Ledger(context.data_dir / "actions.json")
        #: Runs ("owner/repo:id") started by actions of this source, never taken for another.
        self._claimed: set[str] = set()
        #: Each repository's deployments as last read (shown while a rate limit lasts).
        self._deployments_read: dict[str, list[Deployment]] = {}

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
        self.api.parts.follow(repos)  # each repository's own health
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

    async def whoami(self) -> Identity:
        """The token's user: ``GET /user``'s login (a GitHub App's installation token has none:
        not confirmed, said why). A refused token (401) is the source failing, raised."""
        try:
            body, _next = await self.api.get(self.api.url("/user"), what="the token's user")
        except SourceCredentialsRefused:
            raise
        except (SourceAuthError, SourceNotFound) as exc:
            return Identity(note=f"GitHub does not say whose the token is: {exc.message}")
        login = body.get("login") if isinstance(body, dict) else None
        if not isinstance(login, str) or not login:
            return Identity(note="GitHub's answer names no user")
        return Identity(user=login, note=f"the token's login at {self.config.url}")

    async def retry_now(self) -> None:
        """Forget the waits of repositories that failed for good and of a refused token."""
        self.api.backoff.forget()

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
        """The joined results of ``jobs`` (one per repository), run at once, and what failed.

        Some repositories failing: their records are missing and the error says how many (a rate
        limit first, with when the rest is asked again: what the others answered is kept, not
        thrown away). All failing: raised (a rate limit as :class:`SourceRateLimited`, so the
        hub waits until GitHub's reset).
        """
        results = await asyncio.gather(*jobs, return_exceptions=True)
        out: list[T] = []
        errors: list[SourceError] = []
        for result in results:
            if isinstance(result, SourceError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                out.extend(result)
        if not errors:
            return out, None
        limited = [e for e in errors if isinstance(e, SourceRateLimited)]
        if limited:
            retry_at = max(e.retry_at for e in limited)
            if len(errors) == len(results):
                raise SourceRateLimited(limited[0].message, retry_at=retry_at,
                                        hint=limited[0].hint)
            failed = [e for e in errors if not isinstance(e, SourceRateLimited)]
            more = f"; {len(failed)} more failed ({failed[0].message})" if failed else ""
            return out, SourceRateLimited(
                f"{limited[0].message} — {len(limited)} of {len(results)} repositories not "
                f"read, next try at {retry_at:%H:%M:%S} UTC{more}", retry_at=retry_at,
                hint=limited[0].hint)
        first = errors[0]
        if len(errors) > 1:
            first = type(first)(f"{first.message} (and {len(errors) - 1} more repositories)",
                                hint=first.hint, part=first.part)
        if len(errors) == len(results):
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
        # GitHub's order (and gh run list's): by creation; a re-run keeps its place.
        runs.sort(key=lambda run: run.created_at or run.started_at, reverse=True)
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
        repo, number = parse_run(run_id)
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
        repo, number = parse_run(query.run_id)
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
        """The configured environments in promotion order, then those seen only in
        deployments: the lasting ones (by name, one GitHub marks ``production_environment``
        last), then the transient ones as previews (``transient_environment``, or a name such
        as ``preview-42`` or ``pr-17``)."""
        if self._seen is None and self.repos():
            with contextlib.suppress(SourceError):  # the configured ones are still right
                await self.deployments()
        configured = list(self.config.environments)
        seen = [name for name in self._seen or () if name not in configured]
        previews = [name for name in seen if name in self._transient or is_preview_name(name)]
        lasting = sorted((name for name in seen if name not in previews),
                         key=lambda name: (name in self._production, name))
        out = [Environment(name=name, order=i, protected=name in self.config.protected,
                           type=EnvironmentType.PRODUCTION if name in self._production else None)
               for i, name in enumerate(configured + lasting)]
        return out + [Environment(name=name, order=len(out) + i, kind=EnvironmentKind.PREVIEW,
                                  protected=name in self.config.protected)
                      for i, name in enumerate(previews)]

    async def deployments(self) -> list[Deployment]:
        """Every repository's deployments; some failing, a :class:`PartialAnswer`. A repository
        GitHub's rate limit stops gives what it last gave (a refresh asks twice: for the
        environments, then the deployments), said as waiting for the reset."""
        targets = self._targets()
        waiting: list[SourceRateLimited] = []
        found, error = await self._each([self._deployments_kept(repo, services, waiting)
                                         for repo, services in targets.items()])
        self._note_environments(found)
        if error is None and waiting:
            retry_at = max(e.retry_at for e in waiting)
            error = SourceRateLimited(
                f"{waiting[0].message} — {len(waiting)} of {len(targets)} repositories as last "
                f"read, next try at {retry_at:%H:%M:%S} UTC", retry_at=retry_at,
                hint=waiting[0].hint)
        if error is not None:
            raise PartialAnswer(found, error)
        return found

    async def _deployments_kept(self, repo: str, services: list[str],
                                waiting: list[SourceRateLimited]) -> list[Deployment]:
        """``_repo_deployments``, or while a rate limit stops it, what it gave last (the limit
        appended to ``waiting``)."""
        key = repo.lower()
        try:
            found = await self._repo_deployments(repo, services)
        except SourceRateLimited as exc:
            if key not in self._deployments_read:
                raise
            waiting.append(exc)
            return self._deployments_read[key]
        self._deployments_read[key] = found
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
        for env, item in newest.items():  # what the newest deployment says of its environment
            (self._transient.add if item["transient"] else self._transient.discard)(env)
            (self._production.add if item["production"] else self._production.discard)(env)
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
