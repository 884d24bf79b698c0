"""The hub: joining sources, caching, timeouts and isolation from sources that fail or hang.

Nothing here waits on the wall clock for a refresh to come round: the poll loops run on a
``ManualTimer`` the tests move on, and deliveries are awaited as events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes import (
    FailingSource,
    GarbageSource,
    HangingSource,
    StaticSource,
    context,
)

from idp_tui import LogQuery, ManualClock, Service, TopicKind, Window
from idp_tui.hub import (
    MAX_ABANDONED_CALLS,
    MIN_CHANGE_GAP,
    TRANSIENT_RETRY,
    Hub,
    ManualTimer,
    SourceRunner,
    Topic,
    merge_services,
)

#: A safety net for awaited events (seconds of the loop's time); no assertion is about time.
PATIENCE = 30.0


class Deliveries:
    """A watch's callback: the snapshots delivered, and a way to await the next ones."""

    def __init__(self) -> None:
        self.items: list = []
        self._event = asyncio.Event()

    def __call__(self, snapshot: object) -> None:
        self.items.append(snapshot)
        self._event.set()

    def __len__(self) -> int:
        return len(self.items)

    async def until(self, count: int) -> None:
        async def wait() -> None:
            while len(self.items) < count:
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(wait(), PATIENCE)


def runner(name: str, cls: type, tmp: Path, clock: ManualClock, timeout: float = 2.0,
           **settings: object) -> SourceRunner:
    return SourceRunner(name, name, cls(cls.Config(**settings), context(name, tmp, clock)), timeout)


@pytest.fixture
async def hub_factory(tmp_path: Path, clock: ManualClock):
    hubs: list[Hub] = []

    def make(*specs: tuple, **kwargs: object) -> Hub:
        runners = [runner(name, cls, tmp_path, clock, **settings) for name, cls, settings in specs]
        hub = Hub(runners, clock=clock, **kwargs)  # type: ignore[arg-type]
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


async def test_catalog_from_one_source(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}))
    snap = await hub.fetch(Topic.catalog())
    assert [s.name for s in snap.data] == ["alpha", "beta", "gamma"]
    assert all(s.sources == ("static",) for s in snap.data)
    assert snap.errors == {}
    assert hub.health["static"].state == "ok"
    assert hub.health["static"].latency is not None


async def test_failing_source_is_isolated(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}), ("bad", FailingSource, {}))
    snap = await hub.fetch(Topic.catalog())
    assert [s.name for s in snap.data] == ["alpha", "beta", "gamma"]
    assert snap.errors["bad"].error_class == "plugin error"
    assert "boom" in snap.errors["bad"].message
    env = await hub.fetch(Topic.environments())
    assert env.errors["bad"].error_class == "unreachable"
    assert env.errors["bad"].hint == "is it running?"
    assert hub.health["bad"].state == "error"
    assert hub.health["static"].state == "ok"


async def test_hanging_source_times_out_and_others_answer(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}), ("slow", HangingSource, {"timeout": 0.3}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    snap = await hub.fetch(Topic.catalog())
    assert loop.time() - started < 5
    assert [s.name for s in snap.data] == ["alpha", "beta", "gamma"]
    assert snap.errors["slow"].error_class == "timeout"


async def test_source_blocking_its_thread_does_not_block_the_hub(hub_factory) -> None:
    HangingSource.release.clear()
    hub = hub_factory(("static", StaticSource, {}), ("stuck", HangingSource,
                                                     {"timeout": 0.3, "block": True}))
    try:
        # The event loop running the hub keeps turning while the stuck source blocks its thread.
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)  # a turn of the loop
                ticks += 1

        task = asyncio.create_task(ticker())
        snap = await hub.fetch(Topic.catalog())
        task.cancel()
        assert ticks > 5
        assert snap.errors["stuck"].error_class == "timeout"
        assert len(snap.data) == 3
        # Calls keep failing fast, and stop queueing, while the source stays stuck.
        for _ in range(6):
            snap = await hub.fetch(Topic.catalog())
        assert snap.errors["stuck"].error_class in ("timeout", "not responding")
        assert snap.errors["stuck"].error_class == "not responding"
        assert hub.runners[1].abandoned == MAX_ABANDONED_CALLS
        assert hub.runners[1].pending == MAX_ABANDONED_CALLS
    finally:
        HangingSource.release.set()


async def test_a_source_answering_many_calls_at_once_is_never_refused(hub_factory) -> None:
    class Slow(StaticSource):
        async def services(self) -> list[Service]:
            await asyncio.sleep(0.05)
            return await super().services()

    hub = hub_factory(("slow", Slow, {}))
    runner = hub.runners[0]
    calls = 3 * MAX_ABANDONED_CALLS
    answers = await asyncio.gather(*(runner.call("services") for _ in range(calls)))
    assert [len(a) for a in answers] == [3] * calls
    assert runner.pending == 0 and runner.abandoned == 0


async def test_garbage_is_reported_as_malformed(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}), ("junk", GarbageSource, {}))
    catalog = await hub.fetch(Topic.catalog())
    assert catalog.errors["junk"].error_class == "malformed data"
    assert len(catalog.data) == 3
    envs = await hub.fetch(Topic.environments())
    assert envs.errors["junk"].error_class == "malformed data"
    assert "expected a list" in envs.errors["junk"].message
    runs = await hub.fetch(Topic.pipelines())
    assert runs.errors["junk"].error_class == "malformed data"
    metrics = await hub.fetch(Topic.metrics("alpha", "dev", Window.H1, 60))
    assert metrics.errors["junk"].error_class == "malformed data"
    assert metrics.data and metrics.data[0].unit == "req/s"


async def test_last_good_answer_is_kept_when_a_source_starts_failing(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}))
    first = await hub.fetch(Topic.catalog())
    source = hub.runners[0].source

    async def broken() -> list[Service]:
        raise RuntimeError("went away")

    source.services = broken  # type: ignore[method-assign]
    second = await hub.fetch(Topic.catalog())
    assert [s.name for s in second.data] == [s.name for s in first.data]
    assert second.errors["static"].message.endswith("went away")


async def test_watch_delivers_and_rearms_after_each_refresh(hub_factory) -> None:
    timer = ManualTimer()
    hub = hub_factory(("static", StaticSource, {}), intervals={"catalog": 60.0}, timer=timer)
    got = Deliveries()
    sub = hub.watch(Topic.catalog(), got)
    await got.until(1)
    for count in (2, 3):
        # Re-armed after the refresh finished: the next one is an interval after it started.
        await timer.until(lambda t: t.deadlines == [timer.now() + 60.0])
        timer.advance(59.0)
        assert timer.waiting == 1 and len(got) == count - 1  # not yet
        timer.advance(1.0)
        await got.until(count)
    assert [len(snap.data) for snap in got.items] == [3, 3, 3]
    sub.close()
    await timer.until(lambda t: t.waiting == 0)  # its poll loop is gone
    timer.advance(3600.0)
    assert len(got) == 3  # no more deliveries once unsubscribed


async def test_refresh_wakes_a_slow_poll(hub_factory) -> None:
    timer = ManualTimer()
    hub = hub_factory(("static", StaticSource, {}), intervals={"catalog": 3600}, timer=timer)
    got = Deliveries()
    hub.watch(Topic.catalog(), got)
    await got.until(1)
    await timer.until_waiting()
    timer.advance(1.0)  # later than MIN_CHANGE_GAP after the first refresh, far from the hour
    hub.refresh(Topic.catalog())
    await got.until(2)
    assert len(got) == 2


async def test_a_broken_subscriber_does_not_stop_others(hub_factory) -> None:
    timer = ManualTimer()
    hub = hub_factory(("static", StaticSource, {}), intervals={"catalog": 60.0}, timer=timer)
    got = Deliveries()

    def broken(_snap: object) -> None:
        raise ValueError("pane bug")

    hub.watch(Topic.catalog(), broken)
    hub.watch(Topic.catalog(), got)
    await got.until(1)
    await timer.until_waiting()
    timer.advance(60.0)
    await got.until(2)
    assert len(got) == 2


async def test_no_source_for_a_capability_says_so(tmp_path: Path, clock: ManualClock) -> None:
    hub = Hub([], clock=clock)
    snap = await hub.fetch(Topic.metrics("a", "b", Window.M15, 15))
    assert snap.errors["hub"].error_class == "no source"
    await hub.close()


async def _collect_logs(hub: Hub, query: LogQuery, want: int, errors: list) -> list:
    """``want`` lines and an error (or the end of every source's stream), then stop."""
    lines: list = []
    arrived = asyncio.Event()
    ended = asyncio.Event()

    def on_batch(batch: list, dropped: int) -> None:
        lines.extend(batch)
        arrived.set()

    def on_error(failure: object) -> None:
        errors.append(failure)
        arrived.set()

    stream = hub.stream_logs(query, on_batch, on_error, on_end=ended.set)

    async def enough() -> None:
        while not ((len(lines) >= want and errors) or ended.is_set()):
            arrived.clear()
            await asyncio.wait([asyncio.ensure_future(arrived.wait()),
                                asyncio.ensure_future(ended.wait())],
                               return_when=asyncio.FIRST_COMPLETED)

    try:
        await asyncio.wait_for(enough(), PATIENCE)
    finally:
        stream.cancel()
    return lines


async def test_logs_stream_in_batches_and_failures_are_reported(hub_factory) -> None:
    hub = hub_factory(("static", StaticSource, {}), ("bad", FailingSource, {}))
    errors: list = []
    lines = await _collect_logs(hub, LogQuery(service="alpha", environment="dev"), 3, errors)
    assert [line.instance for line in lines] == ["pod-0", "pod-1", "pod-2"]
    assert errors and errors[0].source == "bad" and "log boom" in errors[0].message


async def test_malformed_log_lines_are_skipped_and_reported(hub_factory) -> None:
    hub = hub_factory(("junk", GarbageSource, {}))
    errors: list = []
    lines = await _collect_logs(hub, LogQuery(service="alpha", environment="dev"), 1, errors)
    assert [line.message for line in lines] == ["still here"]
    assert errors[0].error_class == "malformed data"


def test_merge_services_first_source_wins_and_lists_union() -> None:
    a = Service(name="svc", owner="team-a", tags=("x",), sources=("a",))
    b = Service(name="svc", owner="team-b", language="go", tags=("x", "y"), sources=("b",),
                annotations={"k": "v"})
    c = Service(name="other", sources=("b",))
    merged = merge_services([[a], [b, c]])
    assert [s.name for s in merged] == ["other", "svc"]
    svc = merged[1]
    assert svc.owner == "team-a"
    assert svc.language == "go"
    assert svc.tags == ("x", "y")
    assert svc.sources == ("a", "b")
    assert svc.annotations == {"k": "v"}


async def test_a_source_saying_its_data_changed_is_refreshed_at_once(tmp_path: Path,
                                                                      clock: ManualClock) -> None:
    """SourceContext.changed (from any thread) wakes the topic's refresh; the hub spaces them."""
    import threading

    from idp_tui import SourceContext
    from idp_tui.hub import ChangeRelay

    context = SourceContext(name="static", data_dir=tmp_path, clock=clock,
                            notify=ChangeRelay("static"))
    source = StaticSource(StaticSource.Config(), context)
    timer = ManualTimer()
    hub = Hub([SourceRunner("static", "static", source, 2.0)], clock=clock,
              intervals={"environments": 3600.0}, timer=timer)
    try:
        snapshots = Deliveries()
        sub = hub.watch(Topic.environments(), snapshots)
        await snapshots.until(1)
        await timer.until(lambda t: t.deadlines == [3600.0])
        # Many changes at once, from another thread: one refresh, MIN_CHANGE_GAP after the last.
        thread = threading.Thread(target=lambda: [context.changed("environments")
                                                  for _ in range(50)])
        thread.start()
        thread.join()
        await timer.until(lambda t: t.deadlines == [MIN_CHANGE_GAP])
        assert len(snapshots) == 1
        timer.advance(MIN_CHANGE_GAP)
        await snapshots.until(2)
        await timer.until(lambda t: t.deadlines == [MIN_CHANGE_GAP + 3600.0])
        assert len(snapshots) == 2  # the 50 changes: one refresh
        context.changed(TopicKind.ENVIRONMENTS)  # the enum works as well as its value
        await timer.until(lambda t: t.deadlines == [2 * MIN_CHANGE_GAP])
        timer.advance(MIN_CHANGE_GAP)
        await snapshots.until(3)
        # A topic nobody watches is not fetched; an unknown topic is an error naming the known.
        context.changed("pipelines")
        await asyncio.sleep(0)
        assert hub.cached(Topic.pipelines()) is None
        with pytest.raises(ValueError, match=r"unknown topic kind 'nonsense' \(known: catalog, "
                                             r"environments, pipelines, pipeline_run, metrics"):
            context.changed("nonsense")
        sub.close()
    finally:
        await hub.close()


def test_log_line_maker_builds_the_same_records_and_checks_types() -> None:
    from datetime import UTC, datetime

    from idp_tui import LogLevel, LogLine

    make = LogLine.maker(service="cart", environment="staging", instance="cart-1")
    ts = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    line = make(ts, LogLevel.WARN, "slow [/] \x1b[31m")
    same = LogLine(ts=ts, service="cart", environment="staging", instance="cart-1",
                   level=LogLevel.WARN, message="slow [/] \x1b[31m")
    assert line == same
    assert line.model_dump() == same.model_dump()
    assert line.model_copy(update={"message": "x"}).message == "x"
    assert line.message == "slow [/] \x1b[31m"
    for bad in ((ts.replace(tzinfo=None), LogLevel.INFO, "m"), (ts, "info", "m"),
                (ts, LogLevel.INFO, b"m"), ("2026", LogLevel.INFO, "m")):
        with pytest.raises(TypeError):
            make(*bad)
    with pytest.raises(ValueError):
        LogLine.maker(service=3, environment="e", instance="i")  # type: ignore[arg-type]


async def test_a_partial_answer_is_shown_with_its_error(hub_factory) -> None:
    """PartialAnswer: the data the source could get is used, and what it could not is reported
    in the snapshot and the health view, as a failure."""
    from idp_tui import Deployment, PartialAnswer, SourceUnavailable

    class Partial(StaticSource):
        async def deployments(self) -> list[Deployment]:
            deps = await super().deployments()
            first = self.config.environments[0]  # type: ignore[attr-defined]
            raise PartialAnswer([d for d in deps if d.environment == first],
                                SourceUnavailable("cluster us-1 unreachable", hint="VPN?"))

    hub = hub_factory(("partial", Partial, {}))
    snap = await hub.fetch(Topic.environments())
    deployments = snap.data.deployments
    assert len(deployments) == 3
    assert {env for _svc, env in deployments} == {snap.data.environments[0].name}
    failure = snap.errors["partial"]
    assert (failure.error_class, failure.message, failure.hint) == \
        ("unreachable", "cluster us-1 unreachable", "VPN?")
    assert hub.health["partial"].state == "error"

    class Garbage(StaticSource):
        async def deployments(self) -> list[Deployment]:
            raise PartialAnswer("not a list", SourceUnavailable("down"))

    hub = hub_factory(("garbage", Garbage, {}))
    snap = await hub.fetch(Topic.environments())
    assert snap.errors["garbage"].error_class == "malformed data"


async def test_an_optional_method_a_source_lacks_is_asked_once(hub_factory) -> None:
    from idp_tui import NotSupported

    asked: list[str] = []

    class NoSignals(StaticSource):
        async def service_signals(self, query):  # type: ignore[no-untyped-def]
            asked.append(query.environment)
            raise NotSupported("no batched signals here")

    hub = hub_factory(("plain", NoSignals, {}))
    calls = hub.health["plain"].calls
    for _ in range(3):
        snap = await hub.fetch(Topic.signals("dev", ["alpha", "beta"]))
        assert snap.data == [] and snap.errors == {}
    assert asked == ["dev"]
    assert hub.health["plain"].calls == calls  # not counted as calls
    assert hub.health["plain"].state != "error"


async def test_metrics_queries_carry_the_services_catalog_annotations(hub_factory) -> None:
    from idp_tui import MetricSeries, MetricsQuery, Window

    seen: list[MetricsQuery] = []

    class Annotated(StaticSource):
        async def services(self) -> list[Service]:
            return [s.model_copy(update={"annotations": {"prometheus.io/selector": f"app={s.name}"}})
                    for s in await super().services()]

        async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
            seen.append(query)
            return []

    hub = hub_factory(("annotated", Annotated, {}))
    # Nobody asked for the catalog yet: the hub does first, to know who lists the service.
    await hub.fetch(Topic.metrics("alpha", "dev", Window.H1, 60.0))
    assert seen[-1].annotations == {"prometheus.io/selector": "app=alpha"}
    assert hub.cached(Topic.catalog()) is not None


async def test_a_rate_limited_source_is_not_called_until_it_said_and_data_is_kept(
        hub_factory, clock: ManualClock) -> None:
    from datetime import timedelta

    from idp_tui import Deployment, SourceRateLimited

    calls: list[str] = []

    class Limited(StaticSource):
        limited = False

        async def deployments(self) -> list[Deployment]:
            calls.append("deployments")
            if Limited.limited:
                raise SourceRateLimited("API rate limit exceeded",
                                        retry_at=clock.now() + timedelta(seconds=90))
            return await super().deployments()

    hub = hub_factory(("gh", Limited, {}))
    first = await hub.fetch(Topic.environments())
    assert first.data.deployments and not first.errors
    Limited.limited = True
    snap = await hub.fetch(Topic.environments())
    failure = snap.errors["gh"]
    assert failure.error_class == "rate limited"
    assert "API rate limit exceeded — waiting, next try at 14:01:30 UTC" == failure.message
    assert hub.health["gh"].state == "waiting"  # not an error: it said when to come back
    asked = len(calls)
    for _ in range(3):  # before the time it gave: the source is not called at all
        snap = await hub.fetch(Topic.environments())
        assert snap.errors["gh"].error_class == "rate limited"
    assert len(calls) == asked
    assert snap.data is not None  # (what it answered before is still shown)
    Limited.limited = False
    clock.advance(timedelta(seconds=91))
    snap = await hub.fetch(Topic.environments())
    assert len(calls) > asked and not snap.errors and snap.data.deployments
    assert hub.health["gh"].retry_at is None and hub.health["gh"].state == "ok"


async def test_sources_that_read_the_catalog_get_it_when_it_changes(hub_factory) -> None:
    import threading

    given: list[list[str]] = []
    handed = threading.Event()

    class Reader(StaticSource):
        async def use_catalog(self, services: list[Service]) -> None:
            given.append([s.name for s in services])
            handed.set()

    hub = hub_factory(("cat", StaticSource, {"names": ["a", "b"]}), ("reader", Reader, {}))
    await hub.fetch(Topic.catalog())
    assert await asyncio.to_thread(handed.wait, PATIENCE)
    await hub.fetch(Topic.catalog())  # unchanged: not handed over again
    for _ in range(2):  # round trips to the reader's loop, behind anything queued there
        await hub.runners[1].call("services")
    assert given == [["a", "alpha", "b", "beta", "gamma"]]


async def test_what_a_source_says_of_itself_reaches_the_health_view(
        tmp_path: Path, clock: ManualClock) -> None:
    from idp_tui import SourceContext
    from idp_tui.hub import StatusRelay

    relay = StatusRelay("s")
    source = StaticSource(StaticSource.Config(), SourceContext(
        name="s", data_dir=tmp_path, clock=clock, status=relay))
    hub = Hub([SourceRunner("s", "static", source, 2.0)], clock=clock)
    try:
        seen: list[dict[str, str]] = []
        hub.watch_health(lambda health: seen.append(dict(health["s"].details)))
        source.context.set_status("quota", "4,999 of 5,000 left")
        assert hub.health["s"].details == {"quota": "4,999 of 5,000 left"}
        assert seen[-1] == {"quota": "4,999 of 5,000 left"}
        source.context.set_status("quota", "")
        assert hub.health["s"].details == {}
    finally:
        await hub.close()


async def test_facets_from_a_source_or_counted_and_teams_and_detail_routed(
        hub_factory) -> None:
    from idp_tui import Facet, FacetValue, ServiceDetail, Team

    class Rich(StaticSource):
        async def catalog_facets(self) -> list[Facet]:
            return [Facet(field="owner", values=(FacetValue(value="team-a", count=7),))]

        async def teams(self) -> list[Team]:
            return [Team(name="team-a", title="A")]

        async def service_detail(self, name: str) -> ServiceDetail:
            return ServiceDetail(service=Service(name=name), facts={"asked": name})

    hub = hub_factory(("rich", Rich, {"names": ["alpha"]}), ("plain", StaticSource, {}))
    await hub.fetch(Topic.catalog())
    facets = {f.field: {v.value: v.count for v in f.values}
              for f in (await hub.fetch(Topic.facets())).data}
    # rich counted 7 itself; plain's three services are counted by the hub.
    assert facets["owner"] == {"team-a": 10}
    assert facets["tier"] == {"1": 1, "2": 1, "3": 1}
    teams = (await hub.fetch(Topic.teams())).data
    assert [(t.name, t.source) for t in teams] == [("team-a", "rich")]
    detail = (await hub.fetch(Topic.service_detail("alpha"))).data
    assert (detail.facts, detail.source) == ({"asked": "alpha"}, "rich")
    # beta is only known to plain, which has no detail: no answer, and no error.
    snap = await hub.fetch(Topic.service_detail("beta"))
    assert snap.data is None and not snap.errors


async def test_a_topic_whose_source_timed_out_is_asked_again_soon(hub_factory) -> None:
    from idp_tui import SourceUnavailable

    calls: list[int] = []

    class Flaky(StaticSource):
        async def services(self) -> list[Service]:
            calls.append(1)
            if len(calls) == 1:
                raise SourceUnavailable("did not answer within 8 s")
            return await super().services()

    timer = ManualTimer()
    hub = hub_factory(("flaky", Flaky, {}), intervals={"catalog": 3600.0}, timer=timer)
    seen = Deliveries()
    hub.watch(Topic.catalog(), seen)
    await seen.until(1)
    assert seen.items[0].errors["flaky"].error_class == "unreachable"
    # Not an hour later: the failure was worth a quick second try.
    await timer.until(lambda t: t.deadlines == [TRANSIENT_RETRY])
    timer.advance(TRANSIENT_RETRY)
    await seen.until(2)
    assert len(calls) == 2
    assert [x.name for x in seen.items[-1].data] == ["alpha", "beta", "gamma"]
    assert not seen.items[-1].errors
    await timer.until(lambda t: t.deadlines == [TRANSIENT_RETRY + 3600.0])  # then hourly


async def test_a_call_after_the_source_was_closed_is_refused_at_once(
        tmp_path: Path, clock: ManualClock) -> None:
    """A call that comes as the app quits (a pane refreshing) is refused with a sentence: its
    loop is stopped, so it would never run, never end, and never be awaited."""
    import gc
    import warnings

    from idp_tui.hub.failures import NotRespondingError

    runner = SourceRunner("static", "static", StaticSource(StaticSource.Config(),
                                                           context("static", tmp_path, clock)),
                          2.0)
    assert await runner.call("services")
    await runner.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NotRespondingError, match="static was closed"):
            await runner.call("services")
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
