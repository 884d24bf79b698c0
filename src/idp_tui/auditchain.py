"""The audit trail's records and hash chain: canonical JSON, record hashes, the head of a
chain, and the walk that checks a log line by line (the JSON-lines log and the stores share them).

Textual-free and free of file locking: :class:`idp_tui.audit.AuditLog` owns the file, its anchor
and its lock; this module only reads bytes it is given.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
REDACTED = "***"
#: A line longer than this is damage, not a record (records are a few kB).
MAX_LINE = 16 * 1024 * 1024
CHUNK = 1024 * 1024
#: What a record's target is: the same action id must always name the same one.
TARGET_FIELDS = ("action", "service", "environment", "version", "replicas", "template", "run_id",
                 "params")
REPAIR_HINT = 'run `idp-tui audit verify` to see what is wrong and `idp-tui audit repair --reason "…"`'


#: Parameter names that are always redacted, whatever a template declares.
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential",
                          re.IGNORECASE)


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


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=str)


def _canonical(record: dict[str, Any]) -> bytes:
    return _ENCODER.encode(record).encode()


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: SHA-256 over its canonical JSON without the ``hash`` field."""
    if "hash" not in record:
        return hashlib.sha256(_canonical(record)).hexdigest()
    body = dict(record)
    del body["hash"]
    return hashlib.sha256(_canonical(body)).hexdigest()


def canonical(record: dict[str, Any]) -> bytes:
    """A record as stored: canonical JSON (sorted keys, no spaces), UTF-8."""
    return _canonical(record)


def chained(record: dict[str, Any], head: Head) -> dict[str, Any]:
    """``record`` as the record after ``head``: with its ``seq``, ``prev`` and ``hash``."""
    full = dict(record)
    full["seq"] = head.seq + 1
    full["prev"] = head.hash
    full.pop("hash", None)
    full["hash"] = record_hash(full)
    return full


def target_of(record: dict[str, Any]) -> str:
    """What a record acts on, as canonical JSON (the same id must always name the same one)."""
    return _canonical({k: record.get(k) for k in TARGET_FIELDS}).decode()


@dataclass(frozen=True)
class Head:
    """The last record of the chain: its sequence number, its hash, and where the log ends."""

    seq: int
    hash: str
    length: int

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "length": self.length}


EMPTY = Head(0, GENESIS, 0)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    #: 1-based line number of the first broken record, and why.
    line: int | None = None
    record_id: str | None = None
    problem: str = ""
    #: What to do about it.
    hint: str | None = None
    #: The anchor's state when it was fine: "" or a note ("no anchor yet: created").
    note: str = ""
    #: Actions that started and never finished: line, action_id, action.
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    #: Repair records: line, actor, time, reason, problem.
    repairs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RepairResult:
    """What ``repair`` did: nothing (``record`` is None), or moved bytes aside and recorded it."""

    record: dict[str, Any] | None
    problem: str
    moved_to: Path | None = None
    moved_bytes: tuple[int, int] | None = None


@dataclass
class Break:
    line: int
    offset: int
    record_id: str | None
    problem: str


class Walk:
    """Streams the log from ``start``, checking each line's chain; stops at the first break."""

    def __init__(self, fd: int, start: int = 0, head: Head = EMPTY, line: int = 1,
                 end: int | None = None) -> None:
        self.fd, self.start, self.head, self.first_line = fd, start, head, line
        self.end = end
        self.broken: Break | None = None
        self.records = 0

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any], int]]:
        """(line number, record, the offset just after it), oldest first."""
        offset, number, pending = self.start, self.first_line, b""
        pending_at = offset
        limit = self.end if self.end is not None else os.fstat(self.fd).st_size
        while offset < limit:
            chunk = os.pread(self.fd, min(CHUNK, limit - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            pending += chunk
            begin = 0
            while True:
                cut = pending.find(b"\n", begin)
                if cut < 0:
                    break
                end = pending_at + cut - begin + 1
                record = self._check(pending[begin:cut], number, pending_at, complete=True)
                if record is None:
                    return
                yield number, record, end
                pending_at, number, begin = end, number + 1, cut + 1
            pending = pending[begin:]
            if len(pending) > MAX_LINE:
                self.broken = Break(number, pending_at, None,
                                     f"a line longer than {MAX_LINE // (1024 * 1024)} MB")
                return
        if pending:
            self._check(pending, number, pending_at, complete=False)

    def _check(self, raw: bytes, number: int, at: int, *, complete: bool) -> dict[str, Any] | None:
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if isinstance(record, dict) and complete and record.get("prev") == self.head.hash and \
                record.get("seq") == self.head.seq + 1 and "hash" in record:
            digest = record.pop("hash")  # the usual case, without a copy of the record
            if digest == hashlib.sha256(_canonical(record)).hexdigest():
                record["hash"] = digest
                self.head = Head(record["seq"], digest, at + len(raw) + 1)
                self.records += 1
                return record
            record["hash"] = digest
        return self._why(raw, number, at, complete=complete)

    def _why(self, raw: bytes, number: int, at: int, *, complete: bool) -> None:
        """Name what is wrong with a line that is not the next record."""
        def broken(problem: str, rid: str | None = None) -> None:
            self.broken = Break(number, at, rid, problem)

        if not raw.strip():
            return broken("empty line")
        try:
            record = json.loads(raw)
        except ValueError:
            return broken("not valid JSON")
        if not isinstance(record, dict):
            return broken("not a JSON object")
        rid = str(record.get("action_id", "")) or None
        if not {"prev", "hash", "seq"} & record.keys():
            return broken("not an audit record (no place in the hash chain: added by hand?)", rid)
        if record.get("prev") != self.head.hash:
            return broken("does not follow the record before it (removed, reordered or inserted)",
                          rid)
        if record.get("hash") != record_hash(record):
            return broken("its content does not match its hash (edited)", rid)
        if record.get("seq") != self.head.seq + 1:
            return broken("its sequence number does not follow the record before it", rid)
        return broken("the last record has no end of line (a torn write)", rid)


def self_consistent(raw: bytes) -> bool:
    """The line is a record whose hash matches its content (an intact record, not damage)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("hash") == record_hash(record)


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One line of the file as a record, or None when it is not a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _line_before(fd: int, end: int) -> bytes | None:
    """The line that ends (with its newline) at byte ``end`` of the file open at ``fd``."""
    if end <= 0 or os.pread(fd, 1, end - 1) != b"\n":
        return None
    block, data, offset = 4096, b"", end - 1
    while offset > 0:
        step = min(block, offset)
        offset -= step
        data = os.pread(fd, step, offset) + data
        if b"\n" in data:
            return data.rsplit(b"\n", 1)[-1]
        if len(data) > MAX_LINE:
            return None
        block *= 2
    return data


def ends_with(fd: int, head: Head) -> bool:
    """The record ending at byte ``head.length`` of the file open at ``fd`` is ``head``'s."""
    if not head.length:
        return True
    raw = _line_before(fd, head.length)
    if raw is None:
        return False
    try:
        record = json.loads(raw)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("hash") == head.hash == \
        record_hash(record) and record.get("seq") == head.seq


class Ledger:
    """What a verification says besides the chain, record by record: the actions that started
    and never finished, and the repairs recorded (the log and the stores read it alike)."""

    def __init__(self) -> None:
        self._started: dict[str, dict[str, Any]] = {}
        self.repairs: list[dict[str, Any]] = []

    def add(self, number: int, record: dict[str, Any]) -> None:
        """The record at line (or sequence number) ``number``."""
        rid = str(record.get("action_id", ""))
        phase = record.get("phase")
        if phase == "started":
            self._started[rid] = {"line": number, "action_id": rid,
                                  "action": str(record.get("action", ""))}
        elif phase == "repair":
            self.repairs.append({"line": number, "actor": record.get("actor"),
                                 "time": record.get("time"), "reason": record.get("reason"),
                                 "problem": (record.get("repair") or {}).get("problem")})
        else:
            self._started.pop(rid, None)

    @property
    def unfinished(self) -> list[dict[str, Any]]:
        return list(self._started.values())
