"""``idp-tui audit`` (list, follow) and ``idp-tui audit verify`` (check the hash chain).

These read the audit file only: no source is started and the config is not needed, so the log can be
inspected even when the config is broken.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..audit import AuditLog
from ..runtime import AUDIT_FILE
from ..safetext import sanitize
from .context import Context
from .output import EXIT_FAILED, EXIT_OK, CliError, Output, Styled, timestamp

FOLLOW_POLL = 0.25

OUTCOME_STYLES = {"succeeded": "green", "failed": "red bold", "denied": "yellow",
                  "cancelled": "yellow"}


def audit_log(ctx: Context) -> AuditLog:
    return AuditLog(ctx.folder / AUDIT_FILE)


def _target(record: dict[str, Any]) -> str:
    action = record.get("action")
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
    else:
        status = Styled(str(outcome or phase), OUTCOME_STYLES.get(str(outcome), ""))
    when = record.get("time", "")
    try:
        from datetime import datetime

        when = timestamp(datetime.fromisoformat(str(when)))
    except ValueError:
        pass
    detail = record.get("error") or ""
    return [when, str(record.get("action_id", ""))[:8], record.get("actor", ""),
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
    if not args.follow:
        records = deque(log.records(), maxlen=limit)
        _print(out, list(records), header=True)
        if not records and not out.json:
            out.line(f"no audit records yet ({log.path})")
        return EXIT_OK
    return _follow(out, log, limit)


def _follow(out: Output, log: AuditLog, limit: int | None) -> int:
    """The last ``limit`` records, then every new one, until interrupted."""
    batches = log.follow_batches(FOLLOW_POLL)
    first = next(batches)
    _print(out, first[-limit:] if limit is not None else first, header=True)
    for batch in batches:
        _print(out, batch, header=False)
    return EXIT_OK  # not reached: following ends with an interrupt


def verify(ctx: Context) -> int:
    out = ctx.out
    log = audit_log(ctx)
    result = log.verify()
    unfinished = _unfinished(log) if result.ok else []
    body: dict[str, Any] = {"ok": result.ok, "records": result.records, "path": str(log.path)}
    if not result.ok:
        body.update({"line": result.line, "action_id": result.record_id,
                     "problem": result.problem})
    else:
        body["unfinished"] = unfinished
    if out.json:
        out.emit(body)
    elif result.ok:
        out.line(f"ok: {result.records} record{'s' if result.records != 1 else ''}, "
                 f"the hash chain is intact ({log.path})")
        for item in unfinished:
            out.line(f"note: line {item['line']}: action {item['action_id']} "
                     f"({sanitize(item['action'], max_len=40)}) started and never finished "
                     "(the process was killed?)")
    if result.ok:
        return EXIT_OK
    what = f"line {result.line}"
    if result.record_id:
        what += f" (action {sanitize(result.record_id, max_len=128)})"
    raise CliError(EXIT_FAILED, f"audit log broken at {what}: {result.problem}",
                   hint=f"records before line {result.line} are intact; inspect {log.path}",
                   type="broken", line=result.line, action_id=result.record_id,
                   problem=result.problem)


def _unfinished(log: AuditLog) -> list[dict[str, Any]]:
    started: dict[str, dict[str, Any]] = {}
    for number, record in enumerate(log.records(), start=1):
        rid = str(record.get("action_id", ""))
        if record.get("phase") == "started":
            started[rid] = {"line": number, "action_id": rid,
                            "action": str(record.get("action", ""))}
        else:
            started.pop(rid, None)
    return list(started.values())
