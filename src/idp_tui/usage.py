"""Usage analytics (opt-in) and developer feedback: ``[telemetry]`` and the recorder.

With ``[telemetry] enabled = true`` the session's :class:`UsageRecorder` (held by the runtime)
records, into the configured store and nowhere else: the session's start (a person's first run),
each pane shown, each `:` command run (its name), each action started and how it ended (its kind,
environment and outcome; no parameter), each error a source shows (the source's name and the error
class; no message), and so each person's first deploy. People are keyed hashes
(:mod:`idp_tui.usagestore`). Off (the default), it records nothing and never opens the store for
it.

Feedback (a rating and a comment) is explicit: it is stored whatever ``enabled`` says.

Recording never slows or breaks the dashboard: the hooks only append to a bounded buffer; one
thread of the recorder writes it to the store, and what fails there goes to the log file.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from .api.clock import Clock, SystemClock
from .usagestore import (
    ACTION,
    ACTION_STARTED,
    COMMAND,
    ERROR,
    PANE,
    RUN,
    Event,
    UsageStore,
)

__all__ = ["FEEDBACK_COMMENT_MAX", "PROMPT_DAYS", "TelemetryConfig", "UsageRecorder",
           "check_comment", "check_rating", "command_session", "recorder_for"]

log = logging.getLogger(__name__)

#: Days between two satisfaction prompts (at most once a month).
PROMPT_DAYS = 30
#: The longest feedback comment, in characters.
FEEDBACK_COMMENT_MAX = 2000
#: Events waiting for the store at most; past it the oldest are dropped (and counted).
MAX_PENDING = 10_000


class TelemetryConfig(BaseModel):
    """``[telemetry]``: usage analytics, off unless ``enabled = true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Record usage events in the configured store (never elsewhere).
    enabled: bool = False
    #: With ``enabled``: the dashboard asks, at most once a month, how satisfied one is (a line
    #: that one key dismisses).
    prompt: bool = True

    @field_validator("enabled", "prompt", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> bool:
        if not isinstance(value, bool):
            raise ValueError("expected true or false (without quotes)")
        return value


def check_rating(value: object) -> int:
    """A rating from 1 to 5, or ValueError with a sentence."""
    text = str(value).strip()
    if not (text.isdigit() and len(text) == 1 and 1 <= int(text) <= 5):
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise ValueError(f"expected a rating from 1 (poor) to 5 (great), got {shown!r}")
    return int(text)


def check_comment(text: str) -> str:
    """A comment within its limit, without control characters (line breaks and tabs allowed)."""
    if len(text) > FEEDBACK_COMMENT_MAX:
        raise ValueError(f"a comment has at most {FEEDBACK_COMMENT_MAX:,} characters, got "
                         f"{len(text):,}")
    if not all(c.isprintable() or c in " \n\t" for c in text):
        raise ValueError("control characters are not allowed in a comment")
    return text.strip()


class _Task:
    """Something to do with the store on the recorder's thread, answered through ``future``."""

    def __init__(self, work: Callable[[UsageStore], Any]) -> None:
        self.work = work
        self.future: Future[Any] = Future()


class UsageRecorder:
    """Buffers usage events and writes them (and feedback) to the store on a thread of its own.

    The hooks (:meth:`pane`, :meth:`command`, :meth:`action_changed`, :meth:`health`) return at
    once; with telemetry off they do nothing. ``opener`` gives the store (on the recorder's thread,
    the first time something is written).
    """

    def __init__(self, opener: Callable[[], UsageStore], *, enabled: bool, identity: str,
                 clock: Clock | None = None, prompt: bool = True) -> None:
        self.enabled = enabled
        self.identity = identity
        self.clock = clock or SystemClock()
        self.prompt = prompt
        self._opener = opener
        self._store: UsageStore | None = None
        self._items: deque[Event | _Task] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._closed = False
        self._failing = False
        #: Events dropped: the buffer was full (the store away for long) or the store refused.
        self.dropped = 0
        #: The actions seen running, and those seen ending (each recorded once).
        self._running: set[str] = set()
        self._ended: set[str] = set()
        self._errors: dict[str, str | None] = {}

    # The hooks -----------------------------------------------------------------------------------

    def run(self) -> None:
        """A session starts (the person's first run, the first time)."""
        self._event(RUN, "session")

    def pane(self, name: str) -> None:
        self._event(PANE, name)

    def command(self, name: str) -> None:
        self._event(COMMAND, name)

    def action_changed(self, run: Any) -> None:
        """The action manager's listener: an action started, and how it ended."""
        if not self.enabled:
            return
        state = str(getattr(run.state, "value", run.state))
        key = str(run.request.id)
        kind = str(getattr(run.request.kind, "value", run.request.kind))
        environment = run.request.environment
        if state == "running" and key not in self._running:
            self._running.add(key)
            self._event(ACTION_STARTED, kind, environment)
        elif run.state.finished and key not in self._ended:
            self._running.discard(key)
            self._ended.add(key)
            outcome = state
            if state == "denied" and getattr(run.decision, "needs_approval", False):
                outcome = "requested"  # (waiting for approval: not run yet)
            self._event(ACTION, kind, environment, outcome)

    def health(self, health: dict[str, Any]) -> None:
        """The hub's health watcher: a source that starts failing (or fails otherwise)."""
        if not self.enabled:
            return
        for name, item in health.items():
            failure = getattr(item, "failure", None)
            error_class = None if failure is None else str(failure.error_class)
            if self._errors.get(name) != error_class:
                self._errors[name] = error_class
                if error_class is not None:
                    self._event(ERROR, name, outcome=error_class)

    def _event(self, kind: str, name: str, environment: str | None = None,
               outcome: str | None = None) -> None:
        if self.enabled:
            self._put(Event(self.clock.now(), kind, name, environment, outcome))

    # Feedback and the prompt (whatever ``enabled`` says) ------------------------------------------

    def feedback(self, rating: int, comment: str = "") -> Future[Any]:
        """Store a rating and a comment; the future ends when it is stored (or says why not)."""
        rating, comment = check_rating(rating), check_comment(comment)
        when = self.clock.now()
        return self._task(lambda store: store.add_feedback(self.identity, when, rating, comment))

    def prompt_due(self) -> Future[Any]:
        """Whether to show the satisfaction prompt now (True: it is shown, its time kept)."""
        if not (self.enabled and self.prompt):
            done: Future[Any] = Future()
            done.set_result(False)
            return done
        now = self.clock.now()
        return self._task(lambda store: store.prompt_due(self.identity, now, PROMPT_DAYS))

    def _task(self, work: Callable[[UsageStore], Any]) -> Future[Any]:
        task = _Task(work)
        if not self._put(task):
            task.future.set_exception(RuntimeError("the session is closing"))
        return task.future

    # The buffer and the writer -------------------------------------------------------------------

    def _put(self, item: Event | _Task) -> bool:
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= MAX_PENDING:
                for index, old in enumerate(self._items):
                    if isinstance(old, Event):
                        del self._items[index]
                        self.dropped += 1
                        break
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="idp-usage",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items:
                    return
                batch = list(self._items)
                self._items.clear()
                self._busy = True
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, batch: list[Event | _Task]) -> None:
        events: list[Event] = []
        for item in [*batch, None]:
            if isinstance(item, Event):
                events.append(item)
                continue
            if events:
                self._write_events(events)
                events = []
            if isinstance(item, _Task):
                try:
                    item.future.set_result(item.work(self._open()))
                except Exception as exc:  # noqa: BLE001 - said to whoever waits for it
                    log.warning("usage store: %s", exc)
                    item.future.set_exception(exc)

    def _write_events(self, events: list[Event]) -> None:
        try:
            self._open().record(self.identity, events)
            if self._failing:
                log.info("usage events are written to the store again")
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - never the dashboard's problem
            self.dropped += len(events)
            if not self._failing:
                log.warning("usage events not recorded (%d dropped; the next failures are not "
                            "logged until it works again): %s", len(events), exc)
            self._failing = True

    def _open(self) -> UsageStore:
        if self._store is None:
            self._store = self._opener()
        return self._store

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything buffered is written (or failed); False after ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (waiting ``timeout`` at most) and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self._store is not None and (thread is None or not thread.is_alive()):
            self._store.close()
            self._store = None


def recorder_for(config: Any, data_dir: Path, *, identity: str,
                 clock: Clock | None = None) -> UsageRecorder:
    """The recorder of an :class:`idp_tui.config.AppConfig` (its ``[telemetry]`` and ``[store]``)."""
    telemetry: TelemetryConfig = getattr(config, "telemetry", None) or TelemetryConfig()
    store = getattr(config, "store", None)
    return UsageRecorder(lambda: UsageStore(store, data_dir), enabled=telemetry.enabled,
                         identity=identity, clock=clock, prompt=telemetry.prompt)


@contextmanager
def command_session(config: Any, data_dir: Path, *, identity: str,
                    clock: Clock | None = None) -> Iterator[UsageRecorder]:
    """A command that needs no runtime (``idp-tui approve``/``deny``) counted as each command
    with one is: a session starts (with telemetry on; nothing more), written as it ends."""
    recorder = recorder_for(config, data_dir, identity=identity, clock=clock)
    recorder.run()
    try:
        yield recorder
    finally:
        recorder.close()
