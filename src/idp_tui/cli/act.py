"""Commands that change the platform: deploy, rollback, scale, restart and provision.

The service actions share one handler, ``service_action``; what each takes comes from its row of
the action table (:mod:`idp_tui.actionspec`).

Each builds an :class:`ActionRequest` and hands it to the hub's action layer, which routes it to a
source, checks the policy and writes the audit log, exactly as for the dashboard. ``--yes`` is the
typed-name confirmation of a protected environment (the CLI sends the environment's name).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from pydantic import ValidationError

from ..actions import ActionManager, ActionRun, PlanResult
from ..actionspec import Target, by_name, spec
from ..api.actions import ActionEvent, ActionKind, ActionPlan, ActionRequest, ActionState
from ..api.models import model_to_jsonable
from ..api.versions import same_version
from ..hub import Failure, Hub, Topic
from ..policy import Decision
from ..safetext import error_message, sanitize
from .context import Context
from .output import (
    EXIT_APPROVAL,
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Output,
    code_for_error_class,
    paint,
    timestamp,
)

#: Seconds to wait, after Ctrl-C, for a cancelled action to report that it stopped.
INTERRUPT_GRACE = 5.0
KNOWN_ERROR_CLASSES = ("not found", "not supported", "timeout", "unreachable", "auth",
                       "malformed data", "not responding", "plugin error", "no source", "error")


def _request(ctx: Context, kind: ActionKind, **fields: Any) -> ActionRequest:
    args = ctx.args
    environment = fields.pop("environment", getattr(args, "env", None))
    try:
        return ActionRequest(
            id=args.action_id or str(uuid.uuid4()), kind=kind, environment=environment,
            reason=(args.reason or "").strip(),
            # --yes is the typed-name confirmation of a protected environment.
            confirmation=(environment or "") if args.yes else "", **fields)
    except ValidationError as exc:  # an --id longer than 128 characters, say
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise CliError(EXIT_USAGE, f"invalid {where or 'request'}: {error_message(first)}") from None


def service_action(ctx: Context) -> int:
    """``idp-tui deploy|rollback|scale|restart``: the command's row of the action table says
    which of --version and --replicas it takes."""
    args = ctx.args
    row = by_name(args.command)
    assert row is not None and row.target is Target.SERVICE, args.command
    fields: dict[str, Any] = {"service": args.service}
    if row.takes_version:
        fields["version"] = args.version
    if row.needs_replicas:
        fields["replicas"] = args.replicas
    kind = row.kind
    if getattr(args, "instance", None):  # restart --instance: that one only
        kind = ActionKind.RESTART_INSTANCE
        fields["params"] = {"instance": args.instance}
    request = _request(ctx, kind, **fields)
    return ctx.run(lambda c, hub: _act(c, hub, request))


def environment_action(ctx: Context) -> int:
    """``idp-tui extend ENV --by 2d`` and ``idp-tui delete-env ENV``: a preview environment's
    action (``--yes`` types its name, as for a protected environment)."""
    args = ctx.args
    kind = ActionKind(args.action_kind)
    params = {"seconds": args.by} if spec(kind).duration else {}
    request = _request(ctx, kind, environment=args.env, source=args.source, params=params)
    return ctx.run(lambda c, hub: _act(c, hub, request))


def provision(ctx: Context) -> int:
    return ctx.run(_provision)


async def _provision(ctx: Context, hub: Hub) -> int:
    from .params import gather_params
    from .read import _needs_provisioning

    args = ctx.args
    _needs_provisioning(hub)
    manager: ActionManager = ctx.actions
    try:
        entry = await manager.template(args.template)
    except Exception as exc:  # noqa: BLE001 - not found, or the source failed
        raise _failure_error("hub", exc) from None
    given = list(args.param)
    fields = entry.template.params.model_fields
    for option, name in (("--env", "environment"), ("--service", "service")):
        value = getattr(args, "env" if name == "environment" else "service")
        if value is None or name not in fields:
            continue
        # The template's own parameter says where it goes: --env/--service set it.
        for item in given:
            key, _sep, other = item.partition("=")
            if key.strip() == name and other != value:
                raise CliError(EXIT_USAGE, f"{option} {value!r} contradicts --param "
                                           f"{name}={other!r}")
        given.append(f"{name}={value}")
    params, validated = gather_params(args.template, entry.template.params, given,
                                      args.param_file, ctx.out)
    # Where it goes, for the policy and the audit log: --service/--env, else the template's own
    # `service`/`environment` parameter (its default included).
    service = args.service or _text_field(validated, "service")
    environment = args.env or _text_field(validated, "environment")
    request = _request(ctx, ActionKind.PROVISION, template=args.template, params=params,
                       service=service, environment=environment)
    return await _act(ctx, hub, request)


def run_action(ctx: Context) -> int:
    """``idp-tui rerun|approve|reject RUN``: a pipeline run's action (``rerun --all``: every
    job, ``--job``: one job, else the failed ones)."""
    args = ctx.args
    if args.command == "rerun":
        if getattr(args, "all", False) and getattr(args, "job", None):
            raise CliError(EXIT_USAGE, "--all and --job exclude each other",
                           hint="--all re-runs every job, --job NAME one of them")
        kind = ActionKind.RERUN_ALL if args.all else \
            ActionKind.RERUN_JOB if args.job else ActionKind.RERUN
    else:
        kind = spec(args.command).kind
    params = {"job": args.job} if kind is ActionKind.RERUN_JOB else {}
    request = _request(ctx, kind, run_id=args.run, source=args.source, params=params,
                       environment=getattr(args, "env", None))
    return ctx.run(lambda c, hub: _act_resolved(c, hub, request))


def dispatch(ctx: Context) -> int:
    return ctx.run(_dispatch)


async def _dispatch(ctx: Context, hub: Hub) -> int:
    """``idp-tui dispatch SERVICE WORKFLOW``: the inputs the workflow file declares, typed and
    checked here (bad values: exit 2 before anything is sent), then the action."""
    from ..inputs import model_for
    from .params import gather_params

    args = ctx.args
    manager: ActionManager = ctx.actions
    bare = _request(ctx, ActionKind.DISPATCH, service=args.service, template=args.workflow,
                    version=args.ref, source=args.source)
    try:
        schema = await manager.inputs(bare)
    except Exception as exc:  # noqa: BLE001 - said with its exit code
        raise _failure_error("hub", exc) from None
    params: dict[str, Any] = {}
    if schema is not None:
        params, _validated = gather_params(args.workflow, model_for(schema, args.workflow),
                                           list(args.param), list(args.param_file), ctx.out,
                                           what="workflow", listing="")
    elif args.param or args.param_file:
        raise CliError(EXIT_USAGE, f"{args.workflow}: the source declares no inputs for it")
    request = bare.model_copy(update={"params": params})
    return await _act_resolved(ctx, hub, request)


async def _act_resolved(ctx: Context, hub: Hub, request: ActionRequest) -> int:
    """``_act`` for a kind whose environment the source's plan says (a review, an input naming
    an environment): ``--yes`` confirms the environment found."""
    row = spec(request.kind)
    if (row.reviews or row.takes_inputs) and not request.environment:
        manager: ActionManager = ctx.actions
        try:
            resolved = await manager.resolve(request)
        except Exception as exc:  # noqa: BLE001 - said with its exit code
            raise _failure_error("hub", exc) from None
        if resolved.environment:
            request = request.model_copy(update={
                "environment": resolved.environment,
                "confirmation": resolved.environment if ctx.args.yes else ""})
    return await _act(ctx, hub, request)


def _text_field(model: Any, name: str) -> str | None:
    value = getattr(model, name, None)
    value = getattr(value, "value", value)  # an enum
    return value if isinstance(value, str) and value else None


# Running one action ------------------------------------------------------------------------------

def _failure_error(source: str, exc: BaseException) -> CliError:
    from ..hub import classify

    return _failure_cli_error(classify(source, exc))


def _failure_cli_error(failure: Failure) -> CliError:
    """A source's (or the action layer's) failure as an error with its exit code."""
    text = failure.message if failure.error_class == "not found" \
        else f"{failure.error_class}: {failure.message}"
    if failure.source != "hub":
        text = f"{failure.source}: {text}"
    return CliError(code_for_error_class(failure.error_class, action=True), text,
                    hint=failure.hint,
                    error_class=failure.error_class,
                    source=None if failure.source == "hub" else failure.source)


def _denied_message(request: ActionRequest, decision: Decision) -> str:
    """The policy's words, with the typed-name confirmation said the command-line way."""
    if decision.rule != "protected":
        return decision.message
    env = request.environment or "?"
    missing = []
    if request.confirmation != env:
        missing.append("--yes")
    if not request.reason:
        missing.append('--reason "…"')
    passing = ' and '.join(missing) or '--yes'
    if spec(request.kind).confirms and "protected" not in decision.message:
        return (f"{spec(request.kind).title_phrase} {env} cannot be undone: pass {passing} "
                f"to confirm")
    return (f"{env} is a protected environment: pass {passing} "
            f"to {request.kind.value} there")


def _denied_hint(decision: Decision) -> str | None:
    if decision.rule == "read-only":
        return "run without --read-only, or change the config, to act"
    if decision.rule == "freeze" and decision.acts_as:
        return ("a rollback to a version that ran there before, and not newer than the one "
                "running, stays allowed during a freeze (without --version: the previous one)")
    if decision.rule == "freeze":
        return "rollbacks, restarts and scaling stay allowed during a freeze"
    return None


def args_name(row: Any) -> str:
    """The command of an environment's action kind (``extend``, ``delete-env``)."""
    return "delete-env" if row.kind is ActionKind.DELETE_ENVIRONMENT else row.name


def _describe(request: ActionRequest, public_params: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    return {"action_id": request.id, "action": request.kind.value, "service": request.service,
            "environment": request.environment, "version": request.version,
            "replicas": request.replicas, "template": request.template,
            "run_id": request.run_id,
            "params": public_params if public_params is not None else {},
            "reason": request.reason}


async def _pre_check(hub: Hub, request: ActionRequest) -> None:
    """Unknown environment or service: exit 5 with what exists, before anything is audited."""
    row = spec(request.kind)
    on_environment = row.target is Target.ENVIRONMENT and bool(request.environment)
    if not on_environment and (row.target is not Target.SERVICE or not request.environment
                               or not request.service):
        return
    snapshot = await hub.fetch(Topic.environments())
    platform = snapshot.data
    if platform is None or snapshot.errors:
        return  # the action layer reports the source's failure
    names = platform.environment_names()
    if request.environment not in names:
        raise CliError(EXIT_NOT_FOUND, f"no environment {request.environment!r}",
                       hint=f"environments: {', '.join(names) or 'none'}")
    if on_environment:
        previews = [e.name for e in platform.environments if e.kind.value == "preview"]
        if row.previews_only and request.environment not in previews:
            raise CliError(EXIT_USAGE, f"{request.environment} is not a preview environment: "
                                       f"`idp-tui {args_name(row)}` acts on preview "
                                       "environments only",
                           hint=f"preview environments: {', '.join(previews) or 'none'}")
        return
    deployed = (request.service, request.environment) in platform.deployments
    if not row.places and not deployed:
        raise CliError(EXIT_NOT_FOUND, f"{request.service} does not run in {request.environment}",
                       hint="`idp-tui envs --service SERVICE` shows where it runs")
    if row.places and not deployed and \
            all(s != request.service for s, _ in platform.deployments):
        catalog = await hub.fetch(Topic.catalog())
        if catalog.data is not None and not catalog.errors and \
                all(s.name != request.service for s in catalog.data):
            raise CliError(EXIT_NOT_FOUND, f"no service {request.service!r}",
                           hint="`idp-tui services` lists the catalog")


async def _with_versions(manager: ActionManager, request: ActionRequest,
                         error: CliError) -> CliError:
    """A deploy of a version the source does not know: the hint lists the ones it offers.

    The source decides what it can deploy (it may take versions older than its picker shows);
    this only helps the user pick.
    """
    if not spec(request.kind).needs_version or error.code != EXIT_NOT_FOUND:
        return error
    try:
        versions = await manager.versions(request.service or "", request.environment or "")
    except Exception:  # noqa: BLE001 - no picker: the source's words stand alone
        return error
    known = [v.version for v in versions]
    if error.hint and known and all(v in error.hint for v in known[:3]):
        return error  # the source's own hint lists them already: not said twice
    if known and request.version not in known:
        shown = ", ".join(sanitize(v, max_len=40) for v in known[:8])
        more = ", …" if len(known) > 8 else ""
        listed = f"Versions offered, newest first: {shown}{more} (`idp-tui versions`)."
        error.hint = f"{error.hint} {listed}" if error.hint else listed
    return error


async def _act(ctx: Context, hub: Hub, request: ActionRequest) -> int:
    out = ctx.out
    manager: ActionManager = ctx.actions
    await _pre_check(hub, request)
    planned: PlanResult = await manager.plan(request)
    decision = planned.decision
    if ctx.args.dry_run:
        if planned.failure is not None:
            error = await _with_versions(manager, request, _failure_cli_error(planned.failure))
            planned.failure = dataclasses.replace(planned.failure, hint=error.hint)
        return _dry_run(ctx, request, planned)
    if planned.failure is not None and (decision is None or decision.allowed):
        raise await _with_versions(manager, request, _failure_cli_error(planned.failure))
    if not out.json and planned.plan is not None and decision is not None and \
            (decision.allowed or decision.needs_approval):
        _print_plan(out, planned.plan, decision, dry_run=False)
    printer = _EventPrinter(out, request.id)
    remove = manager.watch(printer)
    try:
        run = await _submit(manager, request, printer, out)
        if run.decision.needs_approval and getattr(ctx.args, "wait", False):
            # Waiting for the approvals (or a denial, or the request's end), then once more:
            # approved, it runs; denied or expired, the action layer says so.
            from .approvals_cmd import wait_for_approval

            await wait_for_approval(ctx, manager, run)
            manager.runs.pop(run.id, None)
            run = await _submit(manager, request, printer, out)
    finally:
        remove()
    printer(run)
    _print_result(out, run)
    return _exit_for(run, printer.started, request)


async def _submit(manager: ActionManager, request: ActionRequest, printer: _EventPrinter,
                  out: Output) -> ActionRun:
    """Submit ``request`` and wait until its run ends (Ctrl-C cancels it where it can)."""
    try:
        run = await manager.submit(request)
    except asyncio.CancelledError:  # Ctrl-C as its start was written: it ended, say how
        run = manager.runs.get(request.id)  # type: ignore[assignment]
        if run is not None and run.state.finished:
            printer(run)
            _print_result(out, run)
        raise
    printer(run)
    try:
        await manager.wait(run.id)
    except asyncio.CancelledError:
        await _interrupted(manager, run, out)
        printer(run)
        _print_result(out, run)
        raise
    return run


def _dry_run(ctx: Context, request: ActionRequest, planned: PlanResult) -> int:
    out = ctx.out
    decision = planned.decision
    failure = planned.failure
    if out.json:
        out.emit({"dry_run": True, **_describe(request, _public(request)),
                  "source": planned.source,
                  "plan": model_to_jsonable(planned.plan) if planned.plan else None,
                  "decision": decision.as_dict() if decision else None,
                  "error": None if failure is None else {
                      "source": failure.source, "error_class": failure.error_class,
                      "message": failure.message, "hint": failure.hint}})
    elif planned.plan is not None and decision is not None:
        _print_plan(out, planned.plan, decision, dry_run=True)
    if decision is not None and decision.needs_approval:
        if not out.json:
            out.line("dry run: nothing was changed; without --dry-run a request for approval is "
                     "recorded and the action runs once approved")
        return EXIT_OK
    if decision is not None and not decision.allowed:
        raise CliError(EXIT_DENIED, _denied_message(request, decision),
                       hint=_denied_hint(decision), rule=decision.rule)
    if failure is not None:
        raise _failure_cli_error(failure)
    if not out.json:
        out.line("dry run: nothing was changed")
    return EXIT_OK


def _public(request: ActionRequest) -> dict[str, Any]:
    from ..audit import redact
    from .output import SECRETS

    params = redact(request.params)
    # Values registered as secrets (by --param-file, the prompt…) are hidden whatever their name.
    return {k: ("***" if isinstance(v, str) and v in SECRETS else v) for k, v in params.items()}


def _print_plan(out: Output, plan: ActionPlan, decision: Decision, *, dry_run: bool) -> None:
    colour = out.colour_out
    head = "dry run: " if dry_run else ""
    out.line(paint(f"{head}{sanitize(plan.summary, max_len=500)}", "bold", colour))
    if plan.target_version and not same_version(plan.target_version, plan.current_version):
        out.line(f"  version: {sanitize(plan.current_version or '–', max_len=80)} → "
                 f"{sanitize(plan.target_version, max_len=80)}")
    elif plan.current_version or plan.target_version:
        out.line(f"  version: {sanitize(plan.current_version or plan.target_version, max_len=80)}")
    if plan.changes:
        out.line(f"  changes ({len(plan.changes)}):")
        for change in plan.changes[:20]:
            author = f" ({sanitize(change.author, max_len=60)})" if change.author else ""
            out.line(f"    {sanitize(change.id, max_len=12)} "
                     f"{sanitize(change.message, max_len=120)}{author}")
        if len(plan.changes) > 20:
            out.line(f"    … and {len(plan.changes) - 20} more")
    if plan.running_elsewhere:
        out.line("  already running the target: " +
                 ", ".join(sanitize(e, max_len=60) for e in plan.running_elsewhere))
    if plan.creates:
        out.line("  creates:")
        for item in plan.creates:
            details = ", ".join(f"{sanitize(k, max_len=40)}={sanitize(v, max_len=80)}"
                                for k, v in item.details.items())
            out.line(f"    {sanitize(item.kind, max_len=40)} {sanitize(item.name, max_len=120)}"
                     + (f" ({details})" if details else ""))
    for note in plan.notes:
        out.line(f"  note: {sanitize(note, max_len=500)}")
    if decision.effect:
        # What the policy judged the action to do (a rollback to a new version is a deploy).
        out.line("  what it does: " + paint(sanitize(decision.effect, max_len=500),
                                            "yellow" if decision.acts_as else "", colour))
    if plan.estimated_duration is not None:
        seconds = plan.estimated_duration.total_seconds()
        out.line("  estimated duration: " + (f"{seconds:.0f} s" if seconds >= 1 else "< 1 s"))
    style = "green" if decision.allowed else "yellow" if decision.needs_approval else "red bold"
    verdict = "allowed" if decision.allowed else \
        "needs approval" if decision.needs_approval else "denied"
    if decision.message != verdict:
        verdict += f" ({sanitize(decision.message, max_len=500)})"
    out.line("  policy: " + paint(verdict, style, colour))
    out.flush()


class _EventPrinter:
    """Prints each new progress event of one run (the action layer calls it on every change)."""

    def __init__(self, out: Output, action_id: str) -> None:
        self.out = out
        self.action_id = action_id
        self.seen = 0
        self.started = False

    def __call__(self, run: ActionRun) -> None:
        if run.id != self.action_id:
            return
        if run.state is ActionState.RUNNING:
            self.started = True
        total = run.dropped_events + len(run.events)
        if total <= self.seen:
            return
        skipped = max(0, run.dropped_events - self.seen)
        new = run.events[max(0, self.seen - run.dropped_events):]
        self.seen = total
        if skipped:
            self.out.warn(f"{skipped} progress events dropped")
        for event in new:
            self._print(event)

    def _print(self, event: ActionEvent) -> None:
        out = self.out
        if out.json:
            out.emit({"type": "event", "action_id": self.action_id,
                      **model_to_jsonable(event)})
            return
        progress = f"[{event.done}/{event.total}] " if event.done is not None and event.total \
            else ""
        style = {"warning": "yellow", "error": "red bold"}.get(event.level, "")
        if event.state is ActionState.SUCCEEDED:
            style = "green"
        elif event.state in (ActionState.FAILED, ActionState.CANCELLED):
            style = "red bold"
        when = timestamp(event.ts)[11:19]
        out.line(f"{when}  " + paint(f"{progress}{sanitize(event.message, max_len=2000)}", style,
                                     out.colour_out))
        out.flush()


async def _interrupted(manager: ActionManager, run: ActionRun, out: Output) -> None:
    """Ctrl-C while an action runs: cancel it where the source can, and record how it ended."""
    if run.state.finished:
        return
    status = manager.cancel(run.id)
    out.warn(f"interrupted: {status}")
    try:
        await asyncio.wait_for(manager.wait(run.id), INTERRUPT_GRACE if run.cancellable else 0.5)
    except (TimeoutError, asyncio.TimeoutError, asyncio.CancelledError):
        pass
    if not run.state.finished:
        # The source cannot stop it, and this process is about to end: say so in the audit log
        # rather than leave a "started" record that looks like a crash.
        manager._finish(run, ActionState.FAILED,
                        "interrupted: idp-tui stopped waiting before the action finished; it may "
                        "be partly done")


def _print_result(out: Output, run: ActionRun) -> None:
    if out.json:
        out.emit({"type": "result", **_describe(run.request, run.public_params),
                  "title": run.title, "error": run.error,
                  "state": "waiting for approval" if run.decision.needs_approval
                  else run.state.value,
                  "source": run.source or None, "decision": run.decision.as_dict(),
                  "plan": model_to_jsonable(run.plan) if run.plan else None,
                  "created_at": run.created_at.isoformat(),
                  "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                  "events": run.dropped_events + len(run.events)})
        return
    if run.state is ActionState.DENIED:
        if run.decision.needs_approval:  # the request's id, for `idp-tui approve`
            out.line(paint(f"⧗ waiting for approval: {sanitize(run.title, max_len=500)}",
                           "yellow bold", out.colour_out) + f"  (request {run.id})")
        return  # the error on stderr says why
    took = ""
    if run.finished_at is not None:
        seconds = (run.finished_at - run.created_at).total_seconds()
        took = f" in {seconds:.1f} s" if seconds >= 0 else ""
    if run.state is ActionState.SUCCEEDED:
        out.line(paint(f"✔ succeeded{took}: {sanitize(run.title, max_len=500)}", "green bold",
                       out.colour_out) + f"  (action {run.id})")
    else:
        out.line(paint(f"✖ {run.state.value}{took}: {sanitize(run.title, max_len=500)}",
                       "red bold", out.colour_out) + f"  (action {run.id})")
    out.flush()


def _exit_for(run: ActionRun, started: bool, request: ActionRequest) -> int:
    if run.state is ActionState.SUCCEEDED:
        return EXIT_OK
    if run.state is ActionState.DENIED and run.decision.needs_approval:
        raise CliError(EXIT_APPROVAL, run.decision.message, type="approval", action_id=run.id,
                       hint=f"an approver runs `idp-tui approve {run.id} --reason \"…\"`; then "
                            f"`idp-tui run-approved {run.id}` (or this command with --id "
                            f"{run.id}) runs it")
    if run.state is ActionState.DENIED and run.decision.rule == "approval":
        raise CliError(EXIT_DENIED, run.decision.message, rule="approval", action_id=run.id)
    if run.state is ActionState.DENIED:
        # The request as sent: the run's copy no longer holds the confirmation.
        sent = request.model_copy(update={"environment": run.request.environment})
        raise CliError(EXIT_DENIED, _denied_message(sent, run.decision),
                       hint=_denied_hint(run.decision), rule=run.decision.rule,
                       action_id=run.id)
    error = run.error or run.state.value
    if not started and run.audit_error is not None:  # the audit log refused: nothing started
        raise CliError(run.audit_error.exit_code, error, hint=run.audit_error.hint,
                       action_id=run.id)
    if not started:
        # Never reached the source's run_action: routing, validation or the plan failed.
        error_class = error.split(":", 1)[0]
        if error_class.startswith("plan failed"):
            error_class = error.split(":", 2)[1].strip() if error.count(":") >= 2 else ""
        if error_class in KNOWN_ERROR_CLASSES:
            raise CliError(code_for_error_class(error_class, action=True), error,
                           action_id=run.id,
                           error_class=error_class)
        raise CliError(EXIT_FAILED, error, action_id=run.id)
    if run.state is ActionState.CANCELLED and error.startswith("cancelled by the user"):
        raise CliError(EXIT_INTERRUPTED, f"{run.title}: {error}", action_id=run.id)
    raise CliError(EXIT_FAILED, f"{run.title}: {error}", action_id=run.id,
                   hint=f"`idp-tui audit --limit 5` shows the record; action id {run.id}")
