"""DORA's four keys on small histories, with answers computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp_tui import Commit, DeliveryEvent, DeliveryHistory, Incident
from idp_tui.insights.dora import (
    CHANGE_FAILURE_RATE,
    DAY,
    DEPLOYMENT_FREQUENCY,
    HOUR,
    LEAD_TIME,
    MONTH,
    THRESHOLDS,
    TIME_TO_RESTORE,
    WEEK,
    Deploy,
    IncidentRow,
    Level,
    analyse,
    as_jsonable,
    four_keys,
    four_keys_by,
    level_of,
    rollup,
    rows_from_history,
)

END = 1_000 * DAY  # a round instant: windows are (END - days, END]


def at(days_before_end: float) -> float:
    return END - days_before_end * DAY


def deploy(id_: str, days_before_end: float, outcome: str = "succeeded", *, service: str = "a",
           env: str = "production", kind: str = "deploy", commits: tuple[float, ...] = ()
           ) -> Deploy:
    return Deploy(id_, service, env, at(days_before_end), outcome, kind, commits)


def test_each_key_on_a_small_history() -> None:
    # In the last 7 days: d1 (2 commits, 1 h and 3 h old), d2 failed (does not count as
    # deployed), then a rollback r1 6 hours later; d3 rolled back, restored by d4 2 hours later.
    rows = [
        deploy("d1", 6, commits=(at(6) - HOUR, at(6) - 3 * HOUR)),
        deploy("d2", 5, "failed", commits=(at(5) - HOUR,)),
        deploy("r1", 5 - 0.25, kind="rollback"),
        deploy("d3", 3, "rolled_back", commits=(at(3) - 5 * HOUR,)),
        deploy("d4", 3 - 2 / 24, commits=(at(3 - 2 / 24) - 2 * HOUR,)),
    ]
    result = four_keys(analyse(rows), end=END, days=7, scope="service", name="a",
                       services={"a"})
    keys = result.keys
    # Reached production: d1, d3, d4 → 3 in 7 days.
    assert keys[DEPLOYMENT_FREQUENCY].value == pytest.approx(3 / 7)
    assert keys[DEPLOYMENT_FREQUENCY].evidence == ("d1", "d3", "d4")
    # Leads: 1 h, 3 h (d1), 5 h (d3), 2 h (d4): median 2.5 h.
    assert keys[LEAD_TIME].value == pytest.approx(2.5 * HOUR)
    # Changes: d1 d2 d3 d4; failed: d2 (failed), d3 (rolled back) → 2/4.
    assert keys[CHANGE_FAILURE_RATE].value == pytest.approx(0.5)
    assert keys[CHANGE_FAILURE_RATE].reasons == {"d2": "failed", "d3": "rolled back"}
    # Restores: d2 → r1 (6 h), d3 → d4 (2 h): median 4 h.
    assert keys[TIME_TO_RESTORE].value == pytest.approx(4 * HOUR)
    assert keys[TIME_TO_RESTORE].evidence == ("d2", "d3")
    assert keys[DEPLOYMENT_FREQUENCY].level is Level.HIGH  # weekly-or-better, not daily
    assert keys[LEAD_TIME].level is Level.ELITE
    assert keys[CHANGE_FAILURE_RATE].level is Level.LOW
    assert keys[TIME_TO_RESTORE].level is Level.HIGH
    assert result.level is Level.LOW  # the lowest of the four
    assert result.unrestored == ()
    assert [w.deployments for w in result.weekly] == [3]


def test_an_incident_after_a_deployment_makes_it_a_failed_change() -> None:
    rows = [deploy("d1", 10), deploy("d2", 4), deploy("d3", 2)]
    incidents = [IncidentRow("a", None, at(4) + 3 * HOUR, id="INC-1"),  # 3 h after d2
                 IncidentRow("a", None, at(10) + 2 * DAY, id="INC-2")]  # too late for d1
    facts = analyse(rows, incidents)
    result = four_keys(facts, end=END, days=30)
    assert result.keys[CHANGE_FAILURE_RATE].value == pytest.approx(1 / 3)
    assert result.keys[CHANGE_FAILURE_RATE].reasons == {"d2": "incident INC-1"}
    # Restored by d3, 2 days after d2 minus the 3 h before the incident began.
    assert result.keys[TIME_TO_RESTORE].value == pytest.approx(2 * DAY - 3 * HOUR)
    # An incident in another environment blames nothing here.
    other = analyse(rows, [IncidentRow("a", "production-eu", at(4) + HOUR)])
    assert four_keys(other, end=END, days=30).keys[CHANGE_FAILURE_RATE].value == 0


def test_a_failure_not_restored_is_listed_not_timed() -> None:
    result = four_keys(analyse([deploy("d1", 3), deploy("d2", 1, "failed")]), end=END, days=7)
    assert result.keys[TIME_TO_RESTORE].value is None
    assert result.unrestored == ("d2",)


def test_trend_against_the_previous_period() -> None:
    # Previous 7 days: 1 deployment; this week: 2 (better), lead 1 h → 3 h (worse).
    rows = [deploy("old", 10, commits=(at(10) - HOUR,)),
            deploy("n1", 3, commits=(at(3) - 3 * HOUR,)), deploy("n2", 2)]
    keys = four_keys(analyse(rows), end=END, days=7).keys
    assert keys[DEPLOYMENT_FREQUENCY].previous == pytest.approx(1 / 7)
    assert keys[DEPLOYMENT_FREQUENCY].trend == "better"
    assert keys[LEAD_TIME].previous == pytest.approx(HOUR)
    assert keys[LEAD_TIME].trend == "worse"
    assert keys[CHANGE_FAILURE_RATE].trend == "same"  # 0 and 0
    assert keys[TIME_TO_RESTORE].trend is None  # nothing to restore in either


def test_a_window_ends_with_its_end() -> None:
    rows = [deploy("start", 7), deploy("end", 0), deploy("after", -0.001)]
    result = four_keys(analyse(rows), end=END, days=7)
    assert result.keys[DEPLOYMENT_FREQUENCY].evidence == ("end",)
    assert [w.deployments for w in result.weekly] == [1]


def test_an_empty_window() -> None:
    result = four_keys(analyse([deploy("old", 40)]), end=END, days=30)
    assert result.keys[DEPLOYMENT_FREQUENCY].value == 0
    assert result.keys[DEPLOYMENT_FREQUENCY].level is Level.LOW
    for key in (LEAD_TIME, CHANGE_FAILURE_RATE, TIME_TO_RESTORE):
        assert result.keys[key].value is None and result.keys[key].level is None
    assert result.level is Level.LOW
    assert [w.deployments for w in result.weekly] == [0, 0, 0, 0]
    nothing = four_keys([], end=END, days=7)
    assert nothing.keys[DEPLOYMENT_FREQUENCY].value == 0


def test_a_service_that_never_reached_production() -> None:
    history = DeliveryHistory(deliveries=(
        DeliveryEvent(service="b", environment="staging", id="s1",
                      started=datetime.fromtimestamp(at(2), UTC),
                      finished=datetime.fromtimestamp(at(2), UTC)),
        DeliveryEvent(service="a", environment="production", id="p1",
                      started=datetime.fromtimestamp(at(2), UTC) - timedelta(minutes=5),
                      finished=datetime.fromtimestamp(at(2), UTC),
                      commits=(Commit(sha="abc", at=datetime.fromtimestamp(at(3), UTC)),)),
        DeliveryEvent(service="a", environment="production", id="running",
                      started=datetime.fromtimestamp(at(1), UTC)),  # not finished: skipped
    ), source="s")
    deploys, _ = rows_from_history(history, ["production"])
    assert [d.id for d in deploys] == [":p1"]
    facts = analyse(deploys)
    b = four_keys(facts, end=END, days=30, scope="service", name="b", services={"b"})
    assert b.keys[DEPLOYMENT_FREQUENCY].value == 0
    assert b.keys[DEPLOYMENT_FREQUENCY].evidence == ()
    assert b.keys[LEAD_TIME].value is None
    a = four_keys(facts, end=END, days=30, services={"a"})
    assert a.keys[LEAD_TIME].value == pytest.approx(DAY)


def test_team_and_organisation_scopes() -> None:
    rows = [deploy("a1", 1, service="a"), deploy("b1", 1, service="b"),
            deploy("c1", 1, "failed", service="c")]
    facts = analyse(rows)
    team = four_keys(facts, end=END, days=7, scope="team", name="team-x", services={"a", "b"})
    org = four_keys(facts, end=END, days=7)
    assert team.keys[DEPLOYMENT_FREQUENCY].evidence == ("a1", "b1")
    assert team.keys[CHANGE_FAILURE_RATE].value == 0
    assert org.keys[CHANGE_FAILURE_RATE].value == pytest.approx(1 / 3)
    # All the groups at once: the same answers.
    owners = {"a": "team-x", "b": "team-x", "c": "team-y"}
    teams = four_keys_by(facts, owners.get, end=END, days=7, scope="team")
    assert list(teams) == ["team-x", "team-y"]
    assert teams["team-x"] == team
    assert teams["team-y"].keys[CHANGE_FAILURE_RATE].value == 1


def test_the_rollup_counts_like_each_scope_alone() -> None:
    """Services tallied once, teams merged from them, the organisation from the teams: the same
    numbers, levels, weeks and evidence (oldest first across services) as counting each scope on
    its own; a service of no team counts for the organisation only."""
    rows = [deploy("a1", 20, service="a", commits=(at(21),)),
            deploy("b1", 15, "failed", service="b", commits=(at(16),)),
            deploy("b2", 14.5, service="b", commits=(at(15), at(14.9))),
            deploy("a2", 9, "rolled_back", service="a", commits=(at(10),)),
            deploy("a3", 8.5, service="a", kind="rollback"),
            deploy("c1", 3, service="c", commits=(at(3.5),)),
            deploy("x1", 2, "failed", service="x"),
            deploy("b0", 40, service="b", commits=(at(41),))]  # the period before
    facts = analyse(rows, [IncidentRow("c", "production", at(2.9), at(2.5), "INC-1")])
    owners = {"a": "team-x", "b": "team-x", "c": "team-y"}
    counted = rollup(facts, owners.get, end=END, days=30)
    assert counted.organisation == four_keys(facts, end=END, days=30, name="organisation")
    assert counted.teams == four_keys_by(facts, owners.get, end=END, days=30, scope="team")
    assert counted.services == four_keys_by(facts, str, end=END, days=30, scope="service")
    org = counted.organisation
    assert org.keys[DEPLOYMENT_FREQUENCY].evidence == ("a1", "b2", "a2", "c1")
    assert org.keys[CHANGE_FAILURE_RATE].evidence == ("a1", "b1", "b2", "a2", "c1", "x1")
    assert org.keys[CHANGE_FAILURE_RATE].value == pytest.approx(4 / 6)  # b1, a2, c1 (INC-1), x1
    assert org.keys[TIME_TO_RESTORE].evidence == ("b1", "a2")  # c1 and x1: not restored
    assert org.unrestored == ("c1", "x1")
    assert sum(w.deployments for w in org.weekly) == 4
    assert counted.teams["team-x"].keys[DEPLOYMENT_FREQUENCY].evidence == ("a1", "b2", "a2")
    assert counted.teams["team-x"].keys[DEPLOYMENT_FREQUENCY].previous == pytest.approx(1 / 30)
    # Without the services: the same organisation and teams.
    teams_only = rollup(facts, owners.get, end=END, days=30, services=False)
    assert (teams_only.organisation, teams_only.teams) == (org, counted.teams)
    assert teams_only.services == {}


@pytest.mark.parametrize(("key", "value", "level"), [
    (DEPLOYMENT_FREQUENCY, 1.0, Level.ELITE), (DEPLOYMENT_FREQUENCY, 0.999, Level.HIGH),
    (DEPLOYMENT_FREQUENCY, 1 / 7, Level.HIGH), (DEPLOYMENT_FREQUENCY, 0.14, Level.MEDIUM),
    (DEPLOYMENT_FREQUENCY, 1 / 30, Level.MEDIUM), (DEPLOYMENT_FREQUENCY, 0.03, Level.LOW),
    (LEAD_TIME, DAY - 1, Level.ELITE), (LEAD_TIME, DAY, Level.HIGH), (LEAD_TIME, WEEK, Level.HIGH),
    (LEAD_TIME, WEEK + 1, Level.MEDIUM), (LEAD_TIME, MONTH, Level.MEDIUM),
    (LEAD_TIME, MONTH + 1, Level.LOW),
    (CHANGE_FAILURE_RATE, 0.0, Level.ELITE), (CHANGE_FAILURE_RATE, 0.05, Level.ELITE),
    (CHANGE_FAILURE_RATE, 0.051, Level.HIGH), (CHANGE_FAILURE_RATE, 0.10, Level.HIGH),
    (CHANGE_FAILURE_RATE, 0.15, Level.MEDIUM), (CHANGE_FAILURE_RATE, 0.151, Level.LOW),
    (TIME_TO_RESTORE, HOUR - 1, Level.ELITE), (TIME_TO_RESTORE, HOUR, Level.HIGH),
    (TIME_TO_RESTORE, DAY, Level.MEDIUM), (TIME_TO_RESTORE, WEEK, Level.MEDIUM),
    (TIME_TO_RESTORE, WEEK + 1, Level.LOW),
])
def test_each_level_boundary(key: str, value: float, level: Level) -> None:
    assert level_of(key, value) is level


def test_the_thresholds_are_ordered_best_first() -> None:
    for key, bounds in THRESHOLDS.items():
        assert [b.level for b in bounds] == [Level.ELITE, Level.HIGH, Level.MEDIUM], key
        limits = [b.limit for b in bounds]
        assert limits == sorted(limits, reverse=key == DEPLOYMENT_FREQUENCY), key
    assert level_of(LEAD_TIME, None) is None
    with pytest.raises(ValueError, match="unknown level 'gold'"):
        Level.parse("gold")


def test_the_json_form_names_the_evidence() -> None:
    result = four_keys(analyse([deploy("d1", 1), deploy("d2", 0.5, "failed")]), end=END, days=7)
    value = as_jsonable(result)
    assert value["keys"][CHANGE_FAILURE_RATE]["evidence"] == ["d1", "d2"]
    assert value["keys"][CHANGE_FAILURE_RATE]["reasons"] == {"d2": "failed"}
    assert value["keys"][DEPLOYMENT_FREQUENCY]["counted"] == 1
    assert value["level"] == "low"
    assert "evidence" not in as_jsonable(result, evidence=False)["keys"][LEAD_TIME]


def test_the_records_check_their_times() -> None:
    from pydantic import ValidationError

    from idp_tui import HistoryQuery

    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="finish before it started"):
        DeliveryEvent(service="a", environment="p", started=now, finished=now - timedelta(1))
    with pytest.raises(ValidationError, match="end is before its start"):
        HistoryQuery(start=now, end=now - timedelta(1))
    assert Incident(service="a", started=now).resolved is None
