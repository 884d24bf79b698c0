"""Whether a StatefulSet's rollout is stuck, as a Deployment's progress deadline says it of a
Deployment (a StatefulSet has neither ``progressDeadlineSeconds`` nor a Progressing condition).

A StatefulSet rolling out is stuck when a pod of its update revision waits for a reason that does
not pass by itself (``ImagePullBackOff``, ``CrashLoopBackOff``…), or when its
``currentRevision`` has differed from its ``updateRevision`` for longer than
:data:`PROGRESS_DEADLINE` since the last progress: the newest of the update revision's pods
created or becoming ready, the moment this source saw the rollout begin, and (while no pod of it
was made) the update revision's creation. Without any of these (pods said to be updated that
cannot be seen) it is not judged stuck by time. An update held by a partition, or one waiting for pods to be deleted
(``OnDelete``), is not stuck by time.

The pods are read (with the workload's label selector) only for the StatefulSets rolling out;
a rollout an action follows fails as soon as a pod of its update revision waits for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from idp_tui import SourceError

from . import objects as o
from .cluster import Where
from .pods import list_pods

log = logging.getLogger("idp_tui.kubernetes")

#: Seconds without progress after which a StatefulSet's rollout is stuck: the default
#: ``progressDeadlineSeconds`` of a Deployment.
PROGRESS_DEADLINE = 600
#: Why a container waits that does not pass by itself.
STUCK_REASONS = frozenset({
    "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
#: The label the StatefulSet controller gives each pod: the revision it runs.
REVISION_HASH = "controller-revision-hash"


def _pods_at(pods: Iterable[Mapping[str, Any]], revision: str) -> list[Mapping[str, Any]]:
    return [p for p in pods
            if o._map(o._dict(p.get("metadata")).get("labels")).get(REVISION_HASH) == revision]


def waiting_pod(pods: Iterable[Mapping[str, Any]], revision: str) -> str | None:
    """"pod NAME REASON: message" for the first pod at ``revision`` with a container that waits
    for a reason in :data:`STUCK_REASONS`; None if none does."""
    for pod in sorted(_pods_at(pods, revision),
                      key=lambda p: str(o._dict(p.get("metadata")).get("name") or "")):
        status = o._dict(pod.get("status"))
        for cs in [*o._list(status.get("initContainerStatuses")),
                   *o._list(status.get("containerStatuses"))]:
            waiting = o._dict(o._dict(o._dict(cs).get("state")).get("waiting"))
            reason = str(waiting.get("reason") or "")
            if reason in STUCK_REASONS:
                name = o._dict(pod.get("metadata")).get("name") or "?"
                message = " ".join(str(waiting.get("message") or "").split())[:200]
                return f"pod {name} {reason}" + (f": {message}" if message else "")
    return None


def last_progress(pods: Iterable[Mapping[str, Any]], revision: str,
                  *known: datetime | None) -> datetime | None:
    """The newest sign of progress of a rollout to ``revision``: its pods created or becoming
    ready, and the times in ``known``."""
    times = [t for t in known if t is not None]
    for pod in _pods_at(pods, revision):
        times.append(o.parse_time(o._dict(pod.get("metadata")).get("creationTimestamp")))
        for cond in o._list(o._dict(pod.get("status")).get("conditions")):
            if isinstance(cond, dict) and cond.get("type") == "Ready" \
                    and cond.get("status") == "True":
                times.append(o.parse_time(cond.get("lastTransitionTime")))
    found = [t for t in times if t is not None]
    return max(found) if found else None


def judge(workload: o.Workload, pods: list[Mapping[str, Any]], *, now: datetime,
          revision_created: datetime | None = None, began: datetime | None = None,
          deadline: float = PROGRESS_DEADLINE) -> str | None:
    """Why ``workload`` (a StatefulSet) is stuck, or None if it is not."""
    if workload.kind != "StatefulSet" or workload.replicas == 0 or not o.rolling_out(workload):
        return None
    revision = workload.update_revision
    if revision:
        waiting = waiting_pod(pods, revision)
        if waiting is not None:
            return waiting
    if not revision or workload.current_revision in ("", revision) \
            or workload.update_strategy == "OnDelete" or workload.partition > 0:
        return None
    # The revision's creation dates a rollout only while no pod of it was made (a rollback
    # reuses an old revision): after that, its pods do.
    since = last_progress(pods, revision, began,
                          revision_created if workload.updated == 0 else None)
    if since is None or now - since <= timedelta(seconds=deadline):
        return None
    minutes = int((now - since).total_seconds() // 60)
    return (f"no progress for {minutes} min: {workload.updated}/{workload.replicas} pods at "
            f"revision {revision} (more than the {deadline / 60:g} min a Deployment waits)")


async def waiting_now(where: Where, workload: o.Workload) -> str | None:
    """(A rollout an action follows.) Why a pod of the StatefulSet's update revision waits for
    good, or None (none does, or its pods cannot be read)."""
    if workload.kind != "StatefulSet" or not workload.update_revision:
        return None
    try:
        pods = await asyncio.to_thread(list_pods, where, workload)
    except SourceError as exc:
        log.info("statefulset/%s: its pods not read: %s", workload.name, exc.message)
        return None
    return waiting_pod(pods, workload.update_revision)


class StatefulSetRollouts:
    """The StatefulSets of a source judged stuck or not at each refresh, with the moment this
    source saw each rollout begin (a rollout under way when it started has none)."""

    def __init__(self) -> None:
        #: (cluster, namespace, name) → (the update revision seen, when it was seen to begin).
        self._seen: dict[tuple[str, str, str], tuple[str, datetime | None]] = {}

    def _began(self, where: Where, workload: o.Workload, now: datetime) -> datetime | None:
        key = (where.cluster.part, where.namespace, workload.name)
        before = self._seen.get(key)
        began: datetime | None = None
        if before is not None and before[0] != workload.update_revision:
            began = now
        elif before is not None:
            began = before[1]
        self._seen[key] = (workload.update_revision, began)
        return began

    async def stuck(self, where: Where, now: datetime) -> dict[str, str]:
        """``StatefulSet/NAME`` → why its rollout is stuck, for those of ``where`` that are."""
        out: dict[str, str] = {}
        for informer in where.workloads:
            for workload in informer.items():
                if workload.kind != "StatefulSet":
                    continue
                began = self._began(where, workload, now)
                if not o.rolling_out(workload) or workload.replicas == 0:
                    continue
                try:
                    pods = await asyncio.to_thread(list_pods, where, workload)
                except SourceError as exc:  # judged by time alone
                    log.info("statefulset/%s: its pods not read: %s", workload.name, exc.message)
                    pods = []
                revision = where.controller_revisions.get(workload.update_revision)
                why = judge(workload, pods, now=now, began=began,
                            revision_created=o.parse_time(revision.created) if revision else None)
                if why is not None:
                    out[workload.key] = why
        return out
