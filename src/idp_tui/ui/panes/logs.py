"""Logs: a live tail of the selected service and environment, every instance merged; or the log
of a pipeline run's jobs (opened from the Pipelines pane), with the same filters."""

from __future__ import annotations

import re
import time
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from ... import render
from ...api.models import JobLogQuery, LogLevel, LogLine, LogQuery, Step
from ...hub import Failure, LogStream
from ...logs.fold import failed_steps, section_of_step
from ...logs.handover import Handover
from ...logs.pacer import CollectionPacer
from ..base import ErrorBanner, Pane, focus_now, while_running
from ..logview import LogView

_LEVEL_CYCLE: list[LogLevel | None] = [None, LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN,
                                       LogLevel.ERROR]
#: Seconds between two hand-overs of a stream's lines to the view (at most 10 redraws a second).
DRAIN_INTERVAL = 0.1


class LogsPending(Message):
    """Lines handed over by the stream wait in the pane (posted once until they are taken)."""

    bubble = False

    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation


class LogFailure(Message):
    def __init__(self, generation: int, failure: Failure) -> None:
        super().__init__()
        self.generation, self.failure = generation, failure


class LogEnded(Message):
    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation


class PromptInput(Input):
    """The one-line prompt for include / exclude / search patterns and the save path."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="logs.prompt_cancel")]

    def action_cancel(self) -> None:
        self.display = False
        for ancestor in self.ancestors:
            if isinstance(ancestor, LogsPane):
                ancestor.prompt_kind = None
                ancestor.focus_main()
                break


class LogsPane(Pane):
    pane_name = "logs"
    title = "Logs"

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow/pause", id="logs.follow"),
        Binding("slash", "prompt('search')", "Search", id="logs.search"),
        Binding("n", "next_match", "Next", show=False, id="logs.next"),
        Binding("N", "previous_match", "Previous", show=False, id="logs.previous"),
        Binding("i", "prompt('include')", "Include", id="logs.include"),
        Binding("x", "prompt('exclude')", "Exclude", id="logs.exclude"),
        Binding("l", "cycle_level", "Level", id="logs.level"),
        Binding("w", "toggle('wrap')", "Wrap", id="logs.wrap"),
        Binding("t", "toggle('show_timestamps')", "Time", id="logs.timestamps"),
        Binding("j", "toggle('json_fields')", "JSON", show=False, id="logs.json"),
        Binding("o", "toggle('show_instances')", "Instances", show=False, id="logs.instances"),
        Binding("ctrl+s", "prompt('save')", "Save", id="logs.save"),
        Binding("c", "clear", "Clear", show=False, id="logs.clear"),
        Binding("P", "toggle_previous", "Previous run", show=False, id="logs.previous_run"),
        Binding("C", "prompt('container')", "Containers", show=False, id="logs.containers"),
        Binding("O", "prompt('instance')", "Pick instances", show=False,
                id="logs.pick_instances"),
        Binding("b", "live", "Back to live logs", id="logs.live"),
        Binding("z", "fold", "Fold", id="logs.fold"),
        Binding("Z", "fold_all", "Fold all", show=False, id="logs.fold_all"),
        Binding("right_square_bracket", "next_section", "Next section", show=False,
                id="logs.next_section"),
        Binding("left_square_bracket", "previous_section", "Previous section", show=False,
                id="logs.previous_section"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream: LogStream | None = None
        self.generation = 0
        self.streaming_for: tuple[str, str] | None = None
        self.patterns: dict[str, str] = {"include": "", "exclude": "", "search": ""}
        #: What the stream reads: which containers ("" the source's setting, "all", "main" or a
        #: name), which instances (a regex, "" all) and whether the previous runs' logs.
        self.choice: dict[str, str] = {"container": "", "instance": ""}
        self.previous = False
        self.level_index = 0
        self.prompt_kind: str | None = None
        #: A file the save prompt warned exists: the same name entered again replaces it.
        self._replace_ok: Path | None = None
        self.ended = False
        #: Showing a pipeline run's log: (source, run id, job id, label), else None.
        self.run_log: tuple[str, str, str, str] | None = None
        #: The shown job's steps (when known), and the one to show once its section has come.
        self._run_steps: tuple[Step, ...] = ()
        self._goto_step: int | None = None
        self._run_finished = False
        self._run_log_context: tuple[str | None, str | None] = (None, None)
        # Lines the stream has handed over that the view has not taken yet (see _take_batch).
        self._pending = Handover(20_000)  # bounded by the view's size (set in compose)
        self._drain_state = "idle"  # or "scheduled" (a timer will drain) or "draining"
        self._last_drain = 0.0
        # Collects the garbage the redrawing leaves while lines flow (see idp_tui.logs.pacer).
        self.collector = CollectionPacer()

    def compose(self) -> ComposeResult:
        self._pending = Handover(self.idp.config.ui.log_buffer)
        yield ErrorBanner(id="logs-errors")
        yield LogView(max_lines=self._pending.limit, id="logs-view")
        yield PromptInput(id="logs-prompt")
        yield Static(id="logs-status", classes="pane-status")

    @while_running
    def on_mount(self) -> None:
        self.query_one(PromptInput).display = False
        self.query_one(ErrorBanner).display = False
        # Following also stops when the user scrolls up or jumps to a search match, and starts
        # again with `end`: the status line must say so however it changed.
        self.watch(self.view, "follow", lambda _follow: self._status(), init=False)
        self._status()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def focus_main(self) -> None:
        self.view.focus()

    def is_settled(self) -> bool:
        return self.stream is not None and (self.view.total > 0 or self.ended)

    # Streaming -------------------------------------------------------------------------------

    def pane_shown(self) -> None:
        self._ensure_stream()

    def context_changed(self) -> None:
        if self.run_log is not None:
            if (self.idp.service, self.idp.environment) == self._run_log_context:
                return
            self.run_log = None  # another service or environment chosen: its live logs
            self.refresh_bindings()
        if self.stream is not None or self._is_active_tab():
            self._ensure_stream()

    def show_run_log(self, source: str, run_id: str, job_id: str, label: str, *,
                     follow: bool, steps: tuple[Step, ...] = (), step: int | None = None) -> None:
        """Show the log of a pipeline run's job (``job_id`` empty: all its jobs) instead of the
        live tail, until ``b`` or another service or environment is chosen.

        Its ``##[group]`` sections fold (``z``); once a finished job's log has come, every section
        is folded but the failed steps' (known from ``steps``, the job's) and those with errors.
        ``step``: the index in ``steps`` of the step to show from its first line, unfolded, with
        every other section folded."""
        self.stop_stream()
        self.view.clear()
        self.view.set_sections(True)
        self._run_steps, self._goto_step, self._run_finished = tuple(steps), step, not follow
        sections = self.view.buffer.sections
        if sections is not None and not follow:
            sections.fold_new = True  # a finished job's: folded as they come (see on_log_ended)
        self.query_one(ErrorBanner).show_errors({})
        self.generation += 1
        generation = self.generation
        self.run_log = (source, run_id, job_id, label)
        self._run_log_context = (self.idp.service, self.idp.environment)
        self.streaming_for = (label, "run")
        self.ended = False
        self._pending.clear()
        self._drain_state = "idle"
        self.stream = self.hub.stream_job_log(
            source, JobLogQuery(run_id=run_id, job_id=job_id, follow=follow),
            on_batch=lambda lines, dropped: self._take_batch(generation, lines, dropped),
            on_error=lambda failure: self.post_message(LogFailure(generation, failure)),
            on_end=lambda: self.post_message(LogEnded(generation)),
        )
        self.refresh_bindings()
        self._status()

    def action_live(self) -> None:
        if self.run_log is None:
            return
        self.run_log = None
        self._run_steps, self._goto_step = (), None
        self.stop_stream()
        self.refresh_bindings()
        self._ensure_stream()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("live", "fold", "fold_all", "next_section", "previous_section"):
            return self.run_log is not None
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why a key ``check_action`` hides does nothing now (the app says it when pressed)."""
        if self.run_log is not None:
            return None
        if action == "live":
            return "These are the live logs already (b goes back to them from a run's log)"
        if action in ("fold", "fold_all", "next_section", "previous_section"):
            return "Only a pipeline run's log has sections (l or L in Pipelines shows one)"
        return None

    def shared_data_changed(self) -> None:
        if self.stream is None and self._is_active_tab():
            self._ensure_stream()

    def _is_active_tab(self) -> bool:
        try:
            return self.idp.current_pane is self
        except Exception:  # noqa: BLE001
            return False

    def _ensure_stream(self) -> None:
        if self.run_log is not None:
            return  # a run's log is shown (see show_run_log)
        service, env = self.idp.service, self.idp.environment
        if service is None or env is None:
            self._status()
            return
        if self.streaming_for == (service, env) and self.stream is not None:
            return
        self.stop_stream()
        self.view.clear()
        self.view.set_sections(False)
        self.query_one(ErrorBanner).show_errors({})
        self.generation += 1
        generation = self.generation
        self.streaming_for = (service, env)
        self.ended = False
        self._pending.clear()
        self._drain_state = "idle"
        self.stream = self.hub.stream_logs(
            LogQuery(service=service, environment=env, tail=200, follow=not self.previous,
                     previous=self.previous, container=self.choice["container"],
                     instance=self.choice["instance"]),
            on_batch=lambda lines, dropped: self._take_batch(generation, lines, dropped),
            on_error=lambda failure: self.post_message(LogFailure(generation, failure)),
            on_end=lambda: self.post_message(LogEnded(generation)),
        )
        self._status()

    def stop_stream(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None
            self.streaming_for = None
        self._pending.clear()  # lines of that stream not yet shown
        self.collector.reset()

    def on_unmount(self) -> None:
        self.stop_stream()
        super().on_unmount()

    def _take_batch(self, generation: int, lines: list[LogLine], dropped: int) -> None:
        """Called by the stream on the app's event loop for every batch (about every 50 ms).

        Batches gather here and go to the view together, at most every ``DRAIN_INTERVAL`` and
        once per screen refresh: one message per batch let a fast stream fill the message queue
        (unbounded memory) and keep the screen from being repainted. A stream that gets half a
        buffer ahead is paused until the view has taken its lines, and what could not survive the
        view's bounded buffer anyway is dropped (and counted) at once.
        """
        if generation != self.generation:
            return
        urgent = self._pending.add(lines, dropped)
        if urgent and self.stream is not None:
            self.stream.pause()
        if self._drain_state == "idle" or (urgent and self._drain_state == "scheduled"):
            self.post_message(LogsPending(generation))

    def on_logs_pending(self, message: LogsPending) -> None:
        if message.generation != self.generation or self._drain_state == "draining":
            return  # a drain is under way: _drained() looks again
        wait = self._last_drain + DRAIN_INTERVAL - time.monotonic()
        pending = self._pending
        if wait <= 0 or pending.waiting >= max(1, pending.limit // 2):
            self._drain(message.generation)
        elif self._drain_state == "idle":
            self._drain_state = "scheduled"
            self.set_timer(wait, partial(self._drain, message.generation, scheduled=True))

    def _drain(self, generation: int, scheduled: bool = False) -> None:
        if generation != self.generation or (scheduled and self._drain_state != "scheduled"):
            return
        self._drain_state = "draining"
        self._last_drain = time.monotonic()
        self._flush_pending()
        # The next lines go to the view once the screen has been repainted; the stream, paused
        # if it got ahead, reads again only then (lines read meanwhile would have been more than
        # the view keeps: read, and thrown away).
        self.call_after_refresh(self._drained, generation)

    def _drained(self, generation: int) -> None:
        if generation != self.generation:
            return
        if self.stream is not None:
            self.stream.resume()
        self._drain_state = "idle"
        self.collector.tick(time.monotonic())
        if self._pending:
            self.post_message(LogsPending(generation))

    def _flush_pending(self) -> None:
        lines, dropped = self._pending.take()
        if lines or dropped:
            self.view.append(lines, dropped)
            if self._goto_step is not None and not self._run_finished:
                self._show_step(final=False)

    def _show_step(self, *, final: bool) -> None:
        """Show the chosen step's section once it has come (``final``: the log ended, say so if
        it never came)."""
        sections = self.view.buffer.sections
        if self._goto_step is None or sections is None:
            return
        section = section_of_step(sections, self._run_steps, self._goto_step)
        if section is None:
            if final:
                self._goto_step = None
                self.notify("That step wrote no section of its own in this log", timeout=3,
                            markup=False)
            return
        self._goto_step = None
        self.view.fold_all(True)  # the chosen step's part of the log, between the others' titles
        self.view.show_section(section)
        self._status()

    def on_log_failure(self, message: LogFailure) -> None:
        if message.generation == self.generation:
            # Every source whose stream failed, not only the latest one (kept per stream).
            generation, failures = getattr(self, "_failures", (None, {}))
            if generation != self.generation:
                failures = {}
                self._failures = (self.generation, failures)
            failures[message.failure.source] = message.failure
            self.query_one(ErrorBanner).show_errors(failures)

    def on_log_ended(self, message: LogEnded) -> None:
        if message.generation == self.generation:
            self._flush_pending()
            self.ended = True
            if self.run_log is not None and self._run_finished:
                self.view.fold_finished(failed_steps(self._run_steps))
            self._show_step(final=True)
            if self.previous and self.run_log is None and self.view.total == 0:
                self.notify("No previous run to show: no container of the instances chosen "
                            "has restarted (P: back to the live log)", timeout=5, markup=False)
            self._status()

    def on_log_view_stats_changed(self) -> None:
        self._status()

    # Status line -----------------------------------------------------------------------------

    def _status(self) -> None:
        out = Text(end="", no_wrap=True, overflow="ellipsis")
        if self.streaming_for is None:
            out.append("no stream: select a service and an environment", "dim")
        else:
            view = self.view
            if self.ended:
                out.append("■ ended ", "dim")
            elif view.follow:
                out.append("● following ", "bold green")
            else:
                out.append("❚❚ paused ", "bold yellow")
            if self.run_log is not None:
                out.append("run ", "dim")
                out.append_text(render.text(self.run_log[3], "bold", max_len=80))
                out.append(" (b: live logs · z fold · [ ] sections)", "dim")
            else:
                out.append_text(render.text(f"{self.streaming_for[0]}@{self.streaming_for[1]}",
                                            "bold"))
                if self.previous:
                    out.append("  previous run", "bold magenta")
                for kind, label in (("container", "  container "), ("instance", "  instances ")):
                    if self.choice[kind]:
                        out.append(label, "dim")
                        out.append_text(render.text(self.choice[kind], "magenta", max_len=40))
            # What the user chose first (a narrow terminal cuts the end of the line), then the
            # counts.
            level = _LEVEL_CYCLE[self.level_index]
            if level is not None:
                out.append(f"  level≥{level.value}", "cyan")
            for kind, style in (("include", "green"), ("exclude", "red"), ("search", "yellow")):
                if self.patterns[kind]:
                    out.append(f"  {kind} ", "dim")
                    out.append_text(render.text(self.patterns[kind], style, max_len=40))
            flags = [name for name, on_ in (("wrap", view.wrap), ("time", view.show_timestamps),
                                            ("json", view.json_fields)) if on_]
            out.append(f"  [{' '.join(flags)}]", "dim")
            # Lines kept and lines dropped (evicted, or dropped before the view) add up to the
            # lines received, as written.
            before, dropped, after = view.buffer.summary().partition(f"{view.dropped:,} dropped")
            out.append(f"  {before}", "dim")
            out.append(dropped, "bold yellow")
            out.append(after, "dim")
        # One line of fixed height: a new text never changes the layout (a relayout each update
        # would redraw the whole screen on every batch of a busy stream).
        self.query_one("#logs-status", Static).update(out, layout=False)

    # Actions ---------------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.view.follow = not self.view.follow
        self._status()

    def action_toggle(self, attribute: str) -> None:
        setattr(self.view, attribute, not getattr(self.view, attribute))
        self._status()

    def action_cycle_level(self) -> None:
        self.level_index = (self.level_index + 1) % len(_LEVEL_CYCLE)
        self.view.set_min_level(_LEVEL_CYCLE[self.level_index])
        self._status()

    def action_next_match(self) -> None:
        if not self.view.next_match():
            self.notify("No further match", timeout=2, markup=False)
        self._status()

    def action_previous_match(self) -> None:
        if not self.view.previous_match():
            self.notify("No earlier match", timeout=2, markup=False)
        self._status()

    def action_fold(self) -> None:
        if self.view.toggle_fold() is None:
            self.notify("No section here", timeout=2, markup=False)
        self._status()

    def action_fold_all(self) -> None:
        sections = self.view.buffer.sections
        if sections is None:
            return
        # Everything folded already: unfold everything; else fold everything.
        self.view.fold_all(not all(s.folded for s in sections.sections))
        self._status()

    def action_next_section(self) -> None:
        if self.view.next_section(forward=True) is None:
            self.notify("No further section", timeout=2, markup=False)

    def action_previous_section(self) -> None:
        if self.view.next_section(forward=False) is None:
            self.notify("No earlier section", timeout=2, markup=False)

    def action_toggle_previous(self) -> None:
        """Read the previous run of each container (one that crashed and was restarted), or
        back to the live log."""
        if self.run_log is not None:
            return
        self.previous = not self.previous
        self._restart_stream()

    def _restart_stream(self) -> None:
        """The stream again, with the choices as they are now."""
        self.stop_stream()
        self._ensure_stream()
        self._status()

    def action_clear(self) -> None:
        self.view.clear()
        self._status()

    def action_prompt(self, kind: str) -> None:
        prompt = self.query_one(PromptInput)
        self.prompt_kind = kind
        if kind == "save":
            prompt.placeholder = "save the shown lines to this file (enter to save, esc to cancel)"
            prompt.value = str(self._default_save_path())
            self._replace_ok = None
        elif kind in self.choice:
            prompt.placeholder = {
                "container": "containers: all, main or a container's name (empty: the source's "
                             "setting)",
                "instance": "only the instances whose name matches this regex (empty: all)",
            }[kind]
            prompt.value = self.choice[kind]
        else:
            prompt.placeholder = {
                "include": "show only lines matching this regex (empty: all)",
                "exclude": "hide lines matching this regex (empty: none)",
                "search": "highlight this regex; n next, N previous (empty: none)",
            }[kind]
            prompt.value = self.patterns[kind]
        prompt.remove_class("-invalid")
        prompt.display = True
        focus_now(prompt)

    def _default_save_path(self) -> Path:
        service, env = self.streaming_for or ("logs", "all")
        stamp = self.idp.clock.now().strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{service}-{env}")[:100]
        return self.idp.data_dir / "logs" / f"{safe}-{stamp}.log"

    @on(Input.Submitted, "#logs-prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        kind, value = self.prompt_kind, event.value
        prompt = self.query_one(PromptInput)
        if kind is None:
            return
        if kind == "save":
            if not self._save(value.strip()):
                return
        elif kind in self.choice:
            if not self._choose(kind, value.strip()):
                prompt.add_class("-invalid")
                return
        else:
            setter = {"include": self.view.set_include, "exclude": self.view.set_exclude,
                      "search": self.view.set_search}[kind]
            try:
                setter(value or None)
            except re.error as exc:
                prompt.add_class("-invalid")
                self.notify(f"Invalid regular expression: {exc}", severity="error",
                            markup=False)
                return
            self.patterns[kind] = value
            if kind == "search" and value:
                self.view.next_match()
        prompt.display = False
        self.prompt_kind = None
        self.focus_main()
        self._status()

    def _choose(self, kind: str, value: str) -> bool:
        """Read the chosen containers or instances from now on; a bad choice is said and
        changes nothing (the stream and the lines shown stay)."""
        try:
            LogQuery(service="-", environment="-", **{**self.choice, kind: value})
        except ValidationError as exc:
            reason = exc.errors()[0].get("msg", "not valid").removeprefix("Value error, ")
            self.notify(f"Invalid {'regular expression' if kind == 'instance' else kind}: "
                        f"{render.sanitize(reason)}", severity="error", markup=False)
            return False
        if value != self.choice[kind]:
            self.choice[kind] = value
            if self.run_log is None:
                self._restart_stream()
        return True

    def _toast_width(self) -> int:
        """The characters a notification's line holds (Textual's toasts: 60 columns, at most
        half the screen, less their padding and border, and one to spare)."""
        return min(60, self.app.size.width // 2) - 4

    def _save(self, value: str) -> bool:
        if not value:
            self.notify("Give a file name", severity="warning")
            return False
        path = Path(value).expanduser()
        confirmed, self._replace_ok = self._replace_ok == path, None
        if path.is_dir():
            self.notify(f"{render.path_lines(path, self._toast_width())}\nis a folder: give a "
                        "file name", severity="warning", markup=False)
            return False
        if path.exists() and not confirmed:
            # A file of the user's is never replaced by a slip of the enter key.
            self._replace_ok = path
            self.notify(f"{render.path_lines(path, self._toast_width())}\nexists: enter again "
                        "to replace it, or change the name", severity="warning", markup=False)
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            count = self.view.save(path)
        except OSError as exc:
            self.notify(f"Could not save: {render.sanitize(exc.strerror or str(exc))}",
                        severity="error", markup=False)
            return False
        self.notify(f"Saved {count:,} lines to\n{render.path_lines(path, self._toast_width())}",
                    markup=False)
        return True
