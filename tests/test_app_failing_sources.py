"""Sources that fail, hang, block their thread, return garbage or cannot even start, next to a
good one, end to end through the whole dashboard.

The good source's data must show in every pane; each bad source's error must show in the pane, in
the health bar and on the health screen (error class and hint); keys must keep working while a
source blocks its thread; and the app must never exit.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    FailingSource,
    GarbageSource,
    HangingSource,
    NaiveTimeSource,
    RaisingInitSource,
    RaisingStartSource,
    StaticSource,
    app_config,
    context,
    assert_alive,
    click_actions,
    data_settled,
    make_app,
    screen_lines,
    spec,
    unsafe_chars,
    wait_until,
    widget_text,
)

from idp_tui import SourceUnavailable
from idp_tui.hub import MESSAGE_MAX, Hub, SourceRunner, Topic, classify
from idp_tui.ui.app import HealthBar
from idp_tui.ui.screens import HealthScreen, HelpScreen

GOOD = ["alpha", "beta", "gamma"]

#: Error class(es) each bad source may show (a source failing different calls in different ways
#: shows its latest failure).
EXPECTED = {
    "bad": {"plugin error", "unreachable"},
    "hang": {"timeout", "not responding"},
    "junk": {"malformed data"},
}


@pytest.fixture
def hanging() -> Iterator[type[HangingSource]]:
    """HangingSource blocks its thread until released: released at the end whatever happens."""
    HangingSource.release.clear()
    yield HangingSource
    HangingSource.release.set()


def mixed_config(**ui: Any) -> Any:
    return app_config(
        spec("static", StaticSource),
        spec("bad", FailingSource),
        spec("hang", HangingSource, timeout=0.1, block=True),
        spec("junk", GarbageSource),
        ui=ui or None,
    )


def one(app: Any, selector: str) -> Any:
    return app.screen.query_one(selector)


def banner_errors(app: Any, pane: str) -> dict[str, str]:
    """``{source: error class}`` as the pane's error banner lists them (one line each)."""
    banner = one(app, f"#{pane}-errors")
    if not banner.display:
        return {}
    return dict(re.findall(r"^✖ (\S+) ([a-z ]+?):", banner.content.plain, re.MULTILINE))


def check_screen(app: Any) -> None:
    assert_alive(app)
    assert unsafe_chars("\n".join(screen_lines(app))) == []
    assert click_actions(app) == []


async def show_pane(pilot: Any, key: str, pane: str) -> None:
    await pilot.press(key)
    await wait_until(pilot, lambda: pilot.app.current_pane.id == f"{pane}-pane", f"the {pane} pane")
    await wait_until(pilot, lambda: data_settled(pilot.app), f"the {pane} pane's data")


async def test_good_source_shows_everywhere_while_others_fail_hang_or_send_garbage(
        data_dir: Path, clock: Any, hanging: type[HangingSource]) -> None:
    app = make_app(mixed_config(), data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        try:
            await wait_until(pilot, lambda: data_settled(app), "the catalog")
            hang = app.hub.runners[2]
            assert hang.name == "hang"

            # Catalog: only the good source's services; the others' errors above the table.
            await wait_until(pilot, lambda: set(banner_errors(app, "catalog")) == set(EXPECTED),
                             "every bad source's catalog error")
            assert one(app, "#catalog-table").keys == GOOD
            for source, error_class in banner_errors(app, "catalog").items():
                assert error_class in EXPECTED[source], (source, error_class)
            check_screen(app)

            # The health bar: the good source ok, every other one with its error class.
            await wait_until(pilot, lambda: all(app.hub.health[name].state == "error"
                                                for name in EXPECTED), "every bad source to fail")
            bar = widget_text(app, app.query_one(HealthBar))
            assert "● static" in bar
            for source, classes in EXPECTED.items():
                assert re.search(rf"✖ {source} ({'|'.join(classes)})", bar), (source, bar)

            # Every pane still works from the good source while the stuck one blocks its thread.
            await show_pane(pilot, "2", "envs")
            assert one(app, "#envs-table").keys == GOOD
            assert "Service" in widget_text(app, one(app, "#envs-table"))
            assert set(banner_errors(app, "envs")) == set(EXPECTED)
            check_screen(app)

            await show_pane(pilot, "3", "pipelines")
            assert [key.split("\x1f")[0] for key in one(app, "#pipelines-table").keys] \
                == ["static"] * 3
            await wait_until(pilot, lambda: set(banner_errors(app, "pipelines")) == set(EXPECTED),
                             "the pipelines errors")
            assert "Jobs" in widget_text(app, one(app, "#pipelines-detail-body"))
            check_screen(app)

            await show_pane(pilot, "5", "metrics")
            await wait_until(pilot, lambda: set(banner_errors(app, "metrics")) == set(EXPECTED),
                             "the metrics errors")
            assert "now 10 req/s" in widget_text(app, one(app, "#metrics-grid"))
            check_screen(app)

            await show_pane(pilot, "4", "logs")
            view = one(app, "#logs-view")
            await wait_until(pilot, lambda: view.total == 4, "the good lines of every source")
            lines = widget_text(app, view)
            for instance in ("pod-0", "pod-1", "pod-2", "pod-x"):
                assert instance in lines
            assert "still here" in lines  # the garbage source's one good line
            # Both failing streams are listed (the stuck one has not even started).
            await wait_until(pilot, lambda: banner_errors(app, "logs") == {
                "bad": "plugin error", "junk": "malformed data"}, "both log errors")
            check_screen(app)

            # Through all this the stuck source's thread never came back.
            assert not hanging.release.is_set()
            assert hang.pending >= 1
            assert_alive(app)
        finally:
            hanging.release.set()


async def test_health_screen_shows_each_error_class_and_hint(
        data_dir: Path, clock: Any, hanging: type[HangingSource]) -> None:
    app = make_app(mixed_config(), data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        try:
            await wait_until(pilot, lambda: all(app.hub.health[name].state == "error"
                                                for name in EXPECTED), "every bad source to fail")
            await pilot.press("H")
            await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "health screen")
            table = one(app, "#health-table")
            assert table.keys == ["static", "bad", "hang", "junk"]
            rows = widget_text(app, table)
            assert re.search(r"static .* ok ", rows)
            for source, classes in EXPECTED.items():
                assert re.search(rf"{source} .* error .*({'|'.join(classes)})", rows), rows
            detail = one(app, "#health-detail")
            assert "No errors." in widget_text(app, detail)  # the first row: the good source
            hints = {
                "plugin error": "see the log file",
                "unreachable": "is it running?",  # FailingSource's own hint
                "timeout": "did not answer in time",
                "not responding": "blocking its thread",
                "malformed data": "cannot read",
            }
            for source, classes in EXPECTED.items():
                await pilot.press("down")
                await wait_until(pilot, lambda s=source: table.cursor_key == s, source)
                await wait_until(pilot, lambda: "Hint:" in widget_text(app, detail),
                                 f"{source}'s hint")
                text = " ".join(widget_text(app, detail).split())
                error_class = text.split(":")[0]
                assert error_class in classes, (source, text)
                assert hints[error_class] in text, (source, text)
            check_screen(app)
            # ctrl+r asks every source again; the screen stays and keeps answering.
            await pilot.press("ctrl+r")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HealthScreen), "closing")
            assert_alive(app)
        finally:
            hanging.release.set()


async def test_a_source_blocking_its_thread_does_not_freeze_the_keys(
        data_dir: Path, clock: Any, hanging: type[HangingSource]) -> None:
    # A long timeout: the stuck call is still pending (not even timed out) while keys are pressed.
    config = app_config(spec("static", StaticSource),
                        spec("hang", HangingSource, timeout=3600, block=True))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        try:
            hang = app.hub.runners[1]
            await wait_until(pilot, lambda: hang.pending >= 1, "the stuck call")
            assert app.hub.health["hang"].state == "waiting"
            for key, pane in (("2", "envs"), ("3", "pipelines"), ("5", "metrics"), ("4", "logs"),
                              ("1", "catalog")):
                await pilot.press(key)
                await wait_until(pilot, lambda p=pane: app.current_pane.id == f"{p}-pane", pane)
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys screen")
            await pilot.press("escape")
            await pilot.press("colon", *"envs", "enter")
            await wait_until(pilot, lambda: app.current_pane.id == "envs-pane", ":envs")
            # The catalog and environments wait for every source, the stuck one included, so they
            # are still loading: the keys answered without them.
            assert app.catalog_snapshot is None
            assert not hanging.release.is_set() and hang.pending >= 1
            assert app.hub.health["hang"].state == "waiting"
            assert_alive(app)
        finally:
            hanging.release.set()


async def test_logs_stream_from_the_good_source_when_another_stream_raises(
        data_dir: Path, clock: Any, hanging: type[HangingSource]) -> None:
    config = app_config(spec("static", StaticSource, log_message="from the good one"),
                        spec("bad", FailingSource),
                        spec("hang", HangingSource, timeout=0.1, block=True))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        try:
            await wait_until(pilot, lambda: data_settled(app), "the catalog")
            await show_pane(pilot, "4", "logs")
            view = one(app, "#logs-view")
            await wait_until(pilot, lambda: view.total == 3, "the good source's lines")
            lines = widget_text(app, view)
            assert lines.count("from the good one") == 3
            await wait_until(pilot, lambda: banner_errors(app, "logs") == {"bad": "plugin error"},
                             "the failing stream's error")
            assert "log boom" in widget_text(app, one(app, "#logs-errors"))
            # Switching environment restarts the stream: the good lines come again, the error too.
            await pilot.press("e")
            await wait_until(pilot, lambda: view.total == 3 and app.environment == "dev",
                             "the stream of the next environment")
            await wait_until(pilot, lambda: "bad" in banner_errors(app, "logs"), "the error again")
            check_screen(app)
            assert not hanging.release.is_set()
            assert_alive(app)
        finally:
            hanging.release.set()


async def test_sources_that_fail_to_construct_or_start(data_dir: Path, clock: Any) -> None:
    config = app_config(spec("static", StaticSource),
                        spec("ctor", RaisingInitSource),
                        spec("starter", RaisingStartSource, names=["delta"]))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        await wait_until(pilot, lambda: len(banner_errors(app, "catalog")) == 2, "both errors")
        assert one(app, "#catalog-table").keys == GOOD  # not "delta": that source never started
        assert banner_errors(app, "catalog") == {"ctor": "error", "starter": "unreachable"}
        banner = " ".join(widget_text(app, one(app, "#catalog-errors")).split())
        assert "✖ ctor error: could not be created: bad [b]settings[/b] [@click=app.quit]x" \
            in banner
        assert "✖ starter unreachable: [Errno 111] cannot reach [@click=app.quit]x ␛[31mred␛[0m" \
            in banner
        check_screen(app)
        bar = widget_text(app, app.query_one(HealthBar))
        assert "✖ ctor error" in bar and "✖ starter unreachable" in bar and "● static" in bar

        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "health screen")
        detail = one(app, "#health-detail")
        await pilot.press("down")
        await wait_until(pilot, lambda: "Hint:" in widget_text(app, detail), "ctor's error")
        text = " ".join(widget_text(app, detail).split())
        assert text.startswith("error: could not be created:")
        assert "[b]settings[/b]" in text and "Fix the source's settings" in text
        await pilot.press("down")
        await wait_until(pilot, lambda: "unreachable:" in widget_text(app, detail), "starter's")
        assert "Check the URL" in widget_text(app, detail)
        check_screen(app)

        # Starting is retried on every call, and keeps failing the same way.
        calls = app.hub.health["starter"].calls
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.hub.health["starter"].calls > calls, "a retry")
        assert app.hub.health["starter"].failure.error_class == "unreachable"
        await pilot.press("escape")
        for key, pane in (("2", "envs"), ("3", "pipelines"), ("4", "logs"), ("5", "metrics")):
            await show_pane(pilot, key, pane)
            assert set(banner_errors(app, pane)) == {"ctor", "starter"}
        assert_alive(app)


async def test_naive_timestamps_from_one_source_do_not_break_the_others(
        data_dir: Path, clock: Any) -> None:
    config = app_config(spec("static", StaticSource),
                        spec("naive", NaiveTimeSource, names=["delta"]))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        await show_pane(pilot, "3", "pipelines")
        pane = app.query_one("#pipelines-pane")
        assert sorted(run.service for run in pane.runs) == ["alpha", "beta", "delta", "gamma"]
        assert all(run.started_at.tzinfo is not None for run in pane.runs)
        assert banner_errors(app, "pipelines") == {}
        table = widget_text(app, one(app, "#pipelines-table"))
        assert "delta" in table and "▶ running" in table and "10m00s" in table
        await show_pane(pilot, "2", "envs")
        assert "delta" in one(app, "#envs-table").keys
        check_screen(app)


# The hub's handling of what bad sources send ------------------------------------------------------

def test_error_messages_are_bounded_with_a_marker() -> None:
    failure = classify("src", SourceUnavailable("x" * 1_000_000, hint="h" * 10_000))
    assert len(failure.message) < MESSAGE_MAX + 30
    assert failure.message.endswith(f"… [+{1_000_000 - MESSAGE_MAX:,} chars]")
    assert failure.hint is not None and failure.hint.endswith(f"[+{10_000 - MESSAGE_MAX:,} chars]")
    plugin = classify("src", RuntimeError("[b]" * 100_000))
    assert plugin.error_class == "plugin error" and len(plugin.message) < MESSAGE_MAX + 30


async def test_each_new_failure_is_logged_once_and_safely(tmp_path: Path, clock: Any,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A source failing its calls in different ways is logged once per call, not on every poll,
    and the untrusted message reaches the log only escaped."""

    class TwoWays(StaticSource):
        async def services(self) -> Any:
            raise SourceUnavailable("down \x1b[2J\udcff")

        async def environments(self) -> Any:
            raise RuntimeError("boom")

    source = TwoWays(TwoWays.Config(), context("two", tmp_path, clock))
    hub = Hub([SourceRunner("two", "two", source, 2.0)], clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="idp_tui.hub"):
            for _ in range(3):
                await hub.fetch(Topic.catalog())
                await hub.fetch(Topic.environments())
        messages = [r.getMessage() for r in caplog.records if "failed in" in r.getMessage()]
        assert len(messages) == 2, messages
        assert all("\x1b" not in m and "\udcff" not in m for m in messages)
        assert any("\\x1b[2J" in m for m in messages)
    finally:
        await hub.close()


async def test_a_source_stays_in_error_while_any_of_its_calls_fails(tmp_path: Path,
                                                                    clock: Any) -> None:
    class CatalogOnly(StaticSource):
        broken = True

        async def services(self) -> Any:
            if self.broken:
                raise SourceUnavailable("catalog API down")
            return await super().services()

    source = CatalogOnly(CatalogOnly.Config(), context("half", tmp_path, clock))
    hub = Hub([SourceRunner("half", "half", source, 2.0)], clock=clock)
    try:
        await hub.fetch(Topic.catalog())
        await hub.fetch(Topic.environments())  # answers: the catalog still fails
        assert hub.health["half"].state == "error"
        assert hub.health["half"].failure.message == "catalog API down"
        source.broken = False
        await hub.fetch(Topic.catalog())
        assert hub.health["half"].state == "ok"
    finally:
        await hub.close()


async def drained(runner: SourceRunner) -> None:
    for _ in range(500):
        if runner.pending == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{runner.pending} calls still pending")


async def test_a_blocked_source_gets_no_more_calls_queued_until_it_recovers(
        tmp_path: Path, clock: Any, hanging: type[HangingSource]) -> None:
    source = HangingSource(HangingSource.Config(block=True), context("stuck", tmp_path, clock))
    runner = SourceRunner("stuck", "stuck", source, 0.05)
    hub = Hub([runner], clock=clock)
    try:
        errors = []
        for _ in range(8):
            snapshot = await hub.fetch(Topic.catalog())
            errors.append(snapshot.errors["stuck"].error_class)
        # Calls that timed out still occupy the blocked thread: after a few, the hub stops
        # queueing more and says why, instead of piling them up on the source's loop.
        assert runner.pending == 4
        assert errors[:4] == ["timeout"] * 4
        assert set(errors[4:]) == {"not responding"}
        assert hub.health["stuck"].failure.error_class == "not responding"
        hanging.release.set()
        # Unblocked, the source's loop drops the abandoned calls, and calls are made again.
        await drained(runner)
        snapshot = await hub.fetch(Topic.catalog())
        assert snapshot.errors["stuck"].error_class == "timeout"  # it hangs (asynchronously) again
        await drained(runner)  # a call abandoned on timeout is cancelled on the source's loop
    finally:
        hanging.release.set()
        await hub.close()


def test_naive_datetimes_are_taken_as_utc() -> None:
    from idp_tui import Job, PipelineRun, RunStatus
    from idp_tui.hub import _validate_list

    naive = datetime(2026, 11, 25, 13, 0)
    raw = [{"id": "1", "service": "s", "status": "running", "started_at": naive.isoformat(),
            "jobs": [{"name": "j", "status": "running", "started_at": naive.isoformat()}]},
           PipelineRun(id="2", service="s", status=RunStatus.QUEUED,
                       started_at=naive.replace(tzinfo=UTC),
                       jobs=(Job(name="j", status=RunStatus.QUEUED),))]
    runs = _validate_list(raw, PipelineRun, "runs")
    assert runs[0].started_at == naive.replace(tzinfo=UTC)
    assert runs[0].jobs[0].started_at == naive.replace(tzinfo=UTC)
    assert runs[1] is raw[1]  # nothing to change: the same record


def test_every_datetime_of_every_record_is_made_aware() -> None:
    # Only the fields that can hold a datetime are looked at: each record type's datetimes, at
    # any depth, are among them.
    from idp_tui import Deployment, Environment, Job, PipelineRun, RunStatus, Step
    from idp_tui.api import actions, models
    from idp_tui.hub import _dated_fields, _validate_one

    for module in (models, actions):
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, models.Record) \
                    and cls.__module__ == module.__name__:
                direct = {name for name, field in cls.model_fields.items()
                          if "datetime.datetime" in str(field.annotation)}
                assert direct <= set(_dated_fields(cls)), cls
    assert set(_dated_fields(PipelineRun)) == {"started_at", "finished_at", "jobs", "created_at"}
    assert _dated_fields(models.Service) == ()

    naive = datetime(2026, 11, 25, 13, 0)
    aware = naive.replace(tzinfo=UTC)
    run = _validate_one({"id": "1", "service": "s", "status": "running", "started_at": naive,
                         "jobs": [{"name": "j", "status": "running", "steps": [
                             {"name": "a", "status": "succeeded", "started_at": naive,
                              "finished_at": naive}]}]}, PipelineRun, "runs")
    assert run.jobs[0].steps[0].started_at == aware and run.jobs[0].steps[0].finished_at == aware
    dep = _validate_one(Deployment(service="s", environment="e", version="1", updated_at=naive),
                        Deployment, "deployments")
    assert dep.updated_at == aware
    env = _validate_one({"name": "pr-1", "expires_at": naive.isoformat()}, Environment, "envs")
    assert env.expires_at == aware
    step = Step(name="a", status=RunStatus.QUEUED)
    assert _validate_one(Job(name="j", status=RunStatus.QUEUED, steps=(step,)), Job,
                         "jobs").steps[0] is step


class FlakySource(StaticSource):
    """Answers until told to fail."""

    failing = False

    async def services(self) -> list[Any]:
        if FlakySource.failing:
            raise SourceUnavailable("the catalog went away")
        return await super().services()


async def test_the_banner_says_whether_a_failing_sources_last_answer_is_shown(
        data_dir: Path, clock: Any) -> None:
    FlakySource.failing = False
    app = make_app(app_config(spec("flaky", FlakySource), spec("bad", FailingSource)),
                   data_dir, clock)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_until(pilot, lambda: data_settled(app), "the catalog")
            banner = one(app, "#catalog-errors")

            def lines() -> dict[str, str]:
                return {line.split()[1]: line for line in banner.content.plain.splitlines()}

            await wait_until(pilot, lambda: "bad" in lines(), "the failing source's error")
            assert "RuntimeError: boom — no catalog from it yet" in lines()["bad"]
            assert "flaky" not in lines()

            FlakySource.failing = True
            app.hub.refresh(Topic.catalog())
            await wait_until(pilot, lambda: "flaky" in lines(), "the flaky source's error")
            assert "the catalog went away — showing the last catalog received" in lines()["flaky"]
            assert "RuntimeError: boom — no catalog from it yet" in lines()["bad"]
            assert one(app, "#catalog-table").keys == GOOD  # what flaky last sent
    finally:
        FlakySource.failing = False
