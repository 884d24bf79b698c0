"""The sandbox's preview environments over time: pull requests keep opening previews after the
first start (seed 7, first started at T0), at most four alive at once, some worked on (deployed
again at each push), some left idle; the expired ones are removed with everything in them; the
same clock gives the same previews however the clock got there; extend and delete work on them.

The expectations were read off the schedule by hand (``preview_sim.py``: slot k of 5 h):
pr-10006 opened 11-25 19:50 for 48 h (pricing-engine and shipping-quotes, left idle), pr-10008
11-26 03:18 for 48 h (feature-flags, pushes at 04:53 and 11-27 07:41), pr-10052 11-28 10:02 for
72 h (cart-service, idle), pr-10072 11-29 08:41 for 48 h (idle), pr-10088 11-30 06:03 for 24 h
(session-store, pushes 11:57, 15:01, 16:34), pr-10093 11-30 12:11 for 24 h.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from idp_tui import ActionKind, ActionRequest, ActionState, ManualClock
from idp_tui_sandbox import SandboxSource
from idp_tui_sandbox.preview_sim import MAX_ALIVE

from conftest import T0

FAST = 100_000.0
#: A fresh sandbox's previews (seed 7).
SEEDED = {"pr-3756", "pr-9870"}
#: Five days after the first start (2026-11-30 14:00 UTC): the previews alive then.
DAY5 = T0 + timedelta(days=5)
ALIVE_DAY5 = {"pr-10052", "pr-10072", "pr-10088", "pr-10093"}


def at(text: str) -> datetime:
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


async def previews(source: SandboxSource) -> dict[str, datetime]:
    """The preview environments the source reports: name → expiry (to the minute)."""
    return {e.name: e.expires_at.replace(second=0, microsecond=0)
            for e in await source.environments() if e.kind.value == "preview"}


async def preview_deployments(source: SandboxSource) -> dict[tuple[str, str], tuple[str, str]]:
    """(environment, service) → (version, when deployed, to the minute) in the previews."""
    return {(d.environment, d.service): (d.version, f"{d.updated_at:%m-%d %H:%M}")
            for d in await source.deployments() if d.environment.startswith("pr-")}


async def test_first_start_is_as_before_and_pull_requests_open_previews_later(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock)
    assert set(await previews(source)) == SEEDED
    assert len(await source.deployments()) == 120 + 4
    assert "previews_until" not in source._store.meta()  # nothing due at the first start

    clock.advance(timedelta(hours=5))  # 19:00: pr-9870 expired at 18:00, and is removed
    assert set(await previews(source)) == {"pr-3756"}
    store = source._store
    assert store.environment("pr-9870") is None
    assert not [r for r in store.resources() if r.environment == "pr-9870"]
    assert not [d for d in store.deployments() if d.environment == "pr-9870"]

    clock.advance(timedelta(hours=1))  # 20:00: the first pull request's preview
    assert await previews(source) == {"pr-3756": at("11-30 10:00"),
                                      "pr-10006": at("11-27 19:50")}
    deployed = await preview_deployments(source)
    assert {k: v[1] for k, v in deployed.items() if k[0] == "pr-10006"} == {
        ("pr-10006", "pricing-engine"): "11-25 19:51", ("pr-10006", "shipping-quotes"): "11-25 19:51"}
    [resource] = [r for r in await source.resources() if r.environment == "pr-10006"]
    assert resource.details["pull request"] == "#10006"
    assert resource.details["time to live"] == "48 h"

    # Every hour for two weeks: never more than four alive, never none; new ones keep coming.
    seen: set[str] = set()
    for _hour in range(14 * 24):
        clock.advance(timedelta(hours=1))
        alive = await previews(source)
        assert 1 <= len(alive) <= MAX_ALIVE, (clock.now(), alive)
        assert all(expires > clock.now() for expires in alive.values())
        seen |= set(alive)
    assert len(seen - SEEDED) >= 25
    # Expired ones leave nothing behind.
    names = {row.name for row in store.environments()}
    assert names == {"dev", "staging", "production"} | set(await previews(source))
    assert {d.environment for d in store.deployments()} <= names


async def test_a_preview_is_there_until_its_expiry_and_gone_with_everything_at_it(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock)
    store = source._store
    row = store.environment("pr-9870")
    assert row is not None and row.expires_at == (T0 + timedelta(hours=4)).timestamp()
    clock.set(T0 + timedelta(hours=4) - timedelta(seconds=1))
    assert "pr-9870" in await previews(source)
    assert {d.environment for d in await source.deployments()} >= {"pr-9870"}
    clock.set(T0 + timedelta(hours=4))  # its expiry: gone from what is reported and from the store
    assert "pr-9870" not in {r.environment for r in await source.resources()}
    assert set(await previews(source)) == {"pr-3756"}
    assert "pr-9870" not in {d.environment for d in await source.deployments()}
    assert store.environment("pr-9870") is None
    assert not [d for d in store.deployments() if d.environment == "pr-9870"]
    assert not [r for r in store.resources() if r.environment == "pr-9870"]
    assert store.environment("pr-3756") is not None  # the other one stays


async def test_days_later_the_previews_of_that_day_are_alive_worked_on_or_idle(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock)
    await source.environments()
    clock.set(DAY5)
    alive = await previews(source)
    assert alive == {"pr-10052": at("12-01 10:02"), "pr-10072": at("12-01 08:41"),
                     "pr-10088": at("12-01 06:03"), "pr-10093": at("12-01 12:11")}
    deployed = await preview_deployments(source)
    when = {k: v[1] for k, v in deployed.items()}
    assert when[("pr-10052", "cart-service")] == "11-28 10:03"  # left idle
    assert when[("pr-10072", "api-gateway")] == "11-29 08:42"  # left idle
    assert when[("pr-10088", "session-store")] == "11-30 11:57"  # pushed to since its opening
    assert when[("pr-10093", "spellcheck-service")] == "11-30 12:12"
    # A preview runs a release its service built (as dev ran it then).
    version, _ = deployed[("pr-10052", "cart-service")]
    assert version in {v for v, _built in source._state()[1].releases(
        source._spec("cart-service"), at("11-28 10:03").timestamp(), T0.timestamp() - 86400 * 30)}

    clock.advance(timedelta(hours=3))  # 17:00: pr-10088's push at 16:34
    assert (await preview_deployments(source))[("pr-10088", "session-store")][1] == "11-30 16:34"


async def test_the_same_clock_gives_the_same_previews_however_it_got_there(make) -> None:
    stepped_clock, jumped_clock = ManualClock(T0), ManualClock(T0)
    stepped = await make(clock=stepped_clock)
    jumped = await make(clock=jumped_clock)
    while stepped_clock.now() < DAY5:
        stepped_clock.advance(timedelta(minutes=37))
        await stepped.environments()
    stepped_clock.advance(DAY5 - stepped_clock.now())
    jumped_clock.advance(DAY5 - T0)
    assert set(await previews(stepped)) == set(await previews(jumped)) == ALIVE_DAY5
    assert await previews(stepped) == await previews(jumped)
    assert await preview_deployments(stepped) == await preview_deployments(jumped)


async def test_extend_and_delete_work_on_a_pull_requests_preview(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock, action_speed=FAST)
    assert set(await previews(source)) == SEEDED
    clock.advance(timedelta(hours=6))  # 20:00: pr-10006 is open
    events = [e async for e in source.run_action(ActionRequest(
        id="del-1", kind=ActionKind.DELETE_ENVIRONMENT, environment="pr-10006"))]
    assert events[-1].state is ActionState.SUCCEEDED, events[-1]
    assert "pr-10006" not in await previews(source)
    clock.advance(timedelta(hours=12))  # 11-26 08:00: it does not come back
    alive = await previews(source)
    assert set(alive) == {"pr-3756", "pr-10008", "pr-10014"}
    assert not [k for k in await preview_deployments(source) if k[0] == "pr-10006"]

    # pr-10008 (expires 11-28 03:18) is extended by two days: its pushes go on, and the TTL
    # controller removes it at its new expiry only.
    assert alive["pr-10008"] == at("11-28 03:18")
    events = [e async for e in source.run_action(ActionRequest(
        id="ext-1", kind=ActionKind.EXTEND, environment="pr-10008",
        params={"seconds": 2 * 86400}))]
    assert events[-1].state is ActionState.SUCCEEDED, events[-1]
    assert (await previews(source))["pr-10008"] == at("11-30 03:18")
    clock.set(at("11-28 12:00"))  # past its first expiry: kept, with its push of 11-27 07:41
    assert "pr-10008" in await previews(source)
    assert (await preview_deployments(source))[("pr-10008", "feature-flags")][1] == "11-27 07:41"
    clock.set(at("11-30 04:00"))  # past the new one: removed
    assert "pr-10008" not in await previews(source)
    assert source._store.environment("pr-10008") is None



async def test_extend_moves_the_expiry_alone_and_does_not_bring_back_a_deleted_preview(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock, action_speed=FAST)
    store = source._store
    before = store.environment("pr-3756")
    assert before is not None and before.expires_at is not None
    assert store.environment_owner("pr-3756") == "seeded-pr-3756"
    events = [e async for e in source.run_action(ActionRequest(
        id="ext-own", kind=ActionKind.EXTEND, environment="pr-3756", params={"seconds": 3600}))]
    assert events[-1].state is ActionState.SUCCEEDED, events[-1]
    after = store.environment("pr-3756")
    assert after is not None and after.expires_at == before.expires_at + 3600
    assert (after.name, after.order, after.kind, after.protected) == (
        before.name, before.order, before.kind, before.protected)
    assert store.environment_owner("pr-3756") == "seeded-pr-3756"  # its maker's, as before

    # Deleted while the extension runs: it fails, and the row is not written back.
    run = source.run_action(ActionRequest(id="ext-gone", kind=ActionKind.EXTEND,
                                          environment="pr-3756", params={"seconds": 3600}))
    seen = []
    async for event in run:
        seen.append(event)
        if event.message.startswith("Moving the expiry"):
            store.delete_environment("pr-3756")
    assert seen[-1].state is ActionState.FAILED and "deleted meanwhile" in seen[-1].message
    assert store.environment("pr-3756") is None and store.environment_owner("pr-3756") is None
    assert "pr-3756" not in await previews(source)


# Through the command line ------------------------------------------------------------------------

def test_envs_and_advise_on_a_sandbox_days_after_its_first_start(tmp_path: Path) -> None:
    """``idp-tui envs`` lists the previews (their cells never marked behind: previews are not in
    the promotion chain), and ``idp-tui advise --json`` five days after the first start still
    says which previews are about to expire and which are left idle."""
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "NO_COLOR": "1", "COLUMNS": "250"})

    def cli(clock: datetime, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env={**env, "IDP_TUI_CLOCK": clock.isoformat()},
                                timeout=180, check=False, stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = json.loads(cli(T0, "envs", "--json"))  # the first start
    assert [e["name"] for e in first["environments"]] == [
        "dev", "staging", "production", "pr-3756", "pr-9870"]

    listing = json.loads(cli(DAY5, "envs", "--json"))
    names = [e["name"] for e in listing["environments"]]
    assert names == ["dev", "staging", "production", *sorted(ALIVE_DAY5)]
    assert all(e["kind"] == "preview" and e["expires_at"] for e in listing["environments"][3:])
    preview = {(d["environment"], d["service"]): d["version"] for d in listing["deployments"]
               if d["environment"].startswith("pr-")}
    assert set(preview) == {("pr-10052", "cart-service"), ("pr-10072", "api-gateway"),
                            ("pr-10072", "auth-gateway"), ("pr-10088", "session-store"),
                            ("pr-10093", "spellcheck-service")}
    assert "behind" not in json.dumps(listing) and "drift" not in json.dumps(listing)

    table = cli(DAY5, "envs").splitlines()
    assert table[0].split() == ["SERVICE", "dev", "staging", "production*", *sorted(ALIVE_DAY5)]
    [row] = [line.split() for line in table if line.startswith("cart-service ")]
    assert row[4] == preview[("pr-10052", "cart-service")] and "↓" not in "".join(row)

    advice = json.loads(cli(DAY5, "advise", "--json"))
    assert advice["errors"] == []
    found = {(r["rule"], r["environment"]) for r in advice["recommendations"]
             if r["rule"].startswith("preview-")}
    # Within 24 h of expiry: all four; no deployment for 24 h: the two left idle.
    assert found == {("preview-expiring", name) for name in ALIVE_DAY5} | {
        ("preview-idle", "pr-10052"), ("preview-idle", "pr-10072")}
