"""The k9s-style `:` prompt: Tab completes, up/down walk the history, Esc closes it.

While it is open it takes every key: none reaches the pane's or the app's bindings (Tab does not
move the focus out of it, `p` typed after a completion does not open the Provision dialog). What it
completes and how a line runs are the command registry's (:mod:`idp_tui.commands`); this widget
only applies them.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from ..commands import CommandHistory
from .base import focus_now

#: ``completer(line)``: the lines Tab offers for ``line``, best first.
Completer = Callable[[str], list[str]]


class _CompletionSuggester(Suggester):
    """The first completion, shown greyed after the cursor when it extends what is typed
    (right arrow takes it)."""

    def __init__(self, completer: Completer) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._completer = completer

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        for candidate in self._completer(value)[:1]:
            if candidate.startswith(value) and candidate != value:
                return candidate
        return None


class CommandBar(Input):
    """The `:` prompt (``:catalog``, ``:env staging``, ``:svc NAME``, ``:q``…)."""

    HELP_SCOPE = ": prompt"
    BINDINGS = [
        Binding("escape", "close", "Close", id="command.close"),
        Binding("tab", "complete(1)", "Complete", id="command.complete"),
        Binding("shift+tab", "complete(-1)", "Previous completion", show=False,
                id="command.complete_previous"),
        Binding("up", "history(-1)", "Older command", show=False, id="command.history_older"),
        Binding("down", "history(1)", "Newer command", show=False, id="command.history_newer"),
    ]

    def __init__(self, completer: Completer, history: CommandHistory, *,
                 on_close: Callable[[], None], **kwargs: object) -> None:
        super().__init__(suggester=_CompletionSuggester(completer), **kwargs)  # type: ignore[arg-type]
        self._completer = completer
        self.history = history
        self._on_close = on_close
        #: The candidates of the last Tab and the one shown (a second Tab shows the next).
        self._candidates: list[str] = []
        self._shown: int = -1

    @property
    def candidates(self) -> list[str]:
        """What the last Tab offered (empty once the line is edited)."""
        return list(self._candidates) if self._shown >= 0 and \
            self.value == self._candidates[self._shown] else []

    #: Keys that keep their meaning while the prompt is open: quitting the whole app.
    PASS_THROUGH = frozenset({"ctrl+q"})

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Every key is the prompt's while it is open — none is left for the pane's or the app's
        bindings (Textual drops the bindings of a focused widget's ancestors for the keys it
        consumes, the priority ones too) — but ctrl+q, which quits from anywhere."""
        return bool(self.display) and key not in self.PASS_THROUGH

    def open(self) -> None:
        self.value = ""
        self._forget_completion()
        self.history.reset()
        self.display = True
        focus_now(self)

    def action_close(self) -> None:
        self.value = ""
        self._forget_completion()
        self.history.reset()
        self.display = False
        self._on_close()

    def take_line(self) -> str:
        """The line entered (kept in the history), and the prompt closed without running it."""
        line = self.value.strip().lstrip(":").strip()
        self.history.add(line)
        self.value = ""
        self._forget_completion()
        self.display = False
        return line

    def _set_line(self, line: str) -> None:
        self.value = line
        self.cursor_position = len(line)

    def _forget_completion(self) -> None:
        self._candidates, self._shown = [], -1

    def action_complete(self, step: int = 1) -> None:
        if self.candidates and len(self._candidates) > 1:
            self._shown = (self._shown + step) % len(self._candidates)
        else:
            self._candidates = self._completer(self.value)
            if not self._candidates:
                self._shown = -1
                self.app.bell()
                return
            self._shown = 0 if step > 0 else len(self._candidates) - 1
        self._set_line(self._candidates[self._shown])

    def action_history(self, step: int) -> None:
        line = self.history.previous(self.value) if step < 0 else self.history.next()
        if line is None:
            self.app.bell()
            return
        self._forget_completion()
        self._set_line(line)

    def on_blur(self) -> None:
        # The focus went elsewhere (a click): the prompt closes rather than stay open unfocused.
        if self.display:
            self.action_close()
