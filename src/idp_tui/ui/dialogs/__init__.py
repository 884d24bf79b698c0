"""Self-service actions in the dashboard: the dialogs and the Activity screen.

Everything goes through ``app.runtime.actions`` (:class:`idp_tui.actions.ActionManager`): the dialogs
never call a source. The manager decides the policy, writes the audit log and runs the action; a
dialog only shows the plan and the decision, collects what the policy asks for (the environment's
name typed and a reason), submits once, and then follows the run's progress events. Closing a dialog
never stops the run: the Activity screen (or the same key again) shows it with every event so far.

Every dialog has the same keys, in its own footer: escape closes it, ``c`` cancels the action it
started, and ``dialog.confirm`` (ctrl+s) sends it once the form is complete (greyed until then);
the focus starts at the first thing to decide, and a plan that changes nothing cannot be sent.

All text that comes from a source (names, versions, change messages, event messages, errors) is
drawn through :mod:`idp_tui.render`, never as markup. Secrets typed into provisioning forms stay in
password inputs, are cleared once the action has started, and are shown nowhere: runs are described
by their ``public_params`` (secrets replaced by ``***``).

The modules, by what they hold:

- ``opening``: what the keys call (``open_action``, ``open_pipeline_action``, ``open_activity``…);
- ``base``: what every dialog shares (submit once, follow the run, cancel, close);
- ``service``: deploy, rollback, scale, restart (a service in an environment);
- ``pipeline``: a pipeline run's actions (re-run, cancel, approve or reject its deployment);
- ``dispatch``: run a workflow with the inputs it declares, as a form;
- ``environment``: extend or delete a preview environment;
- ``provision`` and ``form``: a template's form (``form`` is the Textual-free schema logic);
- ``activity``: the session's actions;
- ``widgets`` and ``texts``: the shared widgets and the rich texts they show.

Loaded on first use (``ui.action_access.open_action_by_name``): start-up does not import it.
"""

from __future__ import annotations

from .activity import ActivityScreen
from .base import ActionDialog, ConfirmedDialog
from .dispatch import DispatchModal
from .environment import EnvironmentActionModal
from .form import FieldSpec, form_fields
from .opening import (
    open_action,
    open_activity,
    open_environment_action,
    open_pipeline_action,
    open_run,
    running_run,
    watch_outcomes,
)
from .pipeline import RunActionModal
from .provision import FormField, ProvisionModal
from .service import MAX_REPLICAS, ActionModal
from .texts import decision_text, failure_text, plan_text, run_summary
from .widgets import ActionUpdated, ConfirmBox, EventLines, RunProgress, SubmitFailed

__all__ = [
    "MAX_REPLICAS",
    "ActionDialog",
    "ActionModal",
    "ActionUpdated",
    "ActivityScreen",
    "ConfirmBox",
    "ConfirmedDialog",
    "DispatchModal",
    "EnvironmentActionModal",
    "EventLines",
    "FieldSpec",
    "FormField",
    "ProvisionModal",
    "RunActionModal",
    "RunProgress",
    "SubmitFailed",
    "decision_text",
    "failure_text",
    "form_fields",
    "open_action",
    "open_activity",
    "open_environment_action",
    "open_pipeline_action",
    "open_run",
    "plan_text",
    "run_summary",
    "running_run",
    "watch_outcomes",
]
