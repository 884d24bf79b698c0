"""What the instance view and ``idp-tui instances`` say of a service's instances: ages as kubectl
writes them, which reasons are trouble, the order of the rows, and the describe-like detail.

Pure functions of the plugin API's records (no Textual): the view and the command line turn the
words into cells and lines (sanitised where they are shown).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api.models import Instance, InstanceEvent

#: Reasons that mean an instance does not serve (red); any other reason is a warning (yellow).
FAILING_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled",
                             "CreateContainerConfigError", "CreateContainerError",
                             "InvalidImageName", "RunContainerError", "Error", "Evicted"})


def age(since: datetime | None, now: datetime) -> str:
    """``since`` as kubectl's AGE column writes it: ``45s``, ``12m``, ``5h``, ``3d`` (``–``)."""
    if since is None:
        return "–"
    seconds = max(int((now - since).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def severity(instance: Instance) -> str:
    """"error" (does not serve: a crash loop, an image that cannot be pulled, an OOM kill),
    "warning" (not ready, pending, terminating, restarted) or "ok"."""
    if instance.reason in FAILING_REASONS or instance.phase == "Failed":
        return "error"
    if instance.reason or instance.phase not in ("Running", "Succeeded") \
            or instance.ready < instance.total or instance.deleting:
        return "warning"
    return "ok"


def status(instance: Instance) -> str:
    """The STATUS word: the reason when there is one, ``Terminating``, else the phase."""
    if instance.deleting:
        return "Terminating"
    return instance.reason or instance.phase or "Unknown"


def ordered(instances: tuple[Instance, ...] | list[Instance]) -> list[Instance]:
    """Instances in trouble first, then by name."""
    rank = {"error": 0, "warning": 1, "ok": 2}
    return sorted(instances, key=lambda i: (rank[severity(i)], i.name))


def describe(instance: Instance, now: datetime,
             events: tuple[InstanceEvent, ...] | list[InstanceEvent] = ()) -> list[tuple[str, str]]:
    """``(label, value)`` lines like ``kubectl describe pod``: the instance, each container with
    its state and last state, the conditions and the instance's own events. A label of ``""``
    continues the previous one; a label ending in ``:`` heads a section."""
    lines: list[tuple[str, str]] = [
        ("Name", instance.name),
        ("Status", status(instance)),
        ("Phase", instance.phase or "–"),
        ("Ready", f"{instance.ready}/{instance.total}"),
        ("Restarts", str(instance.restarts)),
        ("Node", instance.node or "–"),
        ("IP", instance.ip or "–"),
        ("Started", f"{instance.created_at:%Y-%m-%d %H:%M:%S} UTC ({age(instance.created_at, now)} ago)"
         if instance.created_at else "–"),
    ]
    if instance.labels:
        lines.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(instance.labels.items()))))
    lines.append(("Containers:", ""))
    for c in instance.containers:
        lines.append((f"  {c.name}", c.image or "–"))
        state = c.state or "not started"
        if c.reason:
            state += f" ({c.reason})"
        lines.append(("    State", state))
        if c.message:
            lines.append(("    Message", c.message))
        if c.last_reason:
            code = f", exit code {c.last_exit_code}" if c.last_exit_code is not None else ""
            lines.append(("    Last state", f"terminated ({c.last_reason}{code})"))
        lines.append(("    Ready", "yes" if c.ready else "no"))
        lines.append(("    Restarts", str(c.restarts)))
    if instance.conditions:
        lines.append(("Conditions", ", ".join(f"{k}={v}" for k, v in instance.conditions.items())))
    own = [e for e in events if e.object.rpartition("/")[2] == instance.name]
    if own:
        lines.append(("Events:", ""))
        for e in own:
            lines.append((f"  {e.type}", event_text(e, now)))
    return lines


def event_text(event: InstanceEvent, now: datetime) -> str:
    """``Reason (×count, age ago): message``."""
    count = f"×{event.count}, " if event.count > 1 else ""
    return f"{event.reason} ({count}{age(event.last_seen, now)} ago): {event.message}"
