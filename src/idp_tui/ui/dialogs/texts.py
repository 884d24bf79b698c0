"""What the dialogs say, as ``rich`` text: the policy's decision, a failure, the plan ("what
changes") and a run's summary. No Textual here; every string from a source goes through
:mod:`idp_tui.render`."""

from __future__ import annotations

from rich.text import Text

from ... import render
from ...actions import ActionRun, PlanResult
from ...api.actions import ActionPlan
from ...actionspec import spec
from ...api.kinds import ActionKind
from ...api.versions import same_version
from ...hub import Failure
from ...policy import Decision


def switch_text(value: bool) -> Text:
    """What a form's switch says beside it: on or off, in colour."""
    return Text("on", "bold green") if value else Text("off", "dim")


def decision_text(decision: Decision | None) -> Text:
    out = Text(end="")
    if decision is None:
        return out
    if decision.allowed and not decision.needs_confirmation:
        out.append("✔ allowed", "bold green")
    elif decision.allowed:
        out.append("✔ allowed: ", "bold green")
        out.append_text(render.text(decision.message, max_len=500))
    elif decision.needs_approval:  # (asking records a request; it runs once approved)
        out.append("⧗ needs approval: ", "bold yellow")
        out.append_text(render.text(decision.message, "yellow", max_len=500))
    elif decision.needs_confirmation:
        out.append("⚠ needs typed confirmation: ", "bold yellow")
        out.append_text(render.text(decision.message, "yellow", max_len=500))
    else:
        out.append(f"✖ denied ({decision.rule}): ", "bold red")
        out.append_text(render.text(decision.message, "red", max_len=500))
    return out


def failure_text(failure: Failure, what: str = "cannot plan") -> Text:
    out = Text(end="")
    out.append(f"✖ {what}: ", "bold red")
    out.append(f"{failure.error_class}: ", "red")
    out.append_text(render.text(failure.message, max_len=1000, multiline=True))
    if failure.hint:
        out.append("\n")
        out.append_text(render.text(failure.hint, "dim italic", max_len=500, multiline=True))
    return out


def denied_text(message: str | None) -> Text:
    """The policy's refusal, as every dialog says it."""
    out = Text("✖ denied: ", "bold red", end="")
    out.append_text(render.text(message or "no decision", "red", max_len=500))
    return out


def unchanged(kind: ActionKind, plan: ActionPlan | None, *, replicas: int | None = None,
              current_replicas: int | None = None) -> str | None:
    """Why confirming would change nothing (a deploy or rollback to the version running there,
    a scale to the replicas it has), or None: such a plan cannot be confirmed."""
    row = spec(kind)
    if row.needs_replicas:
        if replicas is not None and replicas == current_replicas:
            return f"It already runs {replicas} replica(s) there: nothing changes."
        return None
    if row.takes_version and plan is not None and plan.target_version and \
            same_version(plan.current_version, plan.target_version):
        version = render.sanitize(plan.target_version, max_len=60)
        return f"{version} already runs there: nothing changes."
    return None


def plan_text(result: PlanResult | None, kind: ActionKind, *, waiting: str = "",
              replicas: tuple[int | None, int | None] | None = None) -> Text:
    """The "what changes" panel: versions (or, for a scale, the ``replicas`` from and to),
    changes, other environments, creations, policy."""
    out = Text(end="")
    out.append("What changes\n", "bold underline")
    if result is None:
        out.append(waiting or "Working out what changes…", "dim")
        return out
    plan = result.plan
    if plan is not None:
        out.append_text(render.text(plan.summary, "bold", max_len=300, multiline=True))
        if spec(kind).needs_replicas:
            before, after = replicas or (None, None)
            out.append("\nReplicas  ", "dim")
            out.append("?" if before is None else str(before), "bold")
            out.append("  →  ", "bold")
            out.append("?" if after is None else str(after), "bold green")
            if before is not None and before == after:
                out.append("  (nothing changes)", "yellow")
        elif spec(kind).takes_version and (plan.current_version or plan.target_version):
            out.append("\nVersion   ", "dim")
            out.append_text(render.text(plan.current_version or "none", "bold", max_len=60))
            out.append("  →  ", "bold")
            out.append_text(render.text(plan.target_version or "?", "bold green", max_len=60))
            if same_version(plan.current_version, plan.target_version):
                out.append("  (already running)", "yellow")
        if plan.changes:
            out.append(f"\nChanges ({len(plan.changes)})", "dim")
            for change in plan.changes[:40]:
                out.append("\n  ")
                out.append_text(render.text(change.id[:12], "cyan", max_len=12))
                out.append(" ")
                out.append_text(render.text(change.message, max_len=120))
                if change.author:
                    out.append(" — ", "dim")
                    out.append_text(render.text(change.author, "dim", max_len=40))
            if len(plan.changes) > 40:
                out.append(f"\n  … and {len(plan.changes) - 40} more", "dim")
        if spec(kind).needs_version or plan.running_elsewhere:
            out.append("\nTarget runs in  ", "dim")
            if plan.running_elsewhere:
                out.append_text(render.text(", ".join(plan.running_elsewhere), "bold",
                                            max_len=300))
            else:
                out.append("no other environment yet", "dim")
        if plan.creates:
            out.append(f"\nWill create ({len(plan.creates)})", "dim")
            for resource in plan.creates[:40]:
                out.append("\n  + ", "green")
                out.append_text(render.text(resource.kind, "dim", max_len=40))
                out.append(" ")
                out.append_text(render.text(resource.name, "bold", max_len=120))
                for key, value in list(resource.details.items())[:12]:
                    out.append("\n      ")
                    out.append_text(render.text(key, "dim", max_len=30))
                    out.append(": ", "dim")
                    out.append_text(render.text(value, max_len=200))
        for note in plan.notes[:20]:
            out.append("\n• ", "dim")
            out.append_text(render.text(note, max_len=300, multiline=True))
        extra = []
        if plan.estimated_duration is not None:
            extra.append(f"about {render.duration(plan.estimated_duration)}")
        extra.append("can be cancelled" if plan.cancellable else "cannot be cancelled once started")
        out.append("\n" + " · ".join(extra), "dim")
    if result.failure is not None:
        out.append("\n")
        out.append_text(failure_text(result.failure))
    if result.decision is not None and result.decision.effect:
        # What the policy judged the action to do (a rollback to a new version is a deploy).
        out.append("\nWhat it does  ", "dim")
        out.append_text(render.text(result.decision.effect,
                                    "bold yellow" if result.decision.acts_as else "",
                                    max_len=300))
    if result.decision is not None:
        out.append("\n\nPolicy  ", "bold")
        out.append_text(decision_text(result.decision))
    if result.source:
        out.append("\nSource  ", "dim")
        out.append_text(render.text(result.source, "dim", max_len=60))
    return out


def run_summary(run: ActionRun) -> Text:
    """What was asked: kind, target, public parameters (secrets as ***), reason, who, decision."""
    r = run.request
    out = Text(end="")

    def row(label: str, value: object, style: str = "") -> None:
        out.append(f"\n{label:<12}", "dim")
        out.append_text(render.text(value, style, max_len=300))

    out.append_text(render.text(run.title, "bold", max_len=300))
    row("action", r.kind.value)
    if r.service:
        row("service", r.service, "bold")
    if r.environment:
        row("environment", r.environment, "bold")
    if r.version:
        row("version", r.version)
    if r.replicas is not None:
        row("replicas", r.replicas)
    if r.template:
        row("template", r.template)
    if r.run_id:
        row("run", r.run_id)
    for key, value in run.public_params.items():
        row(f"  {render.sanitize(key, max_len=10)}", value)
    if r.reason:
        row("reason", r.reason)
    row("by", r.actor or "–")
    if run.source:
        row("source", run.source)
    out.append(f"\n{'policy':<12}", "dim")
    out.append_text(decision_text(run.decision))
    return out
