"""Which columns of a table fit its width: each column has a priority, and the ones with the
highest number leave first when the table is too narrow (those at 0 always stay), so a small
terminal keeps what matters most of each row instead of cutting the right-hand columns off."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.text import Text

#: Cells a column takes besides its content (DataTable's padding on each side).
CELL_PADDING = 2
#: What a column without a given maximum grows to (as ``tables.MAX_COLUMN_WIDTH``).
DEFAULT_MAX = 60


def measure(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Text]],
            max_widths: Mapping[str, int] | None = None) -> dict[str, int]:
    """Each column's width (its label's, or its widest cell's up to its maximum)."""
    limits = max_widths or {}
    widths = {key: len(label) for key, label in columns}
    keys = [key for key, _ in columns]
    for row in rows:
        for key, cell in zip(keys, row):
            width = min(cell.cell_len, limits.get(key, DEFAULT_MAX))
            if width > widths[key]:
                widths[key] = width
    return widths


def fitting(columns: Sequence[str], priority: Mapping[str, int], widths: Mapping[str, int],
            room: int) -> list[str]:
    """The columns (in table order) that fit in ``room`` cells: the ones of the highest priority
    number leave first, those at 0 never."""
    shown = list(columns)
    for key in sorted(shown, key=lambda k: -priority.get(k, 0)):
        if sum(widths[k] + CELL_PADDING for k in shown) <= room or priority.get(key, 0) == 0:
            break
        shown.remove(key)
    return shown


def hints_that_fit(hints: Sequence[str], room: int, sep: str = " · ") -> list[str]:
    """The first of ``hints`` (the most useful first) that fit in ``room`` cells."""
    out: list[str] = []
    used = 0
    for hint in hints:
        need = len(hint) + (len(sep) if out else 0)
        if used + need > room:
            break
        out.append(hint)
        used += need
    return out
