"""The audit trail and a failing history in the Insights pane's counting (``insights.view``): the
trail is parsed once while it is unchanged (a load that finds no new record reads nothing), and
a source of delivery history that fails leaves the four keys of what only it knows unknown ("–",
no level), never a count of zero."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.api.clock import ManualClock
from idp_tui.audit import AuditLog
from idp_tui.hub.timing import ManualTimer
from idp_tui.insights import view
from idp_tui.insights.audit_history import AUDIT_SOURCE
from idp_tui.insights.dora import DEPLOYMENT_FREQUENCY, KEYS
from idp_tui.runtime import Runtime, build_runtime

from conftest import T0
from fakes import StaticSource, app_config, spec
from fakes_history import FailingHistorySource


class CountingLog(AuditLog):
    """The data dir's audit log, counting how often its records are read."""

    reads = 0

    def records(self) -> Iterator[dict[str, Any]]:
        self.reads += 1
        return super().records()


def deploy(log: AuditLog, action_id: str, minutes_ago: int) -> None:
    for phase, more in (("started", {}), ("finished", {"outcome": "succeeded"})):
        log.append({"action_id": action_id, "phase": phase, "action": "deploy",
                    "service": "alpha", "environment": "prod", "source": "argo",
                    "actor": "ana", "time": (T0 - timedelta(minutes=minutes_ago)).isoformat(),
                    **more})


@pytest.fixture
async def runtime_of(data_dir: Path, clock: ManualClock) -> AsyncIterator[Any]:
    made: list[Runtime] = []

    async def build(cls: type, name: str, **settings: Any) -> Runtime:
        rt = build_runtime(app_config(spec(name, cls, **settings)), data_dir=data_dir,
                           clock=clock, timer=ManualTimer())
        made.append(rt)
        await rt.prepare()
        return rt

    yield build
    for rt in made:
        await rt.close()


async def test_an_unchanged_trail_is_read_once(runtime_of: Any, data_dir: Path,
                                               clock: ManualClock) -> None:
    rt = await runtime_of(StaticSource, "static")
    log = CountingLog(data_dir / "trail.jsonl")
    deploy(log, "a1", 60)
    first = await view.gather(rt.hub, clock.now(), trail=log)
    again = await view.gather(rt.hub, clock.now(), trail=log)
    # Two loads (each the scorecards' facts and the four keys): the trail read once.
    assert log.reads == 1
    assert [d.id for d in first.deploys] == [d.id for d in again.deploys] == [
        f"{AUDIT_SOURCE}:a1"]
    deploy(log, "a2", 30)  # a new record: read again, and counted
    third = await view.gather(rt.hub, clock.now(), trail=log)
    assert log.reads == 2
    assert [d.id for d in third.deploys] == [f"{AUDIT_SOURCE}:a1", f"{AUDIT_SOURCE}:a2"]
    insights = view.compute(third, [], days=30)
    assert list(insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence) == [
        f"{AUDIT_SOURCE}:a1", f"{AUDIT_SOURCE}:a2"]


async def test_a_failing_history_is_not_known_not_zero(runtime_of: Any,
                                                       clock: ManualClock) -> None:
    rt = await runtime_of(FailingHistorySource, "history")
    inputs = await view.gather(rt.hub, clock.now())
    insights = view.compute(inputs, [], days=30)
    assert [f.source for f in insights.failures] == ["history"]
    said = "could not be read (history: unreachable: the history server is down)"
    for row in ("organisation", "team:team-a", "service:alpha"):
        keys = insights.keys_of(row)
        assert keys is not None and keys.level is None, row
        assert all(keys.keys[k].value is None for k in KEYS), row
        assert said in (insights.unknown(row) or ""), row
    (org, *_) = view.key_rows(insights)
    assert org.level[0] == "–" and {text for text, _ in org.cells} == {"–"}
    detail = view.key_detail(insights, "organisation", DEPLOYMENT_FREQUENCY)
    assert "not known" in detail[0][0] and said in detail[1][0]
    assert "services without delivery history" in view.summary(insights, team=None,
                                                                level=None)


async def test_no_catalog_and_no_history_is_not_known(runtime_of: Any,
                                                      clock: ManualClock) -> None:
    """The catalog fails too: no service is known, and the organisation is not known either
    (not a count of nothing)."""
    rt = await runtime_of(FailingHistorySource, "history", catalog_fails=True)
    insights = view.compute(await view.gather(rt.hub, clock.now()), [], days=30)
    assert insights.owners == {} and insights.organisation.level is None
    assert insights.organisation.keys[DEPLOYMENT_FREQUENCY].value is None
    assert insights.unknown("organisation") == (
        "no delivery history could be read (history: unreachable: the history server is down)")
