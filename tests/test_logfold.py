"""The sections of a CI job's log (``##[group]`` / ``##[endgroup]``) and their folds: pure, on the
log buffer without Textual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp_tui.api.kinds import LogLevel, RunStatus
from idp_tui.api.models import LogLine, Step
from idp_tui.logs.buffer import LogBuffer
from idp_tui.logs.fold import Sections, failed_steps, section_of_step, step_sections

T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: A job's log as GitHub writes it: setup groups, one "Run" group per step around its command,
#: the step's output after it (with a group of its own inside), a failed last step.
GITHUB = [
    "Current runner version: '2.311.0'",
    "##[group]Operating System", "Ubuntu", "22.04.3", "##[endgroup]",
    "##[group]Runner Image", "Image: ubuntu-22.04", "##[endgroup]",
    "##[group]Run actions/checkout@v4", "with:", "  repository: acme/payments", "##[endgroup]",
    "Syncing repository: acme/payments",
    "##[group]Getting Git version info", "git version 2.43.0", "##[endgroup]",
    "HEAD is now at 1234567",
    "##[group]Run npm test", "\x1b[36;1mnpm test\x1b[0m", "shell: /usr/bin/bash -e {0}",
    "##[endgroup]",
    "> jest", "FAIL src/a.test.js",
    "##[error]Process completed with exit code 1.",
    "Post job cleanup.",
]


def lines(messages: list[str], instance: str = "test") -> list[LogLine]:
    return [LogLine(ts=T0 + timedelta(seconds=i), service="s", environment="", instance=instance,
                    level=LogLevel.ERROR if m.startswith("##[error]") else LogLevel.INFO,
                    message=m) for i, m in enumerate(messages)]


def shown(buffer: LogBuffer) -> list[str]:
    return [entry.line.message for entry in buffer.entries(shown=True)]


def test_sections_of_a_github_log() -> None:
    sections = Sections()
    hidden = sections.feed(1, lines(GITHUB))
    titles = [(s.title, s.step, s.parent.title if s.parent else None) for s in sections.sections]
    assert titles == [("Operating System", None, None), ("Runner Image", None, None),
                      ("Run actions/checkout@v4", 0, None),
                      ("Getting Git version info", None, "Run actions/checkout@v4"),
                      ("Run npm test", 1, None)]
    # Only the ##[endgroup] lines are hidden while nothing is folded.
    assert hidden == {i + 1 for i, m in enumerate(GITHUB) if m == "##[endgroup]"}
    seq = {m: i + 1 for i, m in enumerate(GITHUB)}
    assert sections.section_of(seq["Current runner version: '2.311.0'"]) is None
    assert sections.section_of(seq["Syncing repository: acme/payments"]).title == \
        "Run actions/checkout@v4"  # a step's output after its group is the step's
    assert sections.section_of(seq["HEAD is now at 1234567"]).title == "Run actions/checkout@v4"
    assert sections.section_of(seq["git version 2.43.0"]).title == "Getting Git version info"
    npm = sections.step(1)
    assert npm is not None and npm.errors == 1 and sections.header_at(npm.header) is npm
    assert sections.section_of(seq["Post job cleanup."]) is npm


def test_folding_hides_a_section_but_its_title_and_a_step_hides_its_groups() -> None:
    buffer = LogBuffer(1000)
    buffer.set_sections(True)
    buffer.append(lines(GITHUB))
    assert "##[endgroup]" not in shown(buffer)
    assert buffer.shown == len(GITHUB) - GITHUB.count("##[endgroup]")
    sections = buffer.sections
    assert sections is not None
    checkout = sections.step(0)
    assert checkout is not None
    sections.fold(checkout, True)
    buffer.refold()
    visible = shown(buffer)
    assert "##[group]Run actions/checkout@v4" in visible
    for gone in ("with:", "Syncing repository: acme/payments", "##[group]Getting Git version info",
                 "git version 2.43.0", "HEAD is now at 1234567"):
        assert gone not in visible
    assert "##[group]Run npm test" in visible and "> jest" in visible
    # The counts still add up: hidden lines are filtered, not lost.
    assert buffer.kept == buffer.shown + buffer.filtered == len(GITHUB)
    sections.fold_all(False)
    buffer.refold()
    assert "git version 2.43.0" in shown(buffer)


def test_a_finished_jobs_default_folds_everything_but_the_failed_step() -> None:
    buffer = LogBuffer(1000)
    buffer.set_sections(True)
    buffer.append(lines(GITHUB))
    sections = buffer.sections
    assert sections is not None
    assert sections.fold_finished()
    buffer.refold()
    assert shown(buffer) == [
        "Current runner version: '2.311.0'", "##[group]Operating System",
        "##[group]Runner Image", "##[group]Run actions/checkout@v4",
        "##[group]Run npm test", "\x1b[36;1mnpm test\x1b[0m", "shell: /usr/bin/bash -e {0}",
        "> jest", "FAIL src/a.test.js", "##[error]Process completed with exit code 1.",
        "Post job cleanup."]
    # A failed step without an error line stays open when the job says it failed.
    quiet = [m for m in GITHUB if not m.startswith("##[error]")]
    buffer.clear()
    buffer.append(lines(quiet))
    sections = buffer.sections
    assert sections is not None
    sections.fold_finished(open_steps=[0])
    buffer.refold()
    assert "with:" in shown(buffer) and "> jest" not in shown(buffer)


def test_lines_of_a_folded_section_that_arrive_later_stay_hidden() -> None:
    buffer = LogBuffer(1000)
    buffer.set_sections(True)
    first = lines(GITHUB[:22])  # up to "> jest": the npm test step is running
    buffer.append(first)
    sections = buffer.sections
    assert sections is not None
    npm = sections.step(1)
    assert npm is not None
    sections.fold(npm, True)
    buffer.refold()
    buffer.append(lines(GITHUB[22:]))
    assert "FAIL src/a.test.js" not in shown(buffer)
    assert shown(buffer)[-1] == "##[group]Run npm test"
    assert npm.lines == 6  # its command, shell, output, error, post-job lines (not its ends)


def test_new_sections_start_folded_when_asked() -> None:
    sections = Sections()
    sections.fold_new = True
    hidden = sections.feed(1, lines(["##[group]Run a", "x", "##[endgroup]", "y"]))
    assert hidden == {2, 3, 4}


def test_a_line_of_another_job_closes_the_sections() -> None:
    sections = Sections()
    sections.feed(1, lines(["##[group]Run a", "x"], instance="build"))
    sections.feed(3, lines(["first line of test"], instance="test"))
    assert sections.section_of(2) is not None and sections.section_of(3) is None


def test_sections_of_evicted_lines_are_forgotten() -> None:
    buffer = LogBuffer(50)
    buffer.set_sections(True)
    for n in range(200):
        buffer.append(lines([f"##[group]Run step {n}", "out", "more", "##[endgroup]"]))
    sections = buffer.sections
    assert sections is not None
    assert len(sections.sections) <= 14  # the steps of the 50 lines kept (and the open one)
    assert buffer.kept == 50 and buffer.shown == 50 - 13  # 13 of them are ##[endgroup] lines
    assert all(not sections.hidden(e.seq) for e in buffer.entries(shown=True))


def test_steps_map_to_their_sections_as_github_writes_them() -> None:
    def step(name: str, status: RunStatus = RunStatus.SUCCEEDED) -> Step:
        return Step(name=name, status=status)

    steps = [step("Set up job"), step("Run actions/checkout@v4"), step("Lint", RunStatus.SKIPPED),
             step("Install dependencies"), step("Run tests", RunStatus.FAILED),
             step("Post Run actions/checkout@v4"), step("Complete job")]
    assert step_sections(steps) == {1: 0, 3: 1, 4: 2}
    assert failed_steps(steps) == [2]


def test_a_chosen_step_is_found_by_its_title_or_its_place() -> None:
    sections = Sections()
    sections.feed(1, lines(GITHUB))
    done = RunStatus.SUCCEEDED
    github = [Step(name="Set up job", status=done),
              Step(name="Run actions/checkout@v4", status=done),
              Step(name="Run tests", status=RunStatus.FAILED),
              Step(name="Complete job", status=done)]
    # By its title, else by its place among the steps that write a section.
    assert section_of_step(sections, github, 1).title == "Run actions/checkout@v4"
    assert section_of_step(sections, github, 2).title == "Run npm test"
    assert section_of_step(sections, github, 0) is None
    assert section_of_step(sections, github, 9) is None
    # A source that names the step and writes "Run NAME" (the sandbox).
    sandbox = Sections()
    sandbox.feed(1, lines(["##[group]Run checkout", "x", "##[endgroup]",
                           "##[group]Run unit tests", "y", "##[endgroup]"]))
    steps = [Step(name="checkout", status=done), Step(name="unit tests", status=RunStatus.FAILED)]
    assert section_of_step(sandbox, steps, 1).title == "Run unit tests"
    assert failed_steps(steps) == [1]
