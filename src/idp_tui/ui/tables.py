"""A DataTable kept in step with data by key: changed cells are updated in place, never reloaded."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

Row = tuple[str, Sequence[Text]]


class KeyedTable(DataTable[Text]):
    """A ``DataTable`` of ``Text`` cells (never markup) synchronised by row key."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rows_by_key: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """``(key, label)`` pairs. Changing them clears the rows."""
        current = [str(c.key.value) for c in self.columns.values()]
        if current == [k for k, _ in columns]:
            return
        self.clear(columns=True)
        self._rows_by_key.clear()
        self._order = []
        for key, label in columns:
            self.add_column(Text(label), key=key)

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
                    for i, cell in enumerate(cells):
                        if old is None or old[i] != cell:
                            try:
                                self.update_cell(key, column_keys[i], cell, update_width=True)
                            except (CellDoesNotExist, RowDoesNotExist):
                                pass
                    self._rows_by_key[key] = cells
            return
        with self.app.batch_update():
            self.clear(columns=False)
            self._rows_by_key = {}
            for key, cells in rows:
                cells = tuple(cells)
                self.add_row(*cells, key=key)
                self._rows_by_key[key] = cells
            self._order = order
            if keep is not None and keep in self._rows_by_key:
                self.move_cursor(row=order.index(keep), animate=False)
