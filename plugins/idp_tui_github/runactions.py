"""The ``github`` source's actions on a run or a workflow beyond deploy, re-run of the failed jobs
and cancel: re-run every job or one job, approve or reject the deployment a run waits for review
on (``pending_deployments``), and run any workflow by ``workflow_dispatch`` with the inputs its
file declares.

:class:`GithubRunActions` is a part of :class:`~.actions.GithubActions` (a mixin): it uses the
source's API client, config and ledger, and the run following of ``actions.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    SourceAuthError,
    SourceError,
    SourceNotFound,
)

from .mapping import workflows_of
from .workflowfile import as_sent, dispatch_schema, file_text

if TYPE_CHECKING:
    from .actions import _Deploy
    from .client import GithubApi
    from .config import GithubConfig
    from .ledger import Ledger

#: The kinds this module plans and starts.
RUN_KINDS = frozenset({ActionKind.RERUN_ALL, ActionKind.RERUN_JOB, ActionKind.APPROVE,
                       ActionKind.REJECT})
REVIEWS = frozenset({ActionKind.APPROVE, ActionKind.REJECT})
_REVIEW_STATE = {ActionKind.APPROVE: "approved", ActionKind.REJECT: "rejected"}


def _label(run: dict[str, Any], repo: str) -> str:
    return f"{run['name']} #{run['number']} of {repo}"


class GithubRunActions:
    """Re-run all or one job, approve or reject a deployment, run a workflow with inputs."""

    if TYPE_CHECKING:  # provided by GithubSource and GithubActions
        api: GithubApi
        config: GithubConfig
        _ledger: Ledger

        @property
        def name(self) -> str: ...
        def _require_repo(self, service: str | None) -> str: ...
        async def _job_items(self, repo: str, number: str) -> list[dict[str, Any]]: ...
        async def _run_item(self, repo: str, number: str) -> dict[str, Any]: ...
        def _follow(self, repo: str, number: str, kind: ActionKind, *,
                    min_attempt: int | None = None) -> AsyncIterator[ActionEvent]: ...
        def _event(self, message: str, *, state: ActionState = ActionState.RUNNING,
                   done: int | None = None, total: int | None = None,
                   level: str = "info") -> ActionEvent: ...

    # Checks ---------------------------------------------------------------------------------------

    def _check_run_kind(self, kind: ActionKind, run: dict[str, Any], label: str) -> None:
        """Refuse a run that ``kind`` cannot act on (a re-run: one that has not finished; a
        review: one that waits for none)."""
        if kind in (ActionKind.RERUN_ALL, ActionKind.RERUN_JOB) and run["status"] != "completed":
            raise SourceError(f"{label} is still {run['status']}: it can be re-run once it has "
                              "finished")
        if kind in REVIEWS and run["status"] != "waiting":
            raise SourceError(f"{label} is {run['status']}: it waits for no deployment review")

    async def _job_of(self, request: ActionRequest, repo: str, number: str,
                      label: str) -> dict[str, Any]:
        """The job ``params["job"]`` names (its id or its name), finished."""
        wanted = str(request.params.get("job") or "").strip()
        if not wanted:
            raise SourceError(f"{label}: no job given")
        jobs = await self._job_items(repo, number)
        found = [j for j in jobs if j["id"] == wanted] or [j for j in jobs if j["name"] == wanted]
        names = ", ".join(j["name"] for j in jobs) or "none"
        if not found:
            raise SourceNotFound(f"{label} has no job {wanted!r} (jobs: {names})")
        if len(found) > 1:
            raise SourceError(f"{label} has {len(found)} jobs named {wanted!r}: give its id "
                              f"({', '.join(j['id'] for j in found)})")
        job = found[0]
        if job["status"] != "completed":
            raise SourceError(f"job {job['name']} of {label} is {job['status']}: it can be "
                              "re-run once it has finished")
        return job

    async def _pending(self, repo: str, number: str, label: str,
                       environment: str | None) -> list[dict[str, Any]]:
        """The deployments the run waits for review on (only ``environment``'s, if given)."""
        body, _ = await self.api.get(
            self.api.url(f"/repos/{repo}/actions/runs/{number}/pending_deployments"),
            what=f"{repo}: run {number}: pending deployments")
        pending = [p for p in body if isinstance(p, dict) and isinstance(p.get("environment"),
                                                                          dict)] \
            if isinstance(body, list) else []
        if not pending:
            raise SourceError(f"{label} waits for no deployment review")
        if environment:
            mine = [p for p in pending if p["environment"].get("name") == environment]
            if not mine:
                waiting = ", ".join(str(p["environment"].get("name")) for p in pending)
                raise SourceNotFound(f"{label} waits for no review in {environment} (it waits "
                                     f"in {waiting})")
            pending = mine
        return pending

    @staticmethod
    def _reviewable(pending: list[dict[str, Any]], label: str) -> None:
        refused = [str(p["environment"].get("name")) for p in pending
                   if p.get("current_user_can_approve") is False]
        if refused:
            raise SourceAuthError(
                f"{label}: the token's user is not a reviewer of {', '.join(refused)}",
                hint="A required reviewer of the environment (or an admin) approves it; see "
                     "the environment's protection rules on GitHub.")

    # Plans ----------------------------------------------------------------------------------------

    async def _plan_run_kind(self, request: ActionRequest, repo: str, number: str,
                             run: dict[str, Any]) -> ActionPlan:
        label = _label(run, repo)
        where = f"{run['branch']} @ {run['sha'][:7]}"
        if request.kind is ActionKind.RERUN_ALL:
            jobs = await self._job_items(repo, number)
            names = ", ".join(j["name"] for j in jobs)
            return ActionPlan(summary=f"Re-run all jobs of {label} ({where})"
                                      + (f": {names}" if names else ""))
        if request.kind is ActionKind.RERUN_JOB:
            job = await self._job_of(request, repo, number, label)
            return ActionPlan(
                summary=f"Re-run job {job['name']} ({job['conclusion']}) of {label} ({where})",
                notes=("Jobs that depend on it run again too.",))
        pending = await self._pending(repo, number, label, request.environment)
        self._reviewable(pending, label)
        environments = tuple(dict.fromkeys(str(p["environment"]["name"]) for p in pending))
        verb = "Approve" if request.kind is ActionKind.APPROVE else "Reject"
        target = environments[0] if len(environments) == 1 else "one of " + \
            ", ".join(environments)
        notes = ["Approving lets the run deploy there." if request.kind is ActionKind.APPROVE
                 else "Rejecting ends the run: the deployment does not happen."]
        for p in pending:
            timer = p.get("wait_timer")
            if isinstance(timer, int) and timer > 0:
                notes.append(f"{p['environment']['name']} waits {timer} min after approval "
                             "(its wait timer).")
        return ActionPlan(summary=f"{verb} the deployment of {label} ({where}) to {target}",
                          environments=environments, notes=tuple(notes))

    # Running --------------------------------------------------------------------------------------

    def _run_kind_flow(self, request: ActionRequest, repo: str, number: str,
                       run: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        if request.kind in REVIEWS:
            return self._review(request, repo, number, run)
        return self._rerun_more(request, repo, number, run)

    async def _rerun_more(self, request: ActionRequest, repo: str, number: str,
                          run: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        label = f"{run['name']} #{run['number']}"
        if request.kind is ActionKind.RERUN_JOB:
            job = await self._job_of(request, repo, number, _label(run, repo))
            path, what = f"/repos/{repo}/actions/jobs/{job['id']}/rerun", f"job {job['name']}"
        else:
            path, what = f"/repos/{repo}/actions/runs/{number}/rerun", "all jobs"
        attempt = int(run["attempt"] or 1) + 1
        self._ledger.put(request.id, run=f"{repo}:{number}", attempt=attempt)
        await self.api.post(path, None, what=f"{repo}: run {number}")
        yield self._event(f"Re-running {what} of {label} (attempt {attempt})")
        async for event in self._follow(repo, number, request.kind, min_attempt=attempt):
            yield event

    async def _review(self, request: ActionRequest, repo: str, number: str,
                      run: dict[str, Any]) -> AsyncIterator[ActionEvent]:
        label = _label(run, repo)
        pending = await self._pending(repo, number, label, request.environment)
        self._reviewable(pending, label)
        if request.environment is None and len(pending) > 1:
            raise SourceError(f"{label} waits for reviews in "
                              f"{', '.join(p['environment']['name'] for p in pending)}: name "
                              "the environment")
        state = _REVIEW_STATE[request.kind]
        names = ", ".join(str(p["environment"]["name"]) for p in pending)
        comment = request.reason.strip() or f"{state.capitalize()} with idp-tui" + \
            (f" by {request.actor}" if request.actor else "")
        self._ledger.put(request.id, run=f"{repo}:{number}", environment=names)
        await self.api.post(f"/repos/{repo}/actions/runs/{number}/pending_deployments", {
            "environment_ids": [p["environment"]["id"] for p in pending], "state": state,
            "comment": comment}, what=f"{repo}: run {number}: review of {names}")
        yield self._event(f"{state.capitalize()} the deployment of {label} to {names}")
        async for event in self._after_review(request.kind, repo, number, names):
            yield event

    async def _after_review(self, kind: ActionKind, repo: str, number: str,
                            names: str) -> AsyncIterator[ActionEvent]:
        """Read the run until it has moved on from the review: approved, it no longer waits
        there (it deploys, or waits for another environment); rejected, it has ended."""
        while True:
            run = await self._run_item(repo, number)
            label = f"{run['name']} #{run['number']}"
            link = f" — {run['url']}" if run["url"] else ""
            if kind is ActionKind.REJECT and run["status"] == "completed":
                yield self._event(f"{label} ended ({run['conclusion']}): its deployment to "
                                  f"{names} was rejected{link}", state=ActionState.SUCCEEDED)
                return
            if kind is ActionKind.APPROVE and run["status"] != "waiting":
                now = str(run["conclusion"] or run["status"])
                yield self._event(f"{label} goes on ({now}) to deploy to {names}{link}",
                                  state=ActionState.SUCCEEDED)
                return
            if kind is ActionKind.APPROVE and not await self._still_pending(repo, number, names):
                # Approved, and waiting for something else (another environment's review, or
                # the environment's wait timer).
                yield self._event(f"{label} is approved for {names} and waits on{link}",
                                  state=ActionState.SUCCEEDED)
                return
            await asyncio.sleep(self.config.poll_interval)

    async def _still_pending(self, repo: str, number: str, names: str) -> bool:
        """Whether one of ``names`` (comma-separated) still waits for review in the run."""
        body, _ = await self.api.get(
            self.api.url(f"/repos/{repo}/actions/runs/{number}/pending_deployments"),
            what=f"{repo}: run {number}: pending deployments")
        waiting = {str(p["environment"].get("name")) for p in body if isinstance(p, dict)
                   and isinstance(p.get("environment"), dict)} if isinstance(body, list) else set()
        return bool(waiting & set(names.split(", ")))

    # Running any workflow -------------------------------------------------------------------------

    async def _workflow_named(self, repo: str, wanted: str) -> dict[str, Any]:
        """The workflow of ``repo`` whose file name, id or name is ``wanted``, active."""
        flows = await self.api.pages(f"/repos/{repo}/actions/workflows", {"per_page": 100},
                                     what=f"{repo}: workflows", items=workflows_of,
                                     limit=10_000)
        found = [f for f in flows if wanted in (f["id"], f["file"])] or \
            [f for f in flows if f["name"] == wanted]
        if not found:
            files = ", ".join(f"{f['name']} ({f['file']})" for f in flows) or "none"
            raise SourceNotFound(f"{repo}: no workflow {wanted}",
                                 hint=f"Workflows of {repo}: {files}.")
        flow = found[0]
        if flow["state"] != "active":
            raise SourceError(f"{repo}: workflow {flow['file']} is {flow['state']}",
                              hint="Enable it in the repository's Actions tab.")
        return flow

    async def _inputs_of(self, repo: str, flow: dict[str, Any], ref: str) -> dict[str, Any]:
        """The JSON Schema of the inputs the workflow file (at ``ref``) declares."""
        path = f".github/workflows/{flow['file']}"
        what = f"{repo}: {path} at {ref}"
        body, _ = await self.api.get(self.api.url(f"/repos/{repo}/contents/{path}",
                                                  {"ref": ref}), what=what)
        schema = dispatch_schema(file_text(body, what), what)
        if schema is None:
            raise SourceError(f"{repo}: workflow {flow['file']} has no workflow_dispatch "
                              "trigger: it cannot be run by hand",
                              hint="Add `workflow_dispatch:` under `on:` in the workflow file.")
        return schema

    async def _dispatch_plan(self, request: ActionRequest, *,
                             check: bool = True) -> tuple[_Deploy, ActionPlan]:
        """A dispatch request checked against the workflow file (its inputs as declared, and
        the values given against them: refused unless ``check`` is off, as for the plan a form
        asks for before any value is typed), and its plan."""
        from .actions import _Deploy

        repo = self._require_repo(request.service)
        ref = request.version or self.config.deploy.ref
        flow = await self._workflow_named(repo, str(request.template or ""))
        schema = await self._inputs_of(repo, flow, ref)
        given = {k: v for k, v in request.params.items() if v is not None}
        notes = [f"Inputs it declares: {', '.join(schema['properties']) or 'none'}."]
        try:
            sent = as_sent(schema, given)
        except SourceError as exc:
            if check:
                raise
            sent = {k: str(v) for k, v in given.items()}
            notes.append(f"Not sent as it is: {exc.message}")
        deploy = _Deploy(repo, str(request.service), request.environment or "", ref,
                         flow["file"], ref, sent)
        notes.append("Stopping the action here cancels the workflow run.")
        return deploy, ActionPlan(
            summary=f"Run workflow {flow['name']} ({flow['file']}) of {repo} on {ref} with "
                    f"{deploy.describe()}", notes=tuple(notes), inputs=schema, cancellable=True)
