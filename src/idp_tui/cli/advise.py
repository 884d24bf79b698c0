"""``idp-tui advise [--service S] [--env E] [--json] [--fail-on SEVERITY]``: what the advisor
recommends now, most urgent first, each with its evidence and remedy.

The same rules as the dashboard's advisor, over one fetch of the hub's topics (catalog,
environments, pipelines, and the metrics of the recent deploys); the scorecard gaps from the
same count as ``idp-tui scorecards`` (the deploys in the audit trail and the delivery coverage
counted alike). What was dismissed or snoozed
(``advisor.json`` in the data dir) is left out. ``--fail-on SEVERITY`` makes a CI job fail (exit
code :data:`EXIT_GATE`) when a recommendation shown is that severe or more.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ..advisor import Advisor, Dismissals, Recommendation, Severity, gather
from ..advisor.engine import configured_scorecards
from ..hub import Hub
from .context import Context
from .output import EXIT_NOT_FOUND, CliError, Styled, cell, sanitize
from .read import _errors_json, finish, snapshot_failures

#: The exit code when a recommendation is at least as severe as ``--fail-on`` (the gates' code).
EXIT_GATE = 6
_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
          Severity.LOW: ""}


def advise(ctx: Context) -> int:
    return ctx.run(_advise)


async def _advise(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    settings = ctx.config.advisor
    scorecards, problem = configured_scorecards(ctx.config)
    advisor = Advisor(settings=settings, dismissals=Dismissals.in_folder(ctx.folder),
                      clock=ctx.clock, scorecards=scorecards if scorecards is not None else [])
    if problem:
        advisor.load_errors += (problem,)
    view, snapshots = await gather(hub, ctx.clock.now(), settings)
    failures = [f for s in snapshots for f in snapshot_failures(s)]
    # The scorecard gaps of the same count as `idp-tui scorecards` (the runtime's trail: the
    # deploys made through idp-tui count too).
    await advisor.count_scorecards(hub, view)
    counted = getattr(view.scorecards, "failures", None) or []
    failures += [f for f in counted if f not in failures]
    if args.service and view.services is not None and args.service not in view.services \
            and not any(s == args.service for s, _ in view.deployments or {}):
        raise CliError(EXIT_NOT_FOUND, f"no service {args.service!r} in the catalog",
                       hint="`idp-tui services` lists the catalog")
    if args.env and view.environments and args.env not in {e.name for e in view.environments}:
        raise CliError(EXIT_NOT_FOUND, f"no environment {args.env!r}",
                       hint=f"environments: {', '.join(e.name for e in view.environments)}")
    advice = advisor.evaluate(view)
    shown = [r for r in advice.recommendations
             if (not args.service or r.service == args.service)
             and (not args.env or r.environment in (None, args.env))]
    for error in advice.errors:
        out.warn(error)
    if out.json:
        out.emit({"recommendations": [_jsonable(r) for r in shown], "hidden": advice.hidden,
                  "as_of": view.now.astimezone(UTC).isoformat(),
                  "rules": [r.id for r in advisor.rules],
                  "errors": _errors_json(failures)})
    else:
        _print(ctx, shown, advice.hidden)
    answered = view.deployments is not None or view.runs is not None
    code = finish(ctx, failures, "advisor data", answered=answered)
    if args.fail_on:
        gate = Severity.parse(args.fail_on)
        over = [r for r in shown if r.severity.rank >= gate.rank]
        if over:
            raise CliError(EXIT_GATE, f"{len(over)} recommendation(s) of severity {gate.value} "
                                      f"or more (first: {over[0].title})", type="gate")
    return code


def _jsonable(rec: Recommendation) -> dict[str, Any]:
    return rec.model_dump(mode="json")


def _remedy_text(rec: Recommendation) -> str:
    remedy = rec.remedy
    if remedy is not None and remedy.service is None and remedy.environment:
        from ..actionenv import duration_text

        seconds = remedy.params.get("seconds")
        by = f" --by {duration_text(seconds)}" if isinstance(seconds, int) else ""
        name = "delete-env" if remedy.kind.value == "delete_environment" else remedy.kind.value
        return f"idp-tui {name} {remedy.environment}{by}"
    if remedy is not None:
        words = ["idp-tui", remedy.kind.value, remedy.service or ""]
        if remedy.environment:
            words += ["--env", remedy.environment]
        if remedy.kind.value == "deploy" and remedy.version:
            words += ["--version", remedy.version]
        if remedy.kind.value == "scale" and remedy.replicas is not None:
            words += ["--replicas", str(remedy.replicas)]
        return " ".join(words)
    if rec.opens is not None:
        return rec.opens.url or f"the log of run {rec.opens.run_id} (Pipelines pane)"
    return ""


def _print(ctx: Context, recs: list[Recommendation], hidden: int) -> None:
    out = ctx.out
    if not recs:
        out.line("no recommendations" + (f" ({hidden} dismissed or snoozed)" if hidden else ""))
        return
    out.table(["SEVERITY", "SERVICE", "ENV", "RECOMMENDATION", "REMEDY"],
              [[Styled(r.severity.value, _STYLE[r.severity]), r.service, r.environment,
                Styled(r.title, "", 100), _remedy_text(r)] for r in recs])
    if ctx.args.verbose_evidence:
        for r in recs:
            out.line()
            out.line(f"{cell(r.id)}  {cell(r.title, 200)}")
            if r.detail:
                out.line(f"  {sanitize(r.detail, max_len=400)}")
            ev = r.evidence
            for figure in ev.figures:
                unit = f" {cell(figure.unit)}" if figure.unit else ""
                out.line(f"  {cell(figure.name)}: {cell(figure.value)}{unit}")
            span = " – ".join(f"{t.astimezone(UTC):%Y-%m-%d %H:%M}" for t in (ev.start, ev.end)
                              if t is not None)
            source = f" from {cell(ev.source)}" if ev.source else ""
            if span or source:
                out.line(f"  {span + ' UTC' if span else ''}{source}".rstrip())
            if ev.test:
                out.line(f"  {cell(ev.test, 200)}")
    out.line()
    tail = f"; {hidden} dismissed or snoozed" if hidden else ""
    out.line(f"{len(recs)} recommendation(s){tail}; --evidence shows the figures behind each")
