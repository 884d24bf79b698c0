"""Throughput of LogView.append against Textual's Log.write_lines (headless, 160×50).

Run: python benchmarks/logview_throughput.py [--lines 200000] [--batch 1000] [--repeat 3]

Each case appends the same stream in batches to a fresh app. "loop" yields to the event loop after
each batch (asyncio.sleep(0)) and waits for the final paint; "paint" waits for the app to be idle
after each batch (pilot.pause()), so every batch is laid out and drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Log

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine
from idp_tui.ui.logview import LogView

LEVELS = [LogLevel.INFO] * 6 + [LogLevel.DEBUG] * 2 + [LogLevel.WARN, LogLevel.ERROR]
PATHS = ["/api/orders", "/api/users/42", "/health", "/api/payments", "/metrics"]


def make_lines(n: int, json_every: int = 5) -> list[LogLine]:
    """A stream where every ``json_every``-th line is a JSON object (0: none)."""
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        if json_every and i % json_every == 0:
            message = json.dumps({"msg": "request served", "level": "info", "path": PATHS[i % 5],
                                  "status": 200 + (i % 3), "user": f"user-{i % 97}",
                                  "duration_ms": i % 250})
        else:
            message = (f"GET {PATHS[i % 5]} status={200 + (i % 3)} bytes={i % 9000} "
                       f"user=user-{i % 97} took {i % 250}ms trace={i:016x}")
        out.append(LogLine(ts=t0 + timedelta(milliseconds=i), service="svc", environment="prod",
                           instance=f"svc-7d9f8-{i % 6}", level=LEVELS[i % 10], message=message))
    return out


class Bench(App[None]):
    def __init__(self, factory: Callable[[], Widget]) -> None:
        super().__init__()
        self.factory = factory

    def compose(self) -> ComposeResult:
        yield self.factory()


async def run_case(factory: Callable[[], Widget], feed: Callable[[Widget, list], None],
                   batches: list[list], paint_each: bool) -> float:
    app = Bench(factory)
    async with app.run_test(size=(160, 50)) as pilot:
        widget = app.screen.query_one("#w")
        await pilot.pause()
        gc.collect()
        start = time.perf_counter()
        for batch in batches:
            feed(widget, batch)
            if paint_each:
                await pilot.pause()
            else:
                await asyncio.sleep(0)
        await pilot.pause()
        elapsed = time.perf_counter() - start
    return elapsed


def plain(line: LogLine) -> str:
    return (f"{line.ts:%H:%M:%S.%f} {line.instance} {line.level.value.upper():<5} "
            f"{render.log_message_plain(line.message)}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-every", type=int, default=5,
                        help="every Nth line is a JSON object (0: none)")
    args = parser.parse_args()

    lines = make_lines(args.lines, args.json_every)
    records = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
    strings = [[plain(line) for line in batch] for batch in records]

    def log() -> Widget:
        return Log(max_lines=20_000, id="w")

    def logview(include: str | None = None, search: str | None = None,
                wrap: bool = False) -> Callable[[], Widget]:
        def make() -> Widget:
            view = LogView(max_lines=20_000, id="w")
            view.set_include(include)
            view.set_search(search)
            view.wrap = wrap
            return view
        return make

    cases: list[tuple[str, Callable[[], Widget], Callable[[Widget, list], None], list[list]]] = [
        ("Log.write_lines", log,
         lambda w, b: w.write_lines(b), strings),  # type: ignore[attr-defined]
        ("LogView.append", logview(),
         lambda w, b: w.append(b), records),  # type: ignore[attr-defined]
        ("LogView.append include+search", logview("user-1|health", "status=201"),
         lambda w, b: w.append(b), records),  # type: ignore[attr-defined]
        ("LogView.append include+search+wrap", logview("user-1|health", "status=201", True),
         lambda w, b: w.append(b), records),  # type: ignore[attr-defined]
    ]
    print(f"{args.lines:,} lines in batches of {args.batch:,}, best of {args.repeat}, 160x50, "
          f"JSON every {args.json_every or 'never'}")
    for paint_each in (False, True):
        mode = "paint" if paint_each else "loop"
        best: dict[str, float] = {}
        for _ in range(args.repeat):  # round-robin, so machine noise hits every case alike
            for name, factory, feed, batches in cases:
                elapsed = await run_case(factory, feed, batches, paint_each)
                best[name] = min(best.get(name, elapsed), elapsed)
        results = {name: args.lines / elapsed for name, elapsed in best.items()}
        base = results["Log.write_lines"]
        for name, rate in results.items():
            print(f"  [{mode}] {name:<38} {rate:>10,.0f} lines/s  {rate / base:6.0%} of Log")


if __name__ == "__main__":
    asyncio.run(main())
