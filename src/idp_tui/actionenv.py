"""Actions on a preview (transient) environment itself: extend its time to live, delete it.

What the action manager checks of such a request, which source it goes to, and the durations
they take, in one place for the manager, the command line and the dialog. Textual-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .actionspec import spec
from .api.actions import ActionRequest
from .api.errors import SourceError

__all__ = ["MAX_EXTEND_SECONDS", "checked_environment_request", "duration_seconds",
           "duration_text", "extend_seconds", "pick_environment_source"]

#: The most an environment is extended by at once (30 days).
MAX_EXTEND_SECONDS = 30 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(text: str) -> int:
    """``"2d"``, ``"36h"``, ``"90m"``, ``"1w"`` (or plain seconds) as whole seconds; a
    ``ValueError`` in words for anything else, zero, or more than :data:`MAX_EXTEND_SECONDS`."""
    value = text.strip().lower()
    seconds = math.nan
    if 0 < len(value) <= 20:
        try:
            seconds = float(value[:-1]) * _UNITS[value[-1]] if value[-1] in _UNITS \
                else float(value)
        except ValueError:
            seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(f"expected a duration such as 12h, 2d or 1w, got {text[:40]!r}")
    whole = round(seconds)
    if not 0 < whole <= MAX_EXTEND_SECONDS:
        raise ValueError(f"expected a duration between 1s and {MAX_EXTEND_SECONDS // 86400}d, "
                         f"got {text[:40]!r}")
    return whole


def duration_text(seconds: float) -> str:
    """Whole seconds as the shortest exact unit: ``2d``, ``36h``, ``90m``, ``45s``."""
    whole = int(seconds)
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def extend_seconds(params: dict[str, Any]) -> int:
    """The request's ``params["seconds"]`` as a whole number of seconds (checked)."""
    value = params.get("seconds")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SourceError("extend needs by how much: params.seconds, a whole number of seconds")
    try:
        seconds = duration_seconds(value) if isinstance(value, str) else int(value)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    if not 0 < seconds <= MAX_EXTEND_SECONDS or seconds != value and not isinstance(value, str):
        raise SourceError(f"extend takes 1 to {MAX_EXTEND_SECONDS} whole seconds, got {value!r}")
    return seconds


def checked_environment_request(request: ActionRequest) -> ActionRequest:
    """``request`` (a kind on an environment) checked: an environment named and, for a kind
    with a duration, ``params["seconds"]`` made a whole number. ``SourceError`` otherwise."""
    row = spec(request.kind)
    if not request.environment:
        raise SourceError(f"{request.kind.value} needs an environment")
    if row.duration:
        seconds = extend_seconds(request.params)
        if request.params.get("seconds") != seconds or set(request.params) != {"seconds"}:
            request = request.model_copy(update={"params": {"seconds": seconds}})
    elif request.params:
        request = request.model_copy(update={"params": {}})
    return request


def pick_environment_source(environment: str, listed: Iterable[tuple[str, Iterable[Any]]],
                            source: str | None = None) -> str | None:
    """The source (of ``listed``: each able source's name and the environments it reported)
    whose environments include ``environment`` (its preview one first); ``source`` when given
    and among them. None when none does."""
    having: list[tuple[bool, str]] = []
    for name, environments in listed:
        for env in environments:
            if getattr(env, "name", None) == environment:
                having.append((getattr(getattr(env, "kind", None), "value", "") != "preview",
                               name))
                break
    if source is not None:
        return source if any(name == source for _, name in having) else None
    having.sort(key=lambda item: item[0])
    return having[0][1] if having else None
