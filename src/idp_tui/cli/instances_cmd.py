"""``idp-tui instances SERVICE --env ENV``: the instances (pods) of a service in an environment,
as ``kubectl get pods`` lists them, then the workload's recent events (``--describe NAME``: one
instance in detail; ``--yaml NAME``: its manifest). ``--json`` gives the records."""

from __future__ import annotations

from typing import Any

from .. import instancefmt as fmt
from ..api.kinds import Capability
from ..api.models import Instances, model_to_jsonable
from ..hub import Hub, Topic
from .context import Context
from .output import EXIT_NOT_FOUND, CliError, Styled, cell
from .read import _errors_json, answered, finish, say_empty, snapshot_failures

_STYLE = {"error": "red", "warning": "yellow", "ok": "green"}
#: Events printed after the table (``--json`` has them all).
EVENTS_SHOWN = 15


def instances(ctx: Context) -> int:
    return ctx.run(_instances)


async def _instances(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    snapshot = await hub.fetch(Topic.instances(args.service, args.env))
    failures = snapshot_failures(snapshot)
    data: Instances | None = snapshot.data
    now = ctx.clock.now()
    wanted = getattr(args, "describe", None) or getattr(args, "yaml", None)
    chosen = None
    if data is not None and wanted:
        chosen = next((i for i in data.instances if i.name == wanted), None)
        if chosen is None:
            names = ", ".join(i.name for i in data.instances[:5]) or "none"
            raise CliError(EXIT_NOT_FOUND, f"no instance {wanted!r} of {args.service} in "
                                           f"{args.env} (running: {names})")
    if data is not None and data.note:
        out.warn(data.note, source=data.source or None)
    if data is None and not failures:
        say_empty(ctx, hub, "instances", Capability.INSTANCES, args.service, f" in {args.env}")
    if out.json:
        value: dict[str, Any] = {"service": args.service, "environment": args.env,
                                 "errors": _errors_json(failures)}
        if data is not None:
            value.update(workload=data.workload, source=data.source, note=data.note)
            if chosen is not None:
                value["instance"] = model_to_jsonable(chosen)
            else:
                value["instances"] = [model_to_jsonable(i) for i in fmt.ordered(data.instances)]
                value["events"] = [model_to_jsonable(e) for e in data.events]
        out.emit(value)
    elif data is not None and chosen is not None and args.yaml:
        for line in (chosen.manifest or "(the source gives no manifest)").splitlines():
            out.line(cell(line, max_len=2000))
    elif data is not None and chosen is not None:
        width = max(len(label) for label, _ in fmt.describe(chosen, now, data.events))
        for label, value in fmt.describe(chosen, now, data.events):
            out.line(f"{cell(label, 80):<{width}}  {cell(value, 500)}".rstrip())
    elif data is not None:
        if data.workload:
            out.line(cell(data.workload, 200))
        rows = []
        for i in fmt.ordered(data.instances):
            style = _STYLE[fmt.severity(i)]
            rows.append([i.name, Styled(f"{i.ready}/{i.total}", style),
                         Styled(fmt.status(i), style), i.restarts, i.node or "–",
                         fmt.age(i.created_at, now), ", ".join(i.images)])
        if rows:
            out.table(["NAME", "READY", "STATUS", "RESTARTS", "NODE", "AGE", "IMAGES"], rows)
        else:
            out.line("no instance runs")
        if data.events:
            out.line()
            out.table(["TYPE", "REASON", "OBJECT", "AGE", "MESSAGE"],
                      [[Styled(e.type, "yellow" if e.type == "Warning" else ""), e.reason,
                        e.object, fmt.age(e.last_seen, now), e.message]
                       for e in data.events[:EVENTS_SHOWN]])
    return finish(ctx, failures, "instances", answered=answered(snapshot, data))
