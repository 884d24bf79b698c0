"""A scope's facts of one period counted once (:class:`Tally`): what its four keys are computed
from (:func:`idp_tui.insights.dora.four_keys`), and what a wider scope's tally merges (a team's
from its services', the organisation's from its teams').

A window's tally has its weeks too (:class:`Weeks`): whole weeks ending at the window's end,
each a slice of the window's facts in time order, found by bisection at each week's last
instant (:func:`week_ends`); every pass over the facts is one in C. Lead and restore times are
kept as sorted runs, their medians found without merging them (:mod:`.sortedruns`).

Pure and Textual-free (the facts are :class:`~idp_tui.insights.dora.Fact`).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from operator import attrgetter, is_not, sub
from typing import TYPE_CHECKING

from . import sortedruns
from .timeunits import WEEK

if TYPE_CHECKING:
    from .dora import Fact


@dataclass(slots=True)
class Tally:
    """One scope's facts of one period, counted once: what its four keys (and a wider scope's,
    by :func:`merge`) are computed from. Lists of facts are oldest first when ``ordered``; the
    lead and restore times are sorted runs (:mod:`.sortedruns`: a wider scope's are its parts',
    not sorted anew)."""

    changes: list[Fact]
    reached: list[Fact]
    failures: list[Fact]
    leads: list[Sequence[float]]
    restores: list[Sequence[float]]
    #: Each week's counts (the window's, not the previous period's).
    weeks: Weeks | None = None
    #: ``changes`` and ``reached`` are runs of the merged parts, each oldest first (their
    #: evidence is put in time order when it is read).
    interleaved: bool = False

    def values(self, days: float) -> tuple[float | None, ...]:
        """Deployment frequency, lead time, change failure rate and time to restore (the order
        of :data:`idp_tui.insights.dora.KEYS`) over ``days``."""
        return (len(self.reached) / days if days > 0 else None,
                sortedruns.median(self.leads),
                len(self.failures) / len(self.changes) if self.changes else None,
                sortedruns.median(self.restores))


@dataclass(slots=True)
class Weeks:
    """A window's weeks, one list a number, each first for the window's facts before its first
    week (then week by week): what its :class:`~idp_tui.insights.dora.Week` series is made
    from, and what a wider scope's weeks merge, week by week."""

    reached: list[int]
    changes: list[int]
    failures: list[int]
    #: Each week's lead and restore times as sorted runs (:mod:`.sortedruns`).
    leads: list[list[Sequence[float]]]
    restores: list[list[Sequence[float]]]


_leads = attrgetter("leads")
_restores = attrgetter("restores")
_reached = attrgetter("reached")
_changes = attrgetter("changes")
_failures = attrgetter("failures")
_fact_at = attrgetter("at")
_failure = attrgetter("failure")  # (of a failed change: never None)


def tally(facts: Sequence[Fact], interleaved: bool = False) -> Tally:
    """``facts``' tally; ``interleaved``: they are runs of several services (each oldest
    first), not in time order as a whole."""
    facts = facts if type(facts) is list else list(facts)
    reached = list(filter(_reached, facts))
    failures = [f for f in facts if f.failure is not None]
    leads = list(chain.from_iterable(map(_leads, reached)))
    leads.sort()
    restores: list[float] = []
    if failures:
        restores = sorted([f.restore for f in failures if f.restore is not None])
        if interleaved:
            failures.sort(key=_fact_at)
    return Tally(facts, reached, failures, [leads] if leads else [],
                  [restores] if restores else [], interleaved=interleaved)


def merge(parts: Sequence[Tally], *, ordered: bool, weeks: bool = False) -> Tally:
    """The tally of the union of ``parts`` (of one period). ``ordered``: its lists of facts in
    time order (when the parts overlap in time; parts that follow each other are concatenated).
    ``weeks``: the parts' weeks merged too, week by week, and the lead and restore times of the
    whole are the merged weeks' (a few long runs, not one a part)."""
    if len(parts) == 1:
        return parts[0]
    failures = list(chain.from_iterable(map(_failures, parts)))
    if ordered:
        failures.sort(key=_fact_at)  # sorted runs, merged
    merged = Tally(list(chain.from_iterable(map(_changes, parts))),
                    list(chain.from_iterable(map(_reached, parts))), failures, [], [],
                    interleaved=ordered or any(p.interleaved for p in parts))
    windows = [p.weeks for p in parts if p.weeks is not None]
    if weeks and len(windows) == len(parts):
        runs = sortedruns.runs_of
        merged.weeks = merged_weeks = Weeks(
            list(map(sum, zip(*map(_reached, windows)))),
            list(map(sum, zip(*map(_changes, windows)))),
            list(map(sum, zip(*map(_failures, windows)))),
            [runs(chain.from_iterable(column)) for column in zip(*map(_leads, windows))],
            [runs(chain.from_iterable(column)) for column in zip(*map(_restores, windows))])
        merged.leads = runs(chain.from_iterable(merged_weeks.leads))
        merged.restores = runs(chain.from_iterable(merged_weeks.restores))
    else:
        merged.leads = sortedruns.runs_of(chain.from_iterable(map(_leads, parts)))
        merged.restores = sortedruns.runs_of(chain.from_iterable(map(_restores, parts)))
    return merged


def window_tally(window: Sequence[Fact], start: float, end: float,
                  interleaved: bool = False) -> Tally:
    """The window's tally with its weekly counts: whole weeks ending at ``end`` (a window
    shorter than a week: one week); the window's facts before the first week count for the
    window only. The facts are put in time order first (``interleaved``: runs of several
    services), so each week is a slice of them, found by bisection."""
    if interleaved:
        window = sorted(window, key=_fact_at)  # (stable: as the evidence would be sorted)
    elif type(window) is not list:
        window = list(window)
    # Each of these in one pass in C: the facts' times, which reached production, which failed.
    count = max(1, round((end - start) / WEEK))
    ats = list(map(_fact_at, window))
    cuts = [0, *map(functools.partial(bisect.bisect_right, ats),
                    week_ends(end - count * WEEK, count)), len(window)]
    reaching = list(map(_reached, window))
    failing = list(map(is_not, map(_failure, window), repeat(None)))
    reached, failures = list(compress(window, reaching)), list(compress(window, failing))
    cut_reached = list(map([0, *accumulate(reaching)].__getitem__, cuts))
    cut_failures = list(map([0, *accumulate(failing)].__getitem__, cuts))
    # Each week's lead times: slices of the reached deployments' lead times, one after another.
    leads = list(chain.from_iterable(map(_leads, reached)))
    cut_leads = list(map([0, *accumulate(map(len, map(_leads, reached)))].__getitem__,
                         cut_reached))
    week_leads = [[run] if run else [] for run in
                  map(sorted, map(leads.__getitem__, map(slice, cut_leads, cut_leads[1:])))]
    week_restores: list[list[Sequence[float]]] = [[] for _ in cut_failures[1:]]
    if failures:
        for i, (lo, hi) in enumerate(zip(cut_failures, cut_failures[1:])):
            if hi > lo:
                restored = sorted([f.restore for f in failures[lo:hi] if f.restore is not None])
                week_restores[i] = [restored] if restored else []
    weeks = Weeks(list(map(sub, cut_reached[1:], cut_reached)), list(map(sub, cuts[1:], cuts)),
                   list(map(sub, cut_failures[1:], cut_failures)), week_leads, week_restores)
    return Tally(window, reached, failures,
                  sortedruns.runs_of(chain.from_iterable(week_leads)),
                  sortedruns.runs_of(chain.from_iterable(week_restores)), weeks)


@functools.lru_cache(maxsize=64)
def week_ends(first: float, count: int) -> tuple[float, ...]:
    """For each of ``count`` weeks from ``first`` (``(from, to]``), the last instant before it:
    a fact is in week ``ceil((at - first) / WEEK) - 1`` (before the first: the window's only;
    after the last: the last), so ``at`` is before week ``i`` exactly when ``(at - first) / WEEK
    <= i``, and that holds up to a greatest double (found from ``first + i * WEEK`` a few
    doubles away, as the division rounds). Facts in time order are cut into their weeks by
    bisection at these instants."""
    ends = []
    for i in range(count):
        at = first + i * WEEK
        if (at - first) / WEEK <= i:
            while (math.nextafter(at, math.inf) - first) / WEEK <= i:
                at = math.nextafter(at, math.inf)
        else:
            while (at - first) / WEEK > i:
                at = math.nextafter(at, -math.inf)
        ends.append(at)
    return tuple(ends)
