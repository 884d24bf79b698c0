"""The Insights pane on the organisation's store (``[store] kind = "postgres"``): a deploy made
through idp-tui to a system without delivery history counts from the store's trail, as
``idp-tui dora`` counts it; this machine's data dir has no log at all. A real, throw-away
PostgreSQL (``tests/pg.py``; skipped with a sentence where it cannot run)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.api.clock import ManualClock
from idp_tui.insights.audit_history import AUDIT_SOURCE
from idp_tui.insights.dora import DEPLOYMENT_FREQUENCY
from idp_tui.store import StoreConfig
from idp_tui.ui.app import IdpApp
from test_insights_audit import (
    SIZE,
    NoHistorySandbox,
    cli_dora,
    counted_again,
    deploy_through_idp_tui,
    same_as_the_cli,
    sandbox_config,
    shown,
)

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


async def test_the_pane_counts_a_deploy_from_the_stores_trail(server: pg.Server, tmp_path: Path,
                                                              data_dir: Path,
                                                              clock: ManualClock) -> None:
    dsn = server.create_database()
    config = replace(sandbox_config(tmp_path, NoHistorySandbox),
                     store=StoreConfig(kind="postgres", dsn=dsn))
    app = IdpApp(config, data_dir=data_dir, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        pane = await shown(pilot, app)
        assert type(app.runtime.actions.audit).__name__ == "PostgresAudit"
        await deploy_through_idp_tui(app, "ship-pg")
        insights = await counted_again(pilot, pane)
        assert list(insights.organisation.keys[DEPLOYMENT_FREQUENCY].evidence) == [
            f"{AUDIT_SOURCE}:ship-pg"]
    assert not (data_dir / "audit.jsonl").exists()
    value = await asyncio.to_thread(cli_dora, config, data_dir, clock, "--window", "30d",
                                    "--evidence")
    same_as_the_cli(insights, value)


def test_a_stores_trail_marks_what_this_process_appended(server: pg.Server) -> None:
    # The scorecards' count is kept while the trail's mark is the same: an append changes it.
    from idp_tui.insights.audit_history import trail_mark
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    store = PostgresStore(server.create_database())
    trail = PostgresAudit(store)
    try:
        before = trail_mark(trail)
        trail.append({"action_id": "M-1", "phase": "started", "actor": "ann",
                      "action": "restart", "service": "cart", "environment": "dev",
                      "time": "2026-11-25T14:00:00+00:00"})
        after = trail_mark(trail)
        assert before is not None and after is not None and before != after
        assert trail_mark(trail) == after
    finally:
        store.close()
