"""The sections of a CI job's log, and which of them are folded: Textual-free.

A job's log marks its sections with lines of their own: ``##[group]TITLE`` opens one and
``##[endgroup]`` closes it (GitHub Actions writes them, and the sandbox's runs; a source passes
them on in the line's message). :class:`Sections` reads the lines as they come, in order, and says
of each line (by its sequence number in the log buffer) which section it is in, whether it is a
section's title line, and whether it is hidden because a section is folded.

* A *step* section starts at a ``##[group]Run …`` line (GitHub writes one such group per step, in
  step order, around the step's command; the step's output follows the group) and lasts until the
  next step starts: its output belongs to it.
* Any other group is a section until its ``##[endgroup]`` (or the next group: groups do not nest in
  GitHub's logs); inside a step, it is the step's child: folding the step hides it too.
* A line of another job (another instance) closes every open section.
* ``##[endgroup]`` lines are never shown; a folded section shows its title line only.

:func:`step_sections` maps a job's steps to their sections (the n-th step that writes a ``Run``
group is the n-th step section), so a chosen step's part of the log can be found.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..api.kinds import LogLevel, RunStatus

if TYPE_CHECKING:
    from ..api.models import LogLine, Step

__all__ = ["END_GROUP", "GROUP", "Section", "Sections", "failed_steps", "section_of_step",
           "step_sections"]

GROUP = "##[group]"
END_GROUP = "##[endgroup]"
#: A step section's title starts with this (GitHub: "Run npm test", "Run actions/checkout@v4").
STEP_PREFIX = "Run "
#: Steps GitHub runs around a job's own steps: they write no ``Run`` group.
_FRAME_STEPS = frozenset({"Set up job", "Complete job"})
_ERRORS = frozenset({LogLevel.ERROR, LogLevel.FATAL})


class Section:
    """One section: its title, the sequence number of its title line (``header``) and of its
    last line so far (``last``), its parent (a step, for a group inside one), its place among the
    step sections (``step``, or None), its lines besides the title, its error lines, and whether
    it is folded."""

    __slots__ = ("index", "title", "header", "last", "parent", "step", "lines", "errors",
                 "folded", "closed")

    def __init__(self, index: int, title: str, header: int, parent: Section | None,
                 step: int | None) -> None:
        self.index = index
        self.title = title
        self.header = header
        self.last = header
        self.parent = parent
        self.step = step
        self.lines = 0
        self.errors = 0
        self.folded = False
        self.closed = False

    def __repr__(self) -> str:
        return f"Section({self.index}, {self.title!r}, folded={self.folded})"

    @property
    def hidden(self) -> bool:
        """Whether the title line itself is hidden (a folded parent)."""
        return self.parent is not None and self.parent.folded


class Sections:
    """The sections of the lines fed so far, and their folds."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        #: Runs of lines: the first sequence number of each, and the section it is in (or None).
        self._starts: list[int] = []
        self._owners: list[Section | None] = []
        self._ends: set[int] = set()  # the ``##[endgroup]`` lines
        self._step: Section | None = None  # the open step section
        self._group: Section | None = None  # the open group (not a step)
        self._instance: str | None = None
        self._steps = 0
        #: New sections start folded (a finished job's log: see :meth:`fold_new`).
        self.fold_new = False

    # Reading lines --------------------------------------------------------------------------------

    def _current(self) -> Section | None:
        return self._group or self._step

    def _own(self, seq: int, section: Section | None) -> None:
        if self._owners and self._owners[-1] is section:
            return
        if self._starts and self._starts[-1] == seq:
            self._owners[-1] = section
            return
        self._starts.append(seq)
        self._owners.append(section)

    def feed(self, first_seq: int, lines: Iterable[LogLine]) -> set[int]:
        """Read ``lines``, numbered from ``first_seq`` on; returns the sequence numbers among
        them that are hidden (``##[endgroup]`` lines, lines of folded sections)."""
        hidden: set[int] = set()
        seq = first_seq - 1
        for line in lines:
            seq += 1
            message = line.message
            if line.instance != self._instance:
                self._instance = line.instance
                self._close_all(seq)
            if message[:2] == "##" and message.startswith(GROUP):
                section = self._open(seq, message[len(GROUP):])
                self._own(seq, section)
                if section.hidden:
                    hidden.add(seq)
                continue
            if message[:2] == "##" and message.startswith(END_GROUP):
                self._ends.add(seq)
                hidden.add(seq)
                current = self._current()
                self._own(seq, current)
                if self._group is not None:
                    self._group.closed = True
                    self._group = None
                # A step's own group ends, the step goes on (its output follows).
                continue
            current = self._current()
            self._own(seq, current)
            if current is not None:
                for section in (current, current.parent):
                    if section is not None:
                        section.lines += 1
                        section.last = seq
                        if line.level in _ERRORS:
                            section.errors += 1
                if current.folded or (current.parent is not None and current.parent.folded):
                    hidden.add(seq)
        return hidden

    def _open(self, seq: int, title: str) -> Section:
        if self._group is not None:
            self._group.closed = True
            self._group = None
        if title.startswith(STEP_PREFIX):
            self._close_all(seq)
            section = Section(len(self.sections), title, seq, None, self._steps)
            self._steps += 1
            self._step = section
        else:
            section = Section(len(self.sections), title, seq, self._step, None)
            self._group = section
        section.folded = self.fold_new
        self.sections.append(section)
        return section

    def _close_all(self, seq: int) -> None:
        for section in (self._group, self._step):
            if section is not None:
                section.closed = True
        self._group = self._step = None
        if self._starts:
            self._own(seq, None)

    def forget_before(self, seq: int) -> None:
        """Lines before ``seq`` are gone (evicted from the buffer): drop what is known of them."""
        cut = bisect_right(self._starts, seq) - 1
        if cut > 0:
            del self._starts[:cut]
            del self._owners[:cut]
            keep = {owner for owner in self._owners if owner is not None}
            keep |= {s.parent for s in keep if s.parent is not None}
            self.sections = [s for s in self.sections if s in keep or not s.closed]
        if self._ends and min(self._ends) < seq:
            self._ends = {end for end in self._ends if end >= seq}

    # Asking about lines ---------------------------------------------------------------------------

    def section_of(self, seq: int) -> Section | None:
        """The innermost section line ``seq`` is in (a title line: its own), or None."""
        index = bisect_right(self._starts, seq) - 1
        return self._owners[index] if index >= 0 else None

    def header_at(self, seq: int) -> Section | None:
        """The section whose title line is ``seq``, or None."""
        section = self.section_of(seq)
        return section if section is not None and section.header == seq else None

    def hidden(self, seq: int) -> bool:
        """Whether line ``seq`` is hidden by a fold (or is an ``##[endgroup]`` line)."""
        if seq in self._ends:
            return True
        section = self.section_of(seq)
        if section is None:
            return False
        if section.parent is not None and section.parent.folded:
            return True
        return section.folded and section.header != seq

    @property
    def any_folded(self) -> bool:
        return any(s.folded for s in self.sections)

    # Folding --------------------------------------------------------------------------------------

    def fold(self, section: Section, folded: bool) -> bool:
        """Fold or unfold ``section``; True when that changed anything."""
        if section.folded == folded:
            return False
        section.folded = folded
        return True

    def fold_all(self, folded: bool) -> bool:
        changed = False
        for section in self.sections:
            changed |= self.fold(section, folded)
        return changed

    def fold_finished(self, open_steps: Iterable[int] = ()) -> bool:
        """A finished job's default: every section folded except those with error lines, their
        parents, and the step sections numbered in ``open_steps`` (the failed steps')."""
        keep = set(open_steps)
        changed = False
        for section in self.sections:
            open_ = section.errors > 0 or (section.step is not None and section.step in keep)
            changed |= self.fold(section, not open_)
        for section in self.sections:
            if not section.folded and section.parent is not None:
                changed |= self.fold(section.parent, False)
        return changed

    def step(self, number: int) -> Section | None:
        """The ``number``-th step section (0 is the first), if it has come yet."""
        for section in self.sections:
            if section.step == number:
                return section
        return None

    def titled(self, title: str) -> Section | None:
        """The first section with this title."""
        return next((s for s in self.sections if s.title == title), None)


def step_sections(steps: Sequence[Step]) -> dict[int, int]:
    """Which step section each of a job's steps writes: ``{step index: section number}``.

    GitHub writes a ``Run`` group for every step that ran except the ones it adds around them
    ("Set up job", "Complete job", the "Post …" clean-ups); skipped steps write nothing."""
    out: dict[int, int] = {}
    number = 0
    for index, step in enumerate(steps):
        if step.name in _FRAME_STEPS or step.name.startswith("Post "):
            continue
        if step.status in (RunStatus.SKIPPED, RunStatus.QUEUED):
            continue
        out[index] = number
        number += 1
    return out


def failed_steps(steps: Sequence[Step]) -> list[int]:
    """The step sections of a job's failed steps."""
    mapping = step_sections(steps)
    return [mapping[i] for i, step in enumerate(steps)
            if step.status is RunStatus.FAILED and i in mapping]


def section_of_step(sections: Sections, steps: Sequence[Step], index: int) -> Section | None:
    """The section of the job's step ``index`` in its log: the one titled as the step is
    ("Run npm test", or "Run NAME" for a named step some sources write), else the step section
    in its place (see :func:`step_sections`); None when it has not come (or the step wrote none)."""
    if not 0 <= index < len(steps):
        return None
    name = steps[index].name
    found = sections.titled(name) if name.startswith(STEP_PREFIX) else None
    found = found or sections.titled(STEP_PREFIX + name)
    if found is not None:
        return found
    number = step_sections(steps).get(index)
    return sections.step(number) if number is not None else None
