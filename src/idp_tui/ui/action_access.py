"""What the app needs of the action layer at start-up, without loading the dialogs.

The dialogs (``ui/dialogs/``: the modals, forms and Activity screen) are imported only when an
action is first opened: they are large and start-up matters. Every action kind's name, verb, key
and binding id come from one table, :mod:`idp_tui.actionspec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import render
from ..actionspec import ACTION_SPECS, ActionSpec, action_names, by_name
from ..api.kinds import ActionKind, RunStatus

if TYPE_CHECKING:
    from ..actions import ActionManager
    from ..api.models import PipelineRun

#: App action name → the kind of action it opens (the app's keys: deploy… provision).
ACTION_KINDS: dict[str, ActionKind] = {name: by_name(name).kind  # type: ignore[union-attr]
                                       for name in action_names()}

#: Each kind's capitalised verb (a dialog's title).
VERBS: dict[ActionKind, str] = {s.kind: s.verb for s in ACTION_SPECS}

#: The name of the Activity screen's binding (not an action kind: it changes nothing).
ACTIVITY = "activity"


def open_action_by_name(app: Any, name: str) -> None:
    """Open what the app's action binding ``name`` opens ("deploy"… "provision", "activity")."""
    from .dialogs import open_action, open_activity  # noqa: PLC0415 - loaded on first use

    if name == ACTIVITY:
        open_activity(app)
    else:
        open_action(app, ACTION_KINDS[name])


def palette_entries(app: Any) -> list[tuple[str, str, str]]:
    """(action name, title, help) of each app action the palette should offer now (the ones whose
    binding is not hidden), in the table's order, Activity last."""
    rows = [(name, by_name(name).title, by_name(name).help)  # type: ignore[union-attr]
            for name in action_names()]
    rows.append((ACTIVITY, "Activity",
                 "The audit history: running and past actions (A, :activity)"))
    return [row for row in rows if binding_state(app, row[0]) is not False]

# Reaching the action layer -----------------------------------------------------------------------

def manager_of(app: Any) -> ActionManager | None:
    """The app's action layer (None while the dashboard starts: no runtime yet)."""
    runtime = getattr(app, "runtime", None)
    return getattr(runtime, "actions", None)


def read_only_reason(manager: ActionManager, kind: ActionKind) -> str | None:
    """Why every source that could run ``kind`` refuses to (read-only), or None."""
    if manager.read_only:
        return ("idp-tui is running read-only (--read-only or [policy] read_only = true); "
                "no action changes anything")
    names = [r.name for r in manager.able(kind)]
    if names and all(name in manager.read_only_sources for name in names):
        listed = ", ".join(render.sanitize(n, max_len=40) for n in names)
        return f"source {listed} is configured read-only (read_only = true)"
    return None


def binding_state(app: Any, action: str) -> bool | None:
    """``check_action`` for the app's action bindings: hidden (False) when no source can do it,
    shown disabled (None) when read-only, enabled (True) otherwise."""
    manager = manager_of(app)
    if action == ACTIVITY:
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


def hidden_reason(app: Any, action: str) -> str | None:
    """Why the app's action binding ``action`` is hidden (``binding_state`` is False), said when
    its key is pressed anyway; None when it is not hidden."""
    if binding_state(app, action) is not False:
        return None
    manager = manager_of(app)
    if manager is None:
        return ("The sources are starting" if getattr(app, "booting", False)
                else "No configured source can run actions")
    if action == ACTIVITY:
        return "No configured source can run actions or provision"
    return f"No configured source can {ACTION_KINDS[action].value}"


# A pipeline run's actions (the Pipelines pane's keys) ------------------------------------------

#: How a run in each status is described when an action does not apply to it.
_RUN_STATES = {RunStatus.QUEUED: "is queued", RunStatus.RUNNING: "is running",
               RunStatus.WAITING: "is waiting for review", RunStatus.SUCCEEDED: "has succeeded",
               RunStatus.FAILED: "has failed", RunStatus.CANCELLED: "was cancelled",
               RunStatus.SKIPPED: "was skipped",
               RunStatus.ACTION_REQUIRED: "needs approval before it runs"}


def run_name(run: PipelineRun) -> str:
    """``payments-api CI #412`` (the run's id when it has no number), sanitised."""
    number = f"#{run.number}" if run.number is not None else run.id
    return render.sanitize(f"{run.service} {run.pipeline} {number}", max_len=160)


def run_source_refusal(manager: ActionManager | None, action: ActionSpec,
                       run: PipelineRun) -> str | None:
    """Why ``action`` cannot be asked of ``run``'s source (it does not offer it), or None."""
    if manager is not None and run.source in {r.name for r in manager.able(action.kind)}:
        return None
    source = render.sanitize(run.source or "This source", max_len=40)
    return f"{source} cannot {action.title_phrase} its pipeline runs"


def run_status_refusal(action: ActionSpec, run: PipelineRun) -> str | None:
    """Why ``action`` does not apply to ``run`` in its status (the row's run-status rule), or
    None when it applies. The one decision the Pipelines pane hides a run's key by."""
    if action.applies_to(run.status):
        return None
    state = _RUN_STATES.get(run.status, f"is {run.status.value}")
    return (f"{run_name(run)} {state}: {action.verb} applies "
            f"{action.run_rule.replace('only ', 'only to ', 1)}")


def run_refusal(app: Any, action: ActionSpec, run: PipelineRun) -> str | None:
    """Why the key of ``action`` does nothing on ``run``: its source cannot do it, else the run's
    status is not one it applies to; None when it applies."""
    return run_source_refusal(manager_of(app), action, run) or run_status_refusal(action, run)
