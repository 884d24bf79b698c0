"""Every action kind, once: one row each, read by the action manager, the policy, the commands and
the dashboard (bindings, palette, dialogs).

Imported for the first frame's bindings, so it needs neither Textual nor pydantic: only the plugin
API's enumerations. A new action kind is a member of ``ActionKind``, a row here, the source method
that runs it, and (for a new kind of target) its dialog and command-line bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .api.kinds import ActionKind, Capability, RunStatus

__all__ = [
    "ACTION_SPECS",
    "ActionSpec",
    "FINISHED",
    "UNFINISHED",
    "Target",
    "action_names",
    "app_specs",
    "by_binding",
    "by_name",
    "environment_commands",
    "pane_specs",
    "service_commands",
    "spec",
]


class Target(StrEnum):
    """What an action is about: what the dialog asks for and the request must carry."""

    #: A service in an environment (``ActionRequest.service`` and ``environment``).
    SERVICE = "service"
    #: A pipeline run (``ActionRequest.run_id``).
    RUN = "run"
    #: A provisioning template and its parameters (``ActionRequest.template`` and ``params``).
    TEMPLATE = "template"
    #: A workflow of a service's repository (``ActionRequest.service``; the workflow in
    #: ``template``, the branch or tag in ``version``, its inputs in ``params``).
    WORKFLOW = "workflow"
    #: A preview (transient) environment itself (``ActionRequest.environment``).
    ENVIRONMENT = "environment"


#: A pipeline run's statuses, by whether it has finished (what a run-status rule names).
FINISHED = frozenset(s for s in RunStatus if s.finished)
UNFINISHED = frozenset(s for s in RunStatus if not s.finished)


@dataclass(frozen=True)
class ActionSpec:
    """One action kind: what it is called, where its key lives, what it needs."""

    kind: ActionKind
    #: The binding's action name (``action_<name>`` on its widget) and the command-line command.
    name: str
    #: Capitalised verb, the dialog's title ("Roll back payments-api in staging").
    verb: str
    #: The binding's description (the footer and the help screen).
    label: str
    #: The command palette's entry and its help text.
    title: str
    help: str
    #: Default key (Textual key name) and the binding's id (remappable in ``[keys]``).
    key: str
    binding_id: str
    target: Target
    #: The source capability it needs (and, for ``Capability.ACTIONS``, the kind in
    #: ``Source.actions``).
    capability: Capability
    #: Where the binding lives: ``None`` for the app, else the pane's name.
    pane: str | None = None
    #: Shown in the footer (else only in the help screen).
    show: bool = False
    #: A version must be given / may be given (rollback: default the previous one).
    needs_version: bool = False
    takes_version: bool = False
    #: A number of replicas must be given.
    needs_replicas: bool = False
    #: Stopped by a freeze window (``[[policy.freeze]]``); the others stay possible during one.
    frozen: bool = False
    #: May target a service that does not run in the environment yet (else it must run there).
    places: bool = False
    #: Names one job of the run (``ActionRequest.params["job"]``: its id or name).
    job: bool = False
    #: Names one instance of the service (``ActionRequest.params["instance"]``: a pod's name).
    instance: bool = False
    #: Acts on the deployment a run waits for review on: the request's environment is the one
    #: reviewed (none given: the only one the run waits for, as the source's plan names them).
    reviews: bool = False
    #: What the policy judges it to be, whatever it is called (approving a deployment lets it
    #: go on: a deploy to that environment).
    acts_as: ActionKind | None = None
    #: Its ``params`` are the inputs the source's plan declares (``ActionPlan.inputs``), checked
    #: by the hub before anything is sent; an input of the ``environment`` format is where it
    #: acts (the policy's environment).
    takes_inputs: bool = False
    #: Takes a duration (``ActionRequest.params["seconds"]``: a whole number above 0).
    duration: bool = False
    #: Cannot be undone: the environment's name must be typed and a reason given, as for a
    #: protected environment, wherever it acts.
    confirms: bool = False
    #: Applies to preview (transient) environments only.
    previews_only: bool = False
    #: How the Activity screen and the audit log start its title ("re-run failed jobs of").
    phrase: str = ""
    #: How the policy says going to a version ("rolling back to 1.4.0, which has never run in
    #: production, is a deploy"): kinds that take a version but are not ``frozen`` themselves;
    #: or what a kind with ``acts_as`` does ("approving a deployment to production lets a run
    #: deploy there").
    doing: str = ""
    #: The ``idp-tui NAME`` command (kinds with a command only): its line in ``idp-tui --help``,
    #: the first words of its own help, and what its ``--version`` is.
    command_help: str = ""
    command_description: str = ""
    version_help: str = ""

    #: A run's action: the statuses of the runs it applies to (empty: any run) and the rule in
    #: words ("only a run waiting for review"). The Pipelines pane offers its key only on such a
    #: run; the source still has the last word.
    run_statuses: frozenset[RunStatus] = frozenset()
    run_rule: str = ""

    @property
    def title_phrase(self) -> str:
        return self.phrase or self.kind.value

    def applies_to(self, status: RunStatus | None) -> bool:
        """Whether this action applies to a run in ``status`` (None: a run not known yet)."""
        return not self.run_statuses or status in self.run_statuses


ACTION_SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(ActionKind.DEPLOY, "deploy", "Deploy", "Deploy", "Deploy…",
               "Deploy the selected service (d)", "d", "action.deploy", Target.SERVICE,
               Capability.ACTIONS, show=True, needs_version=True, takes_version=True, frozen=True,
               places=True, command_help="deploy a version of a service to an environment",
               command_description="Deploy VERSION of SERVICE to ENV.",
               version_help="the version to deploy"),
    ActionSpec(ActionKind.ROLLBACK, "rollback", "Roll back", "Rollback", "Roll back…",
               "Roll the selected service back (R)", "R", "action.rollback", Target.SERVICE,
               Capability.ACTIONS, takes_version=True, doing="rolling back to",
               command_help="roll a service back to its previous version (or --version)",
               command_description="Roll SERVICE in ENV back. Rollbacks are allowed during a "
                                   "freeze window; one to a version that has not run in ENV "
                                   "before, or to a newer one, is a deploy for the policy.",
               version_help="the version to go back to (default: the previous one)"),
    ActionSpec(ActionKind.SCALE, "scale", "Scale", "Scale", "Scale…",
               "Change the selected service's replicas (+)", "plus", "action.scale",
               Target.SERVICE, Capability.ACTIONS, needs_replicas=True,
               command_help="set the number of replicas",
               command_description="Scale SERVICE in ENV to N replicas."),
    ActionSpec(ActionKind.RESTART, "restart", "Restart", "Restart", "Restart…",
               "Restart the selected service (r)", "r", "action.restart", Target.SERVICE,
               Capability.ACTIONS, command_help="restart every instance of a service",
               command_description="Restart SERVICE in ENV."),
    ActionSpec(ActionKind.PROVISION, "provision", "Provision", "Provision", "Provision…",
               "Create something from a template (p)", "p", "action.provision", Target.TEMPLATE,
               Capability.PROVISION, show=True,
               command_help="create something from a template (see `idp-tui templates`)"),
    ActionSpec(ActionKind.RERUN, "rerun", "Re-run failed jobs", "Re-run failed", "Re-run failed…",
               "Re-run the selected run's failed jobs (F in Pipelines)", "F", "pipelines.rerun",
               Target.RUN, Capability.ACTIONS, pane="pipelines", show=True,
               phrase="re-run failed jobs of", run_statuses=FINISHED - {RunStatus.SUCCEEDED},
               run_rule="only a finished run that did not succeed"),
    ActionSpec(ActionKind.CANCEL, "cancel_run", "Cancel run", "Cancel run", "Cancel run…",
               "Cancel the selected run (X in Pipelines)", "X", "pipelines.cancel", Target.RUN,
               Capability.ACTIONS, pane="pipelines", phrase="cancel", run_statuses=UNFINISHED,
               run_rule="only a queued, running or waiting run"),
    ActionSpec(ActionKind.RERUN_ALL, "rerun_all", "Re-run all jobs", "Re-run all",
               "Re-run all jobs…", "Re-run every job of the selected run (G in Pipelines)", "G",
               "pipelines.rerun_all", Target.RUN, Capability.ACTIONS, pane="pipelines",
               phrase="re-run all jobs of", run_statuses=FINISHED,
               run_rule="only a finished run"),
    ActionSpec(ActionKind.RERUN_JOB, "rerun_job", "Re-run job", "Re-run job", "Re-run a job…",
               "Re-run one job of the selected run (J in Pipelines)", "J", "pipelines.rerun_job",
               Target.RUN, Capability.ACTIONS, pane="pipelines", job=True,
               phrase="re-run a job of", run_statuses=FINISHED, run_rule="only a finished run"),
    ActionSpec(ActionKind.APPROVE, "approve", "Approve deployment", "Approve",
               "Approve deployment…",
               "Approve the deployment the selected run waits for (Y in Pipelines)", "Y",
               "pipelines.approve", Target.RUN, Capability.ACTIONS, pane="pipelines", show=True,
               reviews=True, acts_as=ActionKind.DEPLOY, phrase="approve the deployment of",
               doing="approving a deployment", run_statuses=frozenset({RunStatus.WAITING}),
               run_rule="only a run waiting for review"),
    ActionSpec(ActionKind.REJECT, "reject", "Reject deployment", "Reject", "Reject deployment…",
               "Reject the deployment the selected run waits for (N in Pipelines)", "N",
               "pipelines.reject", Target.RUN, Capability.ACTIONS, pane="pipelines",
               reviews=True, phrase="reject the deployment of",
               run_statuses=frozenset({RunStatus.WAITING}),
               run_rule="only a run waiting for review"),
    ActionSpec(ActionKind.DISPATCH, "dispatch", "Run workflow", "Run workflow", "Run workflow…",
               "Run the selected run's workflow with its inputs (W in Pipelines)", "W",
               "pipelines.dispatch", Target.WORKFLOW, Capability.ACTIONS, pane="pipelines",
               takes_inputs=True, frozen=True, phrase="run workflow"),
    ActionSpec(ActionKind.RESTART_INSTANCE, "restart_instance", "Restart instance",
               "Restart instance", "Restart instance…",
               "Replace the selected instance (x in Instances)", "x", "instances.restart",
               Target.SERVICE, Capability.ACTIONS, pane="instances", show=True, instance=True,
               phrase="restart an instance of"),
    ActionSpec(ActionKind.EXTEND, "extend", "Extend", "Extend", "Extend preview…",
               "Give the selected preview environment more time to live (T in Environments)",
               "T", "envs.extend", Target.ENVIRONMENT, Capability.ACTIONS, pane="envs",
               show=True, duration=True, previews_only=True, phrase="extend",
               command_help="give a preview environment more time to live",
               command_description="Extend ENV (a preview environment) by DURATION, counted "
                                   "from the time it expires now."),
    ActionSpec(ActionKind.DELETE_ENVIRONMENT, "delete_env", "Delete environment",
               "Delete env", "Delete preview…",
               "Delete the selected preview environment and everything in it (X in "
               "Environments)", "X", "envs.delete", Target.ENVIRONMENT, Capability.ACTIONS,
               pane="envs", confirms=True, previews_only=True, phrase="delete environment",
               command_help="delete a preview environment and everything in it",
               command_description="Delete ENV (a preview environment) with everything "
                                   "deployed in it; it cannot be undone, so the name is "
                                   "confirmed (--yes) and a reason given (--reason)."),
)

_BY_KIND = {s.kind: s for s in ACTION_SPECS}
_BY_NAME = {s.name: s for s in ACTION_SPECS}
_BY_BINDING = {s.binding_id: s for s in ACTION_SPECS}
assert len(_BY_KIND) == len(_BY_NAME) == len(_BY_BINDING) == len(ACTION_SPECS) == len(ActionKind), \
    "one row per ActionKind, with distinct names and binding ids"


def spec(kind: ActionKind | str) -> ActionSpec:
    """The row of ``kind`` (an ``ActionKind`` or its value; ``ValueError`` for an unknown one)."""
    return _BY_KIND[ActionKind(kind)]


def by_name(name: str) -> ActionSpec | None:
    """The row whose binding action / command is ``name`` ("deploy", "cancel_run"), or None."""
    return _BY_NAME.get(name)


def by_binding(binding_id: str) -> ActionSpec | None:
    """The row whose binding id is ``binding_id`` ("action.deploy"), or None."""
    return _BY_BINDING.get(binding_id)


def app_specs() -> tuple[ActionSpec, ...]:
    """The kinds whose key is the app's (deploy… provision), in the table's order."""
    return tuple(s for s in ACTION_SPECS if s.pane is None)


def pane_specs(pane: str) -> tuple[ActionSpec, ...]:
    """The kinds whose key belongs to the pane named ``pane``."""
    return tuple(s for s in ACTION_SPECS if s.pane == pane)


def service_commands() -> tuple[ActionSpec, ...]:
    """The kinds on a service that are an ``idp-tui`` command of their own (deploy… restart)."""
    return tuple(s for s in ACTION_SPECS if s.target is Target.SERVICE and s.command_help)


def environment_commands() -> tuple[ActionSpec, ...]:
    """The kinds on a preview environment (extend, delete), each an ``idp-tui`` command."""
    return tuple(s for s in ACTION_SPECS if s.target is Target.ENVIRONMENT)


def action_names() -> tuple[str, ...]:
    """The app-level action names (``open_action_by_name`` takes one)."""
    return tuple(s.name for s in app_specs())
