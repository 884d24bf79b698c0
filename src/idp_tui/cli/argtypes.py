"""The checks of the command line's values: every value has its limit (:mod:`idp_tui.limits`)
and a sentence when it is wrong (argparse then exits 2 with it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import limits


def bounded(text: str, what: str, limit: limits.Limit, *, newlines: bool = False) -> str:
    """``text`` if it is a non-empty value within ``limit`` without control characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected {what}, got an empty text")
    if len(text) > limit.size:
        raise argparse.ArgumentTypeError(
            f"{what} has at most {limit.size:,} characters, got {len(text):,}")
    allowed = "\n\t" if newlines else ""
    if not all(c.isprintable() or c == " " or c in allowed for c in text):
        raise argparse.ArgumentTypeError(
            f"control characters are not allowed in {what}, got {limits.shown(text)}")
    return text


def name(what: str) -> Any:
    """The check of a service, environment or template name (``what`` says which)."""

    def check(text: str) -> str:
        return bounded(text, f"a{'n' if what[0] in 'aeiou' else ''} {what} name", limits.NAME)

    check.__name__ = f"{what} name"
    return check


def version(text: str) -> str:
    return bounded(text, "a version", limits.VERSION)


def action_id(text: str) -> str:
    text = bounded(text, "an action id", limits.ACTION_ID)
    if any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"an action id has no spaces, got {limits.shown(text)}")
    return text


def reason(text: str) -> str:
    return bounded(text, "a reason", limits.REASON, newlines=True).strip()


def regex(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a regular expression, got an empty text")
    if len(text) > limits.GREP.size:
        raise argparse.ArgumentTypeError(f"a regular expression has at most "
                                         f"{limits.GREP.size:,} characters, got {len(text):,}")
    return text


def path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty text")
    return Path(text)


def count(limit: limits.Limit, *, least: int = 0) -> Any:
    """The check of a whole number from ``least`` to ``limit.size``."""

    def check(text: str) -> int:
        try:
            value = int(text.strip()) if len(text) <= 20 else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {limits.shown(text)}")
        if not least <= value <= limit.size:
            raise argparse.ArgumentTypeError(
                f"expected a number from {least} to {limit.size:,}, got {value:,}")
        return value

    check.__name__ = "number"
    return check


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> Any:
    import math
    from datetime import timedelta

    value = text.strip().lower()
    seconds = math.nan
    if 0 < len(value) <= 20:
        try:
            if value[-1] in _UNITS:
                seconds = float(value[:-1]) * _UNITS[value[-1]]
            else:
                seconds = float(value)
        except ValueError:
            seconds = math.nan
    if math.isnan(seconds):
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 30s, 10m, 2h or 1d, got {limits.shown(text)}")
    if not 0 < seconds <= limits.SINCE_DAYS.size * 86400:
        raise argparse.ArgumentTypeError(f"expected a duration between 1s and "
                                         f"{limits.SINCE_DAYS.size}d, got {limits.shown(text)}")
    return timedelta(seconds=seconds)


def extend_duration(text: str) -> int:
    """A preview environment's extension (``2d``, ``12h``, ``1w``) as whole seconds."""
    from ..actionenv import duration_seconds

    try:
        return duration_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rating(text: str) -> int:
    """A feedback rating, 1 to 5."""
    from ..usage import check_rating

    try:
        return check_rating(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def comment(text: str) -> str:
    """A feedback comment (its limit, no control characters but line breaks)."""
    from ..usage import check_comment

    try:
        return check_comment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
