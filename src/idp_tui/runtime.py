"""What a session runs on, built from a validated config: the sources on their runners, the hub over
them and the action layer (policy and audit). Shared by the dashboard and the command line."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .actions import ActionManager
from .api.clock import Clock, SystemClock
from .api.errors import SourceError
from .api.kinds import Capability
from .api.source import Source, SourceConfig, SourceContext
from .config import AppConfig
from .hub import ChangeRelay, Hub, PollTimer, Snapshot, SourceRunner, StatusRelay
from .identity import IdentityCheck
from .insights.scoring import scorer_of
from .store import AUDIT_FILE, open_audit
from .usage import UsageRecorder, recorder_for


class BrokenSource(Source):
    """Stands in for a source whose constructor failed: every call reports why."""

    def __init__(self, config: SourceConfig, context: SourceContext, error: str,
                 capabilities: frozenset) -> None:  # type: ignore[type-arg]
        super().__init__(config, context)
        self.error = error
        self.capabilities = capabilities  # type: ignore[misc]

    async def start(self) -> None:
        raise SourceError(self.error, hint="Fix the source's settings in the config file.")


__all__ = ["AUDIT_FILE", "BrokenSource", "Runtime", "build_hub", "build_runtime"]


@dataclass
class Runtime:
    """One session's platform: the config it was built from, the hub (every read of every source)
    and the action manager (every change, through the policy and the audit log)."""

    config: AppConfig
    hub: Hub
    actions: ActionManager
    #: Usage analytics and feedback (``idp_tui.usage``; records nothing unless
    #: ``[telemetry] enabled``). None: not built by ``build_runtime``.
    usage: UsageRecorder | None = field(default=None)

    async def prepare(self) -> Snapshot[Any] | None:
        """What a one-shot command waits for before it asks anything: the catalog, handed to
        the sources that read it (``Hub.share_catalog``), so that every command sees the joined
        platform the dashboard sees. A failing catalog source does not stop the command: the
        others answer, and its failure is in the catalog snapshot returned (None: no source
        reads the catalog, nothing was fetched)."""
        return await self.hub.share_catalog()

    async def close(self) -> None:
        """Stop every source (running actions are left to their deadline by the sources), write
        the audit records still queued (the actions' ends: ``ActionManager.close``), and close
        the store's connections."""
        await self.hub.close()
        await self.actions.close()
        close = getattr(self.actions.audit, "close", None)
        if close is not None:  # (a pool's connections: closed off the event loop)
            await asyncio.to_thread(close)
        if self.usage is not None:  # what it buffered is written (off the event loop)
            await asyncio.to_thread(self.usage.close)


def build_hub(config: AppConfig, *, data_dir: Path, clock: Clock | None = None,
              timer: PollTimer | None = None, only: Capability | None = None) -> Hub:
    """The sources on their runners and the hub over them (``only``: just the sources with that
    capability, for a command that asks them one question); no action layer, no usage
    session."""
    clock = clock or SystemClock()
    runners = []
    for spec in config.sources:
        if only is not None and only not in spec.cls.capabilities:
            continue
        folder = data_dir / "sources" / spec.name
        context = SourceContext(name=spec.name, data_dir=folder, clock=clock,
                                notify=ChangeRelay(spec.name), status=StatusRelay(spec.name))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            source: Source = spec.cls(spec.config, context)
        except Exception as exc:  # noqa: BLE001 - a broken source must not stop the others
            source = BrokenSource(spec.config, context, f"could not be created: {exc}",
                                  spec.cls.capabilities)
        runners.append(SourceRunner(spec.name, spec.type, source, spec.timeout, owns=spec.owns))
    intervals = config.hub.refresh.model_dump()
    return Hub(runners, clock=clock, intervals=intervals, environments=config.environments,
               timer=timer)


def build_runtime(config: AppConfig, *, data_dir: Path, clock: Clock | None = None,
                  read_only: bool = False, timer: PollTimer | None = None) -> Runtime:
    """The sources on their runners, the hub over them, and the action layer.

    ``timer`` is what the hub's polls and the actions' deadlines wait on (default: the event
    loop's time; a test's ``ManualTimer``).
    """
    clock = clock or SystemClock()
    hub = build_hub(config, data_dir=data_dir, clock=clock, timer=timer)
    actions = ActionManager(
        hub, config.policy, open_audit(config.store, data_dir), clock=clock, read_only=read_only,
        read_only_sources=frozenset(s.name for s in config.sources if s.read_only))
    actions.identity = IdentityCheck(hub)  # who the sources say the user is, asked once
    # The hub's one scorecard count (the panes', the advisor's) counts this trail's deploys.
    scorer_of(hub).trail = actions.audit
    usage = recorder_for(config, data_dir, identity=actions.actor, clock=clock)
    if usage.enabled:  # the hooks: the session, the actions' ends, the sources' errors
        usage.run()
        actions.watch(usage.action_changed)
        hub.watch_health(usage.health)
    return Runtime(config=config, hub=hub, actions=actions, usage=usage)
