"""A table that draws only the rows on screen, for lists of thousands (the Catalog, the
Environments matrix).

``DataTable`` keeps a record per row and rebuilds them when the rows change order: a Catalog
filter typed over 10,000 services rebuilt 10,000 rows at each of its first keystrokes. Here the
rows are a list of keys and a function giving a row's cells: showing another order costs the
list, and only the rows on screen are ever asked for their cells and drawn. It looks and reads
like the dashboard's other tables (``DataTable``'s component classes and their colours, a header
that stays on top, zebra stripes, a row cursor) and speaks the same messages: the cursor's row
(``RowHighlighted``), a row chosen (``RowSelected``: enter, or a click on the cursor's row) and a
header clicked (``HeaderSelected``). With ``cursor_type="cell"`` (the Environments matrix) the
cursor is one cell, moved with the arrows too, and says so (``CellHighlighted``,
``CellSelected``).

Columns are as wide as their widest cell seen: the cells of every row when the data changes
(``fit``), and any wider one drawn later, up to their maximum width (``MAX_COLUMN_WIDTH``, or the
one ``set_columns`` gives a column): a longer cell ends in an ellipsis, so one very long name
never pushes the other columns off the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets.data_table import ColumnKey

from .. import render

#: Blank cells on each side of a cell, as DataTable draws them.
PADDING = 1
_CACHE_SIZE = 1024
#: The widest a column grows (cells), unless ``set_columns`` says otherwise for it.
MAX_COLUMN_WIDTH = 60


class Column:
    """A column: its key (``key.value``), label and the width of its content."""

    __slots__ = ("key", "label", "content_width", "max_width")

    def __init__(self, key: str, label: Text, max_width: int = MAX_COLUMN_WIDTH) -> None:
        self.key = ColumnKey(key)
        self.label = label
        #: The widest the column grows: longer cells (and label) end in an ellipsis.
        self.max_width = max(1, max_width)
        self.content_width = min(label.cell_len, self.max_width)

    def get_render_width(self, table: Any = None) -> int:
        return self.content_width + 2 * PADDING


def _fit(text: Text, width: int) -> Text:
    """``text`` cut or padded to ``width`` cells."""
    length = text.cell_len
    if length == width:
        return text
    out = text.copy()
    if length > width:
        out.truncate(width, overflow="ellipsis")
    else:
        out.pad_right(width - length)
    return out


class _TableMessage(Message):
    """A message from a table (its ``control``, for ``@on(…, "#id")``)."""

    def __init__(self, table: VirtualTable) -> None:
        super().__init__()
        self.table = table

    @property
    def control(self) -> VirtualTable:
        return self.table


class _RowMessage(_TableMessage):
    def __init__(self, table: VirtualTable, key: str | None, row: int) -> None:
        super().__init__(table)
        self.key, self.row = key, row


class _CellMessage(_RowMessage):
    def __init__(self, table: VirtualTable, key: str | None, row: int, column: int,
                 column_key: str | None) -> None:
        super().__init__(table, key, row)
        self.column, self.column_key = column, column_key


class VirtualTable(ScrollView, can_focus=True):
    """Rows as keys, cells asked for when drawn; see the module's description."""

    #: What the keys screen calls it.
    HELP_SCOPE = "table"

    COMPONENT_CLASSES = {
        "datatable--header", "datatable--cursor", "datatable--even-row", "datatable--odd-row",
    }

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .datatable--even-row {
            background: $surface-darken-1 40%;
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False, id="table.select"),
        Binding("up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,ctrl+home", "first", "First", show=False, id="table.first"),
        Binding("end,ctrl+end", "last", "Last", show=False, id="table.last"),
        Binding("left", "cursor_left", "Left", show=False, id="table.left"),
        Binding("right", "cursor_right", "Right", show=False, id="table.right"),
    ]

    class RowHighlighted(_RowMessage):
        """The cursor is on another row (``key``; None when the table is empty)."""

    class RowSelected(_RowMessage):
        """The row ``key`` was chosen (enter, or a click on the cursor's row)."""

    class CellHighlighted(_CellMessage):
        """(cell cursor) The cursor is on another cell: row ``key``, column ``column_key``."""

    class CellSelected(_CellMessage):
        """(cell cursor) The cell was chosen (enter, or a click on the cursor's cell)."""

    class HeaderSelected(_TableMessage):
        """The header of column ``column_key`` was clicked."""

        def __init__(self, table: VirtualTable, column_key: str) -> None:
            super().__init__(table)
            self.column_key = column_key

    def __init__(self, *, cursor_type: str = "row", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if cursor_type not in ("row", "cell"):
            raise ValueError(f"cursor_type is row or cell, not {cursor_type!r}")
        self.cursor_type = cursor_type
        self._column = 0
        self.columns: dict[str, Column] = {}
        self._keys: list[str] = []
        self._cells_of: Callable[[str], Sequence[Text]] = lambda key: ()
        self._rows: dict[str, Sequence[Text]] = {}  # what sync() was given
        self._index: dict[str, int] | None = None
        self._cursor = 0
        self._highlighted: tuple[str | None, int] | None = None
        self._highlighted_cell: tuple[str | None, int, int] | None = None
        self._cache: dict[tuple[Any, ...], Strip] = {}

    # Columns and rows ----------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[tuple[str, str]],
                    max_widths: Mapping[str, int] | None = None) -> None:
        """``(key, label)`` pairs; ``max_widths``: the widest some columns grow (by key; the
        others: ``MAX_COLUMN_WIDTH``). Changing them clears the rows."""
        if list(self.columns) == [key for key, _ in columns]:
            return
        widths = max_widths or {}
        self.columns = {key: Column(key, render.text(label), widths.get(key, MAX_COLUMN_WIDTH))
                        for key, label in columns}
        self._column = min(self._column, max(len(self.columns) - 1, 0))
        self.show([], lambda key: ())

    def fit(self, rows: Iterable[Sequence[Text]]) -> None:
        """Widen the columns to these rows' cells (never narrower: no jump while filtering)."""
        columns = list(self.columns.values())
        widths = [column.content_width for column in columns]
        for cells in rows:
            for i, cell in enumerate(cells[:len(widths)]):
                length = cell.cell_len
                if length > widths[i]:
                    widths[i] = length
        widths = [min(width, column.max_width) for column, width in zip(columns, widths,
                                                                          strict=True)]
        changed = False
        for column, width in zip(columns, widths, strict=True):
            if width != column.content_width:
                column.content_width = width
                changed = True
        if changed:
            self._layout_changed()

    def show(self, keys: Sequence[str], cells_of: Callable[[str], Sequence[Text]]) -> None:
        """Show the rows ``keys`` in this order; ``cells_of(key)`` gives a row's cells when it is
        drawn. The cursor stays on its row when that row is still shown."""
        keep = self.cursor_key
        self._keys = list(keys)
        self._cells_of = cells_of
        self._index = None
        self._cache.clear()
        # (its row gone: the first row, the best match of a filter)
        index = self._key_index().get(keep) if keep is not None else None
        self._cursor = index if index is not None else 0
        self._layout_changed()
        self._scroll_cursor_into_view()
        self._post_highlighted()

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Show ``rows`` (key and cells) in this order."""
        self._rows = {key: tuple(cells) for key, cells in rows}
        if len(self._rows) != len(rows):
            raise ValueError("duplicate row keys")
        self.fit(self._rows.values())
        self.show([key for key, _ in rows], self._rows.__getitem__)

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        if not self._keys:
            return None
        return self._keys[self._cursor]

    @property
    def cursor_column(self) -> int:
        """The cursor's column (cell cursor; 0 with a row cursor)."""
        return self._column if self.cursor_type == "cell" else 0

    @property
    def cursor_column_key(self) -> str | None:
        keys = list(self.columns)
        return keys[self.cursor_column] if keys else None

    def get_row(self, key: str) -> list[Text]:
        return list(self._cells_of(key))

    def get_cell(self, key: str, column_key: str) -> Text:
        return self._cells_of(key)[list(self.columns).index(column_key)]

    def _key_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {key: i for i, key in enumerate(self._keys)}
        return self._index

    def select_key(self, key: str | None) -> bool:
        index = self._key_index().get(key) if key is not None else None
        if index is None:
            return False
        if index != self._cursor:
            self.move_cursor(row=index)
        return True

    def move_cursor(self, *, row: int | None = None, column: int | None = None,
                    animate: bool = False) -> None:
        """Put the cursor on ``row`` (and, with a cell cursor, ``column``), in view."""
        if column is not None and self.cursor_type == "cell" and self.columns:
            column = max(0, min(column, len(self.columns) - 1))
            if column != self._column:
                self._column = column
                self._cache.clear()  # (the cursor's row is drawn with its cell marked)
                self.refresh()
        if not self._keys:
            return
        if row is not None:
            row = max(0, min(row, len(self._keys) - 1))
            if row != self._cursor:
                self._cursor = row
                self.refresh()
        self._scroll_cursor_into_view()
        self._post_highlighted()

    def _post_highlighted(self) -> None:
        now = (self.cursor_key, self._cursor)
        if now != self._highlighted:
            self._highlighted = now
            self.post_message(self.RowHighlighted(self, *now))
        if self.cursor_type == "cell":
            cell = (self.cursor_key, self._cursor, self._column)
            if cell != self._highlighted_cell:
                self._highlighted_cell = cell
                self.post_message(self.CellHighlighted(self, *cell, self.cursor_column_key))

    # Layout --------------------------------------------------------------------------------------

    def _total_width(self) -> int:
        return sum(column.get_render_width() for column in self.columns.values())

    def _layout_changed(self) -> None:
        self._cache.clear()
        size = Size(self._total_width(), len(self._keys) + 1)
        if size != self.virtual_size:
            if self.is_mounted and size.width == self.virtual_size.width:
                # Only the number of rows changed (each keystroke of a filter): the table's own
                # size does not depend on it, so the scrollbars are updated without laying the
                # whole screen out again, as setting virtual_size would.
                self.set_reactive(VirtualTable.virtual_size, size)
                self._scroll_update(size)
            else:
                self.virtual_size = size
        self.refresh()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        if not self.is_mounted:
            return
        top = int(self.scroll_offset.y)
        page = self._page()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False)
        if self.cursor_type == "cell" and self.columns:
            columns = list(self.columns.values())
            left = sum(c.get_render_width() for c in columns[:self._column])
            right = left + columns[self._column].get_render_width()
            x, width = int(self.scroll_offset.x), self.scrollable_content_region.width
            if left < x or right - left > width:  # (a column wider than the table: its start)
                self.scroll_to(x=left, animate=False)
            elif right > x + width:
                self.scroll_to(x=max(0, right - width), animate=False)

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_cursor_into_view()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # Drawing -------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("datatable--header")
            key: tuple[Any, ...] = ("header", style,
                                    tuple(c.content_width for c in self.columns.values()))
            strip = self._cache.get(key)
            if strip is None:
                strip = self._row_strip([c.label for c in self.columns.values()], style)
                self._cache[key] = strip
            return strip.crop_extend(scroll_x, scroll_x + width, style)
        index = scroll_y + y - 1
        if index >= len(self._keys):
            return Strip.blank(width, base)
        row_key = self._keys[index]
        is_cursor = index == self._cursor
        cells = self._cells_of(row_key)
        by_cell = self.cursor_type == "cell"
        zebra = "datatable--even-row" if index % 2 == 0 else "datatable--odd-row"
        name = "datatable--cursor" if is_cursor and not by_cell else zebra
        style = base + self.get_component_rich_style(name)
        cursor_cell = self._column if is_cursor and by_cell else None
        cache_key = (row_key, id(cells), style, cursor_cell)
        strip = self._cache.get(cache_key)
        if strip is None:
            self._widen(cells)
            cell_style = None if cursor_cell is None else \
                self.get_component_rich_style("datatable--cursor")
            strip = self._row_strip(cells, style, cursor_cell, cell_style)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[cache_key] = strip
        # (the row's colours to the right edge, as DataTable draws them)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _widen(self, cells: Sequence[Text]) -> None:
        """A cell wider than its column (one not fitted yet): the column grows, once drawn."""
        for column, cell in zip(self.columns.values(), cells):
            if column.content_width < column.max_width and cell.cell_len > column.content_width:
                self.fit([cells])
                return

    def _row_strip(self, cells: Sequence[Text], style: Style, cursor_cell: int | None = None,
                   cursor_style: Style | None = None) -> Strip:
        line = Text(end="", no_wrap=True)
        for i, (column, cell) in enumerate(zip(self.columns.values(), cells)):
            padded = _fit(cell, column.content_width)
            if padded is cell:
                padded = cell.copy()
            padded.pad(PADDING)  # (in the cell's own style, as DataTable pads it)
            if i == cursor_cell and cursor_style is not None:
                padded.stylize_before(cursor_style)  # (under the cell's own colours)
            line.append_text(padded)
        line.stylize_before(style)
        segments: list[Segment] = list(line.render(self.app.console))
        return Strip(segments, line.cell_len)

    # Keys and mouse ------------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page())

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._keys) - 1)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Left and right with a row cursor scroll sideways: not offered when every column is
        on screen (nothing to scroll)."""
        if action in ("cursor_left", "cursor_right") and self.cursor_type == "row" \
                and self.max_scroll_x == 0:
            return False
        return True

    def action_cursor_left(self) -> None:
        if self.cursor_type == "cell":
            self.move_cursor(column=self._column - 1)
        else:
            self.scroll_left()

    def action_cursor_right(self) -> None:
        if self.cursor_type == "cell":
            self.move_cursor(column=self._column + 1)
        else:
            self.scroll_right()

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is None:
            return
        if self.cursor_type == "cell":
            self.post_message(self.CellSelected(self, key, self._cursor, self._column,
                                                self.cursor_column_key))
        else:
            self.post_message(self.RowSelected(self, key, self._cursor))

    def _column_at(self, x: int) -> Column | None:
        index = self._column_index_at(x)
        return None if index is None else list(self.columns.values())[index]

    def _column_index_at(self, x: int) -> int | None:
        left = 0
        for i, column in enumerate(self.columns.values()):
            right = left + column.get_render_width()
            if left <= x < right:
                return i
            left = right
        return None

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            column = self._column_at(x + scroll_x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, str(column.key.value)))
            event.stop()
            return
        index = scroll_y + y - 1
        column = self._column_index_at(x + scroll_x)
        if 0 <= index < len(self._keys) and column is not None:
            if index == self._cursor and (self.cursor_type == "row" or column == self._column):
                self.action_select_cursor()
            else:
                self.move_cursor(row=index, column=column)
            event.stop()

    def region_of_row(self, row: int) -> Region:
        """Where row ``row`` is drawn, in the table's content (for tests and tooltips)."""
        return Region(0, row + 1, self._total_width(), 1)
