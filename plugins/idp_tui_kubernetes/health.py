"""The health of each cluster (kubeconfig context) and of each environment's namespace (a preview
environment's too, while it exists), as parts of the source (``SourceContext.set_part_health``),
and asking failing watches again at a refresh.

A cluster is in error when none of its watches answers (unreachable, refused credentials); an
environment's namespace when one of its watches fails (a namespace that does not exist, a Role that
does not grant ``list``), beside the other namespaces of the same cluster that are fine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from idp_tui import SourceContext

from .cluster import Where
from .informer import Informer

#: One report at a time (from the watches' threads and the source's loop).
_REPORTING = threading.Lock()
#: Seconds a refresh waits, at most, for the failing watches it asked again to answer.
RECHECK_WAIT = 2.0


async def recheck(informers: Iterable[Informer[Any]], wait: float = RECHECK_WAIT) -> None:
    """Ask the failing informers again now (their pause after an error cut short), and wait (at
    most ``wait`` seconds) for those attempts to end: a refresh after a cluster came back shows it
    back, not the error of before."""
    asked = {informer: informer.retry_now() for informer in informers
             if informer.error is not None and informer.running}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while asked and loop.time() < deadline:
        await asyncio.sleep(0.02)
        asked = {i: n for i, n in asked.items() if i.attempts <= n and i.error is not None}


def report(context: SourceContext, places: Iterable[Where],
           shown: set[str] | None = None) -> None:
    """Say the health of every cluster and namespace of ``places`` (only changes go further).

    ``shown``: the parts said before (updated here); those no longer in ``places`` (a preview
    namespace deleted) are no longer shown."""
    with _REPORTING:
        _report(context, places, shown)


def _report(context: SourceContext, places: Iterable[Where], shown: set[str] | None) -> None:
    clusters: dict[str, list[Where]] = {}
    now: set[str] = set()
    for where in places:
        clusters.setdefault(where.cluster.part, []).append(where)
    for name, wheres in clusters.items():
        informers = [i for where in wheres for i in where.informers()]
        errors = [i.error for i in informers if i.error is not None]
        if informers and len(errors) == len(informers):
            context.set_part_health(name, False, error=errors[0], kind="context")
        else:
            answered = any(i.synced.is_set() for i in informers)
            context.set_part_health(name, True if answered else None,
                                    wheres[0].cluster.latency if answered else None,
                                    kind="context")
        now.add(name)
        for where in wheres:
            now.add(_namespace(context, where, name))
    if shown is not None:
        for gone in shown - now:
            context.forget_part(gone)
        shown.clear()
        shown.update(now)


def namespace_part(where: Where) -> str:
    """The name of an environment's namespace as a part: ``NAMESPACE (ENVIRONMENT)``; a preview
    environment's ``NAMESPACE (preview)``."""
    return f"{where.namespace} ({'preview' if where.preview else where.environment})"


def _namespace(context: SourceContext, where: Where, cluster: str) -> str:
    informers = where.informers()
    name = namespace_part(where)
    error = next((i.error for i in informers if i.error is not None), None)
    latencies = [i.latency for i in informers if i.latency is not None]
    latency = max(latencies) if latencies else None
    if error is not None:
        context.set_part_health(name, False, latency, error=error, kind="namespace",
                                parent=cluster)
    elif informers and all(i.synced.is_set() for i in informers):
        context.set_part_health(name, True, latency, kind="namespace", parent=cluster)
    else:
        context.set_part_health(name, None, kind="namespace", parent=cluster)
    return name
