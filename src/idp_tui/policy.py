"""Who may change what, and when: checked by the hub for the dashboard and the CLI alike.

Rules, in order:

1. read-only (``--read-only``, ``[policy] read_only``, or a source's ``read_only = true``) denies
   every mutating action;
2. a freeze window naming the environment denies deploys to it until the window ends (the kinds
   marked ``frozen`` in :mod:`idp_tui.actionspec`; rollbacks, restarts and scaling stay possible:
   they are how an incident is fixed during a freeze);
3. a protected environment (``[policy] protected``, default ``production``, or one a source marks
   protected) needs its name typed as confirmation and a reason;
4. an action a ``[[policy.approval]]`` rule covers needs approval by other people first
   (:mod:`idp_tui.approvals`): the decision says so (``needs_approval``) and the action manager
   records a request instead of running it.

The policy judges what an action *does*, not what it is called (:func:`judge`): a rollback (or any
kind with a version) to a version that has not run in the environment before, or that is newer than
the one running there now, is a deploy for every rule. What ran before is what the action manager
can show: the version running now (the platform's deployments, the source's plan and its version
list), the versions the source lists as running there, the version the source itself rolls back to
by default (its record of the one before the current one), and idp-tui's own audit log of finished
actions in that environment (:func:`versions_run`). Versions compare semantically where they parse
(``1.10.0`` > ``1.9.0``, a ``v`` prefix ignored, :func:`version_key`); versions that do not (commit
shas) count as newer unless they ran there before. An action whose version is unknown counts as a
deploy. Approving a run's deployment that waits for review lets a deploy go on: it is judged as
a deploy to that environment (:func:`acting_as`; a freeze stops it, a protected environment needs
its name typed and a reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .actionspec import ACTION_SPECS, spec
from .approvals import ApprovalRule, rule_for
from .api.actions import ActionRequest
from .api.kinds import ActionKind

#: An example of a date-time a freeze window takes, for its errors.
_EXAMPLE = "2026-12-22T00:00:00Z"


def when(moment: datetime) -> str:
    """``2026-12-22 00:00 UTC`` (or ``UTC+01:00``: a window keeps the offset it was given in)."""
    offset = moment.utcoffset()
    if offset is None or offset == timedelta(0):
        zone = "UTC"
    else:
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        zone = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


def _shown(value: Any) -> str:
    """A config value in an error message, as it would be written in the file (no Python repr)."""
    if isinstance(value, datetime):
        return when(value) if value.tzinfo else f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + value[:80] + ('…' if len(value) > 80 else '') + '"'
    return str(value)[:80]


class FreezeWindow(BaseModel):
    """``[[policy.freeze]]``: no deploys to ``environments`` from ``start`` to ``end``."""

    model_config = ConfigDict(extra="forbid")

    environments: list[str] = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_time(cls, value: Any) -> Any:
        """A date and time with a time zone, or an error that shows what was written."""
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"a time zone is needed (Z for UTC, e.g. {_EXAMPLE}), "
                                 f"got {_shown(value)} without one")
            return value
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"expected a date and time such as {_EXAMPLE}, "
                                 f"got {_shown(value)}") from None
            return cls._date_time(parsed)
        if isinstance(value, date | time):
            raise ValueError(f"expected a date and time with a time zone such as {_EXAMPLE}, "
                             f"got {_shown(value)}")
        raise ValueError(f"expected a date and time such as {_EXAMPLE}, got {_shown(value)}")

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if isinstance(start, datetime) and end <= start:
            raise ValueError(f"end must be after start, got start {when(start)} and end "
                             f"{when(end)}")
        return end

    def active(self, now: datetime, environment: str) -> bool:
        return environment in self.environments and self.start <= now < self.end


class PolicyConfig(BaseModel):
    """The ``[policy]`` table."""

    model_config = ConfigDict(extra="forbid")

    #: Environments that need their name typed and a reason.
    protected: list[str] = Field(default_factory=lambda: ["production"])
    freeze: list[FreezeWindow] = Field(default_factory=list)
    #: ``[[policy.approval]]``: actions that need approval by other people first.
    approval: list[ApprovalRule] = Field(default_factory=list)
    #: No mutating action at all.
    read_only: bool = False
    #: Who the audit log says acted (default: the OS user).
    identity: str = ""
    #: Seconds an action may run before it is stopped and recorded as failed.
    action_timeout: float = Field(default=900.0, gt=0, le=86_400)


# What an action does ----------------------------------------------------------------------------

_VERSION = re.compile(r"^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def version_key(version: str) -> tuple[Any, ...] | None:
    """A sort key for a version that parses semantically (``1.10.0``, ``v2.1``, ``1.4.0-rc.1``),
    else None (a commit sha, a date-stamped tag). ``1.2`` equals ``1.2.0``; a pre-release sorts
    before its release, its parts compared as numbers where they are numbers."""
    match = _VERSION.match(version.strip())
    if match is None:
        return None
    numbers = [int(n) for n in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    pre = match.group(2)
    if pre is None:
        return (tuple(numbers), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (tuple(numbers), 0, parts)


def compare_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 as ``a`` is older than, the same as or newer than ``b``; None when either does
    not parse (see :func:`version_key`) and they differ."""
    if a == b:
        return 0
    ka, kb = version_key(a), version_key(b)
    if ka is None or kb is None:
        return None
    return (ka > kb) - (ka < kb)


#: Kinds whose audit records tell which version ran where (those that take a version).
_VERSIONED = frozenset(s.kind.value for s in ACTION_SPECS if s.takes_version)


def versions_run(records: Iterable[Mapping[str, Any]], service: str,
                 environment: str) -> set[str]:
    """The versions of ``service`` that idp-tui's audit log shows running in ``environment``: the
    one each finished deploy or rollback replaced (``previous_version``) and the one each
    succeeded one went to (``target_version``, else the ``version`` asked for)."""
    ran: set[str] = set()
    for record in records:
        if record.get("phase") != "finished" or record.get("action") not in _VERSIONED or \
                record.get("service") != service or record.get("environment") != environment:
            continue
        names = [record.get("previous_version")]
        if record.get("outcome") == "succeeded":
            names += [record.get("target_version"), record.get("version")]
        ran.update(n for n in names if isinstance(n, str) and n)
    return ran


@dataclass(frozen=True)
class Effect:
    """What an action with a version does, as the policy judges it."""

    #: The kind the rules treat it as: ``ActionKind.DEPLOY`` when it brings a version that has
    #: not run in the environment (or a newer one); None when it is what it says.
    acts_as: ActionKind | None
    #: In words: "rolling back to 1.4.0, which has never run in production, is a deploy".
    summary: str


def judge(kind: ActionKind, environment: str, targets: Iterable[str], current: str | None,
          ran: Iterable[str]) -> Effect:
    """What going to ``targets`` (the version asked for and the one the source plans; empty when
    unknown) in ``environment`` does, given the version running there now and the versions known
    to have run there (``current`` included)."""
    row = spec(kind)
    doing = row.doing or f"{row.kind.value} to"
    known = set(ran)
    targets = [t for t in dict.fromkeys(targets) if t]
    if not targets:
        return Effect(ActionKind.DEPLOY, f"{doing} a version the source does not name is "
                                         f"counted as a deploy to {environment}")
    for target in targets:
        if not any(compare_versions(target, k) == 0 for k in known):
            return Effect(ActionKind.DEPLOY, f"{doing} {target}, which has never run in "
                                             f"{environment}, is a deploy")
        if current and compare_versions(target, current) == 1:
            return Effect(ActionKind.DEPLOY, f"{doing} {target}, newer than {current} running "
                                             f"in {environment} now, is a deploy")
    return Effect(None, f"{doing} {targets[0]}, which ran in {environment} before, is a "
                        f"{row.kind.value}")


def acting_as(kind: ActionKind, environment: str) -> Effect | None:
    """What an action judged by what it lets happen does (its row's ``acts_as``): approving a
    deployment to ``environment`` lets it go on, so every rule treats it as a deploy there."""
    row = spec(kind)
    if row.acts_as is None or not environment:
        return None
    acts = row.acts_as.value
    return Effect(row.acts_as, f"{row.doing or row.title_phrase} to {environment} lets a run "
                               f"{acts} there: it is judged as a {acts}")


# Deciding ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """The policy's answer for one request."""

    allowed: bool
    message: str
    #: Which rule decided: "read-only", "freeze", "protected", "allowed".
    rule: str
    #: The environment is protected: the name must be typed and a reason given.
    needs_confirmation: bool = False
    #: What the action was judged to do (see :func:`judge`), when it has a version: the kind the
    #: rules treated it as ("deploy", or "" when it is what it says) and why, in words.
    acts_as: str = ""
    effect: str = ""
    #: A ``[[policy.approval]]`` rule covers it: it runs once approved (``approval`` says how).
    needs_approval: bool = False
    approval: ApprovalRule | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"allowed": self.allowed, "rule": self.rule,
                                  "message": self.message,
                                  "needs_confirmation": self.needs_confirmation}
        if self.needs_approval:
            out["needs_approval"] = True
        if self.effect:
            out["acts_as"] = self.acts_as or None
            out["effect"] = self.effect
        return out


def decide(policy: PolicyConfig, request: ActionRequest, *, now: datetime,
           read_only: bool = False, source_read_only: bool = False, source: str = "",
           environment_protected: bool = False, effect: Effect | None = None,
           environment_type: str | None = None) -> Decision:
    """Check ``request`` against ``policy``. ``now`` comes from the hub's clock; ``effect`` is
    what the action does (:func:`judge`), for kinds with a version; ``environment_type`` is the
    environment's type (production…), which ``[[policy.approval]]`` rules may name."""
    decision = _decide(policy, request, now=now, read_only=read_only,
                       source_read_only=source_read_only, source=source,
                       environment_protected=environment_protected, effect=effect)
    if decision.allowed and policy.approval:
        decision = _approval(policy, request, decision, effect, environment_type)
    if effect is None:
        return decision
    acts_as = effect.acts_as.value if effect.acts_as is not None else ""
    return replace(decision, acts_as=acts_as, effect=effect.summary)


def _approval(policy: PolicyConfig, request: ActionRequest, decision: Decision,
              effect: Effect | None, environment_type: str | None) -> Decision:
    """An allowed ``decision`` turned into "needs approval" when a rule covers the action (as
    what it does: a rollback judged a deploy is a deploy for the rules too)."""
    env = request.environment or ""
    kind = effect.acts_as if effect is not None and effect.acts_as is not None else request.kind
    rule = rule_for(policy.approval, kind.value, env, environment_type)
    if rule is None and kind is not request.kind:
        rule = rule_for(policy.approval, request.kind.value, env, environment_type)
    if rule is None:
        return decision
    count = f"{rule.approvals} approval{'s' if rule.approvals != 1 else ''}"
    return Decision(False, f"{request.kind.value} in {env} needs {count} by someone else "
                           f"before it runs", "approval", decision.needs_confirmation,
                    needs_approval=True, approval=rule)


def _decide(policy: PolicyConfig, request: ActionRequest, *, now: datetime, read_only: bool,
            source_read_only: bool, source: str, environment_protected: bool,
            effect: Effect | None) -> Decision:
    if read_only or policy.read_only:
        return Decision(False, "idp-tui is running read-only: no action changes anything "
                               "(started with --read-only or [policy] read_only = true).",
                        "read-only")
    if source_read_only:
        return Decision(False, f"source {source!r} is configured read-only "
                               f"([sources.{source}] read_only = true).", "read-only")
    env = request.environment
    acts_as = effect.acts_as if effect is not None and effect.acts_as is not None else None
    if env and spec(acts_as or request.kind).frozen:
        for window in policy.freeze:
            if window.active(now, env):
                why = f" ({window.reason})" if window.reason else ""
                lead = f"{effect.summary}: " if effect is not None and acts_as else ""
                return Decision(False, f"{lead}{env} is frozen for deploys until "
                                       f"{when(window.end)}{why}.", "freeze")
    protected = bool(env) and (environment_protected or env in policy.protected)
    # A kind that cannot be undone (deleting an environment) is confirmed the same way.
    final = bool(env) and not protected and spec(request.kind).confirms
    if protected or final:
        lead = f"{env} is protected" if protected else \
            f"{spec(request.kind).title_phrase} {env} cannot be undone"
        if request.confirmation != env:
            return Decision(False, f"{lead}: type {env!r} to confirm and give a "
                                   "reason.", "protected", needs_confirmation=True)
        if not request.reason.strip():
            return Decision(False, f"{lead}: a reason is required.", "protected",
                            needs_confirmation=True)
        return Decision(True, f"{lead}: confirmed by name, with a reason.",
                        "protected", needs_confirmation=True)
    return Decision(True, "allowed", "allowed")
