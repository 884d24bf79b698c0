"""Failures that will not fix themselves are asked again rarely: a repository that answers 404, a
refused token, counted in requests per minute against the GitHub API emulator
(tests/github_server.py, over real sockets) while the hub's timer and clock move on; transient
failures are still asked again soon; a finished run is not fetched again; the health view says
when the next try is and retries at once on a key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from conftest import T0
from idp_tui import (
    Backoff,
    Capability,
    ManualClock,
    PartialAnswer,
    RunStatus,
    Service,
    Source,
    SourceCredentialsRefused,
    SourceNotFound,
    SourceUnavailable,
)
from idp_tui.config import load_config
from idp_tui.hub import Hub, ManualTimer, Topic
from idp_tui.hub.failures import in_words
from idp_tui.runtime import Runtime, build_runtime

from fakes import app_config, screen_lines, spec, wait_until

OCTO, PAY, GHOST = "octo-org/octo-repo", "acme/payments", "nobody/ghost"
#: The pipelines' refresh interval (the default).
STEP = 5.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(OCTO, runs=6)
        server.add_repo(PAY, runs=4)
        yield server


def write_config(tmp_path: Path, gh: GithubServer, *, token: str = TOKEN,
                 repos: dict[str, str] | None = None) -> Path:
    repos = repos or {"checkout": OCTO, "payments": PAY}
    table = "\n".join(f'{name} = "{repo}"' for name, repo in repos.items())
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{token}"
environments = ["dev", "staging", "production"]

[sources.gh.repos]
{table}
''')
    return path


@pytest.fixture
async def runtimes(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Any]:
    made: list[Runtime] = []

    def make(config: Path, timer: ManualTimer | None = None) -> Runtime:
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        runtime = build_runtime(load_config(config, required=True), data_dir=data, clock=clock,
                                timer=timer or ManualTimer())
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.close()


class Watch:
    """The topics watched, their deliveries, and time moved on in steps of the poll interval."""

    def __init__(self, hub: Hub, timer: ManualTimer, clock: ManualClock, *topics: Topic) -> None:
        self.hub, self.timer, self.clock = hub, timer, clock
        self.got: dict[Topic, list[Any]] = {topic: [] for topic in topics}
        self.changed = asyncio.Event()
        for topic in topics:
            hub.watch(topic, self._deliver(topic))

    def _deliver(self, topic: Topic) -> Any:
        def deliver(snapshot: Any) -> None:
            self.got[topic].append(snapshot)
            self.changed.set()
        return deliver

    async def settle(self, counts: dict[Topic, int]) -> None:
        """Until each topic has more deliveries than ``counts`` and every poll loop waits."""
        async def wait() -> None:
            while not all(len(self.got[t]) > n for t, n in counts.items()):
                self.changed.clear()
                await self.changed.wait()
            await self.timer.until_waiting(len(self.got))

        await asyncio.wait_for(wait(), 30)

    async def start(self) -> None:
        await self.settle({topic: 0 for topic in self.got})

    async def run(self, seconds: float, step: float = STEP, *only: Topic) -> None:
        """Move the timer and the clock on by ``seconds``, each poll loop (of ``only`` the
        topics given) refreshing each step."""
        for _ in range(round(seconds / step)):
            counts = {topic: len(items) for topic, items in self.got.items()
                      if not only or topic in only}
            self.timer.advance(step)
            self.clock.advance(step)
            await self.settle(counts)

    def last(self, topic: Topic) -> Any:
        return self.got[topic][-1]


def seconds_of(gh: GithubServer, fragment: str) -> list[int]:
    """The seconds after T0 at which requests with ``fragment`` in their path came."""
    return sorted({round((when - T0).total_seconds())
                   for when, _m, path, _s in gh.answers if fragment in path})


# A missing repository ------------------------------------------------------------------------------

async def test_a_missing_repository_is_asked_rarely_and_the_others_every_refresh(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any) -> None:
    timer = ManualTimer()
    config = write_config(tmp_path, gh, repos={"checkout": OCTO, "payments": PAY, "ghost": GHOST})
    hub = runtimes(config, timer).hub
    watch = Watch(hub, timer, clock, Topic.pipelines())
    await watch.start()
    await watch.run(10 * 60)
    ghost = f"/repos/{GHOST}/actions/runs"
    # 30 s, then 1, 2, 4 min: five tries in ten minutes instead of 121, none in a row.
    assert seconds_of(gh, ghost) == [0, 30, 90, 210, 450]
    assert gh.per_minute(ghost, T0, 10) == [2, 1, 0, 1, 0, 0, 0, 1, 0, 0]
    # The good repositories are asked at every refresh (answered 304: free).
    assert gh.per_minute(f"/repos/{OCTO}/actions/runs", T0, 10) == [12] * 10
    assert len(seconds_of(gh, f"/repos/{PAY}/actions/runs")) == 121
    snapshot = watch.last(Topic.pipelines())
    assert {r.service for r in snapshot.data} == {"checkout", "payments"}
    failure = snapshot.errors["gh"]
    assert failure.error_class == "not found" and GHOST in failure.message
    assert "project-slug" in (failure.hint or "")


@pytest.mark.parametrize("status", [404, 403])
async def test_a_missing_or_forbidden_only_repository_backs_the_topic_off_in_the_hub(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any, status: int) -> None:
    timer = ManualTimer()
    repo = GHOST if status == 404 else PAY
    if status == 403:
        gh.repo_errors[PAY] = 403  # refused without a rate limit
    hub = runtimes(write_config(tmp_path, gh, repos={"it": repo}), timer).hub
    watch = Watch(hub, timer, clock, Topic.pipelines())
    await watch.start()
    assert hub.health["gh"].next_try == T0 + timedelta(seconds=30)
    await watch.run(10 * 60)
    assert seconds_of(gh, f"/repos/{repo}/") == [0, 30, 90, 210, 450]
    assert watch.last(Topic.pipelines()).errors["gh"].error_class == (
        "not found" if status == 404 else "error")


async def test_a_refresh_of_every_source_asks_a_backed_off_one_at_once(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any) -> None:
    """What the dashboard's refresh key and an action that succeeded call (the failure may be
    gone): the backed-off source is asked at once; the polls after it back off again."""
    timer = ManualTimer()
    hub = runtimes(write_config(tmp_path, gh, repos={"it": GHOST}), timer).hub
    watch = Watch(hub, timer, clock, Topic.pipelines())
    await watch.start()
    await watch.run(10)
    ghost = f"/repos/{GHOST}/"
    assert seconds_of(gh, ghost) == [0]
    counts = {Topic.pipelines(): len(watch.got[Topic.pipelines()])}
    hub.retry_now()
    await timer.until(lambda t: t.waiting == 1 and all(d < t.now() + 1 for d in t.deadlines))
    timer.advance(1.0)  # the poll loop spaces a wake-up from its last refresh
    clock.advance(1.0)
    await watch.settle(counts)
    assert seconds_of(gh, ghost) == [0, 11]
    await watch.run(20)  # polled again: still waiting out the (now longer) back-off
    assert seconds_of(gh, ghost) == [0, 11]


# A refused token -----------------------------------------------------------------------------------

async def test_a_refused_token_is_sent_again_after_30_s_then_less_and_less(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any) -> None:
    timer = ManualTimer()
    hub = runtimes(write_config(tmp_path, gh, token="ghp_refused"), timer).hub
    watch = Watch(hub, timer, clock, Topic.pipelines(), Topic.environments())
    await watch.start()
    health = hub.health["gh"]
    assert health.failure is not None and health.failure.error_class == "auth"
    assert "Bad credentials" in health.failure.message
    assert health.next_try is not None and (health.next_try - T0).total_seconds() == 30
    await watch.run(10 * 60)
    refused = [when for when, _m, _p, status in gh.answers if status == 401]
    assert len(refused) == len(gh.answers)
    # Every topic of the source waits together: one try at each moment, never in a row.
    assert seconds_of(gh, "/repos/") == [0, 30, 90, 210, 450]
    per_minute = gh.per_minute("/repos/", T0, 10)
    assert sum(per_minute[5:]) <= 4 and sum(per_minute) <= 20, per_minute  # was 96 in 37 s
    for topic in (Topic.pipelines(), Topic.environments()):
        assert watch.last(topic).errors["gh"].error_class == "auth"
    # The token is fixed; a retry now asks at once, and everything is back.
    gh.token = "ghp_refused"
    sent = len(gh.answers)
    counts = {topic: len(items) for topic, items in watch.got.items()}
    hub.retry_now("gh")
    await timer.until(lambda t: t.waiting == 2 and all(d < t.now() + 1 for d in t.deadlines))
    timer.advance(1.0)  # the poll loops space a wake-up from their last refresh
    clock.advance(1.0)
    await watch.settle(counts)
    assert len(gh.answers) > sent and health.next_try is None
    assert watch.last(Topic.pipelines()).errors == {}
    assert health.failure is None and health.state == "ok"


# What keeps today's pace ---------------------------------------------------------------------------

async def test_a_server_error_is_asked_again_soon(tmp_path: Path, gh: GithubServer,
                                                  clock: ManualClock, runtimes: Any) -> None:
    timer = ManualTimer()
    hub = runtimes(write_config(tmp_path, gh, repos={"payments": PAY}), timer).hub
    gh.repo_errors[PAY] = 502
    watch = Watch(hub, timer, clock, Topic.pipelines())
    await watch.start()
    await watch.run(60)
    assert gh.per_minute(f"/repos/{PAY}/actions/runs", T0, 1) == [12]
    assert watch.last(Topic.pipelines()).errors["gh"].error_class == "unreachable"
    assert hub.health["gh"].next_try is None


# Finished runs -------------------------------------------------------------------------------------

async def test_a_finished_run_is_not_fetched_again_a_running_one_is(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any) -> None:
    timer = ManualTimer()
    hub = runtimes(write_config(tmp_path, gh), timer).hub
    done = gh.repos[OCTO].runs[0]
    running = gh.add_run(PAY, held_at=3)
    finished, live = (Topic.pipeline_run("gh", f"{OCTO}:{done.id}"),
                      Topic.pipeline_run("gh", f"{PAY}:{running.id}"))
    once: list[Any] = []
    hub.watch(finished, once.append)
    watch = Watch(hub, timer, clock, live)
    await watch.start()
    await timer.until_waiting(2)
    assert len(once) == 1 and once[0].data.status.finished
    assert watch.last(live).data.status is RunStatus.RUNNING
    await watch.run(60, step=2.0)
    assert len(once) == 1 and timer.deadlines[-1] > timer.now() + 3600  # until woken
    assert len(seconds_of(gh, f"/actions/runs/{done.id}")) == 1  # the run and its jobs, once
    assert sum(1 for *_, path, _s in gh.answers if f"/actions/runs/{done.id}" in path) == 2
    assert len(seconds_of(gh, f"/actions/runs/{running.id}")) == 31  # every 2 s


async def test_a_finished_run_started_again_is_fetched_again(
        tmp_path: Path, gh: GithubServer, clock: ManualClock, runtimes: Any) -> None:
    timer = ManualTimer()
    hub = runtimes(write_config(tmp_path, gh), timer).hub
    done = gh.repos[OCTO].runs[0]
    run = Topic.pipeline_run("gh", f"{OCTO}:{done.id}")
    watch = Watch(hub, timer, clock, Topic.pipelines(), run)
    await watch.start()
    await watch.run(10, STEP, Topic.pipelines())
    assert len(watch.got[run]) == 1 and watch.last(run).data.attempt == 1
    with gh._lock:  # a re-run of every job: the next attempt, queued
        gh._rerun(gh.repos[OCTO], done, every=True)
    counts = {topic: len(items) for topic, items in watch.got.items()}
    timer.advance(STEP)
    clock.advance(STEP)
    await watch.settle(counts)  # the list shows the new attempt, which wakes the run
    assert watch.last(run).data.attempt == 2 and not watch.last(run).data.status.finished
    await watch.run(10)  # and, running, it is polled again
    assert len(watch.got[run]) >= 4


# The rules themselves ------------------------------------------------------------------------------

def test_a_back_off_doubles_to_ten_minutes_and_answers_sent_together_are_one_strike() -> None:
    backoff: Backoff[str] = Backoff()
    error = SourceNotFound("gone")
    waits = []
    now = 0.0
    for _ in range(8):
        entry = backoff.failed("repo", now, error)
        assert backoff.failed("repo", now + 0.5, error) is entry  # in flight together
        waits.append(entry.wait)
        assert backoff.waiting("repo", entry.due - 0.1) is entry
        assert backoff.waiting("repo", entry.due) is None
        now = entry.due
    assert waits == [30, 60, 120, 240, 480, 600, 600, 600]
    backoff.succeeded("repo")
    assert backoff.failed("repo", now, error).wait == 30
    assert backoff.forget() == ["repo"] and len(backoff) == 0
    assert [in_words(s) for s in (4, 59.6, 240, 3900, 7200)] == [
        "4 s", "1 min", "4 min", "1 h 5 min", "2 h"]


def test_which_failures_back_off() -> None:
    assert SourceNotFound("x").permanent and not SourceUnavailable("x").permanent
    refused = SourceCredentialsRefused("401")
    assert refused.permanent and refused.whole_source and refused.error_class == "auth"
    assert not SourceNotFound("x", permanent=False).permanent
    partial = PartialAnswer([], SourceNotFound("one repository", part="o/r"))
    assert partial.permanent and partial.part == "o/r"


class Locked(Source):
    """A catalog behind a refused token, which a test can fix."""

    capabilities = frozenset({Capability.CATALOG})
    calls = 0
    refused = True

    async def services(self) -> list[Service]:
        type(self).calls += 1
        if type(self).refused:
            raise SourceCredentialsRefused("401 from https://catalog.example.com",
                                           hint="Renew the token.")
        return [Service(name="alpha")]


async def test_the_health_view_says_when_the_next_try_is_and_retries_now(
        tmp_path: Path, clock: ManualClock) -> None:
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.screens import HealthScreen

    Locked.calls, Locked.refused = 0, True
    app = IdpApp(app_config(spec("locked", Locked)), data_dir=tmp_path, clock=clock)

    def shown() -> str:
        return "\n".join(screen_lines(app))

    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: Locked.calls >= 1, "the first call")
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        await wait_until(pilot, lambda: "Next try in 30 s · r: retry now" in shown(),
                         "the next try")
        clock.advance(150)  # the view says it in words as the clock goes
        app.hub.source_status("locked", "seen", "yes")
        await wait_until(pilot, lambda: "Next try in 0 s" in shown(), "the next try, later")
        Locked.refused = False
        calls = Locked.calls
        await pilot.press("r")
        await wait_until(pilot, lambda: Locked.calls > calls, "the retry")
        await wait_until(pilot, lambda: "No errors." in shown(), "the source answering")
        assert "Next try" not in shown()
        assert app.hub.health["locked"].next_try is None
