"""Opening a dialog: for the app's keys, the Pipelines pane's keys and the Activity screen; and the
notification when an action ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import render
from ...actions import ActionManager, ActionRun
from ...actionspec import Target, spec
from ...api.actions import ActionKind, ActionState
from ...api.models import PipelineRun
from ..action_access import manager_of, read_only_reason, run_source_refusal
from .activity import ActivityScreen
from .dispatch import DispatchModal
from .environment import EnvironmentActionModal
from .pipeline import RunActionModal
from .provision import ProvisionModal
from .service import ActionModal

if TYPE_CHECKING:
    from ..app import IdpApp


def running_run(manager: ActionManager, kind: ActionKind, service: str,
                environment: str | None) -> ActionRun | None:
    """The newest unfinished ``kind`` of ``service`` (in ``environment`` if there is one there)."""
    candidates = [r for r in manager.runs.values()
                  if r.request.kind is kind and r.request.service == service
                  and not r.state.finished]
    here = [r for r in candidates if r.request.environment == environment]
    chosen = here or candidates
    return chosen[-1] if chosen else None


def _may_open(app: Any, manager: ActionManager, kind: ActionKind) -> bool:
    """Say why not when read-only forbids ``kind``; else watch the outcomes and say yes."""
    reason = read_only_reason(manager, kind)
    if reason is not None:
        app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
        return False
    watch_outcomes(app, manager)
    return True


def open_action(app: IdpApp, kind: ActionKind) -> None:
    """Open the dialog for ``kind`` on the selected service and environment, or the template
    picker (the app's keys: ``d``, ``R``, ``+``, ``r``, ``p``)."""
    manager = manager_of(app)
    if manager is None or not manager.can(kind):
        app.notify(f"No configured source can {kind.value}", severity="warning", markup=False)
        return
    if not _may_open(app, manager, kind):
        return
    if spec(kind).target is Target.TEMPLATE:
        app.push_screen(ProvisionModal())
        return
    service, environment = app.service, app.environment
    if not service:
        app.notify("Select a service first", severity="warning")
        return
    existing = running_run(manager, kind, service, environment)
    if existing is not None:
        app.push_screen(ActionModal.for_run(existing))
        return
    if not environment:
        app.notify("Select an environment first", severity="warning")
        return
    replicas = None
    platform = app.platform
    if platform is not None:
        dep = platform.deployments.get((service, environment))
        replicas = dep.replicas_desired if dep is not None else None
    app.push_screen(ActionModal(kind, service, environment,
                                environments=app.environment_names(), replicas=replicas))


def open_pipeline_action(app: Any, kind: ActionKind, pipeline_run: PipelineRun,
                         job: str | None = None) -> None:
    """An action on a pipeline run (the Pipelines pane's keys): re-run its failed jobs, every
    job or one job (``job``, else its first failed one), cancel it, approve or reject the
    deployment it waits for review on, or run its workflow again with inputs."""
    manager = manager_of(app)
    refusal = run_source_refusal(manager, spec(kind), pipeline_run)
    if manager is None or refusal is not None:
        app.notify(refusal or "No configured source can run actions", severity="warning",
                   markup=False)
        return
    if not _may_open(app, manager, kind):
        return
    if spec(kind).target is Target.WORKFLOW:
        app.push_screen(DispatchModal.of_run(pipeline_run))
        return
    for existing in manager.runs.values():
        r = existing.request
        if r.kind is kind and r.run_id == pipeline_run.id and not existing.state.finished:
            app.push_screen(RunActionModal.for_run(existing))
            return
    app.push_screen(RunActionModal(kind, pipeline_run, job=job))


def open_environment_action(app: Any, kind: ActionKind, environment: str | None, *,
                            by: str | None = None, reason: str = "") -> None:
    """An action on a preview environment (the Environments pane's keys, an advisor's remedy):
    extend it (``by``: the duration offered) or delete it."""
    manager = manager_of(app)
    if manager is None or not manager.can(kind):
        app.notify(f"No configured source can {kind.value}", severity="warning", markup=False)
        return
    if not environment:
        app.notify("Select a preview environment first", severity="warning")
        return
    platform = getattr(app, "platform", None)
    env = next((e for e in platform.environments if e.name == environment), None) \
        if platform is not None else None
    if env is not None and spec(kind).previews_only and env.kind.value != "preview":
        app.notify(f"{render.sanitize(environment, max_len=60)} is not a preview environment: "
                   f"{spec(kind).label.lower()} applies to preview environments only",
                   severity="warning", markup=False)
        return
    if not _may_open(app, manager, kind):
        return
    for existing in manager.runs.values():
        r = existing.request
        if r.kind is kind and r.environment == environment and not existing.state.finished:
            app.push_screen(EnvironmentActionModal.for_run(existing))
            return
    app.push_screen(EnvironmentActionModal(kind, environment, by=by, reason=reason))


#: The dialog that shows a run of each kind of target.
DIALOGS: dict[Target, type[ActionModal | RunActionModal | ProvisionModal | DispatchModal
                           | EnvironmentActionModal]] = {
    Target.SERVICE: ActionModal,
    Target.RUN: RunActionModal,
    Target.TEMPLATE: ProvisionModal,
    Target.WORKFLOW: DispatchModal,
    Target.ENVIRONMENT: EnvironmentActionModal,
}


def open_run(app: Any, run: ActionRun) -> None:
    """Show ``run`` in its dialog (from the Activity screen)."""
    app.push_screen(DIALOGS[spec(run.request.kind).target].for_run(run))


def open_activity(app: Any) -> None:
    if isinstance(app.screen, ActivityScreen):
        return
    manager = manager_of(app)
    if manager is None:
        app.notify("No configured source can run actions", severity="warning")
        return
    watch_outcomes(app, manager)
    app.push_screen(ActivityScreen())


def watch_outcomes(app: Any, manager: ActionManager) -> None:
    """Once per app: a notification when an action ends (title and outcome only, no parameters)."""
    if getattr(app, "_action_outcomes_watched", False):
        return
    app._action_outcomes_watched = True
    told: set[str] = set()

    def listener(run: ActionRun) -> None:
        # (a request waiting for approval is told once; its run, once approved, again)
        waits = run.decision.needs_approval and run.state is ActionState.DENIED
        key = f"{run.id} waits" if waits else run.id
        if not run.state.finished or key in told:
            return
        told.add(key)
        severity = {ActionState.SUCCEEDED: "information",
                    ActionState.CANCELLED: "warning"}.get(run.state, "error")
        message = f"{render.sanitize(run.title, max_len=120)}: {run.state.value}"
        if waits:
            severity = "warning"
            message = f"{render.sanitize(run.title, max_len=120)}: waiting for approval"
        elif run.error and run.state is not ActionState.SUCCEEDED:
            message += f" — {render.sanitize(run.error, max_len=200)}"
        try:
            app.notify(message, severity=severity, markup=False, timeout=6)
        except Exception:  # noqa: BLE001 - the app is shutting down
            pass

    manager.watch(listener)
