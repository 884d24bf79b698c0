"""The Catalog's table (idp_tui.ui.vtable): only the rows on screen are built and drawn."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from idp_tui import render
from idp_tui.ui.vtable import MAX_COLUMN_WIDTH, VirtualTable

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
        # As wide as the widest cell, up to the column's maximum: the long one ends in "…".
        assert table.columns["name"].content_width == MAX_COLUMN_WIDTH
        drawn = [line for line in lines(table)[1:] if line.strip()]
        assert drawn[4].startswith(" " + "x" * (MAX_COLUMN_WIDTH - 1) + "… ")
        assert drawn[0].startswith(" [/") and drawn[1].startswith(" [@click=app.quit]x")
        assert all("\x1b" not in line and "\x00" not in line for line in drawn)
        assert app.is_running
        # A cell drawn wider than the widths fitted so far widens its column (up to its maximum).
        table.set_columns([("name", "Name"), ("owner", "Owner")][::-1])
        table.set_columns(COLUMNS)
        table.show(["wide"], lambda key: (Text("w" * 30), Text("o")))
        await pilot.pause()
        assert table.columns["name"].content_width == 30
        table.show(["wider"], lambda key: (Text("w" * 500), Text("o")))
        await pilot.pause()
        assert table.columns["name"].content_width == MAX_COLUMN_WIDTH


class CellApp(App[None]):
    """A matrix with a cell cursor, as the Environments pane has it."""

    def __init__(self, columns: list[tuple[str, str]]) -> None:
        super().__init__()
        self.columns = columns
        self.events: list[tuple[str, str | None, str | None]] = []

    def compose(self) -> ComposeResult:
        yield VirtualTable(id="m", cursor_type="cell")

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_columns(self.columns)

    def on_virtual_table_cell_highlighted(self, event: VirtualTable.CellHighlighted) -> None:
        self.events.append(("cell", event.key, event.column_key))

    def on_virtual_table_cell_selected(self, event: VirtualTable.CellSelected) -> None:
        self.events.append(("chosen", event.key, event.column_key))

    def on_virtual_table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        self.events.append(("row", event.key, None))


def matrix_row(key: str, envs: int = 3) -> tuple[Text, ...]:
    return (render.text(key, "bold"), *(render.text(f"1.{i}.0") for i in range(envs)))


async def test_a_cell_cursor_moves_by_cell_and_says_which() -> None:
    columns = [("service", "Service"), ("dev", "dev"), ("staging", "staging"), ("prod", "prod")]
    app = CellApp(columns)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        table.sync([(k, matrix_row(k)) for k in ("alpha", "beta", "gamma")])
        await pilot.pause()
        assert (table.cursor_row, table.cursor_column) == (0, 0)
        await pilot.press("right", "right", "down")
        assert (table.cursor_key, table.cursor_column_key) == ("beta", "staging")
        assert app.events[-1] == ("cell", "beta", "staging")
        await pilot.press("right", "right", "right")  # stops at the last column
        assert table.cursor_column_key == "prod"
        await pilot.press("enter")
        assert app.events[-1] == ("chosen", "beta", "prod")
        assert ("row", "beta", None) not in app.events  # cells are chosen, not rows
        # Only the cursor's cell is drawn in the cursor's colours.
        cursor = table.get_component_rich_style("datatable--cursor")
        strip = table.render_line(2)  # header, alpha, beta
        marked = {seg.text.strip() for seg in strip if seg.style and seg.style.bgcolor
                  == cursor.bgcolor and seg.text.strip()}
        assert marked == {"1.2.0"}
        # A click on another cell moves there; on the cursor's cell, chooses it.
        await pilot.click(VirtualTable, offset=(2, 3))  # gamma's service cell
        assert (table.cursor_key, table.cursor_column_key) == ("gamma", "service")
        await pilot.click(VirtualTable, offset=(2, 3))
        assert app.events[-1] == ("chosen", "gamma", "service")


async def test_the_cursor_cell_is_scrolled_into_view() -> None:
    # Wide columns: moving right scrolls the table so the cursor's cell shows; a column wider
    # than the table shows its start.
    columns = [("service", "Service"), *[(f"env{i}", f"environment-{i}-" + "x" * 20)
                                         for i in range(6)], ("huge", "h" * 200)]
    app = CellApp(columns)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        table.sync([(k, matrix_row(k, envs=7)) for k in ("alpha", "beta")])
        await pilot.pause()
        width = table.scrollable_content_region.width
        for column in range(1, 8):
            table.move_cursor(column=column)
            await pilot.pause()
            widths = [c.get_render_width() for c in table.columns.values()]
            left, right = sum(widths[:column]), sum(widths[:column + 1])
            x = int(table.scroll_offset.x)
            if right - left > width:
                assert x == left, column
            else:
                assert x <= left and right <= x + width, column
