"""A source of delivery history for tests whose history always fails (its catalog, environments
and the rest answer): what ``idp-tui dora``, ``idp-tui scorecards`` and the Insights pane count
when the only history there is cannot be read."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from idp_tui import Capability, DeliveryHistory, HistoryQuery, Service, SourceUnavailable

from fakes import StaticConfig, StaticSource

TESTS = Path(__file__).resolve().parent
#: Safety net for each child process; no assertion is about time.
TIMEOUT = 120


class FailingHistoryConfig(StaticConfig):
    environments: list[str] = ["staging", "production"]
    #: The catalog fails too (no service, no team is known).
    catalog_fails: bool = False


class FailingHistorySource(StaticSource):
    """The static source (alpha, beta, gamma of team-a) with a delivery history that fails."""

    Config = FailingHistoryConfig
    capabilities = StaticSource.capabilities | {Capability.DELIVERY}
    config: FailingHistoryConfig

    async def services(self) -> list[Service]:
        if self.config.catalog_fails:
            raise SourceUnavailable("the catalog server is down")
        return await super().services()

    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        raise SourceUnavailable("the history server is down", hint="is it running?")


def failing_history_cli(tmp_path: Path, settings: str = ""
                        ) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``idp-tui ARGS`` in a child process on a config with only :class:`FailingHistorySource`
    (registered as the plugin ``test-failing-history`` through a ``.dist-info`` folder on
    ``PYTHONPATH``; ``settings``: lines of its table), with a data dir of its own."""
    info = tmp_path / "plugins" / "idp_tui_failing_history-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: idp-tui-failing-history\n"
                                   "Version: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[idp_tui.sources]\ntest-failing-history = fakes_history:FailingHistorySource\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.history]\ntype = "test-failing-history"\n{settings}')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDP_TUI_") and k not in ("NO_COLOR", "PYTHONPATH")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z", "NO_COLOR": "1",
                "PYTHONPATH": os.pathsep.join([str(TESTS), str(info.parent)])})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=TIMEOUT, check=False,
                                stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run
