"""Metric charts: value formatting, a block sparkline and braille line charts for the Metrics pane.

Everything drawn here is our own text (formatted numbers, fixed labels, times). The only strings that
come from a source are a series' ``unit`` (passed through :func:`idp_tui.render.sanitize` before it is
shown) and the caller's window label (sanitised too). Nothing is ever parsed as markup: lines are built
from ``Segment``s and drawn through the line API (:meth:`MetricChart.render_line`).
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.events import Resize
from textual.strip import Strip
from textual.widget import Widget

from ..api.models import MetricSeries, Signal
from ..render import sanitize
from .base import scroll_bindings

__all__ = [
    "LATENCY_SIGNALS",
    "SIGNAL_COLOURS",
    "SIGNAL_LABELS",
    "SIGNAL_SHORT_LABELS",
    "MetricChart",
    "MetricsGrid",
    "format_value",
    "is_incident",
    "sparkline",
]

#: Title of each signal (fixed text, never from a server).
SIGNAL_LABELS: dict[Signal, str] = {
    Signal.REQUEST_RATE: "Request rate",
    Signal.ERROR_RATIO: "Error ratio",
    Signal.LATENCY_P50: "Latency p50",
    Signal.LATENCY_P95: "Latency p95",
    Signal.LATENCY_P99: "Latency p99",
    Signal.CPU: "CPU",
    Signal.MEMORY: "Memory",
}

#: Legend name of each signal when several share one chart.
SIGNAL_SHORT_LABELS: dict[Signal, str] = {
    Signal.REQUEST_RATE: "rate",
    Signal.ERROR_RATIO: "errors",
    Signal.LATENCY_P50: "p50",
    Signal.LATENCY_P95: "p95",
    Signal.LATENCY_P99: "p99",
    Signal.CPU: "cpu",
    Signal.MEMORY: "mem",
}

#: Line colour of each signal (truecolour, readable on dark and light themes).
SIGNAL_COLOURS: dict[Signal, str] = {
    Signal.REQUEST_RATE: "#3fc1e8",
    Signal.ERROR_RATIO: "#ff6262",
    Signal.LATENCY_P50: "#e3d25a",
    Signal.LATENCY_P95: "#ff9a1f",
    Signal.LATENCY_P99: "#ff6ec7",
    Signal.CPU: "#5fd787",
    Signal.MEMORY: "#b48cff",
}

LATENCY_SIGNALS: tuple[Signal, ...] = (Signal.LATENCY_P50, Signal.LATENCY_P95, Signal.LATENCY_P99)

_DEFAULT_COLOUR = "#9aa5b1"
_INCIDENT_COLOUR = "#ff3030"
_NO_VALUE = "–"
_UNIT_MAX = 16

# Value formatting ---------------------------------------------------------------------------------


def _round3(a: float) -> float:
    """``a`` rounded to three significant digits (so scale choice sees the rounded value)."""
    return float(f"{a:.3g}")


def _num(a: float) -> str:
    """A non-negative number with about three significant digits, no exponent below 1e-3."""
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{a:,.0f}"
    if a < 0.001:
        return f"{a:.1e}"
    return f"{a:.3g}"


def _scaled(a: float, steps: Sequence[tuple[float, str]]) -> tuple[str, str]:
    """Pick the largest ``(factor, suffix)`` in ``steps`` (ascending) that keeps ``a`` ≥ 1."""
    factor, suffix = steps[0]
    for f, s in steps:
        if _round3(a) >= f:
            factor, suffix = f, s
    return _num(_round3(a / factor)), suffix


_RATE_STEPS = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _bytes(a: float) -> str:
    i = 0
    while i < len(_BYTE_UNITS) - 1 and _round3(a) >= 1000:
        a /= 1024
        i += 1
    if i == 0:
        return f"{a:.0f} B" if a >= 1 or a == 0 else f"{_num(a)} B"
    return f"{_num(_round3(a))} {_BYTE_UNITS[i]}"


def _seconds(a: float) -> str:
    if a == 0:
        return "0 s"
    r = _round3(a)
    if r < 1e-6:
        return f"{_num(_round3(a * 1e9))} ns"
    if r < 1e-3:
        return f"{_num(_round3(a * 1e6))} µs"
    if r < 1:
        return f"{_num(_round3(a * 1e3))} ms"
    if r < 60:
        return f"{_num(r)} s"
    if r < 3600:
        return f"{_num(_round3(a / 60))} min"
    return f"{_num(_round3(a / 3600))} h"


def format_value(value: float | None, unit: str) -> str:
    """A value in human units.

    ``req/s`` → ``12.3 req/s``, ``1.23k req/s``; ``ratio`` → ``0.42%``; ``s`` → ``850 µs``, ``12.3 ms``,
    ``1.25 s``; ``cores`` → ``0.35 cores``; ``bytes`` → ``512 MiB``, ``1.2 GiB``; any other unit →
    ``3.14 unit`` (the unit sanitised and shortened). ``None``/NaN → ``–``; ±inf → ``∞``/``-∞``.
    About three significant digits throughout.
    """
    if value is None:
        return _NO_VALUE
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _NO_VALUE
    if math.isnan(v):
        return _NO_VALUE
    sign = "-" if v < 0 else ""
    if math.isinf(v):
        return f"{sign}∞"
    a = abs(v)
    u = unit.strip().lower() if isinstance(unit, str) else ""
    if u in ("req/s", "rps", "/s"):
        num, suffix = _scaled(a, _RATE_STEPS)
        body = f"{num}{suffix} req/s"
    elif u == "ratio":
        body = f"{_num(_round3(a * 100))}%"
    elif u in ("%", "percent"):
        body = f"{_num(_round3(a))}%"
    elif u in ("s", "seconds"):
        body = _seconds(a)
    elif u in ("cores", "core"):
        body = f"{_num(_round3(a))} cores"
    elif u in ("bytes", "byte", "b"):
        body = _bytes(a)
    else:
        shown = sanitize(unit, max_len=_UNIT_MAX).strip() if isinstance(unit, str) else ""
        body = f"{_num(_round3(a))} {shown}" if shown else _num(_round3(a))
    return sign + body


# Sparkline ----------------------------------------------------------------------------------------

_BLOCKS = "▁▂▃▄▅▆▇█"


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def sparkline(values: Sequence[float], width: int, *, floor: float | None = None) -> str:
    """``values`` as exactly ``width`` block characters (``▁``…``█``), scaled from min to max
    (from ``floor`` where it is lower: counts start at 0, so 3, 3, 4 is not a cliff).

    More values than cells: each cell shows the largest value of its bucket. Fewer: values are
    stretched over several cells. Non-finite values are skipped; a cell with none is a space. All-equal
    values draw a flat line in the middle (``▄``), or at the bottom when they are ``floor``.
    """
    if width <= 0:
        return ""
    n = len(values)
    if n == 0:
        return " " * width
    cells: list[float | None] = []
    for i in range(width):
        start = i * n // width
        end = max((i + 1) * n // width, start + 1)
        bucket = [float(v) for v in values[start:end] if _finite(v)]
        cells.append(max(bucket) if bucket else None)
    finite = [c for c in cells if c is not None]
    if not finite:
        return " " * width
    lo, hi = min(finite), max(finite)
    if floor is not None and floor < lo:
        lo = floor
    top = len(_BLOCKS) - 1
    out = []
    for c in cells:
        if c is None:
            out.append(" ")
        elif hi == lo:
            out.append(_BLOCKS[0 if lo == floor else top // 2])
        else:
            out.append(_BLOCKS[round((c - lo) / (hi - lo) * top)])
    return "".join(out)


# Incident heuristic -------------------------------------------------------------------------------


def is_incident(values: Sequence[float], *, min_points: int = 5) -> bool:
    """Whether the last finite value is much above the median of the ones before it.

    "Much above": beyond the median by more than five median absolute deviations *and* by more than
    the median itself (at least double a positive median).
    """
    finite = [float(v) for v in values if _finite(v)]
    if len(finite) < min_points:
        return False
    *history, last = finite
    med = statistics.median(history)
    mad = statistics.median(abs(v - med) for v in history)
    return last - med > max(5 * mad, abs(med), 1e-12)


# Braille canvas -----------------------------------------------------------------------------------

# Bit of each dot of a braille cell, indexed [column][row] with row 0 at the top.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


class _Canvas:
    """A grid of braille cells, ``2 × 4`` dots each, with one colour per cell (the last drawn)."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.bits = [[0] * width for _ in range(height)]
        self.colours: list[list[str | None]] = [[None] * width for _ in range(height)]

    def dot(self, x: int, y: int, colour: str) -> None:
        if 0 <= x < self.width * 2 and 0 <= y < self.height * 4:
            cx, dx = divmod(x, 2)
            cy, dy = divmod(y, 4)
            self.bits[cy][cx] |= _DOTS[dx][dy]
            self.colours[cy][cx] = colour

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: str) -> None:
        """A Bresenham line between two dots (inclusive)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx = 1 if x0 < x1 else -1
        sy = 1 if y0 < y1 else -1
        err = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def row_segments(self, row: int) -> list[Segment]:
        segments: list[Segment] = []
        run: list[str] = []
        run_colour: str | None = None
        for bits, colour in zip(self.bits[row], self.colours[row], strict=True):
            ch = chr(0x2800 + bits) if bits else " "
            c = colour if bits else None
            if c != run_colour and run:
                segments.append(Segment("".join(run), Style(color=run_colour) if run_colour else None))
                run = []
            run_colour = c
            run.append(ch)
        if run:
            segments.append(Segment("".join(run), Style(color=run_colour) if run_colour else None))
        return segments


# Chart widget -------------------------------------------------------------------------------------

_DIM = Style(dim=True)
_BOLD = Style(bold=True)
_AXIS = Style(dim=True)
_INCIDENT = Style(color=_INCIDENT_COLOUR, bold=True)
_NOTE = Style(color="yellow")


@dataclass(frozen=True)
class _Line:
    """One series prepared for drawing."""

    signal: Signal
    unit: str
    points: tuple[tuple[float, float], ...]
    colour: str
    label: str
    now: float | None
    low: float | None
    high: float | None
    incident: bool
    #: When "now" is (unix seconds), if older than two steps (the source says).
    as_of: float | None = None
    #: Why there are no points (source text, sanitized).
    note: str = ""


def _prepare(series: MetricSeries, label: str) -> _Line:
    points = tuple((float(t), float(v)) for t, v in series.points if _finite(t))
    values = [v for _, v in points if math.isfinite(v)]
    return _Line(
        signal=series.signal,
        unit=series.unit,
        points=points,
        colour=SIGNAL_COLOURS.get(series.signal, _DEFAULT_COLOUR),
        label=label,
        now=values[-1] if values else None,
        low=min(values) if values else None,
        high=max(values) if values else None,
        incident=is_incident(values),
        as_of=series.as_of if values else None,
        note=sanitize(series.note, max_len=300) if series.note and not values else "",
    )


def _group_title(signals: Sequence[Signal]) -> str:
    if not signals:
        return "Metric"
    if len(signals) == 1:
        return SIGNAL_LABELS.get(signals[0], "Metric")
    if all(s in LATENCY_SIGNALS for s in signals):
        return "Latency"
    return " / ".join(SIGNAL_LABELS.get(s, "Metric") for s in signals)


def _pieces(parts: Iterable[tuple[str, Style | None]]) -> list[Segment]:
    return [Segment(text, style) for text, style in parts if text]


def _cells(segments: Sequence[Segment]) -> int:
    return sum(seg.cell_length for seg in segments)


class MetricChart(Widget):
    """A line chart of one signal (or a few sharing a unit, such as the latency percentiles).

    Layout, top to bottom: a title line (label, incident badge, window label on the right), a stats line
    (``now … min … max …``, or a legend with each series' current value), then a braille line chart with
    a y-axis on the left (max, mid, min) and 2–4 ``HH:MM`` time labels underneath. It redraws at whatever
    size it is given.
    """

    DEFAULT_CSS = """
    MetricChart {
        height: 12;
        min-height: 4;
    }
    """

    def __init__(
        self,
        signal: Signal | Sequence[Signal] | None = None,
        *,
        title: str | None = None,
        tz: tzinfo | None = UTC,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """``signal``: what this chart shows (sets the title before data arrives and the legend order).
        ``title`` overrides the title (our own text). ``tz``: zone of the time labels (``None`` = local).
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        if signal is None:
            self._signals: tuple[Signal, ...] = ()
        elif isinstance(signal, str):
            self._signals = (Signal(signal),)
        else:
            self._signals = tuple(Signal(s) for s in signal)
        self._title = title
        self._tz = tz
        self._series: tuple[MetricSeries, ...] = ()
        self._lines: tuple[_Line, ...] = ()
        self._window_label = ""
        self._version = 0
        self._cache_key: tuple[int, int, int] | None = None
        self._strips: list[Strip] = []

    # Public API ----------------------------------------------------------------------------------

    @property
    def signals(self) -> tuple[Signal, ...]:
        return self._signals

    @property
    def series(self) -> tuple[MetricSeries, ...]:
        """The series currently shown (empty when there is no data)."""
        return self._series

    @property
    def title(self) -> str:
        if self._title is not None:
            return self._title
        return _group_title(tuple(s.signal for s in self._series) or self._signals)

    @property
    def has_data(self) -> bool:
        return any(line.now is not None for line in self._lines)

    @property
    def incident(self) -> bool:
        """Whether a shown series' last value is much above its median (see :func:`is_incident`)."""
        return any(line.incident for line in self._lines)

    def set_series(
        self,
        series: MetricSeries | Sequence[MetricSeries] | None,
        *,
        window_label: str = "",
    ) -> None:
        """Show ``series`` (one, several sharing a unit, or ``None`` / empty for "no data")."""
        if series is None:
            items: tuple[MetricSeries, ...] = ()
        elif isinstance(series, MetricSeries):
            items = (series,)
        else:
            items = tuple(series)
        if self._signals and len(items) > 1:
            order = {s: i for i, s in enumerate(self._signals)}
            items = tuple(sorted(items, key=lambda s: order.get(s.signal, len(order))))
        self._series = items
        multi = len(items) > 1
        self._lines = tuple(
            _prepare(s, SIGNAL_SHORT_LABELS.get(s.signal, "") if multi else SIGNAL_LABELS.get(s.signal, ""))
            for s in items
        )
        self._window_label = sanitize(window_label, max_len=24) if window_label else ""
        self.set_class(self.incident, "-incident")
        self.set_class(not self.has_data, "-empty")
        self._version += 1
        self.refresh()

    def lines_text(self) -> list[str]:
        """The chart as plain text lines at its current size (for tests and debugging)."""
        return [strip.text for strip in self._render_strips()]

    # Rendering -----------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self.refresh()

    def render_line(self, y: int) -> Strip:
        strips = self._render_strips()
        if 0 <= y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _render_strips(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        key = (width, height, self._version)
        if key != self._cache_key:
            base = self.rich_style
            rows = self._build(width, height)
            self._strips = [
                Strip(segments).crop_extend(0, width, None).apply_style(base) for segments in rows
            ]
            self._cache_key = key
        return self._strips

    def _build(self, width: int, height: int) -> list[list[Segment]]:
        if width <= 0 or height <= 0:
            return []
        rows: list[list[Segment]] = [self._title_row(width)]
        if height >= 2:
            rows.append(self._stats_row(width))
        plot_height = height - 3
        if plot_height >= 1:
            rows.extend(self._plot_rows(width, plot_height))
        while len(rows) < height:
            rows.append([])
        return rows[:height]

    def _title_row(self, width: int) -> list[Segment]:
        left = _pieces([(self.title, _BOLD)])
        if self.incident:
            left += _pieces([("  ", None), ("▲ high", _INCIDENT)])
        right = _pieces([(self._window_label, _DIM)])
        gap = width - _cells(left) - _cells(right)
        if right and gap >= 2:
            return [*left, Segment(" " * gap), *right]
        return left

    def _stats_row(self, width: int) -> list[Segment]:
        lines = self._lines
        if not lines:
            return []
        if all(line.now is None for line in lines) and any(line.note for line in lines):
            # Nothing to show: why, instead of a bare "–".
            return _pieces([(next(line.note for line in lines if line.note), _NOTE)])
        if len(lines) == 1:
            line = lines[0]
            now_style = _INCIDENT if line.incident else Style(color=line.colour, bold=True)
            now = _pieces([("now ", _DIM), (format_value(line.now, line.unit), now_style)])
            if line.as_of is not None:
                now += _pieces([(f" as of {self._time_text(line.as_of, '%H:%M:%S')}", _NOTE)])
            full = now + _pieces([
                ("  min ", _DIM), (format_value(line.low, line.unit), None),
                ("  max ", _DIM), (format_value(line.high, line.unit), None),
            ])
            # When narrow, keep "now": the y-axis still shows the range.
            return full if _cells(full) <= width else now
        parts: list[tuple[str, Style | None]] = []
        for i, line in enumerate(lines):
            if i:
                parts.append(("  ", None))
            parts += [
                ("● ", Style(color=line.colour)),
                (f"{line.label} ", _DIM),
                (format_value(line.now, line.unit), _INCIDENT if line.incident else _BOLD),
            ]
        as_of = [line.as_of for line in lines if line.as_of is not None]
        if as_of:
            parts.append((f"  as of {self._time_text(min(as_of), '%H:%M:%S')}", _NOTE))
        return _pieces(parts)

    def _plot_rows(self, width: int, plot_height: int) -> list[list[Segment]]:
        lines = [line for line in self._lines if line.now is not None]
        if not lines:
            rows: list[list[Segment]] = [[] for _ in range(plot_height + 1)]
            # Why there is nothing (a selector that matched nothing…), whole, over a few rows.
            message = next((line.note for line in self._lines if line.note), "no data")
            wrapped = textwrap.wrap(message, max(width, 1))[:plot_height + 1]
            top = max(0, (plot_height - len(wrapped) + 1) // 2)
            for i, text in enumerate(wrapped):
                pad = max((width - len(text)) // 2, 0)
                rows[min(top + i, plot_height)] = [Segment(" " * pad), Segment(text, _DIM)]
            return rows

        unit = lines[0].unit
        low = min(line.low for line in lines if line.low is not None)
        high = max(line.high for line in lines if line.high is not None)
        flat = high == low
        if flat:
            lo, hi = low - 1.0, high + 1.0
        else:
            lo, hi = low, high
        times = [t for line in lines for t, v in line.points if math.isfinite(v)]
        t0, t1 = min(times), max(times)

        dot_rows = plot_height * 4

        def dot_y(value: float) -> int:
            """Dot row from the top for ``value``."""
            return dot_rows - 1 - round((value - lo) / (hi - lo) * (dot_rows - 1))

        # Y-axis labels: (cell row, text).
        labels: list[tuple[int, str]] = []
        if flat:
            labels.append((dot_y(low) // 4, format_value(low, unit)))
        else:
            labels.append((0, format_value(high, unit)))
            if plot_height >= 3:
                mid = (high + low) / 2
                labels.append((dot_y(mid) // 4, format_value(mid, unit)))
            if plot_height >= 2:
                labels.append((plot_height - 1, format_value(low, unit)))
        axis_width = max(len(text) for _, text in labels) + 1  # labels, then the axis line
        if width - axis_width < 8:
            axis_width = 0
        plot_width = width - axis_width
        if plot_width < 1:
            return []

        dot_cols = plot_width * 2

        def dot_x(t: float) -> int:
            if t1 == t0:
                return dot_cols // 2
            return round((t - t0) / (t1 - t0) * (dot_cols - 1))

        canvas = _Canvas(plot_width, plot_height)
        for line in lines:
            previous: tuple[int, int] | None = None
            for t, v in line.points:
                if not math.isfinite(v):
                    previous = None  # a gap: do not join across it
                    continue
                here = (dot_x(t), dot_y(v))
                if previous is None:
                    canvas.dot(*here, line.colour)
                else:
                    canvas.line(*previous, *here, line.colour)
                previous = here

        label_at = dict(labels)
        rows = []
        for r in range(plot_height):
            row: list[Segment] = []
            if axis_width:
                text = label_at.get(r, "")
                row.append(Segment(text.rjust(axis_width - 1), _DIM))
                row.append(Segment("┤" if r in label_at else "│", _AXIS))
            row += canvas.row_segments(r)
            rows.append(row)
        rows.append(self._time_axis(axis_width, plot_width, t0, t1))
        return rows

    def _time_axis(self, axis_width: int, plot_width: int, t0: float, t1: float) -> list[Segment]:
        prefix = [Segment(" " * (axis_width - 1)), Segment("└", _AXIS)] if axis_width else []
        span = t1 - t0
        count = 1 if span <= 0 else max(2, min(4, plot_width // 12))
        fmt = "%H:%M" if span >= 60 * count else "%H:%M:%S"
        buffer = [" "] * plot_width
        last_end = -1
        for i in range(count):
            if count == 1:
                t, column = t0, plot_width // 2
            else:
                t = t0 + span * i / (count - 1)
                column = round(i * (plot_width - 1) / (count - 1))
            text = self._time_text(t, fmt)
            start = min(max(column - len(text) // 2, 0), plot_width - len(text))
            if start < 0 or start <= last_end:
                continue
            buffer[start:start + len(text)] = text
            last_end = start + len(text)
        return [*prefix, Segment("".join(buffer), _DIM)]

    def _time_text(self, t: float, fmt: str) -> str:
        try:
            when = datetime.fromtimestamp(t, self._tz) if self._tz else datetime.fromtimestamp(t)
        except (OverflowError, OSError, ValueError):
            return "?"
        return when.strftime(fmt)


# Grid ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    key: str
    signals: tuple[Signal, ...]
    wide: bool = False


_COMBINED_SLOTS = (
    _Slot("request_rate", (Signal.REQUEST_RATE,)),
    _Slot("error_ratio", (Signal.ERROR_RATIO,)),
    _Slot("latency", LATENCY_SIGNALS, wide=True),
    _Slot("cpu", (Signal.CPU,)),
    _Slot("memory", (Signal.MEMORY,)),
)

_SEPARATE_SLOTS = (
    _Slot("request_rate", (Signal.REQUEST_RATE,)),
    _Slot("error_ratio", (Signal.ERROR_RATIO,)),
    _Slot("latency_p50", (Signal.LATENCY_P50,)),
    _Slot("latency_p95", (Signal.LATENCY_P95,)),
    _Slot("latency_p99", (Signal.LATENCY_P99,)),
    _Slot("cpu", (Signal.CPU,)),
    _Slot("memory", (Signal.MEMORY,), wide=True),
)


class MetricsGrid(Widget, can_focus=True):
    """The golden signals in a two-column grid of :class:`MetricChart`.

    Request rate and error ratio, then latency (one wide chart with p50/p95/p99, or three charts with
    ``combine_latency=False``), then CPU and memory. Charts are created once; :meth:`set_series` updates
    them in place. The grid takes focus, so that the keys of the pane holding it (e.g. the Metrics
    pane's window keys) reach that pane.
    """

    #: Scrolling, for a terminal too short to show every chart (styles/charts.tcss).
    BINDINGS = scroll_bindings("metrics")
    #: What the keys screen calls it.
    HELP_SCOPE = "charts"

    DEFAULT_CSS = """
    MetricsGrid {
        layout: grid;
        grid-size: 2;
        grid-rows: 1fr;
        height: 1fr;
    }
    MetricsGrid > MetricChart {
        height: 1fr;
    }
    MetricsGrid > MetricChart.-wide {
        column-span: 2;
    }
    """

    def __init__(
        self,
        *,
        combine_latency: bool = True,
        tz: tzinfo | None = UTC,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        slots = _COMBINED_SLOTS if combine_latency else _SEPARATE_SLOTS
        self._slots = slots
        self._charts: dict[str, MetricChart] = {
            slot.key: MetricChart(
                slot.signals, tz=tz, id=f"chart-{slot.key.replace('_', '-')}",
                classes="-wide" if slot.wide else None,
            )
            for slot in slots
        }
        self._by_signal: dict[Signal, str] = {s: slot.key for slot in slots for s in slot.signals}

    def compose(self) -> ComposeResult:
        yield from self._charts.values()

    @property
    def charts(self) -> dict[str, MetricChart]:
        """The charts by slot key (``request_rate``, ``error_ratio``, ``latency``…), in display order."""
        return dict(self._charts)

    def chart_for(self, signal: Signal) -> MetricChart:
        """The chart that shows ``signal``."""
        return self._charts[self._by_signal[Signal(signal)]]

    def set_series(self, series: Iterable[MetricSeries], window_label: str = "") -> None:
        """Show ``series`` (any order; a later series of the same signal wins). Charts whose signals are
        all missing show "no data"."""
        by_signal: dict[Signal, MetricSeries] = {}
        for item in series:
            by_signal[item.signal] = item
        for slot in self._slots:
            chart = self._charts[slot.key]
            chosen = [by_signal[s] for s in slot.signals if s in by_signal]
            chart.set_series(chosen, window_label=window_label)
