"""What goes wrong in the sandbox, every time: a rollout stuck on an image that cannot be pulled
(the version before it keeps serving) and a crash-looping service with its previous log; and log
lines that keep the name of the pod that wrote them when pods are replaced. Through the source
and through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from idp_tui import ActionKind, ActionRequest, ActionState, Deployment, Health, LogQuery, ManualClock
from idp_tui.cli.output import EXIT_OK
from idp_tui_sandbox import SandboxSource

from conftest import T0

FAST = 100_000.0


@pytest.fixture
def make(make):  # type: ignore[no-untyped-def]
    async def factory(**settings):  # type: ignore[no-untyped-def]
        settings.setdefault("action_speed", FAST)
        return await make(**settings)

    return factory


async def troubles(source: SandboxSource) -> tuple[Deployment, Deployment]:
    """A stuck rollout and a crash loop outside dev (where releases replace it), asserted to be
    there: the first of each."""
    deployments = await source.deployments()
    stuck = [d for d in deployments if d.rollout == "stuck"]
    crash = [d for d in deployments if d.health is Health.DOWN and d.message.startswith("CrashLoopBackOff")
             and d.environment != "dev"]
    assert stuck and crash, (stuck, crash)
    return stuck[0], crash[0]


async def logs(source: SandboxSource, dep: Deployment, tail: int = 400, **more: object) -> list:
    query = LogQuery(service=dep.service, environment=dep.environment, tail=tail, follow=False, **more)
    return [line async for batch in source.logs(query) for line in batch]


async def run(source: SandboxSource, request: ActionRequest) -> list:
    return [event async for event in source.run_action(request)]


def semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# At demo time ---------------------------------------------------------------------------------------

async def test_a_stuck_rollout_serves_the_version_before_with_the_new_pod_waiting(make) -> None:
    source = await make()
    stuck, _crash = await troubles(source)
    assert stuck.environment == "staging"
    assert stuck.target_version and semver(stuck.target_version) > semver(stuck.version)
    assert stuck.health is Health.DEGRADED and stuck.replicas_ready == stuck.replicas_desired == 2
    assert "ImagePullBackOff" in stuck.message and stuck.target_version in stuck.message
    assert stuck.updated_at is not None and stuck.updated_at <= T0 - timedelta(minutes=10)

    found = await source.instances(stuck.service, stuck.environment)
    serving = [i for i in found.instances if i.phase == "Running"]
    waiting = [i for i in found.instances if i.phase == "Pending"]
    assert len(serving) == 2 and all(i.ready == 1 and i.images[0].endswith(f":{stuck.version}") for i in serving)
    (pod,) = waiting
    assert pod.reason == "ImagePullBackOff" and pod.images[0].endswith(f":{stuck.target_version}")
    assert pod.containers[0].state == "waiting" and "Back-off pulling image" in pod.containers[0].message
    assert {e.reason for e in found.events} >= {"Failed", "BackOff", "ProgressDeadlineExceeded"}
    # The pod that waits writes nothing: the lines come from those that serve.
    assert {line.instance for line in await logs(source, stuck)} == {i.name for i in serving}


async def test_a_crash_loop_counts_its_restarts_and_keeps_its_previous_log(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock)
    _stuck, crash = await troubles(source)
    assert crash.environment == "staging" and crash.replicas_ready == 0
    before = await source.instances(crash.service, crash.environment)
    assert all(i.reason == "CrashLoopBackOff" and i.ready == 0 for i in before.instances)
    assert all(i.containers[0].last_reason == "Error" for i in before.instances)
    clock.advance(timedelta(minutes=20))
    after = await source.instances(crash.service, crash.environment)
    assert [i.name for i in after.instances] == [i.name for i in before.instances]
    assert all(a.restarts > b.restarts for a, b in zip(after.instances, before.instances, strict=True))

    previous = await logs(source, crash, tail=100, previous=True)
    assert {line.instance for line in previous} == {i.name for i in after.instances}
    ends = [line.message for line in previous if line.instance == after.instances[0].name]
    assert ends[-2:] == [f'FATAL startup failed: secret "{crash.service}-db-credentials" not found',
                         "exit code 1"]
    assert ends[0] == f"starting {crash.service} (restart {after.instances[0].restarts})"


async def test_the_troubles_are_the_seeds_every_time_and_last(make) -> None:
    clock = ManualClock(T0)
    first = await make(db="a.db", clock=clock)
    seen = await troubles(first)
    assert await troubles(await make(db="b.db", clock=clock)) == seen  # the same seed, the same troubles
    for seed, services in ((8, 40), (3, 12), (11, 300)):  # other seeds and sizes have theirs
        other = await troubles(await make(db=f"s{seed}.db", seed=seed, services=services, clock=clock))
        assert other[0].service != other[1].service
    # As time goes by and after a restart of the sandbox, they stay (staging has no CD).
    clock.advance(timedelta(hours=9))
    stuck, crash = await troubles(first)
    assert (stuck.version, stuck.target_version, crash.version) == (
        seen[0].version, seen[0].target_version, seen[1].version)
    await first.close()
    reopened = await make(db="a.db", clock=clock)
    assert await troubles(reopened) == (stuck, crash)


async def test_rolling_back_a_stuck_rollout_keeps_what_serves_and_its_version_cannot_be_deployed(make) -> None:
    source = await make()
    stuck, _crash = await troubles(source)
    where = {"service": stuck.service, "environment": stuck.environment}
    again = await run(source, ActionRequest(id="again", kind=ActionKind.DEPLOY, version=stuck.target_version,
                                            **where))
    assert again[-1].state is ActionState.FAILED and "ErrImagePull" in again[-1].message
    assert (await troubles(source))[0].target_version == stuck.target_version

    plan = await source.plan_action(ActionRequest(id="p", kind=ActionKind.ROLLBACK, **where))
    assert plan.target_version == stuck.version
    assert any(f"rollout of {stuck.target_version} is stuck" in note for note in plan.notes)
    done = await run(source, ActionRequest(id="back", kind=ActionKind.ROLLBACK, **where))
    assert done[-1].state is ActionState.SUCCEEDED, done[-1].message
    dep = next(d for d in await source.deployments()
               if (d.service, d.environment) == (stuck.service, stuck.environment))
    assert (dep.version, dep.rollout, dep.target_version, dep.health) == (stuck.version, "", None, Health.HEALTHY)
    assert all(i.phase == "Running" for i in (await source.instances(stuck.service, stuck.environment)).instances)


async def test_a_restart_keeps_a_stuck_rollout_stuck(make) -> None:
    source = await make()
    stuck, _crash = await troubles(source)
    done = await run(source, ActionRequest(id="r", kind=ActionKind.RESTART, service=stuck.service,
                                           environment=stuck.environment))
    assert done[-1].state is ActionState.SUCCEEDED
    after, _ = await troubles(source)
    assert (after.version, after.target_version) == (stuck.version, stuck.target_version)


# Pod names kept -------------------------------------------------------------------------------------

async def test_log_lines_keep_the_name_of_the_pod_that_wrote_them(make) -> None:
    clock = ManualClock(T0)
    source = await make(clock=clock)
    dep = next(d for d in await source.deployments()
               if (d.service, d.environment) == ("cart-service", "production"))
    where = {"service": dep.service, "environment": dep.environment}
    first = [i.name for i in (await source.instances(**where)).instances]
    assert len(first) == dep.replicas_desired == 5

    # One instance replaced: its older lines keep its name, the newer ones name its successor.
    replaced = await run(source, ActionRequest(id="one", kind=ActionKind.RESTART_INSTANCE,
                                               params={"instance": first[0]}, **where))
    assert replaced[-1].state is ActionState.SUCCEEDED
    successor = next(i.name for i in (await source.instances(**where)).instances if i.name not in first)
    t1 = clock.now()
    clock.advance(timedelta(seconds=30))
    lines = await logs(source, dep, tail=4000)
    assert lines[0].ts < T0 - timedelta(minutes=1)
    assert {line.instance for line in lines if line.ts <= t1} == set(first)
    assert {line.instance for line in lines if line.ts > t1} == {successor, *first[1:]}

    # Scaled in from 5 to 2: the lines of before still name all five, the later ones two.
    scaled = await run(source, ActionRequest(id="in", kind=ActionKind.SCALE, replicas=2, **where))
    assert scaled[-1].state is ActionState.SUCCEEDED
    t2 = clock.now()
    clock.advance(timedelta(seconds=30))
    lines = await logs(source, dep, tail=4000)
    assert lines[0].ts < T0 - timedelta(minutes=1)
    assert {line.instance for line in lines if line.ts <= t1} == set(first)
    assert {line.instance for line in lines if t1 < line.ts <= t2} == {successor, *first[1:]}
    later = {line.instance for line in lines if line.ts > t2}
    assert later == {i.name for i in (await source.instances(**where)).instances} and len(later) == 2

    # A restart replaces them all: new names from then on, the old ones kept before.
    restarted = await run(source, ActionRequest(id="all", kind=ActionKind.RESTART, **where))
    assert restarted[-1].state is ActionState.SUCCEEDED
    t3 = clock.now()
    clock.advance(timedelta(seconds=30))
    lines = await logs(source, dep, tail=4000)
    assert {line.instance for line in lines if t2 < line.ts <= t3} == later
    newest = {line.instance for line in lines if line.ts > t3}
    assert len(newest) == 2 and newest.isdisjoint(later)
    assert newest == {i.name for i in (await source.instances(**where)).instances}


# Through the command line ---------------------------------------------------------------------------

def cli(tmp_path: Path, clock: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                          f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": clock, "NO_COLOR": "1"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True, text=True,
                            env=env, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_cli_shows_the_stuck_rollout_the_crash_loop_and_its_previous_log(tmp_path: Path) -> None:
    now = "2026-11-25T14:00:00Z"
    data = json.loads(cli(tmp_path, now, "envs", "--json").stdout)
    (stuck,) = [d for d in data["deployments"] if d.get("rollout") == "stuck"]
    (crash,) = [d for d in data["deployments"] if d["message"].startswith("CrashLoopBackOff")
                and d["environment"] == "staging"]
    table = cli(tmp_path, now, "envs").stdout
    assert f"{stuck['version']} (stuck rolling out {stuck['target_version']})" in table

    # A later start of the command line: the same troubles, the crash loop's restarts risen.
    later = "2026-11-25T15:00:00Z"
    shown = cli(tmp_path, later, "instances", stuck["service"], "--env", "staging")
    assert shown.returncode == EXIT_OK, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[2:5]]
    assert sorted(row[1:3] for row in rows) == [["0/1", "ImagePullBackOff"], ["1/1", "Running"],
                                                ["1/1", "Running"]]
    assert "ProgressDeadlineExceeded" in shown.stdout and "Failed to pull image" in shown.stdout
    pods = json.loads(cli(tmp_path, later, "instances", crash["service"], "--env", "staging",
                          "--json").stdout)["instances"]
    assert {p["reason"] for p in pods} == {"CrashLoopBackOff"}
    earlier = json.loads(cli(tmp_path, now, "instances", crash["service"], "--env", "staging",
                             "--json").stdout)["instances"]
    assert pods[0]["restarts"] > earlier[0]["restarts"]
    previous = cli(tmp_path, later, "logs", crash["service"], "--env", "staging", "--previous", "--tail", "4")
    assert previous.returncode == EXIT_OK, previous.stderr
    assert "FATAL startup failed: secret" in previous.stdout and "exit code 1" in previous.stdout
    advice = cli(tmp_path, later, "advise").stdout
    assert f"the rollout of {stuck['target_version']} is stuck" in advice
