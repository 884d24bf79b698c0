"""The size limit of every input from a user or a file, in one table (the README lists it).

A value past its limit is refused with a sentence and exit code 2, before anything else happens:
nothing is read past a file's limit, and the refused value is never echoed (only its size).
Standard library only: the command line's argument checks use it before anything is imported.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACTION_ID", "AUDIT_LIMIT", "CONFIG_FILE", "GREP", "LIMITS", "Limit", "NAME", "PARAM_FILE",
    "PARAM_VALUE", "PIPELINES_LIMIT", "REASON", "REPLICAS", "SINCE_DAYS", "TAIL", "TooLarge",
    "NotAFile", "VERSION", "read_bounded", "read_stream", "shown",
]


@dataclass(frozen=True)
class Limit:
    """One limit: what it bounds (as the README's table says it), the bound and its unit."""

    what: str
    size: int
    unit: str


#: A service, environment or template name (``SERVICE``, ``--env``, ``--service``, ``TEMPLATE``).
NAME = Limit("a service, environment or template name", 253, "characters")
#: ``--version``.
VERSION = Limit("`--version`", 128, "characters")
#: ``--id`` (the idempotency key; the action request's own bound).
ACTION_ID = Limit("`--id`", 128, "characters")
#: ``--reason``: stored in the audit log and printed with the action.
REASON = Limit("`--reason`", 1_000, "characters")
#: A template parameter's value from ``--param``, ``$IDP_TUI_PARAM_<NAME>`` or the prompt.
PARAM_VALUE = Limit("a parameter's value (`--param`, `$IDP_TUI_PARAM_<NAME>`, the prompt)",
                    65_536, "characters")
#: A ``--param-file`` (a regular file, or ``-`` for stdin): read in chunks, never past this.
PARAM_FILE = Limit("a `--param-file` (a regular file, or `-` for stdin)", 65_536, "bytes")
#: ``--grep``'s regular expression.
GREP = Limit("`--grep`", 1_000, "characters")
#: The config file (a regular file).
CONFIG_FILE = Limit("the config file (a regular file)", 1_048_576, "bytes")
#: ``logs --tail``.
TAIL = Limit("`logs --tail`", 100_000, "lines")
#: ``logs --since``.
SINCE_DAYS = Limit("`logs --since`", 366, "days")
#: ``pipelines --limit``.
PIPELINES_LIMIT = Limit("`pipelines --limit`", 1_000, "runs")
#: ``audit --limit`` (0: all).
AUDIT_LIMIT = Limit("`audit --limit` (0: all)", 100_000, "records")
#: ``scale --replicas``.
REPLICAS = Limit("`scale --replicas`", 10_000, "replicas")

#: Every limit, in the README's order.
LIMITS: tuple[Limit, ...] = (NAME, VERSION, ACTION_ID, REASON, PARAM_VALUE, PARAM_FILE, GREP,
                             CONFIG_FILE, TAIL, SINCE_DAYS, PIPELINES_LIMIT, AUDIT_LIMIT, REPLICAS)

#: Bytes read at a time from a bounded file.
CHUNK = 16_384


def shown(text: str, width: int = 40) -> str:
    """``text`` quoted for an error message, cut to ``width`` characters (a refused value may be
    huge: it is never echoed whole)."""
    if len(text) <= width:
        return repr(text)
    return repr(text[:width]) + f"… ({len(text):,} characters)"


class TooLarge(ValueError):
    """A file longer than its limit (nothing was read past the limit)."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(f"larger than {limit.size:,} {limit.unit}, the limit for {limit.what}")
        self.limit = limit


class NotAFile(ValueError):
    """A path that is not a regular file (a folder, a FIFO, a device such as /dev/zero)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.kind = kind


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (a named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bounded(path: Path, limit: Limit) -> bytes:
    """The bytes of the regular file ``path``, read in chunks and never past ``limit``.

    Raises :class:`NotAFile` for a folder, FIFO, device or socket (without reading it, and without
    waiting for a FIFO's writer), :class:`TooLarge` once the limit is passed (a file that grows
    while read included), and ``OSError`` when it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(_kind(info.st_mode))
        if info.st_size > limit.size:
            raise TooLarge(limit)
        return read_stream(fd, limit)
    finally:
        os.close(fd)


def read_stream(fd: int, limit: Limit) -> bytes:
    """What file descriptor ``fd`` holds until its end, read in chunks; :class:`TooLarge` as soon
    as more than ``limit`` bytes came (nothing more is read)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(CHUNK, limit.size + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit.size:
            raise TooLarge(limit)
        chunks.append(chunk)
