"""What this machine last saw of the organisation's audit chain: the PostgreSQL store's anchor.

The data dir's log keeps its head in ``audit.anchor`` so that a log deleted, emptied or replaced
is noticed. The store keeps its head in a row of its own, which whoever can change its tables can
reset with them: a chain emptied (``TRUNCATE``) and its head row set back would take the next
record as its first, silently. So each machine keeps, in its data dir, the last record of each
store it wrote or verified (``audit.store-anchor``: the store as its DSN is shown → that record's
sequence number and hash). Before each append, and in ``audit verify``, the chain must still hold
that record with that hash (:func:`problem`): a store reset, emptied or rewritten under it refuses
actions with a sentence. ``idp-tui audit repair --reason`` records in the store's chain that this
machine takes the chain as it is now (who, why, the anchor before, the head kept), and moves the
anchor.

The file is replaced atomically (a temporary file, fsynced, renamed), under a lock, and moves
only forward (two processes of one machine never move it back) but for a repair.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ..audit import AuditError
from ..auditchain import Head

ANCHOR_FILE = "audit.store-anchor"

REPAIR = ('`idp-tui audit verify` shows the chain; `idp-tui audit repair --reason "…"` records '
          "that this machine takes it as it is now")


class StoreAnchor:
    """The anchors of the stores this data dir used, one per store (its DSN as shown)."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where

    def get(self) -> Head | None:
        """The record this machine last wrote or verified in the store (None: none yet)."""
        found = self._read().get(self.where)
        if not isinstance(found, dict):
            return None
        try:
            return Head(int(found["seq"]), str(found["hash"]), 0)
        except (KeyError, TypeError, ValueError):
            return None

    def advance(self, seq: int, digest: str) -> None:
        """Anchor record ``seq`` (only if it is past the anchored one)."""
        self._write(seq, digest, forward=True)

    def reset(self, seq: int, digest: str) -> None:
        """Anchor record ``seq`` even if it is before the anchored one (a repair)."""
        self._write(seq, digest, forward=False)

    def _write(self, seq: int, digest: str, *, forward: bool) -> None:
        with FileLock(self.path.with_name(self.path.name + ".lock")):
            stores = self._read()
            known = stores.get(self.where)
            if forward and isinstance(known, dict) and int(known.get("seq") or 0) >= seq:
                return
            stores[self.where] = {"seq": seq, "hash": digest}
            tmp = self.path.with_name(self.path.name + ".tmp")
            data = json.dumps({"stores": stores}, indent=1, sort_keys=True).encode()
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            except OSError as exc:
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
                raise AuditError(f"cannot write the store's anchor {self.path}: "
                                 f"{(exc.strerror or str(exc)).lower()}") from None

    def _read(self) -> dict[str, Any]:
        try:
            value = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: as if none (the store's own checks still run)
        stores = value.get("stores") if isinstance(value, dict) else None
        return dict(stores) if isinstance(stores, dict) else {}


class FileLock:
    """An exclusive lock on ``path`` (made if missing, never through a symbolic link) for the
    length of a ``with`` block: one process of this machine at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot lock {self.path}: "
                             f"{(exc.strerror or str(exc)).lower()}") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def problem(where: str, anchored: Head, head_seq: int, found_hash: str | None) -> str | None:
    """What is wrong with a chain whose head is record ``head_seq`` and whose record
    ``anchored.seq`` has ``found_hash`` (None: not there), for this machine's anchor; or None."""
    if head_seq < anchored.seq:
        return (f"the store {where} ends at record {head_seq}, but this machine wrote or checked "
                f"its record {anchored.seq}: records were deleted or the store was reset")
    if found_hash is None:
        return (f"record {anchored.seq} of the store {where}, which this machine wrote or "
                "checked, is gone: records were deleted")
    if found_hash != anchored.hash:
        return (f"record {anchored.seq} of the store {where} is not the one this machine wrote "
                "or checked (another hash): the chain was rewritten")
    return None


__all__ = ["ANCHOR_FILE", "REPAIR", "FileLock", "StoreAnchor", "problem"]
