"""A multiset of numbers kept as sorted runs, and its median found without merging them.

A team's lead times are its services' sorted lists, the organisation's are its teams': sorting
their union again at every level costs more than all the rest of the count. The median of sorted
runs is found instead by a bisection over the values (each step counts, in every run, the values
up to a candidate) when they are few runs; of many runs, two values of a sample bracket it, a
bisection in each run counts the values below the bracket, and only the values inside it are
sorted (when the sample misses, which is rare, the bisection over the values finds it). A union
of many short runs is merged into one (a sort of few values is cheaper than bisecting many
runs).

Pure: standard library only.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import chain, islice, repeat
from operator import getitem

#: Runs are merged into one when they hold fewer values than this many per run on average.
MERGE_BELOW = 64
#: Up to this many values, runs are merged to find their median; above, a sample brackets it.
SORT_UP_TO = 20_000
#: Up to this many runs (of more values), their median is bisected over the values: a few
#: dozen bisections of each run.
BISECT_UP_TO = 100
#: The sample's size (about; at most an eighth of the values).
SAMPLE = 16_384

_DOUBLE = struct.Struct("<d")
_INT = struct.Struct("<q")
_MAGNITUDE = (1 << 63) - 1


def runs_of(runs: Iterable[Sequence[float]]) -> list[Sequence[float]]:
    """``runs`` (each sorted) without the empty ones, merged into one sorted run when they are
    short (:data:`MERGE_BELOW`)."""
    kept = [run for run in runs if run]
    if len(kept) > 1 and sum(map(len, kept)) < MERGE_BELOW * len(kept):
        return [sorted(chain.from_iterable(kept))]
    return kept


def size(runs: Sequence[Sequence[float]]) -> int:
    return sum(map(len, runs))


def median(runs: Sequence[Sequence[float]]) -> float | None:
    """The median of the values of sorted ``runs`` (the mean of the middle two for an even
    count; None for none): the same number as of the runs merged and sorted."""
    if len(runs) == 1:
        ordered = runs[0]
        n = len(ordered)
        if not n:
            return None
        mid = n // 2
        return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    n = size(runs)
    if not n:
        return None
    mid = n // 2
    if n % 2:
        return ranked(runs, [mid], n)[0]
    lower, upper = ranked(runs, [mid - 1, mid], n)
    return (lower + upper) / 2


def ranked(runs: Sequence[Sequence[float]], ranks: Sequence[int], n: int) -> list[float]:
    """The values at ``ranks`` (ascending, from 0) of the ``n`` values of sorted ``runs``."""
    if n <= SORT_UP_TO:
        merged = sorted(chain.from_iterable(runs))
        return [merged[k] for k in ranks]
    if len(runs) <= BISECT_UP_TO:
        return [kth(runs, k) for k in ranks]
    # A sample of the values, evenly spaced in the runs one after the other (sorted runs: a
    # spread sample of each), and the two values of it that bracket the ranks' (by five
    # standard deviations of a random sample's ranks; a miss is found by the counts below).
    step = max(8, n // SAMPLE)
    sample = sorted(islice(chain.from_iterable(runs), step // 2, None, step))
    m = len(sample)
    spread = 2.5 * math.sqrt(m) + 2
    low_at = math.floor(ranks[0] / n * m - spread)
    high_at = math.ceil(ranks[-1] / n * m + spread)
    low = sample[low_at] if low_at >= 0 else -math.inf
    high = sample[high_at] if high_at < m else math.inf
    lows = list(map(bisect_left, runs, repeat(low)))
    highs = list(map(bisect_right, runs, repeat(high)))
    below = sum(lows)
    if not below <= ranks[0] or not ranks[-1] < sum(highs):  # the sample missed: bisected
        return [kth(runs, k) for k in ranks]
    inside = sorted(chain.from_iterable(map(getitem, runs, map(slice, lows, highs))))
    return [inside[k - below] for k in ranks]


def kth(runs: Sequence[Sequence[float]], k: int) -> float:
    """The ``k``-th smallest (from 0) of the values of sorted ``runs``: the least value with
    more than ``k`` values at most it, bisected over the doubles in their order."""
    lo = _order(min(run[0] for run in runs if run))
    hi = _order(max(run[-1] for run in runs if run))
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(map(bisect_right, runs, repeat(_value(mid)))) > k:
            hi = mid
        else:
            lo = mid + 1
    return _value(lo)


def _order(value: float) -> int:
    """An integer for a double, in the doubles' order (both zeros: 0)."""
    bits = _INT.unpack(_DOUBLE.pack(value))[0]
    return bits if bits >= 0 else -(bits & _MAGNITUDE)


def _value(order: int) -> float:
    """The double of :func:`_order`."""
    if order >= 0:
        return _DOUBLE.unpack(_INT.pack(order))[0]
    return _DOUBLE.unpack(_INT.pack(-order - (1 << 63)))[0]
