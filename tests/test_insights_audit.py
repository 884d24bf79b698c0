"""The deploys made through idp-tui count in the Insights pane as in ``idp-tui dora`` (one merge:
``insights.audit_history.with_audit``): on a source without delivery history the audit trail's
deploy is the only one; on a source with history it counts once, as the source reports it. And
the pane's delivery history is asked once a day: the scorecards' days and the older ones apart,
never one range twice."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui import (
    ActionKind,
    ActionRequest,
    ActionState,
    Capability,
    DeliveryEvent,
    DeliveryHistory,
    HistoryQuery,
)
from idp_tui.api.clock import ManualClock
from idp_tui.audit import AuditLog
from idp_tui.cli.context import Context
from idp_tui.cli.insights import dora
from idp_tui.cli.output import EXIT_OK, Output
from idp_tui.cli.parser import build_parser
from idp_tui.config import AppConfig, SourceSpec
from idp_tui.insights import view
from idp_tui.insights.audit_history import AUDIT_SOURCE, answered_by, with_audit
from idp_tui.insights.dora import DEPLOYMENT_FREQUENCY, Deploy, as_jsonable
from idp_tui.insights.scorecards import day_range
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes.insights import InsightsPane
from idp_tui.ui.tables import KeyedTable
from idp_tui_sandbox import SandboxConfig, SandboxSource

from conftest import T0
from fakes import (
    StaticConfig,
    StaticSource,
    app_config,
    data_settled,
    spec,
    wait_until,
    widget_text,
)
from test_cli_dora import run  # noqa: F401 - the fixture (``idp-tui`` on the sandbox)

SIZE = (160, 50)


class NoHistorySandbox(SandboxSource):
    """The sandbox as a system that keeps no delivery history (no ``delivery`` capability)."""

    capabilities = SandboxSource.capabilities - {Capability.DELIVERY}


def sandbox_config(tmp_path: Path, cls: type[SandboxSource]) -> AppConfig:
    settings = SandboxConfig(seed=7, database=str(tmp_path / "sandbox.sqlite3"),
                             action_speed=100_000)
    return AppConfig(path=None, sources=[SourceSpec(name="sandbox", type="sandbox", cls=cls,
                                                    config=settings, timeout=30.0)])


async def shown(pilot: Any, app: IdpApp) -> InsightsPane:
    await wait_until(pilot, lambda: data_settled(app), "the catalog")
    await pilot.press("6")
    pane = app.query_one(InsightsPane)
    await wait_until(pilot, lambda: pane.insights is not None and not pane.computing,
                     "the insights")
    return pane


async def deploy_through_idp_tui(app: IdpApp, action_id: str) -> None:
    manager = app.runtime.actions
    versions = await manager.versions("cart-service", "production")
    target = next(v.version for v in versions if not v.current)
    started = await manager.submit(ActionRequest(
        id=action_id, kind=ActionKind.DEPLOY, service="cart-service", environment="production",
        version=target, reason="ship it", confirmation="production"))
    done = await manager.wait(started.id)
    assert done.state is ActionState.SUCCEEDED, done.error


async def counted_again(pilot: Any, pane: InsightsPane) -> view.Insights:
    """ctrl+r (every source asked again) and the pane's new count."""
    before = pane.insights
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: pane.insights is not before and not pane.computing,
                     "the new count")
    assert pane.insights is not None
    return pane.insights


def cli_dora(config: AppConfig, data_dir: Path, clock: ManualClock, *args: str) -> Any:
    """``idp-tui dora --json ARGS`` on the same config, data dir and clock (its own runtime)."""
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args=build_parser().parse_args(["dora", "--json", *args]),
                  out=Output(json=True, stdout=out, stderr=err), folder=data_dir,
                  _config=config, _clock=clock)
    assert dora(ctx) == EXIT_OK, err.getvalue()
    return json.loads(out.getvalue())


def same_as_the_cli(insights: view.Insights, value: Any) -> None:
    """The organisation and every team as ``idp-tui dora --json --evidence`` counts them."""
    org, *teams = value["results"]
    assert org == {**as_jsonable(insights.organisation, evidence=True),
                   "coverage": insights.coverage_jsonable("organisation")}
    assert {t["name"]: t for t in teams} == {
        t.name: {**as_jsonable(t, evidence=True),
                 "coverage": insights.coverage_jsonable(f"team:{t.name}")}
        for t in insights.teams}


async def test_a_deploy_to_a_system_without_history_counts_from_the_audit_trail(
        tmp_path: Path, data_dir: Path, clock: ManualClock) -> None:
    config = sandbox_config(tmp_path, NoHistorySandbox)
    app = IdpApp(config, data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        assert pane.insights is not None
        assert pane.insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence == ()
        keys = pane.query_one("#insights-keys", KeyedTable)
        before = [str(c) for c in keys.get_row("service:cart-service")]
        await deploy_through_idp_tui(app, "ship-1")
        insights = await counted_again(pilot, pane)
        evidence = insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence
        assert list(evidence) == [f"{AUDIT_SOURCE}:ship-1"]
        service = insights.keys_of("service:cart-service")
        assert service is not None
        assert list(service.keys[DEPLOYMENT_FREQUENCY].evidence) == [f"{AUDIT_SOURCE}:ship-1"]
        assert insights.deploys[f"{AUDIT_SOURCE}:ship-1"].environment == "production"
        # The pane's row shows it (a frequency where there was none).
        after = [str(c) for c in keys.get_row("service:cart-service")]
        assert after[1] != before[1]
    # ``idp-tui dora`` counts the same, deploy for deploy.
    value = await asyncio.to_thread(cli_dora, config, data_dir, clock, "--window", "30d",
                                    "--evidence")
    same_as_the_cli(insights, value)


async def test_a_deploy_the_source_reports_too_counts_once(tmp_path: Path, data_dir: Path,
                                                            clock: ManualClock) -> None:
    config = sandbox_config(tmp_path, SandboxSource)
    app = IdpApp(config, data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        assert pane.insights is not None
        frequency = pane.insights.organisation.keys[DEPLOYMENT_FREQUENCY]
        seen = len(frequency.evidence)
        assert seen > 10  # the sandbox's own history
        await deploy_through_idp_tui(app, "ship-2")
        insights = await counted_again(pilot, pane)
        evidence = list(insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence)
        # As the sandbox reports it, not again from the audit trail.
        assert evidence.count("sandbox:action:ship-2") == 1
        assert not [e for e in evidence if e.startswith(f"{AUDIT_SOURCE}:")]
        assert len(evidence) == seen + 1
    value = await asyncio.to_thread(cli_dora, config, data_dir, clock, "--window", "30d",
                                    "--evidence")
    same_as_the_cli(insights, value)


# The merge itself ---------------------------------------------------------------------------------

def _trail(tmp_path: Path, *deploys: tuple[str, str, str, int]) -> AuditLog:
    """A trail of finished deploys: (action id, environment, source, minutes after T0)."""
    log = AuditLog(tmp_path / "audit.jsonl")
    for action_id, environment, source, minutes in deploys:
        for phase, extra in (("started", {}), ("finished", {"outcome": "succeeded"})):
            log.append({"action_id": action_id, "phase": phase, "action": "deploy",
                        "service": "orders", "environment": environment, "source": source,
                        "actor": "ana",
                        "time": (T0 + timedelta(minutes=minutes)).isoformat(), **extra})
    return log


def test_the_merge_leaves_out_what_an_answering_source_ran(tmp_path: Path) -> None:
    trail = _trail(tmp_path, ("a1", "production", "argo", 10), ("a2", "production", "sandbox", 20),
                   ("a3", "staging", "argo", 30), ("a4", "production", "argo", 200))
    own = [Deploy("sandbox:action:a2", "orders", "production", T0.timestamp() + 1200,
                  "succeeded", "deploy", (), "2.0")]
    query = HistoryQuery(start=T0, end=T0 + timedelta(hours=2))
    # The sandbox answered: its deploy counts once (its own row); argo's production deploy
    # in the range is added, not the one in staging nor the one after the range.
    deploys, incidents = with_audit(own, [], trail, query,
                                    answered_by(["sandbox"], []), ["production"])
    assert [d.id for d in deploys] == [f"{AUDIT_SOURCE}:a1", "sandbox:action:a2"]
    assert incidents == []
    # The sandbox failed: what it ran counts from the trail.
    failed = type("F", (), {"source": "sandbox"})()
    deploys, _ = with_audit([], [], trail, query, answered_by(["sandbox"], [failed]),
                            ["production"])
    assert [d.id for d in deploys] == [f"{AUDIT_SOURCE}:a1", f"{AUDIT_SOURCE}:a2"]
    # It failed, but its last answer (or a part of it) is still counted: its own row only.
    deploys, _ = with_audit(own, [], trail, query,
                            answered_by(["sandbox"], [failed], kept={"sandbox"}), ["production"])
    assert [d.id for d in deploys] == [f"{AUDIT_SOURCE}:a1", "sandbox:action:a2"]
    # Every environment (the CLI filters later); nothing to add: the very same lists.
    deploys, _ = with_audit([], [], trail, query, [], None)
    assert [d.id for d in deploys] == [f"{AUDIT_SOURCE}:{a}" for a in ("a1", "a2", "a3")]
    empty = HistoryQuery(start=T0 - timedelta(days=2), end=T0 - timedelta(days=1))
    rows: tuple[list[Deploy], list[Any]] = (own, [])
    found = with_audit(*rows, trail, empty, [], None)
    assert found[0] is own and found[1] is rows[1]


# Asked once a day ---------------------------------------------------------------------------------

class RecordingConfig(StaticConfig):
    days_ago: list[int] = [100, 2]


class HistorySource(StaticSource):
    """The static source with a deploy of ``alpha`` to prod each of ``days_ago``; it keeps the
    queries it was asked."""

    Config = RecordingConfig
    capabilities = StaticSource.capabilities | {Capability.DELIVERY}
    asked: list[tuple[datetime, datetime]] = []

    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        HistorySource.asked.append((query.start, query.end))
        now = self.context.clock.now()
        events = [DeliveryEvent(id=f"d{days}", service="alpha", environment="prod",
                                started=now - timedelta(days=days, minutes=5),
                                finished=now - timedelta(days=days))
                  for days in self.config.days_ago]  # type: ignore[attr-defined]
        return DeliveryHistory(deliveries=tuple(
            e for e in events if query.start <= e.finished < query.end))  # type: ignore[operator]


async def test_the_pane_asks_each_day_of_history_once(data_dir: Path,
                                                      clock: ManualClock) -> None:
    HistorySource.asked = []
    app = IdpApp(app_config(spec("recording", HistorySource)), data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        # The scorecards' 90 days (and today) and the days before them, apart: together the
        # pane's two 180-day windows, each day asked once.
        start, end = day_range(clock.now(), 2 * max(view.WINDOWS))
        recent, _ = day_range(clock.now(), 90)
        assert sorted(set(HistorySource.asked)) == [(start, recent), (recent, end)]
        assert sorted(HistorySource.asked) == sorted(set(HistorySource.asked))
        assert pane.insights is not None
        assert list(pane.insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence) == [
            "recording:d2"]
        await pilot.press("w", "w")  # 90 days, then 180: the older part counts too
        await wait_until(pilot, lambda: pane.insights is not None and pane.insights.days == 180
                         and not pane.computing, "the 180 days")
        assert list(pane.insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence) == [
            "recording:d100", "recording:d2"]
        assert len(HistorySource.asked) == 2  # a new window: counted again, not asked again


@pytest.mark.parametrize("days", [30, 180])
def test_history_topics_do_not_overlap(days: int) -> None:
    now = datetime(2026, 11, 25, 14, tzinfo=UTC)
    topics = view.history_topics(now, 2 * days)
    ranges = [t.args[2:] for t in topics]
    start, end = day_range(now, max(2 * days, 90))
    assert ranges[0][1] == end and min(r[0] for r in ranges) == start
    if len(ranges) == 2:
        assert ranges[1][1] == ranges[0][0]


def test_the_cli_counts_the_trails_older_deploys_in_every_run(run: Any, tmp_path: Path) -> None:
    # A deploy through idp-tui by a system no source here reads ("argo"), five days ago: the
    # next day's run keeps the sources' rows from the first and still counts it.
    (tmp_path / "data").mkdir()
    log = AuditLog(tmp_path / "data" / "audit.jsonl")
    for phase, at, more in (("started", "09:50", {}), ("finished", "10:00",
                                                       {"outcome": "succeeded"})):
        log.append({"action_id": "elsewhere-1", "phase": phase, "action": "deploy",
                    "service": "cart-service", "environment": "production", "source": "argo",
                    "actor": "ana", "time": f"2026-11-20T{at}:00+00:00", **more})
    for clock in ("2026-11-25T14:00:00Z", "2026-11-26T14:00:00Z"):
        result = run("dora", "--service", "cart-service", "--window", "30d", "--json",
                     clock=clock)
        assert result.returncode == EXIT_OK, result.stderr
        (found,) = json.loads(result.stdout)["results"]
        evidence = found["keys"]["deployment_frequency"]["evidence"]
        assert evidence.count(f"{AUDIT_SOURCE}:elsewhere-1") == 1, clock


class _UnreadableTrail:
    def records(self) -> Any:
        from idp_tui.audit import AuditError

        raise AuditError("the log is locked by another program", hint="try again")


async def test_an_unreadable_trail_is_said_and_the_sources_history_still_counts(
        data_dir: Path, clock: ManualClock) -> None:
    app = IdpApp(app_config(spec("recording", HistorySource)), data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        pane._trail = _UnreadableTrail  # type: ignore[method-assign]
        insights = await counted_again(pilot, pane)
        assert list(insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence) == [
            "recording:d2"]
        (failure,) = [f for f in insights.failures if f.source == AUDIT_SOURCE]
        assert "the log is locked by another program" in failure.message
        assert failure.hint == "try again"
        banner = widget_text(app, pane.query_one("#insights-errors"))
        assert "the audit trail could not be read" in banner
