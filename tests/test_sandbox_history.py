"""The sandbox's delivery history: seeded, persisted, a year of it, teams that differ, and it grows
with the deploys and rollbacks its actions run and as its clock moves on."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from conftest import T0

from idp_tui import ActionKind, ActionRequest, ActionState, HistoryQuery, ManualClock
from idp_tui.insights.dora import (
    CHANGE_FAILURE_RATE,
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME,
    Level,
    analyse,
    four_keys,
    rows_from_history,
)

YEAR = HistoryQuery(start=T0 - timedelta(days=366), end=T0 + timedelta(seconds=1))
FAST = 100_000.0


async def test_a_seeded_year_of_history_for_every_service_kept_in_its_database(make) -> None:
    source = await make(db="one.db")
    history = await source.delivery_history(YEAR)
    services = {s.name for s in await source.services()}
    production = [d for d in history.deliveries if d.environment == "production"]
    assert {d.service for d in production} == services  # every service reached production
    oldest = min(d.finished for d in history.deliveries)
    assert T0 - oldest > timedelta(days=360)
    assert {d.environment for d in history.deliveries} == {"staging", "production"}
    assert {d.outcome.value for d in production} == {"succeeded", "failed", "rolled_back"}
    assert all(d.commits and all(c.at <= d.finished for c in d.commits)
               for d in production if d.kind.value == "deploy")
    # Built without validation: the same records validation gives.
    from idp_tui import DeliveryEvent

    for event in production[:50]:
        assert event == DeliveryEvent.model_validate(event.model_dump())
    assert history.incidents and all(i.resolved and i.resolved > i.started
                                     for i in history.incidents)
    # Another database, the same seed: the same history.
    twin = await make(db="two.db")
    again = await twin.delivery_history(YEAR)
    assert [d.id for d in again.deliveries] == [d.id for d in history.deliveries]
    assert again == history
    # Started again on its file: read back, not generated again.
    await source.close()
    reopened = await make(db="one.db")
    _, _, store, _ = reopened._state()
    stored = store.connection.execute("SELECT count(*) FROM delivery_events").fetchone()[0]
    assert stored == len(history.deliveries)
    assert (await reopened.delivery_history(YEAR)) == history
    # One service, one environment.
    one = await reopened.delivery_history(YEAR.model_copy(update={
        "service": "cart-service", "environment": "production"}))
    assert one.deliveries and {(d.service, d.environment) for d in one.deliveries} == {
        ("cart-service", "production")}


async def test_teams_deliver_visibly_differently(make) -> None:
    source = await make()
    history = await source.delivery_history(YEAR)
    owners = {s.name: s.owner for s in await source.services()}
    deploys, incidents = rows_from_history(history, ["production"])
    facts = analyse(deploys, incidents)
    end = T0.timestamp()

    def team(name: str):
        return four_keys(facts, end=end, days=180, scope="team", name=name,
                         services={s for s, o in owners.items() if o == name})

    platform, data = team("team-platform"), team("team-data")
    assert platform.keys[DEPLOYMENT_FREQUENCY].value > 3  # several a day
    assert platform.keys[DEPLOYMENT_FREQUENCY].level is Level.ELITE
    assert data.keys[DEPLOYMENT_FREQUENCY].value < 0.5  # a few a month for the team
    assert platform.keys[CHANGE_FAILURE_RATE].value < 0.06
    assert data.keys[CHANGE_FAILURE_RATE].value > 0.25
    assert data.keys[CHANGE_FAILURE_RATE].level is Level.LOW
    assert platform.keys[LEAD_TIME].value < data.keys[LEAD_TIME].value / 10
    assert platform.level is not data.level
    levels = Counter(team(name).level for name in set(owners.values()))
    assert len(levels) >= 3  # not one level for all


async def test_the_history_grows_with_a_deploy_and_with_time(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock, action_speed=FAST)
    before = await source.delivery_history(YEAR)
    versions = await source.deploy_versions("cart-service", "production")
    target = versions[1].version
    events = [e async for e in source.run_action(ActionRequest(
        id="ship-it", kind=ActionKind.DEPLOY, service="cart-service", environment="production",
        version=target))]
    assert events[-1].state is ActionState.SUCCEEDED
    later = YEAR.model_copy(update={"end": clock.now() + timedelta(seconds=1)})
    after = await source.delivery_history(later)
    added = [d for d in after.deliveries if d.id == "action:ship-it"]
    assert len(added) == 1
    assert (added[0].service, added[0].environment, added[0].version, added[0].trigger) == (
        "cart-service", "production", target, "idp-tui")
    assert added[0].kind.value == "deploy" and added[0].outcome.value == "succeeded"
    # A week later the week is there too, generated once.
    clock.advance(timedelta(days=7).total_seconds())
    week = HistoryQuery(start=T0 + timedelta(minutes=5), end=clock.now())
    newer = await source.delivery_history(week)
    assert len(newer.deliveries) > 7  # platform alone deploys many times a day
    assert all(week.start <= d.finished < week.end for d in newer.deliveries)
    assert await source.delivery_history(week) == newer
    assert len(before.deliveries) + 1 == len(after.deliveries)
