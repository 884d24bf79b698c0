"""The audit log: append-only JSON lines, fsynced, hash-chained, anchored (the records' format and
the chain's checks are :mod:`idp_tui.auditchain`'s).

Every mutating action writes a ``started`` record before it begins and a ``finished`` record when it
ends (a denied action writes one ``denied`` record). Each record carries the previous record's hash, so
editing, removing or reordering a line breaks the chain at that line, and ``idp-tui audit verify``
names it. The head of the chain (sequence number, hash, byte length) is also kept outside the log, in
``audit.anchor``: a log deleted, emptied, truncated or replaced, or a line added by hand, no longer
matches it. Every append checks the log's tail against the anchor first and never chains onto a log
that does not match; ``idp-tui audit repair`` moves a damaged tail aside and records the repair.

An append writes the whole record in one write or nothing (a failed write, a full disk, is cut back
to the last good end). Appends take an exclusive lock (``audit.lock``), so the dashboard and the CLI
can write to the same log at once. Neither the log nor its anchor is followed if it is a symbolic
link. ``audit.index`` (SQLite, derived from the log, rebuilt when it does not match) finds an action
id's earlier records without reading the whole log: an id names one action, forever.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .auditchain import (
    CHUNK,
    EMPTY,
    GENESIS,
    MAX_LINE,
    REDACTED,
    REPAIR_HINT,
    TARGET_FIELDS,
    Break,
    Head,
    Ledger,
    RepairResult,
    VerifyResult,
    Walk,
    canonical,
    chained,
    ends_with,
    parse_line,
    record_hash,
    redact,
    self_consistent,
    target_of,
)

__all__ = [  # the log, its errors, and the record format's names (from :mod:`idp_tui.auditchain`)
    "EMPTY", "GENESIS", "MAX_LINE", "REDACTED", "REPAIR_HINT", "TARGET_FIELDS", "ActionAlreadyRan",
    "ActionIdReused", "ActionOutcomeUnknown", "AuditBroken", "AuditError", "AuditLog",
    "AuditPathError", "Head", "RepairResult", "VerifyResult", "canonical", "chained",
    "record_hash", "redact", "target_of",
]

log = logging.getLogger(__name__)

class AuditError(Exception):
    """The audit log cannot be written: the action must not start."""

    #: The ``idp-tui`` exit code when this stops a command.
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class AuditPathError(AuditError):
    """The log (or its anchor) is not a regular file: a folder, a symbolic link, a device."""

    exit_code = 2


class AuditBroken(AuditError):
    """The log does not match its anchor, or its tail is damaged: nothing is chained onto it."""


class ActionIdReused(AuditError):
    """The action id was used before for another target."""

    exit_code = 2


class ActionOutcomeUnknown(AuditError):
    """The action id started before and never finished: its outcome is not known."""


class ActionAlreadyRan(AuditError):
    """The same request with the same id finished before: ``outcome`` is how."""

    def __init__(self, message: str, outcome: str, error: str | None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error = error


class AuditLog:
    """One audit file, its anchor, its lock and its id index. Safe to share between processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.anchor_path = path.with_suffix(".anchor")
        self.lock_path = path.with_suffix(".lock")
        self.index_path = path.with_suffix(".index")
        #: A note for the user (said once), e.g. that an anchor was created for an old log.
        self.notes: list[str] = []

    # Appending -----------------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync ``record``; returns it with ``seq``, ``prev`` and ``hash``.

        Raises :class:`AuditError` when the log cannot be written, does not match its anchor, or
        (for a ``started`` or ``denied`` record) its action id named another action; callers must
        then not act.
        """
        with self._tail() as (fd, head):
            if record.get("phase") in ("started", "denied") and record.get("action_id"):
                self._check_id(fd, head, record)
            return self._write(fd, head, record)

    @contextmanager
    def _tail(self) -> Iterator[tuple[int, Head]]:
        """The log open for appending and its head checked against the anchor, under the lock
        (:class:`AuditBroken` when they do not match)."""
        with self._locked():
            anchor = self._read_anchor()
            fd = self._open_log(write=True, create=anchor is None or anchor.length == 0)
            if fd is None:
                raise self._missing(anchor)
            try:
                yield fd, self._head(fd, anchor)
            finally:
                os.close(fd)

    def copy_in(self, records_after: Callable[[int], Iterable[dict[str, Any]]]
                ) -> tuple[int, Head]:
        """Append the records already chained elsewhere that ``records_after(seq)`` gives after
        this log's last record (the PostgreSQL store's, as stored), each only if it follows the
        head (its sequence number, its ``prev``, its own hash): the log stays the same chain,
        verifiable alone. How many were copied, and the head the log ends at.

        Raises :class:`AuditBroken` for a record that does not follow (the log mirrors another
        chain, or one of them was changed): the records before it are kept."""
        with self._tail() as (fd, head):
            written, pending, top = head, bytearray(), head
            for record in records_after(head.seq):
                if record.get("seq") == top.seq and record.get("hash") == top.hash:
                    continue  # already here (the store read from the head it named)
                if record.get("seq") != top.seq + 1 or record.get("prev") != top.hash \
                        or record.get("hash") != record_hash(record):
                    self._put(fd, written, bytes(pending), top)
                    raise AuditBroken(
                        f"record {record.get('seq')} does not follow record {top.seq} of "
                        f"{self.path}: the file mirrors another chain, or one of them was "
                        f"changed; nothing after record {top.seq} was copied",
                        hint="`idp-tui audit verify` (with --file for this file) names what "
                             "was changed")
                line = canonical(record) + b"\n"
                pending += line
                top = Head(int(record["seq"]), str(record["hash"]), top.length + len(line))
                if len(pending) >= CHUNK:  # fsynced and anchored a chunk at a time
                    written = self._put(fd, written, bytes(pending), top)
                    pending.clear()
            return top.seq - head.seq, self._put(fd, written, bytes(pending), top)

    def _write(self, fd: int, head: Head, record: dict[str, Any]) -> dict[str, Any]:
        full = chained(record, head)
        line = canonical(full) + b"\n"
        self._put(fd, head, line, Head(full["seq"], full["hash"], head.length + len(line)))
        return full

    def _put(self, fd: int, head: Head, line: bytes, new: Head) -> Head:
        """Write ``line`` (whole records) after ``head``, fsynced, and anchor ``new``; or cut the
        log back to ``head``. ``new``."""
        if not line:
            return head
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
            os.fsync(fd)
            self._write_anchor(new)
        except OSError as exc:
            self._cut_back(fd, head.length)
            raise AuditError(f"cannot write the audit log {self.path}: {_why(exc)}; nothing was "
                             "recorded") from exc
        if head.length == 0:
            _fsync_dir(self.path.parent)
        return new

    def _cut_back(self, fd: int, length: int) -> None:
        """Undo a failed write: the log ends at its last good record again."""
        try:
            os.ftruncate(fd, length)
            os.fsync(fd)
        except OSError:
            log.error("could not cut the audit log %s back to %d bytes", self.path, length)

    # The head and the anchor ---------------------------------------------------------------------

    def _head(self, fd: int, anchor: Head | None) -> Head:
        """The chain's head, checked against the anchor (raises :class:`AuditBroken`)."""
        size = os.fstat(fd).st_size
        if anchor is None:
            if size == 0:
                return EMPTY
            walk = Walk(fd)
            for _ in walk:
                pass
            if walk.broken is not None:
                raise self._broken_at(walk.broken, tail=walk.broken.line > walk.records)
            self._write_anchor(walk.head)
            self._note(f"no anchor yet: created {self.anchor_path.name} for record "
                       f"{walk.head.seq} (the log was written before anchors were kept)")
            return walk.head
        if size < anchor.length:
            raise self._short(anchor, size)
        if anchor.length and not self._anchored(fd, anchor):
            raise AuditBroken(f"the audit log {self.path} does not end its first {anchor.length} "
                              f"bytes with the anchored record {anchor.seq}: it was edited or "
                              "replaced; actions are refused", hint=REPAIR_HINT)
        if size == anchor.length:
            return anchor
        walk = Walk(fd, anchor.length, anchor, line=anchor.seq + 1)
        for _ in walk:
            pass
        if walk.broken is not None:
            raise self._broken_at(walk.broken, tail=True)
        self._write_anchor(walk.head)  # records written by a process stopped before its anchor
        return walk.head

    def _anchored(self, fd: int, anchor: Head) -> bool:
        return ends_with(fd, anchor)

    def _missing(self, anchor: Head | None) -> AuditBroken:
        return AuditBroken(f"the audit log {self.path} is missing (deleted or renamed), but its "
                           f"anchor names record {anchor.seq if anchor else 0}; actions are "
                           "refused", hint=REPAIR_HINT)

    def _short(self, anchor: Head, size: int) -> AuditBroken:
        how = "emptied" if size == 0 else f"truncated to {size} bytes"
        return AuditBroken(f"the audit log {self.path} was {how}: its anchor names record "
                           f"{anchor.seq} ending at byte {anchor.length}; actions are refused",
                           hint=REPAIR_HINT)

    def _broken_at(self, brk: Break, *, tail: bool) -> AuditBroken:
        where = "ends with a damaged record" if tail else "is broken"
        return AuditBroken(f"the audit log {self.path} {where} (line {brk.line}: {brk.problem}); "
                           "nothing is added to it", hint=REPAIR_HINT)

    def _read_anchor(self) -> Head | None:
        fd = _open_regular(self.anchor_path, os.O_RDONLY, "the audit log's anchor")
        if fd is None:
            return None
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        try:
            value = json.loads(data)
            return Head(int(value["seq"]), str(value["hash"]), int(value["length"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditBroken(f"the audit log's anchor {self.anchor_path} is damaged; actions are "
                              "refused", hint=REPAIR_HINT) from exc

    def _write_anchor(self, head: Head) -> None:
        """Replace the anchor atomically (a temporary file, fsynced, renamed over it)."""
        tmp = self.anchor_path.with_name(self.anchor_path.name + ".tmp")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            data = json.dumps({**head.as_dict(), "log": self.path.name}).encode() + b"\n"
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write of the anchor")
            os.fsync(fd)
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        try:
            os.replace(tmp, self.anchor_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        log.warning("audit log: %s", text)

    # Files ---------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self, *, read_only: bool = False) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {_why(exc)}") from exc
        shared = False
        try:
            fd = _open_regular(self.lock_path, os.O_RDWR | os.O_CREAT,
                               "the audit log's lock file")
        except AuditPathError:
            raise
        except AuditError:
            if not read_only:
                raise
            # Read access only (an auditor): a shared lock if the lock file is there.
            fd, shared = _open_regular(self.lock_path, os.O_RDONLY, "the audit log's lock file"), True
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _open_log(self, *, write: bool = False, create: bool = False) -> int | None:
        flags = (os.O_RDWR | os.O_APPEND) if write else os.O_RDONLY
        if create:
            flags |= os.O_CREAT
        return _open_regular(self.path, flags, "the audit log")

    # Reading -------------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first (unreadable lines are skipped: see ``verify``)."""
        fd = self._open_log()
        if fd is None:
            return
        with os.fdopen(fd, "rb") as handle:
            for raw in handle:
                value = parse_line(raw)
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
            fd = self._open_log()
            if fd is not None:
                with os.fdopen(fd, "rb") as handle:
                    if os.fstat(fd).st_size < position:
                        position, pending = 0, b""
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                batch = [value for value in map(parse_line, lines) if value is not None]
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

    # Verifying -----------------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Check every record's hash and link to the one before it, and the head against the
        anchor. Streams the log (bounded memory); creates the anchor of an old log that has none,
        and brings an anchor left behind by a stopped process up to date (``note`` says so)."""
        with self._locked(read_only=True):
            anchor = self._read_anchor()
            fd = self._open_log()
            if fd is None:
                if anchor is not None and anchor.length:
                    return VerifyResult(False, 0, None, None,
                                        f"the log is missing (deleted or renamed): its anchor "
                                        f"names record {anchor.seq}", hint=REPAIR_HINT)
                return VerifyResult(ok=True, records=0)
            try:
                return self._verify(fd, anchor)
            finally:
                os.close(fd)

    def _verify(self, fd: int, anchor: Head | None) -> VerifyResult:
        ledger = Ledger()
        at_anchor: str | None = None
        walk = Walk(fd)
        for number, record, end in walk:
            ledger.add(number, record)
            if anchor is not None and end == anchor.length:
                at_anchor = record.get("hash")
        head, count = walk.head, walk.records
        if walk.broken is not None:
            brk = walk.broken
            tail = (anchor is not None and brk.offset >= anchor.length) or \
                self._tail_only(fd, brk.offset)
            hint = (f"a damaged tail after record {head.seq}: `idp-tui audit repair --reason "
                    '"…"` moves it aside (kept) and records the repair'
                    if tail else f"records before line {brk.line} are intact; inspect {self.path}")
            return VerifyResult(False, count, brk.line, brk.record_id, brk.problem, hint=hint)
        note = ""
        if anchor is None:
            if head.seq:
                note = self._anchor_note(head, f"no anchor yet: created {self.anchor_path.name} "
                                               f"for record {head.seq} (from now on a deleted, "
                                               "emptied or truncated log is detected)")
        elif head.length < anchor.length:
            how = "emptied" if head.length == 0 else "truncated"
            return VerifyResult(False, count, None, None,
                                f"the log was {how}: it ends at record {head.seq} (byte "
                                f"{head.length}) but its anchor names record {anchor.seq} ending "
                                f"at byte {anchor.length}", hint=REPAIR_HINT)
        elif anchor.length and at_anchor != anchor.hash:
            return VerifyResult(False, count, None, None,
                                f"the log does not contain the anchored record {anchor.seq} at "
                                f"byte {anchor.length} (replaced or rewritten)", hint=REPAIR_HINT)
        elif head.length > anchor.length:
            note = self._anchor_note(head, f"the anchor was {head.seq - anchor.seq} record(s) "
                                           "behind (a process stopped between a record and its "
                                           "anchor): brought up to date")
        return VerifyResult(True, count, note=note, unfinished=ledger.unfinished,
                            repairs=ledger.repairs)

    def _anchor_note(self, head: Head, done: str) -> str:
        """Write the anchor for ``head`` from ``verify``: ``done``, or why it could not be."""
        try:
            self._write_anchor(head)
        except OSError as exc:
            return f"the anchor {self.anchor_path} could not be written: {_why(exc)}"
        return done

    def _tail_only(self, fd: int, offset: int) -> bool:
        """No intact record follows ``offset``: what is there is damage, not records."""
        size = os.fstat(fd).st_size
        at = offset
        while at < size:
            data = os.pread(fd, min(CHUNK, size - at), at)
            for raw in data.split(b"\n"):
                if raw.strip() and self_consistent(raw):
                    return False
            at += len(data)
            if len(data) < CHUNK:
                break
        return True

    # Action ids ----------------------------------------------------------------------------------

    def _check_id(self, fd: int, head: Head, record: dict[str, Any]) -> None:
        from .auditindex import check

        check(self.index_path, fd, head, record)

    # Repairing -----------------------------------------------------------------------------------

    def repair(self, reason: str, actor: str, *, now: datetime | None = None) -> RepairResult:
        """Move a damaged tail aside (kept next to the log), cut the log back to its last good
        record and record the repair in the chain: who, why, what was moved (byte range, hash).
        A log that is missing, emptied or truncated is recorded as such (its records are gone).
        Raises :class:`AuditBroken` when the chain breaks before its tail (edited records)."""
        now = now or datetime.now(UTC)
        with self._locked():
            anchor = self._read_anchor()
            fd = self._open_log(write=True, create=True)
            assert fd is not None
            try:
                return self._repair(fd, anchor, reason, actor, now)
            finally:
                os.close(fd)

    def _repair(self, fd: int, anchor: Head | None, reason: str, actor: str,
                now: datetime) -> RepairResult:
        size = os.fstat(fd).st_size
        walk = Walk(fd)
        at_anchor = False
        for _number, record, end in walk:
            if anchor is not None and end == anchor.length and record.get("hash") == anchor.hash:
                at_anchor = True
        good = walk.head
        problems = []
        if walk.broken is not None:
            brk = walk.broken
            if not self._tail_only(fd, brk.offset) and (anchor is None or
                                                        brk.offset < anchor.length):
                raise AuditBroken(
                    f"the audit log {self.path} breaks at line {brk.line} ({brk.problem}) and "
                    "intact records follow: records were edited, removed or reordered, which a "
                    "repair cannot undo",
                    hint=f"restore {self.path.name} from a backup, or move it aside and run "
                         "repair again to record that its records are gone")
            problems.append(f"line {brk.line}: {brk.problem}")
        if anchor is not None and anchor.length and not at_anchor:
            how = "missing or emptied" if size == 0 else "truncated or rewritten"
            problems.append(f"the log was {how}: its anchor named record {anchor.seq} ending at "
                            f"byte {anchor.length}")
        if not problems:
            if anchor is None or good.length > anchor.length:
                self._write_anchor(good)
            return RepairResult(None, "the audit log verifies: nothing to repair")
        moved_to: Path | None = None
        moved: tuple[int, int] | None = None
        data = b""
        if good.length < size:
            moved = (good.length, size)
            data = os.pread(fd, size - good.length, good.length)
            moved_to = self._aside(data, now)
        problem = "; ".join(problems)
        entry = {"action_id": f"repair-{uuid.uuid4()}", "time": now.isoformat(),
                 "phase": "repair", "actor": actor, "action": "audit-repair", "reason": reason,
                 "repair": {"problem": problem,
                            "moved_to": moved_to.name if moved_to else None,
                            "moved_bytes": list(moved) if moved else None,
                            "moved_sha256": hashlib.sha256(data).hexdigest() if moved else None,
                            "anchor_before": anchor.as_dict() if anchor else None,
                            "head_kept": good.as_dict()}}
        try:
            os.ftruncate(fd, good.length)
            os.fsync(fd)
            stored = self._write(fd, good, entry)
        except (OSError, AuditError) as exc:
            if data:  # put the damaged bytes back where they were (they are also aside)
                os.pwrite(fd, data, good.length)
                os.fsync(fd)
            raise AuditError(f"cannot record the repair in {self.path}: {exc}") from exc
        return RepairResult(stored, problem, moved_to, moved)

    def _aside(self, data: bytes, now: datetime) -> Path:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        for n in range(1000):
            name = f"{self.path.name}.damaged-{stamp}" + (f"-{n}" if n else "")
            target = self.path.with_name(name)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise AuditError(f"cannot keep the damaged bytes in {target}: {_why(exc)}; "
                                 "nothing was changed") from exc
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            except OSError as exc:
                os.close(fd)
                target.unlink(missing_ok=True)
                raise AuditError(f"cannot keep the damaged bytes in {target}: {_why(exc)}; "
                                 "nothing was changed") from exc
            os.close(fd)
            _fsync_dir(self.path.parent)
            return target
        raise AuditError(f"too many damaged-tail files next to {self.path}")


def _open_regular(path: Path, flags: int, what: str) -> int | None:
    """Open ``path`` without following a symbolic link; None when it does not exist (and is not
    created). Anything but a regular file is refused with a sentence."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AuditPathError(f"cannot open {what} {path}: it is a symbolic link, which is "
                                 "never followed (records could land outside the data dir)",
                                 hint="replace the link with the file itself") from None
        if exc.errno == errno.EISDIR:
            raise AuditPathError(f"cannot open {what} {path}: it is a folder, not a file",
                                 hint="move the folder away") from None
        raise AuditError(f"cannot open {what} {path}: {_why(exc)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise AuditPathError(f"cannot open {what} {path}: it is {kind}, not a file",
                             hint="move it away")
    os.set_blocking(fd, True)
    return fd


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


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
