"""Pilot tests of each pane as a user sees it: Catalog, Environments, Pipelines, Logs, Metrics and
the source health view.

Most tests run the real app on the seeded sandbox (seed 7 at 2026-11-25T14:00Z, see
``idp_tui.demo``): there order-service runs the bad release 2.49.12 in production, one behind
staging's 2.49.13. Where fixed data is simpler the tests use ``fakes.StaticSource``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from idp_tui import Capability, Service, Source, SourceAuthError
from idp_tui.api.clock import ManualClock
from idp_tui.api.models import RunStatus, Window
from idp_tui.config import AppConfig, UIConfig
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, demo_config, wait_settled
from idp_tui.hub import ManualTimer
from idp_tui.ui.app import ContextBar, HealthBar, IdpApp
from idp_tui.ui.charts import MetricsGrid
from idp_tui.ui.logview import LogView
from idp_tui.ui.panes import EnvironmentsPane, LogsPane, MetricsPane, PipelinesPane
from idp_tui.ui.panes.catalog import SELECT_WHILE_TYPING, filter_key
from idp_tui.ui.screens import HealthScreen
from idp_tui.ui.tables import KeyedTable
from idp_tui.ui.vtable import VirtualTable

from fakes import hold, type_text, wait_until as until
from fakes import StaticSource, app_config, spec

T0 = DEMO_TIME


# Helpers ------------------------------------------------------------------------------------------

@asynccontextmanager
async def running(app: IdpApp, *keys: str) -> AsyncIterator[Pilot[Any]]:
    """Run ``app``, wait for its data, press ``keys`` and wait again."""
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        if keys:
            await pilot.press(*keys)
            await wait_settled(app)
        yield pilot


def sandbox(tmp_path: Path, *, ui: UIConfig | None = None,
            timer: ManualTimer | None = None) -> IdpApp:
    """The dashboard on the sandbox; ``timer``: the one its own timers wait on."""
    if ui is None and timer is None:
        return demo_app(tmp_path / "data")
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = demo_config(data)
    if ui is not None:
        config.ui = ui
    return IdpApp(config, data_dir=data, clock=ManualClock(DEMO_TIME), timer=timer)


def static_app(tmp_path: Path, config: AppConfig | None = None, **settings: Any) -> IdpApp:
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    return IdpApp(config or app_config(spec("static", StaticSource, **settings)), data_dir=data,
                  clock=ManualClock(T0))


def text_of(app: IdpApp, selector: str) -> str:
    return str(app.query_one(selector).render())  # type: ignore[attr-defined]


def cells(table: KeyedTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


def notifications(app: IdpApp) -> list[str]:
    return [n.message for n in app._notifications]


def said(app: IdpApp) -> list[str]:
    """The notifications on one line each (a path broken after its "/" joined again)."""
    return [n.replace("/\n", "/").replace("\n", " ") for n in notifications(app)]


# Catalog ------------------------------------------------------------------------------------------

async def test_catalog_fuzzy_filter_narrows_and_escape_restores(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        everything = table.keys
        assert len(everything) == 40
        await pilot.press("slash")
        field = app.query_one("#catalog-filter", Input)
        assert field.display and field.has_focus
        await type_text(pilot, "ordr")
        # Fuzzy: the letters in order, not necessarily together; the best match first.
        assert table.keys[0] == "order-service"
        assert 0 < len(table.keys) < 40
        # Every row left has the letters in order in one of the fields the filter searches.
        for key in table.keys:
            record = app.service_record(key)
            assert record is not None
            assert any(re.search("o.*r.*d.*r", value.lower()) for value in filter_key(record)), key
        status = text_of(app, "#catalog-status")
        assert f"{len(table.keys)} of 40 services" in status and "filter ordr" in status
        # Backspacing the text away shows every service again.
        await pilot.press(*["backspace"] * 4)
        assert table.keys == everything
        await type_text(pilot, "payments")
        assert table.keys[0] == "payments-api" and len(table.keys) < 40
        await pilot.press("escape")
        assert table.keys == everything
        assert not field.display and field.value == ""
        assert table.has_focus
        assert "40 of 40 services" in text_of(app, "#catalog-status")


async def test_while_typing_a_filter_the_selection_follows_the_cursor_once_typing_pauses(
        tmp_path: Path) -> None:
    timer = ManualTimer()  # the app's own timers: typing pauses when the test says so
    app = sandbox(tmp_path, timer=timer)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        before = app.service
        await pilot.press("slash")
        await type_text(pilot, "ledger")
        assert table.cursor_key == "ledger-service"
        assert app.service == before != "ledger-service"  # not at each keystroke
        typing = timer.now() + SELECT_WHILE_TYPING
        await timer.until(lambda t: typing in t.deadlines)
        timer.advance(SELECT_WHILE_TYPING - 0.01)
        await pilot.pause()
        assert app.service == before  # a pause shorter than the debounce changes nothing
        timer.advance(0.01)  # typing paused
        await until(pilot, lambda: app.service == "ledger-service", "the selection")
        assert app.service == "ledger-service"
        assert "service ledger-service" in str(app.query_one(ContextBar).render())


async def test_catalog_filter_enter_keeps_the_filter_and_selects_a_match(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        await pilot.press("slash")
        await type_text(pilot, "ledger")
        await pilot.press("enter")
        assert table.has_focus
        assert table.keys[0] == "ledger-service"
        await pilot.press("down", "up")
        assert app.service == table.cursor_key == "ledger-service"
        assert "service ledger-service" in str(app.query_one(ContextBar).render())


async def test_catalog_sort_by_column_and_reverse(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        assert table.keys == sorted(table.keys)
        assert "sorted by Name" in text_of(app, "#catalog-status")

        await pilot.press("s")  # next column: owner
        owners = [cells(table, k)[1] for k in table.keys]
        assert owners == sorted(owners)
        assert "sorted by Owner" in text_of(app, "#catalog-status")

        await pilot.press("s")  # tier: T1 first
        tiers = [cells(table, k)[2] for k in table.keys]
        assert tiers == sorted(tiers) and tiers[0] == "T1" and tiers[-1] != "T1"
        await pilot.press("S")  # reversed
        tiers = [cells(table, k)[2] for k in table.keys]
        assert tiers == sorted(tiers, reverse=True)
        assert "sorted by Tier ↓" in text_of(app, "#catalog-status")

        # Health: the worst first.
        await pilot.press("s", "s", "s")  # lifecycle, language, health
        assert "sorted by Health" in text_of(app, "#catalog-status")
        health = [cells(table, k)[5] for k in table.keys]
        order = ["✖ down", "◐ degraded", "? unknown", "● healthy"]
        assert [order.index(h) for h in health] == sorted(order.index(h) for h in health)
        assert health[0] != "● healthy"  # order-service (degraded in production) comes first


async def test_catalog_click_on_header_sorts(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        # The "Language" header: find its x offset from the column widths.
        x = 0
        for column in table.columns.values():
            if column.key.value == "language":
                break
            x += column.get_render_width(table)
        await pilot.click("#catalog-table", offset=(x + 1, 0))
        languages = [cells(table, k)[4] for k in table.keys]
        assert languages == sorted(languages) and languages[0] != languages[-1]
        assert "sorted by Language" in text_of(app, "#catalog-status")
        await pilot.click("#catalog-table", offset=(x + 1, 0))
        assert [cells(table, k)[4] for k in table.keys] == sorted(languages, reverse=True)


async def test_catalog_detail_panel_of_the_highlighted_service(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        # Walk the cursor to order-service with the arrow keys.
        await hold(pilot, "down", table.keys.index("order-service"))
        assert table.cursor_key == "order-service"
        assert app.service == "order-service"
        assert "service order-service" in str(app.query_one(ContextBar).render())
        detail = text_of(app, "#catalog-detail-body")
        assert detail.startswith("order-service\nCreates orders and drives them through")
        assert "Owner     team-checkout" in detail
        assert "Repository  https://git.example.com/checkout/order-service" in detail
        assert "Runbook  https://runbooks.example.com/checkout/order-service" in detail
        assert ("depends on pricing-engine, inventory-reservations, shipping-quotes"
                in detail)
        assert "used by    –" in detail
        # Versions in every environment, in order, with health and replicas.
        versions = detail[detail.index("Versions"):]
        assert re.search(r"dev\s+2\.49\.13\s+● healthy\s+1/1", versions)
        assert re.search(r"staging\s+2\.49\.13\s+● healthy\s+2/2", versions)
        assert re.search(r"production\s+2\.49\.12\s+◐ degraded\s+6/6", versions)

        # The reverse dependency: pricing-engine is used by order-service.
        await hold(pilot, "down",
                   table.keys.index("pricing-engine") - table.keys.index("order-service"))
        assert app.service == "pricing-engine"
        detail = text_of(app, "#catalog-detail-body")
        assert detail.startswith("pricing-engine\n")
        assert re.search(r"used by\s+.*\border-service\b", detail)


async def test_catalog_field_filters_typed_and_chosen_from_counted_values(
        tmp_path: Path) -> None:
    from textual.widgets import OptionList

    from idp_tui.ui.screens import FacetScreen

    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        records = {k: app.service_record(k) for k in table.keys}
        checkout = sorted(k for k, r in records.items() if r and r.owner == "team-checkout")
        assert 0 < len(checkout) < 40
        # Typed: field:value words filter on that field; the rest is fuzzy text.
        await pilot.press("slash")
        await type_text(pilot, "owner:team-checkout")
        assert sorted(table.keys) == checkout
        await type_text(pilot, " tier:1")
        assert sorted(table.keys) == sorted(k for k in checkout if records[k].tier == 1)
        await pilot.press("escape")
        assert len(table.keys) == 40
        # Chosen: `v` lists each field's values with how many services have each.
        await pilot.press("v")
        screen = app.screen
        assert isinstance(screen, FacetScreen)
        options = screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        assert "owner" in labels and "lifecycle" in labels and "tag" in labels
        assert re.fullmatch(r"  team-checkout +" + str(len(checkout)),
                            next(x for x in labels if "team-checkout" in x))
        pci = sum(1 for r in records.values() if r and "pci" in r.tags)
        pci_label = next(x for x in labels if x.split() == ["pci", str(pci)])
        options.highlighted = labels.index(pci_label)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, FacetScreen)
        assert sorted(table.keys) == sorted(k for k, r in records.items() if r and "pci" in r.tags)
        assert app.query_one("#catalog-filter", Input).value == "tag:pci"
        assert f"{pci} of 40 services" in text_of(app, "#catalog-status")
        # Another value of the same field replaces it.
        await pilot.press("v")
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        kafka = next(label for label in labels if label.split()[0] == "kafka")
        options.highlighted = labels.index(kafka)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one("#catalog-filter", Input).value == "tag:kafka"
        assert all("kafka" in records[k].tags for k in table.keys)


async def test_catalog_detail_shows_the_owning_team(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        await hold(pilot, "down", table.keys.index("order-service"))
        await until(pilot, lambda: "checkout@example.com" in text_of(app, "#catalog-detail-body"),
                    "the team's details")
        detail = text_of(app, "#catalog-detail-body")
        assert re.search(r"Owner\s+team-checkout — Checkout · checkout@example.com · "
                         r"in engineering · 3 people", detail)
        assert re.search(r"Type\s+service", detail)


async def test_catalog_enter_opens_the_logs_of_the_service(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("down", "enter")
        logs = app.query_one(LogsPane)
        await until(pilot, lambda: logs.view.total > 0, "log lines")
        assert app.current_pane is logs
        assert logs.streaming_for == (app.service, "production")
        assert app.service == app.query_one("#catalog-table", VirtualTable).keys[1]


# Environments -------------------------------------------------------------------------------------

async def test_environments_matrix_shows_versions_health_and_replicas(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "2") as pilot:
        table = app.query_one("#envs-table", VirtualTable)
        # (then the two preview environments a fresh sandbox starts with)
        assert [str(c.key.value) for c in table.columns.values()] == [
            "service", "dev", "staging", "production", "pr-3756", "pr-9870"]
        assert [str(c.label) for c in table.columns.values()] == [
            "Service", "dev", "staging", "production", "pr-3756", "pr-9870"]
        assert len(table.keys) == 40
        # (each part padded to its column's widest: versions, health and replicas line up)
        # (marked: the advisor finds its bad release in production)
        assert cells(table, "order-service")[:4] == [
            "order-service !", "2.49.13 ● 1/1", "2.49.13  ● 2/2", "2.49.12↓ ◐ 6/6"]
        # The cursor is on the selected service in the selected environment, and the status line
        # says what is wrong there.
        assert table.cursor_key == app.service
        await pilot.press("colon")
        await type_text(pilot, "svc order-service")
        await pilot.press("enter")
        await pilot.pause()
        assert table.cursor_key == "order-service"
        assert table.cursor_column_key == "production"
        assert "5xx rate elevated since rollout of 2.49.12" in text_of(app, "#envs-status")


async def test_environments_drift_is_highlighted_only_where_behind(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "2") as pilot:
        table = app.query_one("#envs-table", VirtualTable)
        pane = app.query_one(EnvironmentsPane)

        def marked(service: str, env: str) -> bool:
            cell = table.get_cell(service, env)
            styles = {str(span.style) for span in cell.spans}
            return "↓" in str(cell) and "bold black on yellow" in styles

        # order-service: production (2.49.12) is behind staging (2.49.13); staging is level.
        assert marked("order-service", "production")
        assert not marked("order-service", "staging")
        assert not marked("order-service", "dev")
        # 14 services run an older version in production than in staging (config-service's
        # has waited there for a day and a half: the advisor's drift).
        behind_in_production = {s for s in table.keys if marked(s, "production")}
        assert len(behind_in_production) == 14
        assert {"order-service", "session-store", "ranking-service",
                "config-service"} <= behind_in_production
        # A service with the same version everywhere is not marked anywhere.
        same = [s for s in table.keys
                if len({str(table.get_cell(s, e)).split()[0] for e in ("dev", "staging",
                                                                        "production")}) == 1]
        assert same, "the seeded sandbox has services with one version everywhere"
        assert not any(marked(s, e) for s in same for e in ("dev", "staging", "production"))
        # (the preview environments' cells too: they run what dev ran when they were made)
        assert {(s, e) for s in table.keys for e in app.environment_names()
                if marked(s, e)} == pane.drifted
        drifted_services = {s for s, _ in pane.drifted}
        assert (f"{len(pane.drifted)} drifted cells in {len(drifted_services)} services"
                in text_of(app, "#envs-status"))

        # D: only the services with drift.
        await pilot.press("D")
        assert set(table.keys) == drifted_services and len(table.keys) < 40
        await pilot.press("D")
        assert len(table.keys) == 40


async def test_environments_cursor_selects_service_and_environment(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "2") as pilot:
        table = app.query_one("#envs-table", VirtualTable)
        assert app.environment == "production"
        await pilot.press("left")
        assert app.environment == "staging"
        await pilot.press("down")
        assert app.service == table.keys[1]
        context = str(app.query_one(ContextBar).render())
        assert f"service {table.keys[1]}" in context and "env staging" in context


async def test_environments_redraw_when_shown_and_keep_unchanged_cells(
        tmp_path: Path, monkeypatch: Any) -> None:
    from idp_tui.hub import Topic

    app = static_app(tmp_path)
    async with running(app) as pilot:
        pane = app.query_one(EnvironmentsPane)
        table = pane.query_one("#envs-table", VirtualTable)
        # The environments arrived while the Catalog showed: not drawn for nobody.
        assert app.platform is not None and table.keys == []
        await pilot.press("2")
        await until(pilot, lambda: table.keys == ["alpha", "beta", "gamma"], "the matrix")
        before = {key: table.get_row(key) for key in table.keys}
        assert cells(table, "beta") == ["beta", "1.2.0 ● 1/1", "1.1.0↓ ◐ 2/3"]

        # A new version of beta in dev, while another tab shows.
        await pilot.press("1")
        source = app.hub.runners[0].source
        original = type(source).deployments

        async def deployments(self: Any) -> list[Any]:
            return [d.model_copy(update={"version": "1.3.0"})
                    if (d.service, d.environment) == ("beta", "dev") else d
                    for d in await original(self)]

        monkeypatch.setattr(type(source), "deployments", deployments)
        app.hub.refresh(Topic.environments())
        await until(pilot, lambda: app.platform is not None and
                    app.platform.deployments["beta", "dev"].version == "1.3.0", "the refresh")
        await pilot.pause()
        assert cells(table, "beta")[1] == "1.2.0 ● 1/1"  # not drawn while hidden

        await pilot.press("2")
        await until(pilot, lambda: cells(table, "beta")[1] == "1.3.0 ● 1/1", "the new version")
        # Unchanged cells are the very same objects: the table had nothing to do for them.
        after = {key: table.get_row(key) for key in table.keys}
        assert all(a is b for a, b in zip(after["alpha"], before["alpha"], strict=True))
        assert after["beta"][2] is before["beta"][2] and after["beta"][1] is not before["beta"][1]


# Pipelines ----------------------------------------------------------------------------------------

async def test_pipelines_runs_table_and_the_selected_runs_jobs(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "3") as pilot:
        table = app.query_one("#pipelines-table", KeyedTable)
        assert [str(c.key.value) for c in table.columns.values()] == [
            "service", "pipeline", "number", "branch", "commit", "status", "duration", "started",
            "trigger"]
        assert len(table.keys) == 200
        # Newest first: a ledger-service run still running, started 2m20s before 14:00.
        service, pipeline, number, branch, commit, status, duration, started, trigger = cells(
            table, table.keys[0])
        assert (service, pipeline, number, commit, status, trigger) == (
            "ledger-service", "ci", "#14738", "73eaf74", "▶ running", "pull_request")
        assert branch.startswith("feature/PAY-292") and branch.endswith("…")  # cut to 16
        assert duration == "2m20s" and started.startswith("2m20s")
        # The run selected at start is one of the selected service's, with its jobs and steps.
        detail = text_of(app, "#pipelines-detail-body")
        assert detail.startswith(app.service or "?")
        assert "\nJobs\n" in detail and "build" in detail and "checkout" in detail

        await pilot.press("ctrl+home")
        await until(pilot, lambda: "ledger-service-ci-14738" in text_of(
            app, "#pipelines-detail-body") and "Jobs\n" in text_of(app, "#pipelines-detail-body"),
                    "the ledger-service run's jobs")
        detail = text_of(app, "#pipelines-detail-body")
        assert app.service == "ledger-service"
        assert re.search(r"▶ running build\s+2m20s", detail)
        assert re.search(r"✔ checkout\s+10s", detail)
        assert re.search(r"▶ compile", detail)
        assert re.search(r"◌ queued test", detail)


async def test_pipelines_a_runs_log_in_the_logs_pane_and_back_to_live(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "3") as pilot:
        table = app.query_one("#pipelines-table", KeyedTable)
        pane = app.query_one(PipelinesPane)
        failed = next(k for k in table.keys if cells(table, k)[5] == "✖ failed")
        delta = table.keys.index(failed) - table.keys.index(table.cursor_key)
        await hold(pilot, "down" if delta > 0 else "up", abs(delta))
        assert table.cursor_key == failed
        await until(pilot, lambda: pane.detail is not None and pane.detail.jobs,
                    "the failed run's jobs")
        run = pane.detail
        failed_job = next(j for j in run.jobs if j.status is RunStatus.FAILED)
        await pilot.press("l")
        logs = app.query_one(LogsPane)
        await until(pilot, lambda: app.current_pane is logs and logs.ended
                    and logs.view.total > 0, "the run's log")
        # Only the failed job's log, with its steps and its error, as lines of that job.
        records = [entry.line for entry in logs.view.buffer.entries()]
        lines = [line.message for line in records]
        assert lines[0] == "##[group]Run checkout"
        assert "##[error]Process completed with exit code 1." in lines
        assert {line.instance for line in records} == {failed_job.name}
        status = text_of(app, "#logs-status")
        assert f"run {run.service} {run.pipeline} {run.id} · {failed_job.name}" in status
        assert "■ ended" in status
        # The filters work as on live logs.
        await pilot.press("i")
        await type_text(pilot, "error")
        await pilot.press("enter")
        await until(pilot, lambda: 0 < logs.view.shown < logs.view.total, "the filter")
        # b: back to the live tail of the service.
        await pilot.press("b")
        await until(pilot, lambda: logs.run_log is None and logs.view.total > 0
                    and all(e.line.environment for e in logs.view.buffer.entries()), "the live logs")
        assert f"{app.service}@{app.environment}" in text_of(app, "#logs-status")


async def test_pipelines_running_run_updates_live_as_time_passes(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "3") as pilot:
        await pilot.press("ctrl+home")
        pane = app.query_one(PipelinesPane)
        await until(pilot, lambda: pane.detail is not None and pane.detail.id ==
                    "ledger-service-ci-14738" and bool(pane.detail.jobs), "the running run's jobs")
        assert pane.detail is not None and pane.detail.status is RunStatus.RUNNING
        assert re.search(r"◌ queued test", text_of(app, "#pipelines-detail-body"))

        clock = app.clock
        assert isinstance(clock, ManualClock)
        clock.advance(timedelta(minutes=2))
        app.action_refresh()
        # The "ago" text follows the clock at once; the run's new state comes with the refresh.
        await until(pilot, lambda: "(4m20s ago)" in text_of(app, "#pipelines-detail-body")
                    and "✔ succeeded build" in text_of(app, "#pipelines-detail-body"),
                    "the detail two minutes later")
        detail = text_of(app, "#pipelines-detail-body")
        # The build finished, the tests started: the run moved on without a key press.
        assert re.search(r"✔ succeeded build", detail)
        assert re.search(r"▶ running test", detail)
        assert re.search(r"▶ unit tests", detail)
        table = app.query_one("#pipelines-table", KeyedTable)
        key = next(k for k in table.keys if k.endswith("ledger-service-ci-14738"))
        await until(pilot, lambda: cells(table, key)[6] == "4m20s", "the runs table's duration")

        # Much later the run has finished, in the detail and in the table.
        clock.advance(timedelta(hours=1))
        app.action_refresh()
        await until(pilot, lambda: pane.detail is not None and pane.detail.status.finished,
                    "the run to finish")
        await until(pilot, lambda: cells(table, key)[5] != "▶ running", "the table row")
        assert cells(table, key)[5] in ("✔ succeeded", "✖ failed")


async def test_pipelines_filter_and_this_service_only(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "3") as pilot:
        table = app.query_one("#pipelines-table", KeyedTable)
        await pilot.press("colon")
        await type_text(pilot, "svc order-service")
        await pilot.press("enter")
        # The service chosen at the prompt: the cursor moves to its latest run.
        assert table.cursor_key is not None and cells(table, table.cursor_key)[0] == "order-service"
        assert text_of(app, "#pipelines-detail-body").startswith("order-service")
        await pilot.press("f")
        assert table.keys and {cells(table, k)[0] for k in table.keys} == {"order-service"}
        assert "only order-service" in text_of(app, "#pipelines-status")
        await pilot.press("f")
        assert len(table.keys) == 200
        # `/` fuzzy filter: a commit picks out its run.
        await pilot.press("slash")
        await type_text(pilot, "73eaf74")
        await pilot.press("enter")
        assert table.has_focus
        assert [cells(table, k)[0:5:4] for k in table.keys] == [["ledger-service", "73eaf74"]]
        assert "filter 73eaf74" in text_of(app, "#pipelines-status")


# Logs ---------------------------------------------------------------------------------------------

def shown_lines(view: LogView) -> list[str]:
    """The rows of the log view as drawn on screen."""
    return [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)
            if view.render_line(y).text.strip()]


async def logs_of(pilot: Pilot[Any], app: IdpApp) -> LogsPane:
    pane = app.query_one(LogsPane)
    await until(pilot, lambda: pane.view.total > 0, "log lines")
    return pane


async def test_logs_arrive_for_the_selected_service_and_environment(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("colon")
        await type_text(pilot, "svc order-service")
        await pilot.press("enter", "4")
        pane = await logs_of(pilot, app)
        view = pane.view
        assert pane.streaming_for == ("order-service", "production")
        assert view.total == 200  # the tail the pane asks for
        lines = [e.line for e in view.buffer.entries()]
        assert {(line.service, line.environment) for line in lines} == {
            ("order-service", "production")}
        assert len({line.instance for line in lines}) > 1  # every instance, merged
        status = text_of(app, "#logs-status")
        assert "● following order-service@production" in status
        assert "200 shown / 200 kept / 200 received" in status
        screen = shown_lines(view)
        last = lines[-1]
        assert screen[-1].startswith(last.ts.strftime("%H:%M:%S."))
        assert last.instance in screen[-1]


async def test_logs_follow_pause_toggle(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        assert view.follow and "● following" in text_of(app, "#logs-status")
        assert view.scroll_offset.y == view.max_scroll_y > 0
        await pilot.press("f")
        assert not view.follow and "❚❚ paused" in text_of(app, "#logs-status")
        await pilot.press("home")
        assert view.scroll_offset.y == 0
        await pilot.press("f")
        assert view.follow and "● following" in text_of(app, "#logs-status")
        assert view.scroll_offset.y == view.max_scroll_y
        # Scrolling up pauses following too, and `end` resumes it: the status line says so.
        await pilot.press("up")
        assert not view.follow and "❚❚ paused" in text_of(app, "#logs-status")
        await pilot.press("end")
        assert view.follow and "● following" in text_of(app, "#logs-status")
        assert view.scroll_offset.y == view.max_scroll_y


async def test_logs_include_and_exclude_filters(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        total = view.total
        await pilot.press("i")
        await type_text(pilot, "GET|POST")
        await pilot.press("enter")
        assert view.include == "GET|POST"
        assert 0 < view.shown < total
        included = list(view.buffer.entries(shown=True))
        assert all(re.search("GET|POST", view.buffer.text_of(e)) for e in included)
        assert all(re.search("GET|POST", row) for row in shown_lines(view))
        status = text_of(app, "#logs-status")
        assert "include GET|POST" in status and f"{view.shown} shown" in status
        await pilot.press("x")
        await type_text(pilot, "POST")
        await pilot.press("enter")
        assert view.exclude == "POST"
        assert all("GET" in row and "POST" not in row for row in shown_lines(view))
        assert "exclude POST" in text_of(app, "#logs-status")
        # Emptying a filter brings every line back.
        await pilot.press("i", "ctrl+u", "enter", "x", "ctrl+u", "enter")
        assert view.include is None and view.exclude is None and view.shown == total


async def test_logs_invalid_regex_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        await pilot.press("i")
        await type_text(pilot, "GET")
        await pilot.press("enter")
        shown = view.shown
        await pilot.press("i", "ctrl+u")
        await type_text(pilot, "(unclosed")
        await pilot.press("enter")
        prompt = app.query_one("#logs-prompt", Input)
        # The prompt stays open with what was typed, marked invalid; the old filter still applies.
        assert prompt.display and prompt.has_focus and prompt.value == "(unclosed"
        assert prompt.has_class("-invalid")
        assert any(m.startswith("Invalid regular expression: missing ), unterminated subpattern")
                   for m in notifications(app))
        assert view.include == "GET" and view.shown == shown and view.total == 200
        assert "include GET" in text_of(app, "#logs-status")
        # Escape gives up on it and keeps the filter that was there.
        await pilot.press("escape")
        assert not prompt.display and view.has_focus
        assert view.include == "GET" and view.shown == shown
        # Fixing the pattern works.
        await pilot.press("x")
        await type_text(pilot, "( 200")
        await pilot.press("enter")
        assert prompt.display and view.exclude is None
        await pilot.press(")", "enter")
        assert not prompt.display and view.exclude == "( 200)"
        assert 0 < view.shown < shown


async def test_logs_search_highlights_and_moves_between_matches(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        await pilot.press("slash")
        await type_text(pilot, "POST")
        await pilot.press("enter")
        assert view.search == "POST"
        first = view.cursor_line
        assert first is not None and "POST" in first.message
        assert not view.follow  # looking at a match, not the tail
        assert "search POST" in text_of(app, "#logs-status")
        # The match is drawn highlighted on screen.
        highlighted = [
            segment.text for y in range(view.scrollable_content_region.height)
            for segment in view.render_line(y)
            if segment.style is not None and segment.style.bgcolor is not None
            and segment.style.bgcolor.name == "yellow"]
        assert "POST" in highlighted
        await pilot.press("n")
        second = view.cursor_line
        assert second is not None and "POST" in second.message and second is not first
        await pilot.press("N")
        assert view.cursor_line is first


async def test_logs_wrap_and_timestamp_toggles(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        stamp = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ")
        assert all(stamp.match(row) for row in shown_lines(view))
        assert "[time json]" in text_of(app, "#logs-status")
        await pilot.press("t")
        assert not view.show_timestamps
        assert not any(stamp.match(row) for row in shown_lines(view))
        assert "[json]" in text_of(app, "#logs-status")
        await pilot.press("t")
        assert view.show_timestamps and all(stamp.match(row) for row in shown_lines(view))

        width = view.scrollable_content_region.width
        longest = max(len(view.buffer.text_of(e)) for e in view.buffer.entries()) + 60
        assert longest > width, "some sandbox lines are wider than the view"
        assert view.virtual_size.width > width  # scrolls sideways
        rows = view.virtual_size.height
        await pilot.press("w")
        assert view.wrap and "[wrap time json]" in text_of(app, "#logs-status")
        await pilot.pause()
        assert view.virtual_size.height > rows  # long lines take several rows
        assert view.virtual_size.width <= width
        await pilot.press("w")
        assert not view.wrap and view.virtual_size.height == rows


JSON_LINE = json.dumps({"msg": "charged card", "level": "info", "amount": 12, "currency": "EUR"})


async def test_logs_json_lines_shown_as_fields(tmp_path: Path) -> None:
    app = static_app(tmp_path, log_message=JSON_LINE)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        await until(pilot, lambda: view.total == 3, "three lines")
        rows = shown_lines(view)
        assert len(rows) == 3
        assert all(row.endswith("INFO  charged card amount=12 currency=EUR") for row in rows)
        await pilot.press("j")
        assert not view.json_fields
        rows = shown_lines(view)
        assert all(row.endswith(JSON_LINE) for row in rows)
        assert "[time]" in text_of(app, "#logs-status")


async def test_logs_save_writes_the_shown_lines(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        await pilot.press("i")
        await type_text(pilot, "GET")
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        prompt = app.query_one("#logs-prompt", Input)
        assert prompt.display and prompt.has_focus
        # The suggested file is in the data dir, named after the service, environment and time;
        # enter takes it.
        target = app.data_dir / "logs" / f"{app.service}-production-20261125-140000.log"
        assert prompt.value == str(target)
        await pilot.press("enter")
        assert not prompt.display
        saved = target.read_text(encoding="utf-8").splitlines()
        assert len(saved) == view.shown > 0
        shown = [e.line for e in view.buffer.entries(shown=True)]
        assert saved[0] == (f"{shown[0].ts.isoformat()} {shown[0].instance} "
                            f"{shown[0].level.value.upper()} {shown[0].message}")
        assert all("GET" in line for line in saved)
        assert f"Saved {len(saved)} lines to {target}" in said(app)
        # The path is broken after a "/", never inside a name (a toast would wrap it anywhere).
        toast = next(m for m in notifications(app) if m.startswith("Saved"))
        assert all(line.endswith("/") for line in toast.splitlines()[1:-1])
        assert toast.splitlines()[-1] == target.name


async def test_logs_save_to_an_unwritable_place_says_so(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        await pilot.press("ctrl+s")
        prompt = app.query_one("#logs-prompt", Input)
        prompt.value = str(blocker / "out.log")  # as if pasted
        await pilot.press("enter")
        assert prompt.display and prompt.value == str(blocker / "out.log")  # still open to fix it
        assert any(m.startswith("Could not save:") for m in notifications(app))
        assert blocker.read_text() == "x"


async def test_logs_save_never_replaces_a_file_without_asking(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "4") as pilot:
        mine = tmp_path / "notes.txt"
        mine.write_text("my notes")
        await pilot.press("ctrl+s")
        prompt = app.query_one("#logs-prompt", Input)
        prompt.value = str(mine)
        await pilot.press("enter")
        assert prompt.display and mine.read_text() == "my notes"  # still open; nothing written
        assert f"{mine} exists: enter again to replace it, or change the name" in said(app)
        # A folder is not a file name.
        prompt.value = str(tmp_path)
        await pilot.press("enter")
        assert prompt.display and f"{tmp_path} is a folder: give a file name" in said(app)
        # The existing file again, then enter a second time: replaced, as asked.
        prompt.value = str(mine)
        await pilot.press("enter")
        assert prompt.display and mine.read_text() == "my notes"
        await pilot.press("enter")
        assert not prompt.display and mine.read_text() != "my notes"
        assert any(m.startswith("Saved ") and m.endswith(str(mine)) for m in said(app))


async def test_logs_small_buffer_counts_dropped_lines(tmp_path: Path) -> None:
    app = sandbox(tmp_path, ui=UIConfig(log_buffer=100))
    async with running(app, "4") as pilot:
        view = app.query_one(LogView)
        # The pane asks for a 200-line tail: only the last 100 are kept, the rest are counted.
        await until(pilot, lambda: view.dropped == 100, "the 200-line tail")
        assert view.max_lines == 100
        assert view.buffered == view.shown == 100
        kept = [e.line.ts for e in view.buffer.entries()]
        assert kept == sorted(kept)
        status = text_of(app, "#logs-status")
        assert "100 shown / 100 kept + 100 dropped = 200 received" in status


# Metrics ------------------------------------------------------------------------------------------

SIGNAL_CHARTS = {"request_rate": ("Request rate", "req/s"), "error_ratio": ("Error ratio", "%"),
                 "latency": ("Latency", "ms"), "cpu": ("CPU", "cores"), "memory": ("Memory", "iB")}


async def test_metrics_show_the_golden_signals_with_units(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "5") as pilot:
        grid = app.query_one(MetricsGrid)
        charts = grid.charts
        assert list(charts) == list(SIGNAL_CHARTS)
        for key, (title, unit) in SIGNAL_CHARTS.items():
            lines = charts[key].lines_text()
            assert lines[0].startswith(title), lines[0]
            assert lines[0].rstrip().endswith("1h"), lines[0]
            stats = lines[1]
            if key == "latency":
                # One chart for the three percentiles: each one's current value.
                assert re.search(rf"● p50 [\d.]+ {unit}\s+● p95 [\d.]+ {unit}\s+● p99 [\d.]+ "
                                 rf"{unit}", stats), stats
            else:
                assert re.search(rf"now [\d.,]+ ?\S*{re.escape(unit)}\s+min [\d.,]+ ?\S*"
                                 rf"{re.escape(unit)}\s+max [\d.,]+ ?\S*{re.escape(unit)}",
                                 stats), stats
            assert charts[key].has_data
            assert any(re.search("[\u2801-\u28ff]", line) for line in lines[2:])  # the plot
        header = text_of(app, "#metrics-header")
        assert header.startswith(f"{app.service} @ production  window")
        assert "updated 14:00:00" in header


async def test_metrics_follow_the_environment_bad_release_in_production(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("colon")
        await type_text(pilot, "svc order-service")
        await pilot.press("enter", "5")
        pane = app.query_one(MetricsPane)
        errors = app.query_one(MetricsGrid).charts["error_ratio"]
        await until(pilot, pane.is_settled, "order-service metrics in production")
        in_production = errors.series[0].points[-1][1]
        await pilot.press("E")
        await until(pilot, lambda: pane.is_settled() and pane.topic is not None
                    and pane.topic.args[1] == "staging", "order-service metrics in staging")
        assert text_of(app, "#metrics-header").startswith("order-service @ staging")
        in_staging = errors.series[0].points[-1][1]
        # 2.49.12, running only in production, is the bad release: more errors there.
        assert in_production > 2 * in_staging


async def test_metrics_window_switching_changes_the_query(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "5") as pilot:
        pane = app.query_one(MetricsPane)
        grid = app.query_one(MetricsGrid)

        def selected_window() -> str:
            header = app.query_one("#metrics-header").render()
            # The chosen window is drawn reversed in the header.
            return "".join(header.plain[s.start:s.end] for s in header.spans
                           if getattr(s.style, "reverse", False)).strip()

        assert pane.topic is not None and pane.topic.args[2] is Window.H1
        assert selected_window() == "1h"
        steps = {}
        for key, window in (("w", "6h"), ("w", "24h"), ("w", "15m"), ("w", "1h"),
                            ("W", "15m")):
            await pilot.press(key)
            await until(pilot, pane.is_settled, f"metrics for {window}")
            assert pane.window.value == window
            assert pane.topic is not None and pane.topic.args[2].value == window
            assert selected_window() == window
            assert all(chart.lines_text()[0].rstrip().endswith(window)
                       for chart in grid.charts.values())
            # The query asks for the whole window: the series span it.
            series = grid.charts["request_rate"].series[0]
            span = series.points[-1][0] - series.points[0][0]
            assert span >= Window(window).delta.total_seconds() * 0.9
            steps[window] = pane.topic.args[3]
        assert steps["15m"] <= steps["1h"] < steps["6h"] < steps["24h"]


# Source health ------------------------------------------------------------------------------------

class LockedOutSource(Source):
    """A catalog whose credentials were refused."""

    capabilities = frozenset({Capability.CATALOG})

    async def services(self) -> list[Service]:
        raise SourceAuthError("401 from https://catalog.example.com",
                              hint="Renew the token in IDP_TOKEN.")


async def test_health_view_shows_each_source(tmp_path: Path) -> None:
    config = app_config(spec("static", StaticSource), spec("locked", LockedOutSource))
    app = static_app(tmp_path, config)
    async with running(app) as pilot:
        bar = str(app.query_one(HealthBar).render())
        assert "● static" in bar and "✖ locked auth" in bar and "H: details" in bar
        # The catalog still shows the static source's services, with the error above them.
        assert app.query_one("#catalog-table", VirtualTable).keys == ["alpha", "beta", "gamma"]
        assert "locked auth: 401 from https://catalog.example.com" in text_of(
            app, "#catalog-errors")

        await pilot.press("H")
        assert isinstance(app.screen, HealthScreen)
        table = app.screen.query_one("#health-table", KeyedTable)
        assert table.keys == ["static", "locked"]
        # The most telling first: Source, State, Latency, Error, then the rest.
        name, state, latency, error, last, calls, type_, caps = cells(table, "static")
        assert (name, type_, state, error) == ("static", "static", "ok", "")
        # Capabilities are cut to 40 cells in the table, whole in the detail.
        assert caps.startswith("catalog, environments, logs, metrics")
        assert last == "0s ago"
        assert re.fullmatch(r"\d+ ms", latency)
        name, state, latency, error, last, calls, type_, caps = cells(table, "locked")
        assert (name, caps, state, last, error) == ("locked", "catalog", "error", "–", "auth")
        made, failed = (int(n) for n in calls.split("/"))
        assert made == failed >= 1

        detail = app.screen.query_one("#health-detail")
        assert str(detail.render()) == ("No errors.\n"
                                        "Capabilities: catalog, environments, logs, metrics, "
                                        "pipelines")
        await pilot.press("down")
        assert str(detail.render()).startswith("auth: 401 from https://catalog.example.com\n"
                                               "Hint: Renew the token in IDP_TOKEN.")
        await pilot.press("H")  # a key that opens a view never closes it
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("q")  # escape or q does (q does not quit here)
        assert not isinstance(app.screen, HealthScreen) and app.is_running


async def test_health_view_on_the_sandbox_updates_after_refresh(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("H")
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one("#health-table", KeyedTable)
        assert table.keys == ["sandbox"]
        assert cells(table, "sandbox")[1] == "ok"
        assert cells(table, "sandbox")[4] == "0s ago"
        calls = int(cells(table, "sandbox")[5].split("/")[0])
        app.clock.advance(90)  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await until(pilot, lambda: int(cells(table, "sandbox")[5].split("/")[0]) > calls,
                    "more calls")
        assert cells(table, "sandbox")[4] == "0s ago"  # answered just now, at the new time
        await pilot.press("escape")
        assert not isinstance(app.screen, HealthScreen)


def test_drift_is_only_judged_between_versions_that_can_be_ordered() -> None:
    from idp_tui.ui.panes.envs import is_behind

    assert is_behind("2.49.12", "2.49.13") and is_behind("v1.9.0", "v1.10.0")
    assert is_behind("481", "482")  # build numbers
    assert not is_behind("1.10", "1.9") and not is_behind("1.2.0", "1.2.0")
    # A commit sha, a branch: nothing says which is older (GitHub Deployments of a branch).
    assert not is_behind("4ea9b1c", "55dbbe5") and not is_behind("v1.2.0", "15f5eda")
    assert not is_behind("main", "v1.0.0")


async def test_on_a_narrow_terminal_the_details_go_under_their_tables(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_settled(app)
        for key, table_id, detail_id in (("1", "#catalog-main", "#catalog-detail"),
                                         ("3", "#pipelines-table", "#pipelines-detail")):
            await pilot.press(key)
            await wait_settled(app)
            table, detail = app.query_one(table_id).region, app.query_one(detail_id).region
            assert table.width == detail.width == 80, key
            assert detail.y >= table.bottom and detail.height >= 8, key
        # The top line keeps the time and leaves the hint out.
        app.query_one(ContextBar).show(app.service, app.environment, app.clock.now())
        top = text_of(app, "ContextBar")
        assert top.rstrip().endswith("2026-11-25 14:00:00 UTC") and "(e to switch)" not in top
        await pilot.resize_terminal(160, 50)

        def beside() -> bool:
            table, detail = (app.query_one("#pipelines-table").region,
                             app.query_one("#pipelines-detail").region)
            return detail.x >= table.right and detail.y == table.y

        await until(pilot, beside, "the detail beside its table again")


async def test_on_a_short_terminal_the_charts_keep_their_height_and_scroll(
        tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app, "5") as pilot:
        await pilot.resize_terminal(80, 24)
        grid = app.query_one(MetricsGrid)
        await until(pilot, lambda: grid.size.height < 24 and grid.max_scroll_y > 0,
                    "the grid laid out for 24 lines")
        charts = {chart.id: chart for chart in grid.charts.values()}
        assert all(chart.region.height == 0 or chart.size.height >= 8
                   for chart in charts.values())
        assert app.focused is grid and grid.max_scroll_y > 0
        memory = charts["chart-memory"]
        assert not grid.region.contains_region(memory.region)  # below the fold
        await pilot.press("end")
        await until(pilot, lambda: grid.region.contains_region(memory.region), "memory in view")
        await pilot.press("home")
        await until(pilot, lambda: grid.scroll_y == 0, "back at the top")
        # Tall again: every chart shares the height, nothing to scroll.
        await pilot.resize_terminal(160, 50)
        await until(pilot, lambda: grid.max_scroll_y == 0, "no scrolling")
