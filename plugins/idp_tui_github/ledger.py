"""The action requests a github source has started, kept in its data folder (``actions.json``).

``ActionRequest.id`` is an idempotency key: the record is written *before* GitHub is asked to do
anything, so a repeated id (a retry after a lost answer, the same request from a second process,
a restart) never dispatches, re-runs or cancels twice. It follows the run the first request
started, or tells how that one ended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from idp_tui import ActionRequest

log = logging.getLogger("idp_tui.github")

#: Records kept (the oldest go first).
MAX_RECORDS = 500


def fingerprint(request: ActionRequest) -> str:
    """What the request asks for; a repeated id must ask the same."""
    body = {"kind": request.kind.value, "service": request.service,
            "environment": request.environment, "version": request.version,
            "run_id": request.run_id}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


class Ledger:
    """Request id → {"fingerprint", "kind", "repo", "run", "state", "message"}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._records = data if isinstance(data, dict) else {}
            except FileNotFoundError:
                self._records = {}
            except (OSError, ValueError) as exc:
                log.warning("%s unreadable (%s): starting a new one", self.path, exc)
                self._records = {}
        return self._records

    def get(self, request_id: str) -> dict[str, Any] | None:
        record = self._load().get(request_id)
        return dict(record) if record is not None else None

    def put(self, request_id: str, **fields: Any) -> None:
        """Create or update the record of ``request_id``, and write the file at once."""
        records = self._load()
        records[request_id] = {**records.get(request_id, {}), **fields}
        while len(records) > MAX_RECORDS:
            records.pop(next(iter(records)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(records, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)
