"""A run's log as a `gh` user reads it, on GitHub (tests/github_server.py, over real sockets): a
finished job's sections folded but the failed step's, ANSI colours drawn as colours (and nothing
else of a hostile line turned into anything), folding with keys, and choosing the job and step
whose log to read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import GITHUB_STEP_LOGS, TOKEN, GithubServer
from rich.color import Color
from textual.widgets import OptionList

from idp_tui.api.clock import ManualClock
from idp_tui.api.models import PipelineRun, RunStatus
from idp_tui.config import load_config
from idp_tui.ui.app import IdpApp
from idp_tui.ui.dialogs.jobs import JobPicker
from idp_tui.ui.panes import LogsPane, PipelinesPane
from idp_tui.ui.tables import KeyedTable

from conftest import T0
from fakes import screen_lines, wait_until

SIZE = (160, 50)
PAY = "acme/payments"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.step_logs = dict(GITHUB_STEP_LOGS)
        server.add_repo(PAY, runs=3)
        yield server


def app_for(tmp_path: Path, gh: GithubServer, clock: ManualClock) -> IdpApp:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
repos = {{ payments = "{PAY}" }}
environments = ["dev", "staging", "production"]
poll_interval = 0.01
''')
    data = tmp_path / "data"
    data.mkdir()
    return IdpApp(load_config(path, required=True), data_dir=data, clock=clock)


def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


async def failed_run_selected(pilot: Any, app: IdpApp) -> PipelineRun:
    await pilot.press("3")
    pane = app.query_one(PipelinesPane)
    table = app.query_one("#pipelines-table", KeyedTable)
    await wait_until(pilot, lambda: any(r.status is RunStatus.FAILED for r in pane.runs),
                     "the runs")
    failed = next(r for r in pane.runs if r.status is RunStatus.FAILED)
    key = f"gh\x1f{failed.id}"
    delta = table.keys.index(key) - table.keys.index(table.cursor_key)
    for _ in range(abs(delta)):
        await pilot.press("down" if delta > 0 else "up")
    await wait_until(pilot, lambda: pane.detail is not None and pane.detail.id == failed.id
                     and bool(pane.detail.jobs), "the failed run's jobs")
    assert pane.detail is not None
    return pane.detail


def row_of(logs: LogsPane, needle: str) -> list[Any]:
    """The segments of the view's last row on screen that shows ``needle``."""
    view = logs.view
    rows = [list(view.render_line(y)) for y in range(view.scrollable_content_region.height)]
    found = [row for row in rows if needle in "".join(segment.text for segment in row)]
    assert found, f"{needle!r} is not on screen"
    return found[-1]


async def test_a_failed_jobs_log_folded_but_the_failed_step_in_colour(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        await failed_run_selected(pilot, app)
        await pilot.press("l")
        logs = app.query_one(LogsPane)
        await wait_until(pilot, lambda: logs.ended and "▾ Run npm test" in text(app),
                         "the failed job's log, folded")
        screen = text(app)
        # Every section folded to its title and its size, but the failed step's.
        for folded in ("▸ Operating System  (3 lines)", "▸ Runner Image  (1 line)",
                       "▸ Run actions/checkout@v4  (6 lines)"):
            assert folded in screen, screen
        for hidden in ("Ubuntu", "Syncing repository", "git version 2.43.0", "##[endgroup]",
                       "##[group]"):
            assert hidden not in screen
        assert "Current runner version: '2.311.0'" in screen
        for shown in ("npm test", "shell: /usr/bin/bash -e {0}", "> jest", "PASS src/a.test.js",
                      "FAIL src/b.test.js", "Process completed with exit code 1."):
            assert shown in screen
        # Colours are colours: no escape and no "␛[36;1m" on the screen...
        assert "\x1b" not in screen and "␛[36" not in screen and "␛[0m" not in screen
        command = [s for s in row_of(logs, "npm test") if s.text == "npm test"]
        assert command and command[0].style.bold and command[0].style.color == Color.parse("cyan")
        fail = [s for s in row_of(logs, "FAIL src/b.test.js") if s.text == "FAIL"]
        assert fail and fail[0].style.color == Color.parse("red") and fail[0].style.bold
        # ...and the rest of a hostile line is text: markup stays literal, other escapes visible.
        assert "hostile [/ [@click=app.quit]x ␛]8;;http://x␇link ␛[2J bell␇" in screen
        for segment in row_of(logs, "hostile"):
            assert not (segment.style and (segment.style.meta or segment.style.link))
        counts = logs.view.buffer
        assert counts.kept == counts.shown + counts.filtered
        assert f"{counts.shown:,} shown" in text(app)

        # ] moves to the sections' titles in turn; z unfolds the one the cursor is on.
        for title in ("Operating System", "Runner Image", "Run actions/checkout@v4"):
            await pilot.press("right_square_bracket")
            section = logs.view.current_section()
            assert section is not None and section.title == title
        await pilot.press("z")
        await wait_until(pilot, lambda: "▾ Run actions/checkout@v4" in text(app), "unfolded")
        screen = text(app)
        assert "Syncing repository: acme/payments" in screen and "HEAD is now at 1234567" in screen
        assert "▸ Getting Git version info  (2 lines)" in screen  # its own group stays folded
        await pilot.press("z")
        await wait_until(pilot, lambda: "▸ Run actions/checkout@v4" in text(app), "folded again")
        # Z folds everything, and again unfolds everything.
        await pilot.press("Z")
        await wait_until(pilot, lambda: "▸ Run npm test" in text(app), "all folded")
        assert "FAIL src/b.test.js" not in text(app)
        await pilot.press("Z")
        await wait_until(pilot, lambda: "git version 2.43.0" in text(app), "all unfolded")
        assert "Ubuntu" in text(app) and "FAIL src/b.test.js" in text(app)
        assert app.is_running


async def test_choosing_the_job_and_the_step_whose_log_to_read(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    app = app_for(tmp_path, gh, clock)
    async with app.run_test(size=SIZE) as pilot:
        run = await failed_run_selected(pilot, app)
        # L: the run's jobs and steps, with their status, the failed step highlighted.
        await pilot.press("L")
        await wait_until(pilot, lambda: isinstance(app.screen, JobPicker), "the picker")
        screen = text(app)
        assert "✔ succeeded  build" in screen and "✖ failed  test" in screen
        assert "✖ Run tests" in screen and "✔ Install dependencies" in screen
        options = app.screen.query_one(OptionList)
        assert options.highlighted_option is not None
        assert options.highlighted_option.id == "1:2"  # test › Run tests
        # esc: nothing chosen, nothing shown.
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobPicker), "closed")
        assert app.current_pane is app.query_one(PipelinesPane)

        # The build job's checkout step: the build job's log, from that step on, unfolded.
        await pilot.press("L")
        await wait_until(pilot, lambda: isinstance(app.screen, JobPicker), "the picker again")
        options = app.screen.query_one(OptionList)
        target = options.get_option_index("0:1")
        while options.highlighted != target:
            await pilot.press("up" if (options.highlighted or 0) > target else "down")
        await pilot.press("enter")
        logs = app.query_one(LogsPane)
        await wait_until(pilot, lambda: app.current_pane is logs and logs.ended
                         and "▾ Run actions/checkout@v4" in text(app), "the step's log")
        build = run.jobs[0]
        assert {e.line.instance for e in logs.view.buffer.entries()} == {build.name}
        assert logs.run_log is not None and logs.run_log[2] == build.id
        section = logs.view.current_section()
        assert section is not None and section.title == "Run actions/checkout@v4"
        assert logs.view.buffer.cursor_seq == section.header
        screen = text(app)
        assert "Syncing repository: acme/payments" in screen
        assert "▸ Operating System" in screen
        assert "run payments CI" in screen and "· build · Run actions/checkout@v4" in screen
        # b: back to the live tail, where nothing is read as a section.
        await pilot.press("b")
        await wait_until(pilot, lambda: logs.run_log is None, "the live logs")
        assert logs.view.buffer.sections is None


async def test_the_sandboxs_run_logs_fold_too(tmp_path: Path) -> None:
    from idp_tui.demo import demo_app

    app = demo_app(tmp_path / "data")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        table = app.query_one("#pipelines-table", KeyedTable)
        await wait_until(pilot, lambda: any(r.status is RunStatus.FAILED for r in pane.runs),
                         "the sandbox's runs")
        failed = next(r for r in pane.runs if r.status is RunStatus.FAILED)
        table.select_key(f"{failed.source}\x1f{failed.id}")
        await wait_until(pilot, lambda: pane.detail is not None and pane.detail.id == failed.id
                         and bool(pane.detail.jobs), "the failed run's jobs")
        run = pane.detail
        assert run is not None
        job = next(j for j in run.jobs if j.status is RunStatus.FAILED)
        step = next(s for s in job.steps if s.status is RunStatus.FAILED)
        await pilot.press("l")
        logs = app.query_one(LogsPane)
        await wait_until(pilot, lambda: logs.ended and logs.view.total > 0, "the run's log")
        sections = logs.view.buffer.sections
        assert sections is not None and sections.sections
        # One section per step that ran, in order; all folded but the failed step's.
        ran = [s.name for s in job.steps if s.started_at is not None]
        assert [s.title for s in sections.sections] == [f"Run {name}" for name in ran]
        assert [s.title for s in sections.sections if not s.folded] == [f"Run {step.name}"]
        screen = text(app)
        assert f"▾ Run {step.name}" in screen and "Process completed with exit code 1." in screen
        assert f"▸ Run {ran[0]}  (" in screen
