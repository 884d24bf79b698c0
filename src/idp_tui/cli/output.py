"""What the commands print: text tables or JSON, errors, exit codes, colours and secret scrubbing.

Conventions (also in ``idp-tui --help``):

* stdout carries the result only. With ``--json`` every value is one JSON object on one line: one
  object for a listing, one per line for a stream (logs, audit records, action events then the
  action's result).
* stderr carries errors and warnings. With ``--json`` an error is one line
  ``{"error": {"code": N, "type": "...", "message": "...", "hint": ...}}``; whenever the exit code
  is not 0 there is exactly one such error object (or, without ``--json``, an ``idp-tui: …`` line).
* Every string that came from a source goes through :func:`idp_tui.safetext.sanitize` before it is
  written as text, and JSON is written with ``ensure_ascii``: no control character or escape
  sequence from a source reaches the terminal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from ..safetext import ago, duration, sanitize  # noqa: F401 - used by the commands

# Exit codes --------------------------------------------------------------------------------------

EXIT_OK = 0
#: The action failed (or was cancelled), ``audit verify`` found a broken record, or an unexpected
#: error happened (details in the log file).
EXIT_FAILED = 1
#: A usage or config error: a wrong option, an invalid parameter, a broken config file.
EXIT_USAGE = 2
EXIT_CONFIG = EXIT_USAGE
#: Refused by policy: a protected environment without --yes and --reason, a freeze window,
#: read-only.
EXIT_DENIED = 3
#: A source failed, timed out, could not be reached, or no configured source can do it; or it
#: answered only in part (what arrived is printed).
EXIT_SOURCE = 4
#: The service, environment, version, template or action does not exist (and nothing answered).
EXIT_NOT_FOUND = 5
#: The action needs approval by someone else first: a request was recorded (its id is printed),
#: or it is still waiting for its approvals.
EXIT_APPROVAL = 7
#: Interrupted (Ctrl-C or SIGTERM).
EXIT_INTERRUPTED = 130

ERROR_TYPES = {
    EXIT_FAILED: "failed",
    EXIT_USAGE: "usage",
    EXIT_DENIED: "denied",
    EXIT_SOURCE: "source",
    EXIT_NOT_FOUND: "not found",
    EXIT_APPROVAL: "approval",
    EXIT_INTERRUPTED: "interrupted",
}

EXIT_CODES_HELP = """\
exit codes:
  0    ok
  1    the action failed, was refused by the source or was cancelled; `audit verify` found a
       broken record; an unexpected error (details in idp-tui.log in the data dir)
  2    usage or config error (a wrong option, an invalid parameter, a broken config file)
  3    denied by policy: a protected environment without --yes and --reason, a freeze window,
       read-only (--read-only, [policy] read_only, or a read-only source)
  4    a source failed, timed out, could not be reached or was rate-limited, or answered only
       in part, or no configured source can do it (what arrived is still printed)
  5    not found: no such service, environment, version, template or action (and nothing
       else answered)
  6    below the level --fail-under asks for (`scorecards`, `dora`); a recommendation as
       severe as --fail-on asks for or more (`advise`)
  7    waiting for approval: the action needs another person's approval first
       ([[policy.approval]]); a request was recorded and its id printed
  130  interrupted (Ctrl-C or SIGTERM)"""

JSON_HELP = """\
output:
  stdout carries results only; errors and warnings go to stderr. With --json, every value is one
  JSON object on one line: one object for a listing ({"services": [...], "errors": [...]}), one
  object per line for streams (logs, audit records, and action progress: {"type": "event", ...}
  lines, then one {"type": "result", ...} line). When the exit code is not 0, stderr has one line
  {"error": {"code": N, "type": "usage|denied|source|not found|failed|interrupted",
  "message": "...", "hint": "..."}} (plain `idp-tui: ...` text without --json)."""


class CliError(Exception):
    """Stops a command with an exit code and a message for the user."""

    def __init__(self, code: int, message: str, *, hint: str | None = None,
                 type: str | None = None, more: Sequence[str] = (),  # noqa: A002 - the JSON key
                 **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: Further problems of the same kind (every wrong key of a config file), a line each.
        self.more = tuple(more)
        self.hint = hint
        self.type = type or ERROR_TYPES.get(code, "error")
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "type": self.type, "message": self.message}
        if self.more:
            body["more"] = list(self.more)
        if self.hint:
            body["hint"] = self.hint
        body.update({k: v for k, v in self.extra.items() if v is not None})
        return {"error": body}


def code_for_error_class(error_class: str, *, action: bool = False) -> int:
    """The exit code for a source failure's error class (see ``idp_tui.hub.classify``).

    For an action, a plain ``SourceError`` (class "error") is the source refusing the request
    ("payments-api already has a database"): the action failed (1), the source did not.
    """
    if error_class == "not found":
        return EXIT_NOT_FOUND
    if action and error_class == "error":
        return EXIT_FAILED
    return EXIT_SOURCE


# Secrets -----------------------------------------------------------------------------------------

#: Secret values given to this process (provisioning parameters): never printed, never logged.
SECRETS: set[str] = set()
#: Shorter secrets are not scrubbed from text (every "a" in the output would go), only never
#: printed by us; a source echoing a 3-character password is beyond saving anyway.
SCRUB_MIN = 4
REDACTED = "***"


def add_secret(value: str) -> None:
    if value:
        SECRETS.add(value)


def scrub(text: str) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for secret in SECRETS:
        if len(secret) >= SCRUB_MIN and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any) -> Any:
    """A JSON-able value with every string in it scrubbed (keys included)."""
    if not SECRETS:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


class SecretFilter(logging.Filter):
    """Keeps secret values out of the log file (messages, arguments and tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not SECRETS:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is still logged as is
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


# Colours -----------------------------------------------------------------------------------------

_SGR = {
    "bold": "1", "dim": "2", "reverse": "7", "red": "31", "green": "32", "yellow": "33",
    "blue": "34", "magenta": "35", "cyan": "36", "bright_red": "91", "bright_green": "92",
    "bright_yellow": "93", "bright_blue": "94", "bright_magenta": "95", "bright_cyan": "96",
}
#: Colours given to log instances in turn (as in the Logs pane).
INSTANCE_COLOURS = ("cyan", "magenta", "bright_blue", "yellow", "bright_green", "bright_magenta",
                    "bright_cyan", "blue", "green", "bright_yellow")


def colour_wanted(stream: TextIO, choice: str = "auto") -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def paint(text: str, style: str, enabled: bool) -> str:
    """``text`` (already sanitised) wrapped in our own SGR codes when ``enabled``."""
    if not enabled or not style:
        return text
    codes = ";".join(_SGR[s] for s in style.split() if s in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


# Formatting --------------------------------------------------------------------------------------

def cell(value: object, max_len: int = 120) -> str:
    if value is None:
        return "–"
    return sanitize(value, max_len=max_len)




def timestamp(when: datetime | None, *, millis: bool = False) -> str:
    if when is None:
        return "–"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%d %H:%M:%SZ")


def _num(value: float) -> str:
    if value == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    text = f"{value:.{min(digits, 6)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def metric_value(value: float | None, unit: str) -> str:
    """A metric value with its unit in about three significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    u = unit.strip().lower()
    a = abs(value)
    sign = "-" if value < 0 else ""
    if u == "ratio":
        return f"{sign}{_num(a * 100)}%"
    if u in ("s", "seconds"):
        if a < 1e-3:
            return f"{sign}{_num(a * 1e6)} µs"
        if a < 1:
            return f"{sign}{_num(a * 1e3)} ms"
        return f"{sign}{_num(a)} s"
    if u in ("bytes", "byte", "b"):
        for suffix, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if a >= size:
                return f"{sign}{_num(a / size)} {suffix}"
        return f"{sign}{_num(a)} B"
    if u in ("req/s", "rps", "/s") and a >= 1000:
        return f"{sign}{_num(a / 1000)}k req/s"
    shown = sanitize(unit, max_len=16).strip()
    return f"{sign}{_num(a)} {shown}".strip()


# The writer --------------------------------------------------------------------------------------

@dataclass
class Output:
    """Where a command writes: stdout for results, stderr for the rest."""

    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    colour: str = "auto"

    @property
    def colour_out(self) -> bool:
        return not self.json and colour_wanted(self.stdout, self.colour)

    @property
    def colour_err(self) -> bool:
        return colour_wanted(self.stderr, self.colour)

    # Results on stdout
    def emit(self, value: Any) -> None:
        """One JSON value on one line of stdout."""
        self.stdout.write(dumps(value) + "\n")
        self.stdout.flush()

    def line(self, text: str = "") -> None:
        """One line of text on stdout; ``text`` is ours or already sanitised."""
        self.stdout.write(scrub(text) + "\n")

    def flush(self) -> None:
        self.stdout.flush()

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Aligned columns; every cell is sanitised here. A :class:`Styled` cell is coloured."""
        cells: list[list[tuple[str, str]]] = []
        for row in rows:
            out = []
            for value in row:
                if isinstance(value, Styled):
                    out.append((cell(value.value, value.max_len), value.style))
                else:
                    out.append((cell(value), ""))
            cells.append(out)
        widths = [len(h) for h in headers]
        for row in cells:
            for i, (text, _style) in enumerate(row):
                widths[i] = max(widths[i], len(text))
        colour = self.colour_out
        last = len(headers) - 1
        self.line("  ".join(paint(h if i == last else h.ljust(widths[i]), "bold", colour)
                            for i, h in enumerate(headers)).rstrip())
        for row in cells:
            parts = []
            for i, (text, style) in enumerate(row):
                padded = text if i == last else text.ljust(widths[i])
                if style and colour:
                    # Colour the text, not the padding after it.
                    padded = paint(text, style, True) + padded[len(text):]
                parts.append(padded)
            self.line("  ".join(parts).rstrip())
        self.flush()

    # Errors and warnings on stderr
    def warn(self, message: str, *, source: str | None = None, hint: str | None = None) -> None:
        if self.json:
            body = {"message": message, "source": source, "hint": hint}
            self.stderr.write(dumps({"warning": {k: v for k, v in body.items() if v}}) + "\n")
        else:
            prefix = paint("warning:", "yellow", self.colour_err)
            self.stderr.write(scrub(f"idp-tui: {prefix} {sanitize(message, max_len=2000)}") + "\n")
            if hint:
                self.stderr.write(scrub(f"  hint: {sanitize(hint, max_len=2000)}") + "\n")
        self.stderr.flush()

    def error(self, error: CliError) -> None:
        if self.json:
            self.stderr.write(dumps(error.as_dict()) + "\n")
        else:
            label = paint(f"{error.type}:", "red bold", self.colour_err)
            for message in (error.message, *error.more):
                self.stderr.write(scrub(f"idp-tui: {label} {sanitize(message, max_len=4000)}")
                                  + "\n")
            if error.hint:
                self.stderr.write(scrub(f"  hint: {sanitize(error.hint, max_len=2000)}") + "\n")
        self.stderr.flush()


@dataclass(frozen=True)
class Styled:
    """A table cell with a colour (used only on a terminal)."""

    value: object
    style: str
    max_len: int = 120


def dumps(value: Any) -> str:
    """Compact JSON, ASCII only (so no raw control or bidi character can reach a terminal)."""
    return json.dumps(scrub_value(value), ensure_ascii=True, separators=(",", ":"), default=str)
