"""The Catalog's Level column and its ``level:`` filter word: each service's scorecard level
(none, bronze, silver, gold), counted as ``idp-tui scorecards`` and the Insights pane count it
(the hub's answers gathered by :func:`idp_tui.insights.scorecards.collect`, the rules checked
off the UI thread), and the completion of the Catalog's `/` filter (a field word, a value).

Textual-free: the pane runs :func:`compute_levels` in a worker and draws :func:`level_cell`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ... import render
from ...api.models import FACET_FIELDS, Facet
from ...insights import scorecards as sc
from ...insights.view import LEVEL_STYLE

if TYPE_CHECKING:
    from ...hub import Hub
    from ...hub.failures import Failure
    from ...insights.rules import Level

#: The filter word of the scorecard level (``level:gold``, ``level:none``).
LEVEL_FIELD = "level"
#: The words the Catalog's `/` filter takes as ``word:value``, in the order tab offers them.
FIELD_WORDS = (*FACET_FIELDS, LEVEL_FIELD)
#: Before a field word, leaves its values out (``-owner:team-a``, ``-level:none``).
NOT = "-"
#: A level not counted yet (the scorecards are being computed).
PENDING = "…"
#: No level known (no rules, the counting failed, or not asked for yet in a large catalog).
UNKNOWN = "–"
#: Up to so many services the levels are counted as the catalog arrives; a larger catalog's
#: are counted once sorted or filtered by level (gathering the facts asks every source for
#: the delivery history and the signals of every service).
MAX_SERVICES = 2000

#: Service name → its level (None: below bronze).
Levels = Mapping[str, "Level | None"]


def level_word(levels: Levels | None, name: str) -> str | None:
    """``none``, ``bronze``, ``silver`` or ``gold``; None while not known."""
    if levels is None or name not in levels:
        return None
    level = levels[name]
    return sc.NO_LEVEL if level is None else level.value


def level_cell(levels: Levels | None, name: str, *, computing: bool) -> Text:
    """The Level cell: the level's word in its colour, ``…`` while counting, ``–`` unknown."""
    word = level_word(levels, name)
    if word is None:
        return Text(PENDING if computing else UNKNOWN, "dim", end="")
    return Text(word, LEVEL_STYLE.get(word, ""), end="")


def level_sort_key(levels: Levels | None) -> Callable[[Any], tuple[int, str]]:
    """Lowest level first (none, bronze, silver, gold), the services not counted last."""

    def key(service: Any) -> tuple[int, str]:
        if levels is None or service.name not in levels:
            return 99, service.name
        return sc.rank(levels[service.name]), service.name

    return key


def matches_level(levels: Levels | None, name: str, wanted: set[str]) -> bool:
    """Whether the service is at one of the ``wanted`` level words (none while not counted)."""
    return level_word(levels, name) in wanted


def field_key(name: str) -> str | None:
    """A filter word's field as the parsed filter keys it (``owner``, ``-owner`` negated; any
    case), or None when it names no field."""
    name = name.lower()
    return name if name.removeprefix(NOT) in FIELD_WORDS else None


def matches_facets(values: Mapping[str, Sequence[str]], fields: Mapping[str, set[str]]) -> bool:
    """Whether a service with these facet values passes the field filters (the level left to
    :func:`filter_levels`): one of the wanted values of each field, none of a negated one's."""
    for name, wanted in fields.items():
        negated = name.startswith(NOT)
        field = name.removeprefix(NOT)
        if field == LEVEL_FIELD:
            continue
        if bool({v.lower() for v in values.get(field, ())} & wanted) == negated:
            return False
    return True


def wants_levels(fields: Mapping[str, set[str]]) -> bool:
    """Whether the filter asks for levels (``level:`` or ``-level:``)."""
    return LEVEL_FIELD in fields or NOT + LEVEL_FIELD in fields


def filter_levels(services: list[Any], levels: Levels | None,
                  fields: Mapping[str, set[str]]) -> list[Any]:
    """The services at a ``level:`` word's levels and at none of a ``-level:`` word's."""
    wanted, unwanted = fields.get(LEVEL_FIELD), fields.get(NOT + LEVEL_FIELD)
    if wanted is not None:
        services = [s for s in services if matches_level(levels, s.name, wanted)]
    if unwanted:
        services = [s for s in services if not matches_level(levels, s.name, unwanted)]
    return services


def status_note(fields: Mapping[str, set[str]], levels: Levels | None, error: str,
                *, deferred: bool = False) -> Text:
    """What the status line says of the levels: a ``level:`` word that is no level, the levels
    not counted yet while the filter asks for one (or, ``deferred``, until it does), or why
    they could not be counted."""
    out = Text(end="")
    if deferred and levels is None:
        out.append("  levels: sort or filter by level to count them", "dim")
    wanted = fields.get(LEVEL_FIELD, set()) | fields.get(NOT + LEVEL_FIELD, set())
    unknown = sorted(w for w in wanted if w not in sc.level_names())
    if unknown:
        out.append_text(render.text(f" (no level {', '.join(unknown)}: "
                                    f"{', '.join(sc.level_names())})", "red", max_len=120))
    elif wanted and levels is None:
        out.append(" (the levels are being counted)", "italic")
    if error:
        out.append_text(render.text(f"  levels not counted: {error}", "red", max_len=200))
    return out


async def compute_levels(hub: Hub, now: datetime, config: Any
                         ) -> tuple[dict[str, Level | None], list[Failure]]:
    """Every catalog service's level from the hub's answers and the configured rules (the
    built-in ones, the config dir's, ``[scorecards] paths``), and the sources' failures: the
    dashboard's one count (``insights.scoring``, the Insights pane's too), the rules checked in
    a thread. A bad rule file raises ConfigError (the pane says it)."""
    from ...insights.rules import configured_rules
    from ...insights.scoring import scored

    counted = await scored(hub, now, configured_rules(config))
    return counted.levels, list(counted.failures)


def complete(query: str, facets: Sequence[Facet]) -> str | None:
    """``query`` with its last word completed: a field word (``le`` → ``level:``) or one of
    its values (``owner:team-p`` → ``owner:team-payments``, the most common first; the level
    words lowest first); None when nothing fits or the query ends in a space."""
    if not query or query[-1].isspace():
        return None
    head, _, word = query.rpartition(" ")
    sign = NOT if word.startswith(NOT) else ""
    prefix = head + " " + sign if head else sign
    word = word.removeprefix(sign)
    name, sep, typed = word.partition(":")
    name = name.lower()
    if not sep:
        found = next((f for f in FIELD_WORDS if f.startswith(name) and f != name), None) \
            if name else None
        return None if found is None else f"{prefix}{found}:"
    if name == LEVEL_FIELD:
        candidates = list(sc.level_names())
    elif name in FACET_FIELDS:
        candidates = [v.value for f in facets if f.field == name for v in f.values]
    else:
        return None
    for value in candidates:
        if value.lower().startswith(typed.lower()) and value.lower() != typed.lower():
            return f"{prefix}{word[:len(word) - len(typed)]}{value}"
    return None
