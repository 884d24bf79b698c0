"""Four-eyes approvals: ``[[policy.approval]]``, and the state of each request read from the audit
trail.

A rule names environments (by name or type), the kinds of action it covers (default: every kind,
they all change a system), how many approvals an action needs, who may give them (user names, and
``owners``: the members of the team that owns the service, as the catalog lists them), and how
long a request stays valid::

    [[policy.approval]]
    environments = ["production"]
    actions = ["deploy", "rollback"]
    approvals = 1
    approvers = ["owners", "alice"]
    valid_for = "24h"

An action a rule covers is not run when it is asked for: the action manager writes a
``requested`` record (the whole request, who asked, until when it is valid, who may approve) and
stops. ``approved`` and ``rejected`` records follow, written by ``idp-tui approve`` and
``idp-tui deny``; the action runs once it has its approvals (``idp-tui run-approved``, or the
requester asking again with the same id), and its ``started`` record names the approvals.
Nothing else is kept: a request's state is derived from those records (:func:`fold`), and a
request past its time is expired without a record saying so.

The requester never approves their own request; a request is approved by distinct people; an id
names one action, so an approved request runs once.

Textual-free and free of the store: the functions here read records and build records.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .api.kinds import ActionKind, EnvironmentType
from .auditindex import describe_target

#: The approvers entry that means the members of the team owning the service.
OWNERS = "owners"
#: The record phases of an approval's life (beside ``started`` and ``finished``).
REQUESTED, APPROVED, REJECTED = "requested", "approved", "rejected"
PHASES = (REQUESTED, APPROVED, REJECTED)
#: The states of a request.
PENDING, READY, DENIED, EXPIRED, RAN = "pending", "approved", "denied", "expired", "ran"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_KINDS = tuple(k.value for k in ActionKind)
_TYPES = tuple(t.value for t in EnvironmentType)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``1w`` (raises ValueError with what was written)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 24h or 7d, got \"{text[:40]}\"")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def said(delta: timedelta) -> str:
    """A duration as the config writes it: ``24h``, ``90m``, ``7d``."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * _UNITS["d"] and seconds % _UNITS["d"] == 0:
        return f"{seconds // _UNITS['d']}d"
    for unit in ("h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


class ApprovalRule(BaseModel):
    """``[[policy.approval]]``: the actions in ``environments`` that need ``approvals``."""

    model_config = ConfigDict(extra="forbid")

    #: Environment names or types (development, staging, production).
    environments: list[str] = Field(min_length=1, max_length=100)
    #: Kinds of action (deploy, rollback, scale…); empty: every kind.
    actions: list[str] = Field(default_factory=list, max_length=50)
    #: How many people must approve.
    approvals: int = Field(default=1, ge=1, le=20)
    #: Who may approve: user names, and ``owners`` (the owning team's members); empty: anyone
    #: but the requester.
    approvers: list[str] = Field(default_factory=list, max_length=500)
    #: How long a request (and its approval) stays valid.
    valid_for: timedelta = timedelta(hours=24)

    @field_validator("environments", "approvers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip():
                raise ValueError("a name is empty")
        return [name.strip() for name in value]

    @field_validator("actions")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in _KINDS:
                raise ValueError(f"unknown action {name[:40]!r} (expected some of: "
                                 f"{', '.join(_KINDS)})")
        return value

    @field_validator("valid_for", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = parse_duration(value)
        elif isinstance(value, bool) or not isinstance(value, int | float | timedelta):
            raise ValueError(f"expected a duration such as 30m, 24h or 7d, got {value!r}"[:120])
        elif not isinstance(value, timedelta):
            value = timedelta(seconds=value)
        if value <= timedelta(0) or value > timedelta(days=366):
            raise ValueError(f"expected a duration from 1s to 366d, got {said(value)}")
        return value

    def covers(self, kind: str, environment: str, environment_type: str | None) -> bool:
        """Whether an action of ``kind`` in ``environment`` (of that type) needs approval."""
        if not environment:
            return False
        where = environment in self.environments or (
            environment_type is not None and environment_type in self.environments
            and environment_type in _TYPES)
        return where and (not self.actions or kind in self.actions)

    @property
    def wants_owners(self) -> bool:
        return OWNERS in self.approvers

    def who(self, owners: Iterable[str] = ()) -> list[str]:
        """The people who may approve: the named ones and, for ``owners``, ``owners`` (the
        owning team's members); empty: anyone but the requester."""
        names = [n for n in self.approvers if n != OWNERS]
        if self.wants_owners:
            names += list(owners)
        return list(dict.fromkeys(names))


def rule_for(rules: Iterable[ApprovalRule], kind: str, environment: str,
             environment_type: str | None) -> ApprovalRule | None:
    """The first rule that covers the action (None: it needs no approval)."""
    for rule in rules:
        if rule.covers(kind, environment, environment_type):
            return rule
    return None


# The state of requests -------------------------------------------------------------------------

class ApprovalError(Exception):
    """An approval, a denial or a run refused: the sentence says why."""

    def __init__(self, message: str, *, state: str = "", hint: str | None = None,
                 not_found: bool = False) -> None:
        super().__init__(message)
        self.state = state
        self.hint = hint
        self.not_found = not_found


@dataclass
class Vote:
    """One ``approved`` or ``rejected`` record."""

    actor: str
    reason: str
    time: datetime | None
    seq: int | None
    hash: str | None

    def ref(self) -> dict[str, Any]:
        return {"actor": self.actor, "seq": self.seq, "hash": self.hash}


@dataclass
class Request:
    """One request for approval, with what happened to it since."""

    id: str
    record: dict[str, Any]
    approvals: list[Vote] = field(default_factory=list)
    denial: Vote | None = None
    started: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None

    @property
    def request(self) -> dict[str, Any]:
        value = self.record.get("request")
        return value if isinstance(value, dict) else {}

    @property
    def requester(self) -> str:
        return str(self.record.get("actor") or "")

    @property
    def requested_at(self) -> datetime | None:
        return _time(self.record.get("time"))

    @property
    def expires(self) -> datetime | None:
        return _time(self.record.get("expires"))

    @property
    def needed(self) -> int:
        value = (self.record.get("approval") or {}).get("approvals", 1)
        return value if isinstance(value, int) and value > 0 else 1

    @property
    def approvers(self) -> list[str]:
        value = (self.record.get("approval") or {}).get("approvers") or []
        return [str(v) for v in value]

    @property
    def title(self) -> str:
        """What is asked for, in words (as the audit trail says a target)."""
        return describe_target(self.record)

    def state(self, now: datetime) -> str:
        if self.started is not None:
            return RAN
        if self.denial is not None:
            return DENIED
        expires = self.expires
        if expires is not None and now >= expires:
            return EXPIRED
        return READY if len(self.approvals) >= self.needed else PENDING

    def may_approve(self, actor: str) -> bool:
        return actor != self.requester and (not self.approvers or actor in self.approvers)

    def awaits(self, actor: str, now: datetime) -> bool:
        """Whether ``actor`` may approve the request now (it is pending, ``actor`` is one of its
        approvers and has not approved it yet): what the dashboard's top line counts."""
        return self.state(now) == PENDING and self.may_approve(actor) and \
            all(v.actor != actor for v in self.approvals)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {"id": self.id, "state": self.state(now), "title": self.title,
                "action": self.record.get("action"), "service": self.record.get("service"),
                "environment": self.record.get("environment"),
                "version": self.record.get("version"), "requested_by": self.requester,
                "requested_at": self.record.get("time"), "expires": self.record.get("expires"),
                "reason": self.record.get("reason") or "", "approvals_needed": self.needed,
                "approvers": self.approvers,
                "approvals": [{"actor": v.actor, "reason": v.reason,
                               "time": v.time.isoformat() if v.time else None}
                              for v in self.approvals],
                "denied_by": None if self.denial is None else {
                    "actor": self.denial.actor, "reason": self.denial.reason,
                    "time": self.denial.time.isoformat() if self.denial.time else None},
                "outcome": (self.finished or {}).get("outcome")}

    # What may happen next ----------------------------------------------------------------------

    def _closed(self, now: datetime) -> None:
        """Raise when the request is past deciding: ran, denied or expired."""
        state = self.state(now)
        if state == RAN:
            raise ApprovalError(f"request {self.id} ({self.title}) already ran: an id names one "
                                "action, it is not run again", state=state,
                                hint="ask for the action again: a new request gets a new id")
        if state == DENIED and self.denial is not None:
            why = f": {self.denial.reason}" if self.denial.reason else ""
            raise ApprovalError(f"request {self.id} ({self.title}) was denied by "
                                f"{self.denial.actor}{why}", state=state)
        if state == EXPIRED:
            raise ApprovalError(f"request {self.id} ({self.title}) expired on "
                                f"{_when(self.expires)}; ask for the action again", state=state)

    def check_approve(self, actor: str, now: datetime) -> None:
        self._closed(now)
        if actor == self.requester:
            raise ApprovalError(f"{actor} asked for {self.title} (request {self.id}): a request "
                                "is approved by someone else, never by the one who asked",
                                state="self")
        if self.approvers and actor not in self.approvers:
            raise ApprovalError(f"{actor} may not approve request {self.id} ({self.title}): "
                                f"its approvers are {', '.join(self.approvers)}", state="refused")
        if any(v.actor == actor for v in self.approvals):
            raise ApprovalError(f"{actor} has approved request {self.id} already; it needs "
                                f"{self.needed} different people", state="twice")
        if self.state(now) == READY:
            raise ApprovalError(f"request {self.id} ({self.title}) is approved already "
                                f"({', '.join(v.actor for v in self.approvals)})", state=READY,
                                hint=f"`idp-tui run-approved {self.id}` runs it")

    def check_deny(self, actor: str, now: datetime) -> None:
        self._closed(now)
        if actor != self.requester and self.approvers and actor not in self.approvers:
            raise ApprovalError(f"{actor} may not deny request {self.id} ({self.title}): its "
                                f"approvers are {', '.join(self.approvers)} (and "
                                f"{self.requester} may withdraw it)", state="refused")

    def check_run(self, now: datetime) -> None:
        self._closed(now)
        if self.state(now) == PENDING:
            raise ApprovalError(f"request {self.id} ({self.title}) is waiting for approval "
                                f"({len(self.approvals)} of {self.needed})", state=PENDING,
                                hint=_who_hint(self))
        if self.request.get("params") and _redacted(self.request["params"]):
            raise ApprovalError(f"request {self.id} has secret parameters, which the audit "
                                "trail does not keep: it runs only from the command that asked "
                                "for it", state="secret",
                                hint="ask again with the same --id (and the secrets) now that "
                                     "it is approved")

    def vote(self, phase: str, actor: str, reason: str, now: datetime,
             confirmed: dict[str, str] | None = None) -> dict[str, Any]:
        """The ``approved`` or ``rejected`` record of ``actor`` (with ``confirmed``, who the
        sources confirm the user is, beside the claimed ``actor``, as in an action's records)."""
        record = {k: self.record.get(k) for k in ("action", "source", "service", "environment",
                                                  "version", "replicas", "template", "run_id",
                                                  "params")}
        record.update({"action_id": self.id, "time": now.isoformat(), "phase": phase,
                       "actor": actor, "reason": reason,
                       "request": {"seq": self.record.get("seq"),
                                   "hash": self.record.get("hash"),
                                   "requested_by": self.requester}})
        if confirmed:
            record["confirmed"] = dict(confirmed)
        return record

    def refs(self) -> dict[str, Any]:
        """What the ``started`` record of the approved action names: the request and the
        approvals (their sequence numbers and hashes in the chain)."""
        return {"requested_by": self.requester, "request_seq": self.record.get("seq"),
                "request_hash": self.record.get("hash"),
                "approvals": [v.ref() for v in self.approvals]}


def ballot(found: Request, phase: str, actor: str, reason: str, now: datetime, *,
           confirmed: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``approved`` (``phase`` APPROVED) or ``rejected`` record of ``actor`` on ``found``,
    once checked: what ``idp-tui approve``/``deny`` and the dashboard's Approvals screen append
    to the audit trail; ``confirmed``: who the sources confirm the user is (by source), kept
    beside the claimed actor. Raises :class:`ApprovalError` (no reason, self-approval, not an
    approver, twice, closed)."""
    reason = reason.strip()
    if not reason:
        verb = "an approval" if phase == APPROVED else "a denial"
        raise ApprovalError(f"{verb} needs a reason (it is recorded in the audit trail)",
                            state="reason")
    if phase == APPROVED:
        found.check_approve(actor, now)
    elif phase == REJECTED:
        found.check_deny(actor, now)
    else:
        raise ValueError(f"not a vote: {phase!r}")
    return found.vote(phase, actor, reason, now, confirmed)


def requested(record: dict[str, Any], rule: ApprovalRule, request: dict[str, Any],
              owners: Iterable[str], now: datetime) -> dict[str, Any]:
    """The ``requested`` record: the action's ``record`` (as its ``started`` one would be) with
    the whole request (secrets already replaced), until when it is valid, and who may approve."""
    out = dict(record)
    out.update({"phase": REQUESTED, "expires": (now + rule.valid_for).isoformat(),
                "approval": {"approvals": rule.approvals, "approvers": rule.who(owners),
                             "valid_for": said(rule.valid_for)},
                "request": request})
    return out


def waiting(message: str, record: dict[str, Any]) -> str:
    """What a requester is told once the ``requested`` ``record`` is written."""
    approval = record.get("approval") or {}
    count = approval.get("approvals", 1)
    who = ", ".join(approval.get("approvers") or ()) or f"anyone but {record.get('actor')}"
    return (f"{message}: request {record.get('action_id')} recorded, waiting for {count} "
            f"approval{'s' if count != 1 else ''} (approvers: {who}; valid for "
            f"{approval.get('valid_for')})")


def owners_of(services: Iterable[Any], teams: Iterable[Any], service: str) -> list[str]:
    """The members of the team that owns ``service`` (catalog records with ``name``/``owner``
    and ``name``/``members``); empty when the catalog lists none."""
    owner = next((s.owner for s in services if s.name == service), "")
    if not owner:
        return []
    for team in teams:
        if team.name in (owner, f"team-{owner}") or owner == f"team-{team.name}":
            return list(team.members)
    return []


async def wait_decided(read: Callable[[], Awaitable[Request | None]],
                       now: Callable[[], datetime], sleep: Callable[[float], Awaitable[Any]],
                       poll: float) -> str:
    """Read the request (``read``) every ``poll`` seconds (``sleep``) until it is no longer
    pending; its state then (approved, denied, expired, ran; ``"missing"``: no such request)."""
    while True:
        found = await read()
        if found is None:
            return "missing"
        state = found.state(now())
        if state != PENDING:
            return state
        await sleep(poll)


def _who_hint(request: Request) -> str:
    who = ", ".join(request.approvers) if request.approvers else \
        f"anyone but {request.requester}"
    return f"approvers: {who}; `idp-tui approve {request.id} --reason \"…\"`"


def _redacted(params: Any) -> bool:
    if isinstance(params, dict):
        return any(_redacted(v) for v in params.values())
    if isinstance(params, list):
        return any(_redacted(v) for v in params)
    return params == "***"


def fold(records: Iterable[dict[str, Any]], only: str | None = None) -> dict[str, Request]:
    """Every request among ``records`` (oldest first), with its approvals, its denial and its
    run; ``only``: that action id's."""
    requests: dict[str, Request] = {}
    for record in records:
        rid = record.get("action_id")
        if not isinstance(rid, str) or (only is not None and rid != only):
            continue
        phase = record.get("phase")
        if phase == REQUESTED:
            requests.setdefault(rid, Request(rid, record))
            continue
        found = requests.get(rid)
        if found is None:
            continue
        if phase in (APPROVED, REJECTED):
            vote = Vote(str(record.get("actor") or ""), str(record.get("reason") or ""),
                        _time(record.get("time")), record.get("seq"), record.get("hash"))
            if found.started is not None or found.denial is not None:
                continue  # too late to count
            if phase == REJECTED:
                found.denial = vote
            elif all(v.actor != vote.actor for v in found.approvals) and \
                    vote.actor != found.requester:
                found.approvals.append(vote)
        elif phase == "started" and found.started is None:
            found.started = record
        elif phase == "finished":
            found.finished = record
    return requests


def find(records: Iterable[dict[str, Any]], request_id: str) -> Request:
    """The request ``request_id`` (raises :class:`ApprovalError` when there is none)."""
    found = fold(records, only=request_id).get(request_id)
    if found is None:
        raise ApprovalError(f"no request for approval {request_id!r} in the audit trail",
                            not_found=True, hint="`idp-tui approvals` lists those pending")
    return found


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "?"
    offset = moment.utcoffset()
    zone = "UTC" if not offset else moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


__all__ = ["APPROVED", "DENIED", "EXPIRED", "OWNERS", "PENDING", "PHASES", "RAN", "READY",
           "REJECTED", "REQUESTED", "ApprovalError", "ApprovalRule", "Request", "Vote", "ballot",
           "find", "fold", "owners_of", "parse_duration", "requested", "rule_for", "said", "wait_decided", "waiting"]
