"""Dismissed and snoozed recommendations, remembered across runs (``advisor.json``, data dir).

The file is bounded (the newest :data:`MAX_ENTRIES` entries are kept, expired snoozes dropped)
and written atomically; a missing, unreadable or malformed file means nothing is dismissed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

from ..paths import write_atomically

__all__ = ["FILE_NAME", "MAX_ENTRIES", "Dismissals"]

FILE_NAME = "advisor.json"
#: At most this many dismissed or snoozed ids are kept (the oldest go first).
MAX_ENTRIES = 2000
#: A larger file is not read.
MAX_BYTES = 1 << 20

log = logging.getLogger("idp_tui")


class Dismissals:
    """``id`` → until when it is hidden (None: dismissed for good)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._until: dict[str, datetime | None] = {}
        self._at: dict[str, datetime] = {}
        self._load()

    @classmethod
    def in_folder(cls, folder: Path) -> Dismissals:
        return cls(folder / FILE_NAME)

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            if self.path.stat().st_size > MAX_BYTES:
                log.warning("%s is larger than %d bytes: not read", self.path, MAX_BYTES)
                return
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("could not read %s: %s", self.path, exc)
            return
        entries = data.get("hidden") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            try:
                rec_id, at = str(entry["id"]), datetime.fromisoformat(entry["at"])
                until = datetime.fromisoformat(entry["until"]) if entry.get("until") else None
            except (KeyError, TypeError, ValueError):
                continue
            if at.tzinfo is None or (until is not None and until.tzinfo is None):
                continue
            self._until[rec_id], self._at[rec_id] = until, at

    def hidden(self, rec_id: str, now: datetime) -> bool:
        """Dismissed, or snoozed until after ``now``."""
        if rec_id not in self._until:
            return False
        until = self._until[rec_id]
        return until is None or until > now

    def dismiss(self, rec_id: str, now: datetime) -> bool:
        """Hide it for good; False if it could not be saved."""
        return self._set(rec_id, None, now)

    def snooze(self, rec_id: str, now: datetime, for_: timedelta) -> bool:
        """Hide it until ``now + for_``; False if it could not be saved."""
        return self._set(rec_id, now + for_, now)

    def restore(self, rec_id: str, now: datetime) -> bool:
        """Show it again."""
        self._until.pop(rec_id, None)
        self._at.pop(rec_id, None)
        return self._save(now)

    def entries(self) -> dict[str, datetime | None]:
        return dict(self._until)

    def _set(self, rec_id: str, until: datetime | None, now: datetime) -> bool:
        self._until.pop(rec_id, None)  # re-inserted: the newest last
        self._until[rec_id], self._at[rec_id] = until, now
        return self._save(now)

    def _save(self, now: datetime) -> bool:
        for rec_id in [r for r, u in self._until.items() if u is not None and u <= now]:
            del self._until[rec_id]
            self._at.pop(rec_id, None)
        extra = len(self._until) - MAX_ENTRIES
        if extra > 0:
            for oldest in sorted(self._at, key=self._at.__getitem__)[:extra]:
                del self._until[oldest], self._at[oldest]
        if self.path is None:
            return True
        data = {"version": 1, "hidden": [
            {"id": r, "at": self._at[r].isoformat(), "until": u.isoformat() if u else None}
            for r, u in self._until.items()]}
        return write_atomically(self.path, json.dumps(data, indent=1).encode())
