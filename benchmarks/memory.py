"""Memory: RSS while a flood of log lines streams through the Logs pane: does it level off?

Run: python benchmarks/memory.py [--seconds 90] [--every 250000]

Runs in a process of its own (``run_all.py`` starts it as one). The seeded demo dashboard runs
headless (``run_test``, 160×50) with the sandbox in flood mode and the default ``log_buffer``.
VmRSS is read from /proc/self/status:

1. at process start, before the app is created (after the imports);
2. once the dashboard has settled on the catalog (every shared topic loaded), before any stream;
3. while the Logs pane is shown and its view receives lines, every ``--every`` lines (the status
   line's "received" counter: millions of lines in all), for ``--seconds`` seconds;
4. after stopping the stream and a garbage collection, for information.

The run is cut into three phases of equal time. The first is the warm-up: the buffer fills, the
caches and the allocator's pools reach their size. What is measured is the growth over the last
third, when the buffer has long been full: the slope of the least-squares line through its
samples times its length (one sample is noisy: the allocator's pools and a collection move the
RSS by a MiB or two either way). A leak, or garbage that piles up until a collection, grows there
as it did before; the goal is < 2 MiB (the printed ratio compares it with the growth over the
first third, and the slope over the last two thirds is printed too). Garbage left to the lazy
collector (see ``idp_tui.logs.pacer``) grew by about 9 MiB a minute here. The total growth over
the settled dashboard (3 − 2) is reported too, with its earlier goal of < 100 MiB; the baseline
is the settled dashboard itself (2 − 1), for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

from _common import emit, measure, running, vm_hwm_mib, vm_rss_mib

from idp_tui.demo import demo_app, wait_settled

#: The RSS may grow by less than this over the last third of the run.
PLATEAU_GOAL_MIB = 2.0
#: The RSS may grow by less than this over the settled dashboard, all in all.
GROWTH_GOAL_MIB = 100.0


def slope(samples: list[tuple[float, int, float]]) -> float:
    """MiB per second: the least-squares line through ``(seconds, _, MiB)`` samples."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(s[0] for s in samples) / n
    mean_r = sum(s[2] for s in samples) / n
    var = sum((s[0] - mean_t) ** 2 for s in samples)
    return sum((s[0] - mean_t) * (s[2] - mean_r) for s in samples) / var if var else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0,
                        help="how long the lines flow (default 90)")
    parser.add_argument("--every", type=int, default=250_000,
                        help="lines between two RSS samples (default 250,000)")
    args = parser.parse_args()

    from idp_tui.ui.panes import LogsPane

    gc.collect()
    rss_start = vm_rss_mib()
    with tempfile.TemporaryDirectory(prefix="idp-bench-mem-") as tmp:
        app = demo_app(Path(tmp), flood=True)
        async with running(app) as pilot:
            await wait_settled(app)
            await pilot.pause()
            gc.collect()
            rss_settled = vm_rss_mib()
            pane = app.query_one(LogsPane)
            view = pane.view
            start = time.perf_counter()
            app.show_pane("logs")
            # (seconds since start, lines received, RSS): every --every lines, and at the end.
            samples: list[tuple[float, int, float]] = []
            next_sample = args.every
            while (elapsed := time.perf_counter() - start) < args.seconds:
                await asyncio.sleep(0.05)
                if view.total >= next_sample:
                    samples.append((elapsed, view.total, vm_rss_mib()))
                    next_sample = (view.total // args.every + 1) * args.every
            samples.append((time.perf_counter() - start, view.total, vm_rss_mib()))
            total, kept, dropped = view.total, view.buffered, view.dropped
            status = view.buffer.summary()
            collections = (pane.collector.young, pane.collector.full)
            peak = vm_hwm_mib()
            app.show_pane("catalog")  # stops nothing, but keeps the pane from restarting it
            pane.stop_stream()
            await pilot.pause()
            gc.collect()
            rss_stopped = vm_rss_mib()

    if len(samples) < 6:
        raise SystemExit(f"only {total:,} lines in {args.seconds:.0f} s: too few samples")
    third = args.seconds / 3

    def last_before(limit: float) -> tuple[float, int, float]:
        return [s for s in samples if s[0] <= limit][-1]

    first = last_before(third)
    second = last_before(2 * third)
    end = samples[-1]
    warmup_growth = first[2] - rss_settled
    middle_growth = second[2] - first[2]
    last_third = [s for s in samples if s[0] >= second[0]]
    last_growth = slope(last_third) * (end[0] - second[0])
    after_warmup = slope([s for s in samples if s[0] >= first[0]]) * 60
    growth = end[2] - rss_settled
    plateau_ok = last_growth < PLATEAU_GOAL_MIB
    elapsed = end[0]

    print(f"memory, {total:,} lines streamed through the Logs pane in {elapsed:.0f} s "
          f"(buffer {app.config.ui.log_buffer:,} lines), headless 160x50")
    print(f"  RSS at start (imports done)           {rss_start:7.1f} MiB")
    print(f"  RSS with the dashboard settled        {rss_settled:7.1f} MiB  "
          f"(+{rss_settled - rss_start:.1f} MiB)")
    print(f"  first third  (to {first[0]:5.1f} s, {first[1]:>11,} lines) {first[2]:7.1f} MiB  "
          f"(+{warmup_growth:.1f} MiB: warm-up)")
    print(f"  second third (to {second[0]:5.1f} s, {second[1]:>11,} lines) {second[2]:7.1f} MiB  "
          f"({middle_growth:+.1f} MiB)")
    print(f"  last third   (to {end[0]:5.1f} s, {end[1]:>11,} lines) {end[2]:7.1f} MiB  "
          f"({end[2] - second[2]:+.1f} MiB)")
    print(f"  growth over the last third, fitted    {last_growth:+7.1f} MiB  "
          f"({100 * last_growth / second[2]:+.1f} %, goal < {PLATEAU_GOAL_MIB:.0f} MiB: "
          f"{'PASS' if plateau_ok else 'FAIL'}); after the warm-up {after_warmup:+.1f} MiB/min")
    print(f"  growth over the settled dashboard     {growth:+7.1f} MiB  (goal < "
          f"{GROWTH_GOAL_MIB:.0f} MiB: {'PASS' if growth < GROWTH_GOAL_MIB else 'FAIL'})")
    print(f"  RSS with the stream stopped, after gc {rss_stopped:7.1f} MiB  "
          f"(+{rss_stopped - rss_settled:.1f} MiB over the settled dashboard)")
    print(f"  peak RSS (VmHWM)                      {peak:7.1f} MiB")
    step = -(-len(samples) // 24)  # about two dozen of them, the last always
    print("  samples (s, lines, MiB): " + ", ".join(
        f"{t:.0f}s {n / 1e6:.2f}M {r:.0f}" for t, n, r in samples[::-1][::step][::-1]))
    print(f"  {total:,} received in {elapsed:.1f} s ({total / elapsed:,.0f} lines/s); "
          f"status line: {status}; {kept:,} kept, {dropped:,} dropped (evicted, or before the "
          f"view); collections while streaming: {collections[0]} young, {collections[1]} full")
    ratio = last_growth / warmup_growth if warmup_growth > 0 else None
    emit([
        measure("RSS growth over the last third of a log flood", last_growth, "MiB",
                baseline=warmup_growth, baseline_name="first third (warm-up)", ratio=ratio,
                goal=f"< {PLATEAU_GOAL_MIB:.0f} MiB", passed=plateau_ok),
        measure(f"RSS growth after {total / 1e6:.1f}M log lines", growth, "MiB",
                baseline=rss_settled - rss_start, baseline_name="settled dashboard",
                goal=f"< {GROWTH_GOAL_MIB:.0f} MiB", passed=growth < GROWTH_GOAL_MIB),
    ])


if __name__ == "__main__":
    asyncio.run(main())
