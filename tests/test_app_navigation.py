"""Pilot tests of moving around the dashboard: pane keys, the `:` prompt, the command palette,
the key list and remapped keys, and the selection (service, environment) carried across panes.

Every test runs the real app on the seeded sandbox (seed 7 at 2026-11-25T14:00Z, see
``idp_tui.demo``) at 160×50, pressing keys as a user does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual import events
from textual.actions import parse as parse_action
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import TabbedContent

from idp_tui.api.clock import ManualClock
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, demo_config, wait_settled
from idp_tui.ui.app import CommandBar, ContextBar, IdpApp
from idp_tui.ui.base import SnapshotArrived
from idp_tui.ui.charts import MetricsGrid
from idp_tui.ui.logview import LogView
from idp_tui.ui.panes import CatalogPane, LogsPane
from idp_tui.ui.screens import HealthScreen, HelpScreen
from idp_tui.ui.tables import KeyedTable
from idp_tui.ui.vtable import VirtualTable

from fakes import hold, type_text, wait_until as until

PANE_KEYS = {"1": "catalog", "2": "envs", "3": "pipelines", "4": "logs", "5": "metrics"}
#: The widget each pane focuses when it is shown (what the pane's keys act on).
MAIN_WIDGET = {"catalog": "#catalog-table", "envs": "#envs-table",
               "pipelines": "#pipelines-table", "logs": "#logs-view", "metrics": "#metrics-grid"}


# Helpers ------------------------------------------------------------------------------------------

@asynccontextmanager
async def running(app: IdpApp) -> AsyncIterator[Pilot[Any]]:
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        yield pilot


def sandbox(tmp_path: Path, keys: dict[str, str] | None = None) -> IdpApp:
    if keys is None:
        return demo_app(tmp_path / "data")
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = demo_config(data)
    config.keys = dict(keys)
    return IdpApp(config, data_dir=data, clock=ManualClock(DEMO_TIME))


def active_pane(app: IdpApp) -> str:
    return str(app.query_one("#panes", TabbedContent).active)


def focused_in(app: IdpApp, pane: str) -> bool:
    focused = app.focused
    return focused is not None and focused is app.query_one(MAIN_WIDGET[pane], Widget)


def context_text(app: IdpApp) -> str:
    return str(app.query_one(ContextBar).render())


def notifications(app: IdpApp) -> list[str]:
    return [n.message for n in app._notifications]


async def command(pilot: Pilot[Any], text: str) -> None:
    """Type ``:text`` and enter, as a user does."""
    await pilot.press("colon")
    bar = pilot.app.query_one(CommandBar)
    assert bar.display and bar.has_focus
    await type_text(pilot, text)
    await pilot.press("enter")
    await pilot.pause()


def palette_prompts(app: IdpApp) -> list[str]:
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt).split("\n", 1)[0]
            for i in range(options.option_count)]


# Pane keys ----------------------------------------------------------------------------------------

async def test_number_keys_switch_pane_and_focus_its_main_widget(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        assert active_pane(app) == "catalog"
        assert focused_in(app, "catalog")
        for key in "23451":
            pane = PANE_KEYS[key]
            await pilot.press(key)
            await until(pilot, lambda p=pane: focused_in(app, p), f"focus in the {pane} pane")
            assert active_pane(app) == pane
            # The pane is what the user sees: its tab is active and its content displayed.
            assert app.query_one(f"#{pane}-pane").is_on_screen
            assert not any(app.query_one(f"#{other}-pane").is_on_screen
                           for other in PANE_KEYS.values() if other != pane)
            assert app.current_pane.id == f"{pane}-pane"


async def test_clicking_a_tab_shows_the_pane_and_its_keys_work(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.click("#--content-tab-logs")
        await until(pilot, lambda: focused_in(app, "logs"), "focus in the log view")
        assert active_pane(app) == "logs"
        view = app.query_one(LogView)
        assert view.follow
        await pilot.press("f")  # a Logs key works straight after the click
        assert not view.follow
        await pilot.click("#--content-tab-metrics")
        await until(pilot, lambda: focused_in(app, "metrics"), "focus on the metrics grid")
        await pilot.press("w")
        assert app.query_one("#metrics-pane").window.value == "6h"  # type: ignore[attr-defined]


async def test_pane_keys_pressed_in_quick_succession_end_on_the_last(tmp_path: Path) -> None:
    """"3" then "1" at once: the focus reaching the Pipelines table late must not bring its tab
    back over the Catalog the user asked for last."""
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        for first, then in (("3", "1"), ("4", "2"), ("3", "1")):
            wanted = PANE_KEYS[then]
            pilot.app.post_message(events.Key(first, first))
            # The next key as soon as the first pane's widget has focus, as a fast typist does.
            deadline = asyncio.get_running_loop().time() + 10
            while not focused_in(app, PANE_KEYS[first]):
                assert asyncio.get_running_loop().time() < deadline, f"no focus after {first}"
                await asyncio.sleep(0)
            pilot.app.post_message(events.Key(then, then))
            await until(pilot, lambda w=wanted: focused_in(app, w), f"focus in {wanted}")
            await pilot.pause()
            await pilot.pause()
            assert active_pane(app) == wanted, (first, then)
            assert focused_in(app, wanted)


async def test_metrics_pane_keys_work_after_switching_to_it(tmp_path: Path) -> None:
    """`w` is bound on the Metrics pane: it only works if focus lands inside that pane."""
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: focused_in(app, "metrics"), "focus on the metrics grid")
        assert isinstance(app.focused, MetricsGrid)
        pane = app.query_one("#metrics-pane")
        assert pane.window.value == "1h"  # type: ignore[attr-defined]
        await pilot.press("w")
        assert pane.window.value == "6h"  # type: ignore[attr-defined]


# The `:` prompt -----------------------------------------------------------------------------------

async def test_command_bar_switches_panes(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        bar = app.query_one(CommandBar)
        assert not bar.display
        for word, pane in (("envs", "envs"), ("pipelines", "pipelines"), ("logs", "logs"),
                           ("metrics", "metrics"), ("catalog", "catalog")):
            await command(pilot, word)
            assert active_pane(app) == pane, word
            assert not bar.display and bar.value == ""
            await until(pilot, lambda p=pane: focused_in(app, p), f"focus back in {pane}")


async def test_command_bar_env_and_svc_change_the_selection(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        assert app.environment == "production"
        await command(pilot, "env staging")
        assert app.environment == "staging"
        await command(pilot, "svc order-service")
        assert app.service == "order-service"
        await pilot.pause()
        text = context_text(app)
        assert "service order-service" in text and "env staging" in text
        # The catalog follows: its cursor is on the service chosen at the prompt.
        assert app.query_one("#catalog-table", VirtualTable).cursor_key == "order-service"


async def test_command_bar_unknown_env_or_service_warns_and_changes_nothing(
        tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        before = (app.service, app.environment, active_pane(app))
        await command(pilot, "env moon")
        await command(pilot, "svc no-such-service")
        assert (app.service, app.environment, active_pane(app)) == before
        messages = notifications(app)
        assert any("Unknown environment 'moon'" in m and "staging" in m for m in messages)
        assert any("Unknown service 'no-such-service'" in m for m in messages)


async def test_command_bar_help_health_and_quit(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await command(pilot, "help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await command(pilot, "health")
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HealthScreen)
        await command(pilot, "q")
        await until(pilot, lambda: app.return_code is not None, "the app to exit")
        assert app.return_code == 0


async def test_command_bar_unknown_command_only_notifies(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        before = (app.service, app.environment, active_pane(app), app.screen)
        await command(pilot, "frobnicate now")
        assert (app.service, app.environment, active_pane(app), app.screen) == before
        assert any(m.startswith("Unknown command :frobnicate now") for m in notifications(app))
        assert not app.query_one(CommandBar).display
        await until(pilot, lambda: focused_in(app, "catalog"), "focus back in the catalog")


async def test_escape_closes_the_command_bar_without_running_it(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        bar = app.query_one(CommandBar)
        await pilot.press("colon")
        await type_text(pilot, "logs")
        assert bar.display and bar.value == "logs"
        await pilot.press("escape")
        await until(pilot, lambda: focused_in(app, "catalog"), "focus back in the catalog")
        assert not bar.display and bar.value == ""
        assert active_pane(app) == "catalog"
        assert notifications(app) == []


# Command palette ----------------------------------------------------------------------------------

async def test_palette_lists_our_commands_and_textuals(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await until(pilot, lambda: "Quit" in palette_prompts(app), "the palette's first list")
        shown = palette_prompts(app)
        # Opened with nothing typed: the dashboard's own commands and Textual's system ones.
        for title in ("Go to Catalog", "Go to Metrics", "Quit", "Keys", "Theme", "Source health"):
            assert title in shown, (title, shown)
        assert shown.count("Source health") == 1
        await type_text(pilot, "health")
        await until(pilot, lambda: "Source health" in palette_prompts(app) and "Quit"
                    not in palette_prompts(app), "the list narrowed to 'health'")
        assert palette_prompts(app).count("Source health") == 1


async def test_palette_go_to_metrics(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await type_text(pilot, "go to metrics")
        await until(pilot, lambda: palette_prompts(app)[:1] == ["Go to Metrics"],
                    "'Go to Metrics' first")
        await pilot.press("down", "enter")
        await until(pilot, lambda: active_pane(app) == "metrics", "the metrics pane")
        assert not isinstance(app.screen, CommandPalette)


async def test_palette_selects_a_service(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        assert app.service != "order-service"
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await type_text(pilot, "service: order-service")
        await until(pilot, lambda: palette_prompts(app)[:1] == ["Service: order-service"],
                    "'Service: order-service' first")
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.service == "order-service", "order-service selected")
        assert "service order-service" in context_text(app)


# Keys: `?` and remapping --------------------------------------------------------------------------

APP_BINDING_IDS = {"pane.catalog", "pane.envs", "pane.pipelines", "pane.logs", "pane.metrics",
                   "app.env_next", "app.env_previous", "app.command", "app.help", "app.health",
                   "app.refresh", "app.quit"}


def ids_of(cls: type[Any]) -> set[str]:
    return {b.id for b in cls.BINDINGS if isinstance(b, Binding) and b.id}


def help_rows(app: IdpApp) -> dict[str, tuple[str, str, str]]:
    """Binding id → (where, keys, what), read from the help screen's table cells."""
    table = app.screen.query_one("#help-table", KeyedTable)
    rows = {}
    for key in table.keys:
        where, keys, what, bid = (str(c) for c in table.get_row(key))
        if where != HelpScreen.COMMAND_SCOPE:
            rows[bid] = (where, keys, what)
    return rows


async def test_help_lists_every_binding_with_its_id(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = help_rows(app)
        # Every key of the app, of the pane the user is in and of its table that applies now,
        # each with its id (left/right only when the table has columns off screen).
        table = app.query_one(CatalogPane).query_one(VirtualTable)
        table_keys = {b.id for b in VirtualTable.BINDINGS if isinstance(b, Binding) and b.id
                      and table.check_action(*parse_action(b.action)[1:]) is not False}
        assert set(rows) == ids_of(IdpApp) | ids_of(CatalogPane) | table_keys
        assert "table.page_down" in table_keys
        assert rows["table.page_down"][:2] == ("table", "pgdn")
        assert APP_BINDING_IDS <= set(rows)
        assert {"catalog.filter", "catalog.sort", "catalog.reverse"} <= set(rows)
        assert rows["pane.catalog"][1] == "1"
        assert rows["catalog.filter"][:2] == ("Catalog", "/")
        assert rows["app.quit"] == ("everywhere", "q", "Quit")
        await pilot.press("escape")
        # In the Logs pane the key list is the Logs pane's (and the log view's) keys.
        await pilot.press("4")
        await until(pilot, lambda: focused_in(app, "logs"), "focus in the log view")
        await pilot.press("question_mark")
        rows = help_rows(app)
        # (the pane's keys that apply now: the sections' keys only to a log with sections)
        pane = app.query_one(LogsPane)
        applies = {b.id for b in LogsPane.BINDINGS if isinstance(b, Binding) and b.id
                   and pane.check_action(*parse_action(b.action)[1:]) is not False}
        assert {"logs.fold", "logs.next_section"}.isdisjoint(applies)
        assert set(rows) == ids_of(IdpApp) | applies | ids_of(LogView)
        assert {"logs.follow", "logs.include", "logs.exclude", "logs.search", "logs.save",
                "logs.wrap", "logs.timestamps", "logs.json", "logview.follow"} <= set(rows)
        assert "catalog.filter" not in rows
        assert rows["logs.save"][:2] == ("Logs", "^s")
        assert rows["logview.follow"][0] == "log view"
        await pilot.press("question_mark")  # a key that opens a view never closes it
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # escape or q does (q does not quit here)
        assert not isinstance(app.screen, HelpScreen) and app.is_running


async def test_remapped_keys_work_and_show_in_help(tmp_path: Path) -> None:
    app = sandbox(tmp_path, keys={"pane.logs": "L", "pane.catalog": "1,f1", "logs.follow": "space"})
    async with running(app) as pilot:
        await pilot.press("L")
        await until(pilot, lambda: focused_in(app, "logs"), "the logs pane via L")
        assert active_pane(app) == "logs"
        view = app.query_one(LogView)
        assert view.follow
        await pilot.press("space")
        assert not view.follow
        await pilot.press("f")  # the old key of logs.follow does nothing now
        assert not view.follow
        await pilot.press("question_mark")
        rows = help_rows(app)
        assert rows["pane.logs"][1] == "L"
        assert rows["pane.catalog"][1] == "1, f1"
        assert rows["logs.follow"][1] == "space"
        await pilot.press("escape")
        await pilot.press("4")  # replaced by L
        await pilot.pause()
        assert active_pane(app) == "logs"
        await pilot.press("f1")
        await until(pilot, lambda: active_pane(app) == "catalog", "the catalog via f1")


# Selection carried across panes -------------------------------------------------------------------

async def test_selected_service_carries_to_logs_metrics_and_pipelines(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        # Move the catalog cursor down to order-service, as a user would.
        target = table.keys.index("order-service")
        await hold(pilot, "down", target - table.cursor_row)
        assert app.service == "order-service"
        assert "service order-service" in context_text(app)

        await pilot.press("4")
        logs = app.query_one("#logs-pane")
        await until(pilot, lambda: logs.view.total > 0, "log lines")  # type: ignore[attr-defined]
        assert logs.streaming_for == ("order-service", "production")  # type: ignore[attr-defined]
        assert "order-service@production" in str(app.query_one("#logs-status").render())

        await pilot.press("5")
        metrics = app.query_one("#metrics-pane")
        await until(pilot, metrics.is_settled, "metrics")
        assert metrics.topic.args[:2] == ("order-service", "production")  # type: ignore
        assert str(app.query_one("#metrics-header").render()).startswith(
            "order-service @ production")

        await pilot.press("3")
        pipelines = app.query_one("#pipelines-pane")
        await until(pilot, pipelines.is_settled, "pipeline runs")
        detail = str(app.query_one("#pipelines-detail-body").render())
        assert detail.startswith("order-service")
        runs = app.query_one("#pipelines-table", KeyedTable)
        assert str(runs.get_row(runs.cursor_key)[0]) == "order-service"  # type: ignore[arg-type]
        # `f`: only this service's runs.
        await pilot.press("f")
        assert runs.keys and all(str(runs.get_row(k)[0]) == "order-service" for k in runs.keys)


async def test_pipelines_seen_before_follow_a_service_chosen_later(tmp_path: Path) -> None:
    """Pipelines shown once (a run of the first service selected), then another service chosen in
    the Catalog: back in Pipelines, the cursor and the detail are on that service's latest run."""
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        first = app.service
        await pilot.press("3")
        pipelines = app.query_one("#pipelines-pane")
        await until(pilot, pipelines.is_settled, "pipeline runs")
        runs = app.query_one("#pipelines-table", KeyedTable)
        assert str(runs.get_row(runs.cursor_key)[0]) == first  # type: ignore[arg-type]

        await pilot.press("1")
        await until(pilot, lambda: focused_in(app, "catalog"), "the catalog")
        table = app.query_one("#catalog-table", VirtualTable)
        await hold(pilot, "down", table.keys.index("order-service") - table.cursor_row)
        assert app.service == "order-service"

        await pilot.press("3")
        await until(pilot, lambda: focused_in(app, "pipelines") and pipelines.is_settled(),
                    "pipeline runs again")
        assert app.service == "order-service"  # showing Pipelines did not change the selection
        assert str(runs.get_row(runs.cursor_key)[0]) == "order-service"  # type: ignore[arg-type]
        newest = next(k for k in runs.keys if str(runs.get_row(k)[0]) == "order-service")
        assert runs.cursor_key == newest
        await until(pilot, lambda: str(app.query_one("#pipelines-detail-body").render())
                    .startswith("order-service") and "Jobs" in str(
                        app.query_one("#pipelines-detail-body").render()), "its jobs")


async def test_e_and_E_cycle_the_environment_and_panes_follow(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with running(app) as pilot:
        # (after production: the two preview environments a fresh sandbox starts with)
        assert app.environment_names() == ["dev", "staging", "production", "pr-3756",
                                           "pr-9870"]
        assert app.environment == "production"
        await pilot.press("e")
        assert app.environment == "pr-3756"
        await pilot.press("e", "e")
        assert app.environment == "dev"
        await pilot.press("e")
        assert app.environment == "staging"
        await pilot.pause()
        assert "env staging" in context_text(app)
        await pilot.press("E", "E", "E", "E")
        assert app.environment == "production"

        await pilot.press("4")
        logs = app.query_one("#logs-pane")
        await until(pilot, lambda: logs.view.total > 0, "log lines")  # type: ignore[attr-defined]
        await pilot.press("E")
        assert app.environment == "staging"
        await until(pilot, lambda: logs.streaming_for == (app.service, "staging")  # type: ignore
                    and logs.view.total > 0, "logs of staging")  # type: ignore[attr-defined]
        assert {e.line.environment for e in logs.view.buffer.entries()} == {"staging"}  # type: ignore

        await pilot.press("5")
        metrics = app.query_one("#metrics-pane")
        await until(pilot, metrics.is_settled, "metrics")
        await pilot.press("e")
        assert app.environment == "production"
        await until(pilot, metrics.is_settled, "metrics of production")
        assert metrics.topic.args[1] == "production"  # type: ignore[attr-defined]
        assert " @ production" in str(app.query_one("#metrics-header").render())
        # The catalog's health column is for the selected environment: order-service runs a
        # bad release in production only.
        await pilot.press("1")
        await command(pilot, "svc order-service")
        table = app.query_one("#catalog-table", VirtualTable)
        assert str(table.get_cell("order-service", "health")) == "◐ degraded"
        await pilot.press("E")
        assert app.environment == "staging"
        await pilot.pause()
        assert str(table.get_cell("order-service", "health")) == "● healthy"
        assert "env staging" in context_text(app)


async def test_data_arriving_while_quitting_reaches_no_pane(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        snapshot = app.catalog_snapshot
        assert snapshot is not None
        touched: list[str] = []
        for pane in app.query(CatalogPane):
            pane.shared_data_changed = lambda: touched.append("catalog")  # type: ignore[method-assign]
        app.on_snapshot_arrived(SnapshotArrived(snapshot))
        assert touched == ["catalog"]
        app.exit()
        app.on_snapshot_arrived(SnapshotArrived(snapshot))
        assert touched == ["catalog"]
        await pilot.pause()
    assert app.return_code == 0


async def test_a_pane_chosen_before_any_data_arrived_fills_in_when_it_does(
        tmp_path: Path) -> None:
    """Only the catalog is mounted for the first frame; the other panes are mounted once it is
    drawn, or at once when chosen — here before the sources have answered at all."""
    from fakes import StaticSource, app_config, make_app, spec

    release = threading.Event()

    async def released() -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    class Late(StaticSource):
        async def services(self):  # type: ignore[no-untyped-def]
            await released()
            return await super().services()

        async def environments(self):  # type: ignore[no-untyped-def]
            await released()
            return await super().environments()

    data = tmp_path / "data"
    data.mkdir()
    app = make_app(app_config(spec("late", Late, timeout=60)), data, ManualClock(DEMO_TIME))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await pilot.pause()
        assert app.catalog_snapshot is None and app.platform_snapshot is None
        await pilot.press("2")
        await until(pilot, lambda: active_pane(app) == "envs"
                    and app.focused is app.query_one("#envs-table"), "the envs pane, focused")
        envs = app.query_one("#envs-table", VirtualTable)
        assert envs.keys == []
        # Clicking a tab that was never shown mounts its pane too.
        await pilot.click("#--content-tab-pipelines")
        await until(pilot, lambda: active_pane(app) == "pipelines"
                    and app.focused is app.query_one("#pipelines-table"), "the pipelines pane")
        await pilot.press("2")
        await until(pilot, lambda: active_pane(app) == "envs", "the envs pane again")

        release.set()
        await until(pilot, lambda: envs.keys == ["alpha", "beta", "gamma"], "the environments")
        # The first service became the selection; the hidden catalog's cursor did not change it.
        assert app.service == "alpha"
        assert app.focused is envs


async def test_a_pane_key_typed_while_the_dashboard_starts_is_not_lost(tmp_path: Path) -> None:
    app = sandbox(tmp_path)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await pilot.press("3")  # before the first frame, as typed ahead in a terminal
        await until(pilot, lambda: focused_in(app, "pipelines"), "the pipelines pane")
        assert active_pane(app) == "pipelines"
        assert not app.query_one(CommandBar).display
        assert app.query_one(CommandBar).value == ""


async def test_quitting_while_the_hidden_panes_are_mounted_exits_cleanly(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The panes kept out of the first frame are mounted just after it: a quit (say `q` typed
    at once) landing then must not crash on a pane whose children are already gone."""
    mount = IdpApp._mount_deferred

    def mount_then_quit(self: IdpApp, key: str | None = None) -> None:
        mount(self, key)
        if key is None:
            self.exit(0)

    monkeypatch.setattr(IdpApp, "_mount_deferred", mount_then_quit)
    app = sandbox(tmp_path)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await until(pilot, lambda: app._exit, "the quit")
        await pilot.pause(0.2)
    assert app.return_code == 0
    assert app._exception is None


def keys_in_one_go(app: IdpApp, keys: list[tuple[str, str | None]]) -> None:
    """Keys as a fast typist or a paste sends them: all queued before the first is handled."""
    for key, character in keys:
        app.post_message(events.Key(key, character))


def chars(text: str) -> list[tuple[str, str | None]]:
    names = {"/": "slash", ":": "colon", " ": "space"}
    return [(names.get(c, c), c) for c in text]


async def test_keys_typed_in_one_go_after_opening_a_prompt_go_into_it(tmp_path: Path) -> None:
    from idp_tui.ui.dialogs import ActionModal

    app = sandbox(tmp_path)
    async with running(app) as pilot:
        # "/ord": the filter gets "ord" ("r" is restart, "d" deploy: neither opens).
        keys_in_one_go(app, chars("/ord"))
        await until(pilot, lambda: app.query_one("#catalog-filter").value == "ord", "ord")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ActionModal)
        await pilot.press("escape")
        # ":envs" and enter: the command runs.
        keys_in_one_go(app, [*chars(":envs"), ("enter", "\r")])
        await until(pilot, lambda: active_pane(app) == "envs", "the envs pane")
        # The Environments filter, and the Logs include prompt.
        keys_in_one_go(app, chars("/pay"))
        await until(pilot, lambda: app.query_one("#envs-filter").value == "pay", "pay")
        await pilot.press("escape")
        await pilot.press("4")
        await until(pilot, lambda: active_pane(app) == "logs", "the logs pane")
        keys_in_one_go(app, chars("iGET"))
        await until(pilot, lambda: app.query_one("#logs-prompt").value == "GET", "GET")
        assert not isinstance(app.screen, ActionModal)
