"""The ``github`` source's actions: the versions a deploy offers, plans, and running a deploy
(``workflow_dispatch`` of the deploy workflow), a re-run or a cancel, each followed until its
run ends. A request id is done once (see ``ledger.py``).

:class:`GithubActions` is a part of :class:`~.source.GithubSource` (a mixin): it uses the
source's API client, config, ledger and repository lookup.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Health,
    NotSupported,
    RunStatus,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    VersionOption,
    same_version,
)

from .ledger import fingerprint
from .runactions import REVIEWS, RUN_KINDS, GithubRunActions
from .mapping import (
    job_progress,
    parse_run,
    parse_time,
    run_status,
    runs_of,
    version_of,
    workflows_of,
)

if TYPE_CHECKING:
    from .client import GithubApi
    from .config import GithubConfig
    from .ledger import Ledger

log = logging.getLogger("idp_tui.github")

#: Versions offered for a deploy at most.
VERSION_LIMIT = 30
#: A dispatched run (servers that answer 204) is looked for among runs created since this long
#: before the dispatch (GitHub's clock and ours may differ a little).
DISPATCH_SKEW = timedelta(seconds=30)
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


class GithubActions(GithubRunActions):
    """Deploy, re-run and cancel, and (``runactions.py``) the other actions on runs and
    workflows: the part of :class:`~.source.GithubSource` that changes things."""

    if TYPE_CHECKING:  # provided by GithubSource
        api: GithubApi
        config: GithubConfig
        _ledger: Ledger
        _claimed: set[str]
        _seen: list[str] | None

        @property
        def name(self) -> str: ...
        @property
        def context(self) -> Any: ...
        def _require_repo(self, service: str | None) -> str: ...
        async def _run_item(self, repo: str, number: str) -> dict[str, Any]: ...
        async def _job_items(self, repo: str, number: str) -> list[dict[str, Any]]: ...
        async def _repo_deployments(self, repo: str, services: list[str]) -> list[Any]: ...

    # Versions and plans -----------------------------------------------------------------

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
                run_id=f"{repo}:{run['id']}",
                current=same_version(running.get(environment), version),
                environments=tuple(e for e, v in running.items() if same_version(v, version))))
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
        repo, number = parse_run(request.run_id)
        run = await self._run_item(repo, number)
        label = f"{run['name']} #{run['number']} of {repo}"
        if request.kind is ActionKind.RERUN:
            if run["status"] != "completed":
                raise SourceError(f"{label} is still {run['status']}: it can be re-run once it "
                                  "has finished")
            if run["conclusion"] == "success":
                raise SourceError(f"{label} succeeded: there is no failed job to re-run")
        elif request.kind is ActionKind.CANCEL and run["status"] == "completed":
            raise SourceError(f"{label} has already completed ({run['conclusion']}): nothing "
                              "to cancel")
        self._check_run_kind(request.kind, run, label)
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
                                        if same_version(v, deploy.version)
                                        and e != deploy.environment),
                notes=tuple(notes), cancellable=True)
        if request.kind is ActionKind.DISPATCH:
            return (await self._dispatch_plan(request, check=False))[1]
        repo, number, run = await self._checked_run(request)
        if request.kind in RUN_KINDS:
            return await self._plan_run_kind(request, repo, number, run)
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
            if request.kind is ActionKind.DISPATCH:
                deploy = (await self._dispatch_plan(request))[0]
                repo, flow = deploy.repo, self._dispatch(request, deploy)
            else:
                repo, number, run = await self._checked_run(request)
                flow = self._rerun(request, repo, number, run) \
                    if request.kind is ActionKind.RERUN \
                    else self._run_kind_flow(request, repo, number, run) \
                    if request.kind in RUN_KINDS else self._cancel(request, repo, number, run)
            again = self._ledger.get(request.id)  # the same id, sent meanwhile
            if again is not None:
                await flow.aclose()  # type: ignore[attr-defined]
                async for event in self._again(request, again):
                    yield event
                return
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
        repo, number = parse_run(record["run"])
        yield self._event(f"Request {request.id} was started before: following its run "
                          f"{record['run']}")
        flow = self._after_review(request.kind, repo, number, record.get("environment") or "?") \
            if request.kind in REVIEWS else \
            self._follow(repo, number, request.kind, min_attempt=record.get("attempt"))
        async for event in self._recorded(request.id, flow):
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
