"""The user's patterns: smart case, and the literals that rule a JSON line out from its raw text.

A JSON log line is shown as fields (``msg key=value …``), and filters look at that text: decoding
and formatting it is the dearest step of a busy stream. For a JSON line without escapes, every
piece of that text (the message, the keys, the values) is in the raw line as it is, joined by
" " and "=" instead of quotes, colons and commas; only numbers may be written differently
("1e3" becomes "1000.0", "Infinity"…). So when every match of the include filter must contain
one of a few literals — ASCII, without " ", "=", quotes or backslashes, each with a character no
number is written with — and the raw line contains none of them, its fields cannot match either:
the line is kept unshown and its fields are worked out only if ever needed
(:meth:`idp_tui.logs.LogBuffer.text_of`).

Textual-free: the log buffer and the tests use it directly.
"""

from __future__ import annotations

import re
from typing import Any

from ..safetext import LINE_MAX

_sre = re._constants  # type: ignore[attr-defined]
_sre_parse = re._parser  # type: ignore[attr-defined]

__all__ = ["PREFILTER_MAX", "Pattern", "compile_pattern", "required_literals", "smart_case"]

#: Characters of a number as Python writes it (repr of a float, json.dumps of inf and nan), lower.
_NUMBER_CHARS = frozenset("0123456789.e+-infinitynan")
_SEPARATORS = frozenset(' ="\\\t')
#: Raw lines longer than this are not prefiltered (their fields, numbers rewritten, stay shorter
#: than LINE_MAX, past which the text is cut and a marker added).
PREFILTER_MAX = LINE_MAX // 5

_ESCAPES = re.compile(r"\\.", re.DOTALL)


def _literal_factors(items: Any) -> set[str] | None:
    """Literals one of which every match of ``items`` (a parsed regex) contains; None: unknown."""
    best: set[str] | None = None
    run: list[str] = []

    def piece(text: str) -> set[str] | None:
        # Any match contains ``text``, so each of its pieces between separators: the longest.
        pieces = [p for p in re.split(r'[ ="\\\t]', text) if _usable_literal(p)]
        return {max(pieces, key=len)} if pieces else None

    def better(found: set[str] | None) -> None:
        nonlocal best
        if found and all(map(_usable_literal, found)) and \
                (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        better(piece("".join(run)) if run else None)
        run = []
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if not (add_flags or del_flags):
                better(_literal_factors(sub))
        elif op is _sre.BRANCH:
            union: set[str] = set()
            for alternative in av[1]:
                found = _literal_factors(alternative)
                if not found:
                    union = set()
                    break
                union |= found
            better(union or None)
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            better(_literal_factors(av[2]))
        elif op is _sre.ATOMIC_GROUP:
            better(_literal_factors(av))
    better(piece("".join(run)) if run else None)
    return best


def _usable_literal(literal: str) -> bool:
    return bool(literal) and literal.isascii() and not _SEPARATORS.intersection(literal) \
        and not _NUMBER_CHARS.issuperset(literal.lower())


def required_literals(regex: re.Pattern[str], fold: bool) -> tuple[str, ...] | None:
    """Literals one of which any text ``regex`` matches contains (lower case when ``fold``), all
    usable to rule out a JSON line from its raw text (see above); None when there are none."""
    try:
        parsed = _sre_parse.parse(regex.pattern, regex.flags & ~re.IGNORECASE)
    except (re.error, RecursionError, OverflowError):
        return None
    found = _literal_factors(parsed)
    if not found:
        return None
    return tuple(sorted({lit.lower() if fold else lit for lit in found}, key=len))


def smart_case(pattern: str) -> bool:
    """True when ``pattern`` has no upper-case letter outside escapes (``\\S``, ``\\W``…): it is
    then matched regardless of case."""
    return not any(c.isupper() for c in _ESCAPES.sub("", pattern))


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """Compile a user's regex with smart case: case-insensitive unless it has an upper-case letter.

    ``None`` or ``""`` gives ``None``. Raises ``re.error`` for an invalid pattern.
    """
    if not pattern:
        return None
    return re.compile(pattern, re.IGNORECASE if smart_case(pattern) else 0)


class Pattern:
    """A user's regex, compiled twice.

    ``regex`` (smart case) is what highlighting uses. Testing a line uses ``test_re`` on the text,
    or on ``text.lower()`` when ``fold``: a case-insensitive pattern is all lower case, and
    searching lowered text with a case-sensitive regex is 2–4× faster than ``re.IGNORECASE``
    (which defeats the regex engine's literal-prefix search). ``literals`` are those of
    :func:`required_literals` (for the JSON-line prefilter), or None.

    Raises ``re.error`` for an invalid pattern.
    """

    __slots__ = ("regex", "test_re", "fold", "literals")

    def __init__(self, pattern: str) -> None:
        self.regex: re.Pattern[str] = compile_pattern(pattern)  # type: ignore[assignment]
        if self.regex is None:
            raise re.error("empty pattern")
        self.fold = bool(self.regex.flags & re.IGNORECASE)
        self.test_re = re.compile(pattern) if self.fold else self.regex
        self.literals = required_literals(self.regex, self.fold)

    @classmethod
    def make(cls, pattern: str | None) -> Pattern | None:
        """The pattern, or None for ``None`` or ``""`` (no filter)."""
        return cls(pattern) if pattern else None

    @property
    def text(self) -> str:
        """The pattern as the user typed it."""
        return self.regex.pattern

    def test(self, text: str) -> bool:
        return self.test_re.search(text.lower() if self.fold else text) is not None
