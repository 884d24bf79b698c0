"""Fuzzy matching for the `/` filters: the query's characters in order, best matches first.

A key is one string or several fields. A scattered match stays inside one field, so "order" finds
``order-service`` but not a service whose owner holds an ``o``, lifecycle an ``r`` and tag a ``d``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


#: Between the fields of a key; a scattered match never crosses it.
FIELD_SEP = "\x1f"

Key = str | Sequence[str]


def _pattern(query: str) -> re.Pattern[str]:
    # Each character, then lazily anything but a field boundary: "pyapi" matches "payments-api".
    return re.compile(f"[^{FIELD_SEP}]*?".join(re.escape(c) for c in query))


def _haystack(value: Key) -> str:
    if isinstance(value, str):
        return value.lower()
    joined = FIELD_SEP.join(value)
    if joined.count(FIELD_SEP) != len(value) - 1:  # a field holds the separator itself
        joined = FIELD_SEP.join(field.replace(FIELD_SEP, " ") for field in value)
    return joined.lower()


def fuzzy_filter(query: str, items: Sequence[T], key: Callable[[T], Key],
                 name: Callable[[T], str] | None = None) -> list[T]:
    """Items whose ``key`` holds the query's characters in order, ranked.

    ``key`` returns one string or a sequence of fields; a scattered match must fall inside one
    field. ``name`` (default: the whole key) is what an exact substring match is first sought in.

    Ranking (best first): the query as one substring of ``name``, then as a substring of ``key``,
    then the tightest scattered match, earliest position, shortest name. An empty query keeps every
    item in its original order. The scan runs in the regex engine, so 10,000 items filter in a few
    milliseconds. To filter the same items again and again (a filter typed a key at a time), use a
    :class:`FuzzyIndex`.
    """
    return FuzzyIndex(items, key, name).filter(query)


class FuzzyIndex(Generic[T]):
    """``fuzzy_filter`` over a fixed list of items, for one query after another.

    The lower-cased keys and names are worked out once. And as a query typed one more character
    at a time can only match items its previous form matched, such a query looks at those alone.
    """

    def __init__(self, items: Sequence[T], key: Callable[[T], Key],
                 name: Callable[[T], str] | None = None) -> None:
        self.items = items
        haystacks = [_haystack(key(item)) for item in items]
        self._haystacks = haystacks
        self._titles = [name(item).lower() for item in items] if name is not None else haystacks
        self._last_query = ""
        self._last_matches: list[int] | None = None

    def filter(self, query: str) -> list[T]:
        query = "".join(query.lower().split())
        items = self.items
        if not query:
            self._last_query, self._last_matches = "", None
            return list(items)
        haystacks, titles = self._haystacks, self._titles
        previous = self._last_matches
        candidates: Iterable[int] = previous if previous is not None and \
            query.startswith(self._last_query) else range(len(items))
        search = _pattern(query).search
        pattern = None
        scored: list[tuple[tuple[int, int, int, int], int]] = []
        add = scored.append
        for index in candidates:
            haystack = haystacks[index]
            match = search(haystack)
            if match is None:
                continue
            title = titles[index]
            position = title.find(query)
            if position >= 0:
                add(((0, position, 0, len(title)), index))
                continue
            position = haystack.find(query)
            if position >= 0:
                add(((1, position, 0, len(title)), index))
                continue
            if pattern is None:
                pattern = _pattern(query)
            span = _tightest_span(pattern, haystack, match)
            add(((2, span[1] - span[0], span[0], len(title)), index))
        scored.sort()
        matched = [index for _rank, index in scored]
        self._last_query = query
        # (in index order: the next, longer query keeps the items' order among equal ranks)
        self._last_matches = sorted(matched)
        return [items[index] for index in matched]


def _tightest_span(pattern: re.Pattern[str], haystack: str, first: re.Match[str]) -> tuple[int, int]:
    """The shortest span of a scattered match (tries later start positions, a few at most)."""
    best = first.span()
    start = first.start() + 1
    for _ in range(8):
        match = pattern.search(haystack, start)
        if match is None:
            break
        if match.end() - match.start() < best[1] - best[0]:
            best = match.span()
        start = match.start() + 1
    return best
