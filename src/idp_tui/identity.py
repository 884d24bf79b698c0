"""Who the user is, confirmed: the sources that act are asked once a run (``Source.whoami``, the
hub's identity topic), and the audit records carry the names they confirm beside the claimed one.

The claimed identity (``[policy] identity``, else the operating-system user) stays the record's
``actor``; ``confirmed`` maps each source that confirmed a user to that user's name
(``{"github": "octocat"}``). The question is asked once, the first time an action needs it (or
earlier, :meth:`IdentityCheck.start`), and an action waits for the answer at most
:data:`CONFIRM_WAIT` seconds on the runtime's timer: a slow or silent source never holds an action
up, and its answer, once in, is in the records written after it.

Textual-free.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .api.identity import Identity

if TYPE_CHECKING:
    from .hub import Hub, PollTimer

log = logging.getLogger("idp_tui.identity")

#: Seconds an action waits, at most, for the sources to say who the user is.
CONFIRM_WAIT = 3.0


class IdentityCheck:
    """The sources' answers to "who is the user?", asked once and kept for the run."""

    def __init__(self, hub: Hub, timer: PollTimer | None = None, *,
                 wait: float = CONFIRM_WAIT) -> None:
        self.hub = hub
        self.timer = timer or getattr(hub, "timer", None)
        self.wait = wait
        #: Each answering source's identity (confirmed or not), once asked.
        self.answers: dict[str, Identity] = {}
        #: Why a source could not be asked (its failure in words), by source.
        self.failures: dict[str, str] = {}
        self._done: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def asked(self) -> bool:
        """The answers are in (or the question failed)."""
        return self._done is not None and self._done.is_set()

    @property
    def users(self) -> dict[str, str]:
        """The confirmed users, by source (empty until answered, or when none confirms)."""
        return {name: str(answer.user) for name, answer in sorted(self.answers.items())
                if answer.user}

    def start(self) -> None:
        """Ask now, in the background (once a run); needs a running event loop."""
        if self._task is not None:
            return
        self._done = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._ask())

    async def confirmed(self) -> dict[str, str]:
        """The confirmed users, waiting for the first answer at most ``wait`` seconds."""
        self.start()
        assert self._done is not None
        if not self._done.is_set():
            if self.timer is not None:
                await self.timer.wait(self._done, self.wait)
            else:
                try:
                    await asyncio.wait_for(self._done.wait(), self.wait)
                except TimeoutError:
                    pass
        return self.users

    async def _ask(self) -> None:
        from .hub import Topic

        try:
            snapshot = await self.hub.fetch(Topic.identity())
            self.answers = dict(snapshot.data or {})
            self.failures = {name: failure.message for name, failure in snapshot.errors.items()
                             if name != "hub"}
            for line in self.describe():  # (the log says why a source confirms nobody)
                log.info("who the user is: %s", line)
        except Exception as exc:  # noqa: BLE001 - never stops an action: said, not raised
            log.warning("asking the sources who the user is failed: %s", exc)
            self.failures = {"hub": str(exc)}
        finally:
            assert self._done is not None
            self._done.set()

    def describe(self) -> list[str]:
        """One line a source: who it confirms, or why not ("github: octocat", "kubernetes: not
        confirmed (the cluster cannot say: …)")."""
        lines = []
        for name, answer in sorted(self.answers.items()):
            if answer.user:
                lines.append(f"{name}: {answer.user}" + (f" ({answer.note})" if answer.note
                                                         else ""))
            else:
                lines.append(f"{name}: not confirmed ({answer.note or 'the server cannot say'})")
        for name, why in sorted(self.failures.items()):
            lines.append(f"{name}: not confirmed ({why})")
        return lines


def confirmed_text(record: dict[str, Any]) -> str:
    """A record's confirmed identities in a few words ("github: octocat"), or ""."""
    confirmed = record.get("confirmed")
    if not isinstance(confirmed, dict) or not confirmed:
        return ""
    return ", ".join(f"{source}: {user}" for source, user in sorted(confirmed.items()))


def actor_text(record: dict[str, Any]) -> str:
    """Who acted: the claimed actor, with what the sources confirmed ("alice (github:
    octocat)")."""
    actor = str(record.get("actor") or "")
    confirmed = confirmed_text(record)
    return f"{actor} ({confirmed})" if confirmed else actor


__all__ = ["CONFIRM_WAIT", "IdentityCheck", "actor_text", "confirmed_text"]
