"""What the app needs of the action layer at start-up, without loading the modals.

``ui/actions.py`` (the modals, forms and Activity screen) is imported only when an action is first
opened: it is a large module and start-up matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import render
from ..api.kinds import ActionKind, Capability

if TYPE_CHECKING:
    from ..actions import ActionManager

ACTION_KINDS: dict[str, ActionKind] = {
    "deploy": ActionKind.DEPLOY,
    "rollback": ActionKind.ROLLBACK,
    "scale": ActionKind.SCALE,
    "restart": ActionKind.RESTART,
    "provision": ActionKind.PROVISION,
}

VERBS = {
    ActionKind.DEPLOY: "Deploy",
    ActionKind.ROLLBACK: "Roll back",
    ActionKind.SCALE: "Scale",
    ActionKind.RESTART: "Restart",
    ActionKind.PROVISION: "Provision",
    ActionKind.RERUN: "Re-run failed jobs",
    ActionKind.CANCEL: "Cancel run",
}

# Reaching the action layer -----------------------------------------------------------------------

def manager_of(app: Any) -> ActionManager | None:
    hub = getattr(app, "hub", None)
    return getattr(hub, "actions", None)


def read_only_reason(manager: ActionManager, kind: ActionKind) -> str | None:
    """Why every source that could run ``kind`` refuses to (read-only), or None."""
    if manager.read_only:
        return ("idp-tui is running read-only (--read-only or [policy] read_only = true); "
                "no action changes anything")
    if kind is ActionKind.PROVISION:
        able = manager.hub.runners_for(Capability.PROVISION)
    else:
        able = [r for r in manager.hub.runners_for(Capability.ACTIONS) if kind in r.source.actions]
    names = [r.name for r in able]
    if names and all(name in manager.read_only_sources for name in names):
        listed = ", ".join(render.sanitize(n, max_len=40) for n in names)
        return f"source {listed} is configured read-only (read_only = true)"
    return None


def binding_state(app: Any, action: str) -> bool | None:
    """``check_action`` for the app's action bindings: hidden (False) when no source can do it,
    shown disabled (None) when read-only, enabled (True) otherwise."""
    manager = manager_of(app)
    if action == "activity":
        return manager is not None and manager.available
    kind = ACTION_KINDS[action]
    if manager is None or not manager.can(kind):
        return False
    return None if read_only_reason(manager, kind) else True


def read_only_notice(app: Any, action: str) -> bool:
    """Say "read-only: …" when ``action`` is a mutating action that read-only forbids.

    Returns True when it did (the key press is then handled: nothing opens).
    """
    kind = ACTION_KINDS.get(action)
    manager = manager_of(app)
    if kind is None or manager is None or not manager.can(kind):
        return False
    reason = read_only_reason(manager, kind)
    if reason is None:
        return False
    app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
    return True
