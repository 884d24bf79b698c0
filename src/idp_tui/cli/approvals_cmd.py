"""Four-eyes approvals on the command line: ``idp-tui approvals``, ``approve ID``, ``deny ID`` and
``run-approved ID`` (the rules and the requests' state: :mod:`idp_tui.approvals`).

Who acts is the configured identity (``[policy] identity``), else the OS user, as in every audit
record; ``approve`` and ``deny`` record beside it who the sources that act confirm the user is
(:func:`idp_tui.identity.confirm`: only they start, and only to be asked that; no runtime), and
count as a command (with ``[telemetry]`` on, a session: ``usage.command_session``).
``approvals`` reads the audit trail only; ``run-approved`` runs the request through the action
layer as any action; ``--wait`` hears the store's appends through
:class:`idp_tui.approvalwatch.ApprovalWatch`.
``approve RUN`` that names no request for approval is the pipeline run's review (``act.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..approvals import (
    APPROVED,
    DENIED,
    EXPIRED,
    PENDING,
    READY,
    REJECTED,
    ApprovalError,
    Request,
    ballot,
    find,
    fold,
    wait_decided,
)
from ..approvalwatch import ApprovalWatch
from ..safetext import sanitize
from .audit_cmd import _audit_errors, audit_log
from .context import Context
from .output import (
    EXIT_APPROVAL,
    EXIT_DENIED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Styled,
    timestamp,
)

if TYPE_CHECKING:
    from ..actions import ActionManager, ActionRun

log = logging.getLogger(__name__)

#: Seconds between two looks at the audit trail while ``--wait`` waits for approval (the data
#: dir's log; the PostgreSQL store while its changes are not heard).
WAIT_POLL = 0.5
#: The same while the store's changes are heard (``LISTEN``/``NOTIFY``): a safety net only.
WAIT_POLL_HEARD = 60.0

STATE_STYLES = {PENDING: "yellow", READY: "green", DENIED: "red bold", EXPIRED: "dim",
                "ran": "cyan"}


def identity(ctx: Context) -> str:
    """Who acts: ``[policy] identity``, else the OS user."""
    from ..actionrun import current_user

    return ctx.config.policy.identity or current_user()


def confirmed_identity(ctx: Context) -> dict[str, str]:
    """Who the sources that act confirm the user is, by source, asked as an action asks
    (``identity.confirm``: only those sources start, once, waited for a few seconds at most);
    empty when none confirms or they cannot be asked (the claimed identity is recorded all the
    same)."""
    from ..identity import confirm

    try:
        return asyncio.run(confirm(ctx.config, data_dir=ctx.folder, clock=ctx.clock))
    except Exception:  # noqa: BLE001 - a source that cannot say confirms nobody
        log.warning("asking the sources who the user is failed", exc_info=True)
        return {}


@contextmanager
def _session(ctx: Context) -> Iterator[None]:
    """A vote is a command, counted as one (``[telemetry]``: a session starts, nothing more;
    ``usage.command_session``)."""
    from ..usage import command_session

    with command_session(ctx.config, ctx.folder, identity=identity(ctx), clock=ctx.clock):
        yield


def records_of(trail: Any, request_id: str) -> list[dict[str, Any]]:
    """The records of one id, oldest first (the store finds them by id; the log is read)."""
    finder = getattr(trail, "records_of", None)
    with _audit_errors():
        if finder is not None:
            return list(finder(request_id))
        return [r for r in trail.records() if r.get("action_id") == request_id]


@contextmanager
def _refusals() -> Iterator[None]:
    """An approval, denial or run refused: a sentence and its exit code."""
    try:
        yield
    except ApprovalError as exc:
        code = EXIT_NOT_FOUND if exc.not_found else \
            EXIT_APPROVAL if exc.state == PENDING else EXIT_DENIED
        raise CliError(code, str(exc), hint=exc.hint, type="approval" if code != EXIT_NOT_FOUND
                       else None, state=exc.state or None) from None


def _reason(ctx: Context, verb: str) -> str:
    reason = (ctx.args.reason or "").strip()
    if not reason:
        raise CliError(EXIT_USAGE, f'{verb} needs --reason "…" (it is recorded in the audit '
                                   "trail)")
    return reason


# idp-tui approvals -------------------------------------------------------------------------------

def approvals(ctx: Context) -> int:
    out, now = ctx.out, ctx.clock.now()
    trail = audit_log(ctx)
    me = identity(ctx)
    with _audit_errors():  # the store finds the requests by an index; the log is read
        finder = getattr(trail, "request_records", None)
        requests = list(fold(finder() if finder is not None else trail.records()).values())
    shown = [r for r in requests if ctx.args.all or r.state(now) in (PENDING, READY)]
    shown.sort(key=lambda r: str(r.record.get("time") or ""), reverse=True)
    if out.json:
        out.emit({"identity": me, "approvals": [
            {**r.as_dict(now), "you_may_approve": r.state(now) == PENDING and r.may_approve(me)
             and all(v.actor != me for v in r.approvals)} for r in shown]})
        return EXIT_OK
    if not shown:
        out.line("no requests waiting for approval" + ("" if ctx.args.all else
                                                       " (--all lists the decided ones)"))
        return EXIT_OK
    rows = []
    for r in shown:
        state = r.state(now)
        votes = f"{len(r.approvals)}/{r.needed}"
        if r.approvals:
            votes += " (" + ", ".join(v.actor for v in r.approvals) + ")"
        who = ", ".join(r.approvers) or f"anyone but {r.requester}"
        if state == PENDING and r.may_approve(me) and all(v.actor != me for v in r.approvals):
            who += "  ← you may approve"
        rows.append([r.id, Styled(state, STATE_STYLES.get(state, "")), r.title, r.requester,
                     votes, who, timestamp(r.expires) if r.expires else "?",
                     r.record.get("reason") or ""])
    out.table(["ID", "STATE", "ACTION", "REQUESTED BY", "APPROVALS", "APPROVERS", "EXPIRES",
               "REASON"], rows)
    return EXIT_OK


# idp-tui approve ID / deny ID --------------------------------------------------------------------

def approve(ctx: Context) -> int:
    """``approve ID``: a request for approval when ID names one, else the pipeline run's review."""
    trail = audit_log(ctx)
    request_id = ctx.args.run
    found = fold(records_of(trail, request_id), only=request_id).get(request_id)
    if found is None:
        from .act import run_action

        return run_action(ctx)
    return _vote(ctx, trail, found, APPROVED)


def deny(ctx: Context) -> int:
    trail = audit_log(ctx)
    with _refusals():
        found = find(records_of(trail, ctx.args.request), ctx.args.request)
    return _vote(ctx, trail, found, REJECTED)


def _vote(ctx: Context, trail: Any, found: Request, phase: str) -> int:
    """A vote on ``found`` with its reason: counted as a command (``_session``), refused or
    not, dry run or not."""
    reason = _reason(ctx, "an approval" if phase == APPROVED else "a denial")
    with _session(ctx):
        return _cast(ctx, trail, found, phase, reason)


def _cast(ctx: Context, trail: Any, found: Request, phase: str, reason: str) -> int:
    out, now = ctx.out, ctx.clock.now()
    me = identity(ctx)
    with _refusals():  # (the checks the dashboard's Approvals screen makes: approvals.ballot)
        ballot(found, phase, me, reason, now)
    if getattr(ctx.args, "dry_run", False):  # (`approve ID --dry-run`): checked, not recorded
        word = "approve" if phase == APPROVED else "deny"
        if out.json:
            out.emit({"dry_run": True, "id": found.id, "would": word, "by": me})
        else:
            out.line(f"dry run: {me} may {word} request {found.id} "
                     f"({sanitize(found.title, max_len=300)}); nothing was recorded")
        return EXIT_OK
    confirmed = confirmed_identity(ctx)  # (checked above: the same record, with who they say)
    with _refusals():
        record = ballot(found, phase, me, reason, now, confirmed=confirmed)
    with _audit_errors():
        stored = trail.append(record)
    after = fold(records_of(trail, found.id), only=found.id).get(found.id) or found
    state = after.state(now)
    if out.json:
        out.emit({"id": found.id, "recorded": phase, "by": me, "confirmed": confirmed,
                  "seq": stored.get("seq"),
                  **{"request": after.as_dict(now)}})
        return EXIT_OK
    title = sanitize(found.title, max_len=300)
    if phase == REJECTED:
        out.line(f"denied request {found.id} ({title}): it does not run")
    elif state == READY:
        out.line(f"approved request {found.id} ({title}): it has its {after.needed} "
                 f"approval{'s' if after.needed != 1 else ''}; `idp-tui run-approved "
                 f"{found.id}` runs it")
    else:
        out.line(f"approved request {found.id} ({title}): {len(after.approvals)} of "
                 f"{after.needed} approvals")
    return EXIT_OK


# idp-tui run-approved ID -------------------------------------------------------------------------

def run_approved(ctx: Context) -> int:
    from pydantic import ValidationError

    from ..api.actions import ActionRequest
    from .act import _act

    trail = audit_log(ctx)
    request_id = ctx.args.request
    with _refusals():
        found = find(records_of(trail, request_id), request_id)
        found.check_run(ctx.clock.now())
    try:
        request = ActionRequest.model_validate({**found.request, "actor": ""})
    except ValidationError:
        raise CliError(EXIT_DENIED, f"request {request_id} does not hold a request this idp-tui "
                                    "can run (written by another version?)") from None
    return ctx.run(lambda c, hub: _act(c, hub, request))


async def wait_for_approval(ctx: Context, manager: ActionManager, run: ActionRun) -> str:
    """``--wait``: say that the request waits, then read it again each time the store says a
    record of it was appended (PostgreSQL's ``LISTEN``/``NOTIFY``: ``store.listen``), looking at
    the audit trail every ``WAIT_POLL_HEARD`` seconds all the same, or every ``WAIT_POLL`` seconds
    while nothing is heard (the data dir's log, a store away), until it is approved, denied or
    expired; each new approval is said as it comes. Its state then."""
    out = ctx.out
    if out.json:
        out.emit({"type": "waiting", "action_id": run.id, "message": run.decision.message})
    else:
        out.line(f"⧗ waiting for approval of request {run.id} (Ctrl-C stops waiting; the "
                 "request stays)")
        out.flush()
    wake = asyncio.Event()
    watch = _watch(manager, run.id, wake)
    said: list[str] = []

    async def read() -> Request | None:
        records = await asyncio.to_thread(manager.records_of, run.id)
        found = fold(records, only=run.id).get(run.id)
        if found is not None:
            _say_approvals(out, found, said)
        return found

    async def sleep(_poll: float) -> None:
        await manager.timer.wait(wake, watch.poll(WAIT_POLL, WAIT_POLL_HEARD))
        wake.clear()  # (before the read: a record appended during it wakes the next wait)

    try:
        return await wait_decided(read, ctx.clock.now, sleep, WAIT_POLL)
    finally:
        await watch.close()


def _watch(manager: ActionManager, request_id: str, wake: asyncio.Event) -> ApprovalWatch:
    """Hear the store's appends (where the audit trail can tell them: PostgreSQL): a record of
    ``request_id`` (or of an unsaid one) sets ``wake``, and so does listening starting (records
    may have been missed) or stopping (the short polls take over)."""
    def heard(change: Any) -> None:
        if change.action_id is None or change.action_id == request_id:
            wake.set()

    return ApprovalWatch(manager, on_change=heard, on_state=lambda _on: wake.set()).start()


def _say_approvals(out: Any, found: Request, said: list[str]) -> None:
    """Each approval not said yet: who, and how many of how many (a line, or a JSON object)."""
    for vote in found.approvals[len(said):]:
        said.append(vote.actor)
        if out.json:
            out.emit({"type": "approval", "action_id": found.id, "by": vote.actor,
                      "approvals": len(said), "needed": found.needed})
        else:
            out.line(f"✔ approved by {sanitize(vote.actor, max_len=200)} ({len(said)} of "
                     f"{found.needed})")
            out.flush()
