"""The sandbox's delivery history: seeded, persisted, a year of it, teams that differ, the fleet's
own releases ending with what each environment was seeded with, and it grows with the deploys
and rollbacks its actions run."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from conftest import T0
from idp_tui_sandbox.pipelines import ANCHOR, WEEK

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
    # A week later: what the fleet did since it was seeded is what the actions did.
    clock.advance(timedelta(days=7).total_seconds())
    week = HistoryQuery(start=T0 - timedelta(minutes=5), end=clock.now())
    newer = await source.delivery_history(week)
    assert [d.id for d in newer.deliveries] == ["action:ship-it"]
    assert await source.delivery_history(week) == newer
    assert len(before.deliveries) + 1 == len(after.deliveries)


async def test_the_history_ships_the_fleets_releases_and_ends_with_what_runs(make) -> None:
    source = await make()
    history = await source.delivery_history(YEAR)
    world, pipelines, _, _ = source._state()
    running = {(d.service, d.environment): d for d in await source.deployments()}
    by_target: dict[tuple[str, str], list] = {}
    checked = rollbacks = 0
    for d in sorted(history.deliveries, key=lambda d: (d.finished, d.id)):
        by_target.setdefault((d.service, d.environment), []).append(d)
    for (service, environment), events in by_target.items():
        spec = world.get(service)
        # The newest in each environment is what the Environments pane shows there.
        assert events[-1].version == running[(service, environment)].version, service
        assert events[-1].finished <= T0
        # (The fleet looks up the versions built since its release runs' anchor only.)
        shipped = [e for e in events if e.kind.value == "deploy"
                   and e.started.timestamp() >= ANCHOR + WEEK]
        checked += len(shipped)
        for e in shipped:
            # A version the fleet's release runs made, built before it was deployed.
            run = pipelines.release_run(spec, e.version)
            assert run is not None and run.success_finish <= e.started.timestamp(), e
        if environment == "production":
            # Each deployment ships a newer release than the one before (no version twice).
            built = [pipelines.release_run(spec, e.version).success_finish for e in shipped]
            assert built == sorted(built) and len(set(built)) == len(built), service
            # A rollback returns to the version that ran before the deploy it undid.
            for i, e in enumerate(events):
                if e.kind.value == "rollback" and e.version \
                        and e.started.timestamp() >= ANCHOR + 3 * WEEK:
                    undone = max((d for d in events[:i] if d.kind.value == "deploy"
                                  and d.outcome.value != "succeeded"),
                                 key=lambda d: d.finished)
                    back = pipelines.release_run(spec, e.version)
                    gone = pipelines.release_run(spec, undone.version)
                    if back is not None and gone is not None:
                        assert back.success_finish < gone.success_finish, (e, undone)
                        rollbacks += 1
    assert checked > 0.8 * sum(1 for d in history.deliveries if d.kind.value == "deploy")
    assert rollbacks > 10
    assert len({(s, e) for s, e in by_target}) == len(running) - len(
        [k for k in running if k[1] not in ("staging", "production")])


async def test_the_history_under_the_platforms_environment_names(tmp_path, clock) -> None:
    # [environments] naming the sandbox's production "prod": the hub renames each record of its
    # history (a copy with another environment), and DORA counts them under "prod".
    from pathlib import Path

    from idp_tui.config import load_config
    from idp_tui.hub import Topic
    from idp_tui.runtime import build_runtime

    config = Path(tmp_path) / "config.toml"
    config.write_text('[environments.prod]\ntype = "production"\n'
                      'names = { sandbox = "production" }\n'
                      '[sources.sandbox]\ntype = "sandbox"\nservices = 6\n', encoding="utf-8")
    runtime = build_runtime(load_config(config, required=True), data_dir=tmp_path / "data",
                            clock=clock)
    try:
        snapshot = await runtime.hub.fetch(Topic.delivery(T0 - timedelta(days=30), T0))
    finally:
        await runtime.close()
    assert snapshot.errors == {}
    environments = Counter(e.environment for e in snapshot.data.deliveries)
    assert environments["prod"] > 0 and "production" not in environments
