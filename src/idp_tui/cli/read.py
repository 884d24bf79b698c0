"""Commands that only read: services, envs, pipelines, sources, metrics, logs, templates, resources."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..api.errors import NotSupported
from ..api.models import (
    Deployment,
    Health,
    LogLevel,
    LogLine,
    LogQuery,
    RunStatus,
    Window,
    metrics_step,
    model_to_jsonable,
)
from ..api.source import Capability
from ..hub import Failure, Hub, Snapshot, Topic, classify
from ..hub.parts import part_rows
from ..safetext import LINE_MAX, sanitize
from .context import Context
from .output import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE,
    EXIT_USAGE,
    INSTANCE_COLOURS,
    CliError,
    Output,
    Styled,
    ago,
    code_for_error_class,
    duration,
    metric_value,
    paint,
    scrub,
    timestamp,
)
from .params import describe_params

HEALTH_STYLES = {Health.HEALTHY: "green", Health.DEGRADED: "yellow", Health.DOWN: "red bold",
                 Health.UNKNOWN: "dim"}
RUN_STYLES = {RunStatus.SUCCEEDED: "green", RunStatus.FAILED: "red bold",
              RunStatus.RUNNING: "cyan bold", RunStatus.CANCELLED: "yellow",
              RunStatus.WAITING: "yellow bold",
              RunStatus.QUEUED: "dim", RunStatus.SKIPPED: "dim",
              RunStatus.ACTION_REQUIRED: "yellow bold"}
LEVEL_STYLES = {LogLevel.TRACE: "dim", LogLevel.DEBUG: "dim", LogLevel.INFO: "green",
                LogLevel.WARN: "yellow", LogLevel.ERROR: "red bold", LogLevel.FATAL: "red bold"}


# Failures of sources -----------------------------------------------------------------------------

def failure_dict(failure: Failure) -> dict[str, Any]:
    return {"source": failure.source, "error_class": failure.error_class,
            "message": failure.message, "hint": failure.hint}


def failures_error(failures: Iterable[Failure], what: str, *, answered: bool = False,
                   named: bool = True) -> CliError | None:
    """One error naming every failing source.

    Exit 5 (not found) only when every failure is "not found", the command names what was not
    found (``named``: a service, an environment) and nothing answered; else 4: a source failed,
    or answered only in part (``answered``: what arrived is printed), as the README's table says.
    """
    failures = list(failures)
    if not failures:
        return None
    codes = {code_for_error_class(f.error_class) for f in failures}
    code = EXIT_NOT_FOUND if codes == {EXIT_NOT_FOUND} and named and not answered \
        else EXIT_SOURCE
    message = "; ".join(_failure_text(f) for f in failures)
    if len(failures) > 1 or code == EXIT_SOURCE:
        message = f"{what}: {message}"
    hint = next((f.hint for f in failures if f.hint), None)
    return CliError(code, message, hint=hint, errors=[failure_dict(f) for f in failures])


def _failure_text(failure: Failure) -> str:
    if failure.error_class == "not found":
        return f"{failure.source}: {failure.message}"
    return f"{failure.source}: {failure.error_class}: {failure.message}"


def finish(ctx: Context, failures: Iterable[Failure], what: str, *, answered: bool = False,
           named: bool = True) -> int:
    """After the data is printed: the exit code, and the error on stderr when a source failed
    (see :func:`failures_error`)."""
    error = failures_error(failures, what, answered=answered, named=named)
    if error is None:
        return EXIT_OK
    raise error


def snapshot_failures(snapshot: Snapshot[Any]) -> list[Failure]:
    return list(snapshot.errors.values())


def _errors_json(failures: Iterable[Failure]) -> list[dict[str, Any]]:
    return [failure_dict(f) for f in failures]


def answered(snapshot: Snapshot[Any], data: object) -> bool:
    """Whether any source answered: records came, or a failing source's part of them."""
    return bool(data) or bool(snapshot.kept)


# Empty answers -----------------------------------------------------------------------------------

def say_empty(ctx: Context, hub: Hub, what: str, capability: Capability,
              service: str | None = None, where: str = "") -> None:
    """Nothing failed and nothing came: say why on stderr (a warning: the exit code stays 0),
    naming the sources concerned and what they say of themselves (a github source: where its
    repositories come from), so the user knows what to configure.

    ``what`` is the plural noun ("pipeline runs"); ``where`` follows the service ("in staging").
    """
    offering = hub.runners_for(capability)
    if not offering:
        return  # the hub's "no source" failure says it
    about = f" of {service}" if service else ""
    asked = hub.sources_for_service(service, capability) if service else offering
    if service and not asked:
        reasons = [f"{r.name} owns only {', '.join(r.owns)}" if r.owns
                   else f"{r.name} lists other services" for r in offering]
        message = f"no {what}{about}{where}: no source with {capability.value} knows {service}"
        hint = ("; ".join(reasons + _said(hub, offering)) + ". A source is asked only about "
                "the services its catalog or deployments list, or its `owns` names "
                "([sources.NAME] in the config)")
    else:
        names = ", ".join(r.name for r in asked)
        message = f"no {what}{about}{where}: {names} answered none"
        hint = "; ".join(_said(hub, asked)) or "`idp-tui sources` shows each source's state"
    ctx.out.warn(message, hint=hint)


def _said(hub: Hub, runners: Iterable[Any]) -> list[str]:
    """What each source says of itself (its status lines in the health view)."""
    return [f"{r.name}: {key}: {text}" for r in runners
            for key, text in sorted(hub.health[r.name].details.items())]


# services ----------------------------------------------------------------------------------------

def services(ctx: Context) -> int:
    return ctx.run(_services, say_catalog=False)  # its failures are this command's


async def _services(ctx: Context, hub: Hub) -> int:
    snapshot = hub.cached(Topic.catalog()) or await hub.fetch(Topic.catalog())
    items = snapshot.data or []
    failures = snapshot_failures(snapshot)
    out = ctx.out
    if out.json:
        out.emit({"services": [model_to_jsonable(s) for s in items],
                  "errors": _errors_json(failures)})
    elif items:
        out.table(["NAME", "OWNER", "TIER", "LIFECYCLE", "LANGUAGE", "SYSTEM", "ON CALL"],
                  [[s.name, s.owner, s.tier, s.lifecycle, s.language, s.system, s.on_call]
                   for s in items])
    return finish(ctx, failures, "catalog", answered=answered(snapshot, items), named=False)


# envs --------------------------------------------------------------------------------------------

def envs(ctx: Context) -> int:
    return ctx.run(_envs)


async def _envs(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    snapshot = await hub.fetch(Topic.environments())
    failures = snapshot_failures(snapshot)
    platform = snapshot.data
    environments = list(platform.environments) if platform else []
    deployments = sorted(platform.deployments.values() if platform else [],
                         key=lambda d: (d.service, d.environment))
    names = [e.name for e in environments]
    named = bool(args.service or args.env)
    came = answered(snapshot, deployments)
    if platform is not None and not failures:
        if args.env and args.env not in names:
            raise CliError(EXIT_NOT_FOUND, f"no environment {args.env!r}",
                           hint=f"environments: {', '.join(names) or 'none'}")
        if not deployments:
            say_empty(ctx, hub, "deployments", Capability.ENVIRONMENTS)
        elif args.service and all(d.service != args.service for d in deployments):
            raise CliError(EXIT_NOT_FOUND, f"service {args.service!r} runs in no environment",
                           hint="`idp-tui services` lists the catalog")
    if args.service:
        deployments = [d for d in deployments if d.service == args.service]
    if args.env:
        deployments = [d for d in deployments if d.environment == args.env]
        environments = [e for e in environments if e.name == args.env]
    if out.json:
        out.emit({"environments": [model_to_jsonable(e) for e in environments],
                  "deployments": [model_to_jsonable(d) for d in deployments],
                  "errors": _errors_json(failures)})
        return finish(ctx, failures, "environments", answered=came, named=named)
    now = ctx.clock.now()
    if args.env:
        out.table(["SERVICE", "VERSION", "HEALTH", "READY", "UPDATED", "MESSAGE"],
                  [[d.service, _serving(d), Styled(d.health.value, HEALTH_STYLES[d.health]),
                    (f"{d.replicas_ready or 0}/{d.replicas_desired}" if d.replicas_desired is not None
                     else "–"), ago(d.updated_at, now),
                    d.message] for d in deployments])
    elif environments:
        by_key = {(d.service, d.environment): d for d in deployments}
        rows = []
        for service in sorted({d.service for d in deployments}):
            row: list[object] = [service]
            for env in environments:
                dep = by_key.get((service, env.name))
                if dep is None:
                    row.append("–")
                elif dep.rollout:  # the version that serves, and the rollout's state
                    row.append(Styled(_serving(dep), HEALTH_STYLES[dep.health]))
                elif dep.health is Health.HEALTHY:
                    row.append(dep.version)
                else:
                    row.append(Styled(f"{dep.version} ({dep.health.value})",
                                      HEALTH_STYLES[dep.health]))
            rows.append(row)
        headers = ["SERVICE"] + [sanitize(e.name, max_len=60) + ("*" if e.protected else "")
                                 for e in environments]
        out.table(headers, rows)
    return finish(ctx, failures, "environments", answered=came, named=named)


def _serving(dep: Deployment) -> str:
    """The version that serves, with the rollout under way (``4.1.0 (stuck rolling out 4.2.0)``)."""
    if not dep.rollout:
        return dep.version
    target = f" {dep.target_version}" if dep.target_version else ""
    what = "stuck rolling out" if dep.rollout == "stuck" else "rolling out"
    return f"{dep.version} ({what}{target})"


# pipelines ---------------------------------------------------------------------------------------

def pipelines(ctx: Context) -> int:
    return ctx.run(_pipelines)


async def _pipelines(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    snapshot = await hub.fetch(Topic.pipelines(args.service, args.limit))
    runs = snapshot.data or []
    failures = snapshot_failures(snapshot)
    if args.service and not runs and not failures:
        catalog = await hub.fetch(Topic.catalog())
        if catalog.data is not None and not catalog.errors and \
                all(s.name != args.service for s in catalog.data):
            raise CliError(EXIT_NOT_FOUND, f"no service {args.service!r} in the catalog",
                           hint="`idp-tui services` lists the catalog")
    if not runs and not failures:
        say_empty(ctx, hub, "pipeline runs", Capability.PIPELINES, args.service)
    came, named = answered(snapshot, runs), bool(args.service)
    if out.json:
        out.emit({"pipelines": [model_to_jsonable(r) for r in runs],
                  "errors": _errors_json(failures)})
        return finish(ctx, failures, "pipelines", answered=came, named=named)
    now = ctx.clock.now()
    if runs:
        out.table(["ID", "SERVICE", "BRANCH", "COMMIT", "STATUS", "DURATION", "STARTED",
                   "VERSION", "TRIGGER"],
                  [[r.id, r.service, r.branch, r.commit[:8],
                    Styled(r.status.value, RUN_STYLES.get(r.status, "")),
                    duration(r.duration(now)), ago(r.started_at, now), r.version or "–",
                    r.trigger] for r in runs])
    return finish(ctx, failures, "pipelines", answered=came, named=named)


# sources -----------------------------------------------------------------------------------------

def sources(ctx: Context) -> int:
    return ctx.run(_sources)


async def _sources(ctx: Context, hub: Hub) -> int:
    out = ctx.out
    await asyncio.gather(hub.fetch(Topic.catalog()), hub.fetch(Topic.environments()))
    read_only = {s.name for s in ctx.config.sources if s.read_only}
    rows = []
    failing = []
    for health in hub.health.values():
        state = health.state if health.state != "waiting" or health.failure else "not checked"
        failure = health.failure
        if failure is not None:
            failing.append(failure)
        rows.append({
            "name": health.name,
            "type": health.type,
            "state": state,
            "latency": round(health.latency, 6) if health.latency is not None else None,
            "capabilities": sorted(c.value for c in health.capabilities),
            "read_only": health.name in read_only,
            "error_class": failure.error_class if failure else None,
            "message": failure.message if failure else None,
            "hint": failure.hint if failure else None,
            "last_ok": health.last_ok.isoformat() if health.last_ok else None,
            "description": health.description,
            # What the source says of itself in the health view (the quota left…).
            "status": dict(sorted(health.details.items())),
            "quota": health.details.get("quota"),
            "retry_at": health.retry_at.isoformat() if health.retry_at else None,
            "next_try": health.next_try.isoformat() if health.next_try else None,
            # Each part it reports (a cluster, a namespace, a repository), with its own state.
            "parts": [{"name": part.name, "kind": part.kind, "parent": part.parent,
                       "state": part.state, "latency": None if part.latency is None
                       else round(part.latency, 6), "error_class": part.error_class,
                       "message": part.message, "hint": part.hint}
                      for _depth, part in part_rows(health.parts)],
        })
    if out.json:
        out.emit({"sources": rows})
    else:
        styles = {"ok": "green", "error": "red bold", "not checked": "dim"}
        out.table(["NAME", "TYPE", "STATE", "LATENCY", "ERROR", "MESSAGE"],
                  [line for r in rows for line in [
                      [r["name"], r["type"], Styled(r["state"], styles.get(r["state"], "")),
                       f"{r['latency'] * 1000:.0f} ms" if r["latency"] is not None else "–",
                       r["error_class"] or "", r["message"] or ""],
                      *_part_lines(r["parts"], styles)]])
        for r in rows:
            for key, value in r["status"].items():
                out.line(f"{sanitize(r['name'], max_len=60)}: {sanitize(key, max_len=60)}: "
                         f"{sanitize(value, max_len=300)}")
            if r["hint"]:
                out.line(f"{sanitize(r['name'], max_len=60)}: hint: "
                         f"{sanitize(r['hint'], max_len=1000)}")
    if failing:
        raise CliError(EXIT_SOURCE, f"{len(failing)} of {len(rows)} source"
                                    f"{'s' if len(rows) != 1 else ''} failing: " +
                       "; ".join(f"{f.source}: {f.error_class}: {f.message}" for f in failing),
                       errors=[failure_dict(f) for f in failing])
    return EXIT_OK


def _part_lines(parts: list[dict[str, Any]], styles: dict[str, str]) -> list[list[Any]]:
    """The rows of a source's parts under its own, indented under the part each belongs to."""
    depth: dict[str, int] = {}
    lines = []
    for part in parts:
        level = depth[part["name"]] = depth.get(part["parent"] or "", 0) + 1
        lines.append(["  " * level + "└ " + part["name"], part["kind"],
                      Styled(part["state"], styles.get(part["state"], "")),
                      f"{part['latency'] * 1000:.0f} ms" if part["latency"] is not None else "–",
                      part["error_class"] or "", part["message"] or ""])
    return lines


# metrics -----------------------------------------------------------------------------------------

def metrics(ctx: Context) -> int:
    return ctx.run(_metrics)


async def _metrics(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    window = Window(args.window)
    # The Metrics pane's queries for the window (the same step, so the same "now").
    snapshot = await hub.fetch(Topic.metrics(args.service, args.env, window,
                                             metrics_step(window)))
    failures = snapshot_failures(snapshot)
    series = snapshot.data or []
    summary = []
    for s in series:
        values = [v for _, v in s.points if v == v]  # NaN is not a value
        summary.append({
            "signal": s.signal.value,
            "unit": s.unit,
            "now": s.now(),
            "as_of": None if s.as_of is None else timestamp(
                datetime.fromtimestamp(s.as_of, UTC)).replace(" ", "T"),
            "note": s.note or None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "points": [list(p) for p in s.points],
        })
    if not series and not failures:
        say_empty(ctx, hub, "metrics", Capability.METRICS, args.service, f" in {args.env}")
    if out.json:
        out.emit({"service": args.service, "environment": args.env, "window": window.value,
                  "signals": summary, "errors": _errors_json(failures)})
    elif summary:
        # Each value carries its unit (15 ms, 1.76 GiB): no column of units beside them.
        out.table(["SIGNAL", "NOW", "MIN", "MAX"],
                  [[m["signal"], metric_value(m["now"], m["unit"]),
                    metric_value(m["min"], m["unit"]), metric_value(m["max"], m["unit"])]
                   for m in summary])
        for m in summary:  # why a signal has no value; a "now" that is not now
            if m["note"] and m["now"] is None:
                out.line(f"{m['signal']}: {sanitize(m['note'], max_len=1000)}")
            elif m["as_of"]:
                out.line(f"{m['signal']}: now is as of {m['as_of'].replace('T', ' ')}")
    return finish(ctx, failures, "metrics", answered=answered(snapshot, series))


# logs --------------------------------------------------------------------------------------------

def logs(ctx: Context) -> int:
    args = ctx.args
    if args.grep is not None:
        try:
            args.grep_re = re.compile(args.grep)
        except re.error as exc:
            raise CliError(EXIT_USAGE, f"--grep: not a valid regular expression: {exc}") from None
    else:
        args.grep_re = None
    if args.instance:
        try:
            re.compile(args.instance)
        except re.error as exc:
            raise CliError(EXIT_USAGE,
                           f"--instance: not a valid regular expression: {exc}") from None
    if args.previous and args.follow:
        raise CliError(EXIT_USAGE, "--previous reads a finished log: it cannot be followed "
                                   "(leave out --follow)")
    return ctx.run(_logs)


class _LogPrinter:
    def __init__(self, out: Output, grep: re.Pattern[str] | None, colour: bool) -> None:
        self.out = out
        self.grep = grep
        self.colour = colour
        self.instances: dict[str, str] = {}
        self.printed = 0

    def _instance_style(self, instance: str) -> str:
        style = self.instances.get(instance)
        if style is None:
            style = INSTANCE_COLOURS[len(self.instances) % len(INSTANCE_COLOURS)]
            self.instances[instance] = style
        return style

    def lines(self, batch: list[LogLine]) -> None:
        out, grep = self.out, self.grep
        write = out.stdout.write
        for line in batch:
            if grep is not None and grep.search(line.message) is None:
                continue
            self.printed += 1
            if out.json:
                out.emit(model_to_jsonable(line))
                continue
            instance = sanitize(line.instance, max_len=80)
            level = line.level.value.upper() if line.level is not LogLevel.UNKNOWN else "-"
            message = sanitize(line.message, max_len=LINE_MAX)
            if self.colour:
                instance = paint(instance, self._instance_style(line.instance), True)
                level = paint(f"{level:<5}", LEVEL_STYLES.get(line.level, ""), True)
                if grep is not None:
                    message = _highlight(message, grep)
            else:
                level = f"{level:<5}"
            write(scrub(f"{timestamp(line.ts, millis=True)} {instance} {level} {message}\n"))
        out.stdout.flush()


def _highlight(text: str, pattern: re.Pattern[str]) -> str:
    parts = []
    last = 0
    for match in pattern.finditer(text):
        if match.end() == match.start():
            continue
        parts.append(text[last:match.start()])
        parts.append(paint(match.group(0), "reverse", True))
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)


async def _logs(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    tail = args.tail if args.tail is not None else (10_000 if args.since is not None else 200)
    query = LogQuery(service=args.service, environment=args.env, tail=tail, since=args.since,
                     follow=args.follow, previous=args.previous,
                     container=args.container or "", instance=args.instance or "")
    printer = _LogPrinter(out, args.grep_re, out.colour_out)
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    failures: list[Failure] = []
    dropped = received = 0

    stream = hub.stream_logs(query,
                             on_batch=lambda batch, lost: queue.put_nowait(("lines", (batch, lost))),
                             on_error=lambda failure: queue.put_nowait(("error", failure)),
                             on_end=lambda: queue.put_nowait(("end", None)))
    try:
        while True:
            kind, value = await queue.get()
            if kind == "lines":
                batch, lost = value
                received += len(batch)
                if lost:
                    dropped += lost
                    out.warn(f"{lost} lines dropped: the output could not keep up")
                printer.lines(batch)
                # Hand the stream room before reading on; a slow terminal pauses the source.
                if queue.qsize() > 8:
                    stream.pause()
                elif stream.paused:
                    stream.resume()
            elif kind == "error":
                if value.source == "hub" and value.error_class == "no source":
                    # No source to read (and no end coming): none offers logs, which is a
                    # failure, or none of those that do knows the service, which is said.
                    if hub.runners_for(Capability.LOGS):
                        say_empty(ctx, hub, "log lines", Capability.LOGS, args.service,
                                  f" in {args.env}")
                    else:
                        failures.append(value)
                    break
                failures.append(value)
                # Several sources asked: say each failure as it comes (the others go on).
                if len(hub.sources_for_service(args.service, Capability.LOGS)) > 1:
                    out.warn(f"{value.source}: {value.error_class}: {value.message}",
                             source=value.source, hint=value.hint)
            else:
                break
    finally:
        stream.cancel()
    if not received and not failures and not args.follow and (args.previous or args.instance):
        # Nothing, for a reason the user chose: say which.
        out.warn(f"no container of {sanitize(args.service, max_len=80)} in "
                 f"{sanitize(args.env, max_len=80)} has a previous run (none restarted)"
                 if args.previous else
                 f"no log lines from the instances matching "
                 f"{sanitize(args.instance, max_len=80)!r}")
    return finish(ctx, failures, "logs", answered=received > 0)


# versions ----------------------------------------------------------------------------------------

def versions(ctx: Context) -> int:
    return ctx.run(_versions)


async def _versions(ctx: Context, hub: Hub) -> int:
    args, out = ctx.args, ctx.out
    try:
        items = await ctx.actions.versions(args.service, args.env)
    except Exception as exc:  # noqa: BLE001 - not found, not supported, or the source failed
        failure = classify("hub", exc)
        text = failure.message if failure.error_class == "not found" \
            else f"{failure.error_class}: {failure.message}"
        raise CliError(code_for_error_class(failure.error_class), text, hint=failure.hint,
                       error_class=failure.error_class) from None
    if out.json:
        out.emit({"service": args.service, "environment": args.env,
                  "versions": [model_to_jsonable(v) for v in items]})
        return EXIT_OK
    now = ctx.clock.now()
    if items:
        # What the times are of: when built, or what the source knows instead ("first deployed").
        labelled = any(v.time_label != "built" for v in items)
        out.table(["VERSION", "CURRENT", "WHEN" if labelled else "BUILT", "COMMIT", "RUNNING IN"],
                  [[v.version, Styled("*", "green") if v.current else "",
                    f"{sanitize(v.time_label, max_len=20)} {ago(v.built_at, now)}"
                    if labelled and v.built_at else ago(v.built_at, now),
                    v.commit[:8] or "–", ", ".join(v.environments) or "–"] for v in items])
    return EXIT_OK


# templates and resources -------------------------------------------------------------------------

def _needs_provisioning(hub: Hub) -> None:
    if not hub.has(Capability.PROVISION):
        names = ", ".join(r.name for r in hub.runners) or "none"
        raise CliError(EXIT_SOURCE, "no configured source offers provisioning",
                       hint=f"configured sources: {names}; `idp-tui --list-sources` shows what "
                            "each source type offers",
                       type="source")


def templates(ctx: Context) -> int:
    return ctx.run(_templates)


async def _templates(ctx: Context, hub: Hub) -> int:
    out = ctx.out
    _needs_provisioning(hub)
    entries = await ctx.actions.templates()
    failures = [h.failure for h in hub.health.values()
                if h.failure is not None and Capability.PROVISION in h.capabilities]
    if out.json:
        out.emit({"templates": [{
            "name": e.template.name, "title": e.template.title,
            "description": e.template.description, "kind": e.template.kind, "source": e.source,
            "params": [p.as_dict() for p in describe_params(e.template.params)],
            "schema": e.template.json_schema(),
        } for e in entries], "errors": _errors_json(failures)})
        return finish(ctx, failures, "templates", answered=bool(entries), named=False)
    for i, entry in enumerate(entries):
        t = entry.template
        if i:
            out.line()
        title = paint(sanitize(t.name, max_len=80), "bold", out.colour_out)
        out.line(f"{title}  {sanitize(t.kind, max_len=40)}  {sanitize(t.title)}  "
                 f"(source: {sanitize(entry.source, max_len=60)})")
        if t.description:
            out.line(f"    {sanitize(t.description, max_len=1000)}")
        for param in describe_params(t.params):
            out.line(f"    --param {param.summary()}")
    out.flush()
    return finish(ctx, failures, "templates", answered=bool(entries), named=False)


def resources(ctx: Context) -> int:
    return ctx.run(_resources)


async def _resources(ctx: Context, hub: Hub) -> int:
    out = ctx.out
    _needs_provisioning(hub)
    try:
        items = await ctx.actions.resources()
    except NotSupported as exc:
        raise CliError(EXIT_SOURCE, exc.message, type="source") from None
    except Exception as exc:  # noqa: BLE001 - reported with its class
        failure = classify("hub", exc)
        raise CliError(code_for_error_class(failure.error_class),
                       f"resources: {failure.error_class}: {failure.message}",
                       hint=failure.hint) from None
    now = ctx.clock.now()
    if out.json:
        out.emit({"resources": [model_to_jsonable(r) for r in items], "errors": []})
    elif items:
        out.table(["KIND", "NAME", "SERVICE", "ENVIRONMENT", "STATUS", "CREATED", "EXPIRES",
                   "SOURCE"],
                  [[r.kind, r.name, r.service or "–", r.environment or "–", r.status,
                    ago(r.created_at, now), ago(r.expires_at, now) if r.expires_at else "–",
                    r.source] for r in items])
    return EXIT_OK
