"""The delivery history fetched before, kept in the data dir (``delivery-history.json``) so that
a restart asks the sources only for what happened since (and a day before, where a deployment's
outcome may have changed), not for months again.

The file is bounded: at most :data:`MAX_DAYS` of history and :data:`MAX_DEPLOYS` deployments (the
newest kept). It holds the rows the four keys need (:class:`~.dora.Deploy`,
:class:`~.dora.IncidentRow`) of every environment, and the sources it came from: a config with
other sources starts afresh. A damaged or foreign file is ignored and written again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dora import DAY, Deploy, IncidentRow

CACHE_FILE = "delivery-history.json"
FORMAT = 1
#: History older than this many days is dropped (two 180-day windows and some).
MAX_DAYS = 370
#: At most this many deployments are kept (the newest).
MAX_DEPLOYS = 300_000
#: A refresh asks again for this much before the end of what is kept.
OVERLAP = DAY
#: Files larger than this are not read (written by something else).
MAX_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True)
class Cached:
    """What the file held: rows of ``[since, until)``."""

    since: float
    until: float
    deploys: list[Deploy]
    incidents: list[IncidentRow]


def load(folder: Path, sources: Sequence[str]) -> Cached | None:
    """The kept history of these ``sources`` (None: none, another config's, or unreadable)."""
    path = folder / CACHE_FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        value = json.loads(path.read_bytes())
        if value.get("format") != FORMAT or value.get("sources") != sorted(sources):
            return None
        deploys = [Deploy(str(d[0]), str(d[1]), str(d[2]), float(d[3]), str(d[4]), str(d[5]),
                          tuple(float(c) for c in d[6]), str(d[7])) for d in value["deploys"]]
        incidents = [IncidentRow(str(i[0]), None if i[1] is None else str(i[1]), float(i[2]),
                                 None if i[3] is None else float(i[3]), str(i[4]))
                     for i in value["incidents"]]
        return Cached(float(value["since"]), float(value["until"]), deploys, incidents)
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def merge(old: Iterable[Deploy], new: Iterable[Deploy]) -> list[Deploy]:
    """The rows of both, a row of ``new`` replacing the one of ``old`` with its id."""
    by_id = {d.id: d for d in old}
    by_id.update((d.id, d) for d in new)
    return sorted(by_id.values(), key=lambda d: d.at)


def merge_incidents(old: Iterable[IncidentRow], new: Iterable[IncidentRow]
                    ) -> list[IncidentRow]:
    by_key = {(i.service, i.id, i.started): i for i in old}
    by_key.update(((i.service, i.id, i.started), i) for i in new)
    return sorted(by_key.values(), key=lambda i: i.started)


def save(folder: Path, sources: Sequence[str], cached: Cached) -> Cached:
    """Write ``cached`` (bounded: see the module) atomically; returns what was written."""
    since = max(cached.since, cached.until - MAX_DAYS * DAY)
    deploys = [d for d in cached.deploys if d.at >= since][-MAX_DEPLOYS:]
    if len(deploys) == MAX_DEPLOYS:
        since = max(since, deploys[0].at)
    incidents = [i for i in cached.incidents if i.started >= since]
    value: dict[str, Any] = {
        "format": FORMAT, "sources": sorted(sources), "since": since, "until": cached.until,
        "deploys": [[d.id, d.service, d.environment, d.at, d.outcome, d.kind, list(d.commits),
                     d.version] for d in deploys],
        "incidents": [[i.service, i.environment, i.started, i.resolved, i.id] for i in incidents],
    }
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".delivery-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, separators=(",", ":"))
        os.replace(tmp, folder / CACHE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Cached(since, cached.until, deploys, incidents)
