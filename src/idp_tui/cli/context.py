"""What every command gets: its arguments, the output, the data dir, and a way to run on the hub."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api.clock import Clock
from ..config import AppConfig
from .output import Output

if TYPE_CHECKING:
    from ..actions import ActionManager
    from ..hub import Hub
    from ..runtime import Runtime


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    folder: Path
    _config: AppConfig | None = field(default=None, repr=False)
    _clock: Clock | None = field(default=None, repr=False)
    #: The hub and the action layer, while ``run`` runs a command.
    runtime: Runtime | None = field(default=None, repr=False)

    @property
    def config(self) -> AppConfig:
        if self._config is None:
            from . import resolve_config

            self._config = resolve_config(self.args)
        return self._config

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            from . import clock_from_env

            self._clock = clock_from_env()
        return self._clock

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.args, "read_only", False))

    @property
    def actions(self) -> ActionManager:
        """The action layer of the runtime ``run`` built (inside ``fn`` only)."""
        if self.runtime is None:
            raise RuntimeError("no runtime: only a command run by Context.run has one")
        return self.runtime.actions

    @property
    def trail(self) -> Any:
        """The audit trail the deploys made through idp-tui are read from: the runtime's (the
        configured store's), else the data dir's log."""
        if self.runtime is not None:
            return self.runtime.actions.audit
        from ..audit import AuditLog
        from ..store import AUDIT_FILE

        return AuditLog(self.folder / AUDIT_FILE)

    def run(self, fn: Callable[[Context, Hub], Awaitable[int]], *,
            say_catalog: bool = True) -> int:
        """Build the runtime, run ``fn(ctx, hub)`` on a fresh event loop, and close it.

        Before ``fn``, the catalog is handed to the sources that read it (``Runtime.prepare``);
        a catalog source failing then is said as a warning (``say_catalog``), since what the
        others answer lacks the services it would have listed.
        """
        from ..runtime import build_runtime

        config, clock = self.config, self.clock  # config errors before any source starts
        env = getattr(self.args, "env", None)
        if isinstance(env, str) and env:  # a source's name for a declared environment means it
            self.args.env = config.environments.resolve(env) or env

        async def main() -> int:
            self.runtime = build_runtime(config, data_dir=self.folder, clock=clock,
                                         read_only=self.read_only)
            try:
                shared = await self.runtime.prepare()
                if shared is not None and say_catalog:
                    for failure in shared.errors.values():
                        self.out.warn(f"catalog: {failure.source}: {failure.error_class}: "
                                      f"{failure.message} (the services it lists are not known "
                                      "to the other sources)", source=failure.source,
                                      hint=failure.hint)
                return await fn(self, self.runtime.hub)
            finally:
                await self.runtime.close()
                self.runtime = None

        return asyncio.run(main())
