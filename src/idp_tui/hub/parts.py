"""What a source says of itself, and how the hub follows a source back to health.

- The relays a source's :class:`~idp_tui.SourceContext` calls (from any thread): "this topic
  changed" (:class:`ChangeRelay`), and what the health view shows of it (:class:`StatusRelay`:
  ``key: text`` details, and the health of its parts, :class:`~idp_tui.PartHealth`).
- Recovery: a topic no longer asked of a source drops that source's old error
  (:func:`forget_unasked`); a "not found" about a service is disproved when the same source lists
  that service (:func:`found_again`: its back-off ends), and the topics about a service a listing
  names again are asked at once (:func:`wake_listed`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .failures import Failure

if TYPE_CHECKING:
    from ..api.health import PartHealth
    from .core import Hub
    from .failures import Backoffs, SourceHealth

class ChangeRelay:
    """A source's ``SourceContext.notify``: passes "this topic changed" on to the hub (once there
    is one; ``runtime.build_runtime`` builds the sources before the hub)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hub: Hub | None = None

    def __call__(self, topic: str) -> None:
        hub = self.hub
        if hub is not None:
            hub.source_changed(self.source, topic)


class StatusRelay:
    """A source's ``SourceContext.status``: what the source says of itself, for the health view
    (``key: text``; the health of its parts through :meth:`part` and :meth:`forget_part`)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hub: Hub | None = None

    def __call__(self, key: str, text: str) -> None:
        hub = self.hub
        if hub is not None:
            hub.source_status(self.source, str(key), str(text))

    def part(self, health: PartHealth) -> None:
        hub = self.hub
        if hub is not None:
            set_part(hub, self.source, health.name, health)

    def forget_part(self, name: str) -> None:
        hub = self.hub
        if hub is not None:
            set_part(hub, self.source, name, None)


def set_part(hub: Hub, source: str, name: str, health: PartHealth | None) -> None:
    """Show (None: remove) the health of part ``name`` of ``source``; from any thread. Only a
    change reaches the health watchers."""
    shown = hub.health.get(source)
    if shown is None or shown.parts.get(name) == health:
        return

    def apply() -> None:
        if health is None:
            if shown.parts.pop(name, None) is None:
                return
        elif shown.parts.get(name) == health:
            return
        else:
            shown.parts[name] = health
        hub._health_changed()

    loop = hub._watch_loop
    if loop is None or hub._closed:
        apply()
        return
    try:
        if _running_loop() is loop:
            apply()
        else:
            loop.call_soon_threadsafe(apply)
    except RuntimeError:  # the loop is closed
        pass


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def found_again(backoffs: Backoffs, source: str, listed: Any) -> bool:
    """``source`` answered a listing that names the services ``listed``: the back-offs of its
    "not found" about those services end. Whether any did."""
    names = frozenset(listed or ())

    def disproved(key: tuple[str, Any]) -> bool:
        name, topic = key
        service = getattr(topic, "service", None)
        if name != source or service is None or service not in names:
            return False
        waiting = backoffs.failure(key)
        return waiting is not None and waiting.error_class == "not found"

    return bool(backoffs.forget_where(disproved))


def forget_unasked(errors: dict[str, Failure], runners: Any) -> None:
    """The errors of a topic from sources it no longer asks (one that no longer lists the
    service): not shown any more."""
    asked = {runner.name for runner in runners}
    for name in [name for name in errors if name != "hub" and name not in asked]:
        del errors[name]


def wake_listed(states: Any, listed: Any) -> None:
    """A source's listing names ``listed``: the watched topics about those services that have no
    answer, or an error, are refreshed now, not at their next interval (a service back in a
    catalog after a restart shows its detail at once)."""
    names = frozenset(listed or ())
    for state in states:
        service = state.topic.service
        snapshot = state.snapshot
        if service in names and state.subscribers and snapshot is not None \
                and (snapshot.errors or snapshot.data is None):
            state.wake.set()


def part_only(health: SourceHealth, exc: BaseException) -> bool:
    """Whether a partial answer's failure is one part's own and for good (a repository not found
    or not allowed): the source reported that part in error, so its row says it, and the source
    (the other parts answered) is not in error for it. A part that fails for a while (a cluster
    unreachable) leaves the source in error too."""
    part = getattr(exc, "part", None)
    shown = health.parts.get(part) if isinstance(part, str) else None
    return bool(getattr(exc, "permanent", False)) and shown is not None \
        and shown.state == "error"


def part_rows(parts: dict[str, PartHealth]) -> list[tuple[int, PartHealth]]:
    """A source's parts as the health view and ``idp-tui sources`` list them: each under the
    part it belongs to (depth 1 for the top ones), in the order first reported."""
    children: dict[str | None, list[PartHealth]] = {}
    for part in parts.values():
        parent = part.parent if part.parent in parts and part.parent != part.name else None
        children.setdefault(parent, []).append(part)
    out: list[tuple[int, PartHealth]] = []
    seen: set[str] = set()

    def add(parent: str | None, depth: int) -> None:
        for part in children.get(parent, ()):
            if part.name not in seen:
                seen.add(part.name)
                out.append((depth, part))
                add(part.name, depth + 1)

    add(None, 1)
    out.extend((1, p) for p in parts.values() if p.name not in seen)  # (a loop of parents)
    return out
