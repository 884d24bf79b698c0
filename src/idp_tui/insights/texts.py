"""The four keys' values as the command line and the Insights pane write them: durations in
minutes, hours or days, frequencies per day, week or month, rates in per cent ("–": no value)."""

from __future__ import annotations

from collections.abc import Callable

from .dora import CHANGE_FAILURE_RATE, DAY, DEPLOYMENT_FREQUENCY, HOUR, LEAD_TIME, TIME_TO_RESTORE


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < HOUR:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f}h"
    return f"{seconds / DAY:.1f}d"


def frequency(per_day: float | None) -> str:
    if per_day is None:
        return "–"
    if per_day >= 1:
        return f"{per_day:.1f}/day"
    if per_day * 7 >= 1:
        return f"{per_day * 7:.1f}/week"
    return f"{per_day * 30:.1f}/month"


def rate(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.0f}%"


#: Each key's writer.
FORMAT: dict[str, Callable[[float | None], str]] = {
    DEPLOYMENT_FREQUENCY: frequency, LEAD_TIME: duration, CHANGE_FAILURE_RATE: rate,
    TIME_TO_RESTORE: duration}
