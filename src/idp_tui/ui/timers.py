"""The dashboard's one-shot timers (the hidden panes' mount a second after start-up, the catalog
filter's pause in typing): Textual's timer of the widget that starts one, or, when the app was
given a ``PollTimer`` (``idp_tui.hub.timing``; a test's ``ManualTimer``), a wait on that timer,
so that a test fires them by moving its time on instead of sleeping.

Like Textual's timer, a wait on a ``PollTimer`` belongs to the widget that started it: it ends
with the widget (or the app), and the callback runs in the widget's own message loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..hub.timing import PollTimer


class TimerHandle(Protocol):
    """What starting a timer gives (Textual's ``Timer`` is one)."""

    def stop(self) -> None:
        """The callback will not run (if it has not yet)."""
        ...

    def reset(self) -> None:
        """The time starts again from now."""
        ...


class PollTimerCall:
    """``callback`` run by ``owner`` once ``timer`` has slept ``seconds``, unless stopped first."""

    def __init__(self, timer: PollTimer, owner: Any, seconds: float,
                 callback: Callable[[], Any]) -> None:
        self._timer = timer
        self._owner = owner
        self._seconds = seconds
        self._callback = callback
        self._stopped = False
        self._worker = self._start()

    def _start(self) -> Any:
        return self._owner.run_worker(self._wait(), group="timers", exit_on_error=False)

    async def _wait(self) -> None:
        await self._timer.sleep(self._seconds)
        self._owner.call_later(self._fire)

    def _fire(self) -> Any:
        if not self._stopped:  # (stopped after its time came, before the owner ran it)
            self._stopped = True
            return self._callback()
        return None

    def stop(self) -> None:
        self._stopped = True
        self._worker.cancel()

    def reset(self) -> None:
        if self._stopped:  # (stopped, or run: as with Textual's timer, nothing to start again)
            return
        self._worker.cancel()
        self._worker = self._start()


def start_timer(timer: PollTimer | None, owner: Any, seconds: float,
                callback: Callable[[], Any]) -> TimerHandle:
    """Run ``callback`` in ``owner`` (a widget or the app) after ``seconds``: on ``timer`` if
    one is given, else on Textual's own timer (``owner.set_timer``)."""
    if timer is None:
        return owner.set_timer(seconds, callback)  # type: ignore[no-any-return]
    return PollTimerCall(timer, owner, seconds, callback)
