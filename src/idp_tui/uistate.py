"""What the dashboard remembers for the next run: the selected service and environment, and the
`:` prompt's history (``ui-state.json`` in the data dir).

The file is one person's: written whole (a temporary file, then renamed over it, so a reader never
sees half of it), and read leniently: a missing, unreadable or damaged file, or a damaged field,
is left out (the dashboard starts as on a first run), never an error. Standard library only: the
file is read before the first frame.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import write_atomically

log = logging.getLogger(__name__)

FILE = "ui-state.json"
FORMAT = 1
#: Commands kept in the history (the newest).
HISTORY_MAX = 100
#: Longest name or command kept (a longer one is not a name the dashboard showed).
TEXT_MAX = 1000


@dataclass
class UiState:
    service: str | None = None
    environment: str | None = None
    #: The `:` commands run, oldest first.
    history: list[str] = field(default_factory=list)


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= TEXT_MAX:
        return value
    return None


def load(folder: Path) -> UiState:
    """The state kept in ``folder`` (an empty one when there is none or it is damaged)."""
    path = folder / FILE
    try:
        raw = path.read_bytes()
    except OSError:
        return UiState()
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return UiState()
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        log.warning("ignoring %s: not a format-%d state file", path, FORMAT)
        return UiState()
    history = doc.get("history")
    entries: list[str] = []
    if isinstance(history, list):
        entries = [e for e in history[-HISTORY_MAX:] if _name(e) is not None and "\n" not in e]
    return UiState(service=_name(doc.get("service")), environment=_name(doc.get("environment")),
                   history=entries)


def save(folder: Path, state: UiState) -> bool:
    """Write ``state`` to ``folder`` atomically. False (and a warning in the log) if it could not."""
    doc = {"format": FORMAT, "service": state.service, "environment": state.environment,
           "history": state.history[-HISTORY_MAX:]}
    try:
        data = json.dumps(doc, indent=1).encode("ascii")  # (\u escapes: any name is safe)
    except ValueError as exc:
        log.warning("could not save %s: %s", folder / FILE, exc)
        return False
    return write_atomically(folder / FILE, data)
