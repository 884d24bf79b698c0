"""Who may change what, and when: checked by the hub for the dashboard and the CLI alike.

Rules, in order:

1. read-only (``--read-only``, ``[policy] read_only``, or a source's ``read_only = true``) denies
   every mutating action;
2. a freeze window naming the environment denies deploys to it until the window ends (the kinds
   marked ``frozen`` in :mod:`idp_tui.actionspec`; rollbacks, restarts and scaling stay possible:
   they are how an incident is fixed during a freeze);
3. a protected environment (``[policy] protected``, default ``production``, or one a source marks
   protected) needs its name typed as confirmation and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .actionspec import spec
from .api.actions import ActionRequest


class FreezeWindow(BaseModel):
    """``[[policy.freeze]]``: no deploys to ``environments`` from ``start`` to ``end``."""

    model_config = ConfigDict(extra="forbid")

    environments: list[str] = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> FreezeWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def active(self, now: datetime, environment: str) -> bool:
        return environment in self.environments and self.start <= now < self.end


class PolicyConfig(BaseModel):
    """The ``[policy]`` table."""

    model_config = ConfigDict(extra="forbid")

    #: Environments that need their name typed and a reason.
    protected: list[str] = Field(default_factory=lambda: ["production"])
    freeze: list[FreezeWindow] = Field(default_factory=list)
    #: No mutating action at all.
    read_only: bool = False
    #: Who the audit log says acted (default: the OS user).
    identity: str = ""
    #: Seconds an action may run before it is stopped and recorded as failed.
    action_timeout: float = Field(default=900.0, gt=0, le=86_400)


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one request."""

    allowed: bool
    message: str
    #: Which rule decided: "read-only", "freeze", "protected", "allowed".
    rule: str
    #: The environment is protected: the name must be typed and a reason given.
    needs_confirmation: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, "rule": self.rule, "message": self.message,
                "needs_confirmation": self.needs_confirmation}


def decide(policy: PolicyConfig, request: ActionRequest, *, now: datetime,
           read_only: bool = False, source_read_only: bool = False, source: str = "",
           environment_protected: bool = False) -> Decision:
    """Check ``request`` against ``policy``. ``now`` comes from the hub's clock."""
    if read_only or policy.read_only:
        return Decision(False, "idp-tui is running read-only: no action changes anything "
                               "(started with --read-only or [policy] read_only = true).",
                        "read-only")
    if source_read_only:
        return Decision(False, f"source {source!r} is configured read-only "
                               f"([sources.{source}] read_only = true).", "read-only")
    env = request.environment
    if env and spec(request.kind).frozen:
        for window in policy.freeze:
            if window.active(now, env):
                why = f" ({window.reason})" if window.reason else ""
                return Decision(False, f"{env} is frozen for deploys until "
                                       f"{window.end:%Y-%m-%d %H:%M %Z}{why}.", "freeze")
    protected = bool(env) and (environment_protected or env in policy.protected)
    if protected:
        if request.confirmation != env:
            return Decision(False, f"{env} is protected: type {env!r} to confirm and give a "
                                   "reason.", "protected", needs_confirmation=True)
        if not request.reason.strip():
            return Decision(False, f"{env} is protected: a reason is required.", "protected",
                            needs_confirmation=True)
        return Decision(True, f"{env} is protected: confirmed by name, with a reason.",
                        "protected", needs_confirmation=True)
    return Decision(True, "allowed", "allowed")
