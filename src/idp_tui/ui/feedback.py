"""Feedback in the dashboard: the feedback dialog (a 1–5 rating and a comment, stored always), the
satisfaction prompt (at most once a month, with ``[telemetry] enabled``; one key dismisses it) and
the usage hook of the panes shown.

The app takes these from :class:`FeedbackMixin`; its keys are :data:`BINDINGS` (in
``app_bindings``), its `:feedback` command is in :mod:`idp_tui.commands`. What is stored goes
through the runtime's recorder (:mod:`idp_tui.usage`), off the UI's path.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TabbedContent

from .. import render

#: The app's keys for feedback (binding ids in ``idp_tui.uinames``).
BINDINGS = [
    Binding("ctrl+f", "feedback", "Feedback", show=False, id="app.feedback"),
    Binding("K", "dismiss_prompt", "Not now", show=False, id="app.dismiss_prompt"),
]

#: The satisfaction question (its keys as the config maps them).
PROMPT_TEXT = ("How satisfied are you with idp-tui?  {rate}: rate it 1–5 and tell the platform "
               "team  ·  {dismiss}: not now")


def _usage(app: Any) -> Any:
    runtime = getattr(app, "runtime", None)
    return getattr(runtime, "usage", None)


class PromptLine(Static):
    """The one-line satisfaction question (above the sources' line)."""

    def __init__(self, rate: str = "ctrl+f", dismiss: str = "K") -> None:
        super().__init__(Text(PROMPT_TEXT.format(rate=rate, dismiss=dismiss), end=""),
                         id="feedback-prompt")


class FeedbackScreen(ModalScreen[bool]):
    """A rating (1–5) and a comment; Enter sends, Escape closes. Dismissed with True once
    stored."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Close", id="feedback.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="feedback-dialog", classes="dialog"):
            yield Static(Text("Feedback for the platform team", "bold"), classes="dialog-title")
            yield Static(Text("How satisfied are you with idp-tui? 1 (poor) … 5 (great)"))
            yield Input(placeholder="1–5", restrict=r"[1-5]", max_length=1, id="feedback-rating")
            yield Static(Text("What would help? (optional)"))
            yield Input(placeholder="a comment", max_length=2000, id="feedback-comment")
            yield Static(Text(""), id="feedback-status")
            yield Static(Text("Enter: next, then send · esc: close · stored in the "
                              "organisation's store, under a keyed hash of your name", "dim"))

    def on_mount(self) -> None:
        self.query_one("#feedback-rating", Input).focus()

    @on(Input.Submitted, "#feedback-rating")
    def _rating_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#feedback-comment", Input).focus()

    @on(Input.Submitted, "#feedback-comment")
    def _comment_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.send()

    def _say(self, message: str, style: str = "red") -> None:
        self.query_one("#feedback-status", Static).update(render.text(message, style,
                                                                      max_len=300))

    def send(self) -> None:
        """Store the rating and the comment (off the UI's path); close once stored."""
        rating = self.query_one("#feedback-rating", Input).value.strip()
        comment = self.query_one("#feedback-comment", Input).value
        if not rating:
            self._say("Choose a rating from 1 (poor) to 5 (great) first")
            self.query_one("#feedback-rating", Input).focus()
            return
        usage = _usage(self.app)
        if usage is None:
            self._say("Feedback cannot be stored yet: the dashboard is starting")
            return
        try:
            future = usage.feedback(int(rating), comment)
        except ValueError as exc:
            self._say(str(exc))
            return
        self._say("Storing…", "dim")
        self.run_worker(self._stored(future), exit_on_error=False)

    async def _stored(self, future: Any) -> None:
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:  # noqa: BLE001 - said in the dialog, which stays open
            self._say(f"Not stored: {exc}")
            return
        self.app.notify("Thank you: your feedback is stored", markup=False, timeout=4)
        self.dismiss(True)


class FeedbackMixin:
    """The app's side: the feedback key, the prompt and its key, the panes' usage hook."""

    #: The store has said whether the satisfaction question is due (and it is shown if so).
    prompt_checked = False
    _prompt_asked = False

    def action_feedback(self) -> None:
        app: Any = self
        if not isinstance(app.screen, FeedbackScreen):
            app.push_screen(FeedbackScreen(), self._feedback_closed)

    def _feedback_closed(self, stored: bool | None) -> None:
        if stored:
            self._remove_prompt()

    def action_dismiss_prompt(self) -> None:
        app: Any = self
        if not self._remove_prompt():
            app.notify("No satisfaction question is showing", timeout=3)

    def _remove_prompt(self) -> bool:
        app: Any = self
        found = list(app.query(PromptLine))
        for line in found:
            line.remove()
        return bool(found)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A pane shown (the dashboard's tabs only; the app's own handler runs too)."""
        usage = _usage(self)
        if usage is not None and event.tabbed_content.id == "panes" and event.pane.id:
            usage.pane(event.pane.id)

    def on_mount(self) -> None:
        self._check_prompt()

    def on_snapshot_arrived(self, _message: Any) -> None:
        """The sources answer: a dashboard that drew the last run's catalog first has its runtime
        now (the app's own handler runs too)."""
        self._check_prompt()

    def _check_prompt(self) -> None:
        """Ask the store, once, whether the satisfaction prompt is due (once the runtime is
        there: not while the last run's catalog shows)."""
        app: Any = self
        if self._prompt_asked or getattr(app, "runtime", None) is None \
                or app._exit or app._closing:
            return
        self._prompt_asked = True
        usage = _usage(app)
        if usage is None:
            self.prompt_checked = True
            return
        app.run_worker(self._prompt_when_due(usage.prompt_due()), exit_on_error=False)

    async def _prompt_when_due(self, future: Any) -> None:
        app: Any = self
        try:
            due = await asyncio.wrap_future(future)
        except Exception:  # noqa: BLE001 - the recorder logged it; no question then
            due = False
        try:
            if due and not app.query(PromptLine) and not (app._exit or app._closing):
                from .helprows import keys_for

                line = PromptLine(*(keys_for(app, binding) for binding in BINDINGS))
                await app.screen_stack[0].mount(line, before=app.query_one("#health-bar"))
        finally:
            self.prompt_checked = True
