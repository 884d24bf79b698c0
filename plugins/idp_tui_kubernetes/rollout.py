"""Changing a workload and following its rollout.

The patch a deploy, rollback, scale or restart sends (with the action's id and cause as
annotations, so a request sent again is recognised), the patch that sets a stopped deploy back,
and the progress events of a rollout as the workload's watch sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from idp_tui import ActionEvent, ActionKind, ActionRequest, ActionState

from . import objects as o
from . import stuck

if TYPE_CHECKING:
    from .cluster import Where

log = logging.getLogger("idp_tui.kubernetes")

#: Seconds to set a stopped rollout back.
SET_BACK_TIMEOUT = 15.0


class Change:
    """What an action will change, worked out by the plan and applied by the run."""

    def __init__(self, where: Where, workload: o.Workload, kind: ActionKind, *,
                 container: str = "", image: str = "", version: str = "",
                 replicas: int | None = None) -> None:
        self.where = where
        self.workload = workload
        self.kind = kind
        self.container = container
        self.image = image
        self.version = version
        self.replicas = replicas


def undo_body(request: ActionRequest, change: Change, fresh: o.Workload,
              version_label: str) -> dict[str, Any] | None:
    """The patch that sets a deploy's or rollback's workload back as it is now (``fresh``)."""
    if change.kind not in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
        return None
    container = next((c for c in fresh.containers if c.name == change.container), None)
    if container is None or container.image == change.image:
        return None
    who = request.actor or "someone"
    cause = (f"idp-tui {request.kind.value} {change.version} stopped by {who}: set back to "
             f"{container.image}")
    # Another action id: the same request sent again is not taken as applied.
    meta: dict[str, Any] = {"annotations": {o.ACTION_ID: f"{request.id} (stopped)",
                                            o.CHANGE_CAUSE: cause[:1000]}}
    template: dict[str, Any] = {"spec": {"containers": [
        {"name": container.name, "image": container.image}]}}
    label = version_label
    if label in fresh.template_labels and label not in fresh.selector:
        template["metadata"] = {"labels": {label: fresh.template_labels[label]}}
    if label in fresh.labels:
        meta["labels"] = {label: fresh.labels[label]}
    return {"metadata": meta, "spec": {"template": template}}


async def set_back(where: Where, workload: o.Workload, undo: dict[str, Any]) -> None:
    """Send ``undo`` (a stopped rollout set back); a failure is logged, not raised."""
    what = f"{workload.kind.lower()}/{workload.name} in {where.namespace}"
    try:
        await asyncio.wait_for(asyncio.to_thread(patch, where, workload, undo),
                               SET_BACK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - said in the log; the action ends cancelled
        log.warning("%s: a stopped rollout was not set back: %s", what,
                    getattr(exc, "message", None) or exc)
        return
    log.info("%s: stopped rollout set back to %s", what,
             undo["spec"]["template"]["spec"]["containers"][0]["image"])


def patch_body(request: ActionRequest, change: Change, version_label: str,
               now: datetime) -> dict[str, Any]:
    """The patch an action sends: the change, and the action's id and cause as annotations."""
    workload = change.workload
    who = request.actor or "someone"
    cause = f"idp-tui {request.kind.value}"
    if change.version:
        cause += f" {change.version}"
    cause += f" by {who}" + (f": {request.reason}" if request.reason else "")
    meta: dict[str, Any] = {"annotations": {o.ACTION_ID: request.id}}
    if change.kind is not ActionKind.SCALE:
        # Scaling makes no revision: the change-cause stays the one of the running revision.
        meta["annotations"][o.CHANGE_CAUSE] = cause[:1000]
    body: dict[str, Any] = {"metadata": meta}
    if change.kind in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
        template: dict[str, Any] = {"spec": {"containers": [
            {"name": change.container, "image": change.image}]}}
        label = version_label
        in_template = label in workload.template_labels and label not in workload.selector
        if in_template:
            template["metadata"] = {"labels": {label: change.version}}
        if label in workload.labels:
            meta["labels"] = {label: change.version}
        body["spec"] = {"template": template}
    elif change.kind is ActionKind.SCALE:
        body["spec"] = {"replicas": change.replicas}
    elif change.kind is ActionKind.RESTART:
        body["spec"] = {"template": {"metadata": {"annotations": {
            o.RESTARTED_AT: o.format_time(now)}}}}
    return body


def read_workload(where: Where, workload: o.Workload) -> o.Workload:
    """The workload as the API server has it now (blocking: run it on a thread)."""
    method = "read_namespaced_deployment" if workload.kind == "Deployment" \
        else "read_namespaced_stateful_set"
    data = where.cluster.read_json(
        "get", workload.resource, where.namespace,
        lambda c: getattr(c.api("apps"), method)(workload.name, where.namespace,
                                                 _preload_content=False,
                                                 _request_timeout=c.request_timeout),
        name=workload.name)
    return o.project_workload(workload.kind, data)


def patch(where: Where, workload: o.Workload, body: dict[str, Any]) -> o.Workload:
    """Apply ``body`` (a strategic merge patch; blocking: run it on a thread)."""
    method = "patch_namespaced_deployment" if workload.kind == "Deployment" \
        else "patch_namespaced_stateful_set"
    data = where.cluster.read_json(
        "patch", workload.resource, where.namespace,
        lambda c: getattr(c.api("apps"), method)(workload.name, where.namespace, body,
                                                 field_manager="idp-tui",
                                                 _preload_content=False,
                                                 _request_timeout=c.request_timeout),
        name=workload.name)
    return o.project_workload(workload.kind, data)


async def follow_rollout(where: Where, workload: o.Workload, generation: int | None,
                         request: ActionRequest, *, now: Callable[[], datetime],
                         timeout: float) -> AsyncIterator[ActionEvent]:
    """Events from the workload's status (as the watch sees it) until it is rolled out."""
    informer = next(i for i in where.workloads
                    if i.get(workload.name) is not None
                    and i.get(workload.name).kind == workload.kind)  # type: ignore[union-attr]
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def listener() -> None:
        loop.call_soon_threadsafe(changed.set)

    informer.add_listener(listener)
    deadline = loop.time() + timeout
    said = ""
    try:
        while True:
            changed.clear()  # (before reading: a change while this turn awaits is not lost)
            current = informer.get(workload.name)
            if current is None:
                yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                  message=f"{workload.kind.lower()}/{workload.name} was "
                                          "deleted during the rollout")
                return
            if request.kind is ActionKind.SCALE and request.replicas is not None \
                    and current.replicas != request.replicas:
                pass  # the watch has not seen our change yet
            elif o.rollout_done(current, generation):
                yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                                  done=current.ready, total=current.replicas,
                                  message=f"{workload.kind.lower()}/{workload.name}: "
                                          f"{current.ready}/{current.replicas} ready, "
                                          "rolled out")
                return
            progressing = o.condition(current, "Progressing")
            if progressing is not None and progressing.status == "False" \
                    and progressing.reason == "ProgressDeadlineExceeded" \
                    and (not generation or current.observed_generation >= generation):
                why = progressing.message or "the progress deadline was exceeded"
                yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                  message=f"rollout stuck: {why}")
                return
            if current.kind == "StatefulSet" and o.rolling_out(current) \
                    and (not generation or current.observed_generation >= generation):
                why = await stuck.waiting_now(where, current)  # (no progress deadline)
                if why is not None:
                    yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                      message=f"rollout stuck: {why}")
                    return
            message = o.rollout_message(current, generation)
            if message != said:
                said = message
                seen = not generation or current.observed_generation >= generation
                yield ActionEvent(ts=now(), message=message,
                                  done=current.updated if seen else None,
                                  total=current.replicas if seen else None)
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                  message=f"not rolled out after "
                                          f"{timeout:.0f} s: {said}")
                return
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 5.0))
            except TimeoutError:
                pass
    finally:
        informer.remove_listener(listener)
