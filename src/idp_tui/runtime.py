"""Building the hub from a validated config (shared by the dashboard and the command line)."""

from __future__ import annotations

from pathlib import Path

from .actions import ActionManager
from .api.clock import Clock, SystemClock
from .audit import AuditLog
from .api.errors import SourceError
from .api.source import Source, SourceConfig, SourceContext
from .config import AppConfig
from .gcpolicy import GC_THRESHOLDS  # noqa: F401 - where it used to be
from .hub import ChangeRelay, Hub, SourceRunner, StatusRelay


class BrokenSource(Source):
    """Stands in for a source whose constructor failed: every call reports why."""

    def __init__(self, config: SourceConfig, context: SourceContext, error: str,
                 capabilities: frozenset) -> None:  # type: ignore[type-arg]
        super().__init__(config, context)
        self.error = error
        self.capabilities = capabilities  # type: ignore[misc]

    async def start(self) -> None:
        raise SourceError(self.error, hint="Fix the source's settings in the config file.")


AUDIT_FILE = "audit.jsonl"


def build_hub(config: AppConfig, *, data_dir: Path, clock: Clock | None = None,
              read_only: bool = False) -> Hub:
    """Sources on their runners, the hub over them, and the action layer (policy and audit)."""
    clock = clock or SystemClock()
    runners = []
    for spec in config.sources:
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
    hub = Hub(runners, clock=clock, intervals=intervals, environments=config.environments)
    hub.actions = ActionManager(
        hub, config.policy, AuditLog(data_dir / AUDIT_FILE), clock=clock, read_only=read_only,
        read_only_sources=frozenset(s.name for s in config.sources if s.read_only))
    return hub
