"""Choosing whose log to read: a pipeline run's jobs and their steps, with their status.

Opened from the Pipelines pane (``L``); choosing a job shows its log in the Logs pane, choosing a
step shows the same log from that step's section on, unfolded. The dialog only answers what was
chosen (``(job index, step index or None)``); it calls no source.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ... import render
from ...api.models import PipelineRun, RunStatus
from .base import CONFIRM_ID, CONFIRM_KEY

__all__ = ["JobChoice", "JobPicker", "pick_job_log"]

#: What the picker answers: the job's index in the run's jobs and the step's in the job's steps.
JobChoice = tuple[int, int | None]


def _option_id(job: int, step: int | None) -> str:
    return f"{job}:" if step is None else f"{job}:{step}"


def _choice(option_id: str) -> JobChoice:
    job, _, step = option_id.partition(":")
    return int(job), (int(step) if step else None)


class JobPicker(ModalScreen[JobChoice | None]):
    """The jobs of ``run`` and their steps; the first failed step (or job) is highlighted."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="jobs.close"),
        Binding(CONFIRM_KEY, "choose", "Show the log", id=CONFIRM_ID),
    ]

    def __init__(self, run: PipelineRun) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        title = Text("Whose log? ", "bold")
        title.append_text(render.text(f"{self.run.service} {self.run.pipeline} {self.run.id}",
                                      max_len=100))
        with Vertical(id="jobs-dialog", classes="dialog"):
            yield Static(title, classes="dialog-title")
            yield OptionList(*self._options(), id="jobs-list")
            yield Static(Text("enter: the job's log (a step: from that step on) · esc close",
                              "dim"))
        yield Footer()

    def _options(self) -> list[Option]:
        options: list[Option] = []
        for j, job in enumerate(self.run.jobs):
            line = Text(end="")
            line.append_text(render.run_status(job.status))
            line.append("  ")
            line.append_text(render.text(job.name, "bold", max_len=100))
            options.append(Option(line, id=_option_id(j, None), disabled=not job.id))
            for s, step in enumerate(job.steps):
                icon, style = render.RUN_STYLES.get(step.status, ("?", ""))
                line = Text("    ", end="")
                line.append(f"{icon} ", style)
                line.append_text(render.text(step.name, "" if step.status.finished else "dim",
                                             max_len=100))
                options.append(Option(line, id=_option_id(j, s), disabled=not job.id))
        if not options:
            options.append(Option(Text("No jobs reported.", "dim"), disabled=True))
        return options

    def _first_failed(self) -> str | None:
        for j, job in enumerate(self.run.jobs):
            if job.status is RunStatus.FAILED and job.id:
                for s, step in enumerate(job.steps):
                    if step.status is RunStatus.FAILED:
                        return _option_id(j, s)
                return _option_id(j, None)
        return None

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        wanted = self._first_failed()
        if wanted is not None:
            options.highlighted = options.get_option_index(wanted)
        elif options.option_count:
            options.action_first()

    def action_choose(self) -> None:
        """The confirm key: the highlighted job's (or step's) log, as enter."""
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None:
            return
        option = options.get_option_at_index(index)
        if option.id is not None and not option.disabled:
            self.dismiss(_choice(option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.dismiss(_choice(event.option.id))


def pick_job_log(app: Any, run: PipelineRun | None) -> None:
    """Open the picker for ``run``; what is chosen is shown in the Logs pane (``app`` is the
    dashboard: its ``show_pane`` and its Logs pane)."""
    if run is None or not run.jobs:
        app.notify("Select a run whose jobs are listed first", severity="warning", markup=False)
        return

    def chosen(choice: JobChoice | None) -> None:
        if choice is None:
            return
        index, step = choice
        job = run.jobs[index]
        label = f"{run.service} {run.pipeline} {run.id} · {job.name}"
        if step is not None:
            label += f" · {job.steps[step].name}"
        follow = not job.status.finished
        app.show_pane("logs")

        def show() -> None:
            from ..panes.logs import LogsPane  # noqa: PLC0415

            app.query_one(LogsPane).show_run_log(run.source, run.id, job.id, label,
                                                 follow=follow, steps=job.steps, step=step)

        app.call_after_refresh(show)

    app.push_screen(JobPicker(run), chosen)
