"""The hub: the only thing that talks to sources.

Sources → hub → panes. The hub owns refresh scheduling (one poll loop per watched topic, re-armed
after each refresh finishes), caching (the last good answer of every source), per-call timeouts and
error isolation. Each source runs on an event loop of its own in a thread of its own, so a source
that raises, hangs, blocks its thread or returns garbage only ever shows up as an error in its pane
and in the health view. Nothing in here imports Textual: the app and the command line share it.

The modules, by what they hold:

- ``core``: the :class:`Hub` (scheduling, caching, routing, health bookkeeping), subscriptions;
- ``topics``: :class:`Topic`, :class:`Snapshot` and the table of topic kinds (:data:`TOPICS`);
- ``runner``: :class:`SourceRunner`, a source on its own loop and thread;
- ``failures``: :class:`Failure`, :func:`classify`, hints, :class:`SourceHealth`;
- ``parts``: the relays of what a source says of itself (its parts' health), and which
  failures an answer disproves;
- ``validation``: checking the records a source hands over;
- ``logstreams``: :class:`LogStream`, live logs in batches with backpressure;
- ``joins``: joining several sources' answers (:func:`merge_services`, :class:`Platform`…);
- ``timing``: what the poll loops wait on (the loop's time, or a test's :class:`ManualTimer`).
"""

from __future__ import annotations

from ..api.kinds import TopicKind
from .core import (
    MIN_CHANGE_GAP,
    TRANSIENT_RETRY,
    Callback,
    ChangeRelay,
    Hub,
    ServiceNotListed,
    StatusRelay,
    Subscription,
)
from .failures import (
    MESSAGE_MAX,
    TRANSIENT_ERRORS,
    Failure,
    NotRespondingError,
    SourceHealth,
    _bounded,
    _loggable,
    classify,
    log_file,
)
from .joins import (
    Platform,
    count_facets,
    facet_values,
    merge_facets,
    merge_platform,
    merge_services,
)
from .logstreams import (
    LOG_BATCH_MAX,
    LOG_FLUSH_SECONDS,
    LOG_MAX_IN_FLIGHT,
    LOG_PAUSE_POLL,
    LogStream,
)
from .runner import MAX_ABANDONED_CALLS, SourceRunner
from .timing import LoopTimer, ManualTimer, PollTimer
from .topics import (
    DEFAULT_INTERVALS,
    KIND_CAPABILITY,
    OPTIONAL_METHODS,
    REFRESH_SETTINGS,
    TOPICS,
    Snapshot,
    Topic,
    TopicSpec,
)
from .validation import _aware, _dated_fields, _validate_list, _validate_one


__all__ = [
    "DEFAULT_INTERVALS",
    "KIND_CAPABILITY",
    "LOG_BATCH_MAX",
    "LOG_FLUSH_SECONDS",
    "LOG_MAX_IN_FLIGHT",
    "LOG_PAUSE_POLL",
    "MAX_ABANDONED_CALLS",
    "MESSAGE_MAX",
    "MIN_CHANGE_GAP",
    "OPTIONAL_METHODS",
    "REFRESH_SETTINGS",
    "TOPICS",
    "TRANSIENT_ERRORS",
    "TRANSIENT_RETRY",
    "Callback",
    "ChangeRelay",
    "Failure",
    "Hub",
    "LogStream",
    "LoopTimer",
    "ManualTimer",
    "NotRespondingError",
    "Platform",
    "PollTimer",
    "ServiceNotListed",
    "Snapshot",
    "SourceHealth",
    "SourceRunner",
    "StatusRelay",
    "Subscription",
    "Topic",
    "TopicKind",
    "TopicSpec",
    "classify",
    "count_facets",
    "facet_values",
    "log_file",
    "merge_facets",
    "merge_platform",
    "merge_services",
]
