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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .api.identity import Identity

if TYPE_CHECKING:
    from pathlib import Path

    from .api.clock import Clock
    from .config import AppConfig
    from .hub import Failure, Hub, PollTimer

log = logging.getLogger("idp_tui.identity")

#: Seconds an action waits, at most, for the sources to say who the user is.
CONFIRM_WAIT = 3.0
#: Why a source that acts confirms nobody when it does not offer the question at all.
CANNOT_SAY = "the source cannot say who the user is"


@dataclass(frozen=True)
class Claimed:
    """Who the user says they are: the records' ``actor``, and where that name comes from."""

    user: str
    #: "config" (``[policy] identity``) or "os" (the operating-system user).
    origin: str

    @property
    def where(self) -> str:
        return "[policy] identity in the config" if self.origin == "config" \
            else "the operating-system user"


def claimed(actor: str, configured: str | None) -> Claimed:
    """The claimed identity ``actor``, from the config when it is ``[policy] identity``."""
    return Claimed(actor, "config" if configured and configured == actor else "os")


@dataclass(frozen=True)
class Confirmation:
    """What one source that acts says of the user: a name it confirms, or why not."""

    source: str
    #: The user the source's server names (None: not confirmed).
    user: str | None
    #: Where it was confirmed, or why not (the source's words, or its failure's message).
    note: str
    #: The source failed to answer (unreachable, refused credentials, timed out): not a source
    #: that cannot say, one that could not be asked. Its error class then.
    error_class: str | None = None
    hint: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_class is not None

    def line(self) -> str:
        """"github: octocat (the token's login at …)", "k8s: not confirmed (why)"."""
        if self.user:
            return f"{self.source}: {self.user}" + (f" ({self.note})" if self.note else "")
        why = f"{self.error_class}: {self.note}" if self.failed else self.note
        return f"{self.source}: not confirmed ({why})"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "confirmed": bool(self.user), "user": self.user,
                "note": self.note, "error": None if not self.failed else {
                    "error_class": self.error_class, "message": self.note, "hint": self.hint}}


class IdentityCheck:
    """The sources' answers to "who is the user?", asked once and kept for the run."""

    def __init__(self, hub: Hub, timer: PollTimer | None = None, *,
                 wait: float = CONFIRM_WAIT) -> None:
        self.hub = hub
        self.timer = timer or getattr(hub, "timer", None)
        self.wait = wait
        #: Each answering source's identity (confirmed or not), once asked.
        self.answers: dict[str, Identity] = {}
        #: Why a source could not be asked (error class, message, hint), by source; ``hub``:
        #: the question itself failed.
        self.errors: dict[str, Failure] = {}
        self._done: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def asked(self) -> bool:
        """The answers are in (or the question failed)."""
        return self._done is not None and self._done.is_set()

    @property
    def failures(self) -> dict[str, str]:
        """Why a source could not be asked, in words, by source (from ``errors``)."""
        return {name: failure.message for name, failure in self.errors.items()}

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

    async def settled(self) -> list[Confirmation]:
        """Every answer, waited for as long as the sources take (each call within its source's
        timeout): for ``idp-tui whoami`` and the health view, not for an action."""
        self.start()
        assert self._done is not None
        await self._done.wait()
        return self.confirmations()

    async def _ask(self) -> None:
        from .hub import Failure, Topic

        try:
            snapshot = await self.hub.fetch(Topic.identity())
            self.answers = dict(snapshot.data or {})
            self.errors = {name: failure for name, failure in snapshot.errors.items()
                           if name != "hub"}
            for line in self.describe():  # (the log says why a source confirms nobody)
                log.info("who the user is: %s", line)
        except Exception as exc:  # noqa: BLE001 - never stops an action: said, not raised
            log.warning("asking the sources who the user is failed: %s", exc)
            self.errors = {"hub": Failure("hub", "error", str(exc))}
        finally:
            assert self._done is not None
            self._done.set()

    def acting(self) -> list[str]:
        """The sources asked: those that act (config order)."""
        from .api.kinds import Capability

        try:
            return [runner.name for runner in self.hub.runners_for(Capability.ACTIONS)]
        except Exception:  # noqa: BLE001 - a hub without its runners (a test's stand-in)
            return sorted({*self.answers, *self.errors} - {"hub"})

    def confirmations(self) -> list[Confirmation]:
        """Once asked, one entry a source that acts: who it confirms, why not, or its failure
        (a source that does not offer the question: :data:`CANNOT_SAY`); the sources in config
        order, then a failure of the question itself (``hub``)."""
        out = []
        for name in [*self.acting(), *(n for n in self.errors if n == "hub")]:
            answer, failure = self.answers.get(name), self.errors.get(name)
            if answer is not None:
                out.append(Confirmation(name, answer.user or None,
                                        answer.note or ("" if answer.user
                                                        else "the server cannot say")))
            elif failure is not None:
                out.append(Confirmation(name, None, failure.message,
                                        error_class=failure.error_class, hint=failure.hint))
            elif self.asked:
                out.append(Confirmation(name, None, CANNOT_SAY))
        return out

    def describe(self) -> list[str]:
        """One line a source: who it confirms, or why not ("github: octocat", "kubernetes: not
        confirmed (the cluster cannot say: …)")."""
        return [confirmation.line() for confirmation in self.confirmations()]


async def confirm(config: AppConfig, *, data_dir: Path, clock: Clock | None = None,
                  timer: PollTimer | None = None, wait: float = CONFIRM_WAIT) -> dict[str, str]:
    """Who the sources that act confirm the user is, for a command that needs nothing else of
    the platform (``idp-tui approve``/``deny``): a hub over those sources alone (no other source,
    no audit trail, no usage session), asked as an action asks (:meth:`IdentityCheck.confirmed`,
    ``wait`` seconds at most), then closed."""
    from .api.kinds import Capability
    from .runtime import build_hub

    hub = build_hub(config, data_dir=data_dir, clock=clock, timer=timer,
                    only=Capability.ACTIONS)
    try:
        return dict(await IdentityCheck(hub, timer, wait=wait).confirmed())
    finally:
        await hub.close()


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


__all__ = ["CANNOT_SAY", "CONFIRM_WAIT", "Claimed", "Confirmation", "IdentityCheck", "actor_text",
           "claimed", "confirm", "confirmed_text"]
