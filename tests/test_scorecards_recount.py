"""The dashboard's one scorecard count does not keep what no pane watches for ever: the pipeline
runs it read are asked again once a count's period (``RECOUNT``) has passed, so "default branch
is green" follows a run that failed since, with nothing else changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fakes import StaticSource, context

from idp_tui import ManualClock
from idp_tui.api.kinds import RunStatus
from idp_tui.api.models import PipelineQuery, PipelineRun
from idp_tui.hub import Hub, SourceRunner
from idp_tui.insights.rules import parse_rules
from idp_tui.insights.scorecards import RECOUNT
from idp_tui.insights.scoring import scored

RULES = [rule for _id, rule in parse_rules("""
[[rules]]
id = "green"
title = "Default branch is green"
level = "bronze"
check = { fact = "default_branch_green", equals = true }
fix = "Fix the build."
""") if rule is not None]


class Runs(StaticSource):
    """A catalog of alpha, and its runs on main as the test sets them."""

    status = RunStatus.SUCCEEDED
    asked = 0

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        Runs.asked += 1
        at = self.context.clock.now() - timedelta(minutes=10)
        return [PipelineRun(id=f"alpha-{Runs.asked}", service="alpha", branch="main",
                            status=Runs.status, started_at=at,
                            finished_at=at + timedelta(minutes=5))]


def status_of(count: object, service: str = "alpha") -> str:
    card = next(c for c in count.cards if c.service == service)  # type: ignore[attr-defined]
    return {r.rule.id: r.status for r in card.results}["green"]


async def test_the_runs_are_asked_again_after_a_counts_period(tmp_path: Path,
                                                              clock: ManualClock) -> None:
    Runs.status, Runs.asked = RunStatus.SUCCEEDED, 0
    hub = Hub([SourceRunner("s", "static", Runs(Runs.Config(names=["alpha"]),
                                                context("s", tmp_path, clock)), 2.0)],
              clock=clock)
    try:
        first = await scored(hub, clock.now(), RULES)
        assert status_of(first) == "pass" and Runs.asked == 1
        Runs.status = RunStatus.FAILED  # the next build on main fails; nobody watches the runs
        clock.advance(timedelta(seconds=RECOUNT / 2))
        assert await scored(hub, clock.now(), RULES) is first and Runs.asked == 1
        clock.advance(timedelta(seconds=RECOUNT))
        again = await scored(hub, clock.now(), RULES)
        assert again is not first and Runs.asked == 2
        assert status_of(again) == "fail"
    finally:
        await hub.close()
