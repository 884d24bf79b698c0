"""The dialogs' shared widgets and messages: a run's events (a line-API view), its progress, the
typed confirmation of a protected environment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, ProgressBar, Static

from ... import limits, render
from ...actions import MAX_EVENTS, ActionRun
from ...api.kinds import ActionState
from ...hub import Failure
from ..base import scroll_bindings


class ActionUpdated(Message):
    """A run changed (new event, new state): posted by the manager's listener."""

    def __init__(self, run: ActionRun) -> None:
        super().__init__()
        self.run = run


class SubmitFailed(Message):
    """``submit`` itself raised (it should not): shown in the modal."""

    def __init__(self, failure: Failure) -> None:
        super().__init__()
        self.failure = failure


class EventLines(ScrollView, can_focus=True):
    """An action's events, wrapped to the width, drawn with the line API (only the rows on
    screen); it follows the newest event unless scrolled up. At most ``max_lines`` events are
    kept (the run itself keeps MAX_EVENTS)."""

    # (a gutter for the scrollbar from the start: the width the rows are wrapped to stays put)
    DEFAULT_CSS = """
    EventLines {
        scrollbar-gutter: stable;
        overflow-x: hidden;
    }
    """

    BINDINGS = scroll_bindings("events")
    #: What the keys screen calls it.
    HELP_SCOPE = "events"

    def __init__(self, max_lines: int = MAX_EVENTS + 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_lines = max_lines
        self.lines: list[Text] = []
        #: The events' rows at ``_width`` (None: to be wrapped again).
        self._rows: list[Text] | None = None
        self._width = 0
        self._strips: dict[int, Strip] = {}

    def clear(self) -> None:
        self.lines = []
        self._rows, self._strips = None, {}
        self._update_size(following=True)

    def write(self, line: Text) -> None:
        self.write_lines([line])

    def write_lines(self, lines: list[Text]) -> None:
        if not lines:
            return
        following = self.scroll_offset.y >= self.max_scroll_y
        self.lines.extend(lines)
        if len(self.lines) > self.max_lines:
            del self.lines[:len(self.lines) - self.max_lines]
            self._rows = None  # (wrapped again: the first rows are gone)
        elif self._rows is not None:
            self._rows.extend(self._wrap(lines))
        self._update_size(following)

    def _wrap(self, lines: list[Text]) -> list[Text]:
        width = max(self._width, 1)
        console = self.app.console
        rows: list[Text] = []
        for line in lines:
            rows.extend(line.wrap(console, width, overflow="fold"))
        return rows

    def _all_rows(self) -> list[Text]:
        if self._rows is None:
            self._rows = self._wrap(self.lines)
            self._strips = {}
        return self._rows

    def _update_size(self, following: bool) -> None:
        self.virtual_size = Size(0, len(self._all_rows()))
        if following:
            self.scroll_end(animate=False, immediate=False)
        self.refresh()

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            following = self.scroll_offset.y >= self.max_scroll_y
            self._width, self._rows = width, None
            self._update_size(following)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        rows = self._all_rows()
        if index >= len(rows):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            row = rows[index].copy()
            row.no_wrap, row.end = True, ""
            row.stylize_before(style)
            strip = Strip(list(row.render(self.app.console)), row.cell_len)
            self._strips[index] = strip
        return strip.crop_extend(0, width, style)


class RunProgress(Vertical):
    """A run's state, a progress bar from ``done/total`` and its events, kept in step by id."""

    DEFAULT_CLASSES = "run-progress"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._run_id: str | None = None
        self._written = 0

    def compose(self) -> ComposeResult:
        yield Static(classes="run-state")
        yield ProgressBar(total=1, show_eta=False, classes="run-bar")
        yield EventLines(classes="run-events")
        yield Static(classes="run-error")

    def show_run(self, run: ActionRun | None, now: datetime) -> None:
        log = self.query_one(EventLines)
        if run is None:
            self.display = False
            self._run_id, self._written = None, 0
            log.clear()
            return
        self.display = True
        state = Text(end="")
        state.append_text(render.action_state(run.state, waiting=run.waiting))
        state.append("  ")
        state.append_text(render.text(run.title, "bold", max_len=200))
        end = run.finished_at or now
        took = render.duration(end - run.created_at)
        state.append(f"  started {run.created_at:%H:%M:%S} · {took}", "dim")
        self.query_one(".run-state", Static).update(state)
        bar = self.query_one(ProgressBar)
        progress = run.progress
        if progress is not None:
            bar.update(total=progress[1], progress=progress[0])
        elif run.state is ActionState.SUCCEEDED:
            bar.update(total=1, progress=1)
        else:
            bar.update(total=1, progress=0)
        total = run.dropped_events + len(run.events)
        if run.id != self._run_id or total < self._written:
            log.clear()
            self._run_id, self._written = run.id, run.dropped_events
            if run.dropped_events:
                log.write(Text(f"… {run.dropped_events} earlier events not kept", "dim"))
        new = total - self._written
        if new > 0:
            log.write_lines([render.action_event(event) for event in run.events[-new:]])
            self._written = total
        error = self.query_one(".run-error", Static)
        if run.error and run.state is not ActionState.SUCCEEDED:
            message = Text(end="")
            style = "yellow" if run.waiting else "red"
            message.append(f"{'requested' if run.waiting else run.state.value}: ", f"bold {style}")
            message.append_text(render.text(run.error, style, max_len=2000, multiline=True))
            error.update(message)
            error.display = True
        else:
            error.display = False


class ConfirmBox(Vertical):
    """The typed environment name (protected environments) and the reason."""

    def compose(self) -> ComposeResult:
        yield Static(classes="field-label", id="confirm-help")
        yield Input(placeholder="type the environment's name to confirm", id="confirm-name",
                    max_length=limits.NAME.size)
        yield Input(placeholder="reason (optional): ticket, incident, why now", id="confirm-reason",
                    max_length=limits.REASON.size)

    def setup(self, environment: str | None, needed: bool) -> None:
        name = self.query_one("#confirm-name", Input)
        reason = self.query_one("#confirm-reason", Input)
        name.display = needed
        help_text = Text(end="")
        if needed and environment:
            help_text.append("Protected: ", "bold yellow")
            help_text.append("type ", "yellow")
            help_text.append_text(render.text(environment, "bold", max_len=60))
            help_text.append(" and give a reason to confirm", "yellow")
            name.placeholder = f"type {render.sanitize(environment, max_len=60)} to confirm"
            reason.placeholder = "reason (required): ticket, incident, why now"
        else:
            help_text.append("Reason", "dim")
            reason.placeholder = "reason (optional): ticket, incident, why now"
        self.query_one("#confirm-help", Static).update(help_text)

    @property
    def typed(self) -> str:
        return self.query_one("#confirm-name", Input).value.strip()

    @property
    def reason(self) -> str:
        return self.query_one("#confirm-reason", Input).value.strip()
