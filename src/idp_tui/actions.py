"""The action layer of the hub: route, check policy, audit, run with a deadline, report progress.

The dashboard's modals and the ``idp-tui`` commands both build an :class:`ActionRequest` and hand it
to :class:`ActionManager`; nothing else talks to a source's action methods. For every request the
manager

1. picks the source (the one that runs the service in that environment, or offers the template);
2. asks the policy (:mod:`idp_tui.policy`); a denied request is audited and never reaches the source
   (a kind with a version is judged by what it does: for that the source's dry run is asked for
   first, and a rollback to a version new to the environment is denied as a deploy would be);
3. writes and fsyncs a ``started`` audit record; if that fails the action does not start;
   (every record is written off the event loop, in order, by :class:`AuditWriter`: the start is
   waited for, the end and a refusal are queued; ``drain`` waits for those, ``close`` at the end);
4. runs the source's ``run_action`` on the source's own loop, forwarding each progress event, with the
   policy's ``action_timeout`` as a deadline (a source that hangs, even one that blocks its thread,
   ends as failed);
5. writes the ``finished`` audit record, drops secrets from memory and asks every pane to refresh.

An action a ``[[policy.approval]]`` rule covers stops before step 3 until it is approved
(:mod:`idp_tui.approvals`): the first time, a ``requested`` record is written and the run ends
waiting for approval (``decision.needs_approval``); once approved, the same id runs, and its
``started`` record names the request and the approvals.

A request id is an idempotency key: submitting the same id again returns the run already known.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .api.actions import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
)
# The records, importable from here as they always were.
from .actionrun import (
    MAX_EVENTS,
    ActionRun,
    Listener,
    PlanResult,
    TemplateEntry,
    current_user,
    secret_fields,
)
from .actionenv import checked_environment_request
from .actionroute import ActionRouting, validate_record
from .actionspec import Target, spec
from .api.clock import Clock, SystemClock
from .api.errors import SourceError, SourceNotFound
from .api.source import Capability
from .approvals import (PENDING, ApprovalError, Request, ballot, find, fold, owners_of,
                        requested, waiting)
from .audit import ActionAlreadyRan, AuditError, target_of
from .auditwriter import AuditWriter
from .hub import Failure, Hub, LoopTimer, PollTimer, SourceRunner, Topic, classify
from .inputs import InputError, check_inputs, environment_inputs
from .policy import Decision, Effect, PolicyConfig, acting_as, decide, judge, versions_run
from .safetext import error_message
from .store import AuditTrail

__all__ = ["MAX_EVENTS", "ActionManager", "ActionRun", "PlanResult", "TemplateEntry",
           "current_user", "secret_fields"]

log = logging.getLogger(__name__)

#: Seconds past the deadline before a source whose loop is blocked is given up on.
WATCHDOG_GRACE = 1.0
#: Seconds a cancelled run's source has to say it stopped before the run is marked cancelled.
CANCEL_GRACE = 0.2
#: Seconds between two looks at the audit trail while a request from the dashboard waits for
#: its approval (``ActionManager.run_when_approved``).
APPROVAL_POLL = 3.0
#: The same while the store's changes are heard (``ActionManager.heard``): a safety net only.
HEARD_POLL = 60.0


class ActionManager(ActionRouting):
    """Every action goes through here (see the module docstring)."""

    def __init__(self, hub: Hub, policy: PolicyConfig, audit: AuditTrail, *,
                 clock: Clock | None = None, read_only: bool = False,
                 read_only_sources: frozenset[str] = frozenset(), actor: str | None = None,
                 timer: PollTimer | None = None) -> None:
        self.hub = hub
        #: What an action's deadline (``policy.action_timeout``) waits on: the hub's timer (the
        #: event loop's time), or a test's ``ManualTimer``.
        self.timer: PollTimer = timer or getattr(hub, "timer", None) or LoopTimer()
        self.policy = policy
        self.audit = audit
        self.clock = clock or hub.clock or SystemClock()
        self.read_only = read_only or policy.read_only
        self.read_only_sources = read_only_sources
        self.actor = actor or policy.identity or current_user()
        self.runs: dict[str, ActionRun] = {}
        self._listeners: list[Listener] = []
        self._templates: dict[str, TemplateEntry] = {}
        #: Approved runs' references to their request and approvals, for their records.
        self._approved: dict[str, dict[str, Any]] = {}
        #: Asks the sources who the user is (``identity.IdentityCheck``; the runtime sets it).
        self.identity: Any = None
        #: The requests this session waits on (``run_when_approved``), as last read.
        self._waiting: dict[str, Request] = {}
        #: Appends to the audit trail on a thread of its own, in order (never on the loop).
        self.writer = AuditWriter(lambda record: self.audit.append(record))
        #: The audit trail's changes are heard as they happen (the store's notifications, which
        #: call ``audit_changed``): a waiting request is read again then, else every ``poll``.
        self.heard = False
        self._wakes: dict[str, asyncio.Event] = {}

    # Reading -------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Some source can run actions or provision (even if policy then says no)."""
        return self.hub.has(Capability.ACTIONS) or self.hub.has(Capability.PROVISION)

    def able(self, kind: ActionKind) -> list[SourceRunner]:
        """The sources that can run ``kind``: those with its capability (and, for the ones listed
        in ``Source.actions``, that list it), read-only or not."""
        row = spec(kind)
        runners = self.hub.runners_for(row.capability)
        if row.capability is Capability.ACTIONS:
            runners = [r for r in runners if kind in r.source.actions]
        return list(runners)

    def can(self, kind: ActionKind) -> bool:
        return bool(self.able(kind))

    def watch(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(run)`` on every change of every run; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # Deciding ------------------------------------------------------------------------------------

    async def decide(self, request: ActionRequest) -> tuple[SourceRunner, Decision]:
        """The source that would run ``request`` and the policy's decision on what it does (for a
        kind with a version, the source's plan is asked for: see ``policy.judge``)."""
        runner = await self._route(request)
        request, plan = await self._resolved(runner, request)
        if _judged(request):
            try:
                plan = await self._plan(runner, request)
            except Exception:  # noqa: BLE001 - then the version it goes to may be unknown
                plan = None
        return runner, await self._decision(runner, request, plan)

    async def plan(self, request: ActionRequest) -> PlanResult:
        """The policy decision and the source's dry run, for the modal or ``--dry-run``."""
        try:
            request = await self._checked(request)
            runner = await self._route(request)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return PlanResult(None, None, failure=classify("hub", exc))
        plan: ActionPlan | None = None
        failure: Failure | None = None
        try:
            request, plan = await self._resolved(runner, request)
            if plan is None:
                plan = await self._plan(runner, request)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            failure = classify(runner.name, exc)
        try:
            decision = await self._decision(runner, request, plan)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return PlanResult(None, None, failure=classify("hub", exc))
        return PlanResult(runner.name, decision, plan, failure, request)

    async def inputs(self, request: ActionRequest) -> dict[str, Any] | None:
        """The JSON Schema of the inputs a kind that takes them declares for ``request`` (a
        workflow's), as the source's plan says it; None when it declares none. Raises what the
        routing or the plan raise."""
        request = await self._checked(request)
        runner = await self._route(request)
        plan = await self._plan(runner, request.model_copy(update={"params": {}}))
        return plan.inputs

    async def resolve(self, request: ActionRequest) -> ActionRequest:
        """``request`` checked, with the environment it acts in filled in where the source's
        plan says it (a run's deployment waiting for review, an input naming an environment);
        raises what the check, the routing or the plan raise."""
        request = await self._checked(request)
        runner = await self._route(request)
        return (await self._resolved(runner, request))[0]

    async def _resolved(self, runner: SourceRunner, request: ActionRequest
                        ) -> tuple[ActionRequest, ActionPlan | None]:
        """For a kind that reviews a run's deployment or takes declared inputs, ``request`` with
        the environment it acts in (the only one the run waits for, or the one an
        environment input names) and its inputs checked, and the source's plan it took; any
        other kind as it is, and no plan."""
        row = spec(request.kind)
        if not (row.reviews or row.takes_inputs):
            return request, None
        plan = await self._plan(runner, request)
        names = self.hub.environments
        environment = request.environment
        if row.reviews:
            waiting = [names.to_platform(runner.name, e) for e in plan.environments]
            what = f"run {request.run_id or '?'}"
            if not waiting:
                raise SourceError(f"{what} waits for no deployment review")
            if environment and environment not in waiting:
                raise SourceNotFound(f"{what} waits for no review in {environment} (it waits in "
                                     f"{', '.join(waiting)})")
            if not environment and len(waiting) > 1:
                raise SourceError(f"{what} waits for reviews in {', '.join(waiting)}: name the "
                                  "environment")
            environment = environment or waiting[0]
        if row.takes_inputs and plan.inputs is not None:
            try:
                params = check_inputs(plan.inputs, request.params)
            except InputError as exc:
                raise SourceError(f"invalid inputs: {exc}") from None
            for name in environment_inputs(plan.inputs):
                value = params.get(name)
                if isinstance(value, str) and value:
                    value = names.to_platform(runner.name, value)
                    if environment and environment != value:
                        raise SourceError(f"environment {environment!r} does not match the "
                                          f"input {name}={value!r}")
                    environment = value
            request = request.model_copy(update={"params": params})
        if environment != request.environment:
            request = request.model_copy(update={"environment": environment})
        return request, plan

    async def _plan(self, runner: SourceRunner, request: ActionRequest) -> ActionPlan:
        value = await self.hub._call(runner, "plan_action", self._local(runner, request))
        return validate_record(value, ActionPlan, "action plan")

    async def _decision(self, runner: SourceRunner, request: ActionRequest,
                        plan: ActionPlan | None, *, judged: bool = True) -> Decision:
        """The policy's decision; for a kind with a version (unless not ``judged``), on what
        going to that version does, given ``plan`` (the source's dry run, or None)."""
        protected = await self._environment_protected(request.environment)
        effect = await self._effect(runner, request, plan) if judged and _judged(request) \
            else acting_as(request.kind, request.environment or "")
        kind = await self._environment_type(request.environment) if self.policy.approval \
            else None
        return decide(self.policy, request, now=self.clock.now(), read_only=self.read_only,
                      source_read_only=runner.name in self.read_only_sources,
                      source=runner.name, environment_protected=protected, effect=effect,
                      environment_type=kind)

    async def _effect(self, runner: SourceRunner, request: ActionRequest,
                      plan: ActionPlan | None) -> Effect:
        """What going to the request's version does (``policy.judge``). The evidence of what ran
        in the environment is gathered cheapest first, and only while a target is unproven: the
        version running now (the platform's deployments, the plan), the source's version list,
        idp-tui's audit log, and the version the source rolls back to by default."""
        service, env = request.service or "", request.environment or ""
        row = spec(request.kind)
        targets = [v for v in (request.version, plan.target_version if plan else None) if v]
        ran: set[str] = set()
        current: str | None = None
        try:
            platform = await self._platform()
            dep = platform.deployments.get((service, env)) if platform else None
            current = dep.version if dep is not None and dep.version else None
        except Exception:  # noqa: BLE001 - the platform is evidence, not a requirement
            pass
        if plan is not None and plan.current_version:
            current = current or plan.current_version
            ran.add(plan.current_version)
        if not request.version and plan is not None and plan.target_version:
            ran.add(plan.target_version)  # the source's own "previous version"
        if current:
            ran.add(current)

        def unproven() -> bool:
            return any(t not in ran for t in targets)

        if unproven():
            try:
                for option in await self._versions_on(runner, service, env):
                    if option.current or env in option.environments:
                        ran.add(option.version)
                        if option.current and current is None:
                            current = option.version
            except Exception:  # noqa: BLE001 - a source without a version list
                pass
        if unproven():
            try:
                await self.writer.drain()
                ran |= await asyncio.to_thread(
                    lambda: versions_run(self.audit.records(), service, env))
            except Exception:  # noqa: BLE001 - an unreadable log proves nothing
                log.warning("audit log unreadable while judging %s", request.id, exc_info=True)
        if unproven() and request.version and not row.needs_version:
            try:
                previous = await self._plan(runner, request.model_copy(update={"version": None}))
            except Exception:  # noqa: BLE001 - a source with no previous version to offer
                previous = None
            if previous is not None and previous.target_version:
                ran.add(previous.target_version)
        return judge(request.kind, env, targets, current, ran)

    # Running -------------------------------------------------------------------------------------

    async def submit(self, request: ActionRequest) -> ActionRun:
        """Check, audit and start ``request``; returns at once with the run (see ``wait``).

        The same ``request.id`` twice returns the first run: double-pressing confirm starts one
        action.
        """
        if request.id in self.runs:
            return self.runs[request.id]
        request = request.model_copy(update={"actor": self.actor})
        now = self.clock.now()
        # Reserve the id before any await, so a second submit of the same id finds it.
        placeholder = ActionRun(request, "", Decision(False, "checking", "pending"),
                                self._public_params(request, None), now)
        self.runs[request.id] = placeholder
        if self.identity is not None:  # asked once a run, waited for a few seconds at most
            await self.identity.confirmed()
        try:
            request = await self._checked(request)
            placeholder.request = request
            runner = await self._route(request)
            # Where a review or a workflow's inputs act, and the inputs checked, from the plan.
            request, resolved = await self._resolved(runner, request)
            placeholder.request = request
            # The rules that need no plan first: a request they deny never reaches the source.
            decision = await self._decision(runner, request, None, judged=False)
        except Exception as exc:  # noqa: BLE001 - the run ends as failed, audited
            failure = classify("hub", exc)
            placeholder.decision = Decision(False, failure.message, "error")
            self._audit_denied(placeholder, f"{failure.error_class}: {failure.message}")
            self._finish(placeholder, ActionState.FAILED, f"{failure.error_class}: "
                         f"{failure.message}")
            return await self._recorded(placeholder)
        entry = self._templates.get(request.template or "")
        run = placeholder
        run.source = runner.name
        run.decision = decision
        run.public_params = self._public_params(request, entry)
        if not decision.allowed and not decision.needs_approval:
            self._audit_denied(run, decision.message)
            self._finish(run, ActionState.DENIED, decision.message)
            return await self._recorded(run)
        try:
            run.plan = resolved or await self._plan(runner, request)
            run.cancellable = run.plan.cancellable
        except Exception as exc:  # noqa: BLE001 - a plan that fails stops the action
            failure = classify(runner.name, exc)
            self._audit_denied(run, f"plan failed: {failure.error_class}: {failure.message}")
            self._finish(run, ActionState.FAILED, f"{failure.error_class}: {failure.message}",
                         audit=False)
            return await self._recorded(run)
        if _judged(request):
            # What it does decides: a rollback to a version new to the environment is a deploy.
            try:
                run.decision = await self._decision(runner, request, run.plan)
            except Exception as exc:  # noqa: BLE001 - the run ends as failed, audited
                failure = classify("hub", exc)
                run.decision = Decision(False, failure.message, "error")
            if not run.decision.allowed and not run.decision.needs_approval:
                self._audit_denied(run, run.decision.message)
                self._finish(run, ActionState.DENIED, run.decision.message)
                return await self._recorded(run)
        if run.decision.needs_approval and not await self._approval_gate(run):
            return run
        start = self.writer.start(self._record(run, "started"))
        try:
            await self.writer.result(start)
        except asyncio.CancelledError:  # (its start may be written: then its end says so)
            self._finish(run, ActionState.CANCELLED, "stopped before it started", audit=False)
            self.writer.later(self._record(run, "finished"), "audit log not writable",
                              after=start)
            raise
        except ActionAlreadyRan as exc:  # this id's action ended before: its outcome, not again
            self._event(run, ActionEvent(ts=self.clock.now(), message=str(exc)))
            self._finish(run, ActionState(exc.outcome), exc.error, audit=False)
            return run
        except AuditError as exc:
            run.audit_error = exc
            log.error("audit log not writable; %s not started: %s", run.title, exc)
            self._finish(run, ActionState.FAILED, f"not started: {exc}", audit=False)
            return run
        run.state = ActionState.RUNNING
        self._notify(run)
        loop = asyncio.get_running_loop()
        run._future = runner.submit(self._drive(runner, run, loop))
        loop.create_task(self._watchdog(run))
        return run

    # Approvals -----------------------------------------------------------------------------------

    async def _approval_gate(self, run: ActionRun) -> bool:
        """For a run that needs approval: True when its id was approved (it goes on); else the
        run ends, waiting (a ``requested`` record written the first time: its decision still
        ``needs_approval``) or refused (denied, expired, ran before: ``needs_approval`` false)."""
        request, rule = run.request, run.decision.approval
        assert rule is not None
        now = self.clock.now()
        try:
            await self.writer.drain()
            records = await asyncio.to_thread(self.records_of, request.id)
        except AuditError as exc:
            run.audit_error = exc
            self._finish(run, ActionState.FAILED, f"not requested: {exc}", audit=False)
            return False
        found = fold(records, only=request.id).get(request.id)
        if found is None and records:  # the id named another action before: never a request
            return self._refuse(run, f"action id {request.id} was used before (an id names one "
                                     "action): use a new id")
        if found is None:
            return await self._request_approval(run, now)
        if target_of(found.record) != target_of(self._record(run, "started")):
            return self._refuse(run, f"action id {request.id} was requested for {found.title}; "
                                     "an id names one action: use a new id")
        try:
            found.check_run(now)
        except ApprovalError as exc:
            if exc.state != "secret":  # (the secrets are here: the requester asked again)
                return self._refuse(run, str(exc), waiting=exc.state == "pending")
        self._approved[request.id] = found.refs()
        names = ", ".join(v.actor for v in found.approvals)
        run.decision = dataclasses.replace(
            run.decision, allowed=True, message=f"approved by {names} (request {request.id})")
        return True

    async def _request_approval(self, run: ActionRun, now: Any) -> bool:
        """Write the ``requested`` record of ``run`` and end it waiting for approval."""
        rule = run.decision.approval
        assert rule is not None
        owners: list[str] = []
        if rule.wants_owners and run.request.service:
            try:
                services = (await self.hub.fetch(Topic.catalog())).data or ()
                teams = (await self.hub.fetch(Topic.teams())).data or ()
                owners = owners_of(services, teams, run.request.service)
            except Exception:  # noqa: BLE001 - no catalog: the named approvers only
                pass
        request = run.request.model_copy(update={"params": run.public_params})
        record = requested(self._record(run, "started"), rule, request.model_dump(mode="json"),
                           owners, now)
        try:
            await self.writer.write(record)
        except AuditError as exc:
            run.audit_error = exc
            log.error("audit log not writable; %s not requested: %s", run.title, exc)
            self._finish(run, ActionState.FAILED, f"not requested: {exc}", audit=False)
            return False
        return self._refuse(run, waiting(run.decision.message, record), waiting=True)

    def _refuse(self, run: ActionRun, message: str, *, waiting: bool = False) -> bool:
        """End ``run`` without running it: waiting for approval, or refused."""
        run.decision = dataclasses.replace(run.decision, allowed=False, message=message,
                                           needs_approval=waiting)
        self._finish(run, ActionState.DENIED, message, audit=False)
        return False

    def records_of(self, action_id: str) -> list[dict[str, Any]]:
        """The audit records of one action id, oldest first (the store finds them by id)."""
        finder = getattr(self.audit, "records_of", None)
        if finder is not None:
            return list(finder(action_id))
        return [r for r in self.audit.records() if r.get("action_id") == action_id]

    # Approvals as the dashboard shows them (the command line: cli/approvals_cmd.py) --------------

    async def approval_requests(self) -> list[Request]:
        """Every request for approval in the audit trail (the store finds them by an index; the
        log is read), the newest first."""
        def read() -> dict[str, Request]:
            finder = getattr(self.audit, "request_records", None)
            return fold(finder() if finder is not None else self.audit.records())

        await self.writer.drain()
        found = await asyncio.to_thread(read)
        return sorted(found.values(), key=lambda r: str(r.record.get("time") or ""),
                      reverse=True)

    async def approval(self, action_id: str) -> Request | None:
        """The request for approval ``action_id`` as the audit trail has it now (None: none)."""
        await self.writer.drain()
        records = await asyncio.to_thread(self.records_of, action_id)
        return fold(records, only=action_id).get(action_id)

    async def vote(self, action_id: str, phase: str, reason: str) -> Request:
        """Approve (``phase`` ``approved``) or deny (``rejected``) the request ``action_id`` as
        this session's actor: checked and recorded as ``idp-tui approve``/``deny`` do
        (``approvals.ballot``); the request after it. Raises ``ApprovalError`` (the command
        line's sentences) or ``AuditError``. The record carries who the sources confirm the
        user is beside the claimed actor, as an action's records do."""
        await self.writer.drain()
        found = find(await asyncio.to_thread(self.records_of, action_id), action_id)
        confirmed = await self.identity.confirmed() if self.identity is not None else {}
        await self.writer.write(ballot(found, phase, self.actor, reason, self.clock.now(),
                                       confirmed=confirmed))
        return await self.approval(action_id) or found

    def waiting_for(self, action_id: str) -> Request | None:
        """What the audit trail said last of the request ``action_id`` while this session waits
        for its approval (``run_when_approved``); None when it does not wait for it."""
        return self._waiting.get(action_id)

    def audit_changed(self, action_id: str | None = None) -> None:
        """The audit trail has a new record of ``action_id`` (None: of any, or records may
        have been missed): a request this session waits for is read again now."""
        for rid, wake in list(self._wakes.items()):
            if action_id is None or rid == action_id:
                wake.set()

    async def run_when_approved(self, request: ActionRequest,
                                poll: float = APPROVAL_POLL) -> ActionRun | None:
        """For ``request``, which ``submit`` left waiting for approval: read its record every
        ``poll`` seconds (on ``self.timer``) until it is approved, denied or expired, telling the
        run's listeners each time that changes (``waiting_for`` says what it has); then submit
        it again: approved, it runs from this session (its events as any run's); denied or
        expired, it ends refused with the sentence saying so (the approver's reason). The run
        then (None: ``request`` does not wait for approval)."""
        run = self.runs.get(request.id)
        if run is None or not run.decision.needs_approval or not run.state.finished:
            return None
        seen: tuple[str, int] | None = None
        wake = self._wakes[request.id] = asyncio.Event()
        try:
            while True:
                wake.clear()
                try:
                    found = await self.approval(request.id)
                except Exception:  # noqa: BLE001 - an unreadable trail: look again later
                    log.warning("audit trail unreadable while %s waits", request.id,
                                exc_info=True)
                    found = self._waiting.get(request.id)
                state = found.state(self.clock.now()) if found is not None else "missing"
                if found is not None:
                    self._waiting[request.id] = found
                    if (state, len(found.approvals)) != seen:
                        seen = (state, len(found.approvals))
                        self._notify(run)
                if found is None or state != PENDING:
                    break  # (no record of it: submitting again asks anew)
                await self.timer.wait(wake, max(poll, HEARD_POLL) if self.heard else poll)
        finally:
            self._waiting.pop(request.id, None)
            self._wakes.pop(request.id, None)
        if self.runs.get(request.id) is run:
            del self.runs[request.id]
        return await self.submit(request)

    async def wait(self, action_id: str) -> ActionRun:
        """Wait until the run has finished and its records are written."""
        run = self.runs[action_id]
        while not run.state.finished:
            done = asyncio.Event()
            remove = self.watch(lambda r: done.set() if r is run else None)
            try:
                if run.state.finished:
                    break
                await done.wait()
            finally:
                remove()
        await self.writer.drain()
        return run

    async def drain(self) -> None:
        """Wait until every audit record handed to the writer so far is written (or failed)."""
        await self.writer.drain()

    async def close(self) -> None:
        """The session ends: every audit record written (``drain``), the writer's thread
        stopped."""
        await self.writer.close()

    def cancel(self, action_id: str) -> str:
        """Ask a running action to stop; returns what happened, in words."""
        run = self.runs.get(action_id)
        if run is None:
            return "no such action"
        if run.state.finished:
            return f"already {run.state.value}"
        if not run.cancellable:
            return f"{run.source} cannot cancel this action once started"
        run._cancel_requested = True
        if run._future is not None:
            run._future.cancel()
        return "cancelling"

    # Internals -----------------------------------------------------------------------------------

    async def _checked(self, request: ActionRequest) -> ActionRequest:
        """Validate what only the hub can: provisioning parameters against the template model."""
        row = spec(request.kind)
        if row.target is Target.TEMPLATE:
            if not request.template:
                raise SourceError(f"{request.kind.value} needs a template")
            entry = await self.template(request.template)
            try:
                validated = entry.template.params.model_validate(request.params)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "params"
                raise SourceError(f"invalid parameter {where}: {error_message(first)}") from None
            # A template's own `service`/`environment` parameter is where the thing goes: the
            # policy (protected environments) and the audit log must see that one.
            update: dict[str, str] = {}
            for name in ("service", "environment"):
                value = getattr(validated, name, None)
                value = getattr(value, "value", value)
                if not isinstance(value, str) or not value:
                    continue
                given = getattr(request, name)
                if given and given != value:
                    raise SourceError(f"{name} {given!r} does not match the template's parameter "
                                      f"{name}={value!r}")
                update[name] = value
            if update:
                request = request.model_copy(update=update)
        elif row.target is Target.RUN:
            if not request.run_id:
                raise SourceError(f"{request.kind.value} needs a pipeline run")
            if row.job and not str(request.params.get("job") or "").strip():
                raise SourceError(f"{request.kind.value} needs a job of the run")
        elif row.target is Target.WORKFLOW:
            if not request.service or not request.template:
                raise SourceError(f"{request.kind.value} needs a service and a workflow")
        elif row.target is Target.ENVIRONMENT:
            request = checked_environment_request(request)
        elif not request.service or not request.environment:
            raise SourceError(f"{request.kind.value} needs a service and an environment")
        if row.instance and not str(request.params.get("instance") or "").strip():
            raise SourceError(f"{request.kind.value} needs an instance of the service")
        if row.needs_replicas and request.replicas is None:
            raise SourceError(f"{request.kind.value} needs a number of replicas")
        if row.needs_version and not request.version:
            raise SourceError(f"{request.kind.value} needs a version")
        return request

    async def _drive(self, runner: SourceRunner, run: ActionRun,
                     home: asyncio.AbstractEventLoop) -> None:
        """Runs on the source's loop: iterate ``run_action`` and post each event home."""
        final: ActionState | None = None
        error: str | None = None
        try:
            await runner._ensure_started()
            stream = runner.source.run_action(self._local(runner, run.request))
            try:
                async for item in stream:
                    try:
                        event = validate_record(item, ActionEvent, "action event")
                    except Exception as exc:  # noqa: BLE001 - a bad event is reported once
                        failure = classify(runner.name, exc)
                        event = ActionEvent(ts=self.clock.now(), level="warning",
                                            message=f"unreadable event: {failure.message}")
                    home.call_soon_threadsafe(self._event, run, event)
                    if event.state.finished:
                        final = event.state
                        if event.state is not ActionState.SUCCEEDED:
                            error = event.message
                        break
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        except asyncio.CancelledError:
            if run._timed_out:  # the deadline (see _watchdog)
                final, error = ActionState.FAILED, (
                    f"timed out after {self.policy.action_timeout:g} s without finishing")
            else:
                final = ActionState.CANCELLED
                error = "cancelled by the user" if run._cancel_requested else "stopped"
        except BaseException as exc:  # noqa: BLE001 - a source's failure ends its action only
            failure = classify(runner.name, exc)
            final, error = ActionState.FAILED, f"{failure.error_class}: {failure.message}"
        if final is None:
            final = ActionState.SUCCEEDED
        home.call_soon_threadsafe(self._finish, run, final, error)

    async def _watchdog(self, run: ActionRun) -> None:
        """The run's deadline, on the home loop and ``self.timer``: at ``policy.action_timeout``
        the source's side is cancelled (``_drive`` then reports the timeout); a source whose loop
        is blocked, and so cannot even be cancelled, is given up on ``WATCHDOG_GRACE`` later. A
        run the user cancelled is marked so if its source does not say it stopped."""
        future = run._future
        assert future is not None
        home = asyncio.get_running_loop()
        stopped, ended = asyncio.Event(), asyncio.Event()
        future.add_done_callback(lambda _f: home.call_soon_threadsafe(stopped.set))
        remove = self.watch(lambda r: ended.set() if r is run and r.state.finished else None)
        timeout = self.policy.action_timeout
        try:
            if not await self.timer.wait(stopped, timeout):
                run._timed_out = True
                future.cancel()
                if not await self.timer.wait(ended, WATCHDOG_GRACE):
                    self._finish(run, ActionState.FAILED,
                                 f"timed out: {run.source} did not answer for {timeout:g} s")
            elif run._cancel_requested and not run.state.finished and \
                    not await self.timer.wait(ended, CANCEL_GRACE):
                self._finish(run, ActionState.CANCELLED, "cancelled by the user")
        finally:
            remove()

    def _event(self, run: ActionRun, event: ActionEvent) -> None:
        if run.state.finished:
            return
        run.events.append(event)
        if len(run.events) > MAX_EVENTS:
            del run.events[0]
            run.dropped_events += 1
        self._notify(run)

    def _finish(self, run: ActionRun, state: ActionState, error: str | None,
                audit: bool = True) -> None:
        if run.state.finished:
            return
        run.state = state
        run.error = error
        run.finished_at = self.clock.now()
        if audit and state is not ActionState.DENIED and run.decision.allowed:
            self.writer.later(self._record(run, "finished"),  # (after its start: one writer)
                              f"audit log not writable when {run.title} finished")
        # Keep no secret in memory once the source has what it needs.
        run.request = run.request.model_copy(update={"params": run.public_params,
                                                     "confirmation": ""})
        self._notify(run)
        if state is ActionState.SUCCEEDED:  # what failed may be there now (a deployed service)
            self.hub.retry_now()

    async def _recorded(self, run: ActionRun) -> ActionRun:
        """``run``, refused, once its records are written (``submit`` returns then)."""
        await self.writer.drain()
        return run

    def _audit_denied(self, run: ActionRun, message: str) -> None:
        self.writer.later(self._record(run, "denied", message),
                          "audit log not writable for a denied action")

    def _record(self, run: ActionRun, phase: str, message: str | None = None) -> dict[str, Any]:
        r = run.request
        record: dict[str, Any] = {
            "action_id": r.id,
            "time": self.clock.now().isoformat(),
            "phase": phase,
            "actor": r.actor or self.actor,
            "action": r.kind.value,
            "source": run.source,
            "service": r.service,
            "environment": r.environment,
            "version": r.version,
            "replicas": r.replicas,
            "template": r.template,
            "run_id": r.run_id,
            "params": run.public_params,
            "reason": r.reason,
            "decision": run.decision.as_dict(),
        }
        if phase in ("started", "finished") and r.id in self._approved:
            record["approved"] = self._approved[r.id]
        if self.identity is not None and self.identity.users:
            record["confirmed"] = self.identity.users  # beside the claimed actor, by source
        if phase == "finished":
            record["outcome"] = run.state.value
            record["error"] = run.error
            if run.plan is not None and run.plan.current_version:
                record["previous_version"] = run.plan.current_version
            if run.plan is not None and run.plan.target_version:
                record["target_version"] = run.plan.target_version
        elif phase == "denied":
            record["outcome"] = "denied"
            record["error"] = message
        return record

    def _notify(self, run: ActionRun) -> None:
        for listener in list(self._listeners):
            try:
                listener(run)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the action
                log.exception("action listener failed")


def _judged(request: ActionRequest) -> bool:
    """Whether the policy judges what ``request`` does by its version (``policy.judge``): a kind
    that takes a version and is not a deploy already, in an environment."""
    row = spec(request.kind)
    return row.takes_version and not row.frozen and bool(request.environment)
