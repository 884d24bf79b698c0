"""Why a call to a source failed, in words for the user, and what the health view shows of a source.

Every exception raised by or around a source becomes a :class:`Failure` (:func:`classify`): an error
class (a short word), the source's own message, and a hint — the source's hint when it gave one,
else one of the hub's. A source's :class:`SourceHealth` is its latest failure, its latency and the
counts of its calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ..api.backoff import Backoff
from ..api.errors import PartialAnswer, SourceError, SourceRateLimited
from ..api.health import PartHealth
from ..api.source import Capability

#: The file name of the log file in the data dir (``idp_tui.cli`` sets it up).
LOG_FILE_NAME = "idp-tui.log"


@dataclass(frozen=True)
class Failure:
    """Why a call to a source failed, in words for the user."""

    source: str
    error_class: str
    message: str
    hint: str | None = None
    #: The part of the source it is about (``SourceError.part``: a cluster), or None: all of it.
    part: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.error_class}: {self.message}"


_HINTS = {
    "timeout": "The source did not answer in time; check that the system behind it is up, or raise "
               "its `timeout` in the config.",
    "unreachable": "Check the URL and that the system is reachable from this machine.",
    "auth": "Check the credentials configured for this source.",
    "malformed data": "The source returned records the dashboard cannot read; this is a bug in the "
                      "source plugin or an unexpected server answer.",
    "not responding": "The source is stuck on earlier calls; it may be blocking its thread.",
    "plugin error": "The source plugin raised an unexpected error; see the log file for "
                    "details: {log_file}",
}

#: Failures worth asking again soon (a busy or briefly unreachable system).
TRANSIENT_ERRORS = frozenset({"timeout", "unreachable", "not responding"})

#: Longest error message or hint kept from a source (a server may put a whole page in one).
MESSAGE_MAX = 4_000


def log_file() -> str:
    """Where the log file is: the path of the file the ``idp_tui`` loggers write to (set up by
    the command, ``idp-tui.log`` in the data dir), or words saying so when none is set up."""
    for name in ("idp_tui.hub", "idp_tui", ""):
        for handler in logging.getLogger(name).handlers:
            path = getattr(handler, "baseFilename", None)
            if isinstance(handler, logging.FileHandler) and path and path != os.devnull:
                return str(path)
    return f"{LOG_FILE_NAME} in the data dir"


def hub_hint(error_class: str) -> str | None:
    """The hub's hint for ``error_class`` (the log file's path filled in), or None."""
    hint = _HINTS.get(error_class)
    return hint.format(log_file=log_file()) if hint and "{log_file}" in hint else hint


def _bounded(text: object, limit: int = MESSAGE_MAX) -> str:
    """``text`` as a string of at most about ``limit`` characters, cut with a marker."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = f"{s[:limit]}… [+{len(s) - limit:,} chars]"
    return s


_LOG_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _loggable(text: str) -> str:
    """Untrusted ``text`` safe for the log file: control characters, bidi overrides and lone
    surrogates (which a UTF-8 log file cannot even store) become ``\\xNN`` / ``\\uNNNN``."""
    return _LOG_UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                           else f"\\u{ord(m[0]):04x}", text)


def classify(source: str, exc: BaseException) -> Failure:
    """Turn any exception raised by or around a source into a :class:`Failure`.

    Messages and hints are bounded in length but otherwise kept as the source wrote them: they are
    untrusted text, drawn only through ``idp_tui.render`` and logged only through ``repr``. A
    source's own hint is used as it is, never followed by the hub's.
    """
    failure = _classify(source, exc)
    # The error class is drawn as is (it is meant to be a short word from the plugin's code), so
    # anything unprintable in it (a control character, a bidi override…) is replaced here.
    error_class = "".join(c if c.isprintable() else "\ufffd"
                          for c in _bounded(failure.error_class, 60))
    part = getattr(exc, "part", None) if isinstance(exc, SourceError) else None
    return Failure(failure.source, error_class, _bounded(failure.message),
                   None if failure.hint is None else _bounded(failure.hint),
                   None if not isinstance(part, str) or not part else _bounded(part, 300))


def _classify(source: str, exc: BaseException) -> Failure:
    if isinstance(exc, SourceRateLimited):
        retry_at = exc.retry_at.astimezone(UTC)
        return Failure(source, exc.error_class,
                       f"{exc.message} — waiting, next try at {retry_at:%H:%M:%S} UTC",
                       exc.hint or "The dashboard tries again by itself; nothing is lost.")
    if isinstance(exc, SourceError):
        return Failure(source, exc.error_class, exc.message, exc.hint or hub_hint(exc.error_class))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Failure(source, "timeout", "no answer in time", hub_hint("timeout"))
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = f"{exc.error_count()} invalid field(s); first: {where}: {first.get('msg', exc)}"
        return Failure(source, "malformed data", msg, hub_hint("malformed data"))
    if isinstance(exc, ConnectionError | OSError):
        return Failure(source, "unreachable", str(exc) or type(exc).__name__,
                       hub_hint("unreachable"))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Failure(source, "plugin error", text, hub_hint("plugin error"))


def backs_off(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that will not fix itself (``SourceError.permanent``), asked
    again only after a back-off; a part of an answer (``PartialAnswer``) never is: what came is
    current, and the source backs its failing part off itself."""
    return isinstance(exc, SourceError) and not isinstance(exc, PartialAnswer) \
        and not isinstance(exc, SourceRateLimited) and bool(exc.permanent)


def in_words(seconds: float) -> str:
    """A wait in words: "12 s", "4 min", "1 h 5 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


class NotRespondingError(SourceError):
    error_class = "not responding"


@dataclass
class SourceHealth:
    """What the health view shows of one source."""

    name: str
    type: str
    capabilities: frozenset[Capability]
    last_attempt: datetime | None = None
    last_ok: datetime | None = None
    latency: float | None = None
    failure: Failure | None = None
    calls: int = 0
    failures: int = 0
    #: The source class's one-line description.
    description: str = ""
    #: What the source says of itself (``SourceContext.set_status``): key → text.
    details: dict[str, str] = field(default_factory=dict)
    #: The source asked to wait until then (a rate limit): it is not called before.
    retry_at: datetime | None = None
    #: A failure that will not fix itself is backed off: the soonest next try of the source's
    #: backed-off calls (None: none backed off).
    next_try: datetime | None = None
    #: The health of each part the source reports (``SourceContext.set_part_health``: its
    #: clusters, namespaces, repositories), by name, in the order first reported.
    parts: dict[str, PartHealth] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.failure is not None and self.failure.error_class == "rate limited":
            return "waiting"
        if self.failure is not None:
            return "error"
        # Asked but never answered (a first call still running) is waiting too, not ok.
        return "ok" if self.last_ok is not None else "waiting"


class Backoffs:
    """The hub's calls that failed for good, each waiting on the hub's timer: by (source, topic),
    or (source, None) for every call of a source (refused credentials, ``whole_source``).

    Each keeps the failure to show meanwhile and the next try on the hub's clock (for words).
    """

    def __init__(self) -> None:
        self._table: Backoff[tuple[str, Any]] = Backoff()

    def __len__(self) -> int:
        return len(self._table)

    def blocked(self, source: str, topic: Any, now: float) -> Failure | None:
        """The failure to show instead of asking ``source`` about ``topic`` at ``now``; None:
        ask."""
        for key in ((source, None), (source, topic)):
            waiting = self._table.waiting(key, now)
            if waiting is not None:
                return waiting.error[0]
        return None

    def failed(self, source: str, topic: Any, exc: BaseException, failure: Failure, now: float,
               clock_now: datetime) -> None:
        """``source`` failed ``topic`` for good at ``now``: one more strike (one for answers to
        calls made together)."""
        key = (source, None if getattr(exc, "whole_source", False) else topic)
        current = self._table.waiting(key, now)
        wait = self._table.failed(key, now, None)
        same = current is not None and current is wait and current.error is not None
        next_try = current.error[1] if same else clock_now + timedelta(seconds=wait.wait)
        wait.error = (failure, next_try)

    def answered(self, source: str, topic: Any) -> bool:
        """``source`` answered ``topic``: its strikes (and the source's) are forgotten; whether
        there were any."""
        before = len(self._table)
        self._table.succeeded((source, topic))
        self._table.succeeded((source, None))
        return len(self._table) != before

    def failure(self, key: tuple[str, Any]) -> Failure | None:
        """The failure shown while ``key`` is backed off (None: not backed off)."""
        for item, wait in self._table.items():
            if item == key and wait.error is not None:
                return wait.error[0]
        return None

    def forget_where(self, match: Any) -> set[str]:
        """Forget the back-offs whose (source, topic) ``match`` accepts; the sources that had
        any."""
        return {key[0] for key in self._table.forget(match)}

    def next_try(self, source: str, now: float) -> datetime | None:
        """The soonest next try of ``source``'s calls backed off at ``now``."""
        tries = [w.error[1] for (name, _topic), w in self._table.items()
                 if name == source and w.due > now and w.error is not None]
        return min(tries) if tries else None

    def forget(self, source: str | None = None) -> set[str]:
        """Forget the back-offs of ``source`` (of every source without it); the sources that
        had any."""
        return {key[0] for key in self._table.forget(
            lambda key: source is None or key[0] == source)}
