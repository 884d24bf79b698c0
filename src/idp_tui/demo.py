"""A reproducible dashboard: the seeded sandbox at a fixed time.

Used by the snapshot tests, ``screenshots/make.py`` and the benchmarks, so all three show the same
organisation at the same moment.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api.clock import ManualClock
from .config import AppConfig, SourceSpec
from .policy import PolicyConfig
from .registry import load
from .ui.panelist import PANES

if TYPE_CHECKING:
    from .ui.app import IdpApp

#: The moment every demo, screenshot and snapshot shows.
DEMO_TIME = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
DEMO_SIZE = (160, 50)
#: Who acts in the demo (``[policy] identity``).
DEMO_IDENTITY = "dana"
#: Each pane's default key, by name (from the pane list).
PANE_KEYS = {pane.name: pane.key for pane in PANES}


def demo_config(data_dir: Path, **settings: Any) -> AppConfig:
    """The sandbox with seed 7 and its database in ``data_dir`` (``settings`` override), acted
    on by ``dana`` (whoever runs it: screenshots and snapshots name the same person)."""
    cls = load("sandbox")
    values = {"seed": 7, "database": str(data_dir / "sandbox.sqlite3"), **settings}
    spec = SourceSpec(name="sandbox", type="sandbox", cls=cls, config=cls.Config(**values),
                      timeout=30.0)
    return AppConfig(path=None, sources=[spec], policy=PolicyConfig(identity=DEMO_IDENTITY))


def demo_app(data_dir: Path, *, clock: ManualClock | None = None, **settings: Any) -> IdpApp:
    from .ui.app import IdpApp

    data_dir.mkdir(parents=True, exist_ok=True)
    return IdpApp(demo_config(data_dir, **settings), data_dir=data_dir,
                  clock=clock or ManualClock(DEMO_TIME))


async def wait_settled(app: IdpApp, timeout: float = 20.0) -> None:
    """Wait until the shared data and the visible pane's own data have arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            if app.is_settled():
                break
        except Exception:  # noqa: BLE001 - not mounted yet
            pass
        await asyncio.sleep(0.05)
    else:
        raise TimeoutError("the dashboard did not settle in time")
    # Let the last messages be handled and the screen be painted.
    for _ in range(3):
        await asyncio.sleep(0.05)
        await app.animator.wait_until_complete()


def steady_health(app: IdpApp) -> None:
    """Fix what the health view measures for real (each source's latency, and how many calls
    it has answered so far, which depends on the machine's speed) so that a picture of it is the
    same on every run, and show it again."""
    for item in app.hub.health.values():
        item.latency = 0.004
        item.calls, item.failures = 100, 0
    app.screen.show(app.hub.health)  # type: ignore[attr-defined]
