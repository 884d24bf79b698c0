"""The advisor's scorecard gaps are the scorecards' own: the sandbox beside a ``catalog-files``
source of two services no source keeps the delivery history of (``ledger-[/red]``, described,
and ``newsvc``, not). ``idp-tui advise --json`` and ``idp-tui scorecards --json`` agree on every
service's level, next level and the rules it fails there; a delivery rule that is unknown for an
uncovered service is never recommended; a deploy in idp-tui's audit trail makes "deployed
recently" pass in both, and in the dashboard's advisor, which reads the hub's one count.

The rules of the hand-computed tests (``scorecards.toml`` beside the config, no built-in ones):
bronze "Declares its lifecycle" (every service passes), silver "Deployed in the last 30 days",
gold "Has a description"."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from idp_tui.advisor import Advice, Advisor, Dismissals
from idp_tui.advisor.engine import REEVALUATE
from idp_tui.advisor.lifecycle import ScorecardGapRule
from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.hub import ManualTimer
from idp_tui.insights.rules import load_rules
from idp_tui.insights.scoring import scorer_of
from idp_tui.runtime import build_runtime

from conftest import T0
from fakes import poll_until
from test_insights_coverage import LEDGER, Run, as_json, run, trail_deploy, two_sources, why

__all__ = ["run"]  # (the fixture, used by name)

RULES = """\
[scorecards]
defaults = false
"""
SCORECARDS = """\
[[rules]]
id = "lifecycle"
title = "Declares its lifecycle"
level = "bronze"
check = { fact = "lifecycle", not_empty = true }
fix = "Set spec.lifecycle."

[[rules]]
id = "shipped"
title = "Deployed in the last 30 days"
level = "silver"
check = { fact = "deployed_last_30_days", equals = true }
fix = "Ship something."

[[rules]]
id = "described"
title = "Has a description"
level = "gold"
check = { fact = "has_description", equals = true }
fix = "Describe it."
"""
NEXT = {"none": "bronze", "bronze": "silver", "silver": "gold", "gold": None}


def own_rules(tmp_path: Path) -> None:
    """The three rules above instead of the built-in ones (beside :func:`two_sources`' config)."""
    config = tmp_path / "config.toml"
    config.write_text(config.read_text() + RULES)
    (tmp_path / "scorecards.toml").write_text(SCORECARDS)


def gaps(run: Run) -> dict[str, dict[str, Any]]:
    """``idp-tui advise --json``'s scorecard gaps by service: level, next level, rule ids."""
    value = as_json(run("advise", "--json"))
    assert value["errors"] == []
    found = {}
    for rec in value["recommendations"]:
        if rec["rule"] != "scorecard-gap":
            continue
        figures = {f["name"]: f["value"] for f in rec["evidence"]["figures"]}
        found[rec["service"]] = {
            "level": figures["level"], "next": figures["next level"],
            "rules": sorted(n.removeprefix("fix ") for n in figures if n.startswith("fix ")),
            "title": rec["title"]}
    return found


def expected_gaps(run: Run, max_gap: int = 3) -> dict[str, dict[str, Any]]:
    """The gaps ``idp-tui scorecards --json`` implies: a service whose next level's rules that
    do not pass all fail (none unknown), at most ``max_gap`` of them (the advisor's default)."""
    value = as_json(run("scorecards", "--json"))
    assert value["errors"] == []
    found = {}
    for card in value["services"]:
        target = NEXT[card["level"]]
        missing = [r for r in card["results"] if r["level"] == target and r["status"] != "pass"]
        if target is None or not missing or len(missing) > max_gap \
                or any(r["status"] == "error" for r in missing):
            continue
        found[card["service"]] = {"level": card["level"], "next": target,
                                  "rules": sorted(r["rule"] for r in missing)}
    return found


def statuses(run: Run, service: str) -> tuple[str, dict[str, str]]:
    card = next(c for c in as_json(run("scorecards", "--json"))["services"]
                if c["service"] == service)
    return card["level"], {r["rule"]: r["status"] for r in card["results"]}


def test_advise_and_scorecards_agree_with_the_built_in_rules(run: Run) -> None:
    found, expected = gaps(run), expected_gaps(run)
    assert expected  # (the sandbox's data has gaps)
    assert {s: {k: v for k, v in g.items() if k != "title"} for s, g in found.items()} == expected
    # newsvc lacks its description (bronze); ledger's silver delivery rule is unknown.
    assert found["newsvc"]["title"] == "newsvc: 1 rule from bronze: Has a description"
    assert LEDGER not in found


def test_an_uncovered_service_gets_no_delivery_rule_until_the_trail_deploys_it(
        run: Run, tmp_path: Path) -> None:
    own_rules(tmp_path)
    # Neither service is covered: "shipped" is unknown for both (not failing), so their
    # silver is in doubt and nothing is recommended for them.
    for service in (LEDGER, "newsvc"):
        level, results = statuses(run, service)
        assert (level, results) == ("bronze", {"lifecycle": "pass", "shipped": "error",
                                               "described": "pass" if service == LEDGER
                                               else "fail"})
    found = gaps(run)
    assert LEDGER not in found and "newsvc" not in found
    assert not any("newsvc" in g["title"] for g in found.values())
    assert found == {s: {**g, "title": found[s]["title"]} for s, g in expected_gaps(run).items()}
    # A sandbox service either shipped (silver, described: gold) or is one rule from silver.
    assert all(g == {"level": "bronze", "next": "silver", "rules": ["shipped"],
                     "title": f"{s}: 1 rule from silver: Deployed in the last 30 days"}
               for s, g in found.items())
    # A deploy of newsvc through idp-tui, two days ago: shipped passes in both; its next gap
    # is gold's description. ledger is still not known.
    trail_deploy(tmp_path / "data", "newsvc", "newsvc-1", (T0 - timedelta(days=2)).isoformat())
    assert statuses(run, "newsvc") == ("silver", {"lifecycle": "pass", "shipped": "pass",
                                                  "described": "fail"})
    found = gaps(run)
    assert found["newsvc"] == {"level": "silver", "next": "gold", "rules": ["described"],
                               "title": "newsvc: 1 rule from gold: Has a description"}
    assert LEDGER not in found
    assert found == {s: {**g, "title": found[s]["title"]} for s, g in expected_gaps(run).items()}


async def test_the_dashboards_advisor_reads_the_hubs_one_count(tmp_path: Path) -> None:
    config_path = two_sources(tmp_path)
    own_rules(tmp_path)
    config = load_config(config_path, required=True)
    timer, clock = ManualTimer(), ManualClock(T0)
    data = tmp_path / "data"
    data.mkdir()
    rt = build_runtime(config, data_dir=data, clock=clock, timer=timer)
    rules = load_rules([tmp_path / "scorecards.toml"], defaults=False)
    seen: list[Advice] = []
    advisor = Advisor(rules=[ScorecardGapRule(rules)], dismissals=Dismissals.in_folder(data),
                      clock=clock)

    def newsvc_gap() -> str | None:
        return next((r.title for r in (seen[-1].recommendations if seen else ())
                     if r.service == "newsvc"), None)

    try:
        await rt.prepare()
        scorer = scorer_of(rt.hub)
        # The runtime set the hub's scorer's trail where it was built; nobody else sets it.
        assert scorer.trail is rt.actions.audit
        advisor.watch(rt.hub, seen.append)
        await poll_until(lambda: bool(seen) and scorer.last is not None, "the first advice",
                         120, lambda: asyncio.sleep(0.01))
        await advisor.evaluated()
        # One count: the view's is the hub's (the Insights pane's and the Catalog's), counted
        # with the runtime's trail.
        assert scorer.trail is rt.actions.audit
        assert advisor._view is not None and advisor._view.scorecards is scorer.last
        counts = scorer.counts
        cards = {c.service: c for c in scorer.last.cards}
        newsvc = {r.rule.id: r for r in cards["newsvc"].results}
        assert newsvc["shipped"].status == "error"
        assert newsvc["shipped"].outcome.message == \
            f"fact deployed_last_30_days is unknown: {why('newsvc')}"
        assert newsvc_gap() is None and not any(r.service == LEDGER
                                                for r in seen[-1].recommendations)
        shown = {r.service for r in seen[-1].recommendations}
        assert shown == {c.service for c in cards.values() if c.level is not None
                         and c.level.value == "bronze" and c.service not in (LEDGER, "newsvc")}
        # An evaluation with nothing new counts nothing again.
        clock.advance(REEVALUATE)
        timer.advance(5.0)
        await poll_until(lambda: advisor._evaluated_at == clock.now(), "the evaluation", 60,
                         lambda: asyncio.sleep(0.01))
        await advisor.evaluated()
        assert scorer.counts == counts
        # A deploy of newsvc in the trail: the next evaluation counts again, and says its gold
        # gap (shipped passes now).
        trail_deploy(data, "newsvc", "newsvc-2", (T0 - timedelta(days=2)).isoformat())
        clock.advance(REEVALUATE)
        timer.advance(5.0)
        await poll_until(lambda: newsvc_gap() is not None, "newsvc's gap", 60,
                         lambda: asyncio.sleep(0.01))
        assert newsvc_gap() == "newsvc: 1 rule from gold: Has a description"
        assert scorer.counts == counts + 1
        assert advisor._view.scorecards is scorer.last
        # A count made elsewhere (the Insights pane's, after another deploy in the trail) is
        # evaluated at once, without a refresh or the time moving.
        await advisor.evaluated()
        before = len(seen)
        trail_deploy(data, "newsvc", "newsvc-3", (T0 - timedelta(days=1)).isoformat())
        again = await scorer.score(rt.hub, clock.now(), rules)
        await poll_until(lambda: len(seen) > before, "the advice of the new count", 60,
                         lambda: asyncio.sleep(0.01))
        await advisor.evaluated()
        assert advisor._view.scorecards is again and scorer.counts == counts + 2
    finally:
        advisor.close()
        await rt.close()
    assert advisor._on_count not in scorer.listeners

