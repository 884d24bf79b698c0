"""The Pipelines pane's filter, as ``gh run list`` and gh-dash users write one.

``status:failed branch:main actor:alice event:pull_request workflow:CI pay`` keeps the runs that
failed, on ``main``, started by alice, for a pull request, of the CI workflow, and fuzzily match
"pay". Per field, several values (``status:failed,cancelled`` or the field twice) mean any of
them; several fields mean all of them; ``-branch:main`` leaves a value out; a value with ``*``
is a pattern (``branch:release/*``). Field names and values are matched in any case; statuses
also take GitHub's words (``failure``, ``success``, ``in_progress``, ``completed``…).

Also here: completing a field or value as it is typed, the values the runs have for each field
(for a picker), and whether a run's web address may be opened. No Textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from .api.kinds import RunStatus
from .api.models import Facet, FacetValue, PipelineRun
from .fuzzy import fuzzy_filter

#: The fields, in the order they are offered and described.
FIELDS = ("status", "branch", "actor", "event", "workflow", "service", "pr")
#: Other names of the fields (gh's flags, GitHub's words).
ALIASES = {"is": "status", "state": "status", "conclusion": "status", "b": "branch",
           "ref": "branch", "user": "actor", "author": "actor", "by": "actor", "u": "actor",
           "e": "event", "on": "event", "trigger": "event", "w": "workflow", "wf": "workflow",
           "pipeline": "workflow", "s": "service", "svc": "service", "pull": "pr",
           "pull_request": "pr"}
_FINISHED = frozenset(s for s in RunStatus if s.finished)
#: Status words: ours, GitHub's statuses and conclusions, and a few groups.
STATUS_WORDS: dict[str, frozenset[RunStatus]] = {
    **{s.value: frozenset({s}) for s in RunStatus},
    "success": frozenset({RunStatus.SUCCEEDED}), "passed": frozenset({RunStatus.SUCCEEDED}),
    "ok": frozenset({RunStatus.SUCCEEDED}),
    "failure": frozenset({RunStatus.FAILED}), "fail": frozenset({RunStatus.FAILED}),
    "timed_out": frozenset({RunStatus.FAILED}), "startup_failure": frozenset({RunStatus.FAILED}),
    "in_progress": frozenset({RunStatus.RUNNING}),
    "pending": frozenset({RunStatus.QUEUED}), "requested": frozenset({RunStatus.QUEUED}),
    # Runs someone must act on: ended waiting for approval, or held for a review.
    "action_required": frozenset({RunStatus.ACTION_REQUIRED, RunStatus.WAITING}),
    "canceled": frozenset({RunStatus.CANCELLED}),
    "completed": _FINISHED, "finished": _FINISHED, "done": _FINISHED,
    "active": frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING}),
}


@dataclass(frozen=True)
class Term:
    """One ``field:value`` of a filter (``negated``: ``-field:value``)."""

    field: str
    value: str
    negated: bool = False

    def token(self) -> str:
        return f"{'-' if self.negated else ''}{self.field}:{self.value}"


@dataclass(frozen=True)
class RunFilter:
    """A parsed filter: its terms, its fuzzy text, and what was wrong in it (said, not raised)."""

    terms: tuple[Term, ...] = ()
    text: str = ""
    errors: tuple[str, ...] = ()
    _statuses: dict[str, frozenset[RunStatus]] = field(default_factory=dict, compare=False,
                                                      repr=False)

    @property
    def active(self) -> bool:
        return bool(self.terms or self.text)

    def chosen(self) -> dict[str, set[str]]:
        """The values asked for per field (lower case, not the negated ones)."""
        out: dict[str, set[str]] = {}
        for term in self.terms:
            if not term.negated:
                out.setdefault(term.field, set()).add(term.value.lower())
        return out

    def describe(self) -> str:
        """The active filters in words, for a status line: ``status failed or cancelled ·
        branch main · not actor bot · pay`` (the fuzzy text last)."""
        parts: list[str] = []
        for name in FIELDS:
            for negated in (False, True):
                values = [t.value for t in self.terms if t.field == name and t.negated is negated]
                if values:
                    parts.append(f"{'not ' if negated else ''}{name} {' or '.join(values)}")
        if self.text:
            parts.append(self.text)
        return " · ".join(parts)

    def matches(self, run: PipelineRun) -> bool:
        """Whether ``run`` passes the terms (the fuzzy text is :func:`apply`'s)."""
        by_field: dict[str, list[Term]] = {}
        for term in self.terms:
            by_field.setdefault(term.field, []).append(term)
        for name, terms in by_field.items():
            wanted = [t for t in terms if not t.negated]
            if wanted and not any(self._match(t, run) for t in wanted):
                return False
            if any(self._match(t, run) for t in terms if t.negated):
                return False
        return True

    def _match(self, term: Term, run: PipelineRun) -> bool:
        if term.field == "status":
            return run.status in self._statuses.get(term.value.lower(), frozenset())
        if term.field == "pr":
            return run.pull_request is not None and _glob(term.value.lstrip("#"),
                                                          str(run.pull_request))
        return any(_glob(term.value, value) for value in field_values(run, term.field))


def _glob(pattern: str, value: str) -> bool:
    pattern, value = pattern.lower(), value.lower()
    return fnmatchcase(value, pattern) if "*" in pattern or "?" in pattern else value == pattern


def canonical_field(name: str) -> str | None:
    """The field ``name`` stands for (any case, aliases too), or None."""
    name = name.lower()
    return name if name in FIELDS else ALIASES.get(name)


def event_of(run: PipelineRun) -> str:
    """What started the run: its event, else the first word of its trigger ("push by x")."""
    return run.event or (run.trigger.split()[0] if run.trigger.strip() else "")


def field_values(run: PipelineRun, name: str) -> tuple[str, ...]:
    """The values ``run`` has for a field (empty where it has none)."""
    if name == "status":
        return (run.status.value,)
    value = {"branch": run.branch, "actor": run.actor, "event": event_of(run),
             "workflow": run.pipeline, "service": run.service,
             "pr": str(run.pull_request) if run.pull_request is not None else ""}.get(name, "")
    return (value,) if value else ()


def parse(query: str) -> RunFilter:
    """Split ``query`` into field terms and fuzzy text.

    A word ``name:value`` whose name is a field (or an alias) is a term; any other word is text.
    A word that looks like a field but names none (``stauts:failed``) stays text and is said in
    ``errors``; so is a status no run can have.
    """
    terms: list[Term] = []
    text: list[str] = []
    errors: list[str] = []
    statuses: dict[str, frozenset[RunStatus]] = {}
    for word in query.split():
        negated = word.startswith("-") and ":" in word
        name, sep, values = word.removeprefix("-" if negated else "").partition(":")
        canonical = canonical_field(name) if sep else None
        if canonical is None:
            if sep and values and name.isalpha():
                errors.append(f"{name}: is not a field ({', '.join(FIELDS)})")
            text.append(word)
            continue
        for value in (v for v in values.split(",") if v):
            if canonical == "status":
                found = frozenset().union(*(s for w, s in STATUS_WORDS.items()
                                            if _glob(value, w)))
                if not found:
                    errors.append(f"no status {value!r} (one of "
                                  f"{', '.join(s.value for s in RunStatus)})")
                statuses[value.lower()] = found
            terms.append(Term(canonical, value, negated))
    return RunFilter(tuple(terms), " ".join(text), tuple(errors), statuses)


def fuzzy_key(run: PipelineRun) -> tuple[str, ...]:
    """What the fuzzy text searches: service, workflow, branch, commit, message, trigger, event,
    actor, status, and the run's and its pull request's numbers ("#412")."""
    return (run.service, run.pipeline, run.branch, run.commit, run.message, run.trigger,
            run.event, run.actor, run.status.value,
            f"#{run.number}" if run.number is not None else "",
            f"#{run.pull_request}" if run.pull_request is not None else "")


def apply(query: str | RunFilter, runs: Sequence[PipelineRun]) -> list[PipelineRun]:
    """The runs that pass the filter: in their order, or ranked by the fuzzy text if there is
    one."""
    parsed = parse(query) if isinstance(query, str) else query
    kept = [run for run in runs if parsed.matches(run)] if parsed.terms else list(runs)
    if parsed.text:
        kept = fuzzy_filter(parsed.text, kept, fuzzy_key, lambda r: r.service)
    return kept


def with_term(query: str, token: str) -> str:
    """``query`` filtering by ``token`` (``field:value``) too, replacing the field's values."""
    name = canonical_field(token.partition(":")[0])
    words = [w for w in query.split()
             if ":" not in w or canonical_field(w.partition(":")[0]) != name]
    return " ".join([*words, token])


def facets(runs: Iterable[PipelineRun], limit: int | None = None) -> list[Facet]:
    """Per field, the values the runs have with how many runs have each (for a picker), most
    common first (at most ``limit`` of each field); fields no run has a value for are left
    out, and so are values that cannot be one word of a filter (spaces, control characters)."""
    counts: dict[str, dict[str, int]] = {name: {} for name in FIELDS}
    for run in runs:
        for name in FIELDS:
            for value in field_values(run, name):
                if not value.isprintable() or " " in value:
                    continue
                bucket = counts[name]
                bucket[value] = bucket.get(value, 0) + 1
    return [Facet(field=name, values=tuple(
        FacetValue(value=v, count=n) for v, n in sorted(
            c.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]))
        for name, c in counts.items() if c]


def complete(query: str, runs: Sequence[PipelineRun]) -> str | None:
    """``query`` with its last word completed: a field name (``st`` → ``status:``) or a value of
    the field the runs have (``branch:ma`` → ``branch:main``), the most common first; None when
    nothing fits or the query ends in a space."""
    if not query or query[-1].isspace():
        return None
    head, _, word = query.rpartition(" ")
    prefix = head + " " if head else ""
    sign = "-" if word.startswith("-") else ""
    word = word.removeprefix(sign)
    name, sep, typed = word.partition(":")
    if not sep:
        found = next((f for f in FIELDS if f.startswith(name.lower()) and f != name.lower()),
                     None)
        return None if found is None or not name else f"{prefix}{sign}{found}:"
    canonical = canonical_field(name)
    if canonical is None:
        return None
    before, _, last = typed.rpartition(",")
    head_values = before + "," if before else ""
    if canonical == "status":
        candidates = [s.value for s in RunStatus]
        seen = {s.value for s in RunStatus}
        candidates += [w for w in STATUS_WORDS if w not in seen]
    else:
        counted = next((f.values for f in facets(runs) if f.field == canonical), ())
        candidates = [v.value for v in counted]
    for value in candidates:
        if value.lower().startswith(last.lower()) and value.lower() != last.lower():
            return f"{prefix}{sign}{name}:{head_values}{value}"
    return None


def web_url(run: PipelineRun) -> str | None:
    """The run's page, if it is one a browser may be sent to (http or https, with a host)."""
    url = run.url.strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if not url.isprintable() or " " in url:  # control characters, bidi overrides, spaces
        return None
    return url
