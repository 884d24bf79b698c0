"""A workload's pods as instances, its recent events, and restarting one instance (deleting its
pod: the controller starts another).

The pods are asked for with the workload's own label selector (and checked against it again
here); the events are the namespace's, kept to those about the workload, its ReplicaSets and its
pods, the newest first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import yaml

from idp_tui import (
    ActionEvent,
    ActionPlan,
    ActionRequest,
    ActionState,
    Instance,
    InstanceContainer,
    InstanceEvent,
    Instances,
    SourceAuthError,
    SourceNotFound,
)

from . import objects as o
from .cluster import Where

log = logging.getLogger("idp_tui.kubernetes")

#: Events read from the namespace at most (the newest of them are kept).
EVENT_LIMIT = 500
#: Events kept for a workload.
EVENTS_KEPT = 50


def selector_of(workload: o.Workload) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(workload.selector.items()))


def list_pods(where: Where, workload: o.Workload) -> list[dict[str, Any]]:
    """The workload's pods (raw objects), asked for with its label selector."""
    selector = selector_of(workload)
    data = where.cluster.read_json(
        "list", "pods", where.namespace,
        lambda c: c.api("core").list_namespaced_pod(
            where.namespace, label_selector=selector or None, _preload_content=False,
            _request_timeout=c.request_timeout))
    return [obj for obj in data.get("items") or () if isinstance(obj, dict)
            and o.selects(workload.selector, o._map(o._dict(obj.get("metadata")).get("labels")))]


def list_events(where: Where, names: set[str], prefix: str,
                note: list[str] | None = None) -> list[dict[str, Any]]:
    """The namespace's events about ``names`` or about an object named ``prefix…`` (the workload's
    ReplicaSets). Events the credentials may not read are none (said in ``note``)."""
    try:
        data = where.cluster.read_json(
            "list", "events", where.namespace,
            lambda c: c.api("core").list_namespaced_event(
                where.namespace, limit=EVENT_LIMIT, _preload_content=False,
                _request_timeout=c.request_timeout))
    except (SourceAuthError, SourceNotFound) as exc:
        log.info("events of %s not read: %s", where.namespace, exc)
        if note is not None:
            note.append(f"events not shown: {exc}")
        return []
    out = []
    for obj in data.get("items") or ():
        if not isinstance(obj, dict):
            continue
        name = str(o._dict(obj.get("involvedObject")).get("name") or "")
        if name in names or (prefix and name.startswith(prefix)):
            out.append(obj)
    return out


def _reason(containers: list[InstanceContainer], status: Mapping[str, Any]) -> str:
    for c in containers:
        if c.state == "waiting" and c.reason and c.reason not in ("ContainerCreating",
                                                                   "PodInitializing"):
            return c.reason
    for c in containers:
        if c.state == "terminated" and c.reason:
            return c.reason
    for c in containers:
        if c.last_reason and c.last_reason != "Completed":
            return c.last_reason
    reason = str(status.get("reason") or "")  # Evicted, NodeLost…
    if reason:
        return reason
    for c in containers:
        if c.state == "waiting" and c.reason:
            return c.reason
    for cond in o._list(status.get("conditions")):
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" \
                and cond.get("status") == "False":
            return str(cond.get("reason") or "Unschedulable")
    return ""


def _container(spec: Mapping[str, Any], cs: Mapping[str, Any]) -> InstanceContainer:
    state = o._dict(cs.get("state"))
    last = o._dict(o._dict(cs.get("lastState")).get("terminated"))
    kind = next((k for k in ("running", "waiting", "terminated") if k in state), "")
    now = o._dict(state.get(kind)) if kind else {}
    exit_code = last.get("exitCode")
    return InstanceContainer(
        name=str(spec.get("name") or cs.get("name") or ""),
        image=str(cs.get("image") or spec.get("image") or ""),
        ready=bool(cs.get("ready")), restarts=max(o._int(cs.get("restartCount")), 0),
        state=kind, reason=str(now.get("reason") or ""), message=str(now.get("message") or ""),
        last_reason=str(last.get("reason") or ""),
        last_exit_code=exit_code if isinstance(exit_code, int) else None,
        started_at=o.parse_time(now.get("startedAt")))


def manifest(obj: Mapping[str, Any]) -> str:
    """The pod as ``kubectl get pod -o yaml`` shows it (without its managed fields)."""
    meta = dict(o._dict(obj.get("metadata")))
    meta.pop("managedFields", None)
    shown = {**obj, "metadata": meta}
    try:
        return yaml.safe_dump(shown, sort_keys=False, allow_unicode=False)
    except yaml.YAMLError:  # pragma: no cover - JSON from the API server always dumps
        return ""


def project_instance(obj: Mapping[str, Any]) -> Instance:
    meta = o._dict(obj.get("metadata"))
    spec = o._dict(obj.get("spec"))
    status = o._dict(obj.get("status"))
    specs = [c for c in o._list(spec.get("containers")) if isinstance(c, dict)]
    statuses = {str(cs.get("name") or ""): cs for cs in o._list(status.get("containerStatuses"))
                if isinstance(cs, dict)}
    containers = [_container(c, statuses.get(str(c.get("name") or ""), {})) for c in specs]
    return Instance(
        name=str(meta.get("name") or ""), phase=str(status.get("phase") or ""),
        ready=sum(c.ready for c in containers), total=len(containers),
        restarts=sum(c.restarts for c in containers), reason=_reason(containers, status),
        node=str(spec.get("nodeName") or ""), ip=str(status.get("podIP") or ""),
        created_at=o.parse_time(meta.get("creationTimestamp")),
        images=tuple(dict.fromkeys(c.image for c in containers if c.image)),
        containers=tuple(containers), labels=o._map(meta.get("labels")),
        conditions={str(c.get("type") or ""): str(c.get("status") or "")
                    for c in o._list(status.get("conditions")) if isinstance(c, dict)},
        deleting=bool(meta.get("deletionTimestamp")), manifest=manifest(obj))


def project_event(obj: Mapping[str, Any]) -> InstanceEvent:
    involved = o._dict(obj.get("involvedObject"))
    seen = (o.parse_time(obj.get("lastTimestamp")) or o.parse_time(obj.get("eventTime"))
            or o.parse_time(obj.get("firstTimestamp"))
            or o.parse_time(o._dict(obj.get("metadata")).get("creationTimestamp")))
    return InstanceEvent(
        type=str(obj.get("type") or "Normal"), reason=str(obj.get("reason") or ""),
        message=str(obj.get("message") or "").strip(),
        object=f"{involved.get('kind') or '?'}/{involved.get('name') or '?'}",
        count=max(o._int(obj.get("count"), 1), 1), last_seen=seen)


def instances(where: Where, workload: o.Workload, service: str) -> Instances:
    """(In a thread.) The workload's instances and events."""
    pods = [project_instance(obj) for obj in list_pods(where, workload)]
    names = {workload.name, *(p.name for p in pods)}
    note: list[str] = []
    events = [project_event(obj)
              for obj in list_events(where, names, f"{workload.name}-", note)]
    events.sort(key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC),
                reverse=True)
    return Instances(service=service, environment=where.environment,
                     instances=tuple(sorted(pods, key=lambda p: p.name)),
                     events=tuple(events[:EVENTS_KEPT]),
                     workload=f"{workload.kind.lower()}/{workload.name} in {where.namespace} "
                              f"({where.cluster.label})", note="; ".join(note))


# Restart instance --------------------------------------------------------------------------------

def instance_name(request: ActionRequest) -> str:
    return str(request.params.get("instance") or "").strip()


def find_pod(where: Where, workload: o.Workload, name: str) -> dict[str, Any] | None:
    """(In a thread.) The workload's pod named ``name``, or None."""
    return next((obj for obj in list_pods(where, workload)
                 if o._dict(obj.get("metadata")).get("name") == name), None)


def plan(where: Where, workload: o.Workload, request: ActionRequest,
         current: str | None) -> ActionPlan:
    """(In a thread.) The plan of restarting one instance; not found if it is not the
    workload's."""
    name = instance_name(request)
    what = f"{workload.kind.lower()}/{workload.name} in {where.namespace} ({where.cluster.label})"
    pod = find_pod(where, workload, name)
    if pod is None:
        raise SourceNotFound(f"no pod {name!r} of {what}",
                             hint=f"idp-tui instances {request.service} --env "
                                  f"{request.environment} lists them.")
    notes = [f"Its controller ({what}) starts another pod in its place; the other pods keep "
             "serving."]
    if workload.replicas <= 1:
        notes.append("It is the only replica: the service does not serve until the new pod is "
                     "ready.")
    return ActionPlan(summary=f"Delete pod {name} of {what} (kubectl delete pod)",
                      current_version=current, target_version=current, notes=tuple(notes))


async def restart(where: Where, workload: o.Workload, request: ActionRequest,
                  now: Callable[[], datetime]) -> AsyncIterator[ActionEvent]:
    """Delete the pod; a pod already gone (a repeated request) is success."""
    name = instance_name(request)
    yield ActionEvent(ts=now(), message=f"Deleting pod {name} in {where.namespace}", done=0,
                      total=1)
    try:
        await asyncio.to_thread(
            where.cluster.read_json, "delete", "pods", where.namespace,
            lambda c: c.api("core").delete_namespaced_pod(
                name, where.namespace, _preload_content=False,
                _request_timeout=c.request_timeout), name=name)
    except SourceNotFound:
        yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED, done=1, total=1,
                          message=f"pod {name} is already gone; its controller replaces it")
        return
    yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED, done=1, total=1,
                      message=f"pod {name} deleted; {workload.kind.lower()}/{workload.name} "
                              "starts another in its place")
