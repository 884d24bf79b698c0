"""``idp-tui audit`` (list, follow), ``idp-tui audit verify`` (check the hash chain and its anchor,
of the trail or of a file), ``idp-tui audit repair`` (move a damaged tail aside and record the
repair) and ``idp-tui audit mirror`` (the PostgreSQL store's chain copied into a JSON-lines file).

These use the audit files only: no source is started and the config is not needed, so the log can be
inspected (and repaired) even when the config is broken.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..audit import AuditError, AuditLog
from ..identity import actor_text
from ..limits import AUDIT_LIMIT
from ..runtime import AUDIT_FILE
from ..safetext import sanitize
from .context import Context
from .output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, Output, Styled, timestamp

FOLLOW_POLL = 0.25
#: Seconds between two copies of ``audit mirror --follow``.
MIRROR_POLL = 1.0

OUTCOME_STYLES = {"succeeded": "green", "failed": "red bold", "denied": "yellow",
                  "cancelled": "yellow"}


def audit_log(ctx: Context) -> AuditLog:
    """The configured store's audit trail: the data dir's log, or with ``[store] kind =
    "postgres"`` the organisation's chain. A config that cannot be read falls back to the data
    dir's log (it can be inspected and repaired then), unless its ``[store]`` is what is wrong."""
    from ..configerror import ConfigError
    from ..store import open_audit

    try:
        store = ctx.config.store
    except ConfigError as exc:
        if any((problem.field or "").split(".")[0] == "store" for problem in exc.problems):
            raise
        store = None
    except Exception:  # noqa: BLE001 - a broken config: the data dir's log, as always
        store = None
    with _audit_errors():
        return open_audit(store, ctx.folder)  # type: ignore[return-value]


@contextmanager
def _audit_errors() -> Iterator[None]:
    """An audit file that cannot be used (a folder, a symbolic link…) as a sentence and a code."""
    try:
        yield
    except AuditError as exc:
        raise CliError(exc.exit_code, str(exc), hint=exc.hint, type="audit") from None


def _target(record: dict[str, Any]) -> str:
    action = record.get("action")
    if record.get("phase") == "repair":
        return str((record.get("repair") or {}).get("problem") or "?")
    if action == "provision":
        text = str(record.get("template") or "?")
        if record.get("service"):
            text += f" for {record['service']}"
    else:
        text = str(record.get("service") or "?")
        if record.get("version"):
            text += f" {record['version']}"
        if record.get("replicas") is not None:
            text += f" ×{record['replicas']}"
    if record.get("environment"):
        text += f" in {record['environment']}"
    return text


def _row(record: dict[str, Any]) -> list[object]:
    phase = str(record.get("phase", "?"))
    outcome = record.get("outcome")
    if phase == "started":
        status: object = Styled("started", "cyan")
    elif phase == "repair":
        status = Styled("repair", "yellow")
    else:
        status = Styled(str(outcome or phase), OUTCOME_STYLES.get(str(outcome), ""))
    when = record.get("time", "")
    try:
        from datetime import datetime

        when = timestamp(datetime.fromisoformat(str(when)))
    except ValueError:
        pass
    detail = record.get("error") or ""
    return [when, str(record.get("action_id", ""))[:8], actor_text(record),
            record.get("action", ""), _target(record), status, record.get("reason", "") or "",
            detail]


HEADERS = ["TIME", "ID", "ACTOR", "ACTION", "TARGET", "PHASE/OUTCOME", "REASON", "ERROR"]


def _print(out: Output, records: list[dict[str, Any]], *, header: bool) -> None:
    if out.json:
        for record in records:
            out.emit(record)
        return
    if not records:
        return
    if header:
        out.table(HEADERS, [_row(r) for r in records])
    else:
        # Following: one line per record, columns as wide as they come.
        for record in records:
            out.line("  ".join(sanitize(c.value if isinstance(c, Styled) else c, max_len=200)
                               for c in _row(record)).rstrip())
        out.flush()


def list_records(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    log = audit_log(ctx)
    limit = args.limit or None
    if getattr(args, "filter", ""):
        return _list_filtered(ctx, log, limit)
    if not args.follow:
        with _audit_errors():
            records = deque(log.records(), maxlen=limit)
        _print(out, list(records), header=True)
        if not records and not out.json:
            out.line(f"no audit records yet ({log.path})")
        return EXIT_OK
    return _follow(out, log, limit)


def _list_filtered(ctx: Context, log: AuditLog, limit: int | None) -> int:
    """The records of the actions the filter lets through (the newest ``limit`` records of
    them), read from the store's end as the Activity screen reads them."""
    from ..auditview import AuditFilter, read_history

    args, out = ctx.args, ctx.out
    if args.follow:
        raise CliError(EXIT_USAGE, "--filter lists what is recorded; it does not follow",
                       hint="idp-tui audit --follow prints every new record")
    query = AuditFilter.parse(args.filter)
    owners = _owners(ctx) if query.team else None
    lines = log.lines_newest_first() if hasattr(log, "lines_newest_first") else log.path
    with _audit_errors():
        history = read_history(lines, query, limit=limit or AUDIT_LIMIT.size,
                               scan_limit=AUDIT_LIMIT.size, owners=owners)
    if history.error:
        raise CliError(EXIT_FAILED, history.error, type="audit")
    records = deque((r for entry in reversed(history.entries) for r in entry.records),
                    maxlen=limit)
    _print(out, list(records), header=True)
    if not records and not out.json:
        out.line(f"no action matches {query.describe()} ({log.path})")
    return EXIT_OK


def _owners(ctx: Context) -> dict[str, str]:
    """Each service's owning team, from the configured sources' catalog (for team:)."""
    from ..hub import Topic

    found: dict[str, str] = {}

    async def read(ctx: Context, hub: Any) -> int:
        snapshot = hub.cached(Topic.catalog()) or await hub.fetch(Topic.catalog())
        found.update({s.name: s.owner for s in snapshot.data or () if s.owner})
        return EXIT_OK

    ctx.run(read, say_catalog=True)
    return found


def _follow(out: Output, log: AuditLog, limit: int | None) -> int:
    """The last ``limit`` records, then every new one, until interrupted."""
    batches = log.follow_batches(FOLLOW_POLL)
    with _audit_errors():
        first = next(batches)
        _print(out, first[-limit:] if limit is not None else first, header=True)
        for batch in batches:
            _print(out, batch, header=False)
    return EXIT_OK  # not reached: following ends with an interrupt


def verify(ctx: Context) -> int:
    out = ctx.out
    log = _file(ctx.args.file) if getattr(ctx.args, "file", None) else audit_log(ctx)
    with _audit_errors():
        result = log.verify()
    body: dict[str, Any] = {"ok": result.ok, "records": result.records, "path": str(log.path)}
    if not result.ok:
        body.update({"line": result.line, "action_id": result.record_id,
                     "problem": result.problem})
    else:
        body["unfinished"] = result.unfinished
        body["repairs"] = result.repairs
        if result.note:
            body["note"] = result.note
    if out.json:
        out.emit(body)
    elif result.ok:
        ends = " and matches its anchor" if isinstance(log, AuditLog) else " and ends at its head"
        out.line(f"ok: {result.records} record{'s' if result.records != 1 else ''}, "
                 f"the hash chain is intact{'' if result.note else ends} "
                 f"({log.path})")
        if result.note:
            out.line(f"note: {result.note}")
        for item in result.repairs:
            out.line(f"note: line {item['line']}: repaired by "
                     f"{sanitize(item['actor'], max_len=80)} on "
                     f"{sanitize(item['time'], max_len=40)}: "
                     f"{sanitize(item['problem'], max_len=300)} (reason: "
                     f"{sanitize(item['reason'], max_len=200)})")
        for item in result.unfinished:
            out.line(f"note: line {item['line']}: action {item['action_id']} "
                     f"({sanitize(item['action'], max_len=40)}) started and never finished "
                     "(the process was killed?)")
    if result.ok:
        return EXIT_OK
    if result.line is not None:
        what = f"line {result.line}"
        if result.record_id:
            what += f" (action {sanitize(result.record_id, max_len=128)})"
        message = f"audit log broken at {what}: {result.problem}"
    else:
        message = f"audit log broken: {result.problem}"
    raise CliError(EXIT_FAILED, message, hint=result.hint, type="broken", line=result.line,
                   action_id=result.record_id, problem=result.problem)


def _file(path: Path) -> AuditLog:
    """A JSON-lines log named on the command line (a mirror, a copy): it must be there."""
    path = path.expanduser()
    if not path.is_file():
        raise CliError(EXIT_USAGE, f"no audit log at {path}" + (
            " (a folder)" if path.is_dir() else ""), type="usage")
    return AuditLog(path)


def mirror(ctx: Context) -> int:
    """``idp-tui audit mirror FILE [--follow]``: the store's chain copied, as stored, into a
    JSON-lines log (the records it does not have yet; every ``MIRROR_POLL`` s with --follow)."""
    out, trail = ctx.out, audit_log(ctx)
    if isinstance(trail, AuditLog):
        raise CliError(EXIT_USAGE, f"the audit trail is the JSON-lines log {trail.path} "
                                   "already: there is nothing to mirror",
                       hint='`audit mirror` copies the chain of [store] kind = "postgres"',
                       type="usage")
    path = ctx.args.file.expanduser()
    if path.is_dir():
        raise CliError(EXIT_USAGE, f"{path} is a folder: name the mirror's file", type="usage")
    target = AuditLog(path)
    while True:
        with _audit_errors():
            copied, head = trail.mirror(target)  # type: ignore[attr-defined]
        if out.json:
            out.emit({"copied": copied, "seq": head.seq, "hash": head.hash, "path": str(path)})
        elif copied or not ctx.args.follow:
            out.line(f"{copied} new record{'s' if copied != 1 else ''} copied: {path} ends at "
                     f"record {head.seq} of {trail.path}")
        out.flush()  # (followed through a pipe: each copy said as it happens)
        if not ctx.args.follow:
            return EXIT_OK
        time.sleep(MIRROR_POLL)


def repair(ctx: Context) -> int:
    """``idp-tui audit repair --reason R``: see :meth:`AuditLog.repair` (the data dir's log) and
    :meth:`PostgresAudit.repair` (the store's chain, reset under this machine's anchor)."""
    out = ctx.out
    reason = (ctx.args.reason or "").strip()
    if not reason:
        raise CliError(EXIT_USAGE, 'a repair needs --reason "…" (it is recorded in the chain)')
    log = audit_log(ctx)
    with _audit_errors():
        result = log.repair(reason, _actor(ctx))
    body: dict[str, Any] = {"repaired": result.record is not None, "problem": result.problem,
                            "path": str(log.path),
                            "moved_to": str(result.moved_to) if result.moved_to else None,
                            "moved_bytes": list(result.moved_bytes) if result.moved_bytes
                            else None, "record": result.record}
    if out.json:
        out.emit(body)
        return EXIT_OK
    if result.record is None:
        out.line(f"{result.problem} ({log.path})")
        return EXIT_OK
    out.line(f"repaired {log.path}: {sanitize(result.problem, max_len=500)}")
    if result.moved_to is not None and result.moved_bytes is not None:
        start, end = result.moved_bytes
        out.line(f"  moved bytes {start}–{end} ({end - start} bytes) aside, kept in "
                 f"{result.moved_to}")
    out.line(f"  recorded as record {result.record['seq']} (action "
             f"{result.record['action_id']}); `idp-tui audit verify` checks the chain")
    return EXIT_OK


def _actor(ctx: Context) -> str:
    """Who repairs: the config's ``[policy] identity``, else the OS user (a broken config does
    not stop a repair)."""
    from ..actions import current_user

    try:
        identity = ctx.config.policy.identity
    except Exception:  # noqa: BLE001 - no config, or a broken one: the OS user
        identity = None
    return identity or current_user()
