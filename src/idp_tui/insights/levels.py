"""An ordered set of named levels (DORA's performance clusters, the scorecards' medals): read from
a word with a sentence when it is none of them, and ranked in the order they are declared."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Self


class OrderedLevel(StrEnum):
    """A base for an enum of levels; the members are declared in their order."""

    @property
    def rank(self) -> int:
        """The member's place in the declaration, from 0."""
        return _ranks(type(self))[self]

    @classmethod
    def parse(cls, text: str) -> Self:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown level {text!r} (known: "
                             f"{', '.join(level.value for level in cls)})") from None


@cache
def _ranks(levels: type[OrderedLevel]) -> dict[OrderedLevel, int]:
    return {member: index for index, member in enumerate(levels)}
