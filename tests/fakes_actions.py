"""A fake source that can act and provision, for the action modals' Pilot tests.

Everything is deterministic and fast. What an action does depends on the service it acts on:

* ``alpha`` (or any other name): a few progress events, then success;
* ``slow``: two events, then waits until :attr:`ActingFake.gates` releases it (cancellable);
* ``held``: the same, but it cannot be cancelled;
* ``hang``: never yields anything (the hub's ``action_timeout`` ends it);
* ``boom``: raises an error whose message carries markup-looking text.

Its ``full`` template has a parameter of every type the form renders (text, integer, number, an
enum, a ``Literal``, a boolean, an optional text and a ``SecretStr``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    Change,
    PlannedResource,
    Resource,
    RunStatus,
    Template,
    VersionOption,
)
from idp_tui.config import AppConfig
from idp_tui.policy import PolicyConfig

from fakes import ALL, StaticConfig, StaticSource, app_config, spec

#: Text that must never be parsed as markup anywhere it is shown.
MARKUP = "[b]bold[/b] [@click=app.quit]x[/] [/"


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class FullParams(BaseModel):
    """Every field type the provisioning form knows."""

    name: str = Field(title="Name", description="lower-case letters, digits and dashes",
                      min_length=3, max_length=20, pattern=r"^[a-z][a-z0-9-]*$")
    replicas: int = Field(default=1, ge=1, le=5, title="Replicas")
    ratio: float = Field(default=0.5, ge=0, le=1, title="Ratio",
                         description="share of traffic, 0 to 1")
    size: Size = Field(default=Size.SMALL, title="Size")
    tier: Literal["dev", "prod"] = Field(default="dev", title="Tier")
    public: bool = Field(default=False, title="Public", description="reachable from outside")
    note: str | None = Field(default=None, title="Note")
    password: SecretStr = Field(title="Password", min_length=8,
                                description="the admin password")


class BucketParams(BaseModel):
    bucket: str = Field(title="Bucket name", min_length=3)


class EchoParams(BaseModel):
    """A template whose validator echoes the secret it refuses (the form must not show it)."""

    token: SecretStr = Field(title="Token")

    @field_validator("token")
    @classmethod
    def _refuse(cls, value: SecretStr) -> SecretStr:
        raise ValueError(f"token {value.get_secret_value()} is revoked")


class ActingConfig(StaticConfig):
    names: list[str] = ["alpha", "slow", "held", "hang", "boom"]
    environments: list[str] = ["staging", "production"]
    steps: int = 3


class ActingFake(StaticSource):
    """StaticSource's data, plus deploy, rollback, scale, restart and two templates."""

    Config = ActingConfig
    capabilities = ALL | {Capability.ACTIONS, Capability.PROVISION}
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE,
                         ActionKind.RESTART})
    config: ActingConfig
    #: Release a ``slow`` action: ``ActingFake.gates[source name].set()``.
    gates: dict[str, threading.Event] = {}

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.gates[self.name] = threading.Event()
        self.seen: list[ActionRequest] = []
        self.provisioned: list[Resource] = []

    @property
    def gate(self) -> threading.Event:
        return self.gates[self.name]

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        now = self.context.clock.now()
        running = {env: ("1.1.0" if i == len(self.config.environments) - 1 else "1.2.0")
                   for i, env in enumerate(self.config.environments)}
        out = []
        for i, version in enumerate(("1.3.0", "1.2.0", "1.1.0")):
            out.append(VersionOption(
                version=version, built_at=now - timedelta(hours=2 + 5 * i),
                commit=f"c0ffee{i}", run_id=f"{service}-{i}",
                current=running.get(environment) == version,
                environments=tuple(e for e, v in running.items() if v == version)))
        return out

    async def templates(self) -> list[Template]:
        return [
            Template(name="full", title="Everything", kind="database",
                     description="a template with every field type", params=FullParams),
            Template(name="bucket", title="Bucket", kind="bucket",
                     description="an object-storage bucket", params=BucketParams),
            Template(name="echo", title="Echo", kind="secret",
                     description="refuses every token", params=EchoParams),
        ]

    async def resources(self) -> list[Resource]:
        return list(self.provisioned)

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        if request.kind is ActionKind.PROVISION:
            name = str(request.params.get("name") or request.params.get("bucket") or "?")
            return ActionPlan(summary=f"create {request.template} {name}",
                              creates=(PlannedResource(kind="database", name=f"{name}-db",
                                                       details={"size": str(request.params.get(
                                                           "size", "small"))}),
                                       PlannedResource(kind="secret", name=f"{name}-credentials")),
                              notes=("expires in 24h",))
        current = "1.1.0" if request.environment == self.config.environments[-1] else "1.2.0"
        target = request.version or ("1.1.0" if request.kind is ActionKind.ROLLBACK else current)
        running = ("staging",) if target == "1.2.0" else ()
        return ActionPlan(
            summary=f"{request.kind.value} {request.service}",
            current_version=current, target_version=target,
            changes=(Change(id="c0ffee0", message=f"fix parsing of {MARKUP}", author="ann"),
                     Change(id="c0ffee1", message="faster start-up", author="bob")),
            running_elsewhere=running,
            notes=("rolling update, one instance at a time",),
            cancellable=request.service == "slow",
            estimated_duration=timedelta(seconds=30))

    async def run_action(  # type: ignore[override]
            self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        self.seen.append(request)
        now = self.context.clock.now()
        service = request.service or ""
        if service == "boom":
            raise RuntimeError(f"deployer exploded {MARKUP}")
        if service == "hang":
            await asyncio.sleep(3600)
        steps = self.config.steps
        for i in range(1, steps + 1):
            await asyncio.sleep(0)
            yield ActionEvent(ts=now, message=f"instance {i}/{steps} updated", done=i, total=steps)
            if service in ("slow", "held") and i == 2:
                while not self.gate.is_set():
                    await asyncio.sleep(0.01)
        if request.kind is ActionKind.PROVISION:
            self.provisioned.append(Resource(kind="database", name=str(request.params.get(
                "name") or request.params.get("bucket")), created_at=now))
        yield ActionEvent(ts=now, message="health checks passed", state=ActionState.SUCCEEDED)


class RunActingFake(ActingFake):
    """An ``ActingFake`` that also re-runs the failed jobs of, and cancels, its pipeline runs
    (each still running: what a cancel applies to)."""

    actions = ActingFake.actions | {ActionKind.RERUN, ActionKind.CANCEL}

    def _run(self, n: str, now: Any, *, jobs: bool) -> Any:
        run = super()._run(n, now, jobs=jobs)
        return run.model_copy(update={"status": RunStatus.RUNNING, "finished_at": None})


def acting_config(*, policy: PolicyConfig | None = None, read_only: bool = False,
                  cls: type[ActingFake] = ActingFake, **settings: Any) -> AppConfig:
    """One ``ActingFake`` (or ``cls``) source called ``acts``."""
    source = spec("acts", cls, **settings)
    source.read_only = read_only
    config = app_config(source)
    if policy is not None:
        config.policy = policy
    return config
