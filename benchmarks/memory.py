"""Memory: RSS growth after 1,000,000 lines streamed through the Logs pane (default bounded buffer).

Run: python benchmarks/memory.py [--lines 1000000]

Runs in a process of its own (``run_all.py`` starts it as one). The seeded demo dashboard runs
headless (``run_test``, 160×50) with the sandbox in flood mode and the default ``log_buffer``.
VmRSS is read from /proc/self/status:

1. at process start, before the app is created (after the imports);
2. once the dashboard has settled on the catalog (every shared topic loaded), before any stream;
3. after the Logs pane has been shown and its view has received ``--lines`` lines (the status line's
   "received" counter), while the stream still runs (and once more after stopping it and a
   garbage collection, for information).

The measure is 3 − 2: what streaming a million lines costs on top of the settled dashboard. The
goal is < 100 MiB. The baseline column is the settled dashboard itself (2 − 1), for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

from _common import running, SIZE, emit, measure, vm_hwm_mib, vm_rss_mib

from idp_tui.demo import demo_app, wait_settled

GOAL_MIB = 100.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
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
            samples: list[tuple[int, float]] = []
            next_sample = 0
            while view.total < args.lines:
                await asyncio.sleep(0.05)
                if view.total >= next_sample:
                    samples.append((view.total, vm_rss_mib()))
                    next_sample += args.lines // 10
                if time.perf_counter() - start > 100:
                    raise TimeoutError(f"only {view.total:,} lines in 100 s")
            elapsed = time.perf_counter() - start
            total, kept, dropped = view.total, view.buffered, view.dropped
            upstream = pane.stream.dropped if pane.stream else 0
            rss_after = vm_rss_mib()  # while the stream still runs: what a user would see
            peak = vm_hwm_mib()
            app.show_pane("catalog")  # stops nothing, but keeps the pane from restarting it
            pane.stop_stream()
            await pilot.pause()
            gc.collect()
            rss_stopped = vm_rss_mib()

    growth = rss_after - rss_settled
    print(f"memory, {args.lines:,} streamed lines through the Logs pane "
          f"(buffer {app.config.ui.log_buffer:,} lines), headless 160x50")
    print(f"  RSS at start (imports done)          {rss_start:7.1f} MiB")
    print(f"  RSS with the dashboard settled       {rss_settled:7.1f} MiB  "
          f"(+{rss_settled - rss_start:.1f} MiB)")
    print(f"  RSS after {total:,} lines            {rss_after:7.1f} MiB  (+{growth:.1f} MiB, "
          f"goal < {GOAL_MIB:.0f} MiB: {'PASS' if growth < GOAL_MIB else 'FAIL'})")
    print(f"  RSS with the stream stopped, after gc {rss_stopped:7.1f} MiB  "
          f"(+{rss_stopped - rss_settled:.1f} MiB: the {kept:,} kept lines)")
    print(f"  peak RSS (VmHWM)                     {peak:7.1f} MiB")
    print(f"  during the stream: " + ", ".join(f"{n // 1000:,}k: {r:.0f}" for n, r in samples))
    print(f"  {total:,} received in {elapsed:.1f} s ({total / elapsed:,.0f} lines/s), "
          f"{kept:,} kept, "
          f"{dropped:,} dropped by the view (evicted or upstream), hub dropped {upstream:,}")
    emit([measure("RSS growth after 1M log lines", growth, "MiB", baseline=rss_settled - rss_start,
                  baseline_name="settled dashboard", goal=f"< {GOAL_MIB:.0f} MiB",
                  passed=growth < GOAL_MIB)])


if __name__ == "__main__":
    asyncio.run(main())
