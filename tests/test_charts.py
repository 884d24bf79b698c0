"""Tests of the metric chart widgets and helpers (idp_tui.ui.charts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from textual.app import App, ComposeResult

from idp_tui.api.models import SIGNAL_UNITS, MetricSeries, Signal
from idp_tui.ui.charts import (
    SIGNAL_COLOURS,
    MetricChart,
    MetricsGrid,
    format_value,
    is_incident,
    sparkline,
)

NAN = float("nan")
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
MIB = 2**20
GIB = 2**30


def series(signal: Signal, values: list[float], *, step: float = 60.0, unit: str | None = None
           ) -> MetricSeries:
    return MetricSeries(
        signal=signal,
        unit=SIGNAL_UNITS[signal] if unit is None else unit,
        points=tuple((T0 + step * i, v) for i, v in enumerate(values)),
    )


def is_braille(ch: str) -> bool:
    return 0x2801 <= ord(ch) <= 0x28FF


def braille_count(lines: list[str]) -> int:
    return sum(1 for line in lines for ch in line if is_braille(ch))


def hhmm(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M")


# format_value -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        # request rate
        (12.34, "req/s", "12.3 req/s"),
        (0, "req/s", "0 req/s"),
        (0.05, "req/s", "0.05 req/s"),
        (999.4, "req/s", "999 req/s"),
        (999.7, "req/s", "1k req/s"),  # rounds up into the next scale
        (1234, "req/s", "1.23k req/s"),
        (1200, "req/s", "1.2k req/s"),
        (45_600, "req/s", "45.6k req/s"),
        (2.5e6, "req/s", "2.5M req/s"),
        (-5, "req/s", "-5 req/s"),
        # ratio as percent
        (0.0042, "ratio", "0.42%"),
        (0.125, "ratio", "12.5%"),
        (1.0, "ratio", "100%"),
        (0.0, "ratio", "0%"),
        (-0.0, "ratio", "0%"),
        (0.00001, "ratio", "0.001%"),
        # seconds
        (0.00085, "s", "850 µs"),
        (0.0123, "s", "12.3 ms"),
        (1.25, "s", "1.25 s"),
        (0.9996, "s", "1 s"),
        (0.0009996, "s", "1 ms"),
        (5e-8, "s", "50 ns"),
        (90, "s", "1.5 min"),
        (7200, "s", "2 h"),
        (0, "s", "0 s"),
        (-0.0123, "s", "-12.3 ms"),
        # cores
        (0.35, "cores", "0.35 cores"),
        (2, "cores", "2 cores"),
        (0, "cores", "0 cores"),
        # bytes (binary prefixes)
        (512 * MIB, "bytes", "512 MiB"),
        (1.2 * GIB, "bytes", "1.2 GiB"),
        (1000 * MIB, "bytes", "0.977 GiB"),  # never "1,000 MiB"
        (100, "bytes", "100 B"),
        (0, "bytes", "0 B"),
        (1536, "bytes", "1.5 KiB"),
        (3 * 2**40, "bytes", "3 TiB"),
        # unknown units
        (3.14159, "unit", "3.14 unit"),
        (2, "", "2"),
        (12_345.6, "widgets", "12,300 widgets"),
    ],
)
def test_format_value(value: float, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


@pytest.mark.parametrize("unit", ["req/s", "ratio", "s", "cores", "bytes", "whatever"])
def test_format_value_missing(unit: str) -> None:
    assert format_value(None, unit) == "–"
    assert format_value(NAN, unit) == "–"
    assert format_value(math.inf, unit) == "∞"
    assert format_value(-math.inf, unit) == "-∞"


def test_format_value_untrusted_unit_is_plain_and_bounded() -> None:
    out = format_value(1, "[bold]x\x1b[31m" + "u" * 100)
    assert out.startswith("1 [bold]x␛[31m")  # control characters made visible, markup left as text
    assert "\x1b" not in out
    assert len(out) < 40


# sparkline ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3, 8, 50, 1000])
@pytest.mark.parametrize("width", [1, 5, 8, 20])
def test_sparkline_length(n: int, width: int) -> None:
    assert len(sparkline([float(i % 7) for i in range(n)], width)) == width


def test_sparkline_zero_width() -> None:
    assert sparkline([1, 2, 3], 0) == ""
    assert sparkline([1, 2, 3], -3) == ""


def test_sparkline_rising() -> None:
    out = sparkline([float(i) for i in range(8)], 8)
    assert out == "▁▂▃▄▅▆▇█"
    out = sparkline([float(i) for i in range(100)], 10)
    assert out[0] == "▁" and out[-1] == "█"
    assert all(a <= b for a, b in zip(out, out[1:]))  # block characters sort by height


def test_sparkline_falling_and_stretched() -> None:
    out = sparkline([3.0, 2.0, 1.0], 9)
    assert out == "███▅▅▅▁▁▁"


def test_sparkline_bucket_max() -> None:
    # A spike inside a bucket is kept (max per bucket), not averaged away.
    values = [0.0] * 100
    values[55] = 10.0
    out = sparkline(values, 10)
    assert out[5] == "█"
    assert out.count("▁") == 9


def test_sparkline_flat_nan_and_empty() -> None:
    assert sparkline([5.0, 5.0, 5.0], 6) == "▄" * 6
    assert sparkline([1.0, NAN, 3.0], 3) == "▁ █"
    assert sparkline([NAN, NAN], 4) == "    "
    assert sparkline([], 4) == "    "


def test_sparkline_with_a_floor() -> None:
    # Counts: none at all is a line at the bottom, not in the middle; small changes stay small.
    assert sparkline([0.0, 0.0, 0.0], 3, floor=0) == "▁▁▁"
    assert sparkline([5.0, 5.0], 2, floor=0) == "██"
    assert sparkline([0.0, 7.0], 2, floor=0) == "▁█"
    assert sparkline([3.0, 3.0, 4.0], 3, floor=0) == "▆▆█"
    assert sparkline([3.0, 3.0, 4.0], 3) == "▁▁█"  # without one: from the lowest value
    assert sparkline([-3.0, -1.0], 2) == "▁█"


# incident heuristic --------------------------------------------------------------------------------


def test_is_incident() -> None:
    steady = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0]
    assert not is_incident(steady)
    assert is_incident([*steady, 5.0])
    assert not is_incident([*steady, 1.2])
    assert not is_incident([1.0, 9.0])  # too few points to judge
    assert is_incident([0.0] * 10 + [0.05])
    assert not is_incident([*steady, NAN])  # the last *finite* value counts


# MetricChart in an app ----------------------------------------------------------------------------


class ChartApp(App[None]):
    CSS = "MetricChart { height: 1fr; }"  # fill the screen: the chart's size is the app's size

    def compose(self) -> ComposeResult:
        yield MetricChart(Signal.REQUEST_RATE, id="chart")


def chart_lines(chart: MetricChart) -> list[str]:
    """The chart's lines through the line API, as the compositor asks for them."""
    return [chart.render_line(y).text for y in range(chart.size.height)]


RATE_VALUES = [100.0, 120.0, 150.0, 90.0, 130.0, 140.0, 160.0, 110.0, 125.0, 135.0]


async def test_chart_shows_stats_and_braille() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, RATE_VALUES), window_label="last 1h")
        await pilot.pause()
        lines = chart_lines(chart)
        assert len(lines) == chart.size.height == 24
        assert all(len(line) == chart.size.width == 80 for line in lines)
        text = "\n".join(lines)
        assert lines[0].startswith("Request rate")
        assert lines[0].rstrip().endswith("last 1h")
        assert "now 135 req/s" in lines[1]
        assert "min 90 req/s" in lines[1]
        assert "max 160 req/s" in lines[1]
        assert braille_count(lines[2:-1]) >= 20
        # y-axis: max, mid and min labels
        assert "160 req/s┤" in text and "125 req/s┤" in text and "90 req/s┤" in text
        # x-axis: first and last time from the points, in UTC
        assert hhmm(T0) in lines[-1] and hhmm(T0 + 9 * 60) in lines[-1]
        assert "no data" not in text
        assert not chart.incident


async def test_chart_line_colour_by_signal() -> None:
    app = ChartApp()
    async with app.run_test(size=(60, 16)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.ERROR_RATIO, [0.01, 0.02, 0.015, 0.01, 0.012]))
        await pilot.pause()
        colours = {
            seg.style.color.name
            for y in range(2, chart.size.height - 1)
            for seg in chart.render_line(y)
            if any(is_braille(ch) for ch in seg.text) and seg.style and seg.style.color
        }
        assert colours == {SIGNAL_COLOURS[Signal.ERROR_RATIO]}
        assert chart.render_line(0).text.startswith("Error ratio")


@pytest.mark.parametrize("value", [None, "empty", "all-nan"])
async def test_chart_no_data(value: str | None) -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, RATE_VALUES))
        await pilot.pause()
        if value is None:
            chart.set_series(None)
        elif value == "empty":
            chart.set_series(series(Signal.REQUEST_RATE, []))
        else:
            chart.set_series(series(Signal.REQUEST_RATE, [NAN, NAN, NAN]))
        await pilot.pause()
        lines = chart_lines(chart)
        assert any("no data" in line for line in lines)
        assert braille_count(lines) == 0
        assert lines[0].startswith("Request rate")  # title known from the constructor
        assert chart.has_class("-empty")
        assert not chart.has_data


async def test_chart_nan_gaps() -> None:
    app = ChartApp()
    values = [1.0, 2.0, 3.0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 3.0, 2.0, 1.0]
    async with app.run_test(size=(40, 14)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, values))
        await pilot.pause()
        lines = chart_lines(chart)
        assert "now 1 req/s" in lines[1] and "min 1 req/s" in lines[1] and "max 3 req/s" in lines[1]
        plot = lines[2:-1]
        assert braille_count(plot) > 0
        # The gap is not bridged: some plot columns in the middle are empty on every row.
        start = max(line.index("│") if "│" in line else line.index("┤") for line in plot) + 1
        columns = ["".join(line[c] for line in plot) for c in range(start, 40)]
        drawn = [any(is_braille(ch) for ch in col) for col in columns]
        assert drawn[0] and drawn[-1]
        assert not all(drawn)


async def test_chart_single_point() -> None:
    app = ChartApp()
    async with app.run_test(size=(40, 12)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.LATENCY_P95, [0.25]))
        await pilot.pause()
        lines = chart_lines(chart)
        assert lines[0].startswith("Latency p95")
        assert "now 250 ms" in lines[1]
        assert braille_count(lines) == 1
        assert hhmm(T0) in lines[-1]


async def test_chart_flat_line_in_middle() -> None:
    app = ChartApp()
    async with app.run_test(size=(40, 13)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.CPU, [0.5] * 20))
        await pilot.pause()
        lines = chart_lines(chart)
        plot = lines[2:-1]
        rows = [i for i, line in enumerate(plot) if any(is_braille(ch) for ch in line)]
        assert len(rows) == 1
        assert 0 < rows[0] < len(plot) - 1
        assert "0.5 cores┤" in plot[rows[0]]


async def test_chart_negative_values() -> None:
    app = ChartApp()
    async with app.run_test(size=(50, 14)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.CPU, [-2.0, -1.0, 0.0, 1.0, 2.0], unit="delta"))
        await pilot.pause()
        text = "\n".join(chart_lines(chart))
        assert "min -2 delta" in text and "max 2 delta" in text
        assert "-2 delta┤" in text and "0 delta┤" in text
        assert braille_count(text.splitlines()) > 0


async def test_chart_resize_rerenders() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, RATE_VALUES))
        await pilot.pause()
        assert len(chart_lines(chart)[0]) == 80
        await pilot.resize_terminal(50, 12)
        await pilot.pause()
        lines = chart_lines(chart)
        assert chart.size.width == 50 and len(lines) == 12
        assert all(len(line) == 50 for line in lines)
        assert braille_count(lines) > 0
        assert hhmm(T0 + 9 * 60) in lines[-1]


async def test_chart_tiny_sizes_do_not_crash() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, RATE_VALUES))
        for width, height in [(6, 3), (3, 4), (12, 5), (20, 2)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            lines = chart_lines(chart)
            assert all(len(line) == chart.size.width for line in lines)


async def test_chart_incident_accent() -> None:
    app = ChartApp()
    async with app.run_test(size=(60, 14)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.ERROR_RATIO, [0.001] * 20 + [0.2]))
        await pilot.pause()
        assert chart.incident and chart.has_class("-incident")
        assert "▲" in chart.render_line(0).text
        chart.set_series(series(Signal.ERROR_RATIO, [0.001] * 21))
        await pilot.pause()
        assert not chart.incident and not chart.has_class("-incident")


async def test_chart_multi_series_legend() -> None:
    class LatencyApp(App[None]):
        def compose(self) -> ComposeResult:
            yield MetricChart((Signal.LATENCY_P50, Signal.LATENCY_P95, Signal.LATENCY_P99), id="chart")

    app = LatencyApp()
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series([  # any order: legend follows the constructor's order
            series(Signal.LATENCY_P99, [0.2, 0.3, 0.25]),
            series(Signal.LATENCY_P50, [0.01, 0.012, 0.011]),
            series(Signal.LATENCY_P95, [0.05, 0.06, 0.055]),
        ])
        await pilot.pause()
        lines = chart_lines(chart)
        assert lines[0].startswith("Latency")
        legend = lines[1]
        assert legend.index("p50 11 ms") < legend.index("p95 55 ms") < legend.index("p99 250 ms")
        colours = {
            seg.style.color.name
            for y in range(2, chart.size.height - 1)
            for seg in chart.render_line(y)
            if any(is_braille(ch) for ch in seg.text) and seg.style and seg.style.color
        }
        assert colours == {SIGNAL_COLOURS[s] for s in
                           (Signal.LATENCY_P50, Signal.LATENCY_P95, Signal.LATENCY_P99)}
        assert "300 ms┤" in "\n".join(lines) and "10 ms┤" in "\n".join(lines)


# MetricsGrid --------------------------------------------------------------------------------------


class GridApp(App[None]):
    def __init__(self, **grid_options: object) -> None:
        super().__init__()
        self.grid_options = grid_options

    def compose(self) -> ComposeResult:
        yield MetricsGrid(id="grid", **self.grid_options)  # type: ignore[arg-type]


def all_series(scale: float = 1.0) -> list[MetricSeries]:
    return [
        series(Signal.REQUEST_RATE, [v * scale for v in RATE_VALUES]),
        series(Signal.ERROR_RATIO, [0.01 * scale, 0.02 * scale, 0.015 * scale]),
        series(Signal.LATENCY_P50, [0.01, 0.012, 0.011]),
        series(Signal.LATENCY_P95, [0.05, 0.06, 0.055]),
        series(Signal.LATENCY_P99, [0.2, 0.3, 0.25]),
        series(Signal.CPU, [0.3, 0.35, 0.4]),
        series(Signal.MEMORY, [512 * MIB, 600 * MIB, 1.2 * GIB]),
    ]


async def test_grid_updates_in_place() -> None:
    app = GridApp()
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one("#grid", MetricsGrid)
        grid.set_series(all_series(), "last 1h")
        await pilot.pause()
        before = list(app.query(MetricChart))
        assert len(before) == 5
        assert list(grid.charts) == ["request_rate", "error_ratio", "latency", "cpu", "memory"]
        rate = grid.chart_for(Signal.REQUEST_RATE)
        assert "now 135 req/s" in rate.render_line(1).text
        assert "now 1.2 GiB" in grid.chart_for(Signal.MEMORY).render_line(1).text
        assert grid.chart_for(Signal.LATENCY_P99) is grid.charts["latency"]

        grid.set_series(all_series(scale=10.0), "last 6h")
        await pilot.pause()
        after = list(app.query(MetricChart))
        assert len(after) == len(before)
        assert all(a is b for a, b in zip(before, after, strict=True))
        assert "now 1.35k req/s" in rate.render_line(1).text
        assert rate.render_line(0).text.rstrip().endswith("last 6h")
        # Two columns: request rate and error ratio side by side, latency spanning both.
        errors = grid.chart_for(Signal.ERROR_RATIO)
        latency = grid.charts["latency"]
        assert rate.region.y == errors.region.y and rate.region.x < errors.region.x
        assert latency.region.width > rate.region.width
        assert braille_count([rate.render_line(y).text for y in range(rate.size.height)]) > 0


async def test_grid_missing_signals_show_no_data() -> None:
    app = GridApp()
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one("#grid", MetricsGrid)
        grid.set_series([series(Signal.CPU, [0.3, 0.4])], "last 1h")
        await pilot.pause()
        memory = grid.chart_for(Signal.MEMORY)
        assert any("no data" in memory.render_line(y).text for y in range(memory.size.height))
        assert not any("no data" in grid.chart_for(Signal.CPU).render_line(y).text
                       for y in range(memory.size.height))
        grid.set_series([], "")
        await pilot.pause()
        assert all(not chart.has_data for chart in grid.charts.values())


async def test_grid_separate_latency_charts() -> None:
    app = GridApp(combine_latency=False)
    async with app.run_test(size=(120, 50)) as pilot:
        grid = app.query_one("#grid", MetricsGrid)
        grid.set_series(all_series(), "last 1h")
        await pilot.pause()
        assert len(app.query(MetricChart)) == 7
        p95 = grid.chart_for(Signal.LATENCY_P95)
        assert p95.render_line(0).text.startswith("Latency p95")
        assert "now 55 ms" in p95.render_line(1).text


async def test_chart_narrow_stats_keep_now() -> None:
    app = ChartApp()
    async with app.run_test(size=(30, 10)) as pilot:
        chart = app.query_one("#chart", MetricChart)
        chart.set_series(series(Signal.REQUEST_RATE, [v * 10 for v in RATE_VALUES]))
        await pilot.pause()
        lines = chart_lines(chart)
        assert lines[1].rstrip() == "now 1.35k req/s"  # min/max dropped rather than cut mid-value
        assert "1.6k req/s┤" in "\n".join(lines)  # the range stays on the y-axis


def test_the_step_follows_the_window_and_the_chart_width() -> None:
    from idp_tui.api.models import Window
    from idp_tui.ui.panes.metrics import TARGET_POINTS, points_for, step_for

    assert points_for(0) == TARGET_POINTS  # before the layout
    assert [points_for(w) for w in (10, 78, 156, 1000)] == [60, 140, 300, 600]
    assert step_for(Window.H24, points_for(156)) == 285.0  # 86400 s / 300 points, to 15 s
    assert step_for(Window.H24, points_for(40)) == 1080.0
    assert step_for(Window.M15, points_for(156)) == 15.0  # never under 15 s
