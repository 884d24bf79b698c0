"""The Catalog's table (idp_tui.ui.vtable): only the rows on screen are built and drawn."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from idp_tui import render
from idp_tui.ui.vtable import VirtualTable

SIZE = (80, 12)
COLUMNS = [("name", "Name"), ("owner", "Owner")]


def cells(key: str) -> tuple[Text, ...]:
    return (render.text(key, "bold"), render.text(f"team-{key[-1]}"))


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str | None]] = []

    def compose(self) -> ComposeResult:
        yield VirtualTable(id="t")

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_columns(COLUMNS)

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        self.events.append(("highlighted", event.key))

    def on_virtual_table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        self.events.append(("selected", event.key))

    def on_virtual_table_header_selected(self, event: VirtualTable.HeaderSelected) -> None:
        self.events.append(("header", event.column_key))


def lines(table: VirtualTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


async def test_only_the_rows_on_screen_are_asked_for_their_cells() -> None:
    asked: list[str] = []

    def provider(key: str) -> tuple[Text, ...]:
        asked.append(key)
        return cells(key)

    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        keys = [f"svc-{i:05d}" for i in range(10_000)]
        table.fit([cells(keys[0])])
        table.show(keys, provider)
        await pilot.pause()
        assert table.row_count == 10_000 and table.keys[:2] == keys[:2]
        assert 0 < len(set(asked)) <= SIZE[1]  # the visible rows, not 10,000
        shown = lines(table)
        assert shown[0].split()[:2] == ["Name", "Owner"]
        assert shown[1].split() == ["svc-00000", "team-0"]
        # Another order costs the list: the rows on screen are drawn again, no others.
        asked.clear()
        table.show(list(reversed(keys)), provider)
        await pilot.pause()
        assert len(set(asked)) <= SIZE[1]
        # (the cursor stayed on its row, now the last: the view followed it)
        assert table.cursor_key == "svc-00000"
        assert lines(table)[-1].split() == ["svc-00000", "team-0"]


async def test_cursor_keys_messages_and_scrolling() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        keys = [f"svc-{i:03d}" for i in range(100)]
        table.sync([(k, cells(k)) for k in keys])
        table.focus()
        await pilot.pause()
        assert table.cursor_key == "svc-000" and ("highlighted", "svc-000") in app.events
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and app.events[-1] == ("highlighted", "svc-002")
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1
        assert table.cursor_row == 2 + page
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == "svc-099"
        assert lines(table)[-1].split()[0] == "svc-099"  # scrolled into view
        assert lines(table)[0].split()[0] == "Name"  # the header stays on top
        await pilot.press("home", "enter")
        await pilot.pause()
        assert app.events[-1] == ("selected", "svc-000")
        assert table.select_key("svc-050") and table.cursor_key == "svc-050"
        assert not table.select_key("nope") and table.cursor_key == "svc-050"
        # The cursor stays on its row when the rows change, and moves in when its row goes.
        table.show(["svc-001", "svc-050", "svc-099"], cells)
        assert table.cursor_key == "svc-050"
        table.show(["svc-001", "svc-099"], cells)
        assert table.cursor_key == "svc-001"  # its row gone: the first one
        table.show([], cells)
        assert table.cursor_key is None and table.row_count == 0


async def test_clicks_on_a_header_and_on_rows() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        table.sync([(k, cells(k)) for k in ("a-1", "b-2", "c-3")])
        await pilot.pause()
        owner_x = table.columns["name"].get_render_width() + 1
        await pilot.click("#t", offset=(owner_x, 0))
        assert app.events[-1] == ("header", "owner")
        await pilot.click("#t", offset=(1, 2))  # the second row: the cursor moves there
        assert table.cursor_key == "b-2" and app.events[-1] == ("highlighted", "b-2")
        await pilot.click("#t", offset=(1, 2))  # again: chosen
        assert app.events[-1] == ("selected", "b-2")


async def test_columns_fit_the_widest_cell_and_hostile_text_is_literal() -> None:
    app = TableApp()
    hostile = ["[/", "[@click=app.quit]x", "\x1b[31mred", "ctl\x00\x07", "x" * 400]
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        table.sync([(k, (render.text(k), render.text("o"))) for k in hostile])
        await pilot.pause()
        assert table.columns["name"].content_width == render.text("x" * 400).cell_len
        drawn = [line for line in lines(table)[1:] if line.strip()]
        assert drawn[0].startswith(" [/") and drawn[1].startswith(" [@click=app.quit]x")
        assert all("\x1b" not in line and "\x00" not in line for line in drawn)
        assert app.is_running
        # A cell drawn wider than the widths fitted so far widens its column.
        table.show(["wide"], lambda key: (Text("w" * 500), Text("o")))
        await pilot.pause()
        assert table.columns["name"].content_width >= 500
