"""The advisor following the hub on the sandbox: it evaluates when the hub's topics refresh (the
hub's timer, moved by hand: the advisor has none of its own) with something new, or once its last
evaluation is a minute old, follows the metrics of the recent deploys, finds the sandbox's bad
release, and a dismissal reaches its listener at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from idp_tui.advisor import Advice, Advisor, Dismissals
from idp_tui.advisor.engine import REEVALUATE, usage_topics
from idp_tui.api.clock import ManualClock
from idp_tui.config import parse_config
from idp_tui.hub import ManualTimer, Topic
from idp_tui.runtime import build_runtime

from fakes import poll_until

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


async def test_the_advisor_evaluates_on_the_hubs_refreshes(tmp_path: Path) -> None:
    config = parse_config({"sources": {"sandbox": {
        "type": "sandbox", "database": str(tmp_path / "sandbox.sqlite3")}}}, path=None, text="")
    timer, clock = ManualTimer(), ManualClock(NOW)
    rt = build_runtime(config, data_dir=tmp_path, clock=clock, timer=timer)
    seen: list[Advice] = []
    found = asyncio.Event()

    def listener(advice: Advice) -> None:
        seen.append(advice)
        if any(r.rule == "post-deploy-regression" and r.environment == "production"
               for r in advice.recommendations):
            found.set()

    advisor = Advisor(dismissals=Dismissals.in_folder(tmp_path), clock=clock)
    try:
        await rt.prepare()
        advisor.watch(rt.hub, listener)
        await asyncio.wait_for(found.wait(), 120)  # a safety net only: no time is advanced
        metrics = [t for t in advisor._subs if t.kind.value == "metrics"]
        assert metrics and all(t.args[2].value == "6h" for t in metrics)
        # The use of the costliest deployments over a day was asked before the first advice.
        assert advisor._usage_task is not None and advisor._usage_task.done()
        assert rt.hub.cached(next(iter(usage_topics(advisor._view, advisor.settings))))
        rec = next(r for r in seen[-1].recommendations if r.rule == "post-deploy-regression")
        assert rec.remedy is not None and rec.remedy.kind.value == "rollback"

        # Nothing happens until the hub's timer moves: the advisor waits on no timer of its own.
        await timer.until_waiting(len(advisor._subs))
        await advisor.evaluated()
        for _ in range(20):
            await asyncio.sleep(0)
        before = len(seen)
        await asyncio.sleep(0.2)
        assert len(seen) == before

        # A refresh that hands over the same platform (the sandbox's time has not moved) is not
        # evaluated again: the hub hands over its last data, and the advisor holds it already.
        platforms = []
        sub = rt.hub.watch(Topic.environments(), platforms.append)
        held = platforms[-1].data
        waits = timer.waiting
        timer.advance(5.0)  # the environments' and pipelines' interval
        await timer.until(lambda t: t.waiting >= waits and min(t.deadlines) > t.now())
        for _ in range(20):
            await asyncio.sleep(0)
        await advisor.evaluated()
        assert len(platforms) == 2 and platforms[-1].data is held
        assert len(seen) == before

        # Once the last evaluation is a minute old, a refresh is evaluated again (the rules read
        # the time: a preview's hours left).
        clock.advance(REEVALUATE)
        timer.advance(5.0)
        # (evaluated in a worker thread: its advice comes after the hub's waits started again)
        await poll_until(lambda: len(seen) > before, "advice after the refresh", 60,
                         lambda: asyncio.sleep(0.005))
        sub.close()

        # A dismissal is said to the listener at once, and hidden.
        advisor.dismiss(rec.id)
        assert rec.id not in {r.id for r in seen[-1].recommendations}
        assert seen[-1].hidden >= 1
    finally:
        advisor.close()
        await rt.close()


async def test_the_delivery_history_is_followed_only_for_a_catalog_it_can_score(
        tmp_path: Path) -> None:
    """The scorecard gaps need months of every service's delivery history: the advisor follows
    it once the catalog is known, and not for a catalog larger than scorecard_max_services
    (asking a large platform for it would starve the sources of time for everything else)."""
    from idp_tui.advisor.settings import AdvisorConfig

    config = parse_config({"sources": {"sandbox": {
        "type": "sandbox", "database": str(tmp_path / "sandbox.sqlite3")}}}, path=None, text="")
    timer, clock = ManualTimer(), ManualClock(NOW)
    rt = build_runtime(config, data_dir=tmp_path, clock=clock, timer=timer)
    small = Advisor(dismissals=Dismissals.in_folder(tmp_path), clock=clock)
    large = Advisor(settings=AdvisorConfig(scorecard_max_services=39),  # the sandbox has 40
                    dismissals=Dismissals.in_folder(tmp_path / "large"), clock=clock)
    first: dict[str, asyncio.Event] = {"small": asyncio.Event(), "large": asyncio.Event()}
    try:
        await rt.prepare()
        small.watch(rt.hub, lambda advice: first["small"].set())
        large.watch(rt.hub, lambda advice: first["large"].set())
        await asyncio.wait_for(first["small"].wait(), 120)
        await asyncio.wait_for(first["large"].wait(), 120)
        await timer.until(lambda t: small._view is not None and small._view.services
                          is not None and large._view is not None
                          and large._view.services is not None, 60)
        assert len(small._view.services) == 40  # type: ignore[union-attr]
        assert [t for t in small._subs if t.kind.value == "delivery"]
        assert not [t for t in large._subs if t.kind.value == "delivery"]
        assert not any(r.rule == "scorecard-gap" for r in large.advice.recommendations)
    finally:
        small.close()
        large.close()
        await rt.close()
