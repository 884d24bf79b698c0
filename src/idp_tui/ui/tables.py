"""A DataTable kept in step with data by key: changed cells are updated in place, never reloaded.

Every column has a maximum width (``MAX_COLUMN_WIDTH``, or the one ``set_columns`` gives it): a
longer cell ends in an ellipsis, so one very long value never pushes the other columns off the
screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import zip_longest

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets._data_table import Row as TableRow
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist, RowKey

from .. import render

Row = tuple[str, Sequence[Text]]
#: The widest a column grows (cells), unless ``set_columns`` says otherwise for it.
MAX_COLUMN_WIDTH = 60


def _cell_width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def _cut(cell: object, width: int) -> Text:
    """``cell`` as at most ``width`` cells, ending in an ellipsis when cut."""
    out = cell.copy() if isinstance(cell, Text) else Text(str(cell))
    out.truncate(width, overflow="ellipsis")
    return out


def capped(cells: Sequence[Text], limits: Sequence[int]) -> tuple[Text, ...]:
    """``cells`` with each one cut to its column's limit (the same tuple when none is longer)."""
    cells = tuple(cells)
    out: list[Text] | None = None
    for i, cell in enumerate(cells):
        limit = limits[i] if i < len(limits) else MAX_COLUMN_WIDTH
        if _cell_width(cell) > limit:
            if out is None:
                out = list(cells)
            out[i] = _cut(cell, limit)
    return cells if out is None else tuple(out)


class KeyedTable(DataTable[Text]):
    """A ``DataTable`` of ``Text`` cells (never markup) synchronised by row key."""

    #: What the keys screen calls it.
    HELP_SCOPE = "table"
    #: Home and End go to the first and last row (DataTable's scroll one column sideways in a
    #: table of rows), as in every other table.
    BINDINGS = [
        Binding("home,ctrl+home", "scroll_top", "First", show=False, id="table.first"),
        Binding("end,ctrl+end", "scroll_bottom", "Last", show=False, id="table.last"),
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rows_by_key: dict[str, tuple[Text, ...]] = {}
        #: Cells known to fit their columns, by row key (see _fill).
        self._fitted: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        #: Each column's maximum width, in column order.
        self._limits: list[int] = []

    def set_columns(self, columns: Sequence[tuple[str, str]],
                    max_widths: Mapping[str, int] | None = None) -> None:
        """``(key, label)`` pairs; ``max_widths``: the widest some columns grow (by key; the
        others: ``MAX_COLUMN_WIDTH``). Changing them clears the rows."""
        current = [str(c.key.value) for c in self.columns.values()]
        if current == [k for k, _ in columns]:
            return
        self.clear(columns=True)
        self._rows_by_key.clear()
        self._fitted.clear()
        self._order = []
        widths = max_widths or {}
        self._limits = [max(1, widths.get(key, MAX_COLUMN_WIDTH)) for key, _ in columns]
        for (key, label), limit in zip(columns, self._limits, strict=True):
            # labels may be source text
            self.add_column(capped((render.text(label),), (limit,))[0], key=key)

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    @property
    def cursor_key(self) -> str | None:
        if not self._order or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self._order[self.cursor_row]

    def select_key(self, key: str | None) -> bool:
        if key is None or key not in self._rows_by_key:
            return False
        index = self._order.index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index)
        return True

    def sync(self, rows: Sequence[Row]) -> None:
        """Make the table show ``rows`` in this order, touching only what changed."""
        order = [key for key, _ in rows]
        keep = self.cursor_key
        if order == self._order:
            column_keys = list(self.columns)
            with self.app.batch_update():
                for key, cells in rows:
                    cells = tuple(cells)
                    old = self._rows_by_key.get(key)
                    if old == cells:
                        continue
                    shown = capped(cells, self._limits)
                    for i, cell in enumerate(shown):
                        if old is None or old[i] != cells[i]:
                            # Widen the column for a wider cell, never shrink it: for a narrower
                            # cell, update_width=True makes DataTable re-measure the whole column
                            # (O(rows) per cell, so O(rows²) when a refresh changes every row).
                            column = self.columns.get(column_keys[i])
                            wider = column is not None and _cell_width(cell) > column.content_width
                            try:
                                self.update_cell(key, column_keys[i], cell, update_width=wider)
                            except (CellDoesNotExist, RowDoesNotExist):
                                pass
                    self._rows_by_key[key] = cells
            return
        with self.app.batch_update():
            self.clear(columns=False)
            self._rows_by_key = {}
            if len(set(order)) == len(order):
                self._fill(rows)
            else:  # add_row reports the duplicate key
                for key, cells in rows:
                    cells = tuple(cells)
                    self.add_row(*capped(cells, self._limits), key=key)
                    self._rows_by_key[key] = cells
            self._order = order
            if keep is not None and keep in self._rows_by_key:
                self.move_cursor(row=order.index(keep), animate=False)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's measuring of new rows (when idle); a column it widens makes the cells
        already drawn at the old width be drawn again (its caches do not key on widths)."""
        before = [column.content_width for column in self.columns.values()]
        super()._update_dimensions(new_rows)
        if [column.content_width for column in self.columns.values()] != before:
            self._update_count += 1
            self.refresh()

    def _fill(self, rows: Sequence[Row]) -> None:
        """Fill the just-cleared table with ``rows`` (unique keys) in one pass.

        What ``add_row`` does for each row, done once for all of them: ``add_row`` costs about
        30 µs a row (it revalidates the cursor every time) and DataTable then measures every cell
        of every new row, which made each keystroke of the catalog filter take a second over
        10,000 services. Columns only ever grow here (``clear`` keeps their widths), so a row whose
        cells all fit the current widths is not measured again, and cells found to fit before (the
        same objects) are not even looked at.
        """
        columns = self.ordered_columns
        column_keys = [column.key for column in columns]
        widths = [column.content_width for column in columns]
        width_of = _cell_width
        data, table_rows, new_rows = self._data, self.rows, self._new_rows
        by_key, fitted = self._rows_by_key, self._fitted
        locations: dict[RowKey, int] = {}
        for index, (key, row_cells) in enumerate(rows):
            cells = tuple(row_cells)
            if len(cells) > len(column_keys):
                raise ValueError("More values provided than there are columns.")
            row_key = RowKey(key)
            locations[row_key] = index
            shown = capped(cells, self._limits)
            data[row_key] = dict(zip_longest(column_keys, shown)) \
                if len(cells) != len(column_keys) else dict(zip(column_keys, shown))
            table_rows[row_key] = TableRow(row_key, 1)
            by_key[key] = cells
            if fitted.get(key) is cells:
                continue  # these very cells were found to fit before
            for cell, width in zip(shown, widths):
                if not isinstance(cell, Text) or width_of(cell) > width:
                    new_rows.add(row_key)  # measured (and the column widened) when idle
                    break
            else:
                fitted[key] = cells
        if len(fitted) > 2 * len(by_key) + 1000:  # forget rows that are gone for good
            self._fitted = {key: fitted[key] for key in by_key if key in fitted}
        self._row_locations = TwoWayDict(locations)
        self._require_update_dimensions = True
        self._update_count += 1
        if locations:
            self.cursor_coordinate = self.cursor_coordinate  # validated against the new rows
            self._highlight_cursor()  # as add_row does when the first row arrives
        self.refresh()
        self.check_idle()
