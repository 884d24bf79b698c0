"""GitHub: polling 50 repositories for 10 minutes — requests counted against the quota, with ETags
and without.

Run: python benchmarks/github_polling.py [--repos 50] [--polls 20] [--interval 30] [--changing 3]

The GitHub API emulator of the tests (tests/github_server.py) on a free port, with ``--repos``
repositories of 30 runs and three environments each. A github source polls what the dashboard
asks for every ``--interval`` seconds of a simulated clock, ``--polls`` times: the runs of every
repository and their deployments (the newest of each environment and its latest status). Between
two polls ``--changing`` repositories get a new run, and every fourth poll one gets a new
deployment. Measured in the same run, on two emulators fed the same changes:

* ``with ETags``: the source as configured by default (``conditional_requests = true``): each GET
  carries the last ETag of its URL, and GitHub answers an unchanged list with a 304 that does not
  count against the quota;
* ``without ETags`` (the baseline): ``conditional_requests = false``.

Both must end with the same runs and deployments. The quota share is against a personal token's
5,000 requests an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import ROOT, emit, measure

sys.path.insert(0, str(ROOT / "tests"))
from github_server import TOKEN, GithubServer  # noqa: E402

from idp_tui import ManualClock, PipelineQuery, SourceContext  # noqa: E402
from idp_tui_github import GithubSource  # noqa: E402
from idp_tui_github.config import GithubConfig  # noqa: E402

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
#: A personal access token's requests an hour.
HOURLY_QUOTA = 5000
ENVIRONMENTS = ["dev", "staging", "production"]


async def poll(conditional: bool, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Poll for ``--polls`` rounds with or without conditional requests; what it cost."""
    clock = ManualClock(T0)
    names = [f"acme/svc-{i:02d}" for i in range(args.repos)]
    with GithubServer(now=clock.now, limit=10**9) as server:
        for name in names:
            server.add_repo(name, runs=30)
        config = GithubConfig(url=server.api_url, token=TOKEN,
                              repos={name.split("/")[1]: name for name in names},
                              environments=ENVIRONMENTS, conditional_requests=conditional)
        source = GithubSource(config, SourceContext(name="github", data_dir=folder, clock=clock))
        await source.start()
        per_poll: list[int] = []
        start = time.perf_counter()
        try:
            for round_ in range(args.polls):
                if round_:
                    clock.advance(args.interval)
                    for k in range(args.changing):
                        server.add_run(names[(round_ * args.changing + k) % len(names)])
                    if round_ % 4 == 0:
                        server.add_deployment(names[round_ % len(names)], "dev")
                before = source.quota_requests
                runs = await source.pipeline_runs(PipelineQuery(limit=30 * args.repos))
                deployments = await source.deployments()
                per_poll.append(source.quota_requests - before)
        finally:
            await source.close()
        elapsed = time.perf_counter() - start
        assert server.counted == source.quota_requests, (server.counted, source.quota_requests)
        return {"requests": source.requests_sent, "counted": source.quota_requests,
                "not_modified": server.not_modified, "per_poll": per_poll, "seconds": elapsed,
                "runs": [(r.id, r.status) for r in runs],
                "deployments": sorted((d.service, d.environment, d.version, d.health)
                                      for d in deployments)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--interval", type=float, default=30.0, help="simulated seconds")
    parser.add_argument("--changing", type=int, default=3, help="repositories with a new run "
                                                                "between two polls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="idp-bench-github-") as tmp:
        cached = await poll(True, args, Path(tmp) / "etags")
        plain = await poll(False, args, Path(tmp) / "plain")
    assert cached["runs"] == plain["runs"] and cached["deployments"] == plain["deployments"], \
        "the two sources ended with different answers"
    minutes = args.polls * args.interval / 60
    ratio = cached["counted"] / plain["counted"]
    print(f"github: {args.repos} repositories polled every {args.interval:g} s for "
          f"{minutes:g} minutes ({args.polls} polls, simulated clock): runs and deployments; "
          f"{args.changing} repositories change between polls")
    print(f"  {'':26} {'requests':>9} {'counted':>9} {'304s':>7} {'first poll':>11} "
          f"{'later polls':>12} {'of 5,000/h':>11} {'wall':>7}")
    for label, result in (("without ETags (baseline)", plain), ("with ETags", cached)):
        later = result["per_poll"][1:]
        print(f"  {label:26} {result['requests']:9,} {result['counted']:9,} "
              f"{result['not_modified']:7,} {result['per_poll'][0]:11,} "
              f"{sum(later) / max(len(later), 1):12.1f} "
              f"{result['counted'] / HOURLY_QUOTA:10.0%} {result['seconds']:6.1f}s")
    print(f"  counted against the quota with ETags: {ratio:.3f}x the baseline "
          f"({len(cached['runs'])} runs and {len(cached['deployments'])} deployments, the same "
          "in both)")
    emit([
        measure(f"github: quota requests, {args.repos} repos polled {args.polls}x",
                cached["counted"], "requests", baseline=plain["counted"],
                baseline_name="without ETags", ratio=ratio, goal="<= 0.2x of the baseline",
                passed=ratio <= 0.2),
    ])


if __name__ == "__main__":
    asyncio.run(main())
