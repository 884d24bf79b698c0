"""Views an experienced user expects, and text that reads right: "unhealthy only" in the Catalog
and the Environments matrix, cells and counts that line up, and columns that never grow past
their maximum width (a 5,000-character service name ends in an ellipsis)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import OptionList

from idp_tui.api.clock import ManualClock
from idp_tui.api.models import Health
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, wait_settled
from idp_tui.ui.app import IdpApp
from idp_tui.ui.panes import EnvironmentsPane
from idp_tui.ui.panes.catalog import COLUMNS as CATALOG_COLUMNS
from idp_tui.ui.panes.catalog import CatalogPane
from idp_tui.ui.screens import FacetScreen, HelpScreen
from idp_tui.ui.tables import MAX_COLUMN_WIDTH, KeyedTable
from idp_tui.ui.vtable import VirtualTable

from fakes import StaticSource, app_config, screen_lines, spec, wait_until, widget_text

LONG = "n" * 5000


async def _settled(pilot, app: IdpApp, *keys: str) -> None:  # type: ignore[no-untyped-def]
    await wait_settled(app)
    if keys:
        await pilot.press(*keys)
        await wait_settled(app)


def _status(app: IdpApp, selector: str) -> str:
    return str(app.query_one(selector).render())  # type: ignore[attr-defined]


# Unhealthy only ---------------------------------------------------------------------------------

async def test_catalog_u_shows_only_the_services_not_healthy_in_the_environment(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app)
        pane = app.query_one(CatalogPane)
        table = app.query_one("#catalog-table", VirtualTable)
        everything = list(table.keys)
        platform = app.platform
        assert platform is not None and app.environment == "production"
        unhealthy = [name for name in everything
                     if (dep := platform.deployments.get((name, "production"))) is not None
                     and dep.health is not Health.HEALTHY]
        assert unhealthy and len(unhealthy) < len(everything)
        status = _status(app, "#catalog-status")
        assert f"{len(unhealthy)} not healthy in production" in status
        assert "u unhealthy ·" in status

        await pilot.press("u")
        assert pane.unhealthy_only
        assert table.keys == unhealthy
        status = _status(app, "#catalog-status")
        assert f"{len(unhealthy)} of {len(everything)} services" in status
        assert "showing the not healthy only (u again: all)" in status
        # The limit holds under a filter too, and in another environment it is that one's.
        await pilot.press("e")
        await wait_settled(app)
        env = app.environment
        assert env != "production"
        assert all(platform.deployments[(n, env)].health is not Health.HEALTHY
                   for n in table.keys)

        await pilot.press("u")
        assert not pane.unhealthy_only and len(table.keys) == len(everything)
        assert "showing the not healthy only" not in _status(app, "#catalog-status")


async def test_environments_u_shows_only_the_services_not_healthy_somewhere(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app, "2")
        pane = app.query_one(EnvironmentsPane)
        table = app.query_one("#envs-table", VirtualTable)
        everything = list(table.keys)
        platform = app.platform
        assert platform is not None
        unhealthy = {name for (name, _env), dep in platform.deployments.items()
                     if dep.health is not Health.HEALTHY}
        assert unhealthy and len(unhealthy) < len(everything)

        await pilot.press("u")
        assert pane.unhealthy_only and set(table.keys) == unhealthy
        assert table.keys == [k for k in everything if k in unhealthy]  # (the same order)
        assert "showing not healthy services only (u again: all)" in _status(app, "#envs-status")
        # With drift only as well: both limits, said together.
        await pilot.press("D")
        drifted = {s for s, _ in pane.drifted}
        assert set(table.keys) == unhealthy & drifted
        assert "showing drifted and not healthy services only (D, u again: all)" in \
            _status(app, "#envs-status")
        await pilot.press("D", "u")
        assert table.keys == everything
        assert "showing" not in _status(app, "#envs-status")


async def test_the_help_lists_unhealthy_only_with_its_binding_id(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app)
        rows = {bid: (scope, keys, what) for scope, keys, what, bid in app._binding_rows()}
        assert rows["catalog.unhealthy_only"] == (
            "Catalog", "u", "Unhealthy only · in Pipelines: Failed only")
        await pilot.press("2")
        await wait_settled(app)
        rows = {bid: (scope, keys, what) for scope, keys, what, bid in app._binding_rows()}
        assert rows["envs.unhealthy_only"] == (
            "Environments", "u", "Unhealthy only · in Pipelines: Failed only")


# Cells and counts that line up ------------------------------------------------------------------

async def test_environment_cells_line_up_down_each_column(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app, "2")
        table = app.query_one("#envs-table", VirtualTable)
        for env in ("dev", "staging", "production"):
            cells = [str(table.get_cell(k, env)) for k in table.keys]
            shown = [c for c in cells if c != "–"]
            assert len(shown) > 10
            # The health mark is at the same place in every cell, and so is the replicas' end.
            marks = {next(i for i, ch in enumerate(c) if ch in "●◐✖○?⧗↻") for c in shown}
            assert len(marks) == 1, (env, shown)
            # Replicas are right-aligned: without an error ratio, every cell is as wide.
            widths = {len(c) for c in shown if "✖" not in c}
            assert len(widths) == 1, (env, shown)
        # order-service's 2.49.12↓ beside a 2.49.13: its mark where the others' are.
        drifted = str(table.get_cell("order-service", "production"))
        assert drifted.startswith("2.49.12↓ ")


async def test_facet_counts_line_up_across_the_fields(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app, "v")
        await wait_until(pilot, lambda: isinstance(app.screen, FacetScreen), "the fields")
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(i).prompt)
                 for i in range(options.option_count)]
        counted = [line for line in lines if line.startswith("  ") and line.rstrip()[-1].isdigit()]
        groups = [line for line in lines if not line.startswith("  ")]
        assert len(groups) > 2 and len(counted) > 10
        assert len({len(line) for line in counted}) == 1, counted


# Columns have a maximum width -------------------------------------------------------------------

def _long_name_app(tmp_path: Path) -> IdpApp:
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = app_config(spec("static", StaticSource, names=[LONG, "beta", "gamma"]))
    return IdpApp(config, data_dir=data, clock=ManualClock(DEMO_TIME))


async def test_a_5000_character_name_leaves_every_catalog_column_on_screen(
        tmp_path: Path) -> None:
    app = _long_name_app(tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: len(app.query_one("#catalog-table",
                                                          VirtualTable).keys) == 3, "the catalog")
        await pilot.pause()
        table = app.query_one("#catalog-table", VirtualTable)
        assert table.columns["name"].content_width == 40
        assert table._total_width() <= table.scrollable_content_region.width
        text = widget_text(app, table)
        header = text.splitlines()[0]
        # (the columns that do not fit beside it leave by priority, Language first)
        shown = list(table.columns)
        assert {"name", "owner", "tier", "lifecycle", "health", "level"} <= set(shown)
        for label in (dict(CATALOG_COLUMNS)[key] for key in shown):
            assert label in header
        assert "n" * 39 + "…" in text and "n" * 41 not in text
        await pilot.press("2")
        await wait_until(pilot, lambda: len(app.query_one("#envs-table",
                                                          VirtualTable).keys) == 3, "the matrix")
        await pilot.pause()
        envs = app.query_one("#envs-table", VirtualTable)
        assert envs.columns["service"].content_width == 40
        header = widget_text(app, envs).splitlines()[0]
        assert "dev" in header and "prod" in header
        assert app.is_running


class _Keyed(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(id="k")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).set_columns([("name", "Name"), ("owner", "Owner"),
                                                ("note", "Note")], {"note": 12})


async def test_keyed_tables_cut_a_long_cell_at_the_column_maximum() -> None:
    app = _Keyed()
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([("a", (Text(LONG), Text("team-a"), Text("short"))),
                    ("b", (Text("b"), Text("team-b"), Text("x" * 100)))])
        await pilot.pause()
        assert table.columns["name"].content_width == MAX_COLUMN_WIDTH
        assert table.columns["note"].content_width == 12
        shown = "\n".join(screen_lines(app))
        assert "n" * (MAX_COLUMN_WIDTH - 1) + "…" in shown and "team-a" in shown
        assert "x" * 11 + "…" in shown and "x" * 13 not in shown
        # A changed cell is cut as well (the row is updated in place).
        table.sync([("a", (Text("a"), Text("team-a"), Text("y" * 50))),
                    ("b", (Text("b"), Text("team-b"), Text("x" * 100)))])
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "y" * 11 + "…" in shown and "y" * 13 not in shown
        # The row keeps what it was given (what sync compares), not the cut copy.
        assert table._rows_by_key["a"][2].plain == "y" * 50


# One meaning per key ----------------------------------------------------------------------------

def test_no_pane_key_hides_a_key_of_the_whole_dashboard() -> None:
    # (Logs' n is "next match": Provision is p, which no pane takes.)
    from idp_tui.ui.panelist import PANES

    app_keys = {key.strip(): b.id for b in IdpApp.BINDINGS for key in b.key.split(",")}
    assert app_keys["p"] == "action.provision" and "n" not in app_keys
    for info in PANES:
        for binding in info.load().BINDINGS:
            for key in binding.key.split(","):
                assert key.strip() not in app_keys, (info.name, binding.id, app_keys.get(key))


async def test_the_help_says_where_a_key_means_something_else(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app, "3")
        rows = {bid: (scope, keys, what) for scope, keys, what, bid in app._binding_rows()}
        assert rows["pipelines.only_service"] == (
            "Pipelines", "f", "This service only · in Logs: Follow/pause")
        assert rows["action.provision"][1:] == ("p", "Provision")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys screen")
        help_table = app.screen.query_one(KeyedTable)
        shown = {str(help_table.get_row(k)[3]): str(help_table.get_row(k)[2])
                 for k in help_table.keys}
        assert shown["pipelines.only_service"] == \
            "This service only · in Logs: Follow/pause"
        await pilot.press("escape", "4")
        await wait_settled(app)
        rows = {bid: (scope, keys, what) for scope, keys, what, bid in app._binding_rows()}
        assert rows["logs.next"] == ("Logs", "n", "Next")  # and n is nothing else here
        assert not [bid for bid, (_s, keys, _w) in rows.items() if keys == "n" and
                    bid != "logs.next"]


# A path in a notification -----------------------------------------------------------------------

def test_a_path_is_broken_after_a_slash_never_inside_a_name() -> None:
    from idp_tui import render

    path = "/home/alice/.local/share/idp-tui/logs/payments-api-production-20261125-140000.log"
    lines = render.path_lines(path, 46).splitlines()
    assert "".join(lines) == path and all(len(line) <= 46 for line in lines)
    assert lines == ["/home/alice/.local/share/idp-tui/logs/",
                     "payments-api-production-20261125-140000.log"]
    # Only a name longer than a line is cut.
    assert render.path_lines("/tmp/" + "x" * 30, 20).splitlines() == ["/tmp/", "x" * 20, "x" * 10]
    assert render.path_lines("short.log", 36) == "short.log"
    assert "\x1b" not in render.path_lines("/a/\x1b[31mb", 36)  # (sanitised)


async def test_the_save_toast_shows_each_name_of_the_path_whole(tmp_path: Path) -> None:
    from textual.widgets._toast import Toast

    from idp_tui.ui.panes import LogsPane

    app = demo_app(tmp_path / "data")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _settled(pilot, app, "4")
        pane = app.query_one(LogsPane)
        folder = tmp_path / "exported-logs" / "order-service-incident-review"
        target = folder / "order-service-production-after-the-rollout.log"
        await pilot.press("ctrl+s")
        prompt = app.query_one("#logs-prompt")
        prompt.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: target.exists() and app.screen.query(Toast), "saved")
        toast = app.screen.query(Toast).last()
        drawn = [line.strip() for line in widget_text(app, toast).splitlines() if line.strip()]
        names = [part for part in str(target).split("/") if part]
        for name in names:
            assert any(name in line for line in drawn), (name, drawn)
        assert pane.is_attached


async def test_the_catalog_detail_lines_up_the_versions_of_every_environment(
        tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app)
        pane = app.query_one(CatalogPane)
        # (versions of different lengths; healthy beside degraded)
        for name in ("analytics-pipeline", "email-sender", "order-service"):
            detail = pane.detail_text(app.service_record(name)).plain
            lines = detail[detail.index("Versions"):].splitlines()[1:4]
            assert [line.split()[0] for line in lines] == ["dev", "staging", "production"]
            # The versions start in one column, and so do the health marks.
            starts = {len(line) - len(line.lstrip(" ").split(" ", 1)[1].lstrip())
                      for line in lines}
            marks = {next(i for i, ch in enumerate(line) if ch in "●◐✖○?") for line in lines}
            slashes = {line.index("/") for line in lines}
            assert len(starts) == 1 and len(marks) == 1 and len(slashes) == 1, lines


async def test_pipelines_u_shows_only_the_failed_runs(tmp_path: Path) -> None:
    from idp_tui.api.models import RunStatus
    from idp_tui.ui.panes import PipelinesPane
    from idp_tui.ui.panes.pipelines import run_key

    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await _settled(pilot, app, "3")
        pane = app.query_one(PipelinesPane)
        table = app.query_one("#pipelines-table", KeyedTable)
        everything = list(table.keys)
        by_key = {run_key(r): r for r in pane.runs}
        failed = [k for k in everything if by_key[k].status is RunStatus.FAILED]
        assert failed and len(failed) < len(everything)
        await pilot.press("u")
        assert pane.failed_only and table.keys == failed
        assert "showing the failed runs only (u again: all)" in _status(app, "#pipelines-status")
        rows = {bid: what for _scope, _keys, what, bid in app._binding_rows()}
        assert rows["pipelines.failed_only"].startswith("Failed only · in Catalog: Unhealthy only")
        await pilot.press("u")
        assert table.keys == everything
