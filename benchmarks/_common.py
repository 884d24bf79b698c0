"""Helpers shared by the benchmark scripts (never imported by the product or the tests).

Every benchmark prints a human-readable report and, as its last line, ``RESULT {json}`` with a list
of measures that ``run_all.py`` turns into the summary table.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZE = (160, 50)

# Benchmarks measure steady state: no scroll or highlight animations.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def vm_rss_mib() -> float:
    """Resident set size of this process, from /proc/self/status (MiB)."""
    return _status_kib("VmRSS") / 1024


def vm_hwm_mib() -> float:
    """Peak resident set size of this process (MiB)."""
    return _status_kib("VmHWM") / 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(name: str, value: float, unit: str, *, baseline: float | None = None,
            baseline_name: str = "", ratio: float | None = None, goal: str = "",
            passed: bool | None = None) -> dict[str, Any]:
    """One line of the summary table."""
    return {"name": name, "value": value, "unit": unit, "baseline": baseline,
            "baseline_name": baseline_name, "ratio": ratio, "goal": goal, "passed": passed}


def emit(measures: list[dict[str, Any]]) -> None:
    """The machine-readable last line read by run_all.py."""
    sys.stdout.flush()
    print("RESULT " + json.dumps(measures), flush=True)


class PaintProbe:
    """Records every frame the app composes (headless apps compose frames but write nothing).

    ``Screen._compositor_refresh`` renders the dirty regions into strips and hands the update to
    ``App._display``; wrapping ``_display`` on the instance gives the moment each frame is ready.
    ``wait(condition)`` resolves at the first frame composed while ``condition()`` is true.
    """

    def __init__(self, app: Any) -> None:
        import asyncio

        self._asyncio = asyncio
        self.app = app
        self.frames = 0
        self.last = 0.0
        self._condition: Callable[[], bool] | None = None
        self._event: asyncio.Event | None = None
        self.hit_at = 0.0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            self.frames += 1
            self.last = time.perf_counter()
            if self._condition is not None and self._event is not None and self._condition():
                self.hit_at = self.last
                self._condition = None
                self._event.set()

        app._display = display

    async def wait(self, condition: Callable[[], bool], timeout: float = 60.0) -> float:
        """perf_counter() of the first frame composed with ``condition()`` true."""
        self._event = self._asyncio.Event()
        self._condition = condition
        try:
            await self._asyncio.wait_for(self._event.wait(), timeout)
        finally:
            self._condition = None
        return self.hit_at


@asynccontextmanager
async def running(app: Any, size: tuple[int, int] = SIZE) -> AsyncIterator[Any]:
    """``app.run_test(size=size)``, except that an error raised while the app shuts down (after
    the measurement) is reported on stderr instead of discarding the figures."""
    context = app.run_test(size=size)
    pilot = await context.__aenter__()
    try:
        yield pilot
    except BaseException:
        if not await context.__aexit__(*sys.exc_info()):
            raise
    else:
        try:
            await context.__aexit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - reported, the figures are already taken
            print(f"warning: the app raised while shutting down: {type(exc).__name__}: {exc}",
                  file=sys.stderr)


def child_env() -> dict[str, str]:
    """The environment of a benchmark's child process: this one's, with idp_tui from ``src``."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def postgres_missing() -> bool:
    """Whether no throw-away PostgreSQL can run here; if so, why is printed and no measure is
    emitted (the benchmark stops)."""
    why = _pg().missing()
    if why:
        print(f"skipped: {why}")
        emit([])
    return bool(why)


@contextmanager
def postgres_database() -> Iterator[str]:
    """The DSN of a new database with idp-tui's schema on a throw-away PostgreSQL server
    (``tests/pg.py``: Debian's package, run as the ``postgres`` user), stopped on leaving."""
    server = _pg().start()
    try:
        from idp_tui.store.postgres import PostgresStore

        dsn = server.create_database()
        store = PostgresStore(dsn)
        store.connection()  # the schema
        store.close()
        yield dsn
    finally:
        server.close()


def _pg() -> Any:
    """The tests' ``pg`` module (``tests/pg.py``), idp_tui imported from ``src``."""
    for folder in ("tests", "src"):
        if str(ROOT / folder) not in sys.path:
            sys.path.insert(0, str(ROOT / folder))
    import pg

    return pg
