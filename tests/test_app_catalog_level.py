"""The Catalog's Level column on the seeded sandbox: each service's scorecard level as
``idp-tui scorecards --json`` counts it for the same data at the same time, "…" while the levels
are counted, sorting by it, the ``level:`` filter word (and tab completing it), and the columns
that fit at 80 and 160 columns (Health whole, never ``● heal``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, wait_settled
from idp_tui.insights.scorecards import level_names
from idp_tui.ui.panes import catalog_levels
from idp_tui.ui.panes.catalog import COLUMNS, CatalogPane
from idp_tui.ui.vtable import VirtualTable

from fakes import wait_until, widget_lines

RANK = {name: i for i, name in enumerate(level_names())}  # none, bronze, silver, gold
HEALTH_WORDS = ("● healthy", "◐ degraded", "✖ down", "? unknown")


def cli_levels(data: Path) -> dict[str, str]:
    """``idp-tui scorecards --json`` on the demo's sandbox (seed 7, its database in ``data``)
    at the demo's time: each service's level."""
    config = data.parent / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\nseed = 7\n'
                      f'database = "{(data / "sandbox.sqlite3").as_posix()}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(data), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": DEMO_TIME.strftime("%Y-%m-%dT%H:%M:%SZ"), "NO_COLOR": "1"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", "scorecards", "--json"],
                            capture_output=True, text=True, env=env, timeout=120, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return {card["service"]: card["level"] for card in json.loads(result.stdout)["services"]}


def column(table: VirtualTable, key: str) -> list[str]:
    index = list(table.columns).index(key)
    return [str(table.get_row(k)[index]) for k in table.keys]


async def test_level_column_sort_and_level_filter_match_the_scorecards_command(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    expected = cli_levels(data)
    assert len(set(expected.values())) >= 2, expected  # the teams differ
    app = demo_app(data)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(CatalogPane)
        table = pane.query_one("#catalog-table", VirtualTable)
        assert list(table.columns) == [key for key, _ in COLUMNS]  # all of them at 160
        # The column says what the command says, service by service.
        shown = dict(zip(table.keys, column(table, "level"), strict=True))
        assert shown == expected
        # Sorted by level (s cycles to it): the lowest first, S reverses.
        while pane.sort_column != "level":
            await pilot.press("s")
        await pilot.pause()
        levels = column(table, "level")
        assert [RANK[w] for w in levels] == sorted(RANK[w] for w in levels)
        assert levels[0] != levels[-1]
        assert "sorted by Level" in widget_lines(app, pane.query_one("#catalog-status"))[0]
        await pilot.press("S")
        await pilot.pause()
        assert [RANK[w] for w in column(table, "level")] == sorted(
            (RANK[w] for w in levels), reverse=True)
        # level:gold keeps the gold services only (and their count is the command's).
        await pilot.press("slash", *"level:gold", "enter")
        await pilot.pause()
        gold = sorted(name for name, level in expected.items() if level == "gold")
        assert gold and sorted(table.keys) == gold
        assert set(column(table, "level")) == {"gold"}
        status = widget_lines(app, pane.query_one("#catalog-status"))[0]
        assert f"{len(gold)} of {len(expected)} services" in status
        # A level word and an owner: both apply.
        owner = app.services[[s.name for s in app.services].index(gold[0])].owner
        field = pane.query_one("#catalog-filter")
        field.value = f"level:gold owner:{owner}"
        await pilot.pause()
        assert table.keys and set(table.keys) <= set(gold)
        assert {s.owner for s in app.services if s.name in table.keys} == {owner}
        # level:none: the services below bronze.
        field.value = "level:none"
        await pilot.pause()
        assert sorted(table.keys) == sorted(n for n, lv in expected.items() if lv == "none")
        # A word that is no level: nothing shown, and the status line names the levels.
        field.value = "level:platinum"
        await pilot.pause()
        assert table.keys == []
        status = widget_lines(app, pane.query_one("#catalog-status"))[0]
        assert "no level platinum" in status


async def test_tab_completes_the_level_word_and_its_values(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(CatalogPane)
        field = pane.query_one("#catalog-filter")
        await pilot.press("slash", "l", "e")
        await wait_until(pilot, lambda: field._suggestion == "level:", "the suggestion")
        await pilot.press("tab")
        assert field.value == "level:" and field.has_focus  # tab completed, focus stayed
        await pilot.press("s")
        await wait_until(pilot, lambda: field._suggestion == "level:silver", "the level")
        await pilot.press("tab")
        assert field.value == "level:silver"
        table = pane.query_one("#catalog-table", VirtualTable)
        assert table.keys and set(column(table, "level")) == {"silver"}
        # The other field words complete too: a field, then an owner the catalog has.
        await pilot.press("space", "o", "w", "tab", "t")
        await wait_until(pilot, lambda: (field._suggestion or "").startswith(
            "level:silver owner:team-"), "an owner")
        await pilot.press("tab")
        owner = field.value.rpartition(":")[2]
        assert owner in {s.owner for s in app.services}


def test_completion_of_the_field_words() -> None:
    assert catalog_levels.complete("pay lev", []) == "pay level:"
    assert catalog_levels.complete("level:b", []) == "level:bronze"
    assert catalog_levels.complete("LEVEL:G", []) == "LEVEL:gold"
    assert catalog_levels.complete("level:gold", []) is None  # complete already
    assert catalog_levels.complete("level:gold ", []) is None
    assert catalog_levels.complete("nope:x", []) is None
    assert catalog_levels.complete("ti", []) == "tier:"


async def test_the_level_column_says_it_is_counting(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()
    real = catalog_levels.compute_levels

    async def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(catalog_levels, "compute_levels", held)
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_until(pilot, entered.is_set, "the counting")
        pane = app.query_one(CatalogPane)
        table = pane.query_one("#catalog-table", VirtualTable)
        await wait_until(pilot, lambda: bool(table.keys), "the rows")
        # The catalog is drawn; its levels say they are being counted; the app answers keys.
        assert set(column(table, "level")) == {catalog_levels.PENDING}
        assert not pane.is_settled() and not app.is_settled()
        await pilot.press("s")
        assert pane.sort_column is not None
        release.set()
        await wait_until(pilot, pane.is_settled, "the levels")
        await pilot.pause()
        assert catalog_levels.PENDING not in column(table, "level")
        assert set(column(table, "level")) <= set(level_names())


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_catalog_columns_fit_whole_at_80_and_160(tmp_path: Path,
                                                       size: tuple[int, int]) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=size):
        await wait_settled(app)
        pane = app.query_one(CatalogPane)
        table = pane.query_one("#catalog-table", VirtualTable)
        shown = list(table.columns)
        if size == (80, 24):
            # Lifecycle and Language leave first; Name, Owner, Health and Level stay.
            assert shown == ["name", "owner", "tier", "health", "level"]
        else:
            assert shown == [key for key, _ in COLUMNS]
        widths = sum(c.get_render_width() for c in table.columns.values())
        assert widths <= table.size.width - 2  # nothing hidden to the right of the scrollbar
        # Nothing to scroll sideways: left and right are not offered (nor listed by ?).
        assert table.max_scroll_x == 0 and table.check_action("cursor_right", ()) is False
        lines = widget_lines(app, table)
        header = lines[0]
        for label in dict(COLUMNS)[shown[0]], "Health", "Level":
            assert label in header
        # Every visible row: its Health cell whole, its Level one of the level words.
        health = column(table, "health")
        assert set(health) <= set(HEALTH_WORDS)
        rows = [line for line in lines[1:] if line.strip()]
        assert rows
        for line in rows:
            words = [w for w in HEALTH_WORDS if w in line]
            assert words, line  # never "● heal"
            assert any(f" {level} " in f"{line} " for level in level_names()), line


async def test_a_large_catalogs_levels_are_counted_once_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_levels, "MAX_SERVICES", 10)  # the sandbox has 40
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(CatalogPane)
        table = pane.query_one("#catalog-table", VirtualTable)
        # Not counted as the catalog arrives: "–", and the status line says how to count them.
        assert pane.levels is None and set(column(table, "level")) == {catalog_levels.UNKNOWN}
        assert "sort or filter by level" in widget_lines(app, pane.query_one("#catalog-status"))[0]
        # Sorting by level counts them.
        while pane.sort_column != "level":
            await pilot.press("s")
        await wait_until(pilot, lambda: pane.levels is not None and pane.is_settled(),
                         "the levels")
        await pilot.pause()
        levels = column(table, "level")
        assert set(levels) <= set(level_names())
        assert [RANK[w] for w in levels] == sorted(RANK[w] for w in levels)
