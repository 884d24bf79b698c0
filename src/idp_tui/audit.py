"""The audit log: append-only JSON lines, fsynced, hash-chained.

Every mutating action writes a ``started`` record before it begins and a ``finished`` record when it
ends (a denied action writes one ``denied`` record). Each record carries the previous record's hash, so
editing, removing or reordering a line breaks the chain at that line, and ``idp-tui audit verify``
names it. Appends take an exclusive lock on the file, so the dashboard and the CLI can write to the
same log at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
REDACTED = "***"

#: Parameter names that are always redacted, whatever a template declares.
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential",
                          re.IGNORECASE)


class AuditError(Exception):
    """The audit log cannot be written: the action must not start."""


def redact(params: dict[str, Any], secret_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``params`` with secret values replaced by ``***`` (named secret, or by their name)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in secret_fields or _SECRET_NAME.search(key):
            out[key] = REDACTED
        elif isinstance(value, dict):
            out[key] = redact(value, secret_fields)
        elif isinstance(value, list | tuple):
            out[key] = [redact(v, secret_fields) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: SHA-256 over its canonical JSON without the ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    #: 1-based line number of the first broken record, and why.
    line: int | None = None
    record_id: str | None = None
    problem: str = ""


class AuditLog:
    """One audit file. Safe to share between processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync ``record``; returns it with ``seq``, ``prev`` and ``hash``.

        Raises :class:`AuditError` when the log cannot be written; callers must then not act.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_record(fd)
            full = dict(record)
            full["seq"] = (last.get("seq", 0) + 1) if last else 1
            full["prev"] = last.get("hash", GENESIS) if last else GENESIS
            full.pop("hash", None)
            full["hash"] = record_hash(full)
            line = _canonical(full) + b"\n"
            written = os.write(fd, line)
            if written != len(line):
                raise AuditError(f"short write to the audit log {self.path}")
            os.fsync(fd)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from exc
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        return full

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first (unreadable lines are skipped: see ``verify``)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for raw in handle:
                value = _parse(raw)
                if value is not None:
                    yield value

    def follow_batches(self, poll: float = 0.25,
                       stop: Callable[[], bool] | None = None) -> Iterator[list[dict[str, Any]]]:
        """The records there now (one batch, maybe empty), then each poll's new ones (non-empty
        batches only), until ``stop()`` returns true. A file replaced or cut short is read again
        from its start."""
        position = 0
        pending = b""
        first = True
        while True:
            batch: list[dict[str, Any]] = []
            if self.path.exists():
                if self.path.stat().st_size < position:
                    position, pending = 0, b""
                with self.path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                batch = [value for value in map(_parse, lines) if value is not None]
            if first or batch:
                yield batch
            first = False
            if stop is not None and stop():
                return
            time.sleep(poll)

    def follow(self, poll: float = 0.25,
               stop: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
        """Every record, then new ones as they are appended (until ``stop()`` returns true)."""
        for batch in self.follow_batches(poll, stop):
            yield from batch

    def verify(self) -> VerifyResult:
        """Check every record's hash and link to the one before it."""
        if not self.path.exists():
            return VerifyResult(ok=True, records=0)
        prev = GENESIS
        count = 0
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    return VerifyResult(False, count, number, None, "empty line")
                try:
                    record = json.loads(raw)
                except ValueError:
                    return VerifyResult(False, count, number, None, "not valid JSON")
                if not isinstance(record, dict):
                    return VerifyResult(False, count, number, None, "not a JSON object")
                rid = str(record.get("action_id", "")) or None
                if record.get("prev") != prev:
                    return VerifyResult(False, count, number, rid,
                                        "does not follow the record before it (removed, "
                                        "reordered or inserted)")
                if record.get("hash") != record_hash(record):
                    return VerifyResult(False, count, number, rid,
                                        "its content does not match its hash (edited)")
                prev = record["hash"]
                count += 1
        return VerifyResult(ok=True, records=count)


def _parse(raw: bytes) -> dict[str, Any] | None:
    """One line of the file as a record, or None when it is not a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _last_record(fd: int) -> dict[str, Any] | None:
    """The last complete record of the file open at ``fd`` (reads backwards from the end)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    block = 4096
    data = b""
    offset = size
    while offset > 0:
        step = min(block, offset)
        offset -= step
        data = os.pread(fd, step, offset) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped or offset == 0:
            last = stripped.rsplit(b"\n", 1)[-1]
            try:
                value = json.loads(last)
            except ValueError as exc:
                raise AuditError("the audit log ends with a damaged record; run "
                                 "`idp-tui audit verify`") from exc
            return value if isinstance(value, dict) else None
        block *= 2
    return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
