"""Hearing the audit trail change while someone waits on a request for approval: one owner of a
session's listener, for the dashboard (the Approvals screen, the top line's count, a requester's
waiting dialog: ``ui/approvals.py``) and the command line (``idp-tui deploy … --wait``:
``cli/approvals_cmd.py``).

Where the audit trail can tell its appends as they are committed (the PostgreSQL store's
``listener``: :mod:`idp_tui.store.listen`), :meth:`ApprovalWatch.start` listens; the data dir's log
cannot, and its users poll. Each record heard is told to the action manager
(``ActionManager.audit_changed``: the requests it waits on are read again) and then to the owner's
``on_change``; listening starting (records may have been missed) or stopping (the polls take over)
sets ``ActionManager.heard`` and reads every waiting request again before the owner's
``on_state``. While it listens (:attr:`ApprovalWatch.live`) the polls are a safety net only
(:meth:`ApprovalWatch.poll`). :meth:`ApprovalWatch.close` ends it.

Textual-free and free of the store: the trail's ``listener`` is all it uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["ApprovalWatch"]

log = logging.getLogger(__name__)


class ApprovalWatch:
    """The listener of one session over ``manager``'s audit trail (see the module docstring).

    ``on_change(change)`` is called for each record heard (a ``store.listen.Change``),
    ``on_state(listening)`` when listening starts or stops; both after the action manager was
    told, on the event loop the watch was started on. ``timer`` is what the listener's backoff
    waits on (default: the action manager's).
    """

    def __init__(self, manager: Any, *, on_change: Callable[[Any], None] | None = None,
                 on_state: Callable[[bool], None] | None = None, timer: Any = None) -> None:
        self.manager = manager
        self.on_change = on_change
        self.on_state = on_state
        self.timer = timer if timer is not None else getattr(manager, "timer", None)
        #: The trail's listener (None: the trail cannot tell its changes, or not started).
        self.listener: Any = None

    def start(self) -> ApprovalWatch:
        """Listen, where the trail can tell (once; needs a running event loop). A listener that
        cannot start is logged: the polls do its work."""
        make = getattr(getattr(self.manager, "audit", None), "listener", None)
        if make is None or self.listener is not None:
            return self
        try:
            self.listener = make(self._heard, on_state=self._state, timer=self.timer).start()
        except Exception:  # noqa: BLE001 - not heard: the polls do it
            log.warning("cannot listen to the store's changes; polling", exc_info=True)
        return self

    @property
    def live(self) -> bool | None:
        """The trail's changes are heard now (None: this trail cannot tell them)."""
        return None if self.listener is None else bool(self.listener.listening)

    def poll(self, short: float, heard: float) -> float:
        """Seconds until the next look at the trail: ``heard`` (a safety net) while its changes
        are heard, else ``short``."""
        return heard if self.live else short

    async def close(self) -> None:
        """Stop listening (idempotent)."""
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.close()

    def _heard(self, change: Any) -> None:
        self.manager.audit_changed(change.action_id)
        if self.on_change is not None:
            self.on_change(change)

    def _state(self, listening: bool) -> None:
        self.manager.heard = listening
        self.manager.audit_changed(None)
        if self.on_state is not None:
            self.on_state(listening)
