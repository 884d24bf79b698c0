"""The Insights pane's view model without Textual: the scorecard rows (failing first, by team and
level) and a number's detail (the deployments it counted, hand-made)."""

from __future__ import annotations

from idp_tui.insights import dora, view
from idp_tui.insights import scorecards as sc
from idp_tui.insights.dora import DAY, DEPLOYMENT_FREQUENCY
from idp_tui.insights.rules import Level, Outcome, Rule

END = 1_000 * DAY


def _rule(rule_id: str, level: Level) -> Rule:
    return Rule(id=rule_id, title=f"{rule_id} title", level=level, fix=f"fix {rule_id}")


def _card(service: str, team: str, **statuses: tuple[Level, str]) -> sc.Card:
    results = tuple(sc.RuleResult(_rule(rid, lv), Outcome(st)) for rid, (lv, st)
                    in statuses.items())
    return sc.Card(service, team, sc.level_from(results), results)


CARDS = [
    _card("a", "team-x", has_owner=(Level.BRONZE, "pass"), runbook=(Level.SILVER, "fail")),
    _card("b", "team-y", has_owner=(Level.BRONZE, "fail"), runbook=(Level.SILVER, "error")),
    _card("c", "team-x", has_owner=(Level.BRONZE, "pass"), runbook=(Level.SILVER, "pass")),
]


def test_score_rows_fail_first_then_by_level_and_filtered() -> None:
    rows = view.score_rows(CARDS)
    assert [(r.service, r.rule, r.status[0]) for r in rows] == [
        ("b", "has_owner", "fail"), ("a", "runbook", "fail"), ("b", "runbook", "error"),
        ("a", "has_owner", "pass"), ("c", "has_owner", "pass"), ("c", "runbook", "pass")]
    assert {r.service for r in view.score_rows(CARDS, team="team-x")} == {"a", "c"}
    assert [r.level[0] for r in view.score_rows(CARDS, level="none")] == ["none", "none"]
    assert {r.service for r in view.score_rows(CARDS, level="bronze")} == {"a"}
    assert {r.service for r in view.score_rows(CARDS, level="silver")} == set()
    assert view.rule_detail(_insights(), "a", "runbook")[-1] == ("fix: fix runbook", "yellow")


def _insights() -> view.Insights:
    deploys = [dora.Deploy("d1", "a", "production", END - 3 * DAY, version="1.0"),
               dora.Deploy("d2", "a", "production", END - 2 * DAY, outcome="failed",
                           version="1.1"),
               dora.Deploy("d3", "c", "production", END - DAY, version="2.0")]
    facts = dora.analyse(deploys)
    org = dora.four_keys(facts, end=END, days=7, name="organisation")
    teams = [dora.four_keys(facts, end=END, days=7, scope="team", name="team-x",
                            services={"a", "c"})]
    services = [dora.four_keys(facts, end=END, days=7, scope="service", name=s, services={s})
                for s in ("a", "c")]
    return view.Insights(7, org, teams, services, CARDS, {d.id: d for d in deploys},
                         owners={"a": "team-x", "b": "team-y", "c": "team-x"})


def test_key_detail_lists_the_deployments_counted_newest_first() -> None:
    insights = _insights()
    lines = [text for text, _ in view.key_detail(insights, "organisation", DEPLOYMENT_FREQUENCY)]
    counted = insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence
    assert lines[0].startswith("deployment frequency of the organisation, last 7 days: ")
    assert lines[2] == f"counted {len(counted)} deployments:"
    assert [line.split()[2] for line in lines[3:]] == [
        insights.deploys[d].service for d in reversed(counted)]
    rows = view.key_rows(insights, team="team-x")
    assert [r.key for r in rows] == ["organisation", "team:team-x", "service:a", "service:c"]
    assert view.key_detail(insights, "team:nobody", DEPLOYMENT_FREQUENCY) == [
        ("Nothing selected.", "dim")]
