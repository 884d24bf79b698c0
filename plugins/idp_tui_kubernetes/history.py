"""Delivery history from a cluster's rollout history (``Capability.DELIVERY``).

A Deployment's ReplicaSets and a StatefulSet's ControllerRevisions are what ``kubectl rollout
history`` shows: one revision a rollout, numbered. Each revision becomes a :class:`DeliveryEvent`
of the workload's service in the environment:

- **start**: the creation of the ReplicaSet (ControllerRevision) that the revision made;
- **version**: what its pod template runs, by the source's own rule (version label, else the
  service's container's image tag);
- **trigger**: its ``kubernetes.io/change-cause``, where one was recorded;
- **kind**: a rollback when it re-uses an older revision's object or its version is an older
  revision's (a rollback re-uses the old ReplicaSet and gives it the next number, keeping the
  numbers it had in ``deployment.kubernetes.io/revision-history``; a StatefulSet's re-used
  ControllerRevision is older than the revision before it);
- **outcome**: the newest revision succeeded once the workload is rolled out, failed once it is
  stuck past its progress deadline (still rolling out: not finished, not reported); an older one
  failed when it was replaced while its pods were not ready, was rolled back when the revision
  after it is a rollback, and succeeded otherwise.

What Kubernetes does not record is said in the README: the end of an older rollout (taken as its
start), whether an older revision that was replaced ever became available (its pods are gone),
when a rollback happened unless it is the newest revision (then the workload's Progressing
condition tells; otherwise the start of the next revision, the latest it can have been), and no
commits. Only the revisions Kubernetes keeps (``revisionHistoryLimit``, 10 by default) are there.
Apart from :func:`read_namespace` (one list request a kind of workload, for every workload of a
namespace, grouped here by owner), pure: the rules are tested on plain objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from idp_tui import DeliveryEvent, DeliveryKind, DeliveryOutcome, HistoryQuery

from . import objects as o

if TYPE_CHECKING:
    from .cluster import Where

#: The numbers a re-used ReplicaSet had before (set by the Deployment controller).
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
#: Revision numbers read from one ReplicaSet's history (Kubernetes bounds the annotation too).
MAX_NUMBERS = 100
#: Characters of a change-cause kept as the trigger.
MAX_CAUSE = 200

_NAMED_RS = re.compile(r'ReplicaSet "([^"]+)"')


@dataclass(frozen=True, slots=True)
class Entry:
    """One revision of a workload: the object that holds it, and whether it made that object
    (its creation is then the revision's start)."""

    number: int
    revision: o.Revision
    first: bool


def revision_numbers(obj: Mapping[str, Any]) -> tuple[int, ...]:
    """The numbers a ReplicaSet had before its current one (``revision-history``: ``"1,3"``)."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(REVISION_HISTORY) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return ()
    out: list[int] = []
    for part in text.split(",")[:MAX_NUMBERS]:
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return tuple(out)


def entries(workload: o.Workload, revisions: Iterable[o.Revision],
            earlier: Mapping[str, tuple[int, ...]]) -> list[Entry]:
    """The workload's revisions, oldest first. ``earlier``: ReplicaSet name → the numbers it had
    before its current one."""
    owned = [r for r in revisions if r.owned_by(workload)]
    by_number: dict[int, Entry] = {}
    if workload.kind == "Deployment":
        for r in owned:
            numbers = sorted({*earlier.get(r.name, ()), r.number})
            for n in numbers:
                entry = Entry(n, r, n == numbers[0])
                if n not in by_number or n == r.number:  # its current holder wins
                    by_number[n] = entry
        return [by_number[n] for n in sorted(by_number)]
    out: list[Entry] = []
    newest_made: datetime | None = None
    for r in sorted(owned, key=lambda r: r.number):
        created = o.parse_time(r.created)
        # A re-used ControllerRevision (a rollback) is older than the revision before it.
        made = created is not None and (newest_made is None or created >= newest_made)
        if made:
            newest_made = created
        out.append(Entry(r.number, r, made))
    return out


def entries_of(workload: o.Workload, objects: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """The workload's revisions, oldest first, from its ReplicaSets (a Deployment) or
    ControllerRevisions (a StatefulSet) as the API server sends them."""
    project = o.project_replicaset if workload.kind == "Deployment" \
        else o.project_controller_revision
    revisions: list[o.Revision] = []
    earlier: dict[str, tuple[int, ...]] = {}
    for obj in objects:
        revision = project(obj)
        if revision is not None:
            revisions.append(revision)
            earlier[revision.name] = revision_numbers(obj)
    return entries(workload, revisions, earlier)


def _progressing(workload: o.Workload) -> o.Condition | None:
    return o.condition(workload, "Progressing") if workload.kind == "Deployment" else None


def _names(condition: o.Condition | None, revision: o.Revision) -> bool:
    """The condition is about ``revision``'s ReplicaSet (or names none)."""
    if condition is None:
        return False
    match = _NAMED_RS.search(condition.message)
    return match is None or match.group(1) == revision.name


def workload_history(workload: o.Workload, found: list[Entry], *, service: str,
                     environment: str, version: Callable[[o.Revision], str]
                     ) -> list[DeliveryEvent]:
    """The delivery events of one workload's revisions (``found``, oldest first), the newest
    only once it finished."""
    if not found:
        return []
    last = len(found) - 1
    progressing = _progressing(workload)
    stuck = progressing is not None and progressing.status == "False" \
        and progressing.reason == "ProgressDeadlineExceeded"
    newest_cond = progressing if _names(progressing, found[last].revision) else None
    newest_end = o.parse_time(newest_cond.updated) if newest_cond is not None else None
    if stuck:
        newest: DeliveryOutcome | None = DeliveryOutcome.FAILED
    elif o.rollout_done(workload, None):
        newest = DeliveryOutcome.SUCCEEDED
    else:
        newest = None  # still rolling out

    # Starts: known where the revision made its object; a re-use (a rollback) the latest it can
    # have been: the next revision's start (the newest: when its rollout last progressed).
    starts: list[datetime | None] = [o.parse_time(e.revision.created) if e.first else None
                                     for e in found]
    following: datetime | None = None
    for i in range(last, -1, -1):
        if not found[i].first:
            starts[i] = following if i < last else newest_end
        if starts[i] is not None:
            following = starts[i]
    previous: datetime | None = None
    for i, start in enumerate(starts):  # never before the revision it followed
        if start is None and not found[i].first:
            starts[i] = previous
        elif start is not None and previous is not None and start < previous:
            starts[i] = previous
        previous = starts[i] or previous

    versions = [version(e.revision) for e in found]
    # A re-used object is a return to its template; an equal version, a return to that version.
    kinds = [DeliveryKind.ROLLBACK if not e.first or (v and v in versions[:i])
             else DeliveryKind.DEPLOY
             for i, (e, v) in enumerate(zip(found, versions, strict=True))]
    events: list[DeliveryEvent] = []
    for i, entry in enumerate(found):
        started = starts[i]
        if started is None:
            continue  # no time known at all
        holds = entry.number == entry.revision.number  # the object's current revision
        if i == last:
            outcome = newest
            if outcome is None:
                continue
            finished = max(newest_end, started) if newest_end is not None else started
        else:
            replaced = starts[i + 1] or started
            if holds and entry.revision.replicas > 0 and entry.revision.ready == 0 \
                    and workload.kind == "Deployment":
                outcome, finished = DeliveryOutcome.FAILED, replaced  # replaced, never ready
            else:
                outcome, finished = DeliveryOutcome.SUCCEEDED, started
                if kinds[i] is DeliveryKind.DEPLOY and kinds[i + 1] is DeliveryKind.ROLLBACK:
                    outcome = DeliveryOutcome.ROLLED_BACK
        cause = entry.revision.change_cause if holds else ""
        uid = f"@{workload.uid}" if workload.uid else ""
        events.append(DeliveryEvent(
            service=service, environment=environment, started=started, finished=finished,
            outcome=outcome, kind=kinds[i], version=versions[i][:200],
            trigger=cause[:MAX_CAUSE],
            id=f"{environment}/{workload.kind.lower()}/{workload.name}{uid}"
               f"/{entry.number}"))
    return events


def in_range(events: Iterable[DeliveryEvent], query: HistoryQuery) -> list[DeliveryEvent]:
    """The events that finished in ``[query.start, query.end)``."""
    return [e for e in events if e.finished is not None and query.start <= e.finished < query.end]


#: The objects that hold each kind of workload's revisions.
_HOLDERS = {"Deployment": "replicasets.apps", "StatefulSet": "controllerrevisions.apps"}


def read_namespace(where: Where, workloads: Iterable[o.Workload]
                   ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The ReplicaSets and ControllerRevisions of ``workloads`` (of one namespace), grouped by
    the workload that owns them (its kind and name): one list request of the namespace for
    each kind of workload among them, not one a workload (the label selector of the only
    one of its kind, when there is one; blocking: run it on a thread)."""
    workloads = list(workloads)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {(w.kind, w.name): [] for w in workloads}
    for kind in sorted({w.kind for w in workloads}):
        resource = _HOLDERS.get(kind)
        if resource is None:
            continue
        mine = [w for w in workloads if w.kind == kind]
        selector = ",".join(f"{k}={v}" for k, v in sorted(mine[0].selector.items())) \
            if len(mine) == 1 else ""
        if kind == "Deployment":
            data = where.cluster.read_json(
                "list", resource, where.namespace,
                lambda c: c.api("apps").list_namespaced_replica_set(
                    where.namespace, label_selector=selector or None, _preload_content=False,
                    _request_timeout=c.request_timeout))
        else:
            data = where.cluster.read_json(
                "list", resource, where.namespace,
                lambda c: c.api("apps").list_namespaced_controller_revision(
                    where.namespace, label_selector=selector or None, _preload_content=False,
                    _request_timeout=c.request_timeout))
        for obj in data.get("items") or ():
            owner = _owner_of(obj, kind) if isinstance(obj, dict) else None
            if owner is not None and (kind, owner) in out:
                out[(kind, owner)].append(obj)
    return out


def _owner_of(obj: Mapping[str, Any], kind: str) -> str | None:
    """The name of the ``kind`` that owns ``obj`` (its ownerReferences), if one does."""
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and ref.get("kind") == kind and isinstance(ref.get("name"), str):
            return ref["name"]
    return None
